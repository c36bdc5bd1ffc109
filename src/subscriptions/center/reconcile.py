"""One reconcile for every payment attempt left in flight: orders, renewals, retries,
invoice payments and refunds alike.

For each attempt in flight whose lease is over (``Settings.reconcile_after``: the
process that made it is presumed gone), reconcile takes the lease, asks the gateway by
the attempt's key, and records the answer as the use case that sent it would have:
charged means paid (an order completed, an invoice paid), never charged again; not
charged means back to due, or failed per the retry schedule; a refund the gateway
never received is sent again under its key. An attempt the gateway still cannot tell
about after ``Settings.unknown_after`` needs review: no new attempt, no dunning, an
event, and it is listed by :func:`review`. A 3-D Secure payment the customer never
completed is abandoned once its quote (or ``Settings.action_timeout``) has passed.
One attempt's trouble never stops the others.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import attrs

from .. import payments
from ..errors import ConcurrencyConflict, GatewayMisconfigured, NotFound, SubscriptionsError
from ..inputs import MAX_KEY_LENGTH, callback, identifier, optional_identifier
from ..orders import Order, OrderState
from ..payments import IN_FLIGHT, AttemptKind, AttemptState, PaymentAttempt, PaymentStatus
from ..subscription import Event, EventKind
from . import attempts
from .base import Center
from .orders import drive

__all__ = ["ReconcileReport", "Review", "reconcile", "resolve", "review"]

_PAGE = 200


@attrs.frozen(kw_only=True, weakref_slot=False)
class ReconcileReport:
    """What a reconcile found and did.

    ``resolved``: the attempts it resolved, as they now stand; ``orders``: the orders
    they belong to (and orders it completed without a charge), as they now stand;
    ``waiting``: attempts left alone because another process's lease (or the
    customer's 3-D Secure) is still running; ``unknown``: attempts the gateway could
    not tell about this time; ``needs_review``: those that became ``needs_review``
    now; ``errors``: (attempt or order id, what went wrong).
    """

    resolved: tuple[PaymentAttempt, ...] = ()
    orders: tuple[Order, ...] = ()
    waiting: int = 0
    unknown: int = 0
    needs_review: tuple[PaymentAttempt, ...] = ()
    errors: tuple[tuple[str, str], ...] = ()


@attrs.frozen(kw_only=True, weakref_slot=False)
class Review:
    """What needs a person: attempts whose outcome stayed unknown, refunds the gateway
    refused, and how many attempts are in flight."""

    needs_review: tuple[PaymentAttempt, ...]
    failed_refunds: tuple[PaymentAttempt, ...]
    in_flight: int


class _Run:
    def __init__(self) -> None:
        self.resolved: list[PaymentAttempt] = []
        self.orders: dict[str, Order] = {}
        self.waiting = 0
        self.unknown = 0
        self.review: list[PaymentAttempt] = []
        self.errors: list[tuple[str, str]] = []

    def report(self) -> ReconcileReport:
        return ReconcileReport(
            resolved=tuple(self.resolved),
            orders=tuple(self.orders.values()),
            waiting=self.waiting,
            unknown=self.unknown,
            needs_review=tuple(self.review),
            errors=tuple(self.errors),
        )


def _with_state(center: Center, states: tuple[AttemptState, ...]) -> list[PaymentAttempt]:
    """Every stored attempt in one of ``states``, read a page per unit of work."""
    found: list[PaymentAttempt] = []
    after: str | None = None
    while True:
        with center.store.unit_of_work() as uow:
            page = uow.attempts.with_state(states, limit=_PAGE, after=after)
        found.extend(page)
        if len(page) < _PAGE:
            return found
        after = page[-1].target


def _in_flight(center: Center) -> list[PaymentAttempt]:
    return _with_state(center, tuple(IN_FLIGHT))


def reconcile(
    center: Center,
    order_id: str | None = None,
    *,
    stop: Callable[[], bool] | None = None,
) -> ReconcileReport:
    """Resolve every payment attempt left in flight: orders, renewals, retries,
    invoice payments and refunds alike (or only ``order_id``'s).

    Each attempt whose lease (``Settings.reconcile_after``) is over is looked up
    at the gateway by its key: charged means recorded as paid (the order
    completed, the invoice paid), never charged again; not charged means back to
    due, or failed per the retry schedule. An attempt the gateway still cannot
    tell about after ``Settings.unknown_after`` becomes ``needs_review``. A
    concurrent completion is recognised as such and never refunded. One
    attempt's trouble never stops the others, but a gateway refusing its set-up
    (:class:`~subscriptions.errors.GatewayMisconfigured`) stops the run. See
    :mod:`subscriptions.center.reconcile`."""
    optional_identifier(order_id, what="order id")
    callback(stop, what="stop")
    run = _Run()
    for attempt in _in_flight(center):
        if stop is not None and stop():
            break
        if order_id is not None and attempt.order_id != order_id:
            continue
        try:
            _resolve(center, attempt, run)
        except GatewayMisconfigured:
            raise  # every other attempt would fail alike: fix the setting first
        except SubscriptionsError as exc:
            run.errors.append((attempt.id, f"{type(exc).__name__}: {exc}"))
    _orders_without_attempts(center, order_id, run)
    return run.report()


def _claim(center: Center, attempt: PaymentAttempt, now: datetime) -> PaymentAttempt | None:
    """Take the attempt's lease; ``None`` when another process holds it or has just
    resolved it."""
    try:
        with center.store.unit_of_work() as uow:
            current = uow.attempts.get(attempt.id)
            if current is None or not current.in_flight:
                return None
            if current.state is not AttemptState.REQUIRES_ACTION and not current.lease_expired(now):
                return None
            taken = payments.claimed(current, at=now, lease=center.settings.reconcile_after)
            uow.attempts.update(taken)
            uow.commit()
        return taken
    except ConcurrencyConflict:
        return None


def _abandoned(center: Center, attempt: PaymentAttempt, now: datetime) -> bool:
    """Whether a 3-D Secure payment waited longer than the customer had."""
    if attempt.order_id is not None:
        with center.store.unit_of_work() as uow:
            order = uow.orders.get(attempt.order_id)
            quote = None if order is None else uow.quotes.get(order.quote_id)
        return quote is None or now >= quote.expires_at
    return now >= attempt.created_at + center.settings.action_timeout


def _resolve(center: Center, attempt: PaymentAttempt, run: _Run) -> None:
    now = center.now()
    if attempt.state is not AttemptState.REQUIRES_ACTION and not attempt.lease_expired(now):
        run.waiting += 1
        return
    taken = _claim(center, attempt, now)
    if taken is None:
        run.waiting += 1
        return
    answer = attempts.ask(center, taken)
    if not answer.known:
        _still_unknown(center, taken, now, run)
        return
    result = answer.result
    if taken.kind is AttemptKind.REFUND and result is None:
        # Never received: send it again, under its key (a refund is what we want).
        result = attempts.send(center, taken)
        if result is None:
            _still_unknown(center, taken, now, run)
            return
    if result is not None and result.status is PaymentStatus.REQUIRES_ACTION:
        if not _abandoned(center, taken, now):
            run.waiting += 1
            return
        settled = attempts.record(
            center,
            taken,
            None,
            not_charged="the customer never completed 3-D Secure; nothing was charged",
            code="abandoned",
        )
    else:
        reason = None if result is not None else "the gateway never received this payment"
        settled = attempts.record(center, taken, result, not_charged=reason)
    run.resolved.append(settled.attempt)
    if settled.order is not None:
        run.orders[settled.order.id] = settled.order


def _still_unknown(center: Center, attempt: PaymentAttempt, now: datetime, run: _Run) -> None:
    run.unknown += 1
    if attempt.state is AttemptState.NEEDS_REVIEW:
        return
    if now - attempt.created_at < center.settings.unknown_after:
        return
    try:
        with center.store.unit_of_work() as uow:
            current = uow.attempts.get(attempt.id)
            if current is None or not current.in_flight:
                return
            flagged = payments.needing_review(current, at=now)
            uow.attempts.update(flagged)
            center.record(
                uow,
                attempt.account_id,
                [
                    Event(
                        kind=EventKind.PAYMENT_NEEDS_REVIEW,
                        at=now,
                        payment_key=attempt.idempotency_key,
                    )
                ],
            )
            uow.commit()
        run.review.append(flagged)
    except ConcurrencyConflict:
        return


def _orders_without_attempts(center: Center, order_id: str | None, run: _Run) -> None:
    """Orders left pending with nothing to charge (killed before they completed)."""
    with center.store.unit_of_work() as uow:
        ids = [order_id] if order_id is not None else uow.orders.unresolved()
        pending = [
            order
            for i in ids
            if (order := uow.orders.get(i)) is not None
            and order.state is OrderState.PENDING
            and order.amount_due.amount <= 0
            and uow.attempts.get(payments.order_key(order.id)) is None
        ]
    now = center.now()
    for order in pending:
        if now - order.updated_at < center.settings.reconcile_after:
            run.waiting += 1
            continue
        try:
            run.orders[order.id] = drive(center, order)
        except SubscriptionsError as exc:
            run.errors.append((order.id, f"{type(exc).__name__}: {exc}"))
            with center.store.unit_of_work() as uow:
                final = uow.orders.get(order.id)
            if final is not None:
                run.orders[order.id] = final


def resolve(center: Center, idempotency_key: str) -> PaymentAttempt:
    """Ask the gateway about the payment sent under ``idempotency_key`` and record
    what it says (a gateway's notification of a payment lands here): a charge
    the book had resolved as not charged is recorded too, paid if its invoice is
    still unpaid and refunded otherwise. An attempt in flight is resolved as not
    charged only once its lease is over (its process may still be sending it).
    Returns the attempt as it now stands."""
    identifier(idempotency_key, what="payment key", max_length=MAX_KEY_LENGTH)
    with center.store.unit_of_work() as uow:
        attempt = uow.attempts.get(idempotency_key)
    if attempt is None:
        raise NotFound(
            f"no payment attempt with key {idempotency_key!r}; the keys are those the "
            "gateway received (order:..., invoice:...:n, refund:...)"
        )
    answer = attempts.ask(center, attempt)
    if not answer.known:
        return attempt
    result = answer.result
    if result is None:
        if not attempt.in_flight or not attempt.lease_expired(center.now()):
            return attempt
        if attempt.kind is AttemptKind.REFUND:
            result = attempts.send(center, attempt)
            if result is None:
                return attempt
    if result is not None and result.status is PaymentStatus.REQUIRES_ACTION:
        return attempt
    reason = None if result is not None else "the gateway never received this payment"
    return attempts.record(center, attempt, result, not_charged=reason).attempt


def review(center: Center) -> Review:
    """What needs a person: payments whose outcome stayed unknown past
    ``Settings.unknown_after``, and refunds the gateway refused (read only)."""
    flying = _in_flight(center)
    failed = _with_state(center, (AttemptState.FAILED,))
    return Review(
        needs_review=tuple(a for a in flying if a.state is AttemptState.NEEDS_REVIEW),
        failed_refunds=tuple(a for a in failed if a.kind is AttemptKind.REFUND),
        in_flight=len(flying),
    )
