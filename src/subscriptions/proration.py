"""Proration: what part of a billed span a sub-span is, as an exact fraction.

Policies, not hard-coded rules (DESIGN.md section 3, "Proration"):

* ``Granularity.DAY`` (default) counts whole local calendar days; the day of the
  action counts as unused. ``Granularity.SECOND`` counts elapsed seconds.
  ``Granularity.NONE`` gives no partial credit or charge at all.
* ``DayCount.ACTUAL`` counts real days; ``DayCount.FIXED_30`` counts every month as 30
  days: a whole period of *n* months counts ``30 x n``; a part counts its actual days,
  less ``days in the month - 30`` for each month end it crosses, never more than the
  whole period.

The fraction is exact (:class:`fractions.Fraction`); amounts are rounded once, after
multiplying (:func:`prorate`), never on a per-day price.

>>> from datetime import datetime
>>> from zoneinfo import ZoneInfo
>>> from decimal import Decimal
>>> rome = ZoneInfo("Europe/Rome")
>>> billed = Period(datetime(2026, 2, 12, tzinfo=rome), datetime(2026, 3, 12, tzinfo=rome))
>>> unused = Period(datetime(2026, 2, 20, tzinfo=rome), billed.end)
>>> fraction(unused, billed, tz=rome, policy=ProrationPolicy())
Fraction(5, 7)
>>> prorate(Decimal("150.00"), fraction(unused, billed, tz=rome, policy=ProrationPolicy()), "EUR")
Decimal('107.14')
"""

from __future__ import annotations

from calendar import monthrange
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal
from fractions import Fraction

import attrs

from ._enum import Choice
from .errors import InvalidInput
from .money import (
    EXACT,
    Rounding,
    exact_multiply,
    minor_digits,
    round_amount,
    round_ratio,
    to_decimal,
)
from .periods import Period

__all__ = [
    "CreditBasis",
    "DayCount",
    "Granularity",
    "ProrationPolicy",
    "fixed_30_days",
    "fraction",
    "prorate",
    "prorate_ratio",
    "prorate_units",
    "ratio",
]


class Granularity(Choice):
    DAY = "day"
    SECOND = "second"
    NONE = "none"


class DayCount(Choice):
    ACTUAL = "actual"
    FIXED_30 = "fixed_30"


class CreditBasis(Choice):
    """What a credit for unused time is worth.

    ``BILLED`` (default, ledger-based): the amount actually billed for the reversed
    line times the unused part of that line's own span. ``PRICE`` (Stripe's classic
    mode): the current price times the unused part of the current period; it over- or
    under-credits after discounts, price changes or earlier prorations.
    """

    BILLED = "billed"
    PRICE = "price"


@attrs.frozen(kw_only=True, weakref_slot=False)
class ProrationPolicy:
    granularity: Granularity = Granularity.DAY
    day_count: DayCount = DayCount.ACTUAL
    credit: CreditBasis = CreditBasis.BILLED
    rounding: Rounding = Rounding.HALF_UP


def _month_index(d: date) -> int:
    return d.year * 12 + d.month - 1


def fixed_30_days(start: date, end: date) -> int:
    """Days from ``start`` to ``end`` (exclusive) with every month counted as 30 days.

    A month end is crossed when the span runs past its last day, that is when the
    first of the next month lies in ``(start, end]``.

    >>> fixed_30_days(date(2023, 5, 23), date(2023, 6, 15))
    22
    >>> fixed_30_days(date(2023, 2, 23), date(2023, 3, 15))
    22
    >>> fixed_30_days(date(2023, 6, 15), date(2023, 6, 23))
    8
    """
    days = (end - start).days
    for index in range(_month_index(start), _month_index(end)):
        year, month0 = divmod(index, 12)
        days -= monthrange(year, month0 + 1)[1] - 30
    return days


def _units(start: datetime, end: datetime, tz: tzinfo, policy: ProrationPolicy) -> int:
    if policy.granularity is Granularity.SECOND:
        # Elapsed time, counted in microseconds so that a period split anywhere adds
        # up exactly; instants on whole seconds give the same shares as seconds.
        return (end.astimezone(UTC) - start.astimezone(UTC)) // _MICROSECOND
    first = start.astimezone(tz).date()
    last = end.astimezone(tz).date()
    if policy.day_count is DayCount.FIXED_30:
        return fixed_30_days(first, last)
    return (last - first).days


