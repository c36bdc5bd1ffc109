"""Subscription lifecycle as pure transitions.

Each transition takes the subscription (or ``None``), the action, the instant and the
billing context, and returns an :class:`Outcome`: the new state, the invoice it issues
(unnumbered, before any credit balance is applied; or ``None``) and the events it
caused. A quote is the same call as the real change, so what a customer reviews is, to
the cent, what the order charges.

States::

    trialing --(trial end, policy expire)--> expired
    trialing --(subscribe, or trial end with policy convert)--> active
    active --(cancel at term end)--> pending_cancellation --(period end)--> canceled
    pending_cancellation --(reactivate)--> active
    active/pending_cancellation --(cancel immediately)--> canceled
    expired/canceled --(subscribe)--> active

Plan changes credit the charge lines they replace and charge the new terms (never a
"difference" line), timed by policy: ``realign`` (credit the unused part, charge a
full new period from now, move the anchor to now), ``keep_anchor`` (credit the unused
part, charge the new terms prorated to the end of the new frequency's period that
contains now, counted from the unchanged anchor) or ``end_of_term`` (scheduled for the
renewal, nothing now).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal, localcontext
from fractions import Fraction

import attrs
from moneyed import Money

from ._enum import Choice
from .catalog import Catalog
from .errors import (
    AlreadySubscribed,
    InvalidInput,
    InvalidSeatCount,
    InvalidTransition,
    NoSubscription,
    TrialAlreadyUsed,
)
from .money import EXACT, check_currency
from .periods import (
    Frequency,
    Period,
    anchored_start,
    ensure_aware,
    first_billing_day,
    parse_frequency,
    period_containing,
    plus_local_days,
    zone,
)
from .pricing import (
    Invoice,
    InvoiceLine,
    InvoiceReason,
    LineKind,
    TaxRounding,
    TaxSetup,
    exclusive_tax,
    invoice_from_lines,
)
from .proration import CreditBasis, DayCount, Granularity, ProrationPolicy, prorate_ratio, ratio
from .vat import TaxDecision

__all__ = [
    "BillingContext",
    "BillingPolicy",
    "Cancel",
    "CancelTiming",
    "Change",
    "ChangeKind",
    "ChangePolicy",
    "ChangeTiming",
    "Dunning",
    "Event",
    "EventKind",
    "Outcome",
    "Preview",
    "PreviewLine",
    "Reactivate",
    "StartTrial",
    "Status",
    "Subscribe",
    "Subscription",
    "Terms",
    "TrialEnd",
    "advance",
    "apply",
    "classify_change",
    "next_due",
    "quote",
]


class Status(Choice):
    TRIALING = "trialing"
    EXPIRED = "expired"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    PENDING_CANCELLATION = "pending_cancellation"
    CANCELED = "canceled"


_BILLING = frozenset({Status.ACTIVE, Status.PAST_DUE, Status.PENDING_CANCELLATION})


class ChangeTiming(Choice):
    REALIGN = "realign"
    KEEP_ANCHOR = "keep_anchor"
    END_OF_TERM = "end_of_term"


class ChangeKind(Choice):
    UPGRADE = "upgrade"
    DOWNGRADE = "downgrade"


class TrialEnd(Choice):
    EXPIRE = "expire"
    CONVERT = "convert"


class CancelTiming(Choice):
    END_OF_TERM = "end_of_term"
    IMMEDIATE = "immediate"


def _seats(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidSeatCount(value)
    return value


def _currency(value: object) -> str:
    return check_currency(value)


@attrs.frozen(kw_only=True)
class Terms:
    """What a subscription bills: a plan of a product, a seat count, a frequency."""

    product: str
    plan: str
    seats: int = attrs.field(converter=_seats)
    frequency: Frequency = attrs.field(converter=parse_frequency)


@attrs.frozen(kw_only=True)
class ChangePolicy:
    """When plan changes take effect, per kind of change.

    >>> ChangePolicy(downgrade=ChangeTiming.END_OF_TERM).timing(ChangeKind.DOWNGRADE)
    <ChangeTiming.END_OF_TERM: 'end_of_term'>
    """

    upgrade: ChangeTiming = ChangeTiming.REALIGN
    downgrade: ChangeTiming = ChangeTiming.REALIGN

    @classmethod
    def uniform(cls, timing: ChangeTiming) -> ChangePolicy:
        return cls(upgrade=timing, downgrade=timing)

    def timing(self, kind: ChangeKind) -> ChangeTiming:
        return self.upgrade if kind is ChangeKind.UPGRADE else self.downgrade


@attrs.frozen(kw_only=True)
class BillingPolicy:
    """Every policy choice of the billing rules, with the brief's defaults."""

    proration: ProrationPolicy = ProrationPolicy()
    plan_change: ChangePolicy = ChangePolicy()
    trial_end: TrialEnd = TrialEnd.EXPIRE
    prices_include_tax: bool = False
    tax_rounding: TaxRounding = TaxRounding.INVOICE


def _zone(value: object) -> tzinfo:
    return zone(value)  # type: ignore[arg-type]


