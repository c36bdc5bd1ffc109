"""Renewals and dunning through the Billing Center: the bill run, the credit balance,
failed charges, retries, recovery, lapse, cancellation and reactivation, and invoice
numbers that stay gapless through all of it."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from conftest import CONTACT, ROME, START, CenterFactory, open_account
from moneyed import Money

from subscriptions.accounts import Account
from subscriptions.adapters.fakes import FakeGateway, InMemoryNotifier, ManualClock
from subscriptions.center import BillingCenter, BillRunReport, Settings
from subscriptions.errors import ActionRefused, InvalidTransition, NoSubscription, TrialAlreadyUsed
from subscriptions.orders import InvoiceStatus, IssuedInvoice, OrderState
from subscriptions.pricing import InvoiceReason
from subscriptions.subscription import BillingPolicy, EventKind, Status, TrialEnd

DEC_1 = datetime(2026, 12, 1, 9, 0, tzinfo=ROME)
JAN_1 = datetime(2027, 1, 1, 9, 0, tzinfo=ROME)


def buy(
    center: BillingCenter,
    account: Account,
    product: str,
    *,
    key: str,
    **terms: object,
) -> None:
    center.subscribe_now(account.id, CONTACT, product, **terms)  # type: ignore[arg-type]
    order = center.place_order(
        account.id, CONTACT, center.quote(account.id, CONTACT).id, idempotency_key=key
    )
    assert order.state is OrderState.SUCCEEDED


def sub_of(center: BillingCenter, account: Account, product: str):  # type: ignore[no-untyped-def]
    return next(s for s in center.subscriptions(account.id) if s.product == product)


def paid_total(center: BillingCenter, *accounts: Account) -> Decimal:
    return sum(
        (
            i.amount_due
            for a in accounts
            for i in center.invoices(a.id, CONTACT)
            if i.status is InvoiceStatus.PAID
        ),
        Decimal(0),
    )


def all_invoices(center: BillingCenter, *accounts: Account) -> list[IssuedInvoice]:
    return sorted(
        (i for a in accounts for i in center.invoices(a.id, CONTACT)), key=lambda i: i.sequence
    )


def assert_gapless(center: BillingCenter, *accounts: Account) -> None:
    invoices = all_invoices(center, *accounts)
    assert [i.sequence for i in invoices] == list(range(1, len(invoices) + 1))
    assert [i.number for i in invoices] == [f"INV-{n:06d}" for n in range(1, len(invoices) + 1)]


@pytest.fixture
def with_credit(center: BillingCenter, clock: ManualClock) -> Account:
    """An Italian account paying Remote Support (Standard, 2 seats, monthly: 73.20) since
    1 November; Monitoring (12.20 a month) canceled at once on 16 November leaves a
    credit balance of 6.10."""
    account = open_account(center)
    buy(center, account, "remote-support", key="support", seats=2)
    buy(center, account, "monitoring", key="monitoring")
    clock.set(datetime(2026, 11, 16, 9, 0, tzinfo=ROME))
    center.cancel(account.id, CONTACT, "monitoring", timing="immediate")
    assert center.account(account.id).credit_balance == Decimal("6.10")
    return account


def test_run_renewals_charges_off_session_and_applies_the_credit_balance(
    center: BillingCenter, clock: ManualClock, gateway: FakeGateway, with_credit: Account
) -> None:
    clock.set(DEC_1 - timedelta(seconds=1))
    assert center.run_renewals() == BillRunReport()
    clock.set(DEC_1)
    report = center.run_renewals()
    assert report == BillRunReport(renewed=1, charged=1)
    renewal = center.invoices(with_credit.id, CONTACT)[-1]
    assert renewal.reason is InvoiceReason.RENEWAL
    assert renewal.status is InvoiceStatus.PAID
    assert renewal.total == Decimal("73.20")
    assert renewal.credit_applied == Decimal("6.10")
    assert renewal.amount_due == Decimal("67.10")
    charge = gateway.charge_requests[-1]
    assert charge.off_session
    assert charge.amount.amount == Decimal("67.10")
    assert charge.idempotency_key == f"invoice:{renewal.id}:1"
    assert charge.payment_method == "tok_visa"
    assert center.account(with_credit.id).credit_balance == 0
    sub = sub_of(center, with_credit, "remote-support")
    assert sub.status is Status.ACTIVE
    assert sub.period is not None
    assert (sub.period.start, sub.period.end) == (DEC_1, JAN_1)
    # Running again at the same instant does nothing more.
    assert center.run_renewals() == BillRunReport()
    assert gateway.net_charged("EUR") == paid_total(center, with_credit)
    assert_gapless(center, with_credit)


def test_a_renewal_fully_paid_by_credit_is_not_charged(
    center: BillingCenter, clock: ManualClock, gateway: FakeGateway
) -> None:
    account = open_account(center)
    buy(center, account, "monitoring", key="m")
    buy(center, account, "remote-support", key="r", plan="premium", seats=5, frequency="annual")
    clock.set(datetime(2026, 11, 2, 9, 0, tzinfo=ROME))
    center.cancel(account.id, CONTACT, "remote-support", timing="immediate")
    balance = center.account(account.id).credit_balance
    requests = len(gateway.requests)
    clock.set(DEC_1)
    assert center.run_renewals() == BillRunReport(renewed=1)
    assert len(gateway.requests) == requests
    renewal = center.invoices(account.id, CONTACT)[-1]
    assert (renewal.total, renewal.credit_applied, renewal.amount_due) == (
        Decimal("12.20"),
        Decimal("12.20"),
        Decimal("0"),
    )
    assert renewal.status is InvoiceStatus.PAID
    assert center.account(account.id).credit_balance == balance - Decimal("12.20")


def test_a_failing_card_makes_the_subscription_past_due_then_lapse_after_the_last_retry(
    center: BillingCenter,
    clock: ManualClock,
    gateway: FakeGateway,
    notifier: InMemoryNotifier,
    with_credit: Account,
) -> None:
    account = with_credit
    center.update_payment_method(account.id, CONTACT, "tok_declined")
    charged = gateway.net_charged("EUR")

    clock.set(DEC_1)
    assert center.run_renewals() == BillRunReport(renewed=1, failed=1)
    sub = sub_of(center, account, "remote-support")
    assert sub.status is Status.PAST_DUE
    assert sub.dunning is not None
    assert sub.dunning.attempts == 1
    assert sub.dunning.next_retry_at == DEC_1 + timedelta(days=3)
    renewal = center.invoices(account.id, CONTACT)[-1]
    assert renewal.status is InvoiceStatus.FAILED  # declined, its retry scheduled
    assert renewal.credit_applied == Decimal("6.10")
    assert renewal.amount_due == Decimal("67.10")
    assert center.account(account.id).credit_balance == 0
    failed = notifier.sent[-1]
    assert failed.kind == "payment_failed"
    assert failed.locale == "it_IT"
    assert "67,10\xa0€" in failed.text
    assert "4 dic 2026" in failed.text  # the next try
    assert "15 dic 2026" in failed.text  # when it ends if never paid
    kinds = [e.kind for e in center.events(account.id)]
    assert EventKind.PAYMENT_FAILED in kinds
    assert EventKind.SUBSCRIPTION_PAST_DUE in kinds
    # Seats stay usable while past due.
    assert center.seats(account.id, CONTACT, "remote-support").seats == 2

    # Retries at +3, +7 and +14 days (Settings.retry_days), not a second before.
    for attempt, days in enumerate(Settings().retry_days, start=2):
        clock.set(DEC_1 + timedelta(days=days) - timedelta(seconds=1))
        assert center.run_renewals() == BillRunReport()
        clock.set(DEC_1 + timedelta(days=days))
        report = center.run_renewals()
        last = days == Settings().retry_days[-1]
        assert report == BillRunReport(retried=1, lapsed=1 if last else 0)
        assert gateway.charge_requests[-1].idempotency_key == f"invoice:{renewal.id}:{attempt}"
        assert gateway.charge_requests[-1].off_session
        if not last:
            sub = sub_of(center, account, "remote-support")
            assert sub.status is Status.PAST_DUE
            assert sub.dunning is not None
            assert sub.dunning.attempts == attempt
            assert notifier.sent[-1].kind == "payment_failed"

    # Lapsed: canceled at the end of the paid period, the unpaid invoice voided by a
    # credit note that corrects it, the credit balance it used given back.
    sub = sub_of(center, account, "remote-support")
    assert sub.status is Status.CANCELED
    assert sub.canceled_at == DEC_1
    assert sub.dunning is None
    assert sub.period is None or sub.period.end <= DEC_1
    invoices = {i.id: i for i in center.invoices(account.id, CONTACT)}
    assert invoices[renewal.id].status is InvoiceStatus.VOID
    note = center.invoices(account.id, CONTACT)[-1]
    assert note.document == "credit_note"
    assert note.total == -renewal.total
    assert note.corrects == (renewal.number,)
    assert note.status is InvoiceStatus.SETTLED
    assert center.account(account.id).credit_balance == Decimal("6.10")
    assert "subscription_lapsed" in [m.kind for m in notifier.sent]
    assert EventKind.SUBSCRIPTION_LAPSED in [e.kind for e in center.events(account.id)]
    with pytest.raises(NoSubscription):
        center.seats(account.id, CONTACT, "remote-support")
    assert gateway.net_charged("EUR") == charged
    assert len([r for r in gateway.charge_requests if renewal.id in r.idempotency_key]) == 4

    # Nothing more happens later.
    clock.set(JAN_1 + timedelta(days=1))
    assert center.run_renewals() == BillRunReport()
    assert gateway.net_charged("EUR") == paid_total(center, account)
    assert_gapless(center, account)


def test_recovery_after_the_payment_method_is_replaced_before_the_last_retry(
    center: BillingCenter,
    clock: ManualClock,
    gateway: FakeGateway,
    with_credit: Account,
) -> None:
    account = with_credit
    center.update_payment_method(account.id, CONTACT, "tok_declined")
    clock.set(DEC_1)
    center.run_renewals()
    clock.set(DEC_1 + timedelta(days=3))
    assert center.run_renewals() == BillRunReport(retried=1)
    clock.set(DEC_1 + timedelta(days=5))
    center.update_payment_method(account.id, CONTACT, "tok_visa")
    clock.set(DEC_1 + timedelta(days=7))
    assert center.run_renewals() == BillRunReport(retried=1, recovered=1)
    sub = sub_of(center, account, "remote-support")
    assert sub.status is Status.ACTIVE
    assert sub.dunning is None
    renewal = center.invoices(account.id, CONTACT)[-1]
    assert renewal.status is InvoiceStatus.PAID
    assert gateway.charge_requests[-1].payment_method == "tok_visa"
    assert EventKind.SUBSCRIPTION_RECOVERED in [e.kind for e in center.events(account.id)]
    clock.set(DEC_1 + timedelta(days=14))
    assert center.run_renewals() == BillRunReport()
    clock.set(JAN_1)
    assert center.run_renewals() == BillRunReport(renewed=1, charged=1)
    assert gateway.net_charged("EUR") == paid_total(center, account)
    assert_gapless(center, account)


def test_retry_days_are_a_setting(
    make_center: CenterFactory, clock: ManualClock, gateway: FakeGateway
) -> None:
    center = make_center(settings=Settings(retry_days=(1, 2)))
    account = open_account(center)
    buy(center, account, "monitoring", key="m")
    center.update_payment_method(account.id, CONTACT, "tok_insufficient_funds")
    clock.set(DEC_1)
    assert center.run_renewals() == BillRunReport(renewed=1, failed=1)
    clock.set(DEC_1 + timedelta(days=1))
    assert center.run_renewals() == BillRunReport(retried=1)
    clock.set(DEC_1 + timedelta(days=2))
    assert center.run_renewals() == BillRunReport(retried=1, lapsed=1)
    assert sub_of(center, account, "monitoring").status is Status.CANCELED


def test_cancel_at_term_end_then_the_bill_run_cancels_without_an_invoice(
    center: BillingCenter, clock: ManualClock, gateway: FakeGateway
) -> None:
    account = open_account(center)
    buy(center, account, "remote-support", key="r", seats=2)
    clock.set(datetime(2026, 11, 20, 9, 0, tzinfo=ROME))
    pending = center.cancel(account.id, CONTACT, "remote-support")
    assert pending.status is Status.PENDING_CANCELLATION
    # Asking again is no error and changes nothing.
    assert center.cancel(account.id, CONTACT, "remote-support") == pending
    # The seats stay usable until the end of the term.
    center.assign_seats(account.id, CONTACT, "remote-support", ["giulia"])
    invoices = center.invoices(account.id, CONTACT)
    requests = len(gateway.requests)
    clock.set(DEC_1)
    assert center.run_renewals() == BillRunReport(canceled=1)
    sub = sub_of(center, account, "remote-support")
    assert sub.status is Status.CANCELED
    assert sub.canceled_at == DEC_1
    assert center.invoices(account.id, CONTACT) == invoices
    assert len(gateway.requests) == requests
    with pytest.raises(NoSubscription, match="subscribe first"):
        center.reactivate(account.id, CONTACT, "remote-support")
    with pytest.raises(NoSubscription):
        center.assign_seats(account.id, CONTACT, "remote-support", ["marco"])


def test_reactivate_before_expiry_keeps_the_subscription_renewing(
    center: BillingCenter, clock: ManualClock, gateway: FakeGateway
) -> None:
    account = open_account(center)
    buy(center, account, "remote-support", key="r")
    with pytest.raises(InvalidTransition, match="nothing to reactivate"):
        center.reactivate(account.id, CONTACT, "remote-support")
    clock.set(datetime(2026, 11, 20, 9, 0, tzinfo=ROME))
    center.cancel(account.id, CONTACT, "remote-support")
    clock.set(DEC_1 - timedelta(seconds=1))
    active = center.reactivate(account.id, CONTACT, "remote-support")
    assert active.status is Status.ACTIVE
    assert EventKind.SUBSCRIPTION_REACTIVATED in [e.kind for e in center.events(account.id)]
    clock.set(DEC_1)
    assert center.run_renewals() == BillRunReport(renewed=1, charged=1)
    assert sub_of(center, account, "remote-support").status is Status.ACTIVE


def test_a_step_due_must_be_processed_before_acting(
    center: BillingCenter, clock: ManualClock
) -> None:
    account = open_account(center)
    buy(center, account, "remote-support", key="r")
    center.cancel(account.id, CONTACT, "remote-support")
    clock.set(DEC_1 + timedelta(hours=1))
    with pytest.raises(InvalidTransition, match="run the bill run"):
        center.reactivate(account.id, CONTACT, "remote-support")


def test_immediate_cancel_credits_the_balance_that_a_later_order_consumes(
    center: BillingCenter, clock: ManualClock, gateway: FakeGateway
) -> None:
    account = open_account(center)
    buy(center, account, "remote-support", key="r", seats=2)  # 73.20 for November
    clock.set(datetime(2026, 11, 16, 9, 0, tzinfo=ROME))
    canceled = center.cancel(account.id, CONTACT, "remote-support", timing="immediate")
    assert canceled.status is Status.CANCELED
    assert canceled.canceled_at == clock.now()
    note = center.invoices(account.id, CONTACT)[-1]
    assert note.document == "credit_note"
    assert note.reason is InvoiceReason.CANCEL
    assert note.total == Decimal("-36.60")  # half of November
    assert note.status is InvoiceStatus.SETTLED
    assert center.account(account.id).credit_balance == Decimal("36.60")
    assert EventKind.SUBSCRIPTION_CANCELED in [e.kind for e in center.events(account.id)]

    center.subscribe_now(account.id, CONTACT, "monitoring", seats=5)  # 61.00
    quote = center.quote(account.id, CONTACT)
    assert quote.total == Money("61.00", "EUR")
    assert quote.credit_applied == Money("36.60", "EUR")
    assert quote.amount_due == Money("24.40", "EUR")
    order = center.place_order(account.id, CONTACT, quote.id, idempotency_key="m")
    assert order.amount_due == Money("24.40", "EUR")
    assert gateway.charge_requests[-1].amount.amount == Decimal("24.40")
    invoice = center.invoices(account.id, CONTACT)[-1]
    assert (invoice.total, invoice.credit_applied, invoice.amount_due) == (
        Decimal("61.00"),
        Decimal("36.60"),
        Decimal("24.40"),
    )
    assert center.account(account.id).credit_balance == 0
    assert gateway.net_charged("EUR") == paid_total(center, account)
    assert_gapless(center, account)


def test_the_credit_note_of_an_immediate_cancel_names_the_invoice_it_corrects(
    center: BillingCenter, clock: ManualClock
) -> None:
    """DESIGN.md, Invoices: "A negative total is a credit note that names the invoices
    it corrects." (The lapse's credit note does; the cancellation's does not.)"""
    account = open_account(center)
    buy(center, account, "remote-support", key="r", seats=2)
    (invoice,) = center.invoices(account.id, CONTACT)
    clock.set(datetime(2026, 11, 16, 9, 0, tzinfo=ROME))
    center.cancel(account.id, CONTACT, "remote-support", timing="immediate")
    note = center.invoices(account.id, CONTACT)[-1]
    assert note.document == "credit_note"
    assert note.corrects == (invoice.number,)


