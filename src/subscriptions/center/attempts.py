"""Sending a payment attempt and recording what came of it: the one path of every
charge and refund, whoever makes it (an order, a customer paying an invoice, the bill
run, reconcile).

The attempt is committed before :func:`send` is called (by the use case that makes
it). :func:`record` then commits its outcome together with everything it decides: an
order completed or failed, an invoice paid, due again or failed with its retry
scheduled, a subscription recovered or lapsed, a refund to make. Recording reads the
attempt again first, so a process that finds it already resolved by another (a
concurrent completion, a reconcile) takes that for the answer and changes nothing:
a concurrent completion is never a reason to refund. A result that arrives for an
attempt already resolved as "not charged" is still recorded: the invoice is paid with
it if it is still unpaid, and the money is refunded otherwise.

If the store fails while recording, the attempt stays in flight and
:class:`~subscriptions.errors.PaymentNotRecorded` says so: reconcile, or a retry
with the same idempotency key, records the outcome later by asking the gateway.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import attrs
from moneyed import Money

from .. import collection, payments
from .._records import quick_init, revised
from ..accounts import Account
from ..errors import (
    ConcurrencyConflict,
    GatewayMisconfigured,
    GatewayUnavailable,
    NotFound,
    PaymentNotRecorded,
    SubscriptionsError,
)
from ..messages import Notice, PaymentFailure, SubscriptionLapse
from ..money import money_currency
from ..orders import DONE, Draft, InvoiceStatus, IssuedInvoice, Order, OrderState, order_moved
from ..payments import AttemptKind, AttemptState, PaymentAttempt, PaymentResult, PaymentStatus
from ..ports import UnitOfWork
from ..subscription import Event, EventKind, Status, Subscription
from . import issuing, purchase
from .base import Center, notice
from .refunds import refund_due

__all__ = [
    "Settled",
    "apply",
    "ask",
    "collecting",
    "confirm",
    "finish",
    "lapse_now",
    "record",
    "send",
    "send_and_record",
    "send_patiently",
    "sent",
]

# Members read on the renewal's path, bound once (see Choice).
_REFUND, _SUCCEEDED = AttemptKind.REFUND, AttemptState.SUCCEEDED
_TRANSIENT = PaymentStatus.TRANSIENT_ERROR

#: How many times recording an outcome is tried again after a conflict.
_RECORD_TRIES = 5
_LOAD: Any = object()
#: How long after its making an attempt may be sent again under its key: well within
#: the shortest time a gateway keeps idempotency keys (Stripe: 24 hours).
RESEND_WITHIN = timedelta(hours=12)
#: How an attempt the gateway refused for its set-up is resolved (nothing charged).
MISCONFIGURED = "gateway_misconfigured"


# -- talking to the gateway ------------------------------------------------------------


def send(center: Center, attempt: PaymentAttempt) -> PaymentResult | None:
    """Send ``attempt`` once; ``None`` when the gateway did not answer (the outcome is
    unknown). A refund the gateway refuses comes back as a declined result."""
    gateway = center.gateway
    refund = attempt.kind is _REFUND
    try:
        if refund:
            return gateway.refund(payments.refund_request(attempt))
        return gateway.charge(payments.charge_request(attempt))
    except GatewayUnavailable:
        return None
    except GatewayMisconfigured:
        raise
    except SubscriptionsError as exc:
        if not refund:
            raise
        return PaymentResult(
            status=PaymentStatus.DECLINED, decline_code="refund_refused", message=str(exc)
        )


def send_and_record(center: Center, attempt: PaymentAttempt) -> Settled:
    """Send ``attempt`` once and record its outcome. A gateway refusing its own set-up
    (:class:`~subscriptions.errors.GatewayMisconfigured`) charged nothing: the attempt
    is recorded as not charged, and the error goes to the caller, to fix the setting.

    An attempt made longer ago than :data:`RESEND_WITHIN` is not sent again: a gateway
    may have forgotten its key by then (Stripe keeps keys for 24 hours), and the same
    request would be a new charge. The gateway is asked instead, as reconcile does."""
    if center.now() - attempt.created_at > RESEND_WITHIN:
        answer = ask(center, attempt)
        if not answer.known:
            return Settled(attempt=attempt)
        reason = None if answer.result is not None else "the gateway never received it"
        return record(center, attempt, answer.result, not_charged=reason)
    try:
        result = send(center, attempt)
    except GatewayMisconfigured as exc:
        record(center, attempt, None, not_charged=str(exc), code=MISCONFIGURED)
        raise
    return record(center, attempt, result)


def send_patiently(
    center: Center, attempt: PaymentAttempt, stop: Callable[[], bool] | None = None
) -> PaymentResult | None:
    """:func:`send`, retried with backoff under the same key while the gateway fails
    before charging or does not answer (``Settings.gateway_retries`` times)."""
    settings = center.settings
    delay = settings.gateway_backoff.total_seconds()
    for tried in range(settings.gateway_retries + 1):
        result = send(center, attempt)
        if result is not None and result.status is not _TRANSIENT:
            return result
        if tried == settings.gateway_retries or (stop is not None and stop()):
            return result
        center.sleep(delay)
        delay *= 2
    return None  # pragma: no cover - the loop returns


@attrs.frozen(weakref_slot=False)
class Answer:
    """What the gateway said when asked about a key: ``known`` is false when it could
    not be asked; ``result`` is ``None`` when it never received the key."""

    known: bool
    result: PaymentResult | None


def ask(center: Center, attempt: PaymentAttempt) -> Answer:
    try:
        return Answer(True, center.gateway.lookup(attempt.idempotency_key, request=sent(attempt)))
    except GatewayUnavailable:
        return Answer(False, None)


def sent(attempt: PaymentAttempt) -> payments.ChargeRequest | payments.RefundRequest | None:
    """The request ``attempt`` sends, when its record can rebuild it (an attempt healed
    from an old book may lack its payment method or gateway reference)."""
    if attempt.kind is AttemptKind.REFUND:
        return None if attempt.charge_id is None else payments.refund_request(attempt)
    return None if attempt.payment_method is None else payments.charge_request(attempt)


def confirm(center: Center, attempt: PaymentAttempt) -> Settled | None:
    """Ask the gateway about ``attempt``, waiting for the customer's 3-D Secure, and
    record its answer; ``None`` (nothing recorded) while it is still waiting or the
    gateway cannot be asked."""
    answer = ask(center, attempt)
    result = answer.result
    if not answer.known or (result is not None and result.status is PaymentStatus.REQUIRES_ACTION):
        return None
    reason = None if result is not None else "the gateway has no record of the charge"
    return record(center, attempt, result, not_charged=reason)


# -- recording outcomes ----------------------------------------------------------------


@quick_init
@attrs.frozen(kw_only=True, weakref_slot=False)
class Settled:
    """An attempt's outcome as recorded, and what it did.

    ``refund`` is a refund recorded with it, to send once committed; ``recovered`` and
    ``lapsed`` say what happened to a subscription being collected.
    """

    attempt: PaymentAttempt
    order: Order | None = None
    invoice: IssuedInvoice | None = None
    refund: PaymentAttempt | None = None
    recovered: bool = False
    lapsed: bool = False


def apply(
    center: Center,
    uow: UnitOfWork,
    attempt: PaymentAttempt,
    result: PaymentResult | None,
    *,
    at: datetime,
    not_charged: str | None = None,
    code: str = "not_charged",
    invoice: IssuedInvoice | None = None,
    subscription: Any = _LOAD,
    account: Account | None = None,
) -> Settled:
    """Record in ``uow`` the outcome of ``attempt`` as stored: the gateway's
    ``result``; or, when it is ``None``, no answer (still unknown), unless
    ``not_charged`` says why nothing was charged (``code``: how that is known).

    The bill run passes the ``invoice``, ``subscription`` and ``account`` it holds.
    """
    if attempt.kind is _REFUND:
        return _apply_refund(center, uow, attempt, result, at=at, not_charged=not_charged)
    miss = None if not_charged is None else (not_charged, code)
    if attempt.order_id is not None:
        return _apply_order(center, uow, attempt, result, at=at, not_charged=miss)
    return _apply_invoice(
        center,
        uow,
        attempt,
        result,
        at=at,
        not_charged=miss,
        invoice=invoice,
        subscription=subscription,
        account=account,
    )


def record(
    center: Center,
    attempt: PaymentAttempt,
    result: PaymentResult | None,
    *,
    not_charged: str | None = None,
    code: str = "not_charged",
) -> Settled:
    """Record the outcome of ``attempt`` in a unit of work of its own (read afresh, and
    tried again after a conflict), then send the refund it calls for, if any."""
    settled: Settled | None = None
    for tried in range(_RECORD_TRIES):
        try:
            with center.store.unit_of_work() as uow:
                current = uow.attempts.get(attempt.id)
                if current is None:
                    raise NotFound(f"payment attempt {attempt.id!r} is not stored")
                settled = apply(
                    center,
                    uow,
                    current,
                    result,
                    at=center.now(),
                    not_charged=not_charged,
                    code=code,
                )
                uow.commit()
            break
        except ConcurrencyConflict as exc:
            # Someone else wrote meanwhile: read again (a resolution by another
            # process is then seen as such).
            if tried == _RECORD_TRIES - 1:
                raise PaymentNotRecorded(attempt.idempotency_key, cause=exc) from exc
        except SubscriptionsError as exc:
            raise PaymentNotRecorded(attempt.idempotency_key, cause=exc) from exc
    assert settled is not None
    return finish(center, settled)


def finish(center: Center, settled: Settled) -> Settled:
    """What follows a committed outcome: the refund it recorded is sent (and its own
    outcome recorded), and the messages are delivered."""
    if settled.refund is not None and settled.refund.state is AttemptState.PENDING:
        refunded = send(center, settled.refund)
        record(center, settled.refund, refunded)
        settled = attrs.evolve(settled, order=_order_now(center, settled.order))
    center.deliver_after_commit()
    return settled


def _order_now(center: Center, order: Order | None) -> Order | None:
    if order is None:
        return None
    with center.store.unit_of_work() as uow:
        return uow.orders.get(order.id) or order


def _resolved(
    attempt: PaymentAttempt,
    result: PaymentResult | None,
    not_charged: tuple[str, str] | None,
    at: datetime,
) -> PaymentAttempt:
    if not_charged is not None:
        reason, code = not_charged
        return payments.not_charged(attempt, at=at, reason=reason, code=code)
    if result is None:
        return payments.unknown(attempt, at=at)
    return payments.with_result(attempt, result, at=at)


def _charged(result: PaymentResult | None) -> bool:
    return result is not None and result.status in (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED)


def _late(
    uow: UnitOfWork, attempt: PaymentAttempt, result: PaymentResult | None, at: datetime
) -> PaymentAttempt | None:
    """The attempt charged after all, when it had been resolved as not charged;
    ``None`` when there is nothing new to record (a repeated or stale answer)."""
    if attempt.state is not AttemptState.NOT_CHARGED or not _charged(result):
        return None
    assert result is not None
    late = payments.charged_late(attempt, result, at=at)
    uow.attempts.update(late)
    return late


# -- orders ---------------------------------------------------------------------------


def _apply_order(
    center: Center,
    uow: UnitOfWork,
    attempt: PaymentAttempt,
    result: PaymentResult | None,
    *,
    at: datetime,
    not_charged: tuple[str, str] | None,
) -> Settled:
    assert attempt.order_id is not None
    order = uow.orders.get(attempt.order_id)
    if order is None:
        raise NotFound(f"attempt {attempt.id!r} pays order {attempt.order_id!r}, not stored")
    if not attempt.in_flight:
        late = _late(uow, attempt, result, at)
        if late is None:
            return Settled(attempt=attempt, order=order)
        # The order was failed when nothing seemed charged: it cannot take the money.
        refund = refund_due(
            center,
            uow,
            late,
            result,
            reason=f"order {order.id} had failed when its payment came in",
            at=at,
        )
        return Settled(attempt=late, order=order, refund=refund)
    done = _resolved(attempt, result, not_charged, at)
    if done is not attempt:
        uow.attempts.update(done)
    state = done.state
    if state is AttemptState.SUCCEEDED:
        completed, refund = purchase.complete(center, uow, order, done, result, at=at)
        return Settled(attempt=done, order=completed, refund=refund)
    if state in (AttemptState.UNKNOWN, AttemptState.NEEDS_REVIEW):
        if order.state is not OrderState.UNKNOWN:
            order = order_moved(order, OrderState.UNKNOWN, at=at)
            uow.orders.update(order)
        return Settled(attempt=done, order=order)
    if state is AttemptState.REQUIRES_ACTION:
        waiting = order_moved(
            order,
            OrderState.REQUIRES_ACTION,
            at=at,
            charge_id=done.charge_id,
            next_action=done.next_action,
        )
        uow.orders.update(waiting)
        return Settled(attempt=done, order=waiting)
    failed = purchase.fail(
        center,
        uow,
        order,
        at=at,
        failure=payments.order_failure(done),
        code=done.decline_code or state.value,
        message=done.message or "the payment did not go through",
        charge_id=done.charge_id,
        next_action=None,
    )
    return Settled(attempt=done, order=failed)


# -- refunds --------------------------------------------------------------------------


def _apply_refund(
    center: Center,
    uow: UnitOfWork,
    attempt: PaymentAttempt,
    result: PaymentResult | None,
    *,
    at: datetime,
    not_charged: str | None,
) -> Settled:
    # A refund is never resolved as "not charged": one the gateway never received is
    # sent again under its key (reconcile does), so ``not_charged`` leaves it as it is.
    if not attempt.in_flight or (result is None and not_charged is not None):
        return Settled(attempt=attempt)
    done = _resolved(attempt, result, None, at)
    if done is not attempt:
        uow.attempts.update(done)
    charge = uow.attempts.get(attempt.refund_of or "")
    order = None
    if charge is not None and charge.order_id is not None:
        order = uow.orders.get(charge.order_id)
    if done.state is AttemptState.SUCCEEDED:
        kind = EventKind.ORDER_REFUNDED if order is not None else EventKind.PAYMENT_REFUNDED
        center.record(
            uow,
            attempt.account_id,
            [
                Event(
                    kind=kind,
                    at=at,
                    payment_key=attempt.idempotency_key,
                    amount=Money(done.amount, money_currency(done.currency)),
                )
            ],
        )
        if order is not None and order.refund_id is None:
            reference = None if result is None else result.charge_id
            order = order_moved(order, order.state, at=at, refund_id=reference or attempt.id)
            uow.orders.update(order)
    elif done.state is AttemptState.FAILED:
        center.record(
            uow,
            attempt.account_id,
            [
                Event(
                    kind=EventKind.REFUND_FAILED,
                    at=at,
                    payment_key=attempt.idempotency_key,
                    note=done.message or "",
                )
            ],
        )
    return Settled(attempt=done, order=order)


# -- invoices -------------------------------------------------------------------------


def _apply_invoice(
    center: Center,
    uow: UnitOfWork,
    attempt: PaymentAttempt,
    result: PaymentResult | None,
    *,
    at: datetime,
    not_charged: tuple[str, str] | None,
    invoice: IssuedInvoice | None,
    subscription: Any,
    account: Account | None,
) -> Settled:
    assert attempt.invoice_id is not None
    if invoice is None:
        invoice = uow.invoices.get(attempt.invoice_id)
        if invoice is None:
            raise NotFound(
                f"attempt {attempt.id!r} pays invoice {attempt.invoice_id!r}, not stored"
            )
    sub: Subscription | None = (
        _collected_subscription(uow, attempt) if subscription is _LOAD else subscription
    )
    if not attempt.in_flight:
        late = _late(uow, attempt, result, at)
        if late is None:
            return Settled(attempt=attempt, invoice=invoice)
        done = late
    else:
        done = _resolved(attempt, result, not_charged, at)
        if done is not attempt:
            uow.attempts.update(done)
    state = done.state
    scheduled = attempt.off_session
    settled_already = invoice.status in DONE
    if state is _SUCCEEDED:
        if settled_already:
            refund = refund_due(
                center,
                uow,
                done,
                result,
                reason=f"invoice {invoice.number} was already {invoice.status.value} when "
                "this payment of it came in",
                at=at,
            )
            return Settled(attempt=done, invoice=invoice, refund=refund)
        collected = collection.charged(invoice, sub, at=at)
        _write(center, uow, invoice, collected, attempt.account_id)
        _keep_saved_card(center, uow, result, attempt.account_id, account)
        recovered = sub is not None and sub.status is Status.PAST_DUE
        return Settled(
            attempt=done,
            invoice=collected.invoice,
            recovered=recovered and collected.subscription is not None,
        )
    if state in (AttemptState.UNKNOWN, AttemptState.NEEDS_REVIEW) or settled_already:
        # Nothing to collect any more (paid by another attempt, or voided): only the
        # attempt's own outcome is recorded.
        return Settled(attempt=done, invoice=invoice)
    if state is AttemptState.REQUIRES_ACTION:
        waiting = collection.action_required(invoice)
        if waiting is not invoice:
            uow.invoices.set_status(waiting)
        return Settled(attempt=done, invoice=waiting)
    if state is AttemptState.DECLINED:
        collected = collection.declined(
            invoice,
            sub,
            at=at,
            code=done.decline_code or "declined",
            retry_days=center.settings.retry_days,
            scheduled=scheduled,
        )
    else:
        collected = collection.uncharged(invoice, sub, at=at, scheduled=scheduled)
    _write(center, uow, invoice, collected, attempt.account_id)
    if state is AttemptState.DECLINED and scheduled and collected.subscription is not None:
        if collected.lapses:
            lapse_now(center, uow, collected.subscription, collected.invoice, at=at)
            return Settled(attempt=done, invoice=collected.invoice, lapsed=True)
        if account is None:
            account = center.load_account(uow, attempt.account_id)
        center.post(
            uow,
            _payment_failed(
                center,
                account,
                collected,
                at,
                authenticate=done.decline_code == payments.AUTHENTICATION_REQUIRED,
            ),
        )
    return Settled(attempt=done, invoice=collected.invoice)


def _keep_saved_card(
    center: Center,
    uow: UnitOfWork,
    result: PaymentResult | None,
    account_id: str,
    account: Account | None,
) -> None:
    """The payment method a gateway saved while the customer paid on session becomes
    the account's, for the renewals."""
    saved = None if result is None else result.payment_method
    if saved is None:
        return
    if account is None:
        account = center.load_account(uow, account_id)
    if account.payment_method != saved:
        uow.accounts.update(revised(account, payment_method=saved))


