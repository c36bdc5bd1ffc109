"""Every charge is an attempt on record: renewals, retries, invoice payments, orders and
refunds through the Billing Center, with the gateway failing in every way it can
(timeouts, lost answers, outages, transient errors, late answers) and the store
failing at the worst moment. Whatever happens, every charge ends in exactly one paid
invoice, completed order or recorded refund, and nothing is charged twice."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest
from conftest import CONTACT, ROME, CenterFactory, open_account

from subscriptions.accounts import Account, Address
from subscriptions.adapters.fakes import FakeGateway, InMemoryNotifier, ManualClock
from subscriptions.adapters.memory import InMemoryStore
from subscriptions.center import BillingCenter, BillRunReport, ReconcileReport, Settings
from subscriptions.errors import (
    ConcurrencyConflict,
    InstantInFuture,
    InvalidInput,
    NaiveDatetime,
    PaymentActionRequired,
    PaymentDeclined,
    PaymentInProgress,
    PaymentNotRecorded,
    StorageError,
)
from subscriptions.orders import InvoiceStatus, IssuedInvoice, OrderState
from subscriptions.payments import AttemptState, PaymentResult, PaymentStatus
from subscriptions.ports import ChargeRequest, RefundRequest
from subscriptions.subscription import EventKind, Status

NOV_1 = datetime(2026, 11, 1, 9, 0, tzinfo=ROME)
DEC_1 = datetime(2026, 12, 1, 9, 0, tzinfo=ROME)
LEASE = Settings().reconcile_after


def buy(center: BillingCenter, account: Account, product: str = "monitoring", **terms: Any) -> None:
    center.subscribe_now(account.id, CONTACT, product, **terms)
    quote = center.quote(account.id, CONTACT)
    order = center.place_order(account.id, CONTACT, quote.id, idempotency_key=f"buy-{product}")
    assert order.state is OrderState.SUCCEEDED


def renewal_of(center: BillingCenter, account: Account) -> IssuedInvoice:
    return next(
        i for i in reversed(center.invoices(account.id, CONTACT)) if i.reason.value == "renewal"
    )


def settled(center: BillingCenter, gateway: FakeGateway, *accounts: Account) -> None:
    """What the gateway kept is exactly what the paid invoices were due, and no key
    of an invoice was charged twice (one charge per invoice at most)."""
    paid = sum(
        (
            i.amount_due
            for a in accounts
            for i in center.invoices(a.id, CONTACT)
            if i.status is InvoiceStatus.PAID and i.order_id is None
        ),
        Decimal(0),
    )
    orders = sum(
        (
            i.amount_due
            for a in accounts
            for i in center.invoices(a.id, CONTACT)
            if i.status is InvoiceStatus.PAID and i.order_id is not None
        ),
        Decimal(0),
    )
    assert gateway.net_charged("EUR") == paid + orders
    charged: dict[str, int] = {}
    for key in gateway.succeeded_charges():
        if key.startswith("invoice:"):
            invoice = key.split(":")[1]
            charged[invoice] = charged.get(invoice, 0) + 1
    refunded = {r.charge_id for r in gateway.requests if isinstance(r, RefundRequest)}
    for invoice, count in charged.items():
        assert count == 1 or refunded, f"invoice {invoice} charged {count} times"


@pytest.fixture
def paying(center: BillingCenter, clock: ManualClock) -> Account:
    """An Italian account paying Monitoring (1 seat, 12.20 a month) since 1 November."""
    account = open_account(center)
    buy(center, account)
    return account


# -- the bill run and a failing gateway --------------------------------------------------


def test_a_renewal_timeout_is_not_a_decline_and_is_sent_again_under_the_same_key(
    center: BillingCenter, clock: ManualClock, gateway: FakeGateway, paying: Account
) -> None:
    center.update_payment_method(paying.id, CONTACT, "tok_timeout")
    clock.set(DEC_1)
    report = center.run_renewals()
    assert report == BillRunReport(renewed=1, charged=1)
    renewal = renewal_of(center, paying)
    assert renewal.status is InvoiceStatus.PAID
    keys = [r.idempotency_key for r in gateway.charge_requests if renewal.id in r.idempotency_key]
    assert keys == [f"invoice:{renewal.id}:1"] * 2  # the same attempt, sent twice
    sub = center.subscriptions(paying.id)[0]
    assert (sub.status, sub.dunning) == (Status.ACTIVE, None)
    settled(center, gateway, paying)


def test_transient_errors_are_retried_with_backoff_and_change_nothing(
    center: BillingCenter,
    clock: ManualClock,
    gateway: FakeGateway,
    notifier: InMemoryNotifier,
    slept: list[float],
    paying: Account,
) -> None:
    calls: list[str] = []

    def flaky(request: ChargeRequest) -> PaymentResult:
        calls.append(request.idempotency_key)
        if len(calls) < 3:
            return PaymentResult(status=PaymentStatus.TRANSIENT_ERROR, message="try later")
        return PaymentResult(
            status=PaymentStatus.SUCCEEDED, charge_id="ch_x", amount=request.amount
        )

    gateway._handler = flaky
    clock.set(DEC_1)
    sent = len(notifier.sent)
    assert center.run_renewals() == BillRunReport(renewed=1, charged=1)
    assert len(set(calls)) == 1  # one key throughout
    assert slept == [0.5, 1.0]
    assert len(notifier.sent) == sent  # no "payment failed" message
    assert renewal_of(center, paying).status is InvoiceStatus.PAID


def test_a_transient_error_that_lasts_leaves_the_invoice_due_and_no_dunning(
    center: BillingCenter, clock: ManualClock, gateway: FakeGateway, paying: Account
) -> None:
    center.update_payment_method(paying.id, CONTACT, "tok_transient")
    clock.set(DEC_1)
    report = center.run_renewals()
    assert report.renewed == 1
    assert (report.charged, report.failed) == (0, 0)
    sub = center.subscriptions(paying.id)[0]
    assert sub.status is Status.ACTIVE
    assert sub.dunning is not None
    assert (sub.dunning.attempts, sub.dunning.next_retry_at) == (0, DEC_1)
    renewal = renewal_of(center, paying)
    assert renewal.status is InvoiceStatus.OPEN
    assert EventKind.PAYMENT_FAILED not in [e.kind for e in center.events(paying.id)]
    # The gateway works again: the next run charges it, as attempt 2.
    center.update_payment_method(paying.id, CONTACT, "tok_visa")
    clock.advance(hours=1)
    assert center.run_renewals() == BillRunReport(retried=1)
    assert renewal_of(center, paying).status is InvoiceStatus.PAID
    assert gateway.charge_requests[-1].idempotency_key == f"invoice:{renewal.id}:2"
    assert center.subscriptions(paying.id)[0].dunning is None
    settled(center, gateway, paying)


def test_lost_answers_leave_the_attempt_in_flight_until_reconcile_finds_the_charge(
    center: BillingCenter, clock: ManualClock, gateway: FakeGateway, paying: Account
) -> None:
    gateway.lose_responses = True
    clock.set(DEC_1)
    report = center.run_renewals()
    assert (report.renewed, report.unknown) == (1, 1)
    assert report.stopped == "the payment gateway does not answer"
    renewal = renewal_of(center, paying)
    assert renewal.status is InvoiceStatus.CHARGING
    sub = center.subscriptions(paying.id)[0]
    assert (sub.status, sub.dunning) == (Status.ACTIVE, None)
    # Within the lease, nobody takes it over; a second run neither charges it again.
    gateway.lose_responses = False
    requests = len(gateway.charge_requests)
    assert center.reconcile().waiting == 1
    assert center.run_renewals().charged == 0
    assert len(gateway.charge_requests) == requests
    clock.advance(LEASE)
    report = center.run_renewals()
    assert report.resolved == 1
    assert renewal_of(center, paying).status is InvoiceStatus.PAID
    assert len(gateway.charge_requests) == requests  # found, not charged again
    settled(center, gateway, paying)


def test_an_outage_before_anything_reached_the_gateway_charges_once_later(
    center: BillingCenter, clock: ManualClock, gateway: FakeGateway, paying: Account
) -> None:
    gateway.unavailable = True
    clock.set(DEC_1)
    report = center.run_renewals()
    assert (report.renewed, report.unknown, report.charged) == (1, 1, 0)
    gateway.unavailable = False
    clock.advance(LEASE)
    report = center.run_renewals()
    renewal = renewal_of(center, paying)
    # Reconcile finds nothing under attempt 1, so the invoice is due again: attempt 2.
    assert (report.resolved, report.retried) == (1, 1)
    assert renewal.status is InvoiceStatus.PAID
    assert [k for k in gateway.succeeded_charges() if renewal.id in k] == [
        f"invoice:{renewal.id}:2"
    ]
    settled(center, gateway, paying)


def test_still_unknown_after_unknown_after_needs_review_and_no_dunning(
    center: BillingCenter, clock: ManualClock, gateway: FakeGateway, paying: Account
) -> None:
    gateway.lose_responses = True
    clock.set(DEC_1)
    center.run_renewals()
    gateway.unavailable = True  # cannot even be asked
    clock.advance(LEASE)
    assert center.reconcile().unknown == 1
    clock.set(DEC_1 + Settings().unknown_after)
    report = center.reconcile()
    assert [a.state for a in report.needs_review] == [AttemptState.NEEDS_REVIEW]
    review = center.payment_review()
    assert [a.idempotency_key for a in review.needs_review] == [
        a.idempotency_key for a in report.needs_review
    ]
    assert EventKind.PAYMENT_NEEDS_REVIEW in [e.kind for e in center.events(paying.id)]
    sub = center.subscriptions(paying.id)[0]
    assert (sub.status, sub.dunning) == (Status.ACTIVE, None)
    with pytest.raises(PaymentInProgress):
        center.pay_invoice(paying.id, CONTACT, renewal_of(center, paying).id, idempotency_key="p")
    # The gateway answers at last: the charge it made is recorded.
    gateway.unavailable = gateway.lose_responses = False
    clock.advance(hours=1)
    assert center.reconcile().resolved[0].state is AttemptState.SUCCEEDED
    assert renewal_of(center, paying).status is InvoiceStatus.PAID
    settled(center, gateway, paying)


def test_a_late_bill_run_retries_from_the_failed_attempt_not_from_the_period(
    center: BillingCenter, clock: ManualClock, gateway: FakeGateway, paying: Account
) -> None:
    center.update_payment_method(paying.id, CONTACT, "tok_declined")
    late = DEC_1 + timedelta(days=20)
    clock.set(late)
    assert center.run_renewals() == BillRunReport(renewed=1, failed=1)
    sub = center.subscriptions(paying.id)[0]
    assert sub.status is Status.PAST_DUE
    assert sub.dunning is not None
    assert sub.dunning.next_retry_at == late + timedelta(days=3)
    assert sub.dunning.failed_at == DEC_1  # the unpaid period still starts there
    assert len([r for r in gateway.charge_requests if r.off_session]) == 1
    # Each retry keeps its distance from the one before: +3, +4, +7 days.
    for gap in (3, 4, 7):
        clock.advance(days=gap)
        report = center.run_renewals()
        assert report.retried == 1
    sub = center.subscriptions(paying.id)[0]
    assert sub.status is Status.CANCELED
    assert sub.canceled_at == DEC_1


def test_a_subscription_that_raises_is_reported_and_the_run_goes_on(
    make_center: CenterFactory, clock: ManualClock, gateway: FakeGateway
) -> None:
    center = make_center()
    broken = open_account(center, name="Broken")
    buy(center, broken, "remote-support", plan="premium")
    fine = open_account(center, name="Fine")
    buy(center, fine)
    # The catalog drops the plan the first account pays for.
    shrunk = attrs.evolve(
        center.catalog,
        products=[
            attrs.evolve(p, plans=[pl for pl in p.plans if pl.id != "premium"])
            for p in center.catalog.products
        ],
    )
    later = BillingCenter(
        catalog=shrunk,
        seller=center.seller,
        store=center.store,
        gateway=gateway,
        clock=clock,
    )
    clock.set(DEC_1)
    report = later.run_renewals()
    assert report.renewed == 1
    assert [sub_id for sub_id, _ in report.errors] == [center.subscriptions(broken.id)[0].id]
    assert "premium" in report.errors[0][1]
    assert renewal_of(center, fine).status is InvoiceStatus.PAID


def test_a_bill_run_told_to_stop_leaves_nothing_in_flight(
    make_center: CenterFactory, clock: ManualClock, gateway: FakeGateway
) -> None:
    center = make_center()
    accounts = [open_account(center, name=f"Customer {n}") for n in range(4)]
    for account in accounts:
        buy(center, account)
    clock.set(DEC_1)
    sent: list[str] = []
    charge = gateway.charge

    def counting(request: ChargeRequest) -> PaymentResult:
        sent.append(request.idempotency_key)
        return charge(request)

    gateway.charge = counting  # type: ignore[method-assign]
    report = center.run_renewals(stop=lambda: len(sent) >= 2)
    assert report.stopped == "interrupted"
    assert (report.renewed, report.charged) == (4, 2)
    assert center.reconcile() == ReconcileReport()  # nothing in flight
    assert center.payment_review().in_flight == 0
    clock.advance(minutes=1)
    report = center.run_renewals()
    assert report.retried == 2
    for account in accounts:
        assert renewal_of(center, account).status is InvoiceStatus.PAID
    settled(center, gateway, *accounts)


def test_the_bill_run_heals_what_a_crash_left_before_charging_anything_new(
    make_center: CenterFactory,
    clock: ManualClock,
    gateway: FakeGateway,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    center = make_center()
    accounts = [open_account(center, name=f"Customer {n}") for n in range(3)]
    for account in accounts:
        buy(center, account)
    clock.set(DEC_1)
    charge = gateway.charge
    made: list[str] = []

    def dies_after_two(request: ChargeRequest) -> PaymentResult:
        if len(made) == 2:
            raise KeyboardInterrupt  # the process dies before the third charge
        made.append(request.idempotency_key)
        return charge(request)

    monkeypatch.setattr(gateway, "charge", dies_after_two)
    with pytest.raises(KeyboardInterrupt):
        center.run_renewals()
    monkeypatch.undo()
    # Two charged, none recorded; the third never sent.
    assert len(gateway.succeeded_charges()) == 3 + 2
    clock.advance(LEASE)
    report = center.run_renewals()
    assert report.resolved == 3
    assert report.retried == 1  # the one never sent is due again, and charged now
    for account in accounts:
        assert renewal_of(center, account).status is InvoiceStatus.PAID
    settled(center, gateway, *accounts)


# -- time only moves forward -----------------------------------------------------------


def test_no_job_runs_at_an_instant_after_the_clock(
    center: BillingCenter, clock: ManualClock, gateway: FakeGateway, paying: Account
) -> None:
    before = center.subscriptions(paying.id)
    with pytest.raises(InstantInFuture, match="after the clock's now"):
        center.run_renewals(DEC_1)
    with pytest.raises(InstantInFuture):
        center.expire_trials(clock.now() + timedelta(days=30))
    with pytest.raises(NaiveDatetime):
        center.run_renewals(datetime(2026, 11, 1, 9, 0))
    with pytest.raises(InvalidInput, match="aware datetime"):
        center.run_renewals("2026-12-01")  # type: ignore[arg-type]
    assert center.subscriptions(paying.id) == before
    assert len(gateway.charge_requests) == 1
    # Up to now, or a past instant, is fine.
    assert center.run_renewals(clock.now()) == BillRunReport()


# -- invoices dated at issue -------------------------------------------------------------


def test_a_late_bill_run_issues_today_for_past_periods_in_number_order(
    make_center: CenterFactory, clock: ManualClock
) -> None:
    center = make_center()
    accounts = [open_account(center, name=f"Customer {n}") for n in range(3)]
    for n, account in enumerate(accounts):
        clock.set(NOV_1 + timedelta(days=n))
        buy(center, account)
    late = DEC_1 + timedelta(days=45)
    clock.set(late)
    center.run_renewals()
    renewals = sorted(
        (
            i
            for a in accounts
            for i in center.invoices(a.id, CONTACT)
            if i.reason.value == "renewal"
        ),
        key=lambda i: i.sequence,
    )
    assert len(renewals) == 6  # two periods each
    assert all(i.issued_at == late for i in renewals)
    assert all(i.tax_point == late for i in renewals)
    assert {i.lines[0].period.start for i in renewals} >= {DEC_1}
    everything = sorted(
        (i for a in accounts for i in center.invoices(a.id, CONTACT)), key=lambda i: i.sequence
    )
    dates = [i.issued_at for i in everything]
    assert dates == sorted(dates)


def test_a_document_is_never_dated_before_the_last_one_of_its_series(
    center: BillingCenter, clock: ManualClock, paying: Account, catalog: Any, seller: Any
) -> None:
    first = center.invoices(paying.id, CONTACT)[-1]
    behind = BillingCenter(
        catalog=catalog,
        seller=seller,
        store=center.store,
        gateway=center.gateway,
        clock=ManualClock(first.issued_at - timedelta(hours=2)),  # a server running late
    )
    other = open_account(behind, name="Late server")
    buy(behind, other)
    issued = behind.invoices(other.id, CONTACT)[-1]
    assert issued.sequence == first.sequence + 1
    assert issued.issued_at == first.issued_at


def test_a_late_run_across_a_rate_change_taxes_at_the_issue_date(catalog: Any, seller: Any) -> None:
    """Romania's standard rate went from 19% to 21% on 1 August 2025. A monthly
    renewal due on 25 July but billed on 3 August is invoiced on 3 August, when the
    VAT becomes chargeable (invoice and payment come before the period ends), at 21%,
    for the period from 25 July; billed on time, at 19%."""
    subscribed = datetime(2025, 6, 25, 12, tzinfo=ROME)
    due = datetime(2025, 7, 25, 12, tzinfo=ROME)
    renewals = {}
    for name, run_at in (("on time", due), ("late", datetime(2025, 8, 3, 12, tzinfo=ROME))):
        clock = ManualClock(subscribed)
        center = BillingCenter(
            catalog=catalog,
            seller=seller,
            store=InMemoryStore(),
            gateway=FakeGateway(),
            clock=clock,
        )
        account = center.open_account(
            name="Popescu SRL",
            address=Address(
                line1="Strada Lipscani 1", city="Bucharest", postal_code="030031", country="RO"
            ),
            timezone="Europe/Bucharest",
            locale="en",
            currency="EUR",
            billing_contacts=[CONTACT],
            payment_method="tok_visa",
        )
        buy(center, account)
        assert center.invoices(account.id, CONTACT)[0].taxes[0].rate == Decimal("19")
        clock.set(run_at)
        center.run_renewals()
        renewals[name] = renewal_of(center, account)
    on_time, late = renewals["on time"], renewals["late"]
    assert on_time.taxes[0].rate == Decimal("19")
    assert on_time.issued_at == due
    assert late.taxes[0].rate == Decimal("21")
    assert late.issued_at == late.tax_point == datetime(2025, 8, 3, 12, tzinfo=ROME)
    assert late.lines[0].period.start == on_time.lines[0].period.start == due
    assert late.total == Decimal("12.10")  # 10.00 + 21%


# -- paying an invoice -----------------------------------------------------------------


@pytest.fixture
def past_due(center: BillingCenter, clock: ManualClock, paying: Account) -> IssuedInvoice:
    """Monitoring's 1 December renewal was declined: past due, first retry on 4 Dec."""
    center.update_payment_method(paying.id, CONTACT, "tok_declined")
    clock.set(DEC_1)
    assert center.run_renewals() == BillRunReport(renewed=1, failed=1)
    return renewal_of(center, paying)