def test_the_bill_run_report_counts_every_kind_of_step(
    center: BillingCenter, clock: ManualClock, gateway: FakeGateway
) -> None:
    paying = open_account(center, name="Paying")
    buy(center, paying, "remote-support", key="a")
    declining = open_account(center, name="Declining")
    buy(center, declining, "remote-support", key="b")
    center.update_payment_method(declining.id, CONTACT, "tok_declined")
    leaving = open_account(center, name="Leaving")
    buy(center, leaving, "monitoring", key="c")
    center.cancel(leaving.id, CONTACT, "monitoring")
    credited = open_account(center, name="Credited")
    buy(center, credited, "monitoring", key="d")
    buy(center, credited, "remote-support", key="e", plan="premium", frequency="annual")
    clock.set(datetime(2026, 11, 2, 9, 0, tzinfo=ROME))
    center.cancel(credited.id, CONTACT, "remote-support", timing="immediate")
    clock.set(datetime(2026, 11, 17, 9, 0, tzinfo=ROME))
    trying = open_account(center, name="Trying")
    center.start_trial(trying.id, "someone", "remote-support")  # ends 1 December
    accounts = (paying, declining, leaving, credited, trying)

    clock.set(DEC_1)
    seen: list[int] = []
    report = center.run_renewals(progress=seen.append)
    assert report == BillRunReport(renewed=3, charged=1, failed=1, canceled=1, trials_expired=1)
    assert seen == [5]
    assert sub_of(center, trying, "remote-support").status is Status.EXPIRED
    assert center.expire_trials() == 0
    clock.set(DEC_1 + timedelta(days=3))
    assert center.run_renewals() == BillRunReport(retried=1)
    assert gateway.net_charged("EUR") == paid_total(center, *accounts)
    assert_gapless(center, *accounts)


