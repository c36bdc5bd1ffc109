"""Payment attempts: every charge and refund is on record before the gateway is called.

A :class:`PaymentAttempt` says what it pays (an order, an invoice, or the refund of an
earlier charge), the amount and currency, the payment method, its number among the
attempts at the same target, and the idempotency key derived from those. It is
committed in state ``pending`` before the request leaves; the result is committed
after. Whatever happens in between (a timeout, a killed process, a database that
refuses the second commit) the record says a request may be out there, and under
which key, so the money can always be found again:

* the same attempt always sends the same key, so re-sending it never charges twice;
* a new attempt (a new number, a new key) is made only after a recorded outcome that
  nothing was charged: a decline, or the gateway's answer that it never saw the key;
* at most one attempt per target is in flight (``pending``, ``unknown``,
  ``requires_action`` or ``needs_review``): the stores enforce it with a unique index,
  so a second payment of one invoice gets
  :class:`~subscriptions.errors.PaymentInProgress` and is never sent;
* the process that made an attempt holds a lease on it (``lease_until``); another
  process resolves it, by asking the gateway with its key, only after the lease.

Attempt states::

    pending ──► succeeded | declined | requires_action | unknown | not_charged
    unknown ──► succeeded | declined | requires_action | not_charged | needs_review
    requires_action ──► succeeded | declined | not_charged (abandoned)
    needs_review ──► succeeded | declined | not_charged
    refunds: pending | unknown ──► succeeded | failed;  succeeded ──► failed (later)

This module is pure: it builds and changes records; the Billing Center's shell
(:mod:`subscriptions.center`) commits them and talks to the gateway.

>>> from datetime import datetime, timedelta, timezone
>>> from decimal import Decimal
>>> at = datetime(2026, 12, 1, 9, tzinfo=timezone.utc)
>>> attempt = order_attempt(
...     account_id="acct_1", order_id="ord_1", amount=Decimal("12.20"), currency="EUR",
...     payment_method="tok_visa", at=at, lease=timedelta(minutes=5))
>>> attempt.idempotency_key, attempt.state.value, attempt.in_flight
('order:ord_1', 'pending', True)
>>> done = with_result(attempt, PaymentResult(status=PaymentStatus.DECLINED,
...     decline_code="card_declined"), at=at)
>>> done.state.value, done.in_flight, done.version
('declined', False, 1)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
from moneyed import Money

from ._enum import Choice
from ._records import moved, quick_init
from .errors import InvalidInput, InvalidTransition
from .money import EXACT, money_currency
from .orders import IssuedInvoice, OrderFailure

__all__ = [
    "AUTHENTICATION_REQUIRED",
    "IN_FLIGHT",
    "AttemptKind",
    "AttemptState",
    "ChargeRequest",
    "GatewayEvent",
    "GatewayEventKind",
    "PaymentAttempt",
    "PaymentResult",
    "PaymentStatus",
    "RefundRequest",
    "charge_request",
    "charged_late",
    "claimed",
    "invoice_attempt",
    "invoice_key",
    "invoice_target",
    "needing_review",
    "not_charged",
    "order_attempt",
    "order_failure",
    "order_key",
    "order_target",
    "refund_attempt",
    "refund_key",
    "refund_request",
    "refund_reversed",
    "refundable",
    "unknown",
    "with_result",
]


# -- what the gateway says -----------------------------------------------------------

#: The decline of an off-session charge the bank wants the customer to authenticate:
#: the customer is asked to pay on session, where they can.
AUTHENTICATION_REQUIRED = "authentication_required"


class PaymentStatus(Choice):
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    #: The customer must act (3-D Secure); look the charge up again afterwards.
    REQUIRES_ACTION = "requires_action"
    #: The gateway failed before charging (try again later with the same key).
    TRANSIENT_ERROR = "transient_error"
    #: A charge refunded in full, or a refund made.
    REFUNDED = "refunded"


@quick_init
@attrs.frozen(kw_only=True, weakref_slot=False)
class ChargeRequest:
    """One charge, as sent under its key (every resend is the same request).

    ``account_id`` is the account paying, for a gateway that keeps a customer per
    account (and in the charge's metadata); ``off_session`` says the customer is not
    there to authenticate (a renewal or a retry).
    """

    idempotency_key: str
    amount: Money
    payment_method: str
    description: str
    off_session: bool = False
    account_id: str | None = None


@attrs.frozen(kw_only=True, weakref_slot=False)
class RefundRequest:
    idempotency_key: str
    charge_id: str
    amount: Money
    reason: str


@quick_init
@attrs.frozen(kw_only=True, weakref_slot=False)
class PaymentResult:
    """What the gateway answered, or knows, about one key.

    ``amount`` is what was captured (for a refund: what was refunded);
    ``amount_refunded`` is how much of a charge has been refunded since.
    ``next_action`` is what the customer's page needs to finish 3-D Secure (a URL to
    send them to, or a client secret for the provider's script): it is given to the
    host and never written to events, logs or command-line output.
    ``payment_method`` is the reusable payment method a successful on-session charge
    saved for later (off-session) charges, when the gateway saved one: the account
    keeps it for its renewals.
    """

    status: PaymentStatus
    charge_id: str | None = None
    amount: Money | None = None
    decline_code: str | None = None
    message: str | None = None
    #: Never shown in a repr (it may be a client secret).
    next_action: str | None = attrs.field(default=None, repr=False)
    amount_refunded: Money | None = None
    payment_method: str | None = None


class GatewayEventKind(Choice):
    """What a gateway's notification (a webhook) says happened to a charge or refund."""

    CHARGE_SUCCEEDED = "charge_succeeded"
    CHARGE_FAILED = "charge_failed"
    #: The customer must authenticate (3-D Secure) for the charge to go on.
    REQUIRES_ACTION = "requires_action"
    #: A charge was refunded (in full or in part), or a refund was made.
    REFUNDED = "refunded"
    REFUND_FAILED = "refund_failed"
    #: The customer's bank disputes a charge (a chargeback).
    DISPUTED = "disputed"


@attrs.frozen(kw_only=True, weakref_slot=False)
class GatewayEvent:
    """A gateway's notification, verified and read into the port's terms.

    ``id`` is the gateway's own id of the event (deliveries of one event share it);
    ``idempotency_key`` is the key of the attempt it is about, read from the
    object's metadata (``None`` when the object carries none: a payment made outside
    the library); ``object_id`` is the gateway's id of that object (a charge, a
    refund, a dispute); ``charge_id`` the charge it belongs to. The event is only a
    signal: :meth:`~subscriptions.BillingCenter.apply_gateway_event` asks the
    gateway for the object's current state before it records anything.
    """

    id: str
    kind: GatewayEventKind
    created_at: datetime
    object_id: str
    idempotency_key: str | None = None
    charge_id: str | None = None
    amount: Money | None = None
    #: The gateway's reason (a decline code, a dispute's reason), when it gives one.
    reason: str | None = None


# -- attempts ------------------------------------------------------------------------


class AttemptKind(Choice):
    CHARGE = "charge"
    REFUND = "refund"


class AttemptState(Choice):
    #: Committed before the request; it may or may not have reached the gateway.
    PENDING = "pending"
    #: Sent, and the gateway did not answer: it may have charged.
    UNKNOWN = "unknown"
    #: The customer must authenticate (3-D Secure) on session.
    REQUIRES_ACTION = "requires_action"
    #: Still unknown after ``Settings.unknown_after``: no new attempt, no dunning,
    #: until a person (or a late answer of the gateway) resolves it.
    NEEDS_REVIEW = "needs_review"
    #: Charged (or, for a refund, refunded).
    SUCCEEDED = "succeeded"
    #: The gateway declined the charge: nothing was charged.
    DECLINED = "declined"
    #: Resolved: nothing was charged under this key (never sent, never seen by the
    #: gateway, a transient error, or 3-D Secure abandoned).
    NOT_CHARGED = "not_charged"
    #: A refund the gateway refused; it stays listed until someone acts.
    FAILED = "failed"

    @property
    def in_flight(self) -> bool:
        return self in IN_FLIGHT


# Members read on the renewal's path, bound once (see Choice).
_CHARGE, _REFUND = AttemptKind.CHARGE, AttemptKind.REFUND
_PENDING, _SUCCEEDED = AttemptState.PENDING, AttemptState.SUCCEEDED
_CHARGED, _REFUNDED = PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED


IN_FLIGHT = frozenset(
    {
        AttemptState.PENDING,
        AttemptState.UNKNOWN,
        AttemptState.REQUIRES_ACTION,
        AttemptState.NEEDS_REVIEW,
    }
)


def order_key(order_id: str) -> str:
    """The key of an order's charge (an order is charged once)."""
    return f"order:{order_id}"


def invoice_key(invoice_id: str, number: int) -> str:
    """The key of the ``number``-th attempt to collect an invoice."""
    return f"invoice:{invoice_id}:{number}"


def refund_key(charge_key: str) -> str:
    """The key of the refund of the charge sent under ``charge_key``."""
    return f"refund:{charge_key}"


def order_target(order_id: str) -> str:
    return f"order:{order_id}"


def invoice_target(invoice_id: str) -> str:
    return f"invoice:{invoice_id}"


def _positive(instance: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise InvalidInput(f"a payment attempt's {attribute.name} must be a positive Decimal")


@quick_init
@attrs.frozen(kw_only=True, weakref_slot=False)
class PaymentAttempt:
    """One charge or refund sent (or about to be sent) to the gateway, on record.

    An attempt is known by its idempotency key (its :attr:`id`), which says what it
    pays and its number, and is sent with every request of it. Exactly one of
    ``order_id``, ``invoice_id`` (charges) and ``refund_of`` (the key of the charge a
    refund gives money back for) names what it is for.
    ``subscription_id`` is the subscription whose renewal an invoice attempt collects,
    when there is one. ``charge_id`` is the gateway's reference; ``captured`` what the
    gateway reports it took (or refunded).
    """

    kind: AttemptKind
    account_id: str
    number: int
    idempotency_key: str
    amount: Decimal = attrs.field(validator=_positive)
    currency: str
    state: AttemptState
    created_at: datetime
    updated_at: datetime
    lease_until: datetime
    #: What the gateway is told the payment is for (a refund: why it is made).
    description: str = ""
    payment_method: str | None = None
    off_session: bool = False
    order_id: str | None = None
    invoice_id: str | None = None
    refund_of: str | None = None
    subscription_id: str | None = None
    charge_id: str | None = None
    captured: Decimal | None = None
    decline_code: str | None = None
    message: str | None = None
    #: Never shown in a repr (it may be a client secret).
    next_action: str | None = attrs.field(default=None, repr=False)
    version: int = 0

    def __attrs_post_init__(self) -> None:
        named = (self.order_id is not None) + (self.invoice_id is not None)
        if named + (self.refund_of is not None) != 1:
            raise InvalidInput(
                "a payment attempt pays exactly one thing: give one of order_id, "
                "invoice_id or refund_of"
            )
        if (self.kind is _REFUND) != (self.refund_of is not None):
            raise InvalidInput("a refund attempt names the charge it refunds, and only it")

    @property
    def id(self) -> str:
        """The attempt's identity: its idempotency key."""
        return self.idempotency_key

    @property
    def target(self) -> str:
        """What the attempt pays: at most one attempt per target is in flight."""
        if self.refund_of is not None:
            return f"refund:{self.refund_of}"
        if self.order_id is not None:
            return order_target(self.order_id)
        assert self.invoice_id is not None
        return invoice_target(self.invoice_id)

    @property
    def in_flight(self) -> bool:
        return self.state in IN_FLIGHT

    @property
    def money(self) -> Money:
        return Money(self.amount, money_currency(self.currency))

    def lease_expired(self, now: datetime) -> bool:
        """Whether another process may take this attempt over."""
        return now >= self.lease_until


def _pending(*, at: datetime, lease: timedelta, **fields: Any) -> PaymentAttempt:
    """A new attempt, committed before it is sent, held by its maker for ``lease``."""
    return PaymentAttempt(
        state=_PENDING,
        created_at=at,
        updated_at=at,
        lease_until=at + lease,
        **fields,
    )


def order_attempt(
    *,
    account_id: str,
    order_id: str,
    amount: Decimal,
    currency: str,
    payment_method: str,
    at: datetime,
    lease: timedelta,
) -> PaymentAttempt:
    """The one charge of an order (on session: the customer is at checkout)."""
    return _pending(
        at=at,
        lease=lease,
        kind=AttemptKind.CHARGE,
        account_id=account_id,
        number=1,
        idempotency_key=order_key(order_id),
        amount=amount,
        currency=currency,
        description=f"Order {order_id}",
        payment_method=payment_method,
        order_id=order_id,
    )


def invoice_attempt(
    invoice: IssuedInvoice,
    *,
    number: int,
    payment_method: str,
    off_session: bool,
    at: datetime,
    lease: timedelta,
    subscription_id: str | None = None,
) -> PaymentAttempt:
    """The ``number``-th attempt to collect ``invoice``'s amount due (a renewal, a
    retry, or a payment the customer makes)."""
    if number < 1:
        raise InvalidInput(f"attempt numbers start at 1, not {number}")
    return _pending(
        at=at,
        lease=lease,
        kind=_CHARGE,
        account_id=invoice.account_id,
        number=number,
        idempotency_key=invoice_key(invoice.id, number),
        amount=invoice.amount_due,
        currency=invoice.currency,
        description=f"Invoice {invoice.number}",
        payment_method=payment_method,
        off_session=off_session,
        invoice_id=invoice.id,
        subscription_id=subscription_id,
    )


def refund_attempt(
    charge: PaymentAttempt,
    *,
    amount: Decimal,
    at: datetime,
    lease: timedelta,
    reason: str,
) -> PaymentAttempt:
    """The refund of ``amount`` of a charge that succeeded (at most what it captured,
    less what was refunded already: the caller asks the gateway)."""
    if charge.kind is not AttemptKind.CHARGE or charge.state is not AttemptState.SUCCEEDED:
        raise InvalidTransition(
            f"attempt {charge.id!r} is not a charge that succeeded; only money taken can "
            "be refunded"
        )
    if charge.charge_id is None:
        raise InvalidTransition(
            f"attempt {charge.id!r} has no gateway reference to refund; look the charge "
            "up by its key first"
        )
    return _pending(
        at=at,
        lease=lease,
        kind=AttemptKind.REFUND,
        account_id=charge.account_id,
        number=1,
        idempotency_key=refund_key(charge.idempotency_key),
        amount=amount,
        currency=charge.currency,
        description=reason,
        refund_of=charge.idempotency_key,
        subscription_id=charge.subscription_id,
        charge_id=charge.charge_id,
    )


def charge_request(attempt: PaymentAttempt) -> ChargeRequest:
    """The request that sends ``attempt``: the same request, key included, every time."""
    if attempt.kind is not _CHARGE or attempt.payment_method is None:
        raise InvalidTransition(f"attempt {attempt.id!r} is not a charge with a payment method")
    return ChargeRequest(
        idempotency_key=attempt.idempotency_key,
        amount=attempt.money,
        payment_method=attempt.payment_method,
        description=attempt.description,
        off_session=attempt.off_session,
        account_id=attempt.account_id,
    )


def refund_request(attempt: PaymentAttempt) -> RefundRequest:
    if attempt.kind is not AttemptKind.REFUND or attempt.charge_id is None:
        raise InvalidTransition(f"attempt {attempt.id!r} is not a refund of a known charge")
    return RefundRequest(
        idempotency_key=attempt.idempotency_key,
        charge_id=attempt.charge_id,
        amount=attempt.money,
        reason=attempt.description or "refund",
    )


# -- transitions ---------------------------------------------------------------------


def _moved(attempt: PaymentAttempt, at: datetime, **changes: object) -> PaymentAttempt:
    """``attempt`` one version later, with ``changes``.

    A transition never changes what the validators check (the amount, what the
    attempt pays), so the copy is not checked again (:func:`._records.moved`): the
    bill run makes two transitions per renewal.
    """
    updated_at = at if at > attempt.updated_at else attempt.updated_at
    return moved(attempt, updated_at=updated_at, **changes)


def _check_open(attempt: PaymentAttempt, what: str) -> None:
    if not attempt.in_flight:
        raise InvalidTransition(
            f"payment attempt {attempt.id!r} is already {attempt.state.value}; {what} "
            "applies only to an attempt in flight"
        )


def with_result(attempt: PaymentAttempt, result: PaymentResult, *, at: datetime) -> PaymentAttempt:
    """The attempt once the gateway has answered (or told, when asked by key).

    A transient error means the gateway charged nothing: the attempt is resolved as
    ``not_charged``. For a refund, anything but a refund made is ``failed``.
    """
    _check_open(attempt, "a gateway result")
    status = result.status
    captured = None if result.amount is None else result.amount.amount
    reference = result.charge_id or attempt.charge_id
    if attempt.kind is _REFUND:
        if status in (PaymentStatus.REFUNDED, PaymentStatus.SUCCEEDED):
            return _moved(
                attempt,
                at,
                state=AttemptState.SUCCEEDED,
                captured=captured if captured is not None else attempt.amount,
                next_action=None,
            )
        return _moved(
            attempt,
            at,
            state=AttemptState.FAILED,
            decline_code=result.decline_code or status.value,
            message=result.message or "the gateway refused the refund",
        )
    if status is _CHARGED or status is _REFUNDED:
        # A charge refunded since still took the money first: it succeeded.
        return _moved(
            attempt,
            at,
            state=_SUCCEEDED,
            charge_id=reference,
            captured=captured if captured is not None else attempt.amount,
            next_action=None,
        )
    if status is PaymentStatus.REQUIRES_ACTION:
        if attempt.off_session:
            # Nobody is there to authenticate: the customer must pay on session.
            return _moved(
                attempt,
                at,
                state=AttemptState.DECLINED,
                charge_id=reference,
                decline_code=AUTHENTICATION_REQUIRED,
                message=result.message or "the bank asks the customer to authenticate",
            )
        return _moved(
            attempt,
            at,
            state=AttemptState.REQUIRES_ACTION,
            charge_id=reference,
            next_action=result.next_action,
        )
    if status is PaymentStatus.TRANSIENT_ERROR:
        return _moved(
            attempt,
            at,
            state=AttemptState.NOT_CHARGED,
            decline_code="transient_error",
            message=result.message or "the gateway failed before charging",
        )
    return _moved(
        attempt,
        at,
        state=AttemptState.DECLINED,
        charge_id=reference,
        decline_code=result.decline_code or "declined",
        message=result.message or "the payment was declined",
        next_action=None,
    )


def unknown(attempt: PaymentAttempt, *, at: datetime) -> PaymentAttempt:
    """Sent, and no answer came: the charge may have gone through."""
    _check_open(attempt, "an unanswered request")
    if attempt.state in (AttemptState.UNKNOWN, AttemptState.NEEDS_REVIEW):
        return attempt
    return _moved(attempt, at, state=AttemptState.UNKNOWN)


def order_failure(attempt: PaymentAttempt) -> OrderFailure:
    """Why an order fails with ``attempt`` resolved as it is: declined, or nothing
    charged (3-D Secure abandoned, or the gateway failing before it charged)."""
    if attempt.state is AttemptState.DECLINED:
        return OrderFailure.DECLINED
    if attempt.decline_code == "abandoned":
        return OrderFailure.ABANDONED
    return OrderFailure.NOT_CHARGED


def not_charged(
    attempt: PaymentAttempt, *, at: datetime, reason: str, code: str = "not_charged"
) -> PaymentAttempt:
    """Resolved: nothing was charged under this key (so a new attempt may follow).
    ``code`` says how it was known: ``not_charged`` (the gateway never received it,
    or it was never sent), ``abandoned`` (3-D Secure never completed)."""
    _check_open(attempt, "'not charged'")
    return _moved(
        attempt,
        at,
        state=AttemptState.NOT_CHARGED,
        decline_code=code,
        message=reason,
        next_action=None,
    )


def needing_review(attempt: PaymentAttempt, *, at: datetime) -> PaymentAttempt:
    """Unknown for too long: a person must look (no new attempt, no dunning)."""
    _check_open(attempt, "a review")
    return _moved(attempt, at, state=AttemptState.NEEDS_REVIEW)


def claimed(attempt: PaymentAttempt, *, at: datetime, lease: timedelta) -> PaymentAttempt:
    """Taken over by a process that will ask the gateway: a new lease."""
    _check_open(attempt, "a claim")
    return _moved(attempt, at, lease_until=at + lease)


def charged_late(attempt: PaymentAttempt, result: PaymentResult, *, at: datetime) -> PaymentAttempt:
    """A charge the gateway reports for an attempt already resolved as not charged
    (its request arrived after the gateway was asked, or 3-D Secure was completed
    after it was abandoned): it did take the money."""
    if attempt.kind is not AttemptKind.CHARGE or attempt.state is not AttemptState.NOT_CHARGED:
        raise InvalidTransition(
            f"payment attempt {attempt.id!r} is {attempt.state.value}; only a charge "
            "resolved as not charged can turn out charged later"
        )
    if result.status not in (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED):
        raise InvalidTransition(f"{result.status.value} is not a charge")
    return _moved(
        attempt,
        at,
        state=AttemptState.SUCCEEDED,
        charge_id=result.charge_id or attempt.charge_id,
        captured=attempt.amount if result.amount is None else result.amount.amount,
        next_action=None,
    )


def refund_reversed(
    attempt: PaymentAttempt, result: PaymentResult, *, at: datetime
) -> PaymentAttempt:
    """A refund the gateway reported made, and now reports failed (the card it went
    back to was closed, say): the money did not go back. The attempt is ``failed``,
    listed for someone to act, as a refund refused at once is."""
    if attempt.kind is not AttemptKind.REFUND or attempt.state is not AttemptState.SUCCEEDED:
        raise InvalidTransition(
            f"payment attempt {attempt.id!r} is not a refund that succeeded; only one can "
            "fail later"
        )
    if result.status in (PaymentStatus.REFUNDED, PaymentStatus.SUCCEEDED):
        raise InvalidTransition(f"{result.status.value} is not a failed refund")
    return _moved(
        attempt,
        at,
        state=AttemptState.FAILED,
        decline_code=result.decline_code or "refund_failed",
        message=result.message or "the gateway reports the refund failed after it was made",
    )


def refundable(result: PaymentResult, fallback: Decimal) -> Decimal:
    """What is left to refund of a charge, by the gateway's own figures: what it
    captured less what it refunded already (``fallback`` when it does not say)."""
    captured = fallback if result.amount is None else result.amount.amount
    refunded = Decimal(0) if result.amount_refunded is None else result.amount_refunded.amount
    return max(EXACT.subtract(captured, refunded), Decimal(0))