_MICROSECOND = timedelta(microseconds=1)


def ratio(
    start: datetime,
    end: datetime,
    whole_start: datetime,
    whole_end: datetime,
    *,
    tz: tzinfo,
    policy: ProrationPolicy,
    months: int | None = None,
) -> tuple[int, int]:
    """:func:`fraction` as ``(numerator, denominator)`` integers, for the hot path.

    The pair is not reduced; ``denominator`` is never zero.
    """
    if not (whole_start <= start and end <= whole_end):
        raise InvalidInput(
            f"{start.isoformat()}..{end.isoformat()} does not lie inside "
            f"{whole_start.isoformat()}..{whole_end.isoformat()}"
        )
    if start == whole_start and end == whole_end:
        return 1, 1
    granularity = policy.granularity
    if granularity is Granularity.NONE:
        return 0, 1
    if (
        months is not None
        and granularity is Granularity.DAY
        and policy.day_count is DayCount.FIXED_30
    ):
        total = 30 * months
    else:
        total = _units(whole_start, whole_end, tz, policy)
    if total <= 0:
        return 0, 1
    used = _units(start, end, tz, policy)
    return (0 if used < 0 else total if used > total else used), total


def fraction(
    part: Period,
    whole: Period,
    *,
    tz: tzinfo,
    policy: ProrationPolicy,
    months: int | None = None,
) -> Fraction:
    """The part of ``whole`` that ``part`` covers, between 0 and 1.

    ``part`` must lie inside ``whole``. ``months`` says that ``whole`` is one full
    billing period of that many months (fixed 30-day counting then counts it as
    ``30 x months`` days); leave it out when ``whole`` is itself a part of a period,
    such as a prorated line's own span. With ``Granularity.NONE`` the fraction is 0
    for a strict sub-span and 1 for the whole span.
    """
    num, den = ratio(
        part.start, part.end, whole.start, whole.end, tz=tz, policy=policy, months=months
    )
    return Fraction(num, den)


def prorate(
    amount: Decimal,
    share: Fraction,
    currency: str,
    rounding: Rounding = Rounding.HALF_UP,
) -> Decimal:
    """``amount x share`` rounded once to the currency's minor unit."""
    return prorate_ratio(amount, share.numerator, share.denominator, currency, rounding)


def prorate_ratio(
    amount: Decimal,
    numerator: int,
    denominator: int,
    currency: str,
    rounding: Rounding = Rounding.HALF_UP,
) -> Decimal:
    """``amount x numerator / denominator``, rounded once, in exact integer arithmetic."""
    if type(amount) is not Decimal:
        amount = to_decimal(amount)
    if numerator == denominator:
        return round_amount(amount, currency, rounding)
    return prorate_units(amount, 1, numerator, denominator, minor_digits(currency), rounding)


def prorate_units(
    price: Decimal, units: int, numerator: int, denominator: int, digits: int, rounding: Rounding
) -> Decimal:
    """``price x units x numerator / denominator`` rounded once to ``digits`` decimals:
    the kernel every proration rounds through (exact integers; a negative ``units``
    gives the credit, the charge negated, since both rounding modes are symmetric)."""
    top, bottom = price.as_integer_ratio()
    scale = _SCALES[digits] if digits < 5 else 10**digits
    minor = round_ratio(top * units * numerator * scale, bottom * denominator, rounding)
    if not digits:
        return Decimal(minor)
    # The minor units times the unit: exact, the value of Decimal(minor).scaleb(-digits)
    # (and its exponent), for less.
    unit = _UNITS[digits] if digits < 5 else Decimal(1).scaleb(-digits, EXACT)
    return exact_multiply(minor, unit)


_SCALES = (1, 10, 100, 1_000, 10_000)
_UNITS = tuple(Decimal(1).scaleb(-digits, EXACT) for digits in range(len(_SCALES)))
