"""Payment attempts as pure records and transitions (subscriptions.payments)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import attrs
import pytest
from moneyed import Money

from subscriptions import payments
from subscriptions.errors import InvalidInput, InvalidTransition
from subscriptions.orders import OrderFailure
from subscriptions.payments import (
    AttemptKind,
    AttemptState,
    PaymentAttempt,
    PaymentResult,
    PaymentStatus,
)
from tests.contract import records as r

AT = datetime(2026, 12, 1, 9, tzinfo=UTC)
LEASE = timedelta(minutes=5)


def order_attempt(**changes: object) -> PaymentAttempt:
    attempt = payments.order_attempt(
        account_id="acct",
        order_id="ord_1",
        amount=Decimal("24.40"),
        currency="EUR",
        payment_method="tok_visa",
        at=AT,
        lease=LEASE,
    )
    return attrs.evolve(attempt, **changes) if changes else attempt  # type: ignore[arg-type]


def invoice_attempt(*, number: int = 1, off_session: bool = True) -> PaymentAttempt:
    account = r.italian_account()
    _, invoice = r.subscribed(account)
    issued = r.issued_invoice(account, invoice, invoice_id="inv_9")
    return payments.invoice_attempt(
        issued,
        number=number,
        payment_method="tok_visa",
        off_session=off_session,
        at=AT,
        lease=LEASE,
        subscription_id="sub_1",
    )


def result(status: PaymentStatus, **fields: object) -> PaymentResult:
    return PaymentResult(status=status, **fields)  # type: ignore[arg-type]


def test_keys_say_what_is_paid_and_the_attempt_number() -> None:
    assert payments.order_key("o") == "order:o"
    assert payments.invoice_key("i", 3) == "invoice:i:3"
    assert payments.refund_key("order:o") == "refund:order:o"
    attempt = invoice_attempt(number=2)
    assert (attempt.idempotency_key, attempt.id, attempt.target) == (
        "invoice:inv_9:2",
        "invoice:inv_9:2",
        "invoice:inv_9",
    )
    assert attempt.description == "Invoice INV-000001"
    assert attempt.lease_until == AT + LEASE
    assert not attempt.lease_expired(AT + LEASE - timedelta(microseconds=1))
    assert attempt.lease_expired(AT + LEASE)
    assert order_attempt().money == Money(Decimal("24.40"), "EUR")


@pytest.mark.parametrize("amount", [Decimal(0), Decimal(-1), Decimal("NaN")])
def test_an_attempt_pays_a_positive_amount(amount: Decimal) -> None:
    with pytest.raises(InvalidInput, match="positive"):
        order_attempt(amount=amount)


def test_an_attempt_pays_exactly_one_thing() -> None:
    with pytest.raises(InvalidInput, match="exactly one"):
        order_attempt(invoice_id="inv_1")
    with pytest.raises(InvalidInput, match="refund"):
        order_attempt(kind=AttemptKind.REFUND)
    with pytest.raises(InvalidInput, match="start at 1"):
        invoice_attempt(number=0)


def test_a_success_records_the_reference_and_what_was_captured() -> None:
    done = payments.with_result(
        order_attempt(),
        result(PaymentStatus.SUCCEEDED, charge_id="ch_1", amount=Money("24.40", "EUR")),
        at=AT + timedelta(seconds=1),
    )
    assert (done.state, done.charge_id, done.captured) == (
        AttemptState.SUCCEEDED,
        "ch_1",
        Decimal("24.40"),
    )
    assert (done.version, done.updated_at) == (1, AT + timedelta(seconds=1))
    assert not done.in_flight
    with pytest.raises(InvalidTransition, match="already succeeded"):
        payments.with_result(done, result(PaymentStatus.DECLINED), at=AT)


def test_declines_transient_errors_and_3ds() -> None:
    declined = payments.with_result(
        order_attempt(), result(PaymentStatus.DECLINED, decline_code="card_declined"), at=AT
    )
    assert (declined.state, declined.decline_code) == (AttemptState.DECLINED, "card_declined")
    transient = payments.with_result(order_attempt(), result(PaymentStatus.TRANSIENT_ERROR), at=AT)
    assert (transient.state, transient.decline_code) == (
        AttemptState.NOT_CHARGED,
        "transient_error",
    )
    assert payments.order_failure(declined) is OrderFailure.DECLINED
    assert payments.order_failure(transient) is OrderFailure.NOT_CHARGED
    action = result(PaymentStatus.REQUIRES_ACTION, charge_id="ch_2", next_action="https://3ds")
    waiting = payments.with_result(order_attempt(), action, at=AT)
    assert (waiting.state, waiting.next_action, waiting.in_flight) == (
        AttemptState.REQUIRES_ACTION,
        "https://3ds",
        True,
    )
    # Off session nobody can authenticate: it is a decline the customer must answer.
    off = payments.with_result(invoice_attempt(off_session=True), action, at=AT)
    assert (off.state, off.decline_code) == (AttemptState.DECLINED, "authentication_required")


def test_unknown_review_claims_and_not_charged() -> None:
    unknown = payments.unknown(order_attempt(), at=AT)
    assert unknown.state is AttemptState.UNKNOWN
    assert payments.unknown(unknown, at=AT) is unknown
    review = payments.needing_review(unknown, at=AT)
    assert (review.state, review.in_flight) == (AttemptState.NEEDS_REVIEW, True)
    claimed = payments.claimed(review, at=AT + timedelta(hours=1), lease=LEASE)
    assert claimed.lease_until == AT + timedelta(hours=1) + LEASE
    missing = payments.not_charged(claimed, at=AT, reason="never received")
    assert (missing.state, missing.decline_code, missing.message) == (
        AttemptState.NOT_CHARGED,
        "not_charged",
        "never received",
    )
    abandoned = payments.not_charged(order_attempt(), at=AT, reason="no 3DS", code="abandoned")
    assert abandoned.decline_code == "abandoned"
    # What an order that failed with each is told.
    assert payments.order_failure(missing) is OrderFailure.NOT_CHARGED
    assert payments.order_failure(abandoned) is OrderFailure.ABANDONED


def test_a_late_charge_is_recorded_only_after_not_charged() -> None:
    missing = payments.not_charged(order_attempt(), at=AT, reason="never received")
    charged = result(PaymentStatus.SUCCEEDED, charge_id="ch_9", amount=Money("24.40", "EUR"))
    late = payments.charged_late(missing, charged, at=AT + timedelta(minutes=9))
    assert (late.state, late.charge_id) == (AttemptState.SUCCEEDED, "ch_9")
    with pytest.raises(InvalidTransition):
        payments.charged_late(late, charged, at=AT)
    with pytest.raises(InvalidTransition):
        payments.charged_late(missing, result(PaymentStatus.DECLINED), at=AT)


def test_a_refund_is_for_what_is_left_of_a_charge_that_succeeded() -> None:
    charge = payments.with_result(
        order_attempt(),
        result(PaymentStatus.SUCCEEDED, charge_id="ch_1", amount=Money("24.40", "EUR")),
        at=AT,
    )
    partly = result(
        PaymentStatus.SUCCEEDED,
        charge_id="ch_1",
        amount=Money("24.40", "EUR"),
        amount_refunded=Money("4.40", "EUR"),
    )
    assert payments.refundable(partly, Decimal("1")) == Decimal("20.00")
    assert payments.refundable(result(PaymentStatus.SUCCEEDED), Decimal("7")) == Decimal("7")
    refund = payments.refund_attempt(
        charge, amount=Decimal("20.00"), at=AT, lease=LEASE, reason="r"
    )
    assert (refund.kind, refund.idempotency_key, refund.target) == (
        AttemptKind.REFUND,
        "refund:order:ord_1",
        "refund:order:ord_1",
    )
    request = payments.refund_request(refund)
    assert (request.charge_id, request.amount, request.reason) == (
        "ch_1",
        Money("20.00", "EUR"),
        "r",
    )
    refunded = payments.with_result(refund, result(PaymentStatus.REFUNDED), at=AT)
    assert (refunded.state, refunded.captured) == (AttemptState.SUCCEEDED, Decimal("20.00"))
    refused = payments.with_result(refund, result(PaymentStatus.DECLINED, message="no"), at=AT)
    assert (refused.state, refused.message) == (AttemptState.FAILED, "no")
    with pytest.raises(InvalidTransition, match="only money taken"):
        payments.refund_attempt(order_attempt(), amount=Decimal(1), at=AT, lease=LEASE, reason="")


def test_the_same_attempt_sends_the_same_request() -> None:
    attempt = invoice_attempt()
    first = payments.charge_request(attempt)
    again = payments.charge_request(payments.unknown(attempt, at=AT + timedelta(hours=3)))
    assert first == again
    assert first.off_session
    with pytest.raises(InvalidTransition):
        payments.refund_request(attempt)


def test_the_in_flight_index_of_the_stores_spells_the_states_in_flight() -> None:
    """Migration 3's unique index (and its queries) name the states in flight as
    constants: a state added to ``IN_FLIGHT`` needs a migration of its own."""
    from subscriptions.adapters.migrations import IN_FLIGHT_PREDICATE

    named = IN_FLIGHT_PREDICATE.removeprefix("state IN (").removesuffix(")")
    assert {part.strip().strip("'") for part in named.split(",")} == {
        state.value for state in payments.IN_FLIGHT
    }
