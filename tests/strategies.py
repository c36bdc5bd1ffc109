"""Hypothesis strategies shared by the property tests.

Amounts are drawn as whole minor units of their currency, instants as aware datetimes
in zones with and without DST (including a 30-minute DST shift), anchors on every day
of the month including the 29th to the 31st.
"""

from __future__ import annotations

from calendar import monthrange
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import settings
from hypothesis import strategies as st

from subscriptions.money import minor_digits
from subscriptions.periods import Frequency, Period, anchored_start
from subscriptions.vat import TaxDecision, TaxTreatment

settings.register_profile("subscriptions", deadline=None)
settings.load_profile("subscriptions")

CURRENCIES = ("EUR", "JPY", "BHD", "USD")
ZONE_NAMES = (
    "UTC",
    "Europe/Rome",
    "America/New_York",
    "Australia/Sydney",
    "Australia/Lord_Howe",
)
ZONES = tuple(ZoneInfo(name) for name in ZONE_NAMES)
VAT_RATES = tuple(
    Decimal(r) for r in ("0", "5.5", "7", "10", "17", "19", "20", "21", "22", "25.5", "27")
)

currencies = st.sampled_from(CURRENCIES)
zones: st.SearchStrategy[tzinfo] = st.sampled_from(ZONES)
frequencies = st.sampled_from(list(Frequency))


def from_minor(minor: int, currency: str) -> Decimal:
    """``minor`` minor units of ``currency`` as an exact Decimal (``1234`` -> ``12.34``)."""
    digits = minor_digits(currency)
    return Decimal(f"{minor}E-{digits}") if digits else Decimal(minor)


def to_minor(amount: Decimal, currency: str) -> int:
    """The inverse of :func:`from_minor`; the amount must sit on the minor unit."""
    scaled = amount * (10 ** minor_digits(currency))
    assert scaled == scaled.to_integral_value(), f"{amount} is not on {currency}'s minor unit"
    return int(scaled)


def amounts(
    currency: str, *, min_minor: int = -(10**9), max_minor: int = 10**9
) -> st.SearchStrategy[Decimal]:
    """Amounts of ``currency`` that sit exactly on its minor unit."""
    return st.integers(min_minor, max_minor).map(lambda m: from_minor(m, currency))


@st.composite
def currency_amounts(
    draw: st.DrawFn, *, min_minor: int = -(10**9), max_minor: int = 10**9
) -> tuple[str, Decimal]:
    """A currency and an amount on its minor unit."""
    currency = draw(currencies)
    return currency, draw(amounts(currency, min_minor=min_minor, max_minor=max_minor))


def aware_datetimes(
    *, min_year: int = 2000, max_year: int = 2040, zone: tzinfo | None = None
) -> st.SearchStrategy[datetime]:
    """Aware datetimes (imaginary and ambiguous wall times included)."""
    return st.datetimes(
        min_value=datetime(min_year, 1, 1),
        max_value=datetime(max_year, 12, 31, 23, 59, 59),
        timezones=st.just(zone) if zone is not None else zones,
    )


@st.composite
def anchors(draw: st.DrawFn, *, zone: tzinfo | None = None) -> datetime:
    """An aware anchor on any day of the month (the 29th to 31st as often as any other).

    The wall time favours the small hours, where DST changes happen.
    """
    tz = zone if zone is not None else draw(zones)
    year = draw(st.integers(2015, 2035))
    day = draw(st.integers(1, 31))
    month = draw(st.sampled_from([m for m in range(1, 13) if monthrange(year, m)[1] >= day]))
    hour = draw(st.one_of(st.integers(0, 4), st.integers(0, 23)))
    minute = draw(st.sampled_from([0, 0, 15, 30, 45, 59]))
    second = draw(st.integers(0, 59))
    fold = draw(st.integers(0, 1))
    return datetime(year, month, day, hour, minute, second, tzinfo=tz, fold=fold)


@st.composite
def anchored_periods(draw: st.DrawFn) -> tuple[datetime, Frequency, tzinfo, int, Period]:
    """A full anchored period: ``(anchor, frequency, tz, n, period)``."""
    tz = draw(zones)
    anchor = draw(anchors(zone=tz))
    frequency = draw(frequencies)
    n = draw(st.integers(-30, 30))
    start = anchored_start(anchor, n, frequency, tz)
    end = anchored_start(anchor, n + 1, frequency, tz)
    return anchor, frequency, tz, n, Period(start, end)


@st.composite
def instants_inside(draw: st.DrawFn, period: Period, *, tz: tzinfo) -> datetime:
    """An instant strictly inside ``period`` (to the microsecond), shown in ``tz``.

    The offset is added in UTC: adding a timedelta to an aware local datetime would do
    wall-clock arithmetic and could land outside the period across a DST change.
    """
    span = period.end - period.start
    micros = span // timedelta(microseconds=1)
    offset = draw(st.integers(1, micros - 1))
    return (period.start.astimezone(UTC) + timedelta(microseconds=offset)).astimezone(tz)


@st.composite
def tax_decisions(draw: st.DrawFn) -> TaxDecision:
    """A standard-rate decision at one of several EU rates, or a zero-rated one."""
    kind = draw(st.sampled_from(["standard", "standard", "standard", "reverse", "out"]))
    if kind == "reverse":
        return TaxDecision(
            treatment=TaxTreatment.REVERSE_CHARGE,
            rate=Decimal(0),
            rate_country=None,
            mention="Reverse charge",
        )
    if kind == "out":
        return TaxDecision(
            treatment=TaxTreatment.OUT_OF_SCOPE, rate=Decimal(0), rate_country=None, mention=None
        )
    return TaxDecision(
        treatment=TaxTreatment.STANDARD,
        rate=draw(st.sampled_from(VAT_RATES)),
        rate_country="IT",
        mention=None,
    )


@st.composite
def ratios(draw: st.DrawFn) -> list[Decimal | int]:
    """Allocation ratios: non-negative ints or Decimals, at least one positive."""
    ratio = st.one_of(
        st.integers(0, 1000),
        st.decimals(min_value=0, max_value=1000, places=4, allow_nan=False, allow_infinity=False),
    )
    values = draw(st.lists(ratio, min_size=1, max_size=12))
    if all(v == 0 for v in values):
        values[draw(st.integers(0, len(values) - 1))] = 1
    return values
