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
    active --(renewal declined)--> past_due --(paid)--> active
    past_due --(last retry declined, or cancel)--> canceled (at the end of the paid period)

The collection of an unpaid renewal (``past_due``, its retry schedule, recovery and
the lapse) is in :mod:`subscriptions.collection`.

Plan changes credit the charge lines they replace and charge the new terms (never a
"difference" line), timed by policy: ``realign`` (credit the unused part, charge a
full new period from now, move the anchor to now), ``keep_anchor`` (credit the unused
part, charge the new terms prorated to the end of the new frequency's period that
contains now, counted from the unchanged anchor) or ``end_of_term`` (scheduled for the
renewal, nothing now).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from decimal import Decimal, localcontext
from fractions import Fraction

import attrs
from moneyed import Currency, Money

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
from .money import EXACT, Rounding, check_currency, exact_sum, minor_digits, money_currency, quantum
from .periods import (
    ALWAYS_AWARE,
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
    invoice_from_lines,
)
from .proration import CreditBasis, DayCount, Granularity, ProrationPolicy, prorate_ratio, ratio
from .vat import TaxDecision

__all__ = [
    "BILLING",
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


#: The statuses of a subscription that bills: it has a paid (or being collected) period
#: running and renews at its end.
BILLING = frozenset({Status.ACTIVE, Status.PAST_DUE, Status.PENDING_CANCELLATION})


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
    # Local dates of period bounds: many subscriptions share them, and a period's
    # bounds are looked up again by every quote on it. Bounded (see bound_day).
    _bound_days: dict[datetime, int] = attrs.field(init=False, factory=dict, repr=False, eq=False)
    #: the py-moneyed currency of ``currency`` (results are built as ``Money``)
    money_currency: Currency = attrs.field(init=False, repr=False, eq=False)
    # (product, plan, frequency) -> (per-seat price, plan rank): the catalog and the
    # currency never change, so what was looked up once is kept.
    _offers: dict[tuple[str, str, Frequency], tuple[Decimal, int]] = attrs.field(
        init=False, factory=dict, repr=False, eq=False
    )
    # Derived once from the policy and currency, for the plan-change hot path.
    _digits: int = attrs.field(init=False, repr=False, eq=False)
    _scale: int = attrs.field(init=False, repr=False, eq=False)
    _quantum: Decimal = attrs.field(init=False, repr=False, eq=False)
    _decimal_rounding: str = attrs.field(init=False, repr=False, eq=False)
    _half_up: bool = attrs.field(init=False, repr=False, eq=False)
    _day_actual: bool = attrs.field(init=False, repr=False, eq=False)
    _fixed_30: bool = attrs.field(init=False, repr=False, eq=False)
    _credits_by_price: bool = attrs.field(init=False, repr=False, eq=False)
    _tax_added_per_invoice: bool = attrs.field(init=False, repr=False, eq=False)

    @money_currency.default
    def _money_currency(self) -> Currency:
        return money_currency(self.currency)

    @_digits.default
    def _minor_digits(self) -> int:
        return minor_digits(self.currency)

    @_scale.default
    def _minor_scale(self) -> int:
        return int(10**self._digits)

    @_quantum.default
    def _minor_unit(self) -> Decimal:
        return quantum(self.currency)

    @_decimal_rounding.default
    def _rounding_mode(self) -> str:
        return self.policy.proration.rounding.decimal_mode

    @_half_up.default
    def _rounds_half_up(self) -> bool:
        return self.policy.proration.rounding is Rounding.HALF_UP

    @_day_actual.default
    def _counts_actual_days(self) -> bool:
        proration = self.policy.proration
        return proration.granularity is Granularity.DAY and proration.day_count is DayCount.ACTUAL

    @_fixed_30.default
    def _counts_fixed_30(self) -> bool:
        proration = self.policy.proration
        return proration.granularity is Granularity.DAY and proration.day_count is DayCount.FIXED_30

    @_credits_by_price.default
    def _credits_priced(self) -> bool:
        return self.policy.proration.credit is CreditBasis.PRICE

    @_tax_added_per_invoice.default
    def _tax_per_invoice(self) -> bool:
        policy = self.policy
        return not policy.prices_include_tax and policy.tax_rounding is TaxRounding.INVOICE

    def offer(self, product: str, plan: str, frequency: Frequency) -> tuple[Decimal, int]:
        """(per-seat price, plan rank) of a plan at ``frequency``, or a clear NotFound."""
        key = (product, plan, frequency)
        try:
            return self._offers[key]
        except (KeyError, TypeError):
            found = self.catalog.plan(product, plan)
            offer = self._offers[key] = (found.price(frequency, self.currency), found.rank)
            return offer

    def unit_price(self, terms: Terms) -> Decimal:
        """The catalog's per-seat price for ``terms``, or a clear NotFound error."""
        offer = self._offers.get((terms.product, terms.plan, terms.frequency))
        if offer is None:
            offer = self.offer(terms.product, terms.plan, terms.frequency)
        return offer[0]

    def check(self, terms: Terms) -> Terms:
        self.unit_price(terms)
        return terms

    def tax_at(self, instant: datetime) -> TaxDecision | None:
        return None if self.tax is None else self.tax.decide_at(instant, self.tz)

    def bound_day(self, instant: datetime) -> int:
        """The proleptic ordinal of a period bound's local date (memoized: bounds recur,
        shared by many subscriptions and looked up again by every quote on them)."""
        day = self._bound_days.get(instant)
        if day is None:
            if len(self._bound_days) >= _BOUND_DAYS_KEPT:
                self._bound_days.clear()
            day = self._bound_days[instant] = instant.astimezone(self.tz).toordinal()
        return day


_BOUND_DAYS_KEPT = 4096


@attrs.frozen(kw_only=True)
class Dunning:
    """The collection of a subscription's unpaid renewal invoice.

    ``failed_at`` is where the unpaid period starts: the end of the paid one, where a
    lapse ends the subscription. ``attempts`` counts the declined attempts (0: none
    was declined yet, the invoice is only due again); ``next_retry_at`` is when the
    next attempt is due, ``None`` while one is in flight. See
    :mod:`subscriptions.collection`.
    """

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
    #: A payment taken twice (or after its invoice was voided) was given back.
    PAYMENT_REFUNDED = "payment_refunded"
    #: The gateway refused a refund: someone must act.
    REFUND_FAILED = "refund_failed"
    #: A payment's outcome stayed unknown past ``Settings.unknown_after``.
    PAYMENT_NEEDS_REVIEW = "payment_needs_review"
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
        _credit_line(credit, at)
        for credit in _priced_credits(sub, at, at.astimezone(ctx.tz).toordinal(), ctx)
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
        if existing.status in BILLING:
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
    old_plan = catalog.plan(old.product, old.plan)
    new_plan = catalog.plan(new.product, new.plan)
    if new_plan.rank != old_plan.rank:
        return ChangeKind.UPGRADE if new_plan.rank > old_plan.rank else ChangeKind.DOWNGRADE
    return _classify_same_rank(
        old,
        new.seats,
        new.frequency,
        old_plan.price(old.frequency, currency),
        new_plan.price(new.frequency, currency),
    )


def _change_timing(value: object) -> ChangeTiming:
    try:
        return ChangeTiming(value)
    except ValueError:
        raise InvalidInput(
            f"unknown change timing {value!r}; use one of "
            + ", ".join(repr(t.value) for t in ChangeTiming)
        ) from None


def _classify_same_rank(
    old: Terms, seats: int, frequency: Frequency, old_price: Decimal, new_price: Decimal
) -> ChangeKind:
    more_seats = (seats > old.seats) - (seats < old.seats)
    longer = (frequency.months > old.frequency.months) - (frequency.months < old.frequency.months)
    if more_seats >= 0 and longer >= 0 and (more_seats or longer):
        return ChangeKind.UPGRADE
    if more_seats <= 0 and longer <= 0 and (more_seats or longer):
        return ChangeKind.DOWNGRADE
    old_per_day = Fraction(old_price) * old.seats / old.frequency.months
    new_per_day = Fraction(new_price) * seats / frequency.months
    return ChangeKind.DOWNGRADE if new_per_day < old_per_day else ChangeKind.UPGRADE


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
        sub: Subscription,
        plan: str,
        seats: int,
        frequency: Frequency,
        kind: ChangeKind,
        timing: ChangeTiming,
        at: datetime,
        credits: list[PreviewLine],
        charge: PreviewLine | None,
        index: int,
        whole: Period | None,
    ) -> None:
        self.sub = sub
        self.plan = plan
        self.seats = seats
        self.frequency = frequency
        self.kind = kind
        self.timing = timing
        self.at = at
        #: the credit lines, each for the unused part of an open charge line
        self.credits = credits
        #: the charge line of the new terms, or None
        self.charge = charge
        #: the new current period and its index (keep_anchor and realign)
        self.index = index
        self.whole = whole

    def terms(self) -> Terms:
        return Terms(
            product=self.sub.terms.product,
            plan=self.plan,
            seats=self.seats,
            frequency=self.frequency,
        )


