"""What a real gateway adds to the payment path: a card saved while the customer pays
on session becomes the account's for its renewals, and a gateway that refuses its own
set-up (a wrong API key) charges nothing, puts nobody into dunning and stops the bill
run with an error that names the setting to fix."""

from __future__ import annotations

from datetime import datetime

import pytest
from conftest import CONTACT, ROME, open_account

from subscriptions.adapters.fakes import FakeGateway, InMemoryNotifier, ManualClock
from subscriptions.adapters.memory import InMemoryStore
from subscriptions.catalog import Catalog
from subscriptions.center import BillingCenter, Settings
from subscriptions.errors import GatewayMisconfigured, PaymentDeclined
from subscriptions.orders import COLLECTIBLE, InvoiceStatus, OrderState, Seller
from subscriptions.payments import ChargeRequest, PaymentResult, PaymentStatus
from subscriptions.subscription import EventKind, Status

DEC_1 = datetime(2026, 12, 1, 9, 0, tzinfo=ROME)
SAVED = "cus_42/pm_saved"


class Switchable:
    """A gateway's decisions: pays and saves on-session cards as ``cus_42/...``;
    refuses its set-up while ``broken``; declines ``tok_declined``."""

    def __init__(self) -> None:
        self.broken = False
        self.seen: list[ChargeRequest] = []

    def __call__(self, request: ChargeRequest) -> PaymentResult:
        self.seen.append(request)
        if self.broken:
            raise GatewayMisconfigured(
                "the payment gateway rejected the API key", setting="STRIPE_API_KEY"
            )
        if request.payment_method == "tok_declined":
            return PaymentResult(status=PaymentStatus.DECLINED, decline_code="card_declined")
        return PaymentResult(
            status=PaymentStatus.SUCCEEDED,
            charge_id=f"ch_{len(self.seen)}",
            amount=request.amount,
            payment_method=None if request.off_session else SAVED,
        )


@pytest.fixture
def decide() -> Switchable:
    return Switchable()


@pytest.fixture
def live(
    catalog: Catalog,
    seller: Seller,
    clock: ManualClock,
    notifier: InMemoryNotifier,
    decide: Switchable,
) -> BillingCenter:
    return BillingCenter(
        catalog=catalog,
        seller=seller,
        store=InMemoryStore(),
        gateway=FakeGateway(decide),
        clock=clock,
        notifier=notifier,
        sleep=lambda _: None,
    )


def _order(center: BillingCenter, account_id: str, key: str = "k1") -> OrderState:
    center.subscribe_now(account_id, CONTACT, "monitoring")
    quote = center.quote(account_id, CONTACT)
    return center.place_order(account_id, CONTACT, quote.id, idempotency_key=key).state


def test_the_card_saved_at_checkout_pays_the_renewals(
    live: BillingCenter, clock: ManualClock, decide: Switchable
) -> None:
    account = open_account(live, payment_method="pm_card_from_the_form")
    assert _order(live, account.id) is OrderState.SUCCEEDED
    assert decide.seen[0].account_id == account.id  # the gateway knows whose card it is
    assert live.account(account.id).payment_method == SAVED
    clock.set(DEC_1)
    report = live.run_renewals()
    assert (report.renewed, report.charged) == (1, 1)
    renewal = decide.seen[-1]
    assert (renewal.payment_method, renewal.off_session) == (SAVED, True)


def test_a_card_saved_while_paying_an_invoice_becomes_the_accounts(
    live: BillingCenter, clock: ManualClock, decide: Switchable
) -> None:
    account = open_account(live, payment_method="tok_visa")
    assert _order(live, account.id) is OrderState.SUCCEEDED
    live.update_payment_method(account.id, CONTACT, "tok_declined")
    clock.set(DEC_1)
    live.run_renewals()
    (unpaid,) = [i for i in live.invoices(account.id, CONTACT) if i.status in COLLECTIBLE]
    live.update_payment_method(account.id, CONTACT, "pm_new_card")
    paid = live.pay_invoice(account.id, CONTACT, unpaid.id, idempotency_key="pay-1")
    assert paid.status is InvoiceStatus.PAID
    assert live.account(account.id).payment_method == SAVED
    assert live.subscriptions(account.id)[0].status is Status.ACTIVE


def test_a_misconfigured_gateway_fails_the_order_with_nothing_charged(
    live: BillingCenter, decide: Switchable
) -> None:
    account = open_account(live)
    decide.broken = True
    with pytest.raises(GatewayMisconfigured, match="fix STRIPE_API_KEY") as caught:
        _order(live, account.id)
    assert caught.value.setting == "STRIPE_API_KEY"
    (order_placed,) = [e for e in live.events(account.id) if e.kind is EventKind.ORDER_PLACED]
    order = live.order(account.id, CONTACT, order_placed.order_id or "")
    assert (order.state, order.failure_code) == (OrderState.FAILED, "gateway_misconfigured")
    assert live.payment_review().in_flight == 0
    # Fixed: the customer orders again with a new key, and pays once.
    decide.broken = False
    quote = live.quote(account.id, CONTACT)
    assert live.place_order(account.id, CONTACT, quote.id, idempotency_key="k2").state is (
        OrderState.SUCCEEDED
    )


