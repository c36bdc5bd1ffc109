"""Billing dates: frequencies, anchored periods, local calendar days.

Rules (DESIGN.md section 3, "Time" and "Billing dates"):

* Instants are aware datetimes; a naive one is refused. Computed instants are
  returned in UTC, so that comparing and subtracting them is exact even across DST
  changes (Python compares two datetimes that share a tzinfo by wall time).
* Periods are half-open, ``[start, end)``.
* Period *n* of a subscription starts at ``anchor + n x interval``, computed from the
  anchor every time (never by adding a month to the previous date), on the anchor's
  wall-clock time in the account's time zone, with the day clamped to the month's end:
  an anchor on the 31st bills Jan 31, Feb 28 (29), Mar 31, Apr 30.
* A wall time that does not exist (a DST gap) moves forward by the gap; an ambiguous
  one takes its first occurrence.
* Day counts are taken on local calendar dates, so a DST change never makes a day 23
  or 25 hours long.

>>> from zoneinfo import ZoneInfo
>>> rome = ZoneInfo("Europe/Rome")
>>> anchor = datetime(2026, 1, 31, tzinfo=rome)
>>> starts = [anchored_start(anchor, n, Frequency.MONTHLY, rome) for n in range(4)]
>>> [start.astimezone(rome).date().isoformat() for start in starts]
['2026-01-31', '2026-02-28', '2026-03-31', '2026-04-30']
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from ._enum import Choice
from .errors import InvalidInput, NaiveDatetime, shown

__all__ = [
    "MAX_YEAR",
    "MIN_YEAR",
    "Frequency",
    "LocalDays",
    "Period",
    "anchored_start",
    "ensure_aware",
    "first_billing_day",
    "local_date",
    "localize",
    "period_containing",
    "plus_local_days",
    "zone",
]


class Frequency(Choice):
    """How often a subscription bills, in whole months."""

    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    SEMIANNUAL = "semiannual"
    ANNUAL = "annual"
    BIENNIAL = "biennial"

    @property
    def months(self) -> int:
        return _MONTHS[self]

    @classmethod
    def parse(cls, value: object, *, what: str | None = "billing frequency") -> Frequency:
        """The frequency named ``value`` (``"monthly"``...), or a clear error listing
        the known ones."""
        return super().parse(value, what=what)


def parse_frequency(value: object) -> Frequency:
    """Converter form of :meth:`Frequency.parse`."""
    return Frequency.parse(value)


_MONTHS = {
    Frequency.MONTHLY: 1,
    Frequency.QUARTERLY: 3,
    Frequency.SEMIANNUAL: 6,
    Frequency.ANNUAL: 12,
    Frequency.BIENNIAL: 24,
}


#: The first year an instant given to the library may fall in.
MIN_YEAR = 1
#: The last year an instant given to the library may fall in. The last year of
#: ``datetime`` (9999) is left out, so that every instant computed from one given
#: (a period end, a trial end, a retry) can still be represented.
MAX_YEAR = 9998


def ensure_aware(value: object, *, what: str = "instant", in_range: bool = True) -> datetime:
    """Return ``value`` if it is an aware datetime in the years :data:`MIN_YEAR` to
    :data:`MAX_YEAR` (in its own zone and in UTC); refuse naive ones, non-datetimes
    and instants out of that range, with an
    :class:`~subscriptions.errors.InvalidInput` (:class:`NaiveDatetime` for a naive
    one). ``in_range=False`` skips the range: for the instants the library computes
    itself, which may lie past the last one it accepts.

    >>> ensure_aware(datetime(9999, 12, 30, tzinfo=UTC))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    subscriptions.errors.InvalidInput: instant 9999-12-30T00:00:00+00:00 is out of range; ...
    """
    if not isinstance(value, datetime):
        raise InvalidInput(
            f"{what} {shown(value)} ({type(value).__name__}) is not a datetime; pass an "
            "aware datetime, for example datetime(2026, 1, 5, tzinfo=ZoneInfo('Europe/Rome'))"
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetime(value, what=what)
    if in_range and not (
        MIN_YEAR <= value.year <= MAX_YEAR and _utc_year(value) in range(MIN_YEAR, MAX_YEAR + 1)
    ):
        raise InvalidInput(
            f"{what} {value.isoformat()} is out of range; pass an instant in the years "
            f"{MIN_YEAR} to {MAX_YEAR}"
        )
    return value


def _utc_year(value: datetime) -> int:
    try:
        return value.astimezone(UTC).year
    except OverflowError:  # its offset takes it past datetime's first or last year
        return 0


#: tzinfo classes whose offset is always defined: a datetime carrying one is aware,
#: without asking it for its offset (which costs a zone lookup).
ALWAYS_AWARE = frozenset({ZoneInfo, timezone})


def _aware(value: datetime) -> None:
    # The hot-path form of ensure_aware: one check when the value is fine.
    if type(value) is not datetime or (
        type(value.tzinfo) not in ALWAYS_AWARE and value.utcoffset() is None
    ):
        ensure_aware(value, in_range=False)


def zone(name: str | tzinfo) -> tzinfo:
    """The time zone named ``name`` (an IANA name such as ``"Europe/Rome"``)."""
    if isinstance(name, tzinfo):
        return name
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"time zone {name!r} is not an IANA name such as 'Europe/Rome'")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a path
        raise InvalidInput(
            f"unknown time zone {shown(name)}; use an IANA name such as 'Europe/Rome' or 'UTC'"
        ) from None


def localize(wall: datetime, tz: tzinfo, *, fold: int = 0) -> datetime:
    """Attach ``tz`` to a wall-clock datetime, resolving DST gaps and folds.

    A wall time in a gap (02:30 on a spring-forward night) moves forward by the gap
    (03:30); an ambiguous one (02:30 on a fall-back night) takes the first occurrence,
    unless ``fold=1`` asks for the second.
    """
    candidate = wall.replace(tzinfo=tz, fold=fold)
    # Round-tripping through UTC normalizes a non-existent wall time forward.
    return candidate.astimezone(UTC).astimezone(tz)


def local_date(instant: datetime, tz: tzinfo) -> date:
    """The calendar date of ``instant`` in ``tz``."""
    _aware(instant)
    return instant.astimezone(tz).date()


class LocalDays:
    """An explicit cache of the local calendar day (the proleptic ordinal) of instants in
    one zone: day counts look the same period bounds up again and again (many
    subscriptions share them). Bounded: it forgets everything once it holds
    ``limit`` instants. Whoever builds a :class:`~subscriptions.subscription.BillingContext`
    owns it: pass one to share it between contexts of a zone, or let the context make
    its own."""

    __slots__ = ("_days", "limit", "tz")

    def __init__(self, tz: tzinfo, *, limit: int = 4096) -> None:
        self.tz = tz
        self.limit = limit
        self._days: dict[datetime, int] = {}

    def ordinal(self, instant: datetime) -> int:
        """``instant``'s local date in the zone, as a proleptic ordinal."""
        days = self._days
        day = days.get(instant)
        if day is None:
            if len(days) >= self.limit:
                days.clear()
            day = days[instant] = instant.astimezone(self.tz).toordinal()
        return day

    def __repr__(self) -> str:
        return f"LocalDays({self.tz!s}, {len(self._days)} of {self.limit})"


