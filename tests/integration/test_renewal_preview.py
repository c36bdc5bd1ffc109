"""``preview_renewals``: what a bill run would do, projected from the stored book by the
same transitions, writing nothing; the run that follows does exactly that."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from conftest import CONTACT, ROME, book_state, buy, open_account

from subscriptions.adapters.fakes import FakeGateway, ManualClock
from subscriptions.center import BillingCenter
from subscriptions.errors import InvalidInput
from subscriptions.orders import InvoiceStatus
from subscriptions.projection import StepKind

DEC_1 = datetime(2026, 12, 1, 9, 0, tzinfo=ROME)


def test_the_preview_is_what_the_run_then_does(
    center: BillingCenter, clock: ManualClock, gateway: FakeGateway
) -> None:
    rossi = open_account(center, account_id="rossi")
    buy(center, rossi.id, "monitoring", seats=3)
    buy(center, rossi.id, "remote-support")
    bianchi = open_account(center, account_id="bianchi")
    buy(center, bianchi.id, "remote-support", frequency="annual")
    center.cancel(rossi.id, CONTACT, "remote-support")
    clock.set(DEC_1)
    before = book_state(center)
    preview = center.preview_renewals()
    assert book_state(center) == before  # nothing written
    kinds = sorted((s.account_id, s.product, s.kind) for s in preview.steps)
    assert kinds == [
        ("rossi", "monitoring", StepKind.RENEWAL),
        ("rossi", "remote-support", StepKind.CANCELLATION),
    ]
    charged_before = gateway.net_charged("EUR")
    report = center.run_renewals()
    assert (report.renewed, report.canceled) == (1, 1)
    (renewal,) = [i for i in center.invoices(rossi.id, CONTACT) if i.reason.value == "renewal"]
    (step,) = [s for s in preview.steps if s.kind is StepKind.RENEWAL]
    assert step.invoice is not None
    assert step.amount_due == renewal.amount_due
    assert step.invoice.total == renewal.total
    assert preview.charged == {"EUR": gateway.net_charged("EUR") - charged_before}


def test_a_preview_looks_months_ahead(center: BillingCenter, clock: ManualClock) -> None:
    account = open_account(center)
    buy(center, account.id, "monitoring")
    ahead = center.preview_renewals(DEC_1 + timedelta(days=62))
    assert [s.at.astimezone(ROME).date().isoformat() for s in ahead.steps] == [
        "2026-12-01",
        "2027-01-01",
        "2027-02-01",
    ]
    assert ahead.charged == {"EUR": Decimal("36.60")}
    assert center.invoices(account.id, CONTACT)[-1].reason.value == "order"  # nothing issued


def test_a_subscription_in_dunning_is_a_retry(center: BillingCenter, clock: ManualClock) -> None:
    account = open_account(center)
    buy(center, account.id, "monitoring")
    center.update_payment_method(account.id, CONTACT, "tok_declined")
    clock.set(DEC_1)
    center.run_renewals()
    (unpaid,) = [
        i for i in center.invoices(account.id, CONTACT) if i.status is not InvoiceStatus.PAID
    ]
    later = center.preview_renewals(DEC_1 + timedelta(days=40))
    (retry,) = later.steps
    assert (retry.kind, retry.invoice_id, retry.amount_due) == (
        StepKind.RETRY,
        unpaid.id,
        unpaid.amount_due,
    )
    assert center.preview_renewals(account_id=account.id).steps == ()  # not yet due


def test_a_projection_too_far_ahead_is_refused_not_cut_short(
    center: BillingCenter, clock: ManualClock
) -> None:
    account = open_account(center)
    buy(center, account.id, "monitoring")
    with pytest.raises(InvalidInput, match="takes more than 600 steps; project to an earlier"):
        center.preview_renewals(DEC_1 + timedelta(days=366 * 51))
    assert len(center.preview_renewals(DEC_1 + timedelta(days=365 * 49)).steps) == 49 * 12


def test_count_due_is_what_a_run_then_finds(center: BillingCenter, clock: ManualClock) -> None:
    for name in ("rossi", "bianchi", "verdi"):
        account = open_account(center, account_id=name)
        buy(center, account.id, "monitoring")
    buy(center, "verdi", "remote-support", frequency="annual")
    assert center.count_due() == 0
    clock.set(DEC_1)
    assert center.count_due() == 3  # the three monthly ones; the annual one is not due
    before = center.accounts()
    assert center.count_due(DEC_1 - timedelta(days=40)) == 0
    assert center.accounts() == before
    report = center.run_renewals()
    assert report.renewed == 3
    assert center.count_due() == 0


def test_count_due_never_looks_ahead_of_the_clock(center: BillingCenter) -> None:
    from subscriptions.errors import InstantInFuture

    with pytest.raises(InstantInFuture):
        center.count_due(center.clock.now() + timedelta(days=1))
