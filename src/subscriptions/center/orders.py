"""Placing an order and taking it as far as it can go: idempotent, one charge, on
record before it is sent.

``place_order`` records the order (``pending``) and its one payment attempt (key
``order:{id}``) in one transaction, then sends the attempt and records the outcome
(:mod:`.attempts`). Every caller of one idempotency key gets the one order, as it
stands: a retry while the order is still pending or unknown sends the same attempt
again (the gateway answers a known key with what it did, and never charges twice),
or, once the quote has expired, only asks the gateway what happened.
"""

from __future__ import annotations

from datetime import datetime

from .. import payments
from ..accounts import require_billing_contact, require_self_service
from ..errors import (
    ConcurrencyConflict,
    IdempotencyKeyReused,
    InvalidInput,
    OrderInProgress,
    PaymentDeclined,
    PaymentFailed,
    PaymentInProgress,
    QuoteChanged,
    QuoteExpired,
)
from ..inputs import identifier, optional_identifier
from ..orders import Order, OrderFailure, OrderState, Quote, failure_of_code
from ..payments import AttemptState, PaymentAttempt
from ..ports import UnitOfWork
from ..subscription import Event, EventKind
from . import attempts, purchase, quotes
from .base import COLLISION_TRIES, Center, owned

__all__ = [
    "check_key",
    "confirm_order_payment",
    "drive",
    "failure",
    "find_order",
    "known_order",
    "list_orders",
    "place_order",
    "record_order",
]


def check_key(idempotency_key: object) -> None:
    """Refuse an idempotency key that is no identifier (non-blank, at most 64
    characters, no whitespace or control characters): pass one per order the
    customer confirms, and the same one to retry it."""
    identifier(idempotency_key, what="idempotency key")


def known_order(
    uow: UnitOfWork,
    account_id: str,
    idempotency_key: str,
    quote_id: str,
    payment_method: str | None = None,
) -> Order | None:
    """The order already placed with this key, if any (for the same quote and payment
    method only)."""
    known = uow.idempotency.get(account_id, idempotency_key)
    if known is None:
        return None
    order = uow.orders.get(known)
    assert order is not None
    if order.quote_id != quote_id:
        raise IdempotencyKeyReused(idempotency_key, f"order {order.id!r}")
    if payment_method is not None and payment_method != order.payment_method:
        raise IdempotencyKeyReused(
            idempotency_key, f"order {order.id!r} with another payment method"
        )
    return order


def record_order(
    center: Center,
    uow: UnitOfWork,
    quote: Quote,
    idempotency_key: str,
    now: datetime,
    *,
    state: OrderState,
    placed_by: str,
    payment_method: str | None = None,
    purchase_order: str | None = None,
    due_days: int | None = None,
) -> Order:
    """Record a new order of ``quote`` under its idempotency key."""
    order = Order(
        id=center.new_id("ord"),
        account_id=quote.account_id,
        quote_id=quote.id,
        idempotency_key=idempotency_key,
        state=state,
        amount_due=quote.amount_due,
        currency=quote.currency,
        placed_by=placed_by,
        created_at=now,
        updated_at=now,
        payment_method=payment_method,
        purchase_order=purchase_order,
        due_days=due_days,
    )
    uow.orders.add(order)
    uow.idempotency.put(quote.account_id, idempotency_key, order.id)
    center.record(
        uow, quote.account_id, [Event(kind=EventKind.ORDER_PLACED, at=now, order_id=order.id)]
    )
    return order


def _claim_slot(uow: UnitOfWork, account_id: str, now: datetime, idempotency_key: str) -> None:
    """Refuse if another order of the account is still running; free a stale slot."""
    other_id = uow.idempotency.get(account_id, purchase.ORDER_SLOT)
    if other_id is None:
        return
    other = uow.orders.get(other_id)
    if other is not None and other.idempotency_key == idempotency_key:
        # A concurrent caller of the same key placed it a moment ago: this call is
        # that order's too (read again, it finds it under the key).
        raise ConcurrencyConflict("idempotency key", idempotency_key, expected=0, found=1)
    if other is not None and not other.state.final:
        quote = uow.quotes.get(other.quote_id)
        running = uow.attempts.in_flight(payments.order_target(other.id))
        if (quote is not None and now < quote.expires_at) or running is not None:
            raise OrderInProgress(account_id, other_id)
    uow.idempotency.delete(account_id, purchase.ORDER_SLOT)