def test_pay_invoice_recovers_and_the_same_key_is_the_same_payment(
    center: BillingCenter,
    clock: ManualClock,
    gateway: FakeGateway,
    paying: Account,
    past_due: IssuedInvoice,
) -> None:
    center.update_payment_method(paying.id, CONTACT, "tok_visa")
    paid = center.pay_invoice(paying.id, CONTACT, past_due.id, idempotency_key="pay-1")
    assert paid.status is InvoiceStatus.PAID
    assert gateway.charge_requests[-1].idempotency_key == f"invoice:{past_due.id}:2"
    assert not gateway.charge_requests[-1].off_session
    sub = center.subscriptions(paying.id)[0]
    assert (sub.status, sub.dunning) == (Status.ACTIVE, None)
    requests = len(gateway.charge_requests)
    again = center.pay_invoice(paying.id, CONTACT, past_due.id, idempotency_key="pay-1")
    assert again == paid
    assert len(gateway.charge_requests) == requests
    # The bill run's retry finds nothing left to do.
    clock.set(DEC_1 + timedelta(days=3))
    assert center.run_renewals() == BillRunReport()
    settled(center, gateway, paying)


def test_a_second_payment_while_one_is_in_flight_is_never_sent(
    center: BillingCenter, gateway: FakeGateway, paying: Account, past_due: IssuedInvoice
) -> None:
    center.update_payment_method(paying.id, CONTACT, "tok_visa")
    refused: list[Exception] = []

    def second_contact_pays_meanwhile(request: ChargeRequest) -> PaymentResult:
        try:
            center.pay_invoice(paying.id, CONTACT, past_due.id, idempotency_key="other")
        except PaymentInProgress as exc:
            refused.append(exc)
        return PaymentResult(
            status=PaymentStatus.SUCCEEDED, charge_id="ch_p", amount=request.amount
        )

    gateway._handler = second_contact_pays_meanwhile
    center.pay_invoice(paying.id, CONTACT, past_due.id, idempotency_key="first")
    assert len(refused) == 1
    assert refused[0].target == f"invoice:{past_due.id}"
    keys = [r.idempotency_key for r in gateway.charge_requests if past_due.id in r.idempotency_key]
    assert keys == [f"invoice:{past_due.id}:1", f"invoice:{past_due.id}:2"]
    settled(center, gateway, paying)