def test_small_batches_renew_everything(
    make_center: CenterFactory, clock: ManualClock, gateway: FakeGateway
) -> None:
    center = make_center(settings=Settings(batch_size=2))
    accounts = [open_account(center, name=f"Customer {n}") for n in range(5)]
    for n, account in enumerate(accounts):
        buy(center, account, "monitoring", key=f"k{n}")
    clock.set(DEC_1)
    seen: list[int] = []
    assert center.run_renewals(progress=seen.append) == BillRunReport(renewed=5, charged=5)
    assert seen == [2, 4, 5]
    assert_gapless(center, *accounts)


def test_trials_convert_at_their_end_under_the_convert_policy(
    make_center: CenterFactory, clock: ManualClock, gateway: FakeGateway
) -> None:
    center = make_center(policy=BillingPolicy(trial_end=TrialEnd.CONVERT))
    account = open_account(center)
    center.start_trial(account.id, CONTACT, "remote-support", seats=2)
    clock.set(START + timedelta(days=14))
    assert center.expire_trials() == 0
    assert center.run_renewals() == BillRunReport(trials_converted=1, charged=1)
    sub = sub_of(center, account, "remote-support")
    assert sub.status is Status.ACTIVE
    (invoice,) = center.invoices(account.id, CONTACT)
    assert invoice.reason is InvoiceReason.CONVERSION
    assert invoice.total == Decimal("73.20")
    assert gateway.net_charged("EUR") == Decimal("73.20")


