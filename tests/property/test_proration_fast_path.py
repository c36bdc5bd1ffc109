"""The plan-change hot path prorates with hand-inlined arithmetic; it must agree,
to the minor unit, with the reference functions (:func:`ratio` then
:func:`prorate_ratio`) for every policy, currency, zone, period and instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from subscriptions import (
    BillingContext,
    BillingPolicy,
    Catalog,
    DayCount,
    Frequency,
    Granularity,
    Plan,
    Price,
    Product,
    ProrationPolicy,
    Rounding,
)
from subscriptions.changes import unused_value as _unused_value
from subscriptions.money import EXACT, round_ratio
from subscriptions.periods import Period, period_containing
from subscriptions.proration import prorate_ratio, prorate_units, ratio

CATALOG = Catalog(
    products=[
        Product(
            id="app",
            name="App",
            plans=[
                Plan(
                    id="p",
                    name="P",
                    rank=1,
                    prices=[
                        Price(currency=c, frequency="monthly", amount="1")
                        for c in ("EUR", "JPY", "BHD")
                    ],
                )
            ],
        )
    ]
)
ZONES = ["Europe/Rome", "America/Santiago", "Pacific/Apia", "Asia/Kolkata", "UTC"]


@settings(max_examples=500, deadline=None)
@given(
    currency=st.sampled_from(["EUR", "JPY", "BHD"]),
    zone=st.sampled_from(ZONES),
    frequency=st.sampled_from(list(Frequency)),
    granularity=st.sampled_from(list(Granularity)),
    day_count=st.sampled_from(list(DayCount)),
    rounding=st.sampled_from(list(Rounding)),
    anchor_seconds=st.integers(0, 20 * 365 * 86400),
    offset=st.floats(0, 1, exclude_max=True, allow_nan=False),
    periods_later=st.integers(0, 30),
    # Amounts finer than the minor unit too (a per-seat price of 0.125), times seats.
    basis=st.integers(-(10**9), 10**9).map(lambda n: Decimal(n).scaleb(-3)),
    units=st.integers(1, 500),
)
def test_the_inlined_proration_is_the_reference_one(
    currency: str,
    zone: str,
    frequency: Frequency,
    granularity: Granularity,
    day_count: DayCount,
    rounding: Rounding,
    anchor_seconds: int,
    offset: float,
    periods_later: int,
    basis: Decimal,
    units: int,
) -> None:
    policy = ProrationPolicy(granularity=granularity, day_count=day_count, rounding=rounding)
    ctx = BillingContext(
        catalog=CATALOG, currency=currency, tz=zone, policy=BillingPolicy(proration=policy)
    )
    anchor = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(seconds=anchor_seconds)
    probe = anchor + timedelta(days=periods_later * 31 * frequency.months)
    _, whole = period_containing(anchor, probe, frequency, ctx.tz)
    span = whole.end - whole.start
    at = whole.start + timedelta(seconds=int(span.total_seconds() * offset))
    at_day = at.astimezone(ctx.tz).date()
    for months in (frequency.months, None):
        num, den = ratio(
            at, whole.end, whole.start, whole.end, tz=ctx.tz, policy=policy, months=months
        )
        expected = prorate_ratio(EXACT.multiply(basis, units), num, den, currency, rounding)
        got = _unused_value(basis, units, at, at_day.toordinal(), whole, ctx, months, False)
        # The same representation too (digits of the minor unit), not only the value.
        assert str(got) == str(expected)
        # A credit is the same amount negated (zero stays "0.00", never "-0.00").
        credit = _unused_value(basis, units, at, at_day.toordinal(), whole, ctx, months, True)
        assert str(credit) == str(EXACT.minus(expected))


@pytest.mark.parametrize(
    ("basis", "currency", "half_up", "half_even"),
    [
        # April has 30 days; from the 16th, 15 are unused: exact halves of a minor unit.
        ("0.05", "EUR", "0.03", "0.02"),
        ("0.07", "EUR", "0.04", "0.04"),
        ("-0.05", "EUR", "-0.03", "-0.02"),
        ("-0.07", "EUR", "-0.04", "-0.04"),
        ("5", "JPY", "3", "2"),
        ("0.005", "BHD", "0.003", "0.002"),
        ("150.01", "EUR", "75.01", "75.00"),
    ],
)
def test_ties_follow_the_rounding_mode(
    basis: str, currency: str, half_up: str, half_even: str
) -> None:
    whole = Period(datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC))
    at = datetime(2026, 4, 16, 12, tzinfo=UTC)
    for rounding, expected in ((Rounding.HALF_UP, half_up), (Rounding.HALF_EVEN, half_even)):
        ctx = BillingContext(
            catalog=CATALOG,
            currency=currency,
            tz="UTC",
            policy=BillingPolicy(proration=ProrationPolicy(rounding=rounding)),
        )
        got = _unused_value(Decimal(basis), 1, at, at.toordinal(), whole, ctx, 1, False)
        assert str(got) == expected
        credit = _unused_value(Decimal(basis), 1, at, at.toordinal(), whole, ctx, 1, True)
        assert str(credit) == str(EXACT.minus(Decimal(expected)))


@given(
    price=st.integers(-(10**12), 10**12).flatmap(
        lambda n: st.integers(0, 6).map(lambda e: Decimal(n).scaleb(-e))
    ),
    units=st.integers(-500, 500),
    numerator=st.integers(0, 400),
    denominator=st.integers(1, 400),
    digits=st.integers(0, 6),
    rounding=st.sampled_from(list(Rounding)),
)
def test_prorate_units_rounds_the_exact_product_once(
    price: Decimal, units: int, numerator: int, denominator: int, digits: int, rounding: Rounding
) -> None:
    got = prorate_units(price, units, numerator, denominator, digits, rounding)
    exact = Fraction(price) * units * numerator / denominator * 10**digits
    minor = round_ratio(exact.numerator, exact.denominator, rounding)
    # The value rounded once, written with exactly the minor unit's digits.
    assert got.as_tuple() == Decimal(minor).scaleb(-digits, EXACT).as_tuple()
    assert abs(Fraction(got) * 10**digits - exact) <= Fraction(1, 2)