def _unused_value(
    price: Decimal,
    units: int,
    at: datetime,
    at_day: int,
    whole: Period,
    ctx: BillingContext,
    months: int | None,
    credit: bool,
) -> Decimal:
    """``price`` x ``units`` x the unused part ``[at, whole.end)`` of ``whole`` (which
    contains ``at``), rounded once, negated for a ``credit``: :func:`ratio` and
    :func:`prorate_ratio` with the common case (whole local days, actual count)
    inlined; ``at_day`` is the ordinal of ``at``'s local date.
    """
    if ctx._day_actual and at != whole.start:
        days = ctx._bound_days
        last = days.get(whole.end) or ctx.bound_day(whole.end)
        total = last - (days.get(whole.start) or ctx.bound_day(whole.start))
        used = last - at_day
        if 0 < used < total:
            # prorate_ratio, inlined: exact integers, rounded once.
            top, bottom = price.as_integer_ratio()
            top *= units * used * ctx._scale
            bottom *= total
            minor, remainder = divmod(top if top >= 0 else -top, bottom)
            twice = 2 * remainder
            if twice > bottom or (twice == bottom and (ctx._half_up or minor % 2 == 1)):
                minor += 1
            digits = ctx._digits
            # Both rounding modes are symmetric: a credit is the charge negated.
            value = Decimal(-minor if (top < 0) is not credit else minor)
            return value.scaleb(-digits, EXACT) if digits else value
    # Every other case (and the edges: nothing or everything unused) the reference way.
    proration = ctx.policy.proration
    num, den = ratio(
        at, whole.end, whole.start, whole.end, tz=ctx.tz, policy=proration, months=months
    )
    basis = price if units == 1 else EXACT.multiply(price, units)
    value = prorate_ratio(basis, num, den, ctx.currency, proration.rounding)
    return EXACT.minus(value) if credit else value