def plus_local_days(instant: datetime, days: int, tz: tzinfo) -> datetime:
    """``days`` local calendar days after ``instant``, at the same wall time."""
    _aware(instant)
    wall = instant.astimezone(tz).replace(tzinfo=None) + timedelta(days=days)
    return localize(wall, tz).astimezone(UTC)


_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def days_in_month(year: int, month: int) -> int:
    """The number of days of ``month`` (1 to 12) in ``year`` (Gregorian).

    >>> days_in_month(2028, 2), days_in_month(2100, 2), days_in_month(2026, 4)
    (29, 28, 30)
    """
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _MONTH_DAYS[month]


def _add_months(wall: datetime, months: int, day: int) -> datetime:
    index = wall.year * 12 + wall.month - 1 + months
    year, month0 = divmod(index, 12)
    month = month0 + 1
    last = days_in_month(year, month)
    return wall.replace(year=year, month=month, day=day if day <= last else last)


def anchored_start(
    anchor: datetime,
    n: int,
    frequency: Frequency,
    tz: tzinfo,
    *,
    day: int | None = None,
) -> datetime:
    """The start of period ``n`` counted from ``anchor`` (``n`` may be negative).

    ``day`` is the billing day of the month (1 to 31; default: the anchor's own local
    day), clamped to each month's last day.
    """
    _aware(anchor)
    local = anchor.astimezone(tz)
    moved = _add_months(local, n * frequency.months, day or local.day)
    # Converting the local wall time straight to UTC is what localize() and a
    # conversion back would give: a gap moves forward, a fold keeps its side.
    return moved.astimezone(UTC)


