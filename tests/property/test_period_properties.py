"""Anchored periods tile time; the period containing an instant contains it."""

from __future__ import annotations

from calendar import monthrange
from datetime import UTC, datetime, tzinfo

from hypothesis import given
from hypothesis import strategies as st

from subscriptions.periods import Frequency, anchored_start, period_containing
from tests.strategies import anchors, aware_datetimes, frequencies, zones


def utc(instant: datetime) -> datetime:
    # Datetimes sharing a tzinfo compare by wall time; compare instants instead.
    return instant.astimezone(UTC)


@given(anchors(), frequencies, zones, st.integers(-40, 40))
def test_consecutive_periods_tile_time(
    anchor: datetime, frequency: Frequency, tz: tzinfo, first: int
) -> None:
    starts = [anchored_start(anchor, n, frequency, tz) for n in range(first, first + 5)]
    instants = [utc(s) for s in starts]
    assert instants == sorted(set(instants)), "period starts must strictly increase"
    for n in range(first, first + 4):
        index, period = period_containing(anchor, starts[n - first], frequency, tz)
        assert index == n
        assert utc(period.start) == instants[n - first]
        # Period n ends exactly where period n + 1 starts: no gap, no overlap.
        assert utc(period.end) == instants[n - first + 1]


@given(anchors(), frequencies, zones, st.integers(-40, 40))
def test_periods_start_on_the_anchor_day_clamped_to_the_month_end(
    anchor: datetime, frequency: Frequency, tz: tzinfo, n: int
) -> None:
    local_anchor = anchor.astimezone(tz)
    start = anchored_start(anchor, n, frequency, tz).astimezone(tz)
    months = (start.year - local_anchor.year) * 12 + start.month - local_anchor.month
    assert months == n * frequency.months
    if start.day != local_anchor.day:
        # Clamped: the anchor's day does not exist in that month, so this is its last day.
        assert start.day < local_anchor.day
        assert start.day == monthrange(start.year, start.month)[1]


@given(anchors(), aware_datetimes(min_year=2005, max_year=2045), frequencies, zones)
def test_period_containing_contains_the_instant(
    anchor: datetime, at: datetime, frequency: Frequency, tz: tzinfo
) -> None:
    n, period = period_containing(anchor, at, frequency, tz)
    assert utc(period.start) <= utc(at) < utc(period.end)
    assert utc(period.start) == utc(anchored_start(anchor, n, frequency, tz))
    assert utc(period.end) == utc(anchored_start(anchor, n + 1, frequency, tz))