@attrs.frozen(kw_only=True)
class BillingContext:
    """What the rules need besides the state: catalog, currency, zone, policies, tax.

    ``tax`` is ``None`` when no tax is computed (no seller configured).
    """

    catalog: Catalog
    currency: str = attrs.field(converter=_currency)
    tz: tzinfo = attrs.field(converter=_zone)
    policy: BillingPolicy = BillingPolicy()
    tax: TaxSetup | None = None
    # The catalog and currency never change: prices looked up once are kept.
    _prices: dict[tuple[str, str, Frequency], Decimal] = attrs.field(
        init=False, factory=dict, repr=False, eq=False
    )

    def unit_price(self, terms: Terms) -> Decimal:
        """The catalog's per-seat price for ``terms``, or a clear NotFound error."""
        key = (terms.product, terms.plan, terms.frequency)
        price = self._prices.get(key)
        if price is None:
            price = self.catalog.plan(terms.product, terms.plan).price(
                terms.frequency, self.currency
            )
            self._prices[key] = price
        return price

    def check(self, terms: Terms) -> Terms:
        self.unit_price(terms)
        return terms

    def tax_at(self, instant: datetime) -> TaxDecision | None:
        return None if self.tax is None else self.tax.decide_at(instant, self.tz)


@attrs.frozen(kw_only=True)
class Dunning:
    """An unpaid renewal being retried: which invoice, since when, what comes next."""

    invoice_id: str
    failed_at: datetime
    attempts: int
    next_retry_at: datetime | None


@attrs.frozen(kw_only=True)
class Subscription:
    """The state of one product's subscription for an account.

    ``open_charges`` are the charge lines of the current period that have not been
    credited: a change or an immediate cancellation credits their unused part.
    ``billing_day`` is the day of the month the anchor bills on when it was chosen
    (calendar billing); ``None`` means the anchor's own day.
    """

    id: str
    terms: Terms
    status: Status
    trial: Period | None = None
    anchor: datetime | None = None
    billing_day: int | None = None
    period_index: int = 0
    period: Period | None = None
    open_charges: tuple[InvoiceLine, ...] = ()
    scheduled: Terms | None = None
    canceled_at: datetime | None = None
    account_id: str | None = None
    dunning: Dunning | None = None
    version: int = 0

    @property
    def product(self) -> str:
        return self.terms.product


class EventKind(Choice):
    TRIAL_STARTED = "trial_started"
    TRIAL_EXPIRED = "trial_expired"
    TRIAL_CONVERTED = "trial_converted"
    SUBSCRIPTION_STARTED = "subscription_started"
    SUBSCRIPTION_CHANGED = "subscription_changed"
    CHANGE_SCHEDULED = "change_scheduled"
    SUBSCRIPTION_RENEWED = "subscription_renewed"
    CANCELLATION_SCHEDULED = "cancellation_scheduled"
    SUBSCRIPTION_CANCELED = "subscription_canceled"
    SUBSCRIPTION_REACTIVATED = "subscription_reactivated"
    SUBSCRIPTION_PAST_DUE = "subscription_past_due"
    SUBSCRIPTION_RECOVERED = "subscription_recovered"
    SUBSCRIPTION_LAPSED = "subscription_lapsed"
    ACCOUNT_OPENED = "account_opened"
    ACCOUNT_UPDATED = "account_updated"
    ORDER_PLACED = "order_placed"
    ORDER_FAILED = "order_failed"
    ORDER_REFUNDED = "order_refunded"
    PAYMENT_FAILED = "payment_failed"
    PAYMENT_SUCCEEDED = "payment_succeeded"
    INVOICE_ISSUED = "invoice_issued"
    SEATS_ASSIGNED = "seats_assigned"
    SEATS_UNASSIGNED = "seats_unassigned"


@attrs.frozen(kw_only=True)
class Event:
    """A state change, as a frozen record."""

    kind: EventKind
    at: datetime
    subscription_id: str | None = None
    product: str | None = None
    detail: str = ""


@attrs.frozen(kw_only=True)
class Outcome:
    """A transition's result: the new state, its invoice (or None) and its events."""

    subscription: Subscription
    invoice: Invoice | None
    events: tuple[Event, ...]


# -- actions -------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class StartTrial:
    terms: Terms


@attrs.frozen(kw_only=True)
class Subscribe:
    terms: Terms
    billing_day: int | None = None


@attrs.frozen(kw_only=True)
class Change:
    plan: str | None = None
    seats: int | None = None
    frequency: Frequency | None = None
    timing: ChangeTiming | None = None


@attrs.frozen(kw_only=True)
class Cancel:
    timing: CancelTiming = CancelTiming.END_OF_TERM


@attrs.frozen(kw_only=True)
class Reactivate:
    pass


Action = StartTrial | Subscribe | Change | Cancel | Reactivate


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
        _check_in_period(subscription, at)
        if isinstance(action, Change):
            return _change(subscription, action, at, context)
        if isinstance(action, Cancel):
            return _cancel(subscription, action, at, context)
        if isinstance(action, Reactivate):
            return _reactivate(subscription, at)
    raise InvalidInput(
        f"{action!r} is not an action; pass StartTrial, Subscribe, Change, Cancel or Reactivate"
    )


