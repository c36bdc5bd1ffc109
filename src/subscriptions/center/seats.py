"""Seat licences: assigning, unassigning and reassigning the seats of a subscription."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..accounts import Account, require_billing_contact
from ..errors import NoSubscription
from ..ports import UnitOfWork
from ..seats import SeatAssignments, assign, reassign, unassign
from ..subscription import BILLING, Event, EventKind, Subscription
from .base import Center

__all__ = [
    "assign_seats",
    "reassign_seat",
    "release_seats",
    "show_seats",
    "unassign_seats",
]


def _seats_for(
    center: Center, uow: UnitOfWork, account: Account, product: str
) -> tuple[Subscription, SeatAssignments]:
    sub = center.find_subscription(uow, account.id, product)
    if sub.status not in BILLING:
        raise NoSubscription(product, "manage seats of")
    seats = uow.seats.get(sub.id) or SeatAssignments(subscription_id=sub.id, seats=sub.terms.seats)
    return sub, seats


def _change_seats(
    center: Center,
    account_id: str,
    user: str,
    product: str,
    change: Callable[[SeatAssignments], SeatAssignments],
    kind: EventKind,
) -> SeatAssignments:
    with center.store.unit_of_work() as uow:
        account = center.load_account(uow, account_id)
        require_billing_contact(account, user, "manage seats")
        sub, seats = _seats_for(center, uow, account, product)
        updated = change(seats)
        uow.seats.put(updated)
        # The users whose seats moved, as the change made it: those who lost one, then
        # those who got one (a reassignment: from, to).
        kept, now = set(updated.users), set(seats.users)
        moved = (
            *(u for u in seats.users if u not in kept),
            *(u for u in updated.users if u not in now),
        )
        center.record(
            uow,
            account_id,
            [
                Event(
                    kind=kind,
                    at=center.now(),
                    subscription_id=sub.id,
                    product=product,
                    user_ids=moved,
                )
            ],
        )
        uow.commit()
    return updated


def assign_seats(
    center: Center, account_id: str, user: str, product: str, user_ids: Sequence[str]
) -> SeatAssignments:
    """Give seats of ``product`` to these users (all or nothing)."""
    return _change_seats(
        center,
        account_id,
        user,
        product,
        lambda seats: assign(seats, user_ids),
        EventKind.SEATS_ASSIGNED,
    )


def unassign_seats(
    center: Center, account_id: str, user: str, product: str, user_ids: Sequence[str]
) -> SeatAssignments:
    """Take the seats of ``product`` back from these users (all or nothing)."""
    return _change_seats(
        center,
        account_id,
        user,
        product,
        lambda seats: unassign(seats, user_ids),
        EventKind.SEATS_UNASSIGNED,
    )


def reassign_seat(
    center: Center, account_id: str, user: str, product: str, from_user: str, to_user: str
) -> SeatAssignments:
    """Move a seat of ``product`` from one user to another."""
    return _change_seats(
        center,
        account_id,
        user,
        product,
        lambda seats: reassign(seats, from_user, to_user),
        EventKind.SEAT_REASSIGNED,
    )


def release_seats(
    center: Center, account_id: str, user: str, product: str, user_ids: Sequence[str]
) -> SeatAssignments:
    """Release seats before ordering fewer (the same as unassigning them)."""
    return unassign_seats(center, account_id, user, product, user_ids)


def show_seats(center: Center, account_id: str, user: str, product: str) -> SeatAssignments:
    """Who holds which seat of ``product``."""
    with center.store.unit_of_work() as uow:
        account = center.load_account(uow, account_id)
        require_billing_contact(account, user, "see seat assignments")
        _, seats = _seats_for(center, uow, account, product)
        return seats
