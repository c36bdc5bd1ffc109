"""Billing dates: anchored periods, month ends, leap days, DST, half-open spans."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest

from subscriptions.errors import InvalidInput, NaiveDatetime, SubscriptionsError
from subscriptions.periods import (
    Frequency,
    Period,
    anchored_start,
    ensure_aware,
    first_billing_day,
    local_date,
    localize,
    period_containing,
    plus_local_days,
    zone,
)

ROME = ZoneInfo("Europe/Rome")
NEW_YORK = ZoneInfo("America/New_York")
UTC_ZONE = ZoneInfo("UTC")
MONTHLY = Frequency.MONTHLY
US = timedelta(microseconds=1)


def rome(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=ROME, fold=fold)  # type: ignore[misc]


def utc(instant: datetime) -> datetime:
    """The instant in UTC: comparing or subtracting two datetimes that share a tzinfo
    uses their wall times (and ignores ``fold``), not the instants they denote."""
    return instant.astimezone(UTC)


def elapsed(start: datetime, end: datetime) -> timedelta:
    return utc(end) - utc(start)


def local(instant: datetime, tz: tzinfo = ROME) -> str:
    """The instant as local time in ``tz``, whatever zone the library returned it in."""
    return instant.astimezone(tz).isoformat()


def local_day(instant: datetime, tz: tzinfo = ROME) -> str:
    return instant.astimezone(tz).date().isoformat()


def starts(anchor: datetime, ns: range, frequency: Frequency, tz: tzinfo) -> list[str]:
    return [local(anchored_start(anchor, n, frequency, tz), tz) for n in ns]


# --- Frequency -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frequency", "months"),
    [
        (Frequency.MONTHLY, 1),
        (Frequency.QUARTERLY, 3),
        (Frequency.SEMIANNUAL, 6),
        (Frequency.ANNUAL, 12),
        (Frequency.BIENNIAL, 24),
    ],
)
def test_frequency_months_and_parse(frequency: Frequency, months: int) -> None:
    assert frequency.months == months
    assert Frequency.parse(frequency.value) is frequency
    assert Frequency.parse(frequency) is frequency


@pytest.mark.parametrize("value", ["Monthly", "MONTHLY", "weekly", "", " monthly", "month"])
def test_frequency_parse_unknown_name_lists_the_choices(value: str) -> None:
    with pytest.raises(InvalidInput) as info:
        Frequency.parse(value)
    message = str(info.value)
    assert repr(value) in message
    for name in ("monthly", "quarterly", "semiannual", "annual", "biennial"):
        assert name in message


@pytest.mark.parametrize("value", [1, None, 1.0, True, ["monthly"]])
def test_frequency_parse_refuses_non_strings(value: object) -> None:
    with pytest.raises(InvalidInput, match="is not a name; use one of 'monthly'"):
        Frequency.parse(value)


# --- ensure_aware / zone / localize --------------------------------------------------


def test_ensure_aware_accepts_aware_datetimes() -> None:
    aware = rome(2026, 1, 5)
    assert ensure_aware(aware) is aware
    fixed = datetime(2026, 1, 5, tzinfo=timezone(timedelta(hours=-5)))
    assert ensure_aware(fixed) is fixed


def test_ensure_aware_refuses_naive_datetimes_with_a_fix() -> None:
    naive = datetime(2026, 1, 5, 9, 30)
    with pytest.raises(NaiveDatetime) as info:
        ensure_aware(naive, what="subscription start")
    assert isinstance(info.value, ValueError)
    assert info.value.value is naive
    message = str(info.value)
    assert message.startswith("subscription start")
    assert "no time zone" in message
    assert "tzinfo=" in message


class _NoOffset(tzinfo):
    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None


def test_ensure_aware_refuses_a_tzinfo_without_offset() -> None:
    with pytest.raises(NaiveDatetime):
        ensure_aware(datetime(2026, 1, 5, tzinfo=_NoOffset()))


@pytest.mark.parametrize("value", [date(2026, 1, 5), "2026-01-05T00:00:00+01:00", None, 0])
def test_ensure_aware_refuses_non_datetimes(value: object) -> None:
    with pytest.raises(InvalidInput, match="not a datetime") as info:
        ensure_aware(value)
    assert not isinstance(info.value, NaiveDatetime)


def test_zone_by_name_and_passthrough() -> None:
    assert zone("Europe/Rome") == ROME
    assert zone(ROME) is ROME
    assert zone(UTC) is UTC


@pytest.mark.parametrize("name", ["Europe/Nowhere", "", "../etc/passwd", "rome", 5, None])
def test_zone_refuses_unknown_names(name: object) -> None:
    with pytest.raises(InvalidInput) as info:
        zone(name)  # type: ignore[arg-type]
    assert "IANA" in str(info.value)
    assert isinstance(info.value, SubscriptionsError)


def test_localize_moves_a_gap_forward_and_takes_the_first_occurrence() -> None:
    gap = localize(datetime(2026, 3, 29, 2, 30), ROME)
    assert local(gap) == "2026-03-29T03:30:00+02:00"
    fold = localize(datetime(2026, 10, 25, 2, 30), ROME)
    assert local(fold) == "2026-10-25T02:30:00+02:00"
    assert fold.astimezone(UTC) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    # Even when the wall time carries fold=1, the first occurrence is taken.
    fold1 = localize(datetime(2026, 10, 25, 2, 30, fold=1), ROME)
    assert fold1.astimezone(UTC) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_local_date_uses_the_zone() -> None:
    instant = datetime(2026, 1, 31, 23, 30, tzinfo=UTC)
    assert local_date(instant, ROME) == date(2026, 2, 1)
    assert local_date(instant, NEW_YORK) == date(2026, 1, 31)


# --- Period --------------------------------------------------------------------------


def test_period_is_half_open() -> None:
    period = Period(rome(2026, 1, 1), rome(2026, 2, 1))
    assert rome(2026, 1, 1) in period
    assert rome(2026, 2, 1) - US in period
    assert rome(2026, 2, 1) not in period
    assert rome(2026, 1, 1) - US not in period
    # The same instants seen from another zone.
    assert datetime(2025, 12, 31, 23, tzinfo=UTC) in period
    assert datetime(2026, 1, 31, 23, tzinfo=UTC) not in period


def test_period_refuses_an_end_before_or_at_its_start() -> None:
    with pytest.raises(InvalidInput, match="must end after it starts"):
        Period(rome(2026, 2, 1), rome(2026, 1, 1))
    with pytest.raises(InvalidInput, match="must end after it starts"):
        Period(rome(2026, 2, 1), rome(2026, 2, 1))
    # 00:00 in Rome is 23:00 UTC the day before: equal instants, still refused.
    with pytest.raises(InvalidInput):
        Period(rome(2026, 2, 1), datetime(2026, 1, 31, 23, tzinfo=UTC))


def test_period_refuses_naive_bounds() -> None:
    with pytest.raises(NaiveDatetime, match="period start"):
        Period(datetime(2026, 1, 1), rome(2026, 2, 1))
    with pytest.raises(NaiveDatetime, match="period end"):
        Period(rome(2026, 1, 1), datetime(2026, 2, 1))


def test_period_is_a_frozen_hashable_value() -> None:
    a = Period(rome(2026, 1, 1), rome(2026, 2, 1))
    b = Period(datetime(2025, 12, 31, 23, tzinfo=UTC), datetime(2026, 1, 31, 23, tzinfo=UTC))
    assert a == b
    assert hash(a) == hash(b)
    with pytest.raises(AttributeError):
        a.start = rome(2026, 1, 2)  # type: ignore[misc]
    # Both ends are kept in UTC, so the repr shows the instants in UTC.
    assert repr(a) == "Period(2025-12-31T23:00:00+00:00 -> 2026-01-31T23:00:00+00:00)"


# --- anchored_start: month ends and leap days ----------------------------------------


def test_month_end_anchor_clamps_each_month() -> None:
    assert starts(rome(2026, 1, 31), range(6), MONTHLY, ROME) == [
        "2026-01-31T00:00:00+01:00",
        "2026-02-28T00:00:00+01:00",
        "2026-03-31T00:00:00+02:00",
        "2026-04-30T00:00:00+02:00",
        "2026-05-31T00:00:00+02:00",
        "2026-06-30T00:00:00+02:00",
    ]


def test_month_end_anchor_in_a_leap_year() -> None:
    dates = [local_day(anchored_start(rome(2028, 1, 31), n, MONTHLY, ROME)) for n in range(3)]
    assert dates == ["2028-01-31", "2028-02-29", "2028-03-31"]


def test_leap_day_anchor_annual() -> None:
    anchor = rome(2028, 2, 29)
    dates = [local_day(anchored_start(anchor, n, Frequency.ANNUAL, ROME)) for n in range(-1, 6)]
    assert dates == [
        "2027-02-28",
        "2028-02-29",
        "2029-02-28",
        "2030-02-28",
        "2031-02-28",
        "2032-02-29",
        "2033-02-28",
    ]


def test_periods_are_computed_from_the_anchor_not_by_repeated_addition() -> None:
    anchor = rome(2026, 1, 31)
    assert anchored_start(anchor, 2, MONTHLY, ROME) == rome(2026, 3, 31)
    # What adding a month to the previous start would give: Feb 28 -> Mar 28.
    feb = anchored_start(anchor, 1, MONTHLY, ROME)
    assert anchored_start(feb, 1, MONTHLY, ROME) == rome(2026, 3, 28)
    anchor30 = rome(2026, 1, 30)
    assert anchored_start(anchor30, 2, MONTHLY, ROME) == rome(2026, 3, 30)
    assert anchored_start(anchor30, 13, MONTHLY, ROME) == rome(2027, 2, 28)
    assert anchored_start(anchor30, 25, MONTHLY, ROME) == rome(2028, 2, 29)


@pytest.mark.parametrize(
    ("frequency", "expected"),
    [
        (Frequency.MONTHLY, ["2025-12-31", "2026-01-31", "2026-02-28", "2026-03-31"]),
        (Frequency.QUARTERLY, ["2025-10-31", "2026-01-31", "2026-04-30", "2026-07-31"]),
        (Frequency.SEMIANNUAL, ["2025-07-31", "2026-01-31", "2026-07-31", "2027-01-31"]),
        (Frequency.ANNUAL, ["2025-01-31", "2026-01-31", "2027-01-31", "2028-01-31"]),
        (Frequency.BIENNIAL, ["2024-01-31", "2026-01-31", "2028-01-31", "2030-01-31"]),
    ],
)
def test_every_frequency_from_a_month_end_anchor(frequency: Frequency, expected: list[str]) -> None:
    anchor = rome(2026, 1, 31)
    got = [local_day(anchored_start(anchor, n, frequency, ROME)) for n in range(-1, 3)]
    assert got == expected


@pytest.mark.parametrize(
    ("frequency", "expected"),
    [
        (Frequency.MONTHLY, "2025-11-30"),
        (Frequency.QUARTERLY, "2025-08-31"),
        (Frequency.SEMIANNUAL, "2025-02-28"),
        (Frequency.ANNUAL, "2023-08-31"),
        (Frequency.BIENNIAL, "2020-08-31"),
    ],
)
def test_negative_n_counts_back_from_the_anchor(frequency: Frequency, expected: str) -> None:
    anchor = rome(2026, 8, 31)
    n = {1: -9, 3: -4, 6: -3, 12: -3, 24: -3}[frequency.months]
    assert local_day(anchored_start(anchor, n, frequency, ROME)) == expected


def test_anchor_quarterly_negative_to_february() -> None:
    assert anchored_start(rome(2026, 5, 31), -1, Frequency.QUARTERLY, ROME) == rome(2026, 2, 28)
    assert anchored_start(rome(2024, 5, 31), -1, Frequency.QUARTERLY, ROME) == rome(2024, 2, 29)


def test_explicit_billing_day_overrides_the_anchor_day() -> None:
    anchor = rome(2026, 2, 28)  # first billing day 31 in February
    got = [local_day(anchored_start(anchor, n, MONTHLY, ROME, day=31)) for n in range(4)]
    assert got == ["2026-02-28", "2026-03-31", "2026-04-30", "2026-05-31"]


def test_period_zero_starts_at_the_anchor() -> None:
    for anchor in (rome(2026, 1, 31, 9, 15), rome(2026, 3, 29, 3, 0), rome(2024, 2, 29)):
        assert anchored_start(anchor, 0, MONTHLY, ROME) == anchor


def test_period_zero_starts_at_an_anchor_in_the_second_occurrence_of_a_wall_time() -> None:
    """A realign at 02:30 CET on the fall-back night (the second 02:30) is the anchor.

    Period 0 starts at ``anchor + 0 intervals``: the anchor itself, not an hour before.
    """
    anchor = rome(2026, 10, 25, 2, 30, fold=1)
    assert utc(anchor) == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert utc(anchored_start(anchor, 0, MONTHLY, ROME)) == utc(anchor)
    n, period = period_containing(anchor, anchor, MONTHLY, ROME)
    assert (n, utc(period.start)) == (0, utc(anchor))


def test_an_instant_in_the_repeated_hour_finds_the_period_that_contains_it() -> None:
    """Period 2 of an 02:30 anchor starts at the first 02:30 of the fall-back night
    (00:30 UTC). The second 02:15 (01:15 UTC) comes after it, so it lies in period 2."""
    anchor = rome(2026, 8, 25, 2, 30)
    at = rome(2026, 10, 25, 2, 15, fold=1)
    assert utc(at) == datetime(2026, 10, 25, 1, 15, tzinfo=UTC)
    expected_start = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    n, period = period_containing(anchor, at, MONTHLY, ROME)
    assert utc(period.start) <= utc(at) < utc(period.end)
    assert (n, utc(period.start)) == (2, expected_start)
    # The same instant given in UTC gives the same answer.
    n_utc, period_utc = period_containing(anchor, utc(at), MONTHLY, ROME)
    assert (n_utc, utc(period_utc.start)) == (2, expected_start)


def test_period_membership_and_order_use_instants_not_wall_times() -> None:
    first_0230 = rome(2026, 10, 25, 2, 30)  # 00:30 UTC
    second_0215 = rome(2026, 10, 25, 2, 15, fold=1)  # 01:15 UTC
    period = Period(rome(2026, 10, 1), first_0230)
    assert second_0215 not in period
    # 02:30 CET (01:30 UTC) to 02:45 CEST (00:45 UTC) ends before it starts.
    with pytest.raises(InvalidInput, match="must end after it starts"):
        Period(rome(2026, 10, 25, 2, 30, fold=1), rome(2026, 10, 25, 2, 45))


def test_anchor_in_another_zone_is_read_in_the_account_zone() -> None:
    # 23:30 UTC on Jan 30 is 00:30 on Jan 31 in Rome: a month-end anchor there.
    anchor = datetime(2026, 1, 30, 23, 30, tzinfo=UTC)
    assert anchored_start(anchor, 1, MONTHLY, ROME) == rome(2026, 2, 28, 0, 30)
    assert anchored_start(anchor, 1, MONTHLY, UTC_ZONE) == datetime(
        2026, 2, 28, 23, 30, tzinfo=UTC_ZONE
    )


# --- anchored_start: DST -------------------------------------------------------------


def test_midnight_anchor_keeps_local_midnight_across_both_dst_changes() -> None:
    anchor = rome(2026, 1, 1)
    got = [anchored_start(anchor, n, MONTHLY, ROME) for n in range(12)]
    for n, start in enumerate(got):
        local = start.astimezone(ROME)
        assert (local.month, local.day, local.hour, local.minute) == (n + 1, 1, 0, 0)
    assert got[2].astimezone(ROME).utcoffset() == timedelta(hours=1)  # Mar 1, before the change
    assert got[3].astimezone(ROME).utcoffset() == timedelta(hours=2)  # Apr 1, after it
    assert got[9].astimezone(ROME).utcoffset() == timedelta(hours=2)  # Oct 1
    assert got[10].astimezone(ROME).utcoffset() == timedelta(hours=1)  # Nov 1
    # So March is 31 days less an hour long, October 31 days and an hour.
    assert elapsed(got[2], got[3]) == timedelta(days=31, hours=-1)
    assert elapsed(got[9], got[10]) == timedelta(days=31, hours=1)


def test_midnight_anchor_on_the_change_day_itself() -> None:
    anchor = rome(2026, 1, 29)
    march = anchored_start(anchor, 2, MONTHLY, ROME)
    assert local(march) == "2026-03-29T00:00:00+01:00"
    october = anchored_start(anchor, 9, MONTHLY, ROME)
    assert local(october) == "2026-10-29T00:00:00+01:00"


def test_new_york_midnight_anchor_across_dst() -> None:
    anchor = datetime(2026, 2, 8, tzinfo=NEW_YORK)
    march = anchored_start(anchor, 1, MONTHLY, NEW_YORK)
    assert local(march, NEW_YORK) == "2026-03-08T00:00:00-05:00"
    april = anchored_start(anchor, 2, MONTHLY, NEW_YORK)
    assert local(april, NEW_YORK) == "2026-04-08T00:00:00-04:00"


def test_wall_time_in_a_dst_gap_moves_forward_by_the_gap() -> None:
    # Anchor Jan 29 at 02:30: period 2 would start on Mar 29 at 02:30, which does not
    # exist in Rome (02:00 -> 03:00); it starts at 03:30 CEST instead.
    anchor = rome(2026, 1, 29, 2, 30)
    gap = anchored_start(anchor, 2, MONTHLY, ROME)
    assert local(gap) == "2026-03-29T03:30:00+02:00"
    assert utc(gap) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    # The next period is computed from the anchor again: back at 02:30.
    assert local(anchored_start(anchor, 3, MONTHLY, ROME)) == "2026-04-29T02:30:00+02:00"
    # The period before the gap ends where the gap-period starts.
    _, before = period_containing(anchor, rome(2026, 3, 1), MONTHLY, ROME)
    assert before.end == gap


def test_new_york_gap() -> None:
    anchor = datetime(2026, 1, 8, 2, 15, tzinfo=NEW_YORK)
    gap = anchored_start(anchor, 2, MONTHLY, NEW_YORK)
    assert local(gap, NEW_YORK) == "2026-03-08T03:15:00-04:00"


def test_ambiguous_wall_time_takes_the_first_occurrence() -> None:
    anchor = rome(2026, 8, 25, 2, 30)
    fold = anchored_start(anchor, 2, MONTHLY, ROME)
    assert local(fold) == "2026-10-25T02:30:00+02:00"
    assert utc(fold) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert local(anchored_start(anchor, 3, MONTHLY, ROME)) == "2026-11-25T02:30:00+01:00"


# --- period_containing ---------------------------------------------------------------


def test_an_instant_exactly_at_a_boundary_belongs_to_the_period_it_starts() -> None:
    anchor = rome(2026, 1, 31)
    n, period = period_containing(anchor, rome(2026, 2, 28), MONTHLY, ROME)
    assert n == 1
    assert period == Period(rome(2026, 2, 28), rome(2026, 3, 31))
    n, period = period_containing(anchor, anchor, MONTHLY, ROME)
    assert (n, period.start) == (0, anchor)


def test_the_last_microsecond_of_a_period_belongs_to_it() -> None:
    anchor = rome(2026, 1, 31)
    n, period = period_containing(anchor, rome(2026, 2, 28) - US, MONTHLY, ROME)
    assert n == 0
    assert period == Period(rome(2026, 1, 31), rome(2026, 2, 28))


def test_last_microsecond_before_a_spring_forward_boundary() -> None:
    anchor = rome(2026, 1, 29, 2, 30)
    boundary = rome(2026, 3, 29, 3, 30)
    assert period_containing(anchor, boundary - US, MONTHLY, ROME)[0] == 1
    assert period_containing(anchor, boundary, MONTHLY, ROME)[0] == 2


def test_instant_given_in_another_zone() -> None:
    anchor = rome(2026, 1, 31)
    # 2026-02-27 23:00 UTC is Feb 28 00:00 in Rome: the boundary.
    n, period = period_containing(anchor, datetime(2026, 2, 27, 23, tzinfo=UTC), MONTHLY, ROME)
    assert n == 1
    assert period.start == rome(2026, 2, 28)
    n, _ = period_containing(anchor, datetime(2026, 2, 27, 22, 59, 59, tzinfo=UTC), MONTHLY, ROME)
    assert n == 0


@pytest.mark.parametrize(
    ("at", "n", "start", "end"),
    [
        (rome(2026, 1, 30, 23, 59, 59), -1, rome(2025, 12, 31), rome(2026, 1, 31)),
        (rome(2025, 12, 31), -1, rome(2025, 12, 31), rome(2026, 1, 31)),
        (rome(2025, 12, 30), -2, rome(2025, 11, 30), rome(2025, 12, 31)),
        (rome(2025, 3, 1), -11, rome(2025, 2, 28), rome(2025, 3, 31)),
    ],
)
def test_instants_before_the_anchor_have_negative_indexes(
    at: datetime, n: int, start: datetime, end: datetime
) -> None:
    got_n, period = period_containing(rome(2026, 1, 31), at, MONTHLY, ROME)
    assert got_n == n
    assert period == Period(start, end)


@pytest.mark.parametrize("frequency", list(Frequency))
def test_period_containing_for_every_frequency(frequency: Frequency) -> None:
    anchor = rome(2026, 1, 31, 12)
    for n in range(-3, 4):
        start = anchored_start(anchor, n, frequency, ROME)
        end = anchored_start(anchor, n + 1, frequency, ROME)
        for at in (start, start + US, end - US):
            assert period_containing(anchor, at, frequency, ROME) == (n, Period(start, end))


def test_period_containing_with_a_billing_day() -> None:
    anchor = rome(2026, 2, 28)
    n, period = period_containing(anchor, rome(2026, 4, 15), MONTHLY, ROME, day=31)
    assert n == 1
    assert period == Period(rome(2026, 3, 31), rome(2026, 4, 30))


# --- first_billing_day ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "day", "expected"),
    [
        (rome(2026, 2, 10, 9), 31, rome(2026, 2, 28)),
        (rome(2028, 2, 10, 9), 31, rome(2028, 2, 29)),
        (rome(2026, 2, 10, 9), 30, rome(2026, 2, 28)),
        (rome(2026, 1, 31, 10), 31, rome(2026, 2, 28)),
        (rome(2026, 1, 31), 31, rome(2026, 1, 31)),
        (rome(2026, 3, 15), 15, rome(2026, 3, 15)),
        (rome(2026, 3, 15, 0, 0, 1), 15, rome(2026, 4, 15)),
        (rome(2026, 3, 15) + US, 15, rome(2026, 4, 15)),
        (rome(2026, 3, 15, 23, 59), 15, rome(2026, 4, 15)),
        (rome(2026, 3, 14, 23, 59), 15, rome(2026, 3, 15)),
        (rome(2026, 12, 20), 5, rome(2027, 1, 5)),
        (rome(2026, 12, 31, 12), 31, rome(2027, 1, 31)),
        (rome(2026, 4, 30, 8), 1, rome(2026, 5, 1)),
        (rome(2026, 3, 28, 12), 29, rome(2026, 3, 29)),
    ],
)
def test_first_billing_day(at: datetime, day: int, expected: datetime) -> None:
    result = first_billing_day(at, day, ROME)
    assert result == expected
    local = result.astimezone(ROME)
    assert (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0)


def test_first_billing_day_from_an_instant_in_another_zone() -> None:
    # 23:30 UTC on Mar 14 is already 00:30 on Mar 15 in Rome: past Rome's midnight.
    at = datetime(2026, 3, 14, 23, 30, tzinfo=UTC)
    assert first_billing_day(at, 15, ROME) == rome(2026, 4, 15)
    assert first_billing_day(datetime(2026, 3, 14, 23, tzinfo=UTC), 15, ROME) == rome(2026, 3, 15)


@pytest.mark.parametrize("day", [0, 32, -1, 100])
def test_first_billing_day_out_of_range(day: int) -> None:
    with pytest.raises(InvalidInput, match="out of range; use 1 to 31"):
        first_billing_day(rome(2026, 2, 10), day, ROME)


@pytest.mark.parametrize("day", [True, False, 15.0, "15", None])
def test_first_billing_day_refuses_non_integers(day: object) -> None:
    with pytest.raises(InvalidInput, match="whole number from 1 to 31"):
        first_billing_day(rome(2026, 2, 10), day, ROME)  # type: ignore[arg-type]


# --- plus_local_days -----------------------------------------------------------------


def test_plus_local_days_keeps_wall_time_across_spring_forward() -> None:
    start = rome(2026, 3, 28, 10)
    later = plus_local_days(start, 1, ROME)
    assert local(later) == "2026-03-29T10:00:00+02:00"
    assert elapsed(start, later) == timedelta(hours=23)


def test_plus_local_days_keeps_wall_time_across_fall_back() -> None:
    start = rome(2026, 10, 11, 9, 30)
    later = plus_local_days(start, 14, ROME)
    assert local(later) == "2026-10-25T09:30:00+01:00"
    assert elapsed(start, later) == timedelta(days=14, hours=1)


def test_plus_local_days_into_a_gap_and_backwards() -> None:
    assert local(plus_local_days(rome(2026, 3, 28, 2, 30), 1, ROME)) == (
        "2026-03-29T03:30:00+02:00"
    )
    assert local(plus_local_days(rome(2026, 4, 1), -5, ROME)) == "2026-03-27T00:00:00+01:00"
    assert plus_local_days(rome(2026, 4, 1), 0, ROME) == rome(2026, 4, 1)


def test_plus_local_days_over_a_leap_day() -> None:
    assert plus_local_days(rome(2028, 2, 15), 14, ROME) == rome(2028, 2, 29)
    assert plus_local_days(rome(2026, 2, 15), 14, ROME) == rome(2026, 3, 1)


# --- naive datetimes are refused everywhere ------------------------------------------

NAIVE = datetime(2026, 1, 31)


@pytest.mark.parametrize(
    "call",
    [
        lambda: anchored_start(NAIVE, 1, MONTHLY, ROME),
        lambda: period_containing(NAIVE, rome(2026, 3, 1), MONTHLY, ROME),
        lambda: period_containing(rome(2026, 1, 31), NAIVE, MONTHLY, ROME),
        lambda: first_billing_day(NAIVE, 5, ROME),
        lambda: plus_local_days(NAIVE, 1, ROME),
        lambda: local_date(NAIVE, ROME),
    ],
    ids=[
        "anchored_start",
        "period_containing-anchor",
        "period_containing-at",
        "first_billing_day",
        "plus_local_days",
        "local_date",
    ],
)
def test_naive_datetimes_are_refused_by_every_calendar_function(call) -> None:  # type: ignore[no-untyped-def]
    """DESIGN.md: aware datetimes only, a naive one is refused with a clear error."""
    with pytest.raises(NaiveDatetime):
        call()


def test_days_in_month_agrees_with_the_calendar_module() -> None:
    import calendar

    from subscriptions.periods import days_in_month

    for year in range(1600, 2401):
        for month in range(1, 13):
            assert days_in_month(year, month) == calendar.monthrange(year, month)[1]