def _check_in_period(sub: Subscription, at: datetime) -> None:
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


# -- lines ---------------------------------------------------------------------------


def _charge(
    sub_id: str,
    terms: Terms,
    unit_price: Decimal,
    span: Period,
    listed: Decimal,
    tax: TaxDecision | None,
) -> InvoiceLine:
    return InvoiceLine(
        kind=LineKind.CHARGE,
        subscription_id=sub_id,
        product=terms.product,
        plan=terms.plan,
        frequency=terms.frequency,
        seats=terms.seats,
        unit_price=unit_price,
        period=span,
        listed=listed,
        amount=listed,
        tax=tax,
    )


def _full_charge(
    sub_id: str, terms: Terms, span: Period, at: datetime, ctx: BillingContext
) -> InvoiceLine:
    price = ctx.unit_price(terms)
    return _charge(sub_id, terms, price, span, price * terms.seats, ctx.tax_at(at))


def _partial_charge(
    sub_id: str,
    terms: Terms,
    start: datetime,
    whole: Period,
    at: datetime,
    ctx: BillingContext,
) -> InvoiceLine:
    """The charge for ``[start, whole.end)`` of the full period ``whole``, rounded once."""
    price = ctx.unit_price(terms)
    proration = ctx.policy.proration
    end = whole.end
    num, den = ratio(
        start, end, whole.start, end, tz=ctx.tz, policy=proration, months=terms.frequency.months
    )
    listed = prorate_ratio(price * terms.seats, num, den, ctx.currency, proration.rounding)
    span = whole if start == whole.start else Period.between(start, end)
    return _charge(sub_id, terms, price, span, listed, ctx.tax_at(at))


def _credits(sub: Subscription, at: datetime, ctx: BillingContext) -> list[InvoiceLine]:
    """One credit line per open charge line covering ``at``, for its unused part."""
    return [
        _credit_line(line, unit_price, value, at)
        for line, unit_price, value in _priced_credits(sub, at, ctx, {})
    ]


def _line_is_whole(line: InvoiceLine, ctx: BillingContext) -> bool:
    """Whether a charge line spans exactly one period of its frequency."""
    end = anchored_start(line.period.start, 1, line.frequency, ctx.tz)
    if end == line.period.end:
        return True
    # Month-end anchors: a line from Feb 28 to Mar 31 is a whole month of an anchor on
    # the 31st; compare against the period that ends where the line ends.
    return anchored_start(line.period.end, -1, line.frequency, ctx.tz) == line.period.start


def _invoice(
    lines: Sequence[InvoiceLine], at: datetime, reason: InvoiceReason, ctx: BillingContext
) -> Invoice | None:
    if not lines:
        return None
    return invoice_from_lines(
        lines,
        currency=ctx.currency,
        issued_at=at,
        reason=reason,
        prices_include_tax=ctx.policy.prices_include_tax,
        tax_rounding=ctx.policy.tax_rounding,
        rounding=ctx.policy.proration.rounding,
    )


def _event(kind: EventKind, at: datetime, sub: Subscription, detail: str = "") -> Event:
    return Event(kind=kind, at=at, subscription_id=sub.id, product=sub.product, detail=detail)


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
        events=(_event(EventKind.TRIAL_STARTED, at, sub, f"ends {end.isoformat()}"),),
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
    version = 0
    if existing is not None:
        if existing.status in _BILLING:
            raise AlreadySubscribed(terms.product, existing.status.value)
        if existing.status is Status.TRIALING:
            assert existing.trial is not None
            if at < existing.trial.start:
                raise InvalidInput("cannot subscribe before the trial started")
            start = existing.trial.start
            trial = Period.between(start, at) if at > start else existing.trial
            events.append(_event(EventKind.TRIAL_CONVERTED, at, existing))
        else:
            trial = existing.trial
        sub_id = existing.id
        version = existing.version + 1
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
                lines.append(_partial_charge(sub_id, terms, at, basis, at, ctx))
            period, index = stub, -1
        else:
            end = anchored_start(anchor, 1, terms.frequency, tz, day=billing_day)
            period, index = Period.between(anchor, end), 0
            lines.append(_full_charge(sub_id, terms, period, at, ctx))
    else:
        anchor = at
        period, index = Period.between(at, anchored_start(at, 1, terms.frequency, tz)), 0
        lines.append(_full_charge(sub_id, terms, period, at, ctx))
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
        version=version,
    )
    events.append(_event(EventKind.SUBSCRIPTION_STARTED, at, sub))
    return Outcome(
        subscription=sub,
        invoice=_invoice(lines, at, InvoiceReason.SUBSCRIBE, ctx),
        events=tuple(events),
    )


def classify_change(old: Terms, new: Terms, *, catalog: Catalog, currency: str) -> ChangeKind:
    """Upgrade or downgrade, decided explicitly (DESIGN.md, "Plan changes").

    A higher plan rank is an upgrade and a lower one a downgrade. At the same rank,
    more seats or a longer frequency (a longer commitment) is an upgrade, fewer seats
    or a shorter frequency a downgrade; a mix is decided by value per day (per-seat
    price x seats / months); equal value counts as an upgrade.
    """

    def per_day(terms: Terms) -> Callable[[], Fraction]:
        def value() -> Fraction:
            price = catalog.plan(terms.product, terms.plan).price(terms.frequency, currency)
            return Fraction(price) * terms.seats / terms.frequency.months

        return value

    return _classify(
        catalog.plan(old.product, old.plan).rank,
        catalog.plan(new.product, new.plan).rank,
        old,
        new.seats,
        new.frequency,
        per_day(old),
        per_day(new),
    )


