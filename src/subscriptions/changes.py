"""The plan-change engine: a change of plan level, seats or billing frequency, priced.

Plan changes credit the charge lines they replace and charge the new terms (never a
"difference" line), timed by policy: ``realign`` (credit the unused part, charge a
full new period from now, move the anchor to now), ``keep_anchor`` (credit the unused
part, charge the new terms prorated to the end of the new frequency's period that
contains now, counted from the unchanged anchor) or ``end_of_term`` (scheduled for the
renewal, nothing now). :func:`plan_change` works the change out (its credit and charge
lines, :class:`PreviewLine`); :func:`commit_change` makes it the new state; a preview
(:mod:`subscriptions.preview`) shows the same plan without committing it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from fractions import Fraction

from moneyed import Currency, Money

from ._records import revised
from .catalog import Catalog
from .charges import charge_line, invoice_of, line_is_whole
from .errors import InvalidInput, InvalidTransition
from .money import EXACT, exact_add
from .periods import Frequency, Period, anchored_start, period_containing
from .pricing import InvoiceLine, InvoiceReason, LineKind, tax_on
from .proration import Granularity, prorate_ratio, prorate_units, ratio
from .seats import MAX_SEATS, seat_count
from .subscription import (
    BillingContext,
    Change,
    ChangeKind,
    ChangeTiming,
    EventKind,
    Outcome,
    Status,
    Subscription,
    Terms,
    new_event,
)
from .vat import TaxDecision

__all__ = [
    "PreviewLine",
    "classify_change",
]

# Members read on every change, bound once: reading a member off its enum class runs
# ``EnumType.__getattr__``'s slot hook on Python 3.11 (some 50 ns a read).
_TRIALING, _PENDING_CANCELLATION = Status.TRIALING, Status.PENDING_CANCELLATION
_UPGRADE, _DOWNGRADE = ChangeKind.UPGRADE, ChangeKind.DOWNGRADE
_END_OF_TERM, _REALIGN = ChangeTiming.END_OF_TERM, ChangeTiming.REALIGN
_CHARGE, _CREDIT = LineKind.CHARGE, LineKind.CREDIT
_NO_PRORATION = Granularity.NONE


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


class ChangePlan:
    """What a change does, priced but not yet built into records.

    :func:`quote` reads its totals without building anything; :func:`apply` builds
    the outcome from it. Both come from :func:`plan_change`, so a quote is, to the
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


