"""Issuing documents: the core's rule for numbers, parties and status."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import attrs

from subscriptions._records import revised
from subscriptions.accounts import Address
from subscriptions.orders import (
    Draft,
    InvoiceStatus,
    Seller,
    invoice_number,
    issued_documents,
    status_of,
)
from tests.contract import records as r

SELLER = Seller(
    name="Vendor S.r.l.",
    address=Address(line1="Via Roma 1", city="Milano", postal_code="20121", country="IT"),
    vat_number="IT00743110157",
    series="2026",
)
AT = datetime(2026, 3, 1, 9, tzinfo=UTC)


def test_documents_are_numbered_on_in_the_series_in_order_and_dated_together() -> None:
    account = r.italian_account()
    _, invoice = r.subscribed(account)
    ids = iter(["inv-a", "inv-b", "inv-c"])
    drafts = [Draft(account=account, invoice=invoice) for _ in range(3)]
    docs = issued_documents(drafts, seller=SELLER, first=41, issued_at=AT, new_id=lambda: next(ids))
    assert [d.number for d in docs] == ["2026-000041", "2026-000042", "2026-000043"]
    assert [d.sequence for d in docs] == [41, 42, 43]
    assert [d.id for d in docs] == ["inv-a", "inv-b", "inv-c"]
    assert {d.issued_at for d in docs} == {AT}
    assert {d.seller for d in docs} == {SELLER.party}
    assert docs[0].customer == docs[2].customer
    assert docs[0].customer.name == account.name
    assert docs[0].total == invoice.total
    assert docs[0].lines == invoice.lines


def test_a_customer_is_named_as_their_account_stands_when_issued() -> None:
    account = r.italian_account()
    _, invoice = r.subscribed(account)
    renamed = revised(account, name="Rossi & Figli")
    ids = iter(["inv-a", "inv-b"])
    before, after = issued_documents(
        [Draft(account=account, invoice=invoice), Draft(account=renamed, invoice=invoice)],
        seller=SELLER,
        first=1,
        issued_at=AT,
        new_id=lambda: next(ids),
    )
    assert (before.customer.name, after.customer.name) == (account.name, "Rossi & Figli")


def test_a_status_the_draft_names_wins_over_the_one_the_amounts_give() -> None:
    account = r.italian_account()
    _, invoice = r.subscribed(account)
    (doc,) = issued_documents(
        [Draft(account=account, invoice=invoice, status=InvoiceStatus.OPEN, attempts=2)],
        seller=SELLER,
        first=7,
        issued_at=AT,
        new_id=lambda: "inv-x",
    )
    assert (doc.status, doc.attempts) == (InvoiceStatus.OPEN, 2)


def test_the_status_of_a_document_nothing_is_left_to_collect_on() -> None:
    account = r.italian_account()
    _, invoice = r.subscribed(account)
    assert invoice.total > 0
    paid_by_credit = attrs.evolve(invoice, credit_applied=invoice.total)
    assert status_of(paid_by_credit) is InvoiceStatus.PAID
    assert status_of(attrs.evolve(invoice, credit_applied=Decimal(0))) is InvoiceStatus.OPEN
    credit_note = attrs.evolve(invoice, total=-invoice.total)
    assert status_of(credit_note) is InvoiceStatus.SETTLED


def test_numbers_are_six_digits_at_least() -> None:
    assert invoice_number("INV", 7) == "INV-000007"
    assert invoice_number("2026", 1_234_567) == "2026-1234567"