def _classify(
    old_rank: int,
    new_rank: int,
    old: Terms,
    seats: int,
    frequency: Frequency,
    old_per_day: Callable[[], Fraction],
    new_per_day: Callable[[], Fraction],
) -> ChangeKind:
    if new_rank != old_rank:
        return ChangeKind.UPGRADE if new_rank > old_rank else ChangeKind.DOWNGRADE
    more_seats = (seats > old.seats) - (seats < old.seats)
    longer = (frequency.months > old.frequency.months) - (frequency.months < old.frequency.months)
    if more_seats >= 0 and longer >= 0 and (more_seats or longer):
        return ChangeKind.UPGRADE
    if more_seats <= 0 and longer <= 0 and (more_seats or longer):
        return ChangeKind.DOWNGRADE
    return ChangeKind.DOWNGRADE if new_per_day() < old_per_day() else ChangeKind.UPGRADE


_DETAIL = {(k, t): f"{k.value}, {t.value}" for k in ChangeKind for t in ChangeTiming}


class _ChangePlan:
    """What a change does, priced but not yet built into records.

    :func:`quote` reads its totals without building anything; :func:`apply` builds
    the outcome from it. Both come from :func:`_plan_change`, so a quote is, to the
    cent, what the change commits.
    """

    __slots__ = (
        "at",
        "charge",
        "credits",
        "frequency",
        "index",
        "kind",
        "plan",
        "seats",
        "sub",
        "timing",
        "whole",
    )

    def __init__(
        self,
        *,
        sub: Subscription,
        plan: str,
        seats: int,
        frequency: Frequency,
        kind: ChangeKind,
        timing: ChangeTiming,
        at: datetime,
    ) -> None:
        self.sub = sub
        self.plan = plan
        self.seats = seats
        self.frequency = frequency
        self.kind = kind
        self.timing = timing
        self.at = at
        #: (reversed charge line, unit price, credit amount: negative)
        self.credits: list[tuple[InvoiceLine, Decimal, Decimal]] = []
        #: (unit price, start, end, listed amount, tax decision), or None
        self.charge: tuple[Decimal, datetime, datetime, Decimal, TaxDecision | None] | None = None
        #: the new current period and its index (keep_anchor and realign)
        self.index = 0
        self.whole: Period | None = None

    def terms(self) -> Terms:
        return Terms(
            product=self.sub.terms.product,
            plan=self.plan,
            seats=self.seats,
            frequency=self.frequency,
        )


def _local_days(
    start: datetime,
    end: datetime,
    whole_start: datetime,
    whole_end: datetime,
    ctx: BillingContext,
    months: int | None,
    days: dict[datetime, date],
) -> tuple[int, int]:
    """:func:`ratio` with the common case (whole local days, actual count) inlined;
    ``days`` keeps the local dates already computed for this plan."""
    proration = ctx.policy.proration
    if (
        proration.granularity is Granularity.DAY
        and proration.day_count is DayCount.ACTUAL
        and whole_start <= start
        and end <= whole_end
    ):
        if start == whole_start and end == whole_end:
            return 1, 1
        tz = ctx.tz
        local = []
        for instant in (whole_end, whole_start, end, start):
            day = days.get(instant)
            if day is None:
                day = days[instant] = instant.astimezone(tz).date()
            local.append(day)
        total = (local[0] - local[1]).days
        if total <= 0:
            return 0, 1
        used = (local[2] - local[3]).days
        return (0 if used < 0 else total if used > total else used), total
    return ratio(start, end, whole_start, whole_end, tz=ctx.tz, policy=proration, months=months)


def _priced_credits(
    sub: Subscription, at: datetime, ctx: BillingContext, days: dict[datetime, date]
) -> list[tuple[InvoiceLine, Decimal, Decimal]]:
    """The credit of each open charge line covering ``at``, for its unused part:
    (the reversed line, the unit price credited, the credit amount, negative)."""
    proration = ctx.policy.proration
    if proration.granularity is Granularity.NONE:
        return []
    fixed_30 = proration.granularity is Granularity.DAY and proration.day_count is DayCount.FIXED_30
    credits = []
    for line in sub.open_charges:
        span = line.period
        if not span.start <= at < span.end:
            continue
        if proration.credit is CreditBasis.PRICE and sub.period is not None:
            current = Terms(
                product=line.product, plan=line.plan, seats=line.seats, frequency=line.frequency
            )
            unit_price = ctx.unit_price(current)
            whole = sub.period
            months = line.frequency.months if fixed_30 and sub.period_index >= 0 else None
            basis = EXACT.multiply(unit_price, line.seats)
        else:
            unit_price = line.unit_price
            whole = span
            months = line.frequency.months if fixed_30 and _line_is_whole(line, ctx) else None
            basis = line.listed
        num, den = _local_days(at, whole.end, whole.start, whole.end, ctx, months, days)
        value = prorate_ratio(basis, num, den, ctx.currency, proration.rounding)
        credits.append((line, unit_price, -value))
    return credits


