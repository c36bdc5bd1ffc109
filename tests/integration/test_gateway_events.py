"""Gateway events (webhooks) applied to the book: each resolves the attempt it is about
from the gateway's current state, the same event twice is a no-op, events out of order
move nothing backwards, an unknown key is recorded and ignored, a dispute and a refund
that fails later are recorded for the host. Over the fake gateway here; the Stripe
journey runs the same through localstripe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from conftest import CONTACT, open_account
from moneyed import Money

from subscriptions.adapters.fakes import FakeGateway, ManualClock
from subscriptions.center import BillingCenter, EventOutcome, Settings
from subscriptions.errors import GatewayUnavailable, InvalidInput
from subscriptions.orders import InvoiceStatus, OrderState
from subscriptions.payments import (
    AttemptState,
    GatewayEvent,
    GatewayEventKind,
    PaymentResult,
    PaymentStatus,
    RefundRequest,
)
from subscriptions.subscription import EventKind, Status

LEASE = Settings().reconcile_after
_AT = datetime(2026, 11, 1, 8, tzinfo=UTC)


def event(
    kind: GatewayEventKind, key: str | None, *, id: str = "evt_1", **fields: object
) -> GatewayEvent:
    return GatewayEvent(
        id=id,
        kind=kind,
        created_at=_AT,
        object_id=fields.pop("object_id", "pi_1"),  # type: ignore[arg-type]
        idempotency_key=key,
        **fields,  # type: ignore[arg-type]
    )


def lost_order(center: BillingCenter, gateway: FakeGateway) -> tuple[str, str]:
    """An order charged whose answer was lost: (account id, order id), order unknown."""
    account = open_account(center)
    center.subscribe_now(account.id, CONTACT, "monitoring")
    quote = center.quote(account.id, CONTACT)
    gateway.lose_responses = True
    order = center.place_order(account.id, CONTACT, quote.id, idempotency_key="k")
    gateway.lose_responses = False
    assert order.state is OrderState.UNKNOWN
    return account.id, order.id


def test_a_webhook_resolves_a_charge_whose_answer_was_lost(
    center: BillingCenter, gateway: FakeGateway
) -> None:
    account_id, order_id = lost_order(center, gateway)
    key = f"order:{order_id}"
    applied = center.apply_gateway_event(event(GatewayEventKind.CHARGE_SUCCEEDED, key))
    assert applied.outcome is EventOutcome.APPLIED
    assert applied.attempt is not None
    assert applied.attempt.state is AttemptState.SUCCEEDED
    assert applied.order is not None
    assert applied.order.state is OrderState.SUCCEEDED
    assert center.order(account_id, CONTACT, order_id).state is OrderState.SUCCEEDED
    (invoice,) = center.invoices(account_id, CONTACT)
    assert invoice.status is InvoiceStatus.PAID
    assert center.payment_review().in_flight == 0
    assert len(gateway.succeeded_charges()) == 1


def test_the_same_event_twice_and_events_out_of_order_change_nothing(
    center: BillingCenter, gateway: FakeGateway
) -> None:
    account_id, order_id = lost_order(center, gateway)
    key = f"order:{order_id}"
    center.apply_gateway_event(event(GatewayEventKind.CHARGE_SUCCEEDED, key))
    before = (center.events(account_id), center.invoices(account_id, CONTACT))
    again = center.apply_gateway_event(event(GatewayEventKind.CHARGE_SUCCEEDED, key))
    assert again.outcome is EventOutcome.DUPLICATE
    # An older event delivered late: the gateway's state is read, not the event's.
    late = center.apply_gateway_event(event(GatewayEventKind.CHARGE_FAILED, key, id="evt_0"))
    assert late.outcome is EventOutcome.APPLIED
    assert late.attempt is not None
    assert late.attempt.state is AttemptState.SUCCEEDED
    assert (center.events(account_id), center.invoices(account_id, CONTACT)) == before
    assert center.order(account_id, CONTACT, order_id).state is OrderState.SUCCEEDED
    assert not [r for r in gateway.requests if isinstance(r, RefundRequest)]


def test_a_webhook_completes_a_3d_secure_order(center: BillingCenter, gateway: FakeGateway) -> None:
    account = open_account(center, payment_method="tok_3ds")
    center.subscribe_now(account.id, CONTACT, "monitoring")
    quote = center.quote(account.id, CONTACT)
    order = center.place_order(account.id, CONTACT, quote.id, idempotency_key="k")
    assert order.state is OrderState.REQUIRES_ACTION
    key = f"order:{order.id}"
    waiting = center.apply_gateway_event(event(GatewayEventKind.REQUIRES_ACTION, key, id="e1"))
    assert waiting.attempt is not None
    assert waiting.attempt.state is AttemptState.REQUIRES_ACTION
    assert order.charge_id is not None
    gateway.complete_action(order.charge_id)
    done = center.apply_gateway_event(event(GatewayEventKind.CHARGE_SUCCEEDED, key, id="e2"))
    assert done.order is not None
    assert done.order.state is OrderState.SUCCEEDED


def test_a_webhook_resolves_a_renewal_left_unknown(
    center: BillingCenter, clock: ManualClock, gateway: FakeGateway
) -> None:
    account = open_account(center)
    center.subscribe_now(account.id, CONTACT, "monitoring")
    quote = center.quote(account.id, CONTACT)
    center.place_order(account.id, CONTACT, quote.id, idempotency_key="k")
    clock.set(datetime(2026, 12, 1, 9, tzinfo=UTC))
    gateway.lose_responses = True
    report = center.run_renewals()
    gateway.lose_responses = False
    assert report.unknown == 1
    (renewal,) = [i for i in center.invoices(account.id, CONTACT) if i.order_id is None]
    assert renewal.status is InvoiceStatus.CHARGING
    key = f"invoice:{renewal.id}:1"
    applied = center.apply_gateway_event(event(GatewayEventKind.CHARGE_SUCCEEDED, key))
    assert applied.invoice is not None
    assert applied.invoice.status is InvoiceStatus.PAID
    assert center.subscriptions(account.id)[0].status is Status.ACTIVE
    assert center.run_renewals().charged == 0  # nothing charged again


def test_an_unknown_key_is_recorded_and_ignored(center: BillingCenter) -> None:
    outside = event(GatewayEventKind.CHARGE_SUCCEEDED, "made-in-the-dashboard")
    assert center.apply_gateway_event(outside).outcome is EventOutcome.UNKNOWN_KEY
    assert center.apply_gateway_event(outside).outcome is EventOutcome.DUPLICATE
    keyless = event(GatewayEventKind.REFUNDED, None, id="evt_2")
    assert center.apply_gateway_event(keyless).outcome is EventOutcome.UNKNOWN_KEY


def test_a_dispute_is_recorded_for_the_host(center: BillingCenter, gateway: FakeGateway) -> None:
    account_id, order_id = lost_order(center, gateway)
    key = f"order:{order_id}"
    center.apply_gateway_event(event(GatewayEventKind.CHARGE_SUCCEEDED, key))
    dispute = event(
        GatewayEventKind.DISPUTED,
        key,
        id="evt_d",
        object_id="dp_1",
        amount=Money("12.20", "EUR"),
        reason="fraudulent",
    )
    assert center.apply_gateway_event(dispute).outcome is EventOutcome.DISPUTED
    assert center.apply_gateway_event(dispute).outcome is EventOutcome.DUPLICATE
    (disputed,) = [e for e in center.events(account_id) if e.kind is EventKind.PAYMENT_DISPUTED]
    assert (disputed.payment_key, disputed.failure_code) == (key, "fraudulent")
    assert disputed.amount == Money("12.20", "EUR")


def test_a_refund_that_fails_after_it_was_made_is_listed(
    center: BillingCenter,
    clock: ManualClock,
    gateway: FakeGateway,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = open_account(center, payment_method="tok_timeout")
    center.subscribe_now(account.id, CONTACT, "monitoring")
    quote = center.quote(account.id, CONTACT)
    center.place_order(account.id, CONTACT, quote.id, idempotency_key="k")
    clock.advance(Settings().quote_ttl + timedelta(minutes=1))  # too late to complete
    (order,) = center.reconcile().orders
    assert order.state is OrderState.FAILED
    refund_key = f"refund:order:{order.id}"
    assert center.resolve_payment(refund_key).state is AttemptState.SUCCEEDED
    lookup = gateway.lookup

    def failed_later(key: str, **given: object) -> PaymentResult | None:
        if key == refund_key:
            return PaymentResult(
                status=PaymentStatus.DECLINED,
                decline_code="expired_or_canceled_card",
                message="the card the refund went to is closed",
            )
        return lookup(key, **given)  # type: ignore[arg-type]

    monkeypatch.setattr(gateway, "lookup", failed_later)
    applied = center.apply_gateway_event(event(GatewayEventKind.REFUND_FAILED, refund_key))
    assert applied.attempt is not None
    assert applied.attempt.state is AttemptState.FAILED
    review = center.payment_review()
    assert [a.id for a in review.failed_refunds] == [refund_key]
    assert review.failed_refunds[0].amount == Decimal("12.20")
    kinds = [e.kind for e in center.events(account.id)]
    assert kinds.count(EventKind.REFUND_FAILED) == 1


def test_a_gateway_that_cannot_be_asked_records_nothing(
    center: BillingCenter, gateway: FakeGateway
) -> None:
    account_id, order_id = lost_order(center, gateway)
    key = f"order:{order_id}"
    gateway.unavailable = True
    with pytest.raises(GatewayUnavailable, match="delivered again"):
        center.apply_gateway_event(event(GatewayEventKind.CHARGE_SUCCEEDED, key))
    gateway.unavailable = False
    assert center.order(account_id, CONTACT, order_id).state is OrderState.UNKNOWN
    # Delivered again: applied now.
    applied = center.apply_gateway_event(event(GatewayEventKind.CHARGE_SUCCEEDED, key))
    assert applied.outcome is EventOutcome.APPLIED


def test_an_event_for_an_attempt_still_being_sent_waits_for_its_maker(
    center: BillingCenter, clock: ManualClock, gateway: FakeGateway
) -> None:
    account_id, order_id = lost_order(center, gateway)
    key = f"order:{order_id}"
    forgetful = FakeGateway()  # a gateway that knows nothing of the key yet
    bare = BillingCenter(
        catalog=center.catalog,
        seller=center.seller,
        store=center.store,
        gateway=forgetful,
        clock=clock,
    )
    waiting = bare.apply_gateway_event(event(GatewayEventKind.CHARGE_FAILED, key))
    assert waiting.outcome is EventOutcome.DEFERRED
    assert center.order(account_id, CONTACT, order_id).state is OrderState.UNKNOWN
    clock.advance(LEASE)  # the maker is gone: the gateway's "never seen" is the answer
    gone = bare.apply_gateway_event(event(GatewayEventKind.CHARGE_FAILED, key))
    assert gone.attempt is not None
    assert gone.attempt.state is AttemptState.NOT_CHARGED


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ({"id": ""}, "gateway event id is empty"),
        ({"id": "evt 1"}, "whitespace"),
        ({"idempotency_key": "x" * 300}, "at most 254"),
    ],
)
def test_a_malformed_event_is_refused(
    center: BillingCenter, given: dict[str, str], problem: str
) -> None:
    fields = {"id": "evt_1", "idempotency_key": "order:o1", **given}
    bad = GatewayEvent(
        id=fields["id"],
        kind=GatewayEventKind.CHARGE_SUCCEEDED,
        created_at=_AT,
        object_id="pi_1",
        idempotency_key=fields["idempotency_key"],
    )
    with pytest.raises(InvalidInput, match=problem):
        center.apply_gateway_event(bad)
    with pytest.raises(InvalidInput, match="parse_event"):
        center.apply_gateway_event({"id": "evt_1"})  # type: ignore[arg-type]


def test_a_refund_made_at_the_gateway_is_recorded_once(
    center: BillingCenter, gateway: FakeGateway
) -> None:
    """A refund made in the gateway's dashboard: the book learns of it from the
    webhook, and records each amount once however often it is told."""
    account_id, order_id = lost_order(center, gateway)
    key = f"order:{order_id}"
    center.apply_gateway_event(event(GatewayEventKind.CHARGE_SUCCEEDED, key))
    order = center.order(account_id, CONTACT, order_id)
    assert order.charge_id is not None
    gateway.refund(
        RefundRequest(
            idempotency_key="dashboard-1",
            charge_id=order.charge_id,
            amount=Money("2.20", "EUR"),
            reason="goodwill",
        )
    )
    center.apply_gateway_event(event(GatewayEventKind.REFUNDED, key, id="evt_r1"))
    center.apply_gateway_event(event(GatewayEventKind.REFUNDED, key, id="evt_r2"))
    gateway.refund(
        RefundRequest(
            idempotency_key="dashboard-2",
            charge_id=order.charge_id,
            amount=Money("10.00", "EUR"),
            reason="goodwill",
        )
    )
    center.apply_gateway_event(event(GatewayEventKind.REFUNDED, key, id="evt_r3"))
    outside = [
        e.amount
        for e in center.events(account_id)
        if e.kind is EventKind.PAYMENT_REFUNDED and e.payment_key == key
    ]
    assert outside == [Money("2.20", "EUR"), Money("10.00", "EUR")]
    assert center.order(account_id, CONTACT, order_id).state is OrderState.SUCCEEDED


def test_a_dispute_that_names_only_the_charge_is_matched_by_the_gateway(
    center: BillingCenter, gateway: FakeGateway
) -> None:
    account_id, order_id = lost_order(center, gateway)
    key = f"order:{order_id}"
    center.apply_gateway_event(event(GatewayEventKind.CHARGE_SUCCEEDED, key))
    charge_id = center.order(account_id, CONTACT, order_id).charge_id
    dispute = event(
        GatewayEventKind.DISPUTED, None, id="evt_dp", object_id="dp_9", charge_id=charge_id
    )
    assert center.apply_gateway_event(dispute).outcome is EventOutcome.DISPUTED
    (disputed,) = [e for e in center.events(account_id) if e.kind is EventKind.PAYMENT_DISPUTED]
    assert disputed.payment_key == key
    assert disputed.amount == Money("12.20", "EUR")  # the charge's, when the event has none
    stranger = event(GatewayEventKind.DISPUTED, None, id="evt_x", charge_id="ch_unknown")
    assert center.apply_gateway_event(stranger).outcome is EventOutcome.UNKNOWN_KEY
