"""Gateway events (webhooks): a provider telling the book that a charge succeeded,
failed or needs the customer, that a refund was made or failed, or that a charge is
disputed.

An event is only a signal. :func:`apply_gateway_event` finds the payment attempt it is
about by the key in the object's metadata, asks the gateway for that object's current
state (:meth:`~subscriptions.ports.PaymentGateway.lookup`), and records what the
gateway says through the one path every outcome takes (:func:`.attempts.apply`), in
one transaction with the record that the event was applied. So:

* the same event delivered twice is a no-op (events are deduplicated by their id);
* events out of order are harmless: the current state is read, not the event's, and
  an attempt already resolved never moves backwards (a charge that succeeded stays so;
  a late success of an attempt resolved as "not charged" is recorded as such, with its
  refund if nothing can take the money);
* an event for a key the book does not know (a payment made outside the library) is
  recorded and ignored; one that names only the charge (a dispute) is matched to its
  attempt by the key the gateway says the charge was made under;
* a dispute, and a refund that fails after it was made, are recorded and raise an
  account event for the host.

A gateway that cannot be asked right now raises
:class:`~subscriptions.errors.GatewayUnavailable` and records nothing: the endpoint
answers with an error, and the provider delivers the event again later.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import attrs
from moneyed import Money

from .. import payments
from .._enum import Choice
from ..errors import ConcurrencyConflict, GatewayUnavailable, InvalidInput, PaymentNotRecorded
from ..inputs import MAX_KEY_LENGTH, identifier
from ..money import EXACT, money_currency
from ..orders import IssuedInvoice, Order
from ..payments import (
    AttemptKind,
    AttemptState,
    GatewayEvent,
    GatewayEventKind,
    PaymentAttempt,
    PaymentResult,
    PaymentStatus,
)
from ..ports import UnitOfWork
from ..subscription import Event, EventKind
from . import attempts
from .base import COLLISION_TRIES, Center

__all__ = ["EventOutcome", "GatewayEventApplied", "apply_gateway_event"]

#: The idempotency scope of the events applied (by the gateway's event id).
SCOPE = "gateway-event"


class EventOutcome(Choice):
    #: The attempt was resolved, or its record brought up to date, from the gateway.
    APPLIED = "applied"
    #: This event was applied before: nothing was done.
    DUPLICATE = "duplicate"
    #: No attempt of the book has the event's key: recorded and ignored.
    UNKNOWN_KEY = "unknown_key"
    #: A dispute, recorded on the account for someone to answer.
    DISPUTED = "disputed"
    #: The attempt's maker is still sending it and the gateway knows nothing yet:
    #: nothing was recorded (the maker, or reconcile, records the outcome).
    DEFERRED = "deferred"


@attrs.frozen(kw_only=True, weakref_slot=False)
class GatewayEventApplied:
    """What applying a gateway event did: the ``attempt`` it is about as it now
    stands, and the ``order`` or ``invoice`` that attempt pays."""

    event_id: str
    outcome: EventOutcome
    attempt: PaymentAttempt | None = None
    order: Order | None = None
    invoice: IssuedInvoice | None = None


def apply_gateway_event(center: Center, event: GatewayEvent) -> GatewayEventApplied:
    """Apply a verified gateway event (for Stripe:
    :meth:`StripeGateway.parse_event <subscriptions.adapters.stripe.StripeGateway.parse_event>`)
    to the book; see :mod:`subscriptions.center.gateway_events`. Idempotent by the
    event's id. Raises :class:`~subscriptions.errors.GatewayUnavailable` (nothing
    recorded: let the provider deliver it again) when the gateway cannot be asked."""
    if not isinstance(event, GatewayEvent):
        raise InvalidInput(
            f"a gateway event is a subscriptions.payments.GatewayEvent, not "
            f"{type(event).__name__}; read the webhook with the gateway's parse_event"
        )
    identifier(event.id, what="gateway event id", max_length=MAX_KEY_LENGTH)
    key = event.idempotency_key
    if key is not None:
        identifier(key, what="payment key", max_length=MAX_KEY_LENGTH)
    with center.store.unit_of_work() as uow:
        if uow.idempotency.get(SCOPE, event.id) is not None:
            return GatewayEventApplied(event_id=event.id, outcome=EventOutcome.DUPLICATE)
    if key is None and event.charge_id is not None:
        # The object names only the charge (a dispute): the gateway knows its key.
        key = _key_of(center, event.charge_id)
    with center.store.unit_of_work() as uow:
        attempt = None if key is None else uow.attempts.get(key)
    if attempt is None:
        return _noted(center, event, None, EventOutcome.UNKNOWN_KEY)
    if event.kind is GatewayEventKind.DISPUTED:
        return _noted(center, event, attempt, EventOutcome.DISPUTED)
    try:
        result = center.gateway.lookup(attempt.idempotency_key, request=attempts.sent(attempt))
    except GatewayUnavailable as exc:
        raise GatewayUnavailable(
            f"the payment gateway cannot tell the state of {attempt.idempotency_key!r} now "
            f"({exc}); nothing was recorded: answer the webhook with an error so that it "
            "is delivered again"
        ) from exc
    return _resolve(center, event, attempt, result)


def _key_of(center: Center, charge_id: str) -> str | None:
    try:
        return center.gateway.key_of(charge_id)
    except GatewayUnavailable as exc:
        raise GatewayUnavailable(
            f"the payment gateway cannot tell which payment {charge_id!r} is now ({exc}); "
            "nothing was recorded: answer the webhook with an error so that it is "
            "delivered again"
        ) from exc


def _noted(
    center: Center,
    event: GatewayEvent,
    attempt: PaymentAttempt | None,
    outcome: EventOutcome,
) -> GatewayEventApplied:
    """Record that ``event`` came (and, for a dispute, an account event)."""
    try:
        with center.store.unit_of_work() as uow:
            if uow.idempotency.get(SCOPE, event.id) is not None:
                return GatewayEventApplied(event_id=event.id, outcome=EventOutcome.DUPLICATE)
            uow.idempotency.put(SCOPE, event.id, _noted_as(event, attempt))
            if attempt is not None and outcome is EventOutcome.DISPUTED:
                center.record(
                    uow,
                    attempt.account_id,
                    [
                        Event(
                            kind=EventKind.PAYMENT_DISPUTED,
                            at=center.now(),
                            payment_key=attempt.idempotency_key,
                            amount=event.amount or attempt.money,
                            failure_code=event.reason,
                        )
                    ],
                )
            uow.commit()
    except ConcurrencyConflict:
        # A concurrent delivery of the same event recorded it first.
        return GatewayEventApplied(event_id=event.id, outcome=EventOutcome.DUPLICATE)
    return GatewayEventApplied(event_id=event.id, outcome=outcome, attempt=attempt)


def _noted_as(event: GatewayEvent, attempt: PaymentAttempt | None) -> str:
    if attempt is None:
        return f"ignored: {event.kind.value} of {event.object_id}, a key the book does not know"
    return f"{event.kind.value}: {attempt.idempotency_key}"


def _resolve(
    center: Center,
    event: GatewayEvent,
    attempt: PaymentAttempt,
    result: PaymentResult | None,
) -> GatewayEventApplied:
    settled: attempts.Settled | None = None
    for tried in range(COLLISION_TRIES):
        try:
            with center.store.unit_of_work() as uow:
                if uow.idempotency.get(SCOPE, event.id) is not None:
                    return GatewayEventApplied(event_id=event.id, outcome=EventOutcome.DUPLICATE)
                current = uow.attempts.get(attempt.id) or attempt
                now = center.now()
                if result is None and current.in_flight and not current.lease_expired(now):
                    # The gateway has nothing yet and the maker is still at it.
                    return GatewayEventApplied(
                        event_id=event.id, outcome=EventOutcome.DEFERRED, attempt=current
                    )
                uow.idempotency.put(SCOPE, event.id, _noted_as(event, current))
                settled = _apply(center, uow, current, result, now)
                uow.commit()
            break
        except ConcurrencyConflict as exc:
            if tried == COLLISION_TRIES - 1:
                raise PaymentNotRecorded(attempt.idempotency_key, cause=exc) from exc
    assert settled is not None
    settled = attempts.finish(center, settled)
    return GatewayEventApplied(
        event_id=event.id,
        outcome=EventOutcome.APPLIED,
        attempt=settled.attempt,
        order=settled.order,
        invoice=settled.invoice,
    )


def _apply(
    center: Center,
    uow: UnitOfWork,
    attempt: PaymentAttempt,
    result: PaymentResult | None,
    now: datetime,
) -> attempts.Settled:
    """Record the gateway's current ``result`` for ``attempt`` in ``uow``."""
    if (
        attempt.kind is AttemptKind.REFUND
        and attempt.state is AttemptState.SUCCEEDED
        and result is not None
        and result.status not in (PaymentStatus.REFUNDED, PaymentStatus.SUCCEEDED)
    ):
        failed = payments.refund_reversed(attempt, result, at=now)
        uow.attempts.update(failed)
        center.record(
            uow,
            attempt.account_id,
            [
                Event(
                    kind=EventKind.REFUND_FAILED,
                    at=now,
                    payment_key=attempt.idempotency_key,
                    note=failed.message or "",
                )
            ],
        )
        return attempts.Settled(attempt=failed)
    if (
        attempt.kind is AttemptKind.CHARGE
        and attempt.state is AttemptState.SUCCEEDED
        and result is not None
        and result.amount_refunded is not None
    ):
        _refunded_outside(center, uow, attempt, result.amount_refunded.amount, now)
        return attempts.Settled(attempt=attempt)
    if (
        result is not None
        and result.status is PaymentStatus.REQUIRES_ACTION
        and attempt.state is AttemptState.REQUIRES_ACTION
    ):
        return attempts.Settled(attempt=attempt)  # nothing new: still waiting
    not_charged = None
    if result is None and attempt.in_flight:
        not_charged = "the gateway has no record of the charge"
    return attempts.apply(center, uow, attempt, result, at=now, not_charged=not_charged)