def place_order(
    center: Center,
    account_id: str,
    user: str,
    quote_id: str,
    *,
    idempotency_key: str,
    payment_method: str | None = None,
) -> Order:
    """Place the order the customer confirmed in quote ``quote_id``.

    Idempotent: every call with the same key gets the same order, as it stands,
    and it is charged once. The order and its payment attempt are recorded before
    the gateway is called. Returns the order in state ``succeeded``,
    ``requires_action`` (3-D Secure: call :meth:`confirm_payment` once the
    customer has authenticated) or ``unknown`` (the gateway did not answer:
    :meth:`reconcile` resolves it). A declined payment raises
    :class:`~subscriptions.errors.PaymentDeclined` and changes nothing but the
    order's record; a quote whose pinned state changed raises
    :class:`~subscriptions.errors.QuoteChanged`; another order of the account
    still running raises :class:`~subscriptions.errors.OrderInProgress`."""
    check_key(idempotency_key)
    identifier(quote_id, what="quote id")
    optional_identifier(payment_method, what="payment method")
    made: PaymentAttempt | None = None
    order: Order | None = None
    for tried in range(COLLISION_TRIES):
        now = center.now()
        try:
            with center.store.unit_of_work() as uow:
                account = center.load_account(uow, account_id)
                require_self_service(account, user, "place orders")
                order = known_order(uow, account_id, idempotency_key, quote_id, payment_method)
                if order is None:
                    quote = quotes.valid_quote(center, uow, account, quote_id, now)
                    token = payment_method or account.payment_method
                    if quote.amount_due.amount > 0 and token is None:
                        raise InvalidInput(
                            "the order has an amount due and the account has no payment "
                            "method; pass a payment-method token or add one to the account"
                        )
                    # One order at a time per account: a concurrent order conflicts on
                    # the slot before anything is charged.
                    _claim_slot(uow, account_id, now, idempotency_key)
                    order = record_order(
                        center,
                        uow,
                        quote,
                        idempotency_key,
                        now,
                        state=OrderState.PENDING,
                        placed_by=user,
                        payment_method=token,
                    )
                    uow.idempotency.put(account_id, purchase.ORDER_SLOT, order.id)
                    if order.amount_due.amount > 0:
                        assert token is not None
                        made = payments.order_attempt(
                            account_id=account_id,
                            order_id=order.id,
                            amount=order.amount_due.amount,
                            currency=order.currency,
                            payment_method=token,
                            at=now,
                            lease=center.settings.reconcile_after,
                        )
                        uow.attempts.add(made)
                    uow.commit()
            break
        except (OrderInProgress, PaymentInProgress):
            raise
        except (QuoteChanged, QuoteExpired):
            # A caller of the same key may have placed (and completed) the order
            # between our look under the key and our look at the quote: its
            # completion changed what the quote pinned. That order is this call's.
            placed = _placed_under(center, account_id, idempotency_key, quote_id, payment_method)
            if placed is None:
                raise
            made, order = None, placed
            break
        except ConcurrencyConflict:
            # Another caller of the same key recorded it first: the next try finds
            # that order under the key. Under load the writer we collided with may
            # not be the one that commits (PostgreSQL aborts one side of a deadlock),
            # so a try may find nothing yet and collide again: each collision means
            # some caller got further, and a few tries settle it.
            made = None
            if tried == COLLISION_TRIES - 1:
                raise
    assert order is not None
    return drive(center, order, made)


def _placed_under(
    center: Center,
    account_id: str,
    idempotency_key: str,
    quote_id: str,
    payment_method: str | None,
) -> Order | None:
    with center.store.unit_of_work() as uow:
        return known_order(uow, account_id, idempotency_key, quote_id, payment_method)


def _attempt_of(center: Center, order: Order) -> tuple[PaymentAttempt | None, Quote | None]:
    with center.store.unit_of_work() as uow:
        return (
            uow.attempts.get(payments.order_key(order.id)),
            uow.quotes.get(order.quote_id),
        )