def _credit_line(
    line: InvoiceLine, unit_price: Decimal, value: Decimal, at: datetime
) -> InvoiceLine:
    return InvoiceLine(
        kind=LineKind.CREDIT,
        subscription_id=line.subscription_id,
        product=line.product,
        plan=line.plan,
        frequency=line.frequency,
        seats=line.seats,
        unit_price=unit_price,
        period=Period.between(at, line.period.end),
        listed=value,
        amount=value,
        tax=line.tax,
    )


def _plan_change(
    sub: Subscription, action: Change, at: datetime, ctx: BillingContext
) -> _ChangePlan:
    if sub.status is Status.TRIALING:
        raise InvalidTransition(
            f"{sub.product!r} is on a free trial; subscribe with the plan, seats and "
            "frequency you want instead of changing the trial"
        )
    old = sub.terms
    plan_id = old.plan if action.plan is None else action.plan
    seats = old.seats if action.seats is None else _seats(action.seats)
    frequency = old.frequency if action.frequency is None else Frequency.parse(action.frequency)
    catalog = ctx.catalog
    new_plan = catalog.plan(old.product, plan_id)
    price = new_plan.price(frequency, ctx.currency)
    if plan_id == old.plan and seats == old.seats and frequency is old.frequency:
        raise InvalidTransition(
            f"the change leaves {sub.product!r} exactly as it is "
            f"({old.plan}, {old.seats} seats, {old.frequency.value}); name a different "
            "plan, seat count or frequency"
        )
    kind = _classify(
        catalog.plan(old.product, old.plan).rank,
        new_plan.rank,
        old,
        seats,
        frequency,
        lambda: Fraction(ctx.unit_price(old)) * old.seats / old.frequency.months,
        lambda: Fraction(price) * seats / frequency.months,
    )
    timing = action.timing or ctx.policy.plan_change.timing(kind)
    plan = _ChangePlan(
        sub=sub, plan=plan_id, seats=seats, frequency=frequency, kind=kind, timing=timing, at=at
    )
    if timing is ChangeTiming.END_OF_TERM:
        return plan
    if sub.status is Status.PENDING_CANCELLATION:
        raise InvalidTransition(
            f"{sub.product!r} is set to cancel at the end of its term; reactivate it "
            "before changing it now, or schedule the change for the end of the term"
        )
    assert sub.anchor is not None
    assert sub.period is not None
    tz = ctx.tz
    days: dict[datetime, date] = {}
    plan.credits = _priced_credits(sub, at, ctx, days)
    if timing is ChangeTiming.REALIGN:
        end = anchored_start(at, 1, frequency, tz)
        plan.whole = Period.between(at, end)
        plan.charge = (price, at, end, EXACT.multiply(price, seats), ctx.tax_at(at))
        return plan
    if ctx.policy.proration.granularity is Granularity.NONE:
        return plan
    period = sub.period
    if frequency is old.frequency and sub.period_index >= 0:
        # The period that contains `at` is the current one.
        index, whole = sub.period_index, period
    else:
        index, whole = period_containing(sub.anchor, at, frequency, tz, day=sub.billing_day)
    num, den = _local_days(at, whole.end, whole.start, whole.end, ctx, frequency.months, days)
    proration = ctx.policy.proration
    listed = prorate_ratio(EXACT.multiply(price, seats), num, den, ctx.currency, proration.rounding)
    plan.charge = (price, at, whole.end, listed, ctx.tax_at(at))
    if sub.period_index < 0 and whole.start < period.start:
        # During a calendar-billing stub the period still starts when the stub did.
        whole = Period.between(period.start, whole.end)
    plan.index, plan.whole = index, whole
    return plan


def _planned_lines(plan: _ChangePlan, new: Terms) -> list[InvoiceLine]:
    lines = [
        _credit_line(line, unit_price, value, plan.at) for line, unit_price, value in plan.credits
    ]
    if plan.charge is not None:
        price, start, end, listed, tax = plan.charge
        whole = plan.whole
        span = (
            whole
            if whole is not None and whole.start == start and whole.end == end
            else Period.between(start, end)
        )
        lines.append(_charge(plan.sub.id, new, price, span, listed, tax))
    return lines