def unused_value(
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
    contains ``at``), rounded once, negated for a ``credit``: the common case (whole
    local days, actual count) counts the days itself and rounds through
    :func:`~subscriptions.proration.prorate_units`, every other one goes through
    :func:`ratio` and :func:`prorate_ratio`; ``at_day`` is the ordinal of ``at``'s
    local date.
    """
    if ctx.day_actual and at != whole.start:
        ordinal = ctx.days.ordinal
        last = ordinal(whole.end)
        total = last - ordinal(whole.start)
        used = last - at_day
        if 0 < used < total:
            return prorate_units(
                price, -units if credit else units, used, total, ctx.digits, ctx.rounding
            )
    # Every other case (and the edges: nothing or everything unused) the reference way.
    proration = ctx.policy.proration
    num, den = ratio(
        at, whole.end, whole.start, whole.end, tz=ctx.tz, policy=proration, months=months
    )
    basis = price if units == 1 else EXACT.multiply(price, units)
    value = prorate_ratio(basis, num, den, ctx.currency, proration.rounding)
    return EXACT.minus(value) if credit else value


def priced_credits(
    sub: Subscription, at: datetime, at_day: int, ctx: BillingContext
) -> list[PreviewLine]:
    """The credit line of each open charge line covering ``at``, for its unused part
    (amounts planned, not yet built into invoice lines)."""
    proration = ctx.policy.proration
    if proration.granularity is _NO_PRORATION:
        return []
    fixed_30 = ctx.fixed_30
    by_price = ctx.credits_by_price and sub.period is not None
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
            value = unused_value(unit_price, line.seats, at, at_day, whole, ctx, months, True)
        else:
            unit_price = line.unit_price
            months = line.frequency.months if fixed_30 and line_is_whole(line, ctx) else None
            # What was billed for the line: the ledger, not today's price list.
            value = unused_value(line.listed, 1, at, at_day, span, ctx, months, True)
        credits.append(
            PreviewLine(
                _CREDIT,
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
    return credits


def credit_line(credit: PreviewLine, at: datetime) -> InvoiceLine:
    """The invoice line of a planned credit."""
    # (The engine reads its own lines' fields directly.)
    kind, product, plan, seats = credit._kind, credit._product, credit._plan, credit._seats
    frequency, unit_price, end, value = (
        credit._frequency,
        credit._unit_price,
        credit._end,
        credit._amount,
    )
    tax, line = credit._tax, credit._credited
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


def plan_change(sub: Subscription, action: Change, at: datetime, ctx: BillingContext) -> ChangePlan:
    if sub.status is _TRIALING:
        raise InvalidTransition(
            f"{sub.product!r} is on a free trial; subscribe with the plan, seats and "
            "frequency you want instead of changing the trial"
        )
    old = sub.terms
    plan_id = old.plan if action.plan is None else action.plan
    seats = action.seats
    if seats is None:
        seats = old.seats
    elif type(seats) is not int or not 0 < seats <= MAX_SEATS:
        seats = seat_count(seats)
    frequency = action.frequency
    if frequency is None:
        frequency = old.frequency
    elif type(frequency) is not Frequency:
        frequency = Frequency.parse(frequency)
    offers, currency = ctx.catalog.offers, ctx.currency
    offer = (
        offers.get((old.product, plan_id, frequency, currency)) if type(plan_id) is str else None
    )
    price, rank = offer or ctx.offer(old.product, plan_id, frequency)
    if plan_id == old.plan and seats == old.seats and frequency is old.frequency:
        raise InvalidTransition(
            f"the change leaves {sub.product!r} exactly as it is "
            f"({old.plan}, {old.seats} seats, {old.frequency.value}); name a different "
            "plan, seat count or frequency"
        )
    current = offers.get((old.product, old.plan, old.frequency, currency))
    # (A plan no longer sold at the current frequency still has its rank.)
    if current is None:
        old_rank = ctx.catalog.plan(old.product, old.plan).rank
    else:
        _, old_rank = current
    if rank != old_rank:
        kind = _UPGRADE if rank > old_rank else _DOWNGRADE
    else:
        kind = _classify_same_rank(old, seats, frequency, ctx.unit_price(old), price)
    timing = action.timing
    if timing is None:
        policy = ctx.policy.plan_change
        timing = policy.upgrade if kind is _UPGRADE else policy.downgrade
    elif type(timing) is not ChangeTiming:
        timing = _change_timing(timing)
    if timing is _END_OF_TERM:
        return ChangePlan(sub, plan_id, seats, frequency, kind, timing, at, [], None, 0, None)
    if sub.status is _PENDING_CANCELLATION:
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
    credits = priced_credits(sub, at, at_day, ctx)
    product = old.product
    if timing is _REALIGN:
        end = anchored_start(at, 1, frequency, tz)
        charge = PreviewLine(
            _CHARGE,
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
        return ChangePlan(
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
    if ctx.policy.proration.granularity is _NO_PRORATION:
        return ChangePlan(sub, plan_id, seats, frequency, kind, timing, at, credits, None, 0, None)
    if frequency is old.frequency and sub.period_index >= 0:
        # The period that contains `at` is the current one.
        index, whole = sub.period_index, period
    else:
        index, whole = period_containing(sub.anchor, at, frequency, tz, day=sub.billing_day)
    # (The months matter only to fixed 30-day counting.)
    months = frequency.months if ctx.fixed_30 else None
    listed = unused_value(price, seats, at, at_day, whole, ctx, months, False)
    charge = PreviewLine(
        _CHARGE,
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
    if sub.period_index < 0 and whole.start < period.start:
        # During a calendar-billing stub the period still starts when the stub did.
        whole = Period.between(period.start, whole.end)
    return ChangePlan(
        sub, plan_id, seats, frequency, kind, timing, at, credits, charge, index, whole
    )


def _planned_lines(plan: ChangePlan, new: Terms) -> list[InvoiceLine]:
    lines = [credit_line(credit, plan.at) for credit in plan.credits]
    if plan.charge is not None:
        charged = plan.charge
        price, start, end = charged._unit_price, charged._start, charged._end
        listed, tax = charged._amount, charged._tax
        whole = plan.whole
        span = (
            whole
            if whole is not None and whole.start == start and whole.end == end
            else Period.between(start, end)
        )
        lines.append(charge_line(plan.sub.id, new, price, span, listed, tax))
    return lines


def commit_change(plan: ChangePlan, ctx: BillingContext) -> Outcome:
    """Build the outcome of a planned change: the new state, its invoice, its event."""
    sub, at = plan.sub, plan.at
    new = plan.terms()
    detail = {"change_kind": plan.kind, "change_timing": plan.timing}
    if plan.timing is ChangeTiming.END_OF_TERM:
        # A later schedule replaces an earlier one, a scheduled cancellation included.
        changed = revised(sub, status=Status.ACTIVE, scheduled=new)
        return Outcome(
            subscription=changed,
            invoice=None,
            events=(new_event(EventKind.CHANGE_SCHEDULED, at, changed, **detail),),
        )
    assert sub.anchor is not None
    assert sub.period is not None
    lines = _planned_lines(plan, new)
    charges = tuple(line for line in lines if line.kind is LineKind.CHARGE)
    if plan.timing is ChangeTiming.REALIGN:
        assert plan.whole is not None
        changed = revised(
            sub,
            terms=new,
            anchor=at,
            billing_day=None,
            period_index=0,
            period=plan.whole,
            open_charges=charges,
            scheduled=None,
        )
    elif plan.charge is None:
        # No partial charge or credit: the new terms apply now and bill from the
        # next renewal. A new frequency's sequence starts at that renewal, so the
        # current period becomes the stub before it.
        if new.frequency is sub.terms.frequency:
            changed = revised(sub, terms=new, scheduled=None)
        else:
            changed = revised(
                sub,
                terms=new,
                anchor=sub.period.end,
                billing_day=sub.billing_day or sub.anchor.astimezone(ctx.tz).day,
                period_index=-1,
                scheduled=None,
            )
    else:
        assert plan.whole is not None
        changed = revised(
            sub,
            terms=new,
            period_index=plan.index,
            period=plan.whole,
            open_charges=charges,
            scheduled=None,
        )
    return Outcome(
        subscription=changed,
        invoice=invoice_of(lines, at, InvoiceReason.CHANGE, ctx),
        events=(new_event(EventKind.SUBSCRIPTION_CHANGED, at, changed, **detail),),
    )


def plan_totals(plan: ChangePlan, ctx: BillingContext) -> tuple[Decimal, Decimal, Decimal] | None:
    """(subtotal, tax, total) of a planned change when one tax group covers every line and
    tax is added to net prices once per invoice; None otherwise (build the invoice)."""
    if not ctx.tax_added_per_invoice:
        return None
    charge = plan.charge
    if charge is None:
        decision, subtotal = None, _ZERO
    else:
        decision, subtotal = charge._tax, charge._amount
        if decision is None:
            return None
    for credit in plan.credits:
        tax = credit._tax
        if tax is None:
            return None
        if decision is None:
            decision = tax
        elif tax is not decision and not same_tax(decision, tax):
            return None
        subtotal = exact_add(subtotal, credit._amount)
    if decision is None:
        return None
    vat = tax_on(subtotal, decision.rate, ctx.minor_unit, ctx.decimal_rounding)
    return subtotal, vat, exact_add(subtotal, vat)


def same_tax(a: TaxDecision, b: TaxDecision) -> bool:
    return a is b or (a.rate == b.rate and a.treatment is b.treatment and a.mention == b.mention)


# -- quotes: the same call, with Money at the edge ---------------------------------


class PreviewLine:
    """A line of a quote, with its amounts as ``Money``: read-only."""

    __slots__ = (
        "_amount",
        "_credited",
        "_currency",
        "_end",
        "_frequency",
        "_kind",
        "_plan",
        "_product",
        "_seats",
        "_start",
        "_tax",
        "_unit_price",
    )

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
        credited: InvoiceLine | None = None,
    ) -> None:
        self._kind = kind
        self._product = product
        self._plan = plan
        self._seats = seats
        self._frequency = frequency
        self._unit_price = unit_price
        self._start = start
        self._end = end
        self._amount = amount
        self._currency = currency
        self._tax = tax
        self._credited = credited

    @property
    def kind(self) -> LineKind:
        return self._kind

    @property
    def product(self) -> str:
        return self._product

    @property
    def plan(self) -> str:
        return self._plan

    @property
    def seats(self) -> int:
        return self._seats

    @property
    def frequency(self) -> Frequency:
        return self._frequency

    @property
    def tax(self) -> TaxDecision | None:
        """The tax decision of the line (``None`` without a tax setup)."""
        return self._tax

    @property
    def credited(self) -> InvoiceLine | None:
        """For a credit, the charge line it credits."""
        return self._credited

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
    def unit_price(self) -> Money:
        return Money(self._unit_price, self._currency)

    @property
    def period(self) -> Period:
        return Period.between(self._start, self._end)

    @property
    def amount(self) -> Money:
        return Money(self._amount, self._currency)

    @property
    def exact_amount(self) -> Decimal:
        """The amount as a ``Decimal`` (what sums of lines add up)."""
        return self._amount

    @property
    def currency(self) -> str:
        """The ISO 4217 code of the amounts."""
        return str(self._currency.code)

    def __repr__(self) -> str:
        return (
            f"PreviewLine({self.kind.value} {self.product}/{self.plan} x{self.seats} "
            f"{self._start.isoformat()} -> {self._end.isoformat()}: {self._amount} "
            f"{self.currency})"
        )


_ZERO = Decimal(0)