def test_a_payment_while_the_bill_run_retries_is_refused(
    center: BillingCenter,
    clock: ManualClock,
    gateway: FakeGateway,
    paying: Account,
    past_due: IssuedInvoice,
) -> None:
    refused: list[Exception] = []

    def customer_pays_meanwhile(request: ChargeRequest) -> PaymentResult:
        try:
            center.pay_invoice(paying.id, CONTACT, past_due.id, idempotency_key="now")
        except PaymentInProgress as exc:
            refused.append(exc)
        return PaymentResult(
            status=PaymentStatus.SUCCEEDED, charge_id="ch_r", amount=request.amount
        )

    center.update_payment_method(paying.id, CONTACT, "tok_visa")
    gateway._handler = customer_pays_meanwhile
    clock.set(DEC_1 + timedelta(days=3))
    assert center.run_renewals() == BillRunReport(retried=1, recovered=1)
    assert len(refused) == 1
    assert renewal_of(center, paying).status is InvoiceStatus.PAID


def test_a_timeout_paying_an_invoice_is_resolved_by_the_same_key(
    center: BillingCenter, gateway: FakeGateway, paying: Account, past_due: IssuedInvoice
) -> None:
    center.update_payment_method(paying.id, CONTACT, "tok_timeout")
    pending = center.pay_invoice(paying.id, CONTACT, past_due.id, idempotency_key="k")
    assert pending.status is InvoiceStatus.CHARGING
    done = center.pay_invoice(paying.id, CONTACT, past_due.id, idempotency_key="k")
    assert done.status is InvoiceStatus.PAID
    assert len(gateway.succeeded_charges()) == 2  # the order, and this payment once
    settled(center, gateway, paying)