def _collected_subscription(uow: UnitOfWork, attempt: PaymentAttempt) -> Subscription | None:
    """The subscription an invoice attempt collects for: the bill run's own, or the
    one whose collection holds the invoice."""
    if attempt.subscription_id is not None:
        return uow.subscriptions.get(attempt.subscription_id)
    assert attempt.invoice_id is not None
    return collecting(uow, attempt.account_id, attempt.invoice_id)


def collecting(uow: UnitOfWork, account_id: str, invoice_id: str) -> Subscription | None:
    """The subscription of ``account_id`` whose collection (dunning) holds the unpaid
    ``invoice_id``, if any."""
    for sub in uow.subscriptions.for_account(account_id):
        if sub.dunning is not None and sub.dunning.invoice_id == invoice_id:
            return sub
    return None


def _write(
    center: Center,
    uow: UnitOfWork,
    before: IssuedInvoice,
    collected: collection.Collected,
    account_id: str,
) -> None:
    if collected.invoice is not before:
        uow.invoices.set_status(collected.invoice)
    if collected.subscription is not None:
        uow.subscriptions.update(collected.subscription)
    if collected.events:
        center.record(uow, account_id, collected.events)


def _payment_failed(
    center: Center,
    account: Account,
    collected: collection.Collected,
    at: datetime,
    *,
    authenticate: bool = False,
) -> Notice:
    sub = collected.subscription
    assert sub is not None
    invoice = collected.invoice
    return notice(
        account,
        PaymentFailure(
            account_name=account.name,
            locale=account.locale,
            timezone=account.timezone,
            product_name=center.catalog.product(sub.product).name,
            currency=invoice.currency,
            amount=invoice.amount_due,
            failed_at=at,
            next_retry_at=collected.retry_at,
            ends_at=collected.ends_at,
            authenticate=authenticate,
        ),
    )


