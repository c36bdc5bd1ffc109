"""Refunds: money given back is an attempt on record too, made only for a charge that
succeeded and cannot be kept, for what the gateway says it captured.

A refund is never made because of a conflict with a concurrent completion of the same
order (that completion is the one that keeps the money); only when the order cannot be
completed (its quote expired, the subscriptions it priced moved on), or when an
invoice was paid twice or voided before a late payment of it came in.
"""

from __future__ import annotations

from datetime import datetime

from .. import payments
from ..payments import PaymentAttempt, PaymentResult
from ..ports import UnitOfWork
from .base import Center

__all__ = ["refund_due"]


def refund_due(
    center: Center,
    uow: UnitOfWork,
    charge: PaymentAttempt,
    result: PaymentResult | None,
    *,
    reason: str,
    at: datetime,
) -> PaymentAttempt | None:
    """Record, in ``uow``, the refund of the charge ``charge`` (which succeeded), for
    what the gateway reports captured and not yet refunded (``result``, when it said);
    the caller sends it once ``uow`` is committed. ``None`` when nothing is left to
    give back; the refund already in flight when there is one."""
    fallback = charge.captured if charge.captured is not None else charge.amount
    amount = fallback if result is None else payments.refundable(result, fallback)
    if amount <= 0:
        return None
    known = uow.attempts.get(payments.refund_key(charge.idempotency_key))
    if known is not None:
        # Being refunded already; or refunded (or refused) once: then a person
        # decides what happens next.
        return known if known.in_flight else None
    refund = payments.refund_attempt(
        charge,
        amount=amount,
        at=at,
        lease=center.settings.reconcile_after,
        reason=reason,
    )
    uow.attempts.add(refund)
    return refund