def test_3ds_paying_an_invoice_then_completing_it_on_session(
    center: BillingCenter, gateway: FakeGateway, paying: Account, past_due: IssuedInvoice
) -> None:
    center.update_payment_method(paying.id, CONTACT, "tok_3ds")
    with pytest.raises(PaymentActionRequired) as info:
        center.pay_invoice(paying.id, CONTACT, past_due.id, idempotency_key="k")
    assert info.value.next_action is not None
    assert center.invoice(paying.id, CONTACT, past_due.id).status is InvoiceStatus.REQUIRES_ACTION
    with pytest.raises(PaymentInProgress):
        center.pay_invoice(paying.id, CONTACT, past_due.id, idempotency_key="other")
    with pytest.raises(PaymentActionRequired):  # not authenticated yet
        center.pay_invoice(paying.id, CONTACT, past_due.id, idempotency_key="k")
    charge = gateway.lookup(f"invoice:{past_due.id}:2")
    assert charge is not None
    assert charge.charge_id is not None
    gateway.complete_action(charge.charge_id)
    paid = center.confirm_payment(paying.id, CONTACT, past_due.id)
    assert isinstance(paid, IssuedInvoice)
    assert paid.status is InvoiceStatus.PAID
    assert center.subscriptions(paying.id)[0].status is Status.ACTIVE
    settled(center, gateway, paying)