def _utc_start(value: datetime) -> datetime:
    return ensure_aware(value, what="period start", in_range=False).astimezone(UTC)


def _utc_end(value: datetime) -> datetime:
    return ensure_aware(value, what="period end", in_range=False).astimezone(UTC)


@attrs.frozen(repr=False, weakref_slot=False)
class Period:
    """A half-open span of time ``[start, end)`` between two aware instants.

    Both ends are kept in UTC, so that comparisons are by instant (two datetimes that
    share a tzinfo are otherwise compared by wall time, which goes wrong in the hour
    a DST change repeats).
    """

    start: datetime = attrs.field(converter=_utc_start)
    end: datetime = attrs.field(converter=_utc_end)

    def __attrs_post_init__(self) -> None:
        if not self.start < self.end:
            raise InvalidInput(
                f"a period must end after it starts, got {self.start.isoformat()} to "
                f"{self.end.isoformat()}"
            )

    @classmethod
    def between(cls, start: datetime, end: datetime) -> Period:
        """A period between two instants the core computed (aware, UTC, ordered).

        The hot-path constructor: it checks the order but skips the conversions that
        the public constructor applies to arbitrary input.
        """
        if start.tzinfo is not UTC or end.tzinfo is not UTC:
            return cls(start, end)
        if not start < end:
            raise InvalidInput(
                f"a period must end after it starts, got {start.isoformat()} to {end.isoformat()}"
            )
        period = object.__new__(cls)
        object.__setattr__(period, "start", start)
        object.__setattr__(period, "end", end)
        return period

    def __repr__(self) -> str:
        return f"Period({self.start.isoformat()} -> {self.end.isoformat()})"

    def __contains__(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


def period_containing(
    anchor: datetime,
    at: datetime,
    frequency: Frequency,
    tz: tzinfo,
    *,
    day: int | None = None,
) -> tuple[int, Period]:
    """The index and span of the anchored period that contains ``at``.

    >>> from zoneinfo import ZoneInfo
    >>> utc = ZoneInfo("UTC")
    >>> n, p = period_containing(
    ...     datetime(2026, 1, 12, tzinfo=utc), datetime(2026, 2, 20, tzinfo=utc),
    ...     Frequency.ANNUAL, utc)
    >>> n, p
    (0, Period(2026-01-12T00:00:00+00:00 -> 2027-01-12T00:00:00+00:00))
    """
    _aware(anchor)
    _aware(at)
    a_wall = anchor.astimezone(tz)
    t_wall = at.astimezone(tz)
    months = (t_wall.year - a_wall.year) * 12 + (t_wall.month - a_wall.month)
    n = months // frequency.months
    start = anchored_start(anchor, n, frequency, tz, day=day)
    while start > at:
        n -= 1
        start = anchored_start(anchor, n, frequency, tz, day=day)
    end = anchored_start(anchor, n + 1, frequency, tz, day=day)
    while end <= at:
        n += 1
        start, end = end, anchored_start(anchor, n + 1, frequency, tz, day=day)
    return n, Period(start, end)


def first_billing_day(at: datetime, billing_day: int, tz: tzinfo) -> datetime:
    """The first local midnight on or after ``at`` that falls on ``billing_day``.

    The day is clamped to short months: billing day 31 falls on Feb 28 (or 29).

    >>> from zoneinfo import ZoneInfo
    >>> rome = ZoneInfo("Europe/Rome")
    >>> first_billing_day(datetime(2026, 2, 10, 9, tzinfo=rome), 31, rome).isoformat()
    '2026-02-27T23:00:00+00:00'
    """
    _aware(at)
    if isinstance(billing_day, bool) or not isinstance(billing_day, int):
        raise InvalidInput(f"billing day {billing_day!r} must be a whole number from 1 to 31")
    if not 1 <= billing_day <= 31:
        raise InvalidInput(f"billing day {billing_day} is out of range; use 1 to 31")
    local = at.astimezone(tz)
    month_start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    for months in (0, 1):
        candidate = localize(_add_months(month_start, months, billing_day), tz)
        if candidate >= at:
            return candidate.astimezone(UTC)
    raise AssertionError("unreachable: next month's billing day is always after `at`")
