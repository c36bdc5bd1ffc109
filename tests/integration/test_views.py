"""What the Billing Center returns shows itself in a notebook: a quote, the issued
invoice, the renewal preview, each as text, HTML and rows pandas takes, in the
account's time zone when asked, and the same under a host's careless decimal context."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_FLOOR, Context, localcontext

import pandas
from conftest import CONTACT, ROME, open_account

from subscriptions.adapters.fakes import ManualClock
from subscriptions.center import BillingCenter
from subscriptions.orders import OrderState

SCRIPT = "<script>alert(1)</script>"


def test_a_quote_its_invoice_and_the_renewals_show_themselves(
    center: BillingCenter, clock: ManualClock
) -> None:
    account = open_account(center, name=SCRIPT)
    center.subscribe_now(account.id, CONTACT, "remote-support")
    center.add_to_cart(account.id, CONTACT, "monitoring", seats=4)
    quote = center.quote(account.id, CONTACT)
    frame = pandas.DataFrame(quote.rows(zone=account.timezone))
    assert sorted(frame["product"]) == ["monitoring", "remote-support"]
    assert sum(frame["amount"]) == quote.invoice.subtotal  # type: ignore[union-attr]
    assert str(frame["period_start"].dt.tz) == "Europe/Rome"
    text = quote.table(zone=account.timezone)
    assert "created_at      2026-11-01 09:00+01:00\n" in text
    assert f"amount_due      {quote.amount_due.amount}\n" in text
    assert "items\nproduct" in text

    order = center.place_order(account.id, CONTACT, quote.id, idempotency_key="k-1")
    assert order.state is OrderState.SUCCEEDED
    (invoice,) = center.invoices(account.id, CONTACT)
    page = invoice._repr_html_()
    assert SCRIPT not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert len(invoice.rows()) == 2
    assert f"Invoice {invoice.number}\n" in invoice.table()

    preview = center.preview_renewals(datetime(2027, 1, 2, 9, tzinfo=ROME))
    steps = pandas.DataFrame(preview.rows())
    assert list(steps["kind"]) == ["renewal"] * 4  # two products, December and January
    assert str(steps["at"].dt.tz) == "Europe/Rome"  # each step in its account's zone
    assert sum(steps["amount_due"]) == preview.charged["EUR"]
    assert f"charged EUR  {preview.charged['EUR']}\n" in preview.table()

    views = [quote, invoice, preview]
    plain = [(v.table(), v._repr_html_(), v.rows()) for v in views]
    with localcontext(Context(prec=3, rounding=ROUND_FLOOR)):
        careless = [(v.table(), v._repr_html_(), v.rows()) for v in views]
    assert careless == plain