def test_a_declined_payment_of_an_invoice_changes_no_schedule(
    center: BillingCenter, gateway: FakeGateway, paying: Account, past_due: IssuedInvoice
) -> None:
    before = center.subscriptions(paying.id)[0]
    with pytest.raises(PaymentDeclined, match="update the payment method"):
        center.pay_invoice(paying.id, CONTACT, past_due.id, idempotency_key="k")
    assert center.subscriptions(paying.id)[0] == before
    assert center.invoice(paying.id, CONTACT, past_due.id).status is InvoiceStatus.FAILED


# -- orders: completions, storage failures, refunds -----------------------------------


def test_a_concurrent_completion_is_never_refunded(
    center: BillingCenter, clock: ManualClock, gateway: FakeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = open_account(center, payment_method="tok_timeout")
    center.subscribe_now(account.id, CONTACT, "monitoring")
    quote = center.quote(account.id, CONTACT)
    order = center.place_order(account.id, CONTACT, quote.id, idempotency_key="k")
    assert order.state is OrderState.UNKNOWN
    clock.advance(LEASE)
    lookup = gateway.lookup

    def customer_retries_meanwhile(key: str, **given: Any) -> PaymentResult | None:
        # While reconcile asks the gateway, the customer's retry completes the order.
        assert center.place_order(account.id, CONTACT, quote.id, idempotency_key="k").state is (
            OrderState.SUCCEEDED
        )
        return lookup(key, **given)

    monkeypatch.setattr(gateway, "lookup", customer_retries_meanwhile)
    report = center.reconcile()
    monkeypatch.undo()
    assert [o.state for o in report.orders] == [OrderState.SUCCEEDED]
    assert not [r for r in gateway.requests if isinstance(r, RefundRequest)]
    assert gateway.net_charged("EUR") == Decimal("12.20")
    assert len(center.invoices(account.id, CONTACT)) == 1


class _Interleaving:
    """A store that runs ``meanwhile`` once, right after a unit of work has looked up an
    idempotency key and found nothing (another caller of the key acting in between)."""

    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self.meanwhile: Any = None

    def unit_of_work(self) -> Any:
        uow = self._store.unit_of_work()
        owner, get = self, uow.idempotency.get

        def get_then_interleave(account_id: str, key: str) -> Any:
            found = get(account_id, key)
            act, owner.meanwhile = owner.meanwhile, None
            if found is None and act is not None:
                act()
            return found

        uow.idempotency.get = get_then_interleave
        return uow


def test_a_caller_of_a_key_whose_order_another_completed_meanwhile_gets_that_order(
    catalog: Any, seller: Any, store: InMemoryStore, gateway: FakeGateway, clock: ManualClock
) -> None:
    interleaving = _Interleaving(store)
    center = BillingCenter(
        catalog=catalog, seller=seller, store=interleaving, gateway=gateway, clock=clock
    )
    account = open_account(center)
    center.subscribe_now(account.id, CONTACT, "monitoring")
    quote = center.quote(account.id, CONTACT)
    first: list[Any] = []
    interleaving.meanwhile = lambda: first.append(
        center.place_order(account.id, CONTACT, quote.id, idempotency_key="k")
    )
    # The first caller completes the order (the subscription's version moves on) after
    # this one found nothing under the key: this one is told of that order, not that
    # the quote changed.
    order = center.place_order(account.id, CONTACT, quote.id, idempotency_key="k")
    assert [o.id for o in first] == [order.id]
    assert order.state is OrderState.SUCCEEDED
    assert len(gateway.charge_requests) == 1


def test_an_order_placed_through_repeated_collisions_is_placed_once(
    center: BillingCenter, gateway: FakeGateway
) -> None:
    account = open_account(center)
    center.subscribe_now(account.id, CONTACT, "monitoring")
    quote = center.quote(account.id, CONTACT)
    with _store_fails(center) as colliding:
        colliding.collisions = 3
        order = center.place_order(account.id, CONTACT, quote.id, idempotency_key="k")
        assert order.state is OrderState.SUCCEEDED
        assert len(gateway.charge_requests) == 1
        center.subscribe_now(account.id, CONTACT, "monitoring", seats=3)
        again = center.quote(account.id, CONTACT)
        colliding.collisions = 50  # a store that never lets it through: the conflict is told
        with pytest.raises(ConcurrencyConflict):
            center.place_order(account.id, CONTACT, again.id, idempotency_key="k2")
    assert len(gateway.charge_requests) == 1
    assert [o.id for o in center.orders(account.id, CONTACT)][-1] == order.id


def test_an_invoice_paid_through_repeated_collisions_is_charged_once(
    center: BillingCenter, gateway: FakeGateway, paying: Account, past_due: IssuedInvoice
) -> None:
    center.update_payment_method(paying.id, CONTACT, "tok_visa")
    requests = len(gateway.charge_requests)
    with _store_fails(center) as colliding:
        colliding.collisions = 3
        paid = center.pay_invoice(paying.id, CONTACT, past_due.id, idempotency_key="pay-1")
    assert paid.status is InvoiceStatus.PAID
    assert [r.idempotency_key for r in gateway.charge_requests[requests:]] == [
        f"invoice:{past_due.id}:2"
    ]


class _FailingCommits:
    """A store whose commits fail while ``failing`` is set (a read-only file, a full
    disk), and whose next ``collisions`` commits conflict, as with a concurrent writer
    that is then rolled back (one side of a deadlock): nothing of those units of work
    is kept."""

    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self.failing = False
        self.collisions = 0

    def unit_of_work(self) -> Any:
        uow = self._store.unit_of_work()
        owner = self
        commit = uow.commit

        def failing_commit() -> None:
            if owner.collisions:
                owner.collisions -= 1
                uow.rollback()
                raise ConcurrencyConflict("idempotency key", "k", expected=0, found=1)
            if owner.failing:
                uow.rollback()
                raise StorageError("the database file is read-only")
            commit()

        uow.commit = failing_commit  # type: ignore[method-assign]
        return uow


@contextmanager
def _store_fails(center: BillingCenter) -> Iterator[_FailingCommits]:
    host = getattr(center, "_wrapped", center)  # under the careless host's wrapper
    inner = host._center  # the wiring the use cases run on
    broken = _FailingCommits(inner.store)
    real, inner.store = inner.store, broken
    try:
        yield broken
    finally:
        inner.store = real


def test_a_storage_failure_after_the_charge_refunds_nothing_and_heals_on_retry(
    center: BillingCenter, clock: ManualClock, gateway: FakeGateway
) -> None:
    account = open_account(center)
    center.subscribe_now(account.id, CONTACT, "monitoring")
    quote = center.quote(account.id, CONTACT)
    charge = gateway.charge
    with _store_fails(center) as broken:

        def charge_then_break(request: ChargeRequest) -> PaymentResult:
            result = charge(request)
            broken.failing = True  # the disk fills up just after the charge
            return result

        gateway.charge = charge_then_break  # type: ignore[method-assign]
        with pytest.raises(PaymentNotRecorded, match="do not pay again"):
            center.place_order(account.id, CONTACT, quote.id, idempotency_key="k")
        gateway.charge = charge  # type: ignore[method-assign]
    assert not [r for r in gateway.requests if isinstance(r, RefundRequest)]
    assert center.subscriptions(account.id) == []
    # The retry the error invites completes the order with the charge already made.
    order = center.place_order(account.id, CONTACT, quote.id, idempotency_key="k")
    assert order.state is OrderState.SUCCEEDED
    assert gateway.net_charged("EUR") == Decimal("12.20")
    assert len(gateway.succeeded_charges()) == 1
    assert center.subscriptions(account.id)[0].status is Status.ACTIVE


def test_a_refund_the_gateway_refuses_stays_visible(
    center: BillingCenter, clock: ManualClock, gateway: FakeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = open_account(center, payment_method="tok_timeout")
    center.subscribe_now(account.id, CONTACT, "monitoring")
    center.place_order(
        account.id, CONTACT, center.quote(account.id, CONTACT).id, idempotency_key="k"
    )
    clock.advance(Settings().quote_ttl + timedelta(minutes=1))  # it can no longer complete

    def refuse(request: RefundRequest) -> PaymentResult:
        return PaymentResult(status=PaymentStatus.DECLINED, message="the charge is disputed")

    monkeypatch.setattr(gateway, "refund", refuse)
    (order,) = center.reconcile().orders
    assert order.state is OrderState.FAILED
    review = center.payment_review()
    assert [a.state for a in review.failed_refunds] == [AttemptState.FAILED]
    assert review.failed_refunds[0].amount == Decimal("12.20")
    assert EventKind.REFUND_FAILED in [e.kind for e in center.events(account.id)]


def test_a_late_charge_of_an_attempt_resolved_as_not_charged_is_still_recorded(
    center: BillingCenter,
    clock: ManualClock,
    gateway: FakeGateway,
    monkeypatch: pytest.MonkeyPatch,
    paying: Account,
) -> None:
    """Attempt 1's request was held up in the network: reconcile found nothing and the
    next attempt paid the invoice. When attempt 1 lands after all, its money goes
    back; an invoice still unpaid would have been paid with it."""
    clock.set(DEC_1)
    held: list[ChargeRequest] = []

    def held_up(request: ChargeRequest) -> PaymentResult:
        held.append(request)
        raise KeyboardInterrupt  # the process dies, its request still on its way

    monkeypatch.setattr(gateway, "charge", held_up)
    with pytest.raises(KeyboardInterrupt):
        center.run_renewals()
    monkeypatch.undo()
    clock.advance(LEASE)
    center.run_renewals()  # attempt 1 not charged; attempt 2 pays the invoice
    renewal = renewal_of(center, paying)
    assert renewal.status is InvoiceStatus.PAID
    gateway.charge(held[0])  # the held-up request lands
    late = center.resolve_payment(held[0].idempotency_key)
    assert late.state is AttemptState.SUCCEEDED
    refunds = [r for r in gateway.requests if isinstance(r, RefundRequest)]
    assert [r.amount.amount for r in refunds] == [Decimal("12.20")]
    assert EventKind.PAYMENT_REFUNDED in [e.kind for e in center.events(paying.id)]
    settled(center, gateway, paying)
    assert center.resolve_payment(held[0].idempotency_key) == late  # nothing twice


def test_a_late_charge_pays_an_invoice_still_unpaid(
    center: BillingCenter,
    clock: ManualClock,
    gateway: FakeGateway,
    monkeypatch: pytest.MonkeyPatch,
    paying: Account,
) -> None:
    clock.set(DEC_1)
    held: list[ChargeRequest] = []

    def held_up(request: ChargeRequest) -> PaymentResult:
        held.append(request)
        raise KeyboardInterrupt

    monkeypatch.setattr(gateway, "charge", held_up)
    with pytest.raises(KeyboardInterrupt):
        center.run_renewals()
    monkeypatch.undo()
    clock.advance(LEASE)
    center.update_payment_method(paying.id, CONTACT, "tok_declined")
    center.run_renewals()  # attempt 1 not charged; attempt 2 declined: past due
    assert center.subscriptions(paying.id)[0].status is Status.PAST_DUE
    gateway.charge(held[0])
    center.resolve_payment(held[0].idempotency_key)
    assert renewal_of(center, paying).status is InvoiceStatus.PAID
    sub = center.subscriptions(paying.id)[0]
    assert (sub.status, sub.dunning) == (Status.ACTIVE, None)
    assert not [r for r in gateway.requests if isinstance(r, RefundRequest)]
    settled(center, gateway, paying)


def test_the_fake_gateway_reports_refunds_when_asked(gateway: FakeGateway) -> None:
    from moneyed import Money

    request = ChargeRequest(
        idempotency_key="order:o1",
        amount=Money(Decimal("30.00"), "EUR"),
        payment_method="tok_visa",
        description="Order o1",
    )
    charged = gateway.charge(request)
    assert charged.charge_id is not None
    gateway.refund(
        RefundRequest(
            idempotency_key="refund:order:o1",
            charge_id=charged.charge_id,
            amount=Money(Decimal("10.00"), "EUR"),
            reason="part",
        )
    )
    part = gateway.lookup("order:o1")
    assert part is not None
    assert part.status is PaymentStatus.SUCCEEDED
    assert part.amount_refunded == Money(Decimal("10.00"), "EUR")
    refund = gateway.lookup("refund:order:o1")
    assert refund is not None
    assert refund.status is PaymentStatus.REFUNDED
    gateway.refund(
        RefundRequest(
            idempotency_key="refund:order:o1:2",
            charge_id=charged.charge_id,
            amount=Money(Decimal("20.00"), "EUR"),
            reason="rest",
        )
    )
    whole = gateway.lookup("order:o1")
    assert whole is not None
    assert whole.status is PaymentStatus.REFUNDED


# -- corporate orders are priced at the customer's confirmation -------------------------


def test_a_corporate_order_confirmed_days_later_starts_and_is_dated_then(
    center: BillingCenter, clock: ManualClock, gateway: FakeGateway
) -> None:
    from subscriptions.accounts import AccountKind

    account = open_account(center, kind=AccountKind.CORPORATE, payment_method=None)
    center.subscribe_now(account.id, CONTACT, "remote-support", seats=20, frequency="annual")
    quote = center.staff_quote("sam", account.id)
    order = center.staff_place_corporate_order(
        "sam", account.id, quote.id, purchase_order="PO-1", idempotency_key="po"
    )
    clock.advance(days=5)
    confirmed_at = clock.now()
    done = center.confirm_corporate_order(account.id, CONTACT, order.id)
    assert done.state is OrderState.SUCCEEDED
    (invoice,) = center.invoices(account.id, CONTACT)
    assert invoice.issued_at == invoice.tax_point == confirmed_at
    assert invoice.lines[0].period.start == confirmed_at
    assert invoice.total == quote.total.amount
    sub = center.subscriptions(account.id)[0]
    assert sub.period is not None
    assert sub.period.start == confirmed_at


def test_a_corporate_proration_confirmed_on_a_later_day_must_be_quoted_again(
    center: BillingCenter, clock: ManualClock
) -> None:
    from subscriptions.accounts import AccountKind
    from subscriptions.errors import QuoteChanged

    account = open_account(center, kind=AccountKind.CORPORATE, payment_method=None)
    center.subscribe_now(account.id, CONTACT, "remote-support", seats=5)
    first = center.staff_quote("sam", account.id)
    order = center.staff_place_corporate_order(
        "sam", account.id, first.id, purchase_order="PO-1", idempotency_key="po-1"
    )
    center.confirm_corporate_order(account.id, CONTACT, order.id)
    clock.advance(days=10)
    center.subscribe_now(account.id, CONTACT, "remote-support", plan="premium", seats=5)
    upgrade = center.staff_quote("sam", account.id)
    order = center.staff_place_corporate_order(
        "sam", account.id, upgrade.id, purchase_order="PO-2", idempotency_key="po-2"
    )
    clock.advance(days=3)
    before = center.subscriptions(account.id)
    with pytest.raises(QuoteChanged, match="not what was quoted"):
        center.confirm_corporate_order(account.id, CONTACT, order.id)
    assert center.subscriptions(account.id) == before


def test_an_attempt_resolved_after_its_invoice_was_paid_leaves_it_paid(
    center: BillingCenter,
    clock: ManualClock,
    gateway: FakeGateway,
    monkeypatch: pytest.MonkeyPatch,
    paying: Account,
) -> None:
    from subscriptions.errors import GatewayUnavailable

    clock.set(DEC_1)
    held: list[ChargeRequest] = []
    real_charge = gateway.charge

    def held_up(request: ChargeRequest) -> PaymentResult:
        held.append(request)
        raise KeyboardInterrupt  # attempt 1 is on its way when the process dies

    monkeypatch.setattr(gateway, "charge", held_up)
    with pytest.raises(KeyboardInterrupt):
        center.run_renewals()

    def unreachable(request: ChargeRequest) -> PaymentResult:
        raise GatewayUnavailable("no route to the gateway")

    monkeypatch.setattr(gateway, "charge", unreachable)
    clock.advance(LEASE)
    center.run_renewals()  # attempt 1: not charged; attempt 2 sent, unanswered
    monkeypatch.undo()
    renewal = renewal_of(center, paying)
    assert renewal.status is InvoiceStatus.CHARGING
    real_charge(held[0])  # attempt 1 lands after all
    center.resolve_payment(held[0].idempotency_key)
    assert renewal_of(center, paying).status is InvoiceStatus.PAID
    clock.advance(LEASE)
    report = center.reconcile()  # attempt 2: the gateway never got it
    assert [a.state for a in report.resolved] == [AttemptState.NOT_CHARGED]
    assert renewal_of(center, paying).status is InvoiceStatus.PAID
    sub = center.subscriptions(paying.id)[0]
    assert (sub.status, sub.dunning) == (Status.ACTIVE, None)
    settled(center, gateway, paying)


def test_a_journal_line_torn_by_a_killed_process_is_dropped(tmp_path: Any) -> None:
    from moneyed import Money

    journal = tmp_path / "gateway.jsonl"
    gateway = FakeGateway(journal=journal)
    request = ChargeRequest(
        idempotency_key="order:o1",
        amount=Money(Decimal("10.00"), "EUR"),
        payment_method="tok_visa",
        description="Order o1",
    )
    gateway.charge(request)
    with journal.open("a", encoding="utf-8") as handle:
        handle.write('{"op":"charge","key":"order:o2","requ')  # killed mid-write
    again = FakeGateway(journal=journal)
    assert again.lookup("order:o1") is not None
    assert again.lookup("order:o2") is None
    second = attrs.evolve(request, idempotency_key="order:o3")
    again.charge(second)
    assert FakeGateway(journal=journal).lookup("order:o3") is not None
    assert journal.read_text(encoding="utf-8").count("\n") == 2


def test_an_order_paid_on_another_day_than_its_quote_across_a_rate_change_is_requoted(
    catalog: Any, seller: Any
) -> None:
    """Quoted at 19% at ten to midnight on 31 July 2025 in Bucharest, paid after
    midnight, when Romania's rate is 21%: the VAT is due when it is paid, so the quote
    no longer holds."""
    from zoneinfo import ZoneInfo

    from subscriptions.errors import QuoteChanged

    bucharest = ZoneInfo("Europe/Bucharest")
    clock = ManualClock(datetime(2025, 7, 31, 23, 50, tzinfo=bucharest))
    gateway = FakeGateway()
    center = BillingCenter(
        catalog=catalog, seller=seller, store=InMemoryStore(), gateway=gateway, clock=clock
    )
    account = center.open_account(
        name="Popescu SRL",
        address=Address(
            line1="Strada Lipscani 1", city="Bucharest", postal_code="030031", country="RO"
        ),
        timezone="Europe/Bucharest",
        locale="en",
        currency="EUR",
        billing_contacts=[CONTACT],
        payment_method="tok_visa",
    )
    center.subscribe_now(account.id, CONTACT, "monitoring")
    quote = center.quote(account.id, CONTACT)
    assert quote.invoice is not None
    assert quote.invoice.taxes[0].rate == Decimal("19")
    clock.advance(minutes=15)
    with pytest.raises(QuoteChanged, match="VAT rate"):
        center.place_order(account.id, CONTACT, quote.id, idempotency_key="k")
    assert gateway.requests == []
    fresh = center.quote(account.id, CONTACT)
    assert fresh.invoice is not None
    assert fresh.invoice.taxes[0].rate == Decimal("21")
    order = center.place_order(account.id, CONTACT, fresh.id, idempotency_key="k2")
    assert order.state is OrderState.SUCCEEDED


def test_seat_events_name_the_users_whose_seats_moved(center: BillingCenter) -> None:
    account = open_account(center)
    buy(center, account, seats=3)
    # Any iterable of user ids, a generator too.
    center.assign_seats(account.id, CONTACT, "monitoring", (u for u in ["giulia", "marco"]))
    center.reassign_seat(account.id, CONTACT, "monitoring", "marco", "sara")
    center.unassign_seats(account.id, CONTACT, "monitoring", ["giulia"])
    moved = [
        (e.kind, e.user_ids)
        for e in center.events(account.id)
        if e.kind
        in (EventKind.SEATS_ASSIGNED, EventKind.SEAT_REASSIGNED, EventKind.SEATS_UNASSIGNED)
    ]
    assert moved == [
        (EventKind.SEATS_ASSIGNED, ("giulia", "marco")),
        (EventKind.SEAT_REASSIGNED, ("marco", "sara")),
        (EventKind.SEATS_UNASSIGNED, ("giulia",)),
    ]
    assert center.seats(account.id, CONTACT, "monitoring").users == ("sara",)