def drive(center: Center, order: Order, attempt: PaymentAttempt | None = None) -> Order:
    """Take an order recorded in the store as far as it can go now."""
    if order.state in (OrderState.PENDING, OrderState.UNKNOWN):
        quote = None
        if attempt is None:
            attempt, quote = _attempt_of(center, order)
        if attempt is None:
            if order.amount_due.amount <= 0:
                order = _complete_free(center, order)
        elif attempt.state in (AttemptState.PENDING, AttemptState.UNKNOWN):
            order = _resume(center, order, attempt, quote)
    if order.state is OrderState.FAILED:
        raise failure(order)
    return order


def _resume(center: Center, order: Order, attempt: PaymentAttempt, quote: Quote | None) -> Order:
    """Send the order's attempt (again: the same key never charges twice) while its
    quote holds; after that, only ask the gateway what became of it."""
    now = center.now()
    if quote is None:
        with center.store.unit_of_work() as uow:
            quote = uow.quotes.get(order.quote_id)
    if quote is not None and now < quote.expires_at:
        settled = attempts.send_and_record(center, attempt)
    elif attempt.lease_expired(now):
        answer = attempts.ask(center, attempt)
        if not answer.known:
            return order
        reason = None if answer.result is not None else "the gateway never received it"
        settled = attempts.record(center, attempt, answer.result, not_charged=reason)
    else:
        return order
    return settled.order or order


def _complete_free(center: Center, order: Order) -> Order:
    """Complete an order with nothing to charge."""
    for tried in range(COLLISION_TRIES):
        try:
            with center.store.unit_of_work() as uow:
                current = uow.orders.get(order.id)
                assert current is not None
                if current.state.final:
                    return current
                done, _ = purchase.complete(center, uow, current, None, None, at=center.now())
                uow.commit()
            center.deliver_after_commit()
            return done
        except ConcurrencyConflict:
            if tried == COLLISION_TRIES - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def failure(order: Order) -> PaymentFailed:
    """The error that tells the customer why ``order`` failed and what to do."""
    code = order.failure_code
    failure = order.failure or failure_of_code(code)
    if failure in (OrderFailure.NOT_CHARGED, OrderFailure.ABANDONED):
        return PaymentFailed(
            f"order {order.id!r} failed: {order.failure_message}; nothing was charged and "
            "nothing changed: place the order again with a new idempotency key",
            order_id=order.id,
            code=code,
        )
    if failure is OrderFailure.QUOTE_CHANGED:
        return PaymentFailed(
            f"order {order.id!r} could not be completed: {order.failure_message}; any "
            "charge was refunded: ask for a new quote",
            order_id=order.id,
            code=code,
        )
    return PaymentDeclined(
        f"the payment for order {order.id!r} was declined ({code}: "
        f"{order.failure_message}); nothing changed: use another payment method and "
        "place the order again with a new idempotency key",
        order_id=order.id,
        code=code,
    )


def find_order(uow: UnitOfWork, account_id: str, order_id: str) -> Order:
    return owned(
        uow.orders.get(identifier(order_id, what="order id")),
        account_id,
        f"order {order_id!r}",
        "use the id of an order of this account (as placing it returned; the command "
        "line's 'orders ACCOUNT' lists them)",
    )


def confirm_order_payment(center: Center, account_id: str, user: str, order_id: str) -> Order:
    """Resume an order waiting for 3-D Secure, once the customer has authenticated."""
    with center.store.unit_of_work() as uow:
        account = center.load_account(uow, account_id)
        require_billing_contact(account, user, "pay")
        order = find_order(uow, account_id, order_id)
        attempt = uow.attempts.get(payments.order_key(order.id))
    if order.state is not OrderState.REQUIRES_ACTION or attempt is None:
        return drive(center, order, attempt)
    settled = attempts.confirm(center, attempt)
    if settled is None:
        return order
    return drive(center, settled.order or order)


def list_orders(center: Center, account_id: str, user: str) -> list[Order]:
    """The account's orders, oldest first."""
    with center.store.unit_of_work() as uow:
        account = center.load_account(uow, account_id)
        require_billing_contact(account, user, "see orders")
        return uow.orders.for_account(account_id)


def show_order(center: Center, account_id: str, user: str, order_id: str) -> Order:
    """The account's order ``order_id``, as it stands."""
    with center.store.unit_of_work() as uow:
        account = center.load_account(uow, account_id)
        require_billing_contact(account, user, "see orders")
        return find_order(uow, account_id, order_id)
