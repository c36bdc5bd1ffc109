"""A subscription's own changes outside the cart: cancelling (at the end of the term,
or now with a credit) and reactivating."""

from __future__ import annotations

from .._records import revised
from ..accounts import require_self_service
from ..errors import NotFound, PaymentInProgress
from ..orders import COLLECTIBLE, Draft
from ..pricing import apply_credit
from ..subscription import Cancel, CancelTiming, Reactivate, Subscription
from ..transitions import apply
from .attempts import lapse_now
from .base import Center
from .issuing import corrected, issue

__all__ = [
    "cancel",
    "reactivate",
]


def cancel(
    center: Center,
    account_id: str,
    user: str,
    product: str,
    *,
    timing: CancelTiming | str = CancelTiming.END_OF_TERM,
) -> Subscription:
    """Cancel at the end of the term (default), or immediately with a credit for
    the unused time (added to the credit balance, not refunded)."""
    timing = CancelTiming.parse(timing, what="cancel timing")
    with center.store.unit_of_work() as uow:
        account = center.load_account(uow, account_id)
        require_self_service(account, user, "cancel subscriptions")
        sub = center.find_subscription(uow, account_id, product)
        now = center.now()
        if sub.dunning is not None:
            # Its last period was never paid: it ends where the paid one did, the
            # unpaid invoice is voided, and no credit is due.
            unpaid = uow.invoices.get(sub.dunning.invoice_id)
            if unpaid is None:
                raise NotFound(f"the unpaid invoice of {product!r} is not stored")
            if unpaid.status not in COLLECTIBLE:
                running = uow.attempts.in_flight(f"invoice:{unpaid.id}")
                raise PaymentInProgress(
                    f"invoice:{unpaid.id}", None if running is None else running.id
                )
            lapsed = lapse_now(center, uow, sub, unpaid, at=now)
            uow.commit()
            center.deliver_after_commit()
            return lapsed
        center.catch_up(sub, now)
        outcome = apply(sub, Cancel(timing=timing), at=now, context=center.context(account))
        if outcome.subscription is sub:
            return sub  # already set to cancel at the end of its term
        uow.subscriptions.update(outcome.subscription)
        center.record(uow, account_id, outcome.events)
        if outcome.invoice is not None:
            settled, balance = apply_credit(outcome.invoice, account.credit_balance)
            account = revised(account, credit_balance=balance)
            uow.accounts.update(account)
            issue(
                center,
                uow,
                [
                    Draft(
                        account=account,
                        invoice=settled,
                        corrects=corrected(uow, account.id, settled.lines),
                    )
                ],
            )
        uow.commit()
    return outcome.subscription


def reactivate(center: Center, account_id: str, user: str, product: str) -> Subscription:
    """Undo a cancellation scheduled for the end of the term."""
    with center.store.unit_of_work() as uow:
        account = center.load_account(uow, account_id)
        require_self_service(account, user, "reactivate subscriptions")
        sub = center.find_subscription(uow, account_id, product)
        now = center.now()
        center.catch_up(sub, now)
        outcome = apply(sub, Reactivate(), at=now, context=center.context(account))
        uow.subscriptions.update(outcome.subscription)
        center.record(uow, account_id, outcome.events)
        uow.commit()
    return outcome.subscription