def _commit_change(plan: _ChangePlan, ctx: BillingContext) -> Outcome:
    """Build the outcome of a planned change: the new state, its invoice, its event."""
    sub, at = plan.sub, plan.at
    new = plan.terms()
    version = sub.version + 1
    detail = _DETAIL[plan.kind, plan.timing]
    if plan.timing is ChangeTiming.END_OF_TERM:
        # A later schedule replaces an earlier one, a scheduled cancellation included.
        changed = attrs.evolve(sub, status=Status.ACTIVE, scheduled=new, version=version)
        return Outcome(
            subscription=changed,
            invoice=None,
            events=(_event(EventKind.CHANGE_SCHEDULED, at, changed, detail),),
        )
    assert sub.anchor is not None
    assert sub.period is not None
    lines = _planned_lines(plan, new)
    charges = tuple(line for line in lines if line.kind is LineKind.CHARGE)
    if plan.timing is ChangeTiming.REALIGN:
        assert plan.whole is not None
        changed = attrs.evolve(
            sub,
            terms=new,
            anchor=at,
            billing_day=None,
            period_index=0,
            period=plan.whole,
            open_charges=charges,
            scheduled=None,
            version=version,
        )
    elif plan.charge is None:
        # No partial charge or credit: the new terms apply now and bill from the
        # next renewal. A new frequency's sequence starts at that renewal, so the
        # current period becomes the stub before it.
        if new.frequency is sub.terms.frequency:
            changed = attrs.evolve(sub, terms=new, scheduled=None, version=version)
        else:
            changed = attrs.evolve(
                sub,
                terms=new,
                anchor=sub.period.end,
                billing_day=sub.billing_day or sub.anchor.astimezone(ctx.tz).day,
                period_index=-1,
                scheduled=None,
                version=version,
            )
    else:
        assert plan.whole is not None
        changed = Subscription(
            id=sub.id,
            terms=new,
            status=sub.status,
            trial=sub.trial,
            anchor=sub.anchor,
            billing_day=sub.billing_day,
            period_index=plan.index,
            period=plan.whole,
            open_charges=charges,
            scheduled=None,
            canceled_at=sub.canceled_at,
            account_id=sub.account_id,
            dunning=sub.dunning,
            version=version,
        )
    return Outcome(
        subscription=changed,
        invoice=_invoice(lines, at, InvoiceReason.CHANGE, ctx),
        events=(_event(EventKind.SUBSCRIPTION_CHANGED, at, changed, detail),),
    )


def _plan_totals(plan: _ChangePlan, ctx: BillingContext) -> tuple[Decimal, Decimal] | None:
    """(subtotal, tax) of a planned change when one tax group covers every line and
    tax is added to net prices once per invoice; None otherwise (build the invoice)."""
    policy = ctx.policy
    if policy.prices_include_tax or policy.tax_rounding is not TaxRounding.INVOICE:
        return None
    decision: TaxDecision | None = None
    subtotal = _ZERO
    for line, _, value in plan.credits:
        tax = line.tax
        if tax is None or (decision is not None and not _same_tax(decision, tax)):
            return None
        decision = tax
        subtotal = EXACT.add(subtotal, value)
    if plan.charge is not None:
        tax = plan.charge[4]
        if tax is None or (decision is not None and not _same_tax(decision, tax)):
            return None
        decision = tax
        subtotal = EXACT.add(subtotal, plan.charge[3])
    if decision is None:
        return None
    return subtotal, exclusive_tax(subtotal, decision.rate, ctx.currency, policy.proration.rounding)


def _same_tax(a: TaxDecision, b: TaxDecision) -> bool:
    return a is b or (a.rate == b.rate and a.treatment is b.treatment and a.mention == b.mention)


def _change(sub: Subscription, action: Change, at: datetime, ctx: BillingContext) -> Outcome:
    return _commit_change(_plan_change(sub, action, at, ctx), ctx)


def _cancel(sub: Subscription, action: Cancel, at: datetime, ctx: BillingContext) -> Outcome:
    if sub.status is Status.TRIALING:
        assert sub.trial is not None
        raise InvalidTransition(
            f"a free trial has no cancel action; the trial of {sub.product!r} ends by "
            f"itself on {sub.trial.end.isoformat()} without any charge"
        )
    assert sub.period is not None
    version = sub.version + 1
    if action.timing is CancelTiming.END_OF_TERM:
        if sub.status is Status.PENDING_CANCELLATION:
            # Already scheduled: asking again changes nothing (and is no error).
            return Outcome(subscription=sub, invoice=None, events=())
        changed = attrs.evolve(
            sub, status=Status.PENDING_CANCELLATION, scheduled=None, version=version
        )
        return Outcome(
            subscription=changed,
            invoice=None,
            events=(
                _event(EventKind.CANCELLATION_SCHEDULED, at, changed, sub.period.end.isoformat()),
            ),
        )
    credits = _credits(sub, at, ctx)
    changed = attrs.evolve(
        sub,
        status=Status.CANCELED,
        period=Period.between(sub.period.start, at) if at > sub.period.start else sub.period,
        open_charges=(),
        scheduled=None,
        canceled_at=at,
        version=version,
    )
    if at <= sub.period.start:
        changed = attrs.evolve(changed, period=None)
    return Outcome(
        subscription=changed,
        invoice=_invoice(credits, at, InvoiceReason.CANCEL, ctx),
        events=(_event(EventKind.SUBSCRIPTION_CANCELED, at, changed, "immediate"),),
    )


def _reactivate(sub: Subscription, at: datetime) -> Outcome:
    if sub.status is not Status.PENDING_CANCELLATION:
        raise InvalidTransition(
            f"{sub.product!r} is {sub.status.value}, not set to cancel; there is nothing "
            "to reactivate"
        )
    changed = attrs.evolve(sub, status=Status.ACTIVE, version=sub.version + 1)
    return Outcome(
        subscription=changed,
        invoice=None,
        events=(_event(EventKind.SUBSCRIPTION_REACTIVATED, at, changed),),
    )


