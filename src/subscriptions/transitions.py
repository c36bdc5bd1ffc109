"""Subscription lifecycle as pure transitions.

Each transition takes the subscription (or ``None``), the action, the instant and the
billing context, and returns an :class:`~subscriptions.subscription.Outcome`: the new
state, the invoice it issues (unnumbered, before any credit balance is applied; or
``None``) and the events it caused. :func:`apply` takes a customer's action;
:func:`advance` takes the automatic step that is due (trial end, renewal, end-of-term
cancellation), and :func:`next_due` tells when that is. The states are drawn in
:mod:`subscriptions.subscription`; plan changes are priced by
:mod:`subscriptions.changes`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import localcontext

import attrs

from ._records import revised, version_after
from .changes import commit_change, credit_line, plan_change, priced_credits
from .charges import full_charge, invoice_of, partial_charge
from .errors import (
    AlreadySubscribed,
    InvalidInput,
    InvalidTransition,
    NoSubscription,
    TrialAlreadyUsed,
)
from .money import EXACT
from .periods import Period, anchored_start, ensure_aware, first_billing_day, plus_local_days
from .pricing import InvoiceLine, InvoiceReason
from .proration import Granularity
from .subscription import (
    BILLING,
    Action,
    BillingContext,
    Cancel,
    CancelTiming,
    Change,
    Event,
    EventKind,
    Outcome,
    Reactivate,
    StartTrial,
    Status,
    Subscribe,
    Subscription,
    TrialEnd,
    new_event,
)

__all__ = [
    "advance",
    "apply",
    "next_due",
]

# Members read on the renewal's path, bound once (see Choice).
_TRIALING, _ACTIVE = Status.TRIALING, Status.ACTIVE
_PENDING_CANCELLATION = Status.PENDING_CANCELLATION
_RENEWAL, _RENEWED = InvoiceReason.RENEWAL, EventKind.SUBSCRIPTION_RENEWED


def apply(
    subscription: Subscription | None,
    action: Action,
    *,
    at: datetime,
    context: BillingContext,
    subscription_id: str | None = None,
    account_id: str | None = None,
) -> Outcome:
    """Apply ``action`` at the instant ``at``: the one entry point for every action.

    ``subscription`` is the current state for the action's product (``None`` when
    there is none yet); ``subscription_id`` and ``account_id`` name a new one (default
    id: the product id).
    Raises an :class:`~subscriptions.errors.ActionRefused` (or a NotFound) when the
    action cannot be done; nothing is changed then, since nothing is mutable.
    """
    # Every instant is kept in UTC inside the core: see subscriptions.periods.
    at = ensure_aware(at, what="action instant").astimezone(UTC)
    with localcontext(EXACT):
        if isinstance(action, StartTrial):
            return _start_trial(subscription, action, at, context, subscription_id, account_id)
        if isinstance(action, Subscribe):
            return _subscribe(subscription, action, at, context, subscription_id, account_id)
        if subscription is None or subscription.status in (Status.EXPIRED, Status.CANCELED):
            verb = type(action).__name__.lower()
            product = subscription.product if subscription else "this product"
            raise NoSubscription(product, verb)
        check_in_period(subscription, at)
        if isinstance(action, Change):
            return _change(subscription, action, at, context)
        if isinstance(action, Cancel):
            return _cancel(subscription, action, at, context)
        if isinstance(action, Reactivate):
            return _reactivate(subscription, at)
    raise InvalidInput(
        f"{action!r} is not an action; pass StartTrial, Subscribe, Change, Cancel or Reactivate"
    )


def check_in_period(sub: Subscription, at: datetime) -> None:
    due = next_due(sub)
    if due is not None and at >= due:
        raise InvalidInput(
            f"{at.isoformat()} is at or after the subscription's next automatic step "
            f"({due.isoformat()}); apply due steps with advance() first"
        )
    start = sub.period.start if sub.period else (sub.trial.start if sub.trial else None)
    if start is not None and at < start:
        raise InvalidInput(
            f"{at.isoformat()} is before the current period ({start.isoformat()}); "
            "actions must be applied in time order"
        )


def _credits(sub: Subscription, at: datetime, ctx: BillingContext) -> list[InvoiceLine]:
    """One credit line per open charge line covering ``at``, for its unused part."""
    return [
        credit_line(credit, at)
        for credit in priced_credits(sub, at, at.astimezone(ctx.tz).toordinal(), ctx)
    ]


# -- transitions ---------------------------------------------------------------------


def _start_trial(
    existing: Subscription | None,
    action: StartTrial,
    at: datetime,
    ctx: BillingContext,
    sub_id: str | None,
    account_id: str | None,
) -> Outcome:
    terms = ctx.check(action.terms)
    product = ctx.catalog.product(terms.product)
    if existing is not None:
        if existing.trial is not None:
            raise TrialAlreadyUsed(terms.product)
        raise InvalidTransition(
            f"{terms.product!r} was already subscribed to; trials are for new customers: "
            "subscribe instead"
        )
    if product.trial_days is None:
        raise InvalidTransition(f"{terms.product!r} offers no free trial; subscribe to it instead")
    end = plus_local_days(at, product.trial_days, ctx.tz)
    sub = Subscription(
        id=sub_id or terms.product,
        terms=terms,
        status=Status.TRIALING,
        trial=Period.between(at, end),
        account_id=account_id,
    )
    return Outcome(
        subscription=sub,
        invoice=None,
        events=(new_event(EventKind.TRIAL_STARTED, at, sub, ends_at=end),),
    )


def _subscribe(
    existing: Subscription | None,
    action: Subscribe,
    at: datetime,
    ctx: BillingContext,
    sub_id: str | None,
    account_id: str | None,
) -> Outcome:
    terms = ctx.check(action.terms)
    events: list[Event] = []
    trial = None
    if existing is not None:
        if existing.status in BILLING:
            raise AlreadySubscribed(terms.product, existing.status.value)
        if existing.status is Status.TRIALING:
            assert existing.trial is not None
            if at < existing.trial.start:
                raise InvalidInput("cannot subscribe before the trial started")
            start = existing.trial.start
            trial = Period.between(start, at) if at > start else existing.trial
            events.append(new_event(EventKind.TRIAL_CONVERTED, at, existing))
        else:
            trial = existing.trial
        sub_id = existing.id
    sub_id = sub_id or terms.product
    tz = ctx.tz
    billing_day = action.billing_day
    lines: list[InvoiceLine] = []
    if billing_day is not None:
        # The anchor is the first billing-day midnight on or after `at`; subscribing
        # at that very midnight needs no stub.
        anchor = first_billing_day(at, billing_day, tz)
        if anchor > at:
            basis = Period.between(
                anchored_start(anchor, -1, terms.frequency, tz, day=billing_day), anchor
            )
            stub = Period.between(at, anchor)
            if ctx.policy.proration.granularity is not Granularity.NONE:
                lines.append(partial_charge(sub_id, terms, at, basis, at, ctx))
            period, index = stub, -1
        else:
            end = anchored_start(anchor, 1, terms.frequency, tz, day=billing_day)
            period, index = Period.between(anchor, end), 0
            lines.append(full_charge(sub_id, terms, period, at, ctx))
    else:
        anchor = at
        period, index = Period.between(at, anchored_start(at, 1, terms.frequency, tz)), 0
        lines.append(full_charge(sub_id, terms, period, at, ctx))
    sub = Subscription(
        id=sub_id,
        terms=terms,
        status=Status.ACTIVE,
        trial=trial,
        anchor=anchor,
        billing_day=billing_day,
        period_index=index,
        period=period,
        open_charges=tuple(lines),
        account_id=existing.account_id if existing is not None else account_id,
        version=version_after(existing),
    )
    events.append(new_event(EventKind.SUBSCRIPTION_STARTED, at, sub))
    return Outcome(
        subscription=sub,
        invoice=invoice_of(lines, at, InvoiceReason.SUBSCRIBE, ctx),
        events=tuple(events),
    )


def _change(sub: Subscription, action: Change, at: datetime, ctx: BillingContext) -> Outcome:
    return commit_change(plan_change(sub, action, at, ctx), ctx)


def _cancel(sub: Subscription, action: Cancel, at: datetime, ctx: BillingContext) -> Outcome:
    if sub.status is Status.TRIALING:
        assert sub.trial is not None
        raise InvalidTransition(
            f"a free trial has no cancel action; the trial of {sub.product!r} ends by "
            f"itself on {sub.trial.end.isoformat()} without any charge"
        )
    assert sub.period is not None
    if action.timing is CancelTiming.END_OF_TERM:
        if sub.status is Status.PENDING_CANCELLATION:
            # Already scheduled: asking again changes nothing (and is no error).
            return Outcome(subscription=sub, invoice=None, events=())
        changed = revised(sub, status=Status.PENDING_CANCELLATION, scheduled=None)
        return Outcome(
            subscription=changed,
            invoice=None,
            events=(
                new_event(EventKind.CANCELLATION_SCHEDULED, at, changed, ends_at=sub.period.end),
            ),
        )
    credits = _credits(sub, at, ctx)
    changed = revised(
        sub,
        status=Status.CANCELED,
        period=Period.between(sub.period.start, at) if at > sub.period.start else sub.period,
        open_charges=(),
        scheduled=None,
        canceled_at=at,
    )
    if at <= sub.period.start:
        changed = attrs.evolve(changed, period=None)
    return Outcome(
        subscription=changed,
        invoice=invoice_of(credits, at, InvoiceReason.CANCEL, ctx),
        events=(
            new_event(
                EventKind.SUBSCRIPTION_CANCELED, at, changed, cancel_timing=CancelTiming.IMMEDIATE
            ),
        ),
    )


def _reactivate(sub: Subscription, at: datetime) -> Outcome:
    if sub.status is not Status.PENDING_CANCELLATION:
        raise InvalidTransition(
            f"{sub.product!r} is {sub.status.value}, not set to cancel; there is nothing "
            "to reactivate"
        )
    changed = revised(sub, status=Status.ACTIVE)
    return Outcome(
        subscription=changed,
        invoice=None,
        events=(new_event(EventKind.SUBSCRIPTION_REACTIVATED, at, changed),),
    )


# -- automatic steps -----------------------------------------------------------------


def next_due(sub: Subscription) -> datetime | None:
    """When the subscription's next automatic step is due, or ``None``."""
    if sub.status is _TRIALING:
        return sub.trial.end if sub.trial is not None else None
    if sub.status in BILLING and sub.period is not None:
        return sub.period.end
    return None