def test_a_misconfigured_gateway_stops_the_bill_run_without_dunning(
    live: BillingCenter,
    clock: ManualClock,
    notifier: InMemoryNotifier,
    decide: Switchable,
) -> None:
    accounts = [open_account(live, account_id=f"acct-{n}") for n in range(3)]
    for account in accounts:
        assert _order(live, account.id) is OrderState.SUCCEEDED
    sent_before = len(notifier.sent)
    decide.broken = True
    clock.set(DEC_1)
    with pytest.raises(GatewayMisconfigured):
        live.run_renewals()
    for account in accounts:
        # Due again, with no failed attempt: not past due.
        (sub,) = live.subscriptions(account.id)
        assert sub.status is Status.ACTIVE
        assert sub.dunning is not None
        assert sub.dunning.attempts == 0
    assert len(notifier.sent) == sent_before  # no "payment failed" message
    assert live.payment_review().in_flight == 0
    # Fixed: the next run charges every renewal once.
    decide.broken = False
    live.run_renewals()
    for account in accounts:
        invoices = live.invoices(account.id, CONTACT)
        assert all(i.status is InvoiceStatus.PAID for i in invoices), invoices
    renewals = [r for r in decide.seen if r.off_session and not decide.broken]
    assert len({r.idempotency_key for r in renewals}) == len(renewals)


def test_a_decline_is_still_the_customers_problem(live: BillingCenter) -> None:
    account = open_account(live, payment_method="tok_declined")
    with pytest.raises(PaymentDeclined):
        _order(live, account.id)
    assert live.payment_review().in_flight == 0
    assert live.account(account.id).payment_method == "tok_declined"  # nothing saved


def test_a_misconfigured_gateway_stops_reconcile(
    live: BillingCenter, clock: ManualClock, decide: Switchable, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = open_account(live, payment_method="tok_visa")
    gateway = live.gateway
    assert isinstance(gateway, FakeGateway)
    gateway.lose_responses = True
    assert _order(live, account.id) is OrderState.UNKNOWN
    gateway.lose_responses = False
    clock.advance(Settings().reconcile_after)

    def refused(key: str, **given: object) -> None:
        raise GatewayMisconfigured("the payment gateway rejected the API key", setting="KEY")

    monkeypatch.setattr(gateway, "lookup", refused)
    with pytest.raises(GatewayMisconfigured):
        live.reconcile()
    monkeypatch.undo()
    clock.advance(Settings().reconcile_after)  # the lease the stopped run took
    (order,) = live.reconcile().orders
    assert order.state is OrderState.SUCCEEDED


def test_a_renewal_the_bank_wants_confirmed_asks_the_customer_to_pay_on_session(
    center: BillingCenter, clock: ManualClock, notifier: InMemoryNotifier
) -> None:
    account = open_account(center, payment_method="tok_visa")
    assert _order(center, account.id) is OrderState.SUCCEEDED
    center.update_payment_method(account.id, CONTACT, "tok_3ds")
    clock.set(DEC_1)
    assert center.run_renewals().failed == 1
    (failed,) = [m for m in notifier.sent if m.kind == "payment_failed"]
    text = " ".join(failed.text.split())  # the Italian customer's words, unwrapped
    assert "chiede di confermare questo pagamento" in text
    assert "pagare la fattura nel centro di fatturazione" in text
    assert "aggiornare il metodo di pagamento" not in text
    (unpaid,) = [i for i in center.invoices(account.id, CONTACT) if i.status in COLLECTIBLE]
    attempt = center.resolve_payment(f"invoice:{unpaid.id}:1")
    assert attempt.decline_code == "authentication_required"


def test_an_old_attempt_is_asked_about_not_sent_again(
    center: BillingCenter, clock: ManualClock, gateway: FakeGateway
) -> None:
    """A gateway may forget a key after a day (Stripe does): a payment retried with its
    key long after is looked up, never sent again as a new charge."""
    account = open_account(center, payment_method="tok_visa")
    assert _order(center, account.id) is OrderState.SUCCEEDED
    center.update_payment_method(account.id, CONTACT, "tok_declined")
    clock.set(DEC_1)
    center.run_renewals()
    (unpaid,) = [i for i in center.invoices(account.id, CONTACT) if i.status in COLLECTIBLE]
    center.update_payment_method(account.id, CONTACT, "tok_visa")
    gateway.lose_responses = True
    charging = center.pay_invoice(account.id, CONTACT, unpaid.id, idempotency_key="pay-1")
    gateway.lose_responses = False
    assert charging.status is InvoiceStatus.CHARGING
    sent = len(gateway.charge_requests)
    clock.advance(hours=13)
    paid = center.pay_invoice(account.id, CONTACT, unpaid.id, idempotency_key="pay-1")
    assert paid.status is InvoiceStatus.PAID
    assert len(gateway.charge_requests) == sent  # asked, not sent