def test_an_expired_trial_never_charges(
    center: BillingCenter, clock: ManualClock, gateway: FakeGateway
) -> None:
    account = open_account(center)
    center.start_trial(account.id, CONTACT, "monitoring", seats=50)
    clock.set(START + timedelta(days=30))
    assert center.run_renewals() == BillRunReport(trials_expired=1)
    clock.set(START + timedelta(days=400))
    assert center.run_renewals() == BillRunReport()
    assert gateway.requests == []
    assert center.invoices(account.id, CONTACT) == []
    with pytest.raises(TrialAlreadyUsed, match="subscribe to keep using it"):
        center.start_trial(account.id, CONTACT, "monitoring")


# -- past-due subscriptions changed by the customer ---------------------------------------


@pytest.fixture
def past_due(center: BillingCenter, clock: ManualClock) -> Account:
    """Remote Support (Standard, 2 seats, monthly) whose 1 December renewal (73.20)
    was declined: past due, first retry on 4 December."""
    account = open_account(center)
    buy(center, account, "remote-support", key="r", seats=2)
    center.update_payment_method(account.id, CONTACT, "tok_declined")
    clock.set(DEC_1)
    assert center.run_renewals() == BillRunReport(renewed=1, failed=1)
    return account


def test_an_immediate_cancel_while_past_due_gives_no_credit_for_the_unpaid_period(
    center: BillingCenter, clock: ManualClock, gateway: FakeGateway, past_due: Account
) -> None:
    """The unpaid renewal must not turn into spendable credit: ledger credits are for
    what was billed *and* is owed back; an unpaid, uncollected invoice left open while
    its full amount is credited to the balance lets the customer buy with money it
    never paid."""
    clock.set(DEC_1 + timedelta(hours=1))
    try:
        center.cancel(past_due.id, CONTACT, "remote-support", timing="immediate")
    except ActionRefused:
        return  # refusing to cancel until the renewal is paid is a sound answer too
    renewal = next(
        i for i in center.invoices(past_due.id, CONTACT) if i.reason is InvoiceReason.RENEWAL
    )
    assert renewal.status is not InvoiceStatus.PAID
    assert gateway.net_charged("EUR") == Decimal("73.20")  # November only
    # December was never paid: no credit for it.
    assert center.account(past_due.id).credit_balance == 0