def advance(sub: Subscription, *, context: BillingContext, at: datetime | None = None) -> Outcome:
    """Apply the automatic step due at :func:`next_due`: a trial's end, a renewal
    (with any scheduled change), or an end-of-term cancellation.

    ``at`` is when the step is taken, at or after it was due (default: when it was
    due): a renewal's invoice is issued then, and taxed at the rate in force then (its
    tax point: the invoice comes before or with the payment), while its period still
    starts when it was due.
    """
    due = next_due(sub)
    if due is None:
        raise InvalidTransition(
            f"{sub.product!r} ({sub.status.value}) has nothing due; call advance() only when "
            "next_due() gives an instant"
        )
    if at is None:
        at = due
    else:
        at = ensure_aware(at, what="step instant", in_range=False).astimezone(UTC)
        if at < due:
            raise InvalidInput(
                f"{at.isoformat()} is before the step due on {due.isoformat()}; a step is "
                "taken when it is due or later"
            )
    with localcontext(EXACT):
        if sub.status is _TRIALING:
            return _end_trial(sub, due, context, at)
        if sub.status is _PENDING_CANCELLATION:
            changed = revised(sub, status=Status.CANCELED, open_charges=(), canceled_at=due)
            return Outcome(
                subscription=changed,
                invoice=None,
                events=(
                    new_event(
                        EventKind.SUBSCRIPTION_CANCELED,
                        due,
                        changed,
                        cancel_timing=CancelTiming.END_OF_TERM,
                    ),
                ),
            )
        return _renew(sub, due, context, at)