def _priced_credits(
    sub: Subscription, at: datetime, at_day: int, ctx: BillingContext
) -> list[PreviewLine]:
    """The credit line of each open charge line covering ``at``, for its unused part
    (amounts planned, not yet built into invoice lines)."""
    proration = ctx.policy.proration
    if proration.granularity is Granularity.NONE:
        return []
    fixed_30 = ctx._fixed_30
    by_price = ctx._credits_by_price and sub.period is not None
    credits = []
    for line in sub.open_charges:
        span = line.period
        if not span.start <= at < span.end:
            continue
        if by_price:
            unit_price = ctx.unit_price(
                Terms(
                    product=line.product, plan=line.plan, seats=line.seats, frequency=line.frequency
                )
            )
            whole = sub.period
            assert whole is not None
            months = line.frequency.months if fixed_30 and sub.period_index >= 0 else None
            value = _unused_value(unit_price, line.seats, at, at_day, whole, ctx, months, True)
        else:
            unit_price = line.unit_price
            months = line.frequency.months if fixed_30 and _line_is_whole(line, ctx) else None
            # What was billed for the line: the ledger, not today's price list.
            value = _unused_value(line.listed, 1, at, at_day, span, ctx, months, True)
        credits.append(
            _preview_line(
                (
                    LineKind.CREDIT,
                    line.product,
                    line.plan,
                    line.seats,
                    line.frequency,
                    unit_price,
                    at,
                    span.end,
                    value,
                    ctx.money_currency,
                    line.tax,
                    line,
                )
            )
        )
    return credits