def test_a_paid_order_on_a_past_due_subscription_is_not_lapsed_by_the_old_dunning(
    center: BillingCenter, clock: ManualClock, gateway: FakeGateway, past_due: Account
) -> None:
    """The customer pays (with a working card) an order that changes the past-due
    subscription: a new period, paid. The old renewal's retries must not cancel the
    subscription that was just paid for."""
    clock.set(DEC_1 + timedelta(hours=1))
    center.subscribe_now(past_due.id, CONTACT, "remote-support", seats=3)
    try:
        quote = center.quote(past_due.id, CONTACT)
    except ActionRefused:
        return  # refusing changes until the renewal is paid is a sound answer too
    order = center.place_order(
        past_due.id, CONTACT, quote.id, idempotency_key="more", payment_method="tok_visa"
    )
    assert order.state is OrderState.SUCCEEDED
    paid_until = sub_of(center, past_due, "remote-support").period.end  # type: ignore[union-attr]
    assert paid_until > DEC_1 + timedelta(days=28)
    for days in Settings().retry_days:
        clock.set(DEC_1 + timedelta(days=days, hours=2))
        center.run_renewals()
    sub = sub_of(center, past_due, "remote-support")
    assert sub.status is not Status.CANCELED
    assert sub.period is not None
    assert sub.period.end == paid_until
