"""Proration: exact fractions of billed spans, day counts, rounding once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from subscriptions.errors import InvalidInput
from subscriptions.money import Rounding
from subscriptions.periods import Frequency, Period, anchored_start
from subscriptions.proration import (
    CreditBasis,
    DayCount,
    Granularity,
    ProrationPolicy,
    fixed_30_days,
    fraction,
    prorate,
)

ROME = ZoneInfo("Europe/Rome")
NEW_YORK = ZoneInfo("America/New_York")
D = Decimal
DAY = ProrationPolicy()
SECOND = ProrationPolicy(granularity=Granularity.SECOND)
NONE = ProrationPolicy(granularity=Granularity.NONE)
FIXED_30 = ProrationPolicy(day_count=DayCount.FIXED_30)


def rome(*args: int) -> datetime:
    return datetime(*args, tzinfo=ROME)  # type: ignore[misc]


def test_default_policy() -> None:
    assert DAY.granularity is Granularity.DAY
    assert DAY.day_count is DayCount.ACTUAL
    assert DAY.credit is CreditBasis.BILLED
    assert DAY.rounding is Rounding.HALF_UP


# --- day granularity -----------------------------------------------------------------

BILLED = Period(rome(2026, 2, 12), rome(2026, 3, 12))  # 28 days


@pytest.mark.parametrize(
    ("at", "unused_days"),
    [
        (rome(2026, 2, 20), 20),
        (rome(2026, 2, 20, 0, 0, 1), 20),
        (rome(2026, 2, 20, 12), 20),
        (rome(2026, 2, 20, 23, 59, 59), 20),
        (rome(2026, 2, 21), 19),
        (rome(2026, 2, 12, 10), 28),  # the first day itself: the whole period unused
        (rome(2026, 3, 11, 23, 59), 1),  # the last day: still counted as unused
    ],
)
def test_day_granularity_counts_the_action_day_as_unused(at: datetime, unused_days: int) -> None:
    unused = Period(at, BILLED.end)
    assert fraction(unused, BILLED, tz=ROME, policy=DAY) == Fraction(unused_days, 28)
    used = Period(BILLED.start, at)
    assert fraction(used, BILLED, tz=ROME, policy=DAY) == Fraction(28 - unused_days, 28)


def test_day_granularity_uses_the_account_zone_for_the_action_date() -> None:
    # 23:30 UTC on Feb 20 is Feb 21 in Rome but still Feb 20 in New York.
    at = datetime(2026, 2, 20, 23, 30, tzinfo=UTC)
    assert fraction(Period(at, BILLED.end), BILLED, tz=ROME, policy=DAY) == Fraction(19, 28)
    ny_billed = Period(
        datetime(2026, 2, 12, tzinfo=NEW_YORK), datetime(2026, 3, 12, tzinfo=NEW_YORK)
    )
    assert fraction(Period(at, ny_billed.end), ny_billed, tz=NEW_YORK, policy=DAY) == Fraction(
        20, 28
    )


def test_whole_period_is_one_and_the_docstring_example() -> None:
    assert fraction(BILLED, BILLED, tz=ROME, policy=DAY) == 1
    assert fraction(Period(rome(2026, 2, 20), BILLED.end), BILLED, tz=ROME, policy=DAY) == (
        Fraction(5, 7)
    )


def test_a_part_outside_the_whole_is_refused() -> None:
    outside = Period(rome(2026, 2, 1), rome(2026, 2, 20))
    with pytest.raises(ValueError, match="does not lie inside"):
        fraction(outside, BILLED, tz=ROME, policy=DAY)
    beyond = Period(rome(2026, 2, 20), rome(2026, 3, 13))
    with pytest.raises(ValueError, match="does not lie inside"):
        fraction(beyond, BILLED, tz=ROME, policy=DAY)


def test_a_part_outside_the_whole_is_refused_with_a_library_error() -> None:
    """errors.py: every error the library raises is under one root (InvalidInput here)."""
    with pytest.raises(InvalidInput):
        fraction(Period(rome(2026, 2, 1), rome(2026, 2, 20)), BILLED, tz=ROME, policy=DAY)


def test_a_part_within_the_first_day_counts_zero_days() -> None:
    part = Period(BILLED.start, rome(2026, 2, 12, 18))
    assert fraction(part, BILLED, tz=ROME, policy=DAY) == 0


# --- DST -----------------------------------------------------------------------------


def test_day_count_across_spring_forward_is_not_off_by_one() -> None:
    march = Period(rome(2026, 3, 1), rome(2026, 4, 1))
    assert march.end.astimezone(UTC) - march.start.astimezone(UTC) == timedelta(days=31, hours=-1)
    assert fraction(Period(rome(2026, 3, 29), march.end), march, tz=ROME, policy=DAY) == Fraction(
        3, 31
    )
    assert fraction(Period(march.start, rome(2026, 3, 30)), march, tz=ROME, policy=DAY) == (
        Fraction(29, 31)
    )
    # An instant given in UTC on the change day: 00:30 UTC is 01:30 in Rome on Mar 29.
    at = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    assert fraction(Period(at, march.end), march, tz=ROME, policy=DAY) == Fraction(3, 31)


def test_day_count_across_fall_back_is_not_off_by_one() -> None:
    october = Period(rome(2026, 10, 1), rome(2026, 11, 1))
    assert october.end.astimezone(UTC) - october.start.astimezone(UTC) == timedelta(
        days=31, hours=1
    )
    assert fraction(Period(rome(2026, 10, 25), october.end), october, tz=ROME, policy=DAY) == (
        Fraction(7, 31)
    )
    assert fraction(Period(rome(2026, 10, 26), october.end), october, tz=ROME, policy=DAY) == (
        Fraction(6, 31)
    )


def test_second_granularity_across_dst_counts_real_seconds() -> None:
    march = Period(rome(2026, 3, 1), rome(2026, 4, 1))
    total = 31 * 86400 - 3600
    part = Period(rome(2026, 3, 29), march.end)  # 3 days less the lost hour
    assert fraction(part, march, tz=ROME, policy=SECOND) == Fraction(3 * 86400 - 3600, total)


# --- second granularity, NONE --------------------------------------------------------


def test_second_granularity() -> None:
    billed = Period(rome(2026, 2, 1), rome(2026, 3, 1))  # 28 x 86400 s
    half = Period(rome(2026, 2, 15), billed.end)
    assert fraction(half, billed, tz=ROME, policy=SECOND) == Fraction(1, 2)
    one_second = Period(billed.end - timedelta(seconds=1), billed.end)
    assert fraction(one_second, billed, tz=ROME, policy=SECOND) == Fraction(1, 28 * 86400)
    noon = Period(rome(2026, 2, 20, 12), billed.end)
    assert fraction(noon, billed, tz=ROME, policy=SECOND) == Fraction(8 * 86400 + 43200, 28 * 86400)


def test_second_granularity_split_at_a_sub_second_instant_conserves_the_period() -> None:
    """A period split at any instant: the parts' fractions add up to 1, and the credit
    and the charge add up to the full amount within one minor unit."""
    billed = Period(rome(2026, 2, 1), rome(2026, 3, 1))
    at = rome(2026, 2, 10, 12, 0, 0) + timedelta(microseconds=500_000)
    used = fraction(Period(billed.start, at), billed, tz=ROME, policy=SECOND)
    unused = fraction(Period(at, billed.end), billed, tz=ROME, policy=SECOND)
    assert used + unused == 1
    amount = D("1000000.00")
    total = prorate(amount, used, "EUR") + prorate(amount, unused, "EUR")
    assert abs(total - amount) <= D("0.01")


@pytest.mark.parametrize(
    "part",
    [
        Period(rome(2026, 2, 20), rome(2026, 3, 12)),
        Period(rome(2026, 2, 12), rome(2026, 3, 11)),
        Period(rome(2026, 3, 12) - timedelta(seconds=1), rome(2026, 3, 12)),
    ],
)
def test_granularity_none_gives_no_partial_fraction(part: Period) -> None:
    assert fraction(part, BILLED, tz=ROME, policy=NONE) == 0


def test_granularity_none_whole_span_is_one() -> None:
    assert fraction(BILLED, BILLED, tz=ROME, policy=NONE) == 1
    # The whole span given in another zone is the same span.
    same = Period(BILLED.start.astimezone(UTC), BILLED.end.astimezone(UTC))
    assert fraction(same, BILLED, tz=ROME, policy=NONE) == 1


# --- fixed 30-day months -------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "days"),
    [
        (date(2023, 5, 23), date(2023, 6, 15), 22),
        (date(2023, 2, 23), date(2023, 3, 15), 22),
        (date(2023, 6, 15), date(2023, 6, 23), 8),
        (date(2024, 2, 23), date(2024, 3, 15), 22),  # leap February: 29 - 30 = -1
        (date(2023, 1, 15), date(2023, 2, 15), 30),
        (date(2023, 2, 15), date(2023, 3, 15), 30),
        (date(2023, 1, 1), date(2024, 1, 1), 360),
        (date(2023, 1, 31), date(2023, 2, 1), 0),  # crossing a 31-day month end
        (date(2023, 2, 28), date(2023, 3, 1), 3),  # crossing a 28-day month end
        (date(2023, 6, 15), date(2023, 6, 15), 0),
    ],
)
def test_fixed_30_days(start: date, end: date, days: int) -> None:
    assert fixed_30_days(start, end) == days


def test_fixed_30_scenario_examples_through_fraction() -> None:
    whole = Period(rome(2023, 5, 15), rome(2023, 6, 15))
    part = Period(rome(2023, 5, 23), whole.end)
    assert fraction(part, whole, tz=ROME, policy=FIXED_30, months=1) == Fraction(22, 30)
    feb = Period(rome(2023, 2, 15), rome(2023, 3, 15))
    part = Period(rome(2023, 2, 23), feb.end)
    assert fraction(part, feb, tz=ROME, policy=FIXED_30, months=1) == Fraction(22, 30)
    june = Period(rome(2023, 6, 15), rome(2023, 7, 15))
    part = Period(june.start, rome(2023, 6, 23))
    assert fraction(part, june, tz=ROME, policy=FIXED_30, months=1) == Fraction(8, 30)


def test_fixed_30_months_argument_counts_a_whole_period_as_30_days() -> None:
    # Anchor on the 31st: Jan 31 -> Feb 28 has 28 actual days, 27 by fixed counting,
    # but as one whole monthly period it counts 30.
    whole = Period(rome(2023, 1, 31), rome(2023, 2, 28))
    assert fixed_30_days(date(2023, 1, 31), date(2023, 2, 28)) == 27
    part = Period(rome(2023, 2, 10), whole.end)
    assert fraction(part, whole, tz=ROME, policy=FIXED_30, months=1) == Fraction(18, 30)
    assert fraction(part, whole, tz=ROME, policy=FIXED_30) == Fraction(18, 27)
    quarter = Period(rome(2023, 1, 15), rome(2023, 4, 15))
    part = Period(rome(2023, 3, 15), quarter.end)
    assert fraction(part, quarter, tz=ROME, policy=FIXED_30, months=3) == Fraction(30, 90)


def test_months_argument_is_ignored_by_actual_and_second_counting() -> None:
    whole = Period(rome(2023, 1, 31), rome(2023, 2, 28))
    part = Period(rome(2023, 2, 10), whole.end)
    assert fraction(part, whole, tz=ROME, policy=DAY, months=1) == Fraction(18, 28)
    assert fraction(part, whole, tz=ROME, policy=SECOND, months=1) == Fraction(18, 28)


def test_fixed_30_part_never_counts_more_than_the_whole() -> None:
    # Feb 1 -> Mar 1 2023 is one month: 30. The part [Feb 27, Mar 1) counts 2 + 2 = 4;
    # a part can never exceed the 30 of its period.
    whole = Period(rome(2023, 2, 1), rome(2023, 3, 1))
    assert fraction(Period(rome(2023, 2, 27), whole.end), whole, tz=ROME, policy=FIXED_30) == (
        Fraction(4, 30)
    )
    for day in range(2, 29):
        got = fraction(Period(rome(2023, 2, day), whole.end), whole, tz=ROME, policy=FIXED_30)
        assert 0 <= got <= 1


@pytest.mark.parametrize("frequency", list(Frequency))
@pytest.mark.parametrize("year", [2023, 2024])
def test_fixed_30_split_anywhere_adds_up_to_30_per_month(frequency: Frequency, year: int) -> None:
    """For anchors on days 1 to 28, used + unused days of a period are 30 x months,
    wherever the period is split."""
    months = frequency.months
    for anchor_day in range(1, 29):
        anchor = rome(year, 1, anchor_day)
        for n in (0, 1, 5):
            start = anchored_start(anchor, n, frequency, ROME)
            end = anchored_start(anchor, n + 1, frequency, ROME)
            whole = Period(start, end)
            first, last = start.astimezone(ROME).date(), end.astimezone(ROME).date()
            assert fixed_30_days(first, last) == 30 * months
            step = max(1, (last - first).days // 40)
            for offset in range(1, (last - first).days, step):
                split = first + timedelta(days=offset)
                assert fixed_30_days(first, split) + fixed_30_days(split, last) == 30 * months
                at = datetime(split.year, split.month, split.day, 15, tzinfo=ROME)
                used = fraction(Period(start, at), whole, tz=ROME, policy=FIXED_30, months=months)
                unused = fraction(Period(at, end), whole, tz=ROME, policy=FIXED_30, months=months)
                assert used + unused == 1


# --- prorate -------------------------------------------------------------------------


def test_prorate_rounds_once_after_multiplying() -> None:
    assert prorate(D("150.00"), Fraction(20, 28), "EUR") == D("107.14")
    # Rounding a per-day price first would give 3.33 x 7 = 23.31.
    assert prorate(D("100.00"), Fraction(7, 30), "EUR") == D("23.33")
    assert prorate(D("100.00"), Fraction(1, 1), "EUR") == D("100.00")
    assert prorate(D("100.00"), Fraction(0), "EUR") == D("0.00")


@pytest.mark.parametrize(
    ("amount", "share", "currency", "half_up", "half_even"),
    [
        ("0.25", Fraction(1, 2), "EUR", "0.13", "0.12"),
        ("-0.25", Fraction(1, 2), "EUR", "-0.13", "-0.12"),
        ("5", Fraction(1, 2), "JPY", "3", "2"),
        ("-5", Fraction(1, 2), "JPY", "-3", "-2"),
        ("0.005", Fraction(1, 5), "BHD", "0.001", "0.001"),
        ("1.62", Fraction(7, 12), "EUR", "0.95", "0.94"),
        ("-150.00", Fraction(20, 28), "EUR", "-107.14", "-107.14"),
    ],
)
def test_prorate_modes(
    amount: str, share: Fraction, currency: str, half_up: str, half_even: str
) -> None:
    assert str(prorate(D(amount), share, currency)) == half_up
    assert str(prorate(D(amount), share, currency, Rounding.HALF_EVEN)) == half_even


def test_prorate_whole_share_returns_the_amount_on_the_minor_unit() -> None:
    assert str(prorate(D("30"), Fraction(1), "EUR")) == "30.00"
    assert str(prorate(D("1200"), Fraction(1), "JPY")) == "1200"