# -- automatic steps -----------------------------------------------------------------


def next_due(sub: Subscription) -> datetime | None:
    """When the subscription's next automatic step is due, or ``None``."""
    if sub.status is Status.TRIALING:
        return sub.trial.end if sub.trial is not None else None
    if sub.status in _BILLING and sub.period is not None:
        return sub.period.end
    return None


def advance(sub: Subscription, *, context: BillingContext) -> Outcome:
    """Apply the automatic step due at :func:`next_due`: a trial's end, a renewal
    (with any scheduled change), or an end-of-term cancellation."""
    due = next_due(sub)
    if due is None:
        raise InvalidTransition(
            f"{sub.product!r} ({sub.status.value}) has nothing due; call advance() only when "
            "next_due() gives an instant"
        )
    with localcontext(EXACT):
        if sub.status is Status.TRIALING:
            return _end_trial(sub, due, context)
        if sub.status is Status.PENDING_CANCELLATION:
            changed = attrs.evolve(
                sub,
                status=Status.CANCELED,
                open_charges=(),
                canceled_at=due,
                version=sub.version + 1,
            )
            return Outcome(
                subscription=changed,
                invoice=None,
                events=(_event(EventKind.SUBSCRIPTION_CANCELED, due, changed, "end of term"),),
            )
        return _renew(sub, due, context)


def _end_trial(sub: Subscription, due: datetime, ctx: BillingContext) -> Outcome:
    if ctx.policy.trial_end is TrialEnd.EXPIRE:
        changed = attrs.evolve(sub, status=Status.EXPIRED, version=sub.version + 1)
        return Outcome(
            subscription=changed,
            invoice=None,
            events=(_event(EventKind.TRIAL_EXPIRED, due, changed),),
        )
    terms = sub.terms
    period = Period.between(due, anchored_start(due, 1, terms.frequency, ctx.tz))
    charge = _full_charge(sub.id, terms, period, due, ctx)
    changed = attrs.evolve(
        sub,
        status=Status.ACTIVE,
        anchor=due,
        billing_day=None,
        period_index=0,
        period=period,
        open_charges=(charge,),
        version=sub.version + 1,
    )
    return Outcome(
        subscription=changed,
        invoice=_invoice([charge], due, InvoiceReason.CONVERSION, ctx),
        events=(_event(EventKind.TRIAL_CONVERTED, due, changed, "automatic"),),
    )


def _renew(sub: Subscription, due: datetime, ctx: BillingContext) -> Outcome:
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
    charge = _full_charge(sub.id, terms, period, due, ctx)
    changed = Subscription(
        id=sub.id,
        terms=terms,
        status=Status.ACTIVE,
        trial=sub.trial,
        anchor=anchor,
        billing_day=day,
        period_index=index,
        period=period,
        open_charges=(charge,),
        scheduled=None,
        canceled_at=None,
        account_id=sub.account_id,
        dunning=sub.dunning,
        version=sub.version + 1,
    )
    return Outcome(
        subscription=changed,
        invoice=_invoice([charge], due, InvoiceReason.RENEWAL, ctx),
        events=(_event(EventKind.SUBSCRIPTION_RENEWED, due, changed),),
    )


# -- quotes: the same call, with Money at the edge ---------------------------------


class PreviewLine:
    """A line of a quote, with its amounts as ``Money``."""

    __slots__ = (
        "_amount",
        "_end",
        "_start",
        "_unit_price",
        "currency",
        "frequency",
        "kind",
        "plan",
        "product",
        "seats",
    )

    def __init__(
        self,
        *,
        kind: LineKind,
        product: str,
        plan: str,
        seats: int,
        frequency: Frequency,
        unit_price: Decimal,
        start: datetime,
        end: datetime,
        amount: Decimal,
        currency: str,
    ) -> None:
        self.kind = kind
        self.product = product
        self.plan = plan
        self.seats = seats
        self.frequency = frequency
        self._unit_price = unit_price
        self._start = start
        self._end = end
        self._amount = amount
        self.currency = currency

    @classmethod
    def of(cls, line: InvoiceLine, currency: str) -> PreviewLine:
        return cls(
            kind=line.kind,
            product=line.product,
            plan=line.plan,
            seats=line.seats,
            frequency=line.frequency,
            unit_price=line.unit_price,
            start=line.period.start,
            end=line.period.end,
            amount=line.amount,
            currency=currency,
        )

    @property
    def period(self) -> Period:
        return Period.between(self._start, self._end)

    @property
    def unit_price(self) -> Money:
        return Money(self._unit_price, self.currency)

    @property
    def amount(self) -> Money:
        return Money(self._amount, self.currency)

    def __repr__(self) -> str:
        return (
            f"PreviewLine({self.kind.value} {self.product}/{self.plan} x{self.seats} "
            f"{self._start.isoformat()} -> {self._end.isoformat()}: {self._amount} {self.currency})"
        )


