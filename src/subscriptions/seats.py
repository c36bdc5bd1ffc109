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

__all__ = [
    "SeatAssignments",
    "assign",
    "reassign",
    "resize",
    "unassign",
]


def _users(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        raise InvalidInput(f"expected a list of user ids, got the string {value!r}")
    return tuple(value)


@attrs.frozen(kw_only=True)
class SeatAssignments:
    """Who holds the seats of one subscription, in assignment order."""

    subscription_id: str
    seats: int
    users: tuple[str, ...] = attrs.field(default=(), converter=_users)
    version: int = 0

    def __attrs_post_init__(self) -> None:
        if isinstance(self.seats, bool) or not isinstance(self.seats, int) or self.seats < 0:
            raise InvalidSeatCount(self.seats)
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
    if not isinstance(user_id, str) or not user_id.strip():
        raise InvalidInput(f"user id {user_id!r} must be a non-empty string")
    return user_id


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
    """Set the number of seats bought, releasing the named users if needed.

    Reducing below the seats in use without naming enough users to release is
    refused with :class:`SeatsInUse`, which says how many must go.
    """
    if isinstance(seats, bool) or not isinstance(seats, int) or seats < 1:
        raise InvalidSeatCount(seats)
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
            in_use=len(users),
            release=len(users) - seats,
        )
    return revised(current, seats=seats, users=users)