def _credit_line(credit: PreviewLine, at: datetime) -> InvoiceLine:
    """The invoice line of a planned credit."""
    kind, product, plan, seats, frequency, unit_price, _, end, value, _, tax, line = credit._data
    assert line is not None
    return InvoiceLine(
        kind=kind,
        subscription_id=line.subscription_id,
        product=product,
        plan=plan,
        frequency=frequency,
        seats=seats,
        unit_price=unit_price,
        period=Period.between(at, end),
        listed=value,
        amount=value,
        tax=tax,
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
    seats = action.seats
    if seats is None:
        seats = old.seats
    elif type(seats) is not int or seats < 1:
        seats = _seats(seats)
    frequency = action.frequency
    if frequency is None:
        frequency = old.frequency
    elif type(frequency) is not Frequency:
        frequency = Frequency.parse(frequency)
    offer = ctx._offers.get((old.product, plan_id, frequency)) if type(plan_id) is str else None
    price, rank = offer or ctx.offer(old.product, plan_id, frequency)
    if plan_id == old.plan and seats == old.seats and frequency is old.frequency:
        raise InvalidTransition(
            f"the change leaves {sub.product!r} exactly as it is "
            f"({old.plan}, {old.seats} seats, {old.frequency.value}); name a different "
            "plan, seat count or frequency"
        )
    current = ctx._offers.get((old.product, old.plan, old.frequency))
    # (A plan no longer sold at the current frequency still has its rank.)
    old_rank = ctx.catalog.plan(old.product, old.plan).rank if current is None else current[1]
    if rank != old_rank:
        kind = ChangeKind.UPGRADE if rank > old_rank else ChangeKind.DOWNGRADE
    else:
        kind = _classify_same_rank(old, seats, frequency, ctx.unit_price(old), price)
    timing = action.timing
    if timing is None:
        policy = ctx.policy.plan_change
        timing = policy.upgrade if kind is ChangeKind.UPGRADE else policy.downgrade
    elif type(timing) is not ChangeTiming:
        timing = _change_timing(timing)
    if timing is ChangeTiming.END_OF_TERM:
        return _ChangePlan(sub, plan_id, seats, frequency, kind, timing, at, [], None, 0, None)
    if sub.status is Status.PENDING_CANCELLATION:
        raise InvalidTransition(
            f"{sub.product!r} is set to cancel at the end of its term; reactivate it "
            "before changing it now, or schedule the change for the end of the term"
        )
    assert sub.anchor is not None
    period = sub.period
    assert period is not None
    tz = ctx.tz
    local = at.astimezone(tz)
    at_day = local.toordinal()
    setup = ctx.tax
    tax = None if setup is None else setup.decide(local.date())
    credits = _priced_credits(sub, at, at_day, ctx)
    product = old.product
    if timing is ChangeTiming.REALIGN:
        end = anchored_start(at, 1, frequency, tz)
        charge = _preview_line(
            (
                LineKind.CHARGE,
                product,
                plan_id,
                seats,
                frequency,
                price,
                at,
                end,
                EXACT.multiply(price, seats),
                ctx.money_currency,
                tax,
                None,
            )
        )
        return _ChangePlan(
            sub,
            plan_id,
            seats,
            frequency,
            kind,
            timing,
            at,
            credits,
            charge,
            0,
            Period.between(at, end),
        )
    if ctx.policy.proration.granularity is Granularity.NONE:
        return _ChangePlan(sub, plan_id, seats, frequency, kind, timing, at, credits, None, 0, None)
    if frequency is old.frequency and sub.period_index >= 0:
        # The period that contains `at` is the current one.
        index, whole = sub.period_index, period
    else:
        index, whole = period_containing(sub.anchor, at, frequency, tz, day=sub.billing_day)
    # (The months matter only to fixed 30-day counting.)
    months = frequency.months if ctx._fixed_30 else None
    listed = _unused_value(price, seats, at, at_day, whole, ctx, months, False)
    charge = _preview_line(
        (
            LineKind.CHARGE,
            product,
            plan_id,
            seats,
            frequency,
            price,
            at,
            whole.end,
            listed,
            ctx.money_currency,
            tax,
            None,
        )
    )
    if sub.period_index < 0 and whole.start < period.start:
        # During a calendar-billing stub the period still starts when the stub did.
        whole = Period.between(period.start, whole.end)
    return _ChangePlan(
        sub, plan_id, seats, frequency, kind, timing, at, credits, charge, index, whole
    )


def _planned_lines(plan: _ChangePlan, new: Terms) -> list[InvoiceLine]:
    lines = [_credit_line(credit, plan.at) for credit in plan.credits]
    if plan.charge is not None:
        _, _, _, _, _, price, start, end, listed, _, tax, _ = plan.charge._data
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


def _plan_totals(plan: _ChangePlan, ctx: BillingContext) -> tuple[Decimal, Decimal, Decimal] | None:
    """(subtotal, tax, total) of a planned change when one tax group covers every line and
    tax is added to net prices once per invoice; None otherwise (build the invoice)."""
    if not ctx._tax_added_per_invoice:
        return None
    charge = plan.charge
    if charge is None:
        decision, subtotal = None, _ZERO
    else:
        decision, subtotal = charge._data[10], charge._data[8]
        if decision is None:
            return None
    for credit in plan.credits:
        tax = credit._data[10]
        if tax is None:
            return None
        if decision is None:
            decision = tax
        elif tax is not decision and not _same_tax(decision, tax):
            return None
        subtotal = EXACT.add(subtotal, credit._data[8])
    if decision is None:
        return None
    # exclusive_tax, inlined: base x rate / 100 is exact, rounded once.
    vat = (
        EXACT.multiply(subtotal, decision.rate)
        .scaleb(-2, EXACT)
        .quantize(ctx._quantum, ctx._decimal_rounding, EXACT)
    )
    if vat.is_zero():
        vat = vat.copy_abs()
    return subtotal, vat, EXACT.add(subtotal, vat)


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
        at = ensure_aware(at, what="step instant").astimezone(UTC)
        if at < due:
            raise InvalidInput(
                f"{at.isoformat()} is before the step due on {due.isoformat()}; a step is "
                "taken when it is due or later"
            )
    with localcontext(EXACT):
        if sub.status is Status.TRIALING:
            return _end_trial(sub, due, context, at)
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
        return _renew(sub, due, context, at)


def _end_trial(sub: Subscription, due: datetime, ctx: BillingContext, at: datetime) -> Outcome:
    if ctx.policy.trial_end is TrialEnd.EXPIRE:
        changed = attrs.evolve(sub, status=Status.EXPIRED, version=sub.version + 1)
        return Outcome(
            subscription=changed,
            invoice=None,
            events=(_event(EventKind.TRIAL_EXPIRED, due, changed),),
        )
    terms = sub.terms
    period = Period.between(due, anchored_start(due, 1, terms.frequency, ctx.tz))
    charge = _full_charge(sub.id, terms, period, at, ctx)
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
        invoice=_invoice([charge], at, InvoiceReason.CONVERSION, ctx),
        events=(_event(EventKind.TRIAL_CONVERTED, due, changed, "automatic"),),
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
    charge = _full_charge(sub.id, terms, period, at, ctx)
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
        invoice=_invoice([charge], at, InvoiceReason.RENEWAL, ctx),
        events=(_event(EventKind.SUBSCRIPTION_RENEWED, due, changed),),
    )


