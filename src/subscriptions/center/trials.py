"""Free trials: starting one, and expiring those that ended (under the ``expire``
trial policy; under ``convert`` the bill run converts them)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ..accounts import Account
from ..inputs import callback, identifier
from ..messages import Notice, TrialExpiry
from ..periods import Frequency
from ..subscription import StartTrial, Status, Subscription, Terms, TrialEnd
from ..transitions import advance, apply, next_due
from .base import Center, notice

__all__ = [
    "expire_trials",
    "expired_message",
    "start_trial",
    "terms_of",
]


def start_trial(
    center: Center,
    account_id: str,
    user: str,
    product: str,
    *,
    plan: str | None = None,
    seats: int = 1,
    frequency: Frequency | str | None = None,
) -> Subscription:
    """Start a free trial of ``product`` (corporate accounts may trial too)."""
    identifier(user, what="user id")
    terms = terms_of(center, product, plan, seats, frequency)
    with center.store.unit_of_work() as uow:
        account = center.load_account(uow, account_id)
        existing = uow.subscriptions.get(center.subscription_id(account_id)(product))
        outcome = apply(
            existing,
            StartTrial(terms=terms),
            at=center.now(),
            context=center.context(account),
            subscription_id=center.subscription_id(account_id)(product),
            account_id=account_id,
        )
        uow.subscriptions.add(outcome.subscription)
        center.record(uow, account_id, outcome.events)
        uow.commit()
    return outcome.subscription


def terms_of(
    center: Center,
    product: str,
    plan: str | None,
    seats: int,
    frequency: Frequency | str | None,
    currency: str | None = None,
) -> Terms:
    offering = center.catalog.product(product)
    if plan is None:
        plan = min(offering.plans, key=lambda p: p.rank).id
    chosen = offering.plan(plan)
    if frequency is None:
        options = [
            price.frequency
            for price in chosen.prices
            if currency is None or price.currency == currency
        ]
        frequency = Frequency.MONTHLY if Frequency.MONTHLY in options else options[0]
    return Terms(product=product, plan=plan, seats=seats, frequency=frequency)


def expire_trials(
    center: Center, at: datetime | None = None, *, stop: Callable[[], bool] | None = None
) -> int:
    """Expire every trial whose end is due at ``at`` (default: now; never later
    than now). Nothing is ever charged. Under the ``convert`` trial policy trials
    are converted, and charged, by :meth:`run_renewals` instead. ``stop()``, when
    it says so, ends the job between two trials."""
    callback(stop, what="stop")
    at = center.until(at, what="expiring trials")
    if center.policy.trial_end is TrialEnd.CONVERT:
        return 0
    expired = 0
    after: str | None = None
    while True:
        with center.store.unit_of_work() as uow:
            ids = uow.subscriptions.due(at, limit=center.settings.batch_size, after=after)
        if not ids:
            return expired
        after = ids[-1]
        for sub_id in ids:
            if stop is not None and stop():
                center.deliver_after_commit()
                return expired
            with center.store.unit_of_work() as uow:
                sub = uow.subscriptions.get(sub_id)
                if sub is None or sub.status is not Status.TRIALING:
                    continue
                due = next_due(sub)
                if due is None or due > at or sub.account_id is None:
                    continue
                account = center.load_account(uow, sub.account_id)
                outcome = advance(sub, context=center.context(account))
                uow.subscriptions.update(outcome.subscription)
                center.record(uow, account.id, outcome.events)
                center.post(uow, expired_message(center, account, sub, due))
                uow.commit()
                expired += 1
        center.deliver_after_commit()


def expired_message(center: Center, account: Account, sub: Subscription, at: datetime) -> Notice:
    return notice(
        account,
        TrialExpiry(
            account_name=account.name,
            locale=account.locale,
            timezone=account.timezone,
            product_name=center.catalog.product(sub.product).name,
            expired_at=at,
        ),
    )
