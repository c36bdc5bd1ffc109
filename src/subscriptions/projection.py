"""What the bill run would do, projected from the book as it stands: pure, writing
nothing and charging nothing.

:func:`project` takes one subscription, its billing context and the account's credit
balance, and steps it forward (:func:`~subscriptions.transitions.advance`, the
transition the bill run takes) through every automatic step due up to an instant: each
renewal or trial conversion it would invoice, with the credit the account has applied
first, each end-of-term cancellation and trial expiry it would take. A subscription
being collected (dunning) is projected as the retry of its unpaid invoice and nothing
after it: whether it recovers or lapses depends on the card.

>>> from datetime import datetime, timezone
>>> from decimal import Decimal
>>> from subscriptions.catalog import Catalog, Plan, Price, Product
>>> from subscriptions.subscription import BillingContext, Subscribe, Terms
>>> from subscriptions.transitions import apply
>>> catalog = Catalog(products=[Product(id="app", name="App", plans=[Plan(
...     id="basic", name="Basic", rank=1,
...     prices=[Price(currency="EUR", frequency="monthly", amount="10.00")])])])
>>> context = BillingContext(catalog=catalog, currency="EUR", tz="UTC")
>>> start = datetime(2026, 1, 1, tzinfo=timezone.utc)
>>> sub = apply(None, Subscribe(terms=Terms(product="app", plan="basic", seats=2,
...     frequency="monthly")), at=start, context=context, subscription_id="s1").subscription
>>> projected = project(sub, context=context, until=datetime(2026, 3, 15, tzinfo=timezone.utc),
...     credit=Decimal("5.00"))
>>> [(s.kind.value, s.at.date().isoformat(), str(s.amount_due)) for s in projected.steps]
[('renewal', '2026-02-01', '15.00'), ('renewal', '2026-03-01', '20.00')]
>>> projected.credit
Decimal('0.00')
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from decimal import Decimal

import attrs

from ._enum import Choice
from .collection import due_at
from .display import Pairs, Section, view_zone
from .errors import InvalidInput
from .money import EXACT, to_money
from .periods import ensure_aware
from .pricing import Invoice, apply_credit
from .subscription import BillingContext, Status, Subscription
from .transitions import advance

__all__ = [
    "Projected",
    "ProjectedStep",
    "StepKind",
    "charged_totals",
    "project",
    "steps_section",
    "totals",
]

#: The most steps projected for one subscription (fifty years of a monthly plan): a
#: projection further ahead is refused rather than cut short.
MAX_STEPS = 600


class StepKind(Choice):
    RENEWAL = "renewal"
    TRIAL_CONVERSION = "trial_conversion"
    TRIAL_EXPIRY = "trial_expiry"
    CANCELLATION = "cancellation"
    #: Another attempt at the unpaid invoice of a subscription in dunning.
    RETRY = "retry"


@attrs.frozen(kw_only=True, weakref_slot=False)
class ProjectedStep:
    """One step the bill run would take: ``at`` when it is due; ``invoice`` the invoice
    it would issue (``None`` for a cancellation, a trial expiry or a retry, whose
    ``amount_due`` is the unpaid invoice's); ``amount_due`` after the account's credit."""

    subscription_id: str
    account_id: str | None
    product: str
    plan: str
    kind: StepKind
    at: datetime
    #: The account's time zone, for showing ``at`` as a local date.
    timezone: str
    currency: str
    amount_due: Decimal
    invoice: Invoice | None = None
    invoice_id: str | None = None


@attrs.frozen(weakref_slot=False)
class Projected:
    """A subscription's projected ``steps``, and the account's ``credit`` left after
    them."""

    steps: tuple[ProjectedStep, ...]
    credit: Decimal


def project(
    sub: Subscription,
    *,
    context: BillingContext,
    until: datetime,
    credit: Decimal = Decimal(0),
    unpaid: Decimal | None = None,
    issued_from: datetime | None = None,
) -> Projected:
    """The steps the bill run would take for ``sub`` up to ``until`` (see the module).
    ``credit`` is the account's credit balance, spent (or, by a credit note, added
    to) by the invoices in turn, as the bill run does; ``unpaid`` the amount due of
    the invoice being collected, for a subscription in dunning. A step due before
    ``issued_from`` (the bill run's now) is taken then, as the bill run takes a late
    step: invoiced, and taxed, at that instant, for its own period."""
    until = ensure_aware(until, what="until", in_range=False)
    steps: list[ProjectedStep] = []
    if sub.dunning is not None:
        due = due_at(sub)
        if due is not None and due <= until:
            retry = _step(sub, StepKind.RETRY, due, context, unpaid or Decimal(0))
            steps.append(attrs.evolve(retry, invoice_id=sub.dunning.invoice_id))
        return Projected(tuple(steps), credit)
    for _ in range(MAX_STEPS):
        due = due_at(sub)
        if due is None or due > until:
            break
        was = sub.status
        outcome = advance(
            sub, context=context, at=due if issued_from is None else max(due, issued_from)
        )
        kind = _kind(was, outcome.invoice)
        if outcome.invoice is None:
            steps.append(_step(sub, kind, due, context, Decimal(0)))
        else:
            settled, credit = apply_credit(outcome.invoice, credit)
            steps.append(
                attrs.evolve(
                    _step(sub, kind, due, context, settled.amount_due),
                    invoice=settled,
                )
            )
        sub = outcome.subscription
    else:
        left = due_at(sub)
        if left is not None and left <= until:
            raise InvalidInput(
                f"projecting {sub.id!r} to {until.isoformat()} takes more than {MAX_STEPS} "
                "steps; project to an earlier instant"
            )
    return Projected(tuple(steps), credit)


def _kind(was: Status, invoice: Invoice | None) -> StepKind:
    if was is Status.TRIALING:
        return StepKind.TRIAL_EXPIRY if invoice is None else StepKind.TRIAL_CONVERSION
    return StepKind.CANCELLATION if invoice is None else StepKind.RENEWAL


def _step(
    sub: Subscription, kind: StepKind, at: datetime, context: BillingContext, due: Decimal
) -> ProjectedStep:
    return ProjectedStep(
        subscription_id=sub.id,
        account_id=sub.account_id,
        product=sub.product,
        plan=sub.terms.plan,
        kind=kind,
        at=at,
        timezone=str(context.tz),
        currency=context.currency,
        amount_due=due,
    )


def totals(steps: Sequence[ProjectedStep]) -> dict[str, Decimal]:
    """What the steps would charge, per currency (never summed across currencies)."""
    out: dict[str, Decimal] = {}
    for step in steps:
        out[step.currency] = EXACT.add(out.get(step.currency, Decimal(0)), step.amount_due)
    return out


def steps_section(steps: Sequence[ProjectedStep], zone: tzinfo | None = None) -> Section:
    """The ``steps`` as a table of a view (:mod:`subscriptions.display`): one row per
    step, each instant in ``zone``, or in its own account's time zone without one."""
    return Section(
        title="steps",
        columns=(
            "at", "kind", "account_id", "subscription_id", "product", "plan",
            "amount_due", "total", "currency", "invoice_id",
        ),
        cells=tuple(
            (
                step.at.astimezone(view_zone(zone, step.timezone)),
                step.kind.value,
                step.account_id,
                step.subscription_id,
                step.product,
                step.plan,
                to_money(step.amount_due, step.currency),
                None if step.invoice is None else to_money(step.invoice.total, step.currency),
                step.currency,
                step.invoice_id,
            )
            for step in steps
        ),
        hidden=frozenset({"subscription_id", "invoice_id"}),
    )  # fmt: skip


def charged_totals(charged: dict[str, Decimal]) -> Pairs:
    """What steps would charge per currency (:func:`totals`), as a view's totals."""
    return tuple((f"charged {code}", to_money(amount, code)) for code, amount in charged.items())