# -- quotes: the same call, with Money at the edge ---------------------------------


class PreviewLine:
    """A line of a quote, with its amounts as ``Money``."""

    __slots__ = ("_data",)

    _data: _PreviewData

    def __init__(
        self,
        kind: LineKind,
        product: str,
        plan: str,
        seats: int,
        frequency: Frequency,
        unit_price: Decimal,
        start: datetime,
        end: datetime,
        amount: Decimal,
        currency: Currency,
        tax: TaxDecision | None = None,
    ) -> None:
        self._data = (
            kind,
            product,
            plan,
            seats,
            frequency,
            unit_price,
            start,
            end,
            amount,
            currency,
            tax,
            None,
        )

    @classmethod
    def of(cls, line: InvoiceLine, currency: Currency) -> PreviewLine:
        return cls(
            line.kind,
            line.product,
            line.plan,
            line.seats,
            line.frequency,
            line.unit_price,
            line.period.start,
            line.period.end,
            line.amount,
            currency,
            line.tax,
        )

    @property
    def kind(self) -> LineKind:
        return self._data[0]

    @property
    def product(self) -> str:
        return self._data[1]

    @property
    def plan(self) -> str:
        return self._data[2]

    @property
    def seats(self) -> int:
        return self._data[3]

    @property
    def frequency(self) -> Frequency:
        return self._data[4]

    @property
    def unit_price(self) -> Money:
        return Money(self._data[5], self._data[9])

    @property
    def period(self) -> Period:
        return Period.between(self._data[6], self._data[7])

    @property
    def amount(self) -> Money:
        return Money(self._data[8], self._data[9])

    @property
    def currency(self) -> str:
        """The ISO 4217 code of the amounts."""
        return str(self._data[9].code)

    def __repr__(self) -> str:
        kind, product, plan, seats, _, _, start, end, amount, *_ = self._data
        return (
            f"PreviewLine({kind.value} {product}/{plan} x{seats} "
            f"{start.isoformat()} -> {end.isoformat()}: {amount} {self.currency})"
        )


