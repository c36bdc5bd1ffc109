"""What a bill run would do, from the book as it stands: a projection that reads a page
of subscriptions at a time and writes nothing (``subscriptions renew --dry-run``).

Each subscription is projected by the pure core (:func:`subscriptions.projection.project`)
in the billing context the bill run would use, its account's credit balance spent by
its invoices in turn, so that the projection and the run differ only in what a card
says.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import attrs

from ..inputs import optional_identifier
from ..periods import ensure_aware
from ..projection import ProjectedStep, project, totals
from ..subscription import BillingContext
from .base import Center

__all__ = ["RenewalPreview", "preview_renewals"]

_PAGE = 500


@attrs.frozen(kw_only=True)
class RenewalPreview:
    """The steps a bill run up to ``until`` would take, in subscription order, and what
    they would charge per currency (never summed across currencies)."""

    until: datetime
    steps: tuple[ProjectedStep, ...] = ()
    charged: dict[str, Decimal] = attrs.field(factory=dict)


def preview_renewals(
    center: Center, until: datetime | None = None, *, account_id: str | None = None
) -> RenewalPreview:
    """What :meth:`run_renewals` would invoice, retry and cancel up to ``until``
    (default: now; a later instant projects the months ahead), for every account or
    only ``account_id``'s. Pure over the stored book: nothing is written, charged or
    sent."""
    optional_identifier(account_id, what="account id")
    now = center.now()
    at = now if until is None else ensure_aware(until, what="until")
    contexts: dict[tuple[object, ...], BillingContext] = {}
    credit: dict[str, Decimal] = {}
    steps: list[ProjectedStep] = []
    after: str | None = None
    while True:
        with center.store.unit_of_work() as uow:
            if account_id is not None:
                center.load_account(uow, account_id)
                page = uow.subscriptions.for_account(account_id)
            else:
                page = uow.subscriptions.page(after=after, limit=_PAGE)
            owners = sorted({s.account_id for s in page if s.account_id is not None})
            accounts = uow.accounts.get_many(owners)
            unpaid = uow.invoices.get_many(
                [s.dunning.invoice_id for s in page if s.dunning is not None]
            )
        for sub in page:
            account = accounts.get(sub.account_id or "")
            if account is None:
                continue
            balance = credit.get(account.id, account.credit_balance)
            collecting = None if sub.dunning is None else unpaid.get(sub.dunning.invoice_id)
            projected = project(
                sub,
                context=center.shared_context(account, contexts),
                until=at,
                credit=balance,
                unpaid=None if collecting is None else collecting.amount_due,
                issued_from=now,
            )
            credit[account.id] = projected.credit
            steps.extend(projected.steps)
        if account_id is not None or len(page) < _PAGE:
            break
        after = page[-1].id
    return RenewalPreview(until=at, steps=tuple(steps), charged=totals(steps))