#: The note of a refund the book learns of from the gateway (made in its dashboard).
OUTSIDE = "refunded at the gateway, outside the book"


def _refunded_outside(
    center: Center, uow: UnitOfWork, charge: PaymentAttempt, refunded: Decimal, now: datetime
) -> None:
    """Record what the gateway refunded of ``charge`` beyond the book's own refund and
    the outside refunds already recorded: no refund goes without a record."""
    ours = uow.attempts.get(payments.refund_key(charge.idempotency_key))
    known = Decimal(0)
    if ours is not None and ours.state is AttemptState.SUCCEEDED:
        known = ours.amount if ours.captured is None else ours.captured
    for past in uow.events.for_account(charge.account_id):
        if (
            past.kind is EventKind.PAYMENT_REFUNDED
            and past.payment_key == charge.idempotency_key
            and past.note == OUTSIDE
            and past.amount is not None
        ):
            known = EXACT.add(known, past.amount.amount)
    more = EXACT.subtract(refunded, known)
    if more <= 0:
        return
    center.record(
        uow,
        charge.account_id,
        [
            Event(
                kind=EventKind.PAYMENT_REFUNDED,
                at=now,
                payment_key=charge.idempotency_key,
                amount=Money(more, money_currency(charge.currency)),
                note=OUTSIDE,
            )
        ],
    )