#: kind, product, plan, seats, frequency, unit price, start, end, amount, currency, tax
#: decision, and (for a planned credit) the charge line it credits
_PreviewData = tuple[
    LineKind,
    str,
    str,
    int,
    Frequency,
    Decimal,
    datetime,
    datetime,
    Decimal,
    Currency,
    TaxDecision | None,
    InvoiceLine | None,
]


def _preview_line(data: _PreviewData) -> PreviewLine:
    # PreviewLine without the keyword-rich constructor call: a quote builds several.
    line = object.__new__(PreviewLine)
    line._data = data
    return line


class Preview:
    """What an action would bill, priced by the very call that commits it.

    Amounts are ``Money``. :attr:`outcome` is the state, invoice and events that
    committing the action produces (exactly these, if nothing changed meanwhile); it
    is built on first use, from the same priced plan the totals come from.
    """

    __slots__ = ("_context", "_currency", "_lines", "_outcome", "_plan", "_totals")

    def __init__(
        self,
        context: BillingContext,
        outcome: Outcome | None = None,
        plan: _ChangePlan | None = None,
    ) -> None:
        self._context = context
        self._currency = context.money_currency
        self._outcome = outcome
        self._plan = plan
        self._lines: tuple[PreviewLine, ...] | None = None
        #: (subtotal, tax) of a planned change whose totals need no invoice; None
        #: when the invoice must be built (or for an outcome)
        self._totals = None if plan is None else _plan_totals(plan, context)

    @property
    def currency(self) -> str:
        """The ISO 4217 code of the amounts."""
        return self._context.currency

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

    @property
    def lines(self) -> tuple[PreviewLine, ...]:
        lines = self._lines
        if lines is None:
            lines = self._lines = self._build_lines()
        return lines

    def _build_lines(self) -> tuple[PreviewLine, ...]:
        plan = self._plan
        if plan is not None and self._totals is not None:
            # Tax-exclusive lines: the planned lines are the invoice's.
            charge = plan.charge
            return (*plan.credits, charge) if charge is not None else tuple(plan.credits)
        invoice = self.outcome.invoice
        if invoice is None:
            return ()
        currency = self._currency
        return tuple(PreviewLine.of(line, currency) for line in invoice.lines)

    def _invoice_totals(self) -> tuple[Decimal, Decimal, Decimal]:
        invoice = self.outcome.invoice
        if invoice is None:
            return _ZERO, _ZERO, _ZERO
        return invoice.subtotal, invoice.tax_total, invoice.total

    @property
    def subtotal(self) -> Money:
        return Money((self._totals or self._invoice_totals())[0], self._currency)

    @property
    def tax(self) -> Money:
        return Money((self._totals or self._invoice_totals())[1], self._currency)

    @property
    def total(self) -> Money:
        return Money((self._totals or self._invoice_totals())[2], self._currency)

    @property
    def credits(self) -> Money:
        """The sum of the credit lines (zero or negative)."""
        return Money(self._sum(LineKind.CREDIT), self._currency)

    @property
    def charges(self) -> Money:
        """The sum of the charge lines."""
        return Money(self._sum(LineKind.CHARGE), self._currency)

    def _sum(self, kind: LineKind) -> Decimal:
        return exact_sum(line._data[8] for line in self.lines if line._data[0] is kind)

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
    if type(action) is Change and subscription is not None and subscription.status not in _ENDED:
        # A change is priced as a plan; its records are built only if asked for.
        # Every sum and product on this path names the EXACT context itself.
        if type(at) is not datetime or (
            type(at.tzinfo) not in ALWAYS_AWARE and at.utcoffset() is None
        ):
            ensure_aware(at, what="action instant")
        at = at.astimezone(UTC)
        period = subscription.period
        if (
            period is None
            or subscription.status not in BILLING
            or not period.start <= at < period.end
        ):
            _check_in_period(subscription, at)
        return Preview(context, None, _plan_change(subscription, action, at, context))
    outcome = apply(subscription, action, at=at, context=context, subscription_id=subscription_id)
    return Preview(context, outcome)


_ENDED = frozenset((Status.EXPIRED, Status.CANCELED))