def _end_trial(sub: Subscription, due: datetime, ctx: BillingContext, at: datetime) -> Outcome:
    if ctx.policy.trial_end is TrialEnd.EXPIRE:
        changed = revised(sub, status=Status.EXPIRED)
        return Outcome(
            subscription=changed,
            invoice=None,
            events=(new_event(EventKind.TRIAL_EXPIRED, due, changed),),
        )
    terms = sub.terms
    period = Period.between(due, anchored_start(due, 1, terms.frequency, ctx.tz))
    charge = full_charge(sub.id, terms, period, at, ctx)
    changed = revised(
        sub,
        status=Status.ACTIVE,
        anchor=due,
        billing_day=None,
        period_index=0,
        period=period,
        open_charges=(charge,),
    )
    return Outcome(
        subscription=changed,
        invoice=invoice_of([charge], at, InvoiceReason.CONVERSION, ctx),
        events=(new_event(EventKind.TRIAL_CONVERTED, due, changed, note="automatic"),),
    )


def _renew(sub: Subscription, due: datetime, ctx: BillingContext, at: datetime) -> Outcome:
    assert sub.anchor is not None
    terms = sub.scheduled or sub.terms
    tz = ctx.tz
    anchor, day, index = sub.anchor, sub.billing_day, sub.period_index + 1
    if terms.frequency is not sub.terms.frequency:
        # A new frequency starts its own sequence at the renewal, keeping the old
        # anchor's day of the month (an anchor on the 31st keeps billing month ends).
        day = day or sub.anchor.astimezone(tz).day
        anchor, index = due, 0
    # Invariant: the current period ends where the anchor's next period starts.
    period = Period.between(due, anchored_start(anchor, index + 1, terms.frequency, tz, day=day))
    charge = full_charge(sub.id, terms, period, at, ctx)
    changed = revised(
        sub,
        terms=terms,
        status=_ACTIVE,
        anchor=anchor,
        billing_day=day,
        period_index=index,
        period=period,
        open_charges=(charge,),
        scheduled=None,
        canceled_at=None,
    )
    return Outcome(
        subscription=changed,
        invoice=invoice_of([charge], at, _RENEWAL, ctx),
        events=(new_event(_RENEWED, due, changed),),
    )
