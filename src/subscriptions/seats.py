"""Seat licences: the seats a subscription bought, assigned to named users.

A subscription's seat count is the number of licences bought; :class:`SeatAssignments`
records which user holds which. Assignments never exceed the seats bought; assigning
a user twice, or reducing seats below the number assigned, is refused with an error
that carries the numbers (and a reduction may name the users to release).

>>> seats = SeatAssignments(subscription_id="sub-1", seats=2)
>>> seats = assign(seats, ["ada", "grace"])
>>> seats.available
0
>>> assign(seats, ["linus"])  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
subscriptions.errors.NotEnoughSeats: cannot assign 1 more seat to subscription 'sub-1': 2 of 2 ...

A seat count is a whole number from 1 to :data:`MAX_SEATS` (one million), checked by
:func:`seat_count` wherever one enters: a trial, a cart item, a plan change, the
terms of a subscription.

>>> seat_count(100_000)
100000
>>> seat_count(0)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
subscriptions.errors.InvalidSeatCount: seat count 0 is not allowed; buy from 1 to 1,000,000 ...
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from ._records import revised
from .errors import (
    InvalidInput,
    InvalidSeatCount,
    NotEnoughSeats,
    SeatAlreadyAssigned,
    SeatNotAssigned,
    SeatsInUse,
)
from .inputs import identifier, user_ids

__all__ = [
    "MAX_SEATS",
    "SeatAssignments",
    "assign",
    "reassign",
    "resize",
    "seat_count",
    "unassign",
]

#: The most seats one subscription can have. Far above any real licence count, and
#: low enough that every amount priced from it stays exact in the money columns.
MAX_SEATS = 1_000_000


def seat_count(value: object) -> int:
    """``value`` if it is a seat count: an ``int`` (not a ``bool``) from 1 to
    :data:`MAX_SEATS`; else :class:`~subscriptions.errors.InvalidSeatCount`."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SEATS:
        raise InvalidSeatCount(value, maximum=MAX_SEATS)
    return value


def _users(value: Iterable[str]) -> tuple[str, ...]:
    return user_ids(value)


@attrs.frozen(kw_only=True, weakref_slot=False)
class SeatAssignments:
    """Who holds the seats of one subscription, in assignment order."""

    subscription_id: str
    seats: int
    users: tuple[str, ...] = attrs.field(default=(), converter=_users)
    version: int = 0

    def __attrs_post_init__(self) -> None:
        # Zero is a stored state (a subscription's seats before any were bought).
        if self.seats != 0 or isinstance(self.seats, bool):
            seat_count(self.seats)
        if len(set(self.users)) != len(self.users):
            raise InvalidInput(f"a user holds two seats of {self.subscription_id!r}")
        if len(self.users) > self.seats:
            raise InvalidInput(
                f"{len(self.users)} users hold seats of {self.subscription_id!r}, which has "
                f"only {self.seats}"
            )

    @property
    def in_use(self) -> int:
        return len(self.users)

    @property
    def available(self) -> int:
        return self.seats - len(self.users)

    def holds(self, user_id: str) -> bool:
        return user_id in self.users


def _check_user(user_id: object) -> str:
    return identifier(user_id, what="user id")


def assign(current: SeatAssignments, user_ids: Iterable[str]) -> SeatAssignments:
    """Give each user a seat; all or nothing."""
    new = [_check_user(u) for u in _users(user_ids)]
    if not new:
        raise InvalidInput("name at least one user to assign a seat to")
    seen: set[str] = set()
    for user in new:
        if user in seen or current.holds(user):
            raise SeatAlreadyAssigned(current.subscription_id, user)
        seen.add(user)
    if len(new) > current.available:
        raise NotEnoughSeats(
            current.subscription_id,
            seats=current.seats,
            in_use=current.in_use,
            requested=len(new),
        )
    return revised(current, users=(*current.users, *new))


def unassign(current: SeatAssignments, user_ids: Iterable[str]) -> SeatAssignments:
    """Take the seats back from these users; all or nothing."""
    gone = [_check_user(u) for u in _users(user_ids)]
    if not gone:
        raise InvalidInput("name at least one user to unassign")
    for user in gone:
        if not current.holds(user):
            raise SeatNotAssigned(current.subscription_id, user)
    drop = set(gone)
    return revised(current, users=tuple(u for u in current.users if u not in drop))


def reassign(current: SeatAssignments, from_user: str, to_user: str) -> SeatAssignments:
    """Move a seat from one user to another, keeping its place."""
    _check_user(from_user)
    _check_user(to_user)
    if not current.holds(from_user):
        raise SeatNotAssigned(current.subscription_id, from_user)
    if current.holds(to_user):
        raise SeatAlreadyAssigned(current.subscription_id, to_user)
    return revised(current, users=tuple(to_user if u == from_user else u for u in current.users))


def resize(current: SeatAssignments, seats: int, *, release: Iterable[str] = ()) -> SeatAssignments:
    """Set the number of seats bought, releasing the named users: the one rule of a
    seat change, which a cart item, its quote and its order all apply.

    Naming a user who holds no seat is refused with :class:`SeatNotAssigned`;
    reducing below the seats in use without naming enough users to release, with
    :class:`SeatsInUse`, which says how many more must go. The users named are
    released even where fewer would do.

    >>> held = SeatAssignments(subscription_id="sub-1", seats=5, users=("ada", "bo", "cy"))
    >>> resize(held, 2, release=["bo"]).users
    ('ada', 'cy')
    >>> resize(held, 1, release=["bo"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    subscriptions.errors.SeatsInUse: ... 3 are assigned and the change releases 1; release ...
    """
    seat_count(seats)
    released = [_check_user(u) for u in _users(release)]
    for user in released:
        if not current.holds(user):
            raise SeatNotAssigned(current.subscription_id, user)
    drop = set(released)
    users = tuple(u for u in current.users if u not in drop)
    if len(users) > seats:
        raise SeatsInUse(
            current.subscription_id,
            seats=seats,
            in_use=current.in_use,
            release=len(users) - seats,
            released=len(drop),
        )
    return revised(current, seats=seats, users=users)