class Preview:
    """What an action would bill, priced by the very call that commits it.

    Amounts are ``Money``. :attr:`outcome` is the state, invoice and events that
    committing the action produces (exactly these, if nothing changed meanwhile); it
    is built on first use, from the same priced plan the totals come from.
    """

    __slots__ = ("_context", "_outcome", "_plan", "_totals", "currency")

    def __init__(
        self,
        *,
        context: BillingContext,
        outcome: Outcome | None = None,
        plan: _ChangePlan | None = None,
        totals: tuple[Decimal, Decimal] | None = None,
    ) -> None:
        self._context = context
        self._outcome = outcome
        self._plan = plan
        self._totals = totals
        self.currency = context.currency

    @property
    def outcome(self) -> Outcome:
        if self._outcome is None:
            assert self._plan is not None
            with localcontext(EXACT):
                self._outcome = _commit_change(self._plan, self._context)
        return self._outcome

    @property
    def invoice(self) -> Invoice | None:
        return self.outcome.invoice

    def _money(self, amount: Decimal) -> Money:
        return Money(amount, self.currency)

    @property
    def lines(self) -> tuple[PreviewLine, ...]:
        plan, currency = self._plan, self.currency
        if plan is not None and self._totals is not None:
            # Tax-exclusive lines: their amounts are the planned ones.
            lines = [
                PreviewLine(
                    kind=LineKind.CREDIT,
                    product=line.product,
                    plan=line.plan,
                    seats=line.seats,
                    frequency=line.frequency,
                    unit_price=unit_price,
                    start=plan.at,
                    end=line.period.end,
                    amount=value,
                    currency=currency,
                )
                for line, unit_price, value in plan.credits
            ]
            if plan.charge is not None:
                price, start, end, listed, _ = plan.charge
                lines.append(
                    PreviewLine(
                        kind=LineKind.CHARGE,
                        product=plan.sub.product,
                        plan=plan.plan,
                        seats=plan.seats,
                        frequency=plan.frequency,
                        unit_price=price,
                        start=start,
                        end=end,
                        amount=listed,
                        currency=currency,
                    )
                )
            return tuple(lines)
        invoice = self.outcome.invoice
        if invoice is None:
            return ()
        return tuple(PreviewLine.of(line, currency) for line in invoice.lines)

    @property
    def subtotal(self) -> Money:
        if self._totals is not None:
            return self._money(self._totals[0])
        invoice = self.outcome.invoice
        return self._money(invoice.subtotal if invoice else _ZERO)

    @property
    def tax(self) -> Money:
        if self._totals is not None:
            return self._money(self._totals[1])
        invoice = self.outcome.invoice
        return self._money(invoice.tax_total if invoice else _ZERO)

    @property
    def total(self) -> Money:
        if self._totals is not None:
            subtotal, tax = self._totals
            return self._money(EXACT.add(subtotal, tax))
        invoice = self.outcome.invoice
        return self._money(invoice.total if invoice else _ZERO)

    @property
    def credits(self) -> Money:
        """The sum of the credit lines (zero or negative)."""
        return self._money(self._sum(LineKind.CREDIT))

    @property
    def charges(self) -> Money:
        """The sum of the charge lines."""
        return self._money(self._sum(LineKind.CHARGE))

    def _sum(self, kind: LineKind) -> Decimal:
        return sum((line._amount for line in self.lines if line.kind is kind), _ZERO)

    def __repr__(self) -> str:
        return f"Preview(total={self.total!r}, lines={len(self.lines)})"


_ZERO = Decimal(0)


def quote(
    subscription: Subscription | None,
    action: Action,
    *,
    at: datetime,
    context: BillingContext,
    subscription_id: str | None = None,
) -> Preview:
    """Price ``action`` without committing anything: :func:`apply`, seen in ``Money``.

    >>> from subscriptions.catalog import Catalog, Plan, Price, Product
    >>> from datetime import datetime
    >>> from zoneinfo import ZoneInfo
    >>> rome = ZoneInfo("Europe/Rome")
    >>> catalog = Catalog(products=[Product(id="app", name="App", plans=[
    ...     Plan(id="basic", name="Basic", rank=1,
    ...          prices=[Price(currency="EUR", frequency="monthly", amount="10.00")])])])
    >>> context = BillingContext(catalog=catalog, currency="EUR", tz=rome)
    >>> terms = Terms(product="app", plan="basic", seats=3, frequency="monthly")
    >>> quote(None, Subscribe(terms=terms), at=datetime(2026, 1, 5, tzinfo=rome),
    ...       context=context).total
    Money('30.00', 'EUR')
    """
    if (
        isinstance(action, Change)
        and subscription is not None
        and subscription.status not in (Status.EXPIRED, Status.CANCELED)
    ):
        # A change is priced as a plan; its records are built only if asked for.
        # Every sum and product on this path names the EXACT context itself.
        at = ensure_aware(at, what="action instant").astimezone(UTC)
        _check_in_period(subscription, at)
        plan = _plan_change(subscription, action, at, context)
        return Preview(context=context, plan=plan, totals=_plan_totals(plan, context))
    outcome = apply(subscription, action, at=at, context=context, subscription_id=subscription_id)
    return Preview(context=context, outcome=outcome)