def lapse_now(
    center: Center,
    uow: UnitOfWork,
    sub: Subscription,
    invoice: IssuedInvoice,
    *,
    at: datetime,
) -> Subscription:
    """End ``sub`` at the end of its paid period, in ``uow``: the unpaid ``invoice`` is
    voided by a credit note that corrects it, and the credit balance it used comes
    back; a message tells the billing contacts."""
    lapse = collection.lapse(sub, invoice, at=at)
    account = center.load_account(uow, sub.account_id or invoice.account_id)
    if lapse.voided is not None:
        uow.invoices.set_status(lapse.voided)
    if lapse.credit_back > 0:
        account = revised(account, credit_balance=account.credit_balance + lapse.credit_back)
        uow.accounts.update(account)
    uow.subscriptions.update(lapse.subscription)
    center.record(uow, account.id, lapse.events)
    center.post(
        uow,
        notice(
            account,
            SubscriptionLapse(
                account_name=account.name,
                locale=account.locale,
                timezone=account.timezone,
                product_name=center.catalog.product(sub.product).name,
                plan_name=center.catalog.plan(sub.product, sub.terms.plan).name,
                ended_at=lapse.subscription.canceled_at or at,
            ),
        ),
    )
    if lapse.reversal is not None:
        issuing.issue(
            center,
            uow,
            [
                Draft(
                    account=account,
                    invoice=lapse.reversal,
                    status=InvoiceStatus.SETTLED,
                    corrects=(invoice.number,),
                )
            ],
        )
    return lapse.subscription
