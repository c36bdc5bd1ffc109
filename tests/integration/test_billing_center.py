"""The Billing Center driven as a host application drives it: the brief's journey end
to end (DESIGN.md section 1), and every state an order can be in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date
from conftest import (
    CONTACT,
    DE_VAT,
    IT_VAT,
    ROME,
    SELLER_VAT,
    START,
    CenterFactory,
    Snapshot,
    account_fields,
    open_account,
)
from moneyed import Money

from subscriptions.accounts import Account, AccountKind, VatCheckStatus
from subscriptions.adapters.fakes import FakeGateway, FakeVatVerifier, InMemoryNotifier, ManualClock
from subscriptions.center import BillingCenter, ReconcileReport, Settings
from subscriptions.errors import NotPermitted, PaymentDeclined, PaymentFailed, QuoteChanged
from subscriptions.orders import InvoiceStatus, OrderState
from subscriptions.payments import AttemptState
from subscriptions.ports import ChargeRequest, PaymentStatus
from subscriptions.pricing import InvoiceReason, LineKind
from subscriptions.subscription import CancelTiming, EventKind, Status
from subscriptions.vat import TaxTreatment

NBSP = "\xa0"


def _order_keys(gateway: FakeGateway, order_id: str) -> list[ChargeRequest]:
    return [r for r in gateway.charge_requests if r.idempotency_key == f"order:{order_id}"]


# -- the journey -----------------------------------------------------------------------


def test_the_brief_journey_end_to_end(
    make_center: CenterFactory,
    clock: ManualClock,
    gateway: FakeGateway,
    notifier: InMemoryNotifier,
) -> None:
    verifier = FakeVatVerifier([IT_VAT, DE_VAT], name="Rossi S.r.l.")
    center = make_center(verifier=verifier)
    account = open_account(center, country="IT", payment_method=None)

    # A user (not a billing contact) starts a free trial of Remote Support.
    trial = center.start_trial(account.id, "bob", "remote-support")
    assert trial.status is Status.TRIALING
    assert trial.trial is not None
    assert trial.trial.end == START + timedelta(days=14)

    # The trial ends: nothing is charged, it simply expires.
    clock.set(datetime(2026, 11, 14, 9, 0, tzinfo=ROME))
    assert center.expire_trials() == 0
    clock.set(datetime(2026, 11, 16, 9, 0, tzinfo=ROME))
    assert center.expire_trials() == 1
    (expired,) = center.subscriptions(account.id)
    assert expired.status is Status.EXPIRED
    assert gateway.requests == []
    assert center.invoices(account.id, CONTACT) == []
    assert [m.kind for m in notifier.sent] == ["trial_expired"]
    assert notifier.sent[0].locale == "it_IT"
    assert "15 nov 2026" in notifier.sent[0].text
    assert EventKind.TRIAL_EXPIRED in [e.kind for e in center.events(account.id)]

    # A trial of a second product is running when the customer subscribes.
    clock.set(datetime(2026, 11, 20, 9, 0, tzinfo=ROME))
    center.start_trial(account.id, "bob", "monitoring")

    # "Subscribe now", then edit the plan level, the seats and the billing frequency.
    order_day = datetime(2026, 11, 26, 10, 30, tzinfo=ROME)
    clock.set(order_day)
    cart = center.subscribe_now(account.id, CONTACT, "remote-support")
    (item,) = cart.items
    assert (item.plan, item.seats, item.frequency.value) == ("standard", 1, "monthly")
    center.edit_cart_item(account.id, CONTACT, "remote-support", plan="premium")
    center.edit_cart_item(account.id, CONTACT, "remote-support", seats=3)
    cart = center.edit_cart_item(account.id, CONTACT, "remote-support", frequency="annual")
    (item,) = cart.items
    assert (item.plan, item.seats, item.frequency.value) == ("premium", 3, "annual")

    # "Add to cart": a second product in the same order.
    cart = center.add_to_cart(account.id, CONTACT, "monitoring", seats=2, frequency="annual")
    assert [i.product for i in cart.items] == ["remote-support", "monitoring"]

    # Review the order: a priced quote of the whole cart, Italian VAT at 22%.
    first = center.quote(account.id, CONTACT)
    assert first.invoice is not None
    assert [(line.product, line.amount) for line in first.invoice.lines] == [
        ("remote-support", Decimal("1500.00")),
        ("monitoring", Decimal("200.00")),
    ]
    assert first.invoice.subtotal == Decimal("1700.00")
    (tax,) = first.invoice.taxes
    assert (tax.rate, tax.treatment, tax.amount) == (
        Decimal("22"),
        TaxTreatment.STANDARD,
        Decimal("374.00"),
    )
    assert first.amount_due == first.total == Money("2074.00", "EUR")
    assert first.vat_number is None
    assert [i.next_billing_at for i in first.items] == [
        datetime(2027, 11, 26, 10, 30, tzinfo=ROME)
    ] * 2

    # A VAT number is entered and checked offline; a number of the seller's own country
    # is not checked online (an Italian business stays at the seller's rate, reverse
    # charge or not), and the quote must be made again (it pinned no VAT number).
    updated = center.set_vat_number(account.id, CONTACT, "IT 02114460963")
    assert str(updated.vat_number) == IT_VAT
    assert updated.vat_check is not None
    assert updated.vat_check.status is VatCheckStatus.OFFLINE_VALID
    assert updated.vat_check.consultation_number is None
    assert updated.vat_check.checked_at == order_day
    assert verifier.checked == []
    with pytest.raises(QuoteChanged, match="new quote"):
        center.place_order(account.id, CONTACT, first.id, idempotency_key="stale")
    quote = center.quote(account.id, CONTACT)
    assert quote.vat_number == IT_VAT
    assert not quote.reverse_charge
    assert quote.amount_due == Money("2074.00", "EUR")

    # Place the order with an idempotency key and a payment-method token.
    order = center.place_order(
        account.id, CONTACT, quote.id, idempotency_key="order-1", payment_method="tok_visa"
    )
    assert order.state is OrderState.SUCCEEDED
    assert order.amount_due == Money("2074.00", "EUR")
    (charge,) = gateway.charge_requests
    assert charge.amount.amount == Decimal("2074.00")
    assert charge.payment_method == "tok_visa"
    assert not charge.off_session
    assert gateway.net_charged("EUR") == Decimal("2074.00")
    assert center.account(account.id).payment_method == "tok_visa"
    assert center.cart(account.id).items == ()

    # The same key again: the same order, charged once.
    again = center.place_order(
        account.id, CONTACT, quote.id, idempotency_key="order-1", payment_method="tok_visa"
    )
    assert again == order
    assert len(gateway.charge_requests) == 1

    # The invoice: numbered, both parties, the order's amounts.
    (invoice,) = center.invoices(account.id, CONTACT)
    assert invoice.number == "INV-000001"
    assert invoice.order_id == order.id
    assert order.invoice_id == invoice.id
    assert invoice.status is InvoiceStatus.PAID
    assert invoice.total == invoice.amount_due == Decimal("2074.00")
    assert invoice.seller.name == "Vendor S.r.l."
    assert invoice.seller.vat_number == SELLER_VAT
    assert invoice.customer.name == "Rossi S.r.l."
    assert invoice.customer.vat_number == IT_VAT
    assert invoice.customer.address.city == "Torino"
    assert invoice.mentions == ()
    assert center.invoice(account.id, CONTACT, invoice.id) == invoice

    # The subscriptions: active at once, the billing date moved to the order day; the
    # running trial ended at the order.
    subs = {s.product: s for s in center.subscriptions(account.id)}
    support, monitoring = subs["remote-support"], subs["monitoring"]
    for sub in (support, monitoring):
        assert sub.status is Status.ACTIVE
        assert sub.anchor == order_day
        assert sub.period is not None
        assert sub.period.start == order_day
        assert sub.period.end == datetime(2027, 11, 26, 10, 30, tzinfo=ROME)
    assert (support.terms.plan, support.terms.seats, support.terms.frequency.value) == (
        "premium",
        3,
        "annual",
    )
    assert monitoring.trial is not None
    assert monitoring.trial.end == order_day
    kinds = [e.kind for e in center.events(account.id)]
    for kind in (
        EventKind.TRIAL_STARTED,
        EventKind.TRIAL_EXPIRED,
        EventKind.TRIAL_CONVERTED,
        EventKind.SUBSCRIPTION_STARTED,
        EventKind.ORDER_PLACED,
        EventKind.INVOICE_ISSUED,
    ):
        assert kind in kinds

    # The seats bought are available at once and assigned to named users.
    seats = center.seats(account.id, CONTACT, "remote-support")
    assert (seats.seats, seats.users) == (3, ())
    center.assign_seats(account.id, CONTACT, "remote-support", ["giulia", "marco"])
    seats = center.assign_seats(account.id, CONTACT, "remote-support", ["sara"])
    assert seats.users == ("giulia", "marco", "sara")
    assert seats.available == 0
    seats = center.assign_seats(account.id, CONTACT, "monitoring", ["giulia", "luca"])
    assert (seats.seats, seats.in_use) == (2, 2)
    assert [e.kind for e in center.events(account.id)].count(EventKind.SEATS_ASSIGNED) == 3

    # The confirmation: delivered through the notifier, in Italian, amounts and dates
    # formatted by Babel.
    confirmation = notifier.sent[-1]
    assert confirmation.kind == "order_confirmation"
    assert confirmation.to == (CONTACT,)
    assert confirmation.locale == "it_IT"
    assert order.id in confirmation.subject
    assert "Conferma" in confirmation.subject
    text = confirmation.text
    assert text.startswith("Gentile Rossi S.r.l.,")
    assert "26 nov 2026" in text
    assert "26 nov 2027" in text
    assert f"1.500,00{NBSP}€" in text
    assert f"200,00{NBSP}€" in text
    assert f"1.700,00{NBSP}€" in text
    assert f"374,00{NBSP}€" in text
    assert f"2.074,00{NBSP}€" in text
    assert "IVA 22%" in text
    assert "INV-000001" in text
    assert "Premium" in text
    assert "3 licenze" in text
    assert "annuale" in text
    assert "assegna" in text  # the reminder to assign the new seats
    assert "Reverse charge" not in text

    # A later change (two more seats) moves the billing date to the day of the change
    # and credits the unused part of the year.
    change_day = datetime(2027, 2, 10, 15, 0, tzinfo=ROME)
    clock.set(change_day)
    center.subscribe_now(account.id, CONTACT, "remote-support", seats=5)
    change = center.quote(account.id, CONTACT)
    assert change.invoice is not None
    kinds_of_lines = [line.kind for line in change.invoice.lines]
    assert kinds_of_lines == [LineKind.CREDIT, LineKind.CHARGE]
    credit, new_charge = change.invoice.lines
    assert credit.amount < 0
    assert credit.period.start == change_day
    assert new_charge.amount == Decimal("2500.00")
    placed = center.place_order(account.id, CONTACT, change.id, idempotency_key="order-2")
    assert placed.state is OrderState.SUCCEEDED
    support = next(s for s in center.subscriptions(account.id) if s.product == "remote-support")
    assert support.anchor == change_day
    assert support.period is not None
    assert support.period.end == datetime(2028, 2, 10, 15, 0, tzinfo=ROME)
    assert center.seats(account.id, CONTACT, "remote-support").available == 2
    message = notifier.sent[-1]
    assert "10 feb 2027" in message.text
    assert "10 feb 2028" in message.text
    assert [i.number for i in center.invoices(account.id, CONTACT)] == [
        "INV-000001",
        "INV-000002",
    ]
    assert gateway.net_charged("EUR") == sum(
        (
            i.amount_due
            for i in center.invoices(account.id, CONTACT)
            if i.status is InvoiceStatus.PAID
        ),
        Decimal(0),
    )


def test_a_german_business_with_a_verified_vat_number_gets_reverse_charge(
    make_center: CenterFactory, gateway: FakeGateway, notifier: InMemoryNotifier
) -> None:
    center = make_center(verifier=FakeVatVerifier([DE_VAT]))
    account = open_account(center, country="DE")
    center.subscribe_now(
        account.id, CONTACT, "remote-support", plan="premium", seats=3, frequency="annual"
    )
    center.add_to_cart(account.id, CONTACT, "monitoring", seats=2, frequency="annual")

    consumer = center.quote(account.id, CONTACT)
    assert consumer.invoice is not None
    (tax,) = consumer.invoice.taxes
    assert (tax.rate, tax.treatment) == (Decimal("19"), TaxTreatment.STANDARD)
    assert consumer.amount_due == Money("2023.00", "EUR")
    assert not consumer.reverse_charge

    center.set_vat_number(account.id, CONTACT, DE_VAT)
    business = center.quote(account.id, CONTACT)
    assert business.invoice is not None
    (tax,) = business.invoice.taxes
    assert (tax.rate, tax.treatment, tax.amount) == (
        Decimal("0"),
        TaxTreatment.REVERSE_CHARGE,
        Decimal("0.00"),
    )
    assert business.reverse_charge
    assert business.vat_number == DE_VAT
    assert business.amount_due == Money("1700.00", "EUR")

    with pytest.raises(QuoteChanged):
        center.place_order(account.id, CONTACT, consumer.id, idempotency_key="old")
    order = center.place_order(account.id, CONTACT, business.id, idempotency_key="new")
    assert order.state is OrderState.SUCCEEDED
    assert gateway.net_charged("EUR") == Decimal("1700.00")
    (invoice,) = center.invoices(account.id, CONTACT)
    assert invoice.customer.vat_number == DE_VAT
    assert invoice.total == Decimal("1700.00")
    assert any("Reverse charge" in m for m in invoice.mentions)
    confirmation = notifier.sent[-1]
    assert confirmation.kind == "order_confirmation"
    assert "Reverse charge" in confirmation.text


def test_trust_offline_vat_check_gives_reverse_charge_without_a_verifier(
    make_center: CenterFactory,
) -> None:
    strict = make_center()
    account = open_account(strict, country="DE")
    strict.subscribe_now(account.id, CONTACT, "monitoring")
    checked = strict.set_vat_number(account.id, CONTACT, DE_VAT)
    assert checked.vat_check is not None
    assert checked.vat_check.status is VatCheckStatus.OFFLINE_VALID
    assert not strict.quote(account.id, CONTACT).reverse_charge

    trusting = make_center(settings=Settings(trust_offline_vat=True))
    assert trusting.quote(account.id, CONTACT).reverse_charge


# -- every order state -----------------------------------------------------------------


@pytest.fixture
def cart_ready(center: BillingCenter) -> Callable[..., tuple[Account, str]]:
    """An Italian account with Monitoring (2 seats, monthly: 24.40 with VAT) quoted."""

    def make(payment_method: str | None = "tok_visa", **kwargs: Any) -> tuple[Account, str]:
        account = open_account(center, payment_method=payment_method, **kwargs)
        center.subscribe_now(account.id, CONTACT, "monitoring", seats=2)
        return account, center.quote(account.id, CONTACT).id

    return make


def test_order_succeeded(
    center: BillingCenter, gateway: FakeGateway, cart_ready: Callable[..., tuple[Account, str]]
) -> None:
    account, quote_id = cart_ready()
    order = center.place_order(account.id, CONTACT, quote_id, idempotency_key="k")
    assert order.state is OrderState.SUCCEEDED
    assert order.charge_id is not None
    assert order.amount_due == Money("24.40", "EUR")
    assert gateway.net_charged("EUR") == Decimal("24.40")
    assert center.order(account.id, CONTACT, order.id) == order
    assert center.seats(account.id, CONTACT, "monitoring").seats == 2


def test_order_failed_when_declined(
    center: BillingCenter,
    gateway: FakeGateway,
    cart_ready: Callable[..., tuple[Account, str]],
    snapshot: Callable[..., Snapshot],
) -> None:
    account, quote_id = cart_ready(payment_method="tok_declined")
    before = snapshot(account.id)
    with pytest.raises(PaymentDeclined) as info:
        center.place_order(account.id, CONTACT, quote_id, idempotency_key="k")
    assert info.value.code == "card_declined"
    assert "another payment method" in str(info.value)
    assert info.value.order_id is not None
    order = center.order(account.id, CONTACT, info.value.order_id)
    assert order.state is OrderState.FAILED
    assert order.failure_code == "card_declined"
    after = snapshot(account.id)
    assert after.subscriptions == before.subscriptions == []
    assert after.cart == before.cart
    assert after.invoices == before.invoices == []
    assert account_fields(after.account) == account_fields(before.account)
    assert gateway.net_charged("EUR") == 0


def test_order_failed_on_a_transient_gateway_error(
    center: BillingCenter,
    gateway: FakeGateway,
    cart_ready: Callable[..., tuple[Account, str]],
    snapshot: Callable[..., Snapshot],
) -> None:
    account, quote_id = cart_ready(payment_method="tok_transient")
    before = snapshot(account.id)
    with pytest.raises(PaymentFailed) as info:
        center.place_order(account.id, CONTACT, quote_id, idempotency_key="k")
    assert not isinstance(info.value, PaymentDeclined)
    assert info.value.code == "transient_error"
    assert "new idempotency key" in str(info.value)
    order = center.order(account.id, CONTACT, info.value.order_id or "")
    assert order.state is OrderState.FAILED
    after = snapshot(account.id)
    assert (after.subscriptions, after.cart, after.invoices) == (
        before.subscriptions,
        before.cart,
        before.invoices,
    )
    assert account_fields(after.account) == account_fields(before.account)
    assert gateway.net_charged("EUR") == 0
    # A new key with a working card goes through.
    center.update_payment_method(account.id, CONTACT, "tok_visa")
    quote = center.quote(account.id, CONTACT)
    assert center.place_order(account.id, CONTACT, quote.id, idempotency_key="k2").state is (
        OrderState.SUCCEEDED
    )


def test_order_requires_action_then_confirm_payment_succeeds(
    center: BillingCenter,
    gateway: FakeGateway,
    notifier: InMemoryNotifier,
    cart_ready: Callable[..., tuple[Account, str]],
) -> None:
    account, quote_id = cart_ready(payment_method="tok_3ds")
    order = center.place_order(account.id, CONTACT, quote_id, idempotency_key="k")
    assert order.state is OrderState.REQUIRES_ACTION
    assert order.charge_id is not None
    assert order.next_action is not None
    assert center.subscriptions(account.id) == []
    assert center.invoices(account.id, CONTACT) == []
    assert gateway.net_charged("EUR") == 0

    # Not authenticated yet: still waiting, nothing charged twice.
    assert center.confirm_payment(account.id, CONTACT, order.id).state is (
        OrderState.REQUIRES_ACTION
    )
    # Retrying the order with the same key does not charge again.
    assert center.place_order(account.id, CONTACT, quote_id, idempotency_key="k").state is (
        OrderState.REQUIRES_ACTION
    )
    with pytest.raises(NotPermitted):
        center.confirm_payment(account.id, "mallory", order.id)

    gateway.complete_action(order.charge_id)
    done = center.confirm_payment(account.id, CONTACT, order.id)
    assert done.state is OrderState.SUCCEEDED
    assert len(_order_keys(gateway, order.id)) == 1
    assert gateway.net_charged("EUR") == Decimal("24.40")
    (sub,) = center.subscriptions(account.id)
    assert sub.status is Status.ACTIVE
    (invoice,) = center.invoices(account.id, CONTACT)
    assert invoice.status is InvoiceStatus.PAID
    assert notifier.sent[-1].kind == "order_confirmation"
    # Confirming again returns the completed order.
    assert center.confirm_payment(account.id, CONTACT, order.id) == done
    assert len(center.invoices(account.id, CONTACT)) == 1


def test_order_requires_action_then_failed_authentication_is_declined(
    center: BillingCenter,
    gateway: FakeGateway,
    cart_ready: Callable[..., tuple[Account, str]],
    snapshot: Callable[..., Snapshot],
) -> None:
    account, quote_id = cart_ready(payment_method="tok_3ds")
    order = center.place_order(account.id, CONTACT, quote_id, idempotency_key="k")
    assert order.charge_id is not None
    before = snapshot(account.id)
    gateway.complete_action(order.charge_id, succeed=False)
    with pytest.raises(PaymentDeclined) as info:
        center.confirm_payment(account.id, CONTACT, order.id)
    assert info.value.code == "authentication_failed"
    assert "another payment method" in str(info.value)
    assert center.order(account.id, CONTACT, order.id).state is OrderState.FAILED
    after = snapshot(account.id)
    assert (after.subscriptions, after.cart, after.invoices) == (
        before.subscriptions,
        before.cart,
        before.invoices,
    )
    assert account_fields(after.account) == account_fields(before.account)
    assert gateway.net_charged("EUR") == 0


def test_order_unknown_after_a_timeout_is_reconciled_exactly_once(
    center: BillingCenter,
    clock: ManualClock,
    gateway: FakeGateway,
    notifier: InMemoryNotifier,
    cart_ready: Callable[..., tuple[Account, str]],
) -> None:
    account, quote_id = cart_ready(payment_method="tok_timeout")
    order = center.place_order(account.id, CONTACT, quote_id, idempotency_key="k")
    assert order.state is OrderState.UNKNOWN
    assert center.subscriptions(account.id) == []
    assert center.invoices(account.id, CONTACT) == []
    # The charge went through at the gateway.
    lookup = gateway.lookup(f"order:{order.id}")
    assert lookup is not None
    assert lookup.status is PaymentStatus.SUCCEEDED

    # Another process takes the attempt over only after its lease.
    assert center.reconcile().waiting == 1
    clock.advance(Settings().reconcile_after)
    resolved = center.reconcile()
    assert [(o.id, o.state) for o in resolved.orders] == [(order.id, OrderState.SUCCEEDED)]
    assert [a.state for a in resolved.resolved] == [AttemptState.SUCCEEDED]
    assert center.reconcile() == ReconcileReport()
    assert center.reconcile(order.id) == ReconcileReport()
    # Retrying the order with its key returns it without charging again.
    assert center.place_order(account.id, CONTACT, quote_id, idempotency_key="k").state is (
        OrderState.SUCCEEDED
    )
    assert len(_order_keys(gateway, order.id)) == 1
    assert gateway.net_charged("EUR") == Decimal("24.40")
    (invoice,) = center.invoices(account.id, CONTACT)
    assert invoice.status is InvoiceStatus.PAID
    (sub,) = center.subscriptions(account.id)
    assert sub.status is Status.ACTIVE
    assert [m.kind for m in notifier.sent].count("order_confirmation") == 1


def test_order_unknown_reconciled_after_the_quote_expired_is_refunded(
    center: BillingCenter,
    clock: ManualClock,
    gateway: FakeGateway,
    cart_ready: Callable[..., tuple[Account, str]],
) -> None:
    account, quote_id = cart_ready(payment_method="tok_timeout")
    center.place_order(account.id, CONTACT, quote_id, idempotency_key="k")
    clock.advance(Settings().quote_ttl + timedelta(minutes=1))
    report = center.reconcile()
    (final,) = report.orders
    assert final.state is OrderState.FAILED
    assert final.refund_id is not None
    assert gateway.net_charged("EUR") == 0
    assert center.subscriptions(account.id) == []
    assert center.invoices(account.id, CONTACT) == []
    assert center.reconcile() == ReconcileReport()
    kinds = [e.kind for e in center.events(account.id)]
    assert EventKind.ORDER_REFUNDED in kinds


def test_order_left_pending_by_a_crash_before_the_charge(
    center: BillingCenter,
    clock: ManualClock,
    gateway: FakeGateway,
    monkeypatch: pytest.MonkeyPatch,
    cart_ready: Callable[..., tuple[Account, str]],
) -> None:
    account, quote_id = cart_ready()

    def crash(request: ChargeRequest) -> None:
        raise RuntimeError("the application server died")

    monkeypatch.setattr(gateway, "charge", crash)
    with pytest.raises(RuntimeError):
        center.place_order(account.id, CONTACT, quote_id, idempotency_key="k")
    monkeypatch.undo()
    # Too young: its request may still be running.
    assert center.reconcile() == ReconcileReport(waiting=1)
    clock.advance(Settings().reconcile_after + timedelta(seconds=1))
    (failed,) = center.reconcile().orders
    assert failed.state is OrderState.FAILED
    assert failed.failure_code == "not_charged"
    assert gateway.charge_requests == []
    assert center.subscriptions(account.id) == []


def test_order_left_pending_by_a_crash_after_the_charge_completes_once(
    center: BillingCenter,
    clock: ManualClock,
    gateway: FakeGateway,
    monkeypatch: pytest.MonkeyPatch,
    cart_ready: Callable[..., tuple[Account, str]],
) -> None:
    account, quote_id = cart_ready()
    charge = gateway.charge

    def charge_then_crash(request: ChargeRequest) -> None:
        charge(request)
        raise RuntimeError("the application server died after the charge")

    monkeypatch.setattr(gateway, "charge", charge_then_crash)
    with pytest.raises(RuntimeError):
        center.place_order(account.id, CONTACT, quote_id, idempotency_key="k")
    monkeypatch.undo()
    clock.advance(Settings().reconcile_after + timedelta(seconds=1))
    (done,) = center.reconcile().orders
    assert done.state is OrderState.SUCCEEDED
    assert center.reconcile() == ReconcileReport()
    assert len(gateway.charge_requests) == 1
    assert gateway.net_charged("EUR") == Decimal("24.40")
    assert len(center.invoices(account.id, CONTACT)) == 1


def test_a_zero_amount_order_paid_by_the_credit_balance_never_calls_the_gateway(
    center: BillingCenter, clock: ManualClock, gateway: FakeGateway
) -> None:
    account = open_account(center)
    center.subscribe_now(
        account.id, CONTACT, "remote-support", plan="premium", seats=2, frequency="annual"
    )
    center.place_order(
        account.id, CONTACT, center.quote(account.id, CONTACT).id, idempotency_key="year"
    )
    clock.advance(days=1)
    center.cancel(account.id, CONTACT, "remote-support", timing=CancelTiming.IMMEDIATE)
    balance = center.account(account.id).credit_balance
    assert balance > Decimal("1000")
    requests = len(gateway.requests)

    center.subscribe_now(account.id, CONTACT, "monitoring", seats=3)
    quote = center.quote(account.id, CONTACT)
    assert quote.total == Money("36.60", "EUR")
    assert quote.credit_applied == Money("36.60", "EUR")
    assert quote.amount_due == Money(0, "EUR")
    order = center.place_order(account.id, CONTACT, quote.id, idempotency_key="free")
    assert order.state is OrderState.SUCCEEDED
    assert order.charge_id is None
    assert len(gateway.requests) == requests
    invoice = center.invoices(account.id, CONTACT)[-1]
    assert (invoice.total, invoice.credit_applied, invoice.amount_due) == (
        Decimal("36.60"),
        Decimal("36.60"),
        Decimal("0"),
    )
    assert center.account(account.id).credit_balance == balance - Decimal("36.60")
    monitoring = next(s for s in center.subscriptions(account.id) if s.product == "monitoring")
    assert monitoring.status is Status.ACTIVE


def test_order_awaiting_confirmation_for_a_corporate_purchase_order(
    center: BillingCenter, clock: ManualClock, gateway: FakeGateway
) -> None:
    account = open_account(center, kind=AccountKind.CORPORATE, payment_method=None)
    center.subscribe_now(account.id, CONTACT, "remote-support", seats=20, frequency="annual")
    quote = center.staff_quote("sam", account.id)
    assert quote.prepared_by == "staff:sam"
    assert quote.expires_at - quote.created_at == Settings().corporate_quote_ttl
    order = center.staff_place_corporate_order(
        "sam", account.id, quote.id, purchase_order="PO-2026-17", idempotency_key="po"
    )
    assert order.state is OrderState.AWAITING_CONFIRMATION
    assert order.purchase_order == "PO-2026-17"
    assert center.subscriptions(account.id) == []
    assert center.invoices(account.id, CONTACT) == []
    assert gateway.requests == []
    clock.advance(days=3)
    confirmed = center.confirm_corporate_order(account.id, CONTACT, order.id)
    assert confirmed.state is OrderState.SUCCEEDED
    (invoice,) = center.invoices(account.id, CONTACT)
    assert invoice.status is InvoiceStatus.OPEN
    assert invoice.due_at == clock.now() + timedelta(days=30)
    assert invoice.reason is InvoiceReason.ORDER
    assert gateway.requests == []
    assert gateway.net_charged("EUR") == 0


def test_a_corporate_confirmation_says_what_is_due_and_when_not_what_was_charged(
    center: BillingCenter, clock: ManualClock, notifier: InMemoryNotifier
) -> None:
    account = open_account(center, kind=AccountKind.CORPORATE, payment_method=None)
    center.subscribe_now(account.id, CONTACT, "remote-support", seats=20, frequency="annual")
    quote = center.staff_quote("sam", account.id)
    order = center.staff_place_corporate_order(
        "sam", account.id, quote.id, purchase_order="PO-7", due_days=60, idempotency_key="po"
    )
    center.confirm_corporate_order(account.id, CONTACT, order.id)
    (message,) = [m for m in notifier.sent if m.kind == "order_confirmation"]
    (invoice,) = center.invoices(account.id, CONTACT)
    assert invoice.due_at is not None
    local = invoice.due_at.astimezone(ZoneInfo(account.timezone)).date()
    due = format_date(local, format="medium", locale=account.locale)
    assert "Importo addebitato" not in message.text  # the customer is Italian
    assert f"Importo da pagare entro il {due}: " in message.text


# -- a charge taken must end in a completed order or a refund ---------------------------


def _charged_change_waiting_for_3ds(center: BillingCenter, account: Account) -> tuple[str, str]:
    """Remote Support Standard paid; an upgrade to Premium waiting for 3-D Secure."""
    center.subscribe_now(account.id, CONTACT, "remote-support")
    center.place_order(
        account.id, CONTACT, center.quote(account.id, CONTACT).id, idempotency_key="first"
    )
    center.subscribe_now(account.id, CONTACT, "remote-support", plan="premium")
    quote = center.quote(account.id, CONTACT)
    order = center.place_order(
        account.id, CONTACT, quote.id, idempotency_key="upgrade", payment_method="tok_3ds"
    )
    assert order.state is OrderState.REQUIRES_ACTION
    assert order.charge_id is not None
    return order.id, order.charge_id


def _charge_settled(center: BillingCenter, gateway: FakeGateway, account: Account) -> None:
    """What the gateway kept is exactly what the paid invoices were due."""
    assert gateway.net_charged("EUR") == sum(
        (
            i.amount_due
            for i in center.invoices(account.id, CONTACT)
            if i.status is InvoiceStatus.PAID
        ),
        Decimal(0),
    )


def test_3ds_completed_after_the_subscription_was_set_to_cancel_is_refunded(
    center: BillingCenter, gateway: FakeGateway
) -> None:
    """The quote pinned the subscription's version; a cancellation changed it. Once the
    customer authenticates, the charge went through: the order must be refused as a
    changed quote and the charge refunded, not left charged in requires_action."""
    account = open_account(center)
    order_id, charge_id = _charged_change_waiting_for_3ds(center, account)
    center.cancel(account.id, CONTACT, "remote-support")
    gateway.complete_action(charge_id)
    with pytest.raises(PaymentFailed) as info:
        center.confirm_payment(account.id, CONTACT, order_id)
    assert info.value.code == "quote_changed"
    assert "new quote" in str(info.value)
    order = center.order(account.id, CONTACT, order_id)
    assert order.state is OrderState.FAILED
    assert order.refund_id is not None
    _charge_settled(center, gateway, account)


def test_3ds_completed_after_a_trial_was_started_is_refunded(
    center: BillingCenter, clock: ManualClock, gateway: FakeGateway
) -> None:
    """A new subscription waiting for 3-D Secure; meanwhile a trial of the same product
    is started (allowed: nothing is subscribed yet). Completing the payment must refund
    it as a changed quote, not fail with an internal error and keep the money."""
    account = open_account(center, payment_method="tok_3ds")
    center.subscribe_now(account.id, CONTACT, "remote-support")
    quote = center.quote(account.id, CONTACT)
    order = center.place_order(account.id, CONTACT, quote.id, idempotency_key="k")
    assert order.charge_id is not None
    clock.advance(minutes=1)
    center.start_trial(account.id, CONTACT, "remote-support")
    gateway.complete_action(order.charge_id)
    with pytest.raises(PaymentFailed) as info:
        center.confirm_payment(account.id, CONTACT, order.id)
    assert info.value.code == "quote_changed"
    assert center.order(account.id, CONTACT, order.id).state is OrderState.FAILED
    _charge_settled(center, gateway, account)


def test_reconcile_refunds_an_unknown_order_whose_subscription_was_set_to_cancel(
    center: BillingCenter, clock: ManualClock, gateway: FakeGateway
) -> None:
    """Reconcile resolves every unresolved order: one that can no longer be completed
    is refunded, and it does not stop the others from being reconciled."""
    account = open_account(center)
    center.subscribe_now(account.id, CONTACT, "remote-support")
    center.place_order(
        account.id, CONTACT, center.quote(account.id, CONTACT).id, idempotency_key="first"
    )
    center.subscribe_now(account.id, CONTACT, "remote-support", plan="premium")
    stale = center.place_order(
        account.id,
        CONTACT,
        center.quote(account.id, CONTACT).id,
        idempotency_key="upgrade",
        payment_method="tok_timeout",
    )
    center.cancel(account.id, CONTACT, "remote-support")
    other = open_account(center, payment_method="tok_timeout")
    center.subscribe_now(other.id, CONTACT, "monitoring")
    fine = center.place_order(
        other.id, CONTACT, center.quote(other.id, CONTACT).id, idempotency_key="k"
    )
    assert (stale.state, fine.state) == (OrderState.UNKNOWN, OrderState.UNKNOWN)

    clock.advance(Settings().reconcile_after)
    resolved = {o.id: o for o in center.reconcile().orders}
    assert resolved[stale.id].state is OrderState.FAILED
    assert resolved[stale.id].refund_id is not None
    assert resolved[fine.id].state is OrderState.SUCCEEDED
    assert gateway.net_charged("EUR") == sum(
        (
            i.amount_due
            for a in (account, other)
            for i in center.invoices(a.id, CONTACT)
            if i.status is InvoiceStatus.PAID
        ),
        Decimal(0),
    )
