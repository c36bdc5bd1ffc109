"""Seat licences at their edges: zero and huge seat counts, all-or-nothing changes,
and refusals that carry the numbers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from subscriptions.errors import (
    ActionRefused,
    InvalidInput,
    InvalidSeatCount,
    NotEnoughSeats,
    SeatAlreadyAssigned,
    SeatNotAssigned,
    SeatsInUse,
)
from subscriptions.seats import SeatAssignments, assign, reassign, resize, unassign


def seats(n: int, *users: str) -> SeatAssignments:
    return SeatAssignments(subscription_id="sub-1", seats=n, users=users)


# -- the value ---------------------------------------------------------------------------


def test_an_empty_assignment() -> None:
    empty = seats(3)
    assert (empty.in_use, empty.available, empty.users, empty.version) == (0, 3, (), 0)
    assert not empty.holds("ada")


def test_zero_seats_is_a_valid_starting_point() -> None:
    assert seats(0).available == 0


def test_a_huge_seat_count() -> None:
    many = assign(seats(10**6), ["ada"])
    assert many.available == 10**6 - 1


@pytest.mark.parametrize("bad", [-1, True, False, 1.0, "2", None, 1_000_001, 10**64])
def test_bad_seat_counts_are_refused(bad: object) -> None:
    with pytest.raises(InvalidSeatCount) as info:
        SeatAssignments(subscription_id="sub-1", seats=bad)  # type: ignore[arg-type]
    assert info.value.seats == bad
    assert "buy from 1 to 1,000,000 seats" in str(info.value)


def test_a_user_cannot_hold_two_seats() -> None:
    with pytest.raises(InvalidInput, match="holds two seats"):
        seats(3, "ada", "ada")


def test_more_users_than_seats_cannot_exist() -> None:
    with pytest.raises(InvalidInput, match="has only 1"):
        seats(1, "ada", "grace")


def test_users_must_be_a_list_not_a_string() -> None:
    with pytest.raises(InvalidInput, match="list of user ids"):
        SeatAssignments(subscription_id="sub-1", seats=3, users="ada")  # type: ignore[arg-type]


# -- assign ------------------------------------------------------------------------------


def test_assign_fills_in_order_and_bumps_the_version() -> None:
    before = seats(3, "ada")
    after = assign(before, ["grace", "linus"])
    assert after.users == ("ada", "grace", "linus")
    assert after.available == 0
    assert after.version == before.version + 1
    assert before.users == ("ada",)  # values are immutable


def test_assign_up_to_exactly_the_seats_bought() -> None:
    assert assign(seats(2), ["ada", "grace"]).available == 0


def test_assign_beyond_the_seats_carries_the_numbers() -> None:
    current = seats(3, "ada", "grace")
    with pytest.raises(NotEnoughSeats) as info:
        assign(current, ["linus", "barbara"])
    error = info.value
    assert (error.subscription_id, error.seats, error.seats_in_use, error.requested) == (
        "sub-1",
        3,
        2,
        2,
    )
    assert "cannot assign 2 more seats" in str(error)
    assert "2 of 3 seats are in use" in str(error)
    assert "buy more seats or unassign someone" in str(error)
    assert isinstance(error, ActionRefused)


def test_assign_one_seat_too_many_is_singular() -> None:
    with pytest.raises(NotEnoughSeats, match="cannot assign 1 more seat to"):
        assign(seats(1, "ada"), ["grace"])


def test_assign_to_zero_seats() -> None:
    with pytest.raises(NotEnoughSeats, match="0 of 0 seats"):
        assign(seats(0), ["ada"])


def test_assign_is_all_or_nothing() -> None:
    current = seats(2, "ada")
    with pytest.raises(SeatAlreadyAssigned):
        assign(current, ["grace", "ada"])
    with pytest.raises(NotEnoughSeats):
        assign(current, ["grace", "linus"])
    assert current.users == ("ada",)


def test_a_seat_assigned_twice() -> None:
    with pytest.raises(SeatAlreadyAssigned) as info:
        assign(seats(3, "ada"), ["ada"])
    assert (info.value.subscription_id, info.value.user_id) == ("sub-1", "ada")
    assert "a user needs only one" in str(info.value)


def test_the_same_user_twice_in_one_request() -> None:
    with pytest.raises(SeatAlreadyAssigned, match="'grace'"):
        assign(seats(3), ["grace", "grace"])


@pytest.mark.parametrize("users", [[], ()])
def test_assign_nobody(users: list[str]) -> None:
    with pytest.raises(InvalidInput, match="at least one user"):
        assign(seats(3), users)


@pytest.mark.parametrize("user", ["", "   ", None, 7, "a\x00b", "x" * 65])
def test_assign_a_bad_user_id(user: object) -> None:
    with pytest.raises(InvalidInput, match="user id"):
        assign(seats(3), [user])  # type: ignore[list-item]


def test_assign_a_string_instead_of_a_list() -> None:
    with pytest.raises(InvalidInput, match="list of user ids"):
        assign(seats(3), "ada")


# -- unassign and reassign ---------------------------------------------------------------


def test_unassign_keeps_the_others_in_order() -> None:
    after = unassign(seats(3, "ada", "grace", "linus"), ["grace"])
    assert after.users == ("ada", "linus")
    assert after.available == 1


def test_unassign_someone_without_a_seat_is_all_or_nothing() -> None:
    current = seats(3, "ada", "grace")
    with pytest.raises(SeatNotAssigned) as info:
        unassign(current, ["ada", "linus"])
    assert info.value.user_id == "linus"
    assert "list the assignments" in str(info.value)
    assert current.users == ("ada", "grace")


def test_unassign_nobody() -> None:
    with pytest.raises(InvalidInput):
        unassign(seats(3, "ada"), [])


def test_reassign_keeps_the_seats_place() -> None:
    after = reassign(seats(3, "ada", "grace"), "ada", "linus")
    assert after.users == ("linus", "grace")
    assert after.in_use == 2


def test_reassign_works_when_every_seat_is_in_use() -> None:
    assert reassign(seats(1, "ada"), "ada", "grace").users == ("grace",)


def test_reassign_refusals() -> None:
    current = seats(3, "ada", "grace")
    with pytest.raises(SeatNotAssigned):
        reassign(current, "linus", "barbara")
    with pytest.raises(SeatAlreadyAssigned):
        reassign(current, "ada", "grace")
    with pytest.raises(SeatAlreadyAssigned):
        reassign(current, "ada", "ada")
    with pytest.raises(InvalidInput):
        reassign(current, "ada", "")


# -- resize ------------------------------------------------------------------------------


def test_resize_up() -> None:
    after = resize(seats(2, "ada", "grace"), 5)
    assert (after.seats, after.available, after.users) == (5, 3, ("ada", "grace"))


def test_resize_down_to_exactly_the_seats_in_use() -> None:
    assert resize(seats(5, "ada", "grace"), 2).available == 0


def test_resize_below_the_seats_in_use_names_how_many_to_release() -> None:
    with pytest.raises(SeatsInUse) as info:
        resize(seats(5, "ada", "grace", "linus"), 1)
    error = info.value
    assert (error.seats, error.seats_in_use, error.must_release) == (1, 3, 2)
    assert "release the seats of 2 user(s) first" in str(error)


def test_resize_below_the_seats_in_use_releasing_named_users() -> None:
    after = resize(seats(5, "ada", "grace", "linus"), 1, release=["ada", "linus"])
    assert (after.seats, after.users) == (1, ("grace",))


def test_resize_releasing_too_few_users() -> None:
    with pytest.raises(SeatsInUse) as info:
        resize(seats(5, "ada", "grace", "linus"), 1, release=["ada"])
    error = info.value
    assert (error.seats_in_use, error.released, error.must_release) == (3, 1, 1)
    assert "to 1 seat: 3 are assigned and the change releases 1" in str(error)
    assert "release the seats of 1 more user(s) first" in str(error)


def test_seats_in_use_says_both_ways_of_releasing() -> None:
    with pytest.raises(SeatsInUse) as info:
        resize(seats(5, "ada", "grace", "linus"), 2)
    message = str(info.value)
    assert "to 2 seats: 3 are assigned; release the seats of 1 user(s) first" in message
    assert "(release_seats; on the command line, seats release)" in message
    assert "or name them with the change (release=[...] in add_to_cart or edit_cart_item" in message
    assert "cart add or cart edit with --release USER" in message
    assert info.value.released == 0


def test_resize_releasing_someone_without_a_seat() -> None:
    with pytest.raises(SeatNotAssigned):
        resize(seats(5, "ada"), 1, release=["grace"])


def test_resize_may_release_users_it_did_not_need_to() -> None:
    assert resize(seats(5, "ada", "grace"), 4, release=["ada"]).users == ("grace",)


@pytest.mark.parametrize("bad", [0, -3, True, 2.5])
def test_resize_to_a_bad_count(bad: object) -> None:
    with pytest.raises(InvalidSeatCount):
        resize(seats(2), bad)  # type: ignore[arg-type]


def test_resize_with_a_string_of_users_to_release() -> None:
    with pytest.raises(InvalidInput, match="list of user ids"):
        resize(seats(2, "ada"), 1, release="ada")


# -- invariant ---------------------------------------------------------------------------


operations = st.lists(
    st.tuples(
        st.sampled_from(["assign", "unassign", "reassign", "resize"]),
        st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), min_size=1, max_size=3),
        st.integers(min_value=-1, max_value=6),
    ),
    max_size=30,
)


@given(start=st.integers(min_value=0, max_value=5), ops=operations)
def test_assignments_never_exceed_the_seats(
    start: int, ops: list[tuple[str, list[str], int]]
) -> None:
    current = seats(start)
    for op, users, n in ops:
        try:
            if op == "assign":
                current = assign(current, users)
            elif op == "unassign":
                current = unassign(current, users)
            elif op == "reassign":
                current = reassign(current, users[0], users[-1])
            else:
                current = resize(current, n, release=users[:1])
        except (ActionRefused, InvalidInput):
            pass
        assert 0 <= current.in_use <= current.seats
        assert len(set(current.users)) == len(current.users)
