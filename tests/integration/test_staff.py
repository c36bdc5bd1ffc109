"""The vendor's staff, as the host says: the staff's use cases ask the host's staff
check (``BillingCenter(is_staff=...)``) once, and are refused without one, or for a
user it does not accept, with stored state exactly as it was."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from conftest import CONTACT, CenterFactory, open_account, take_snapshot

from subscriptions import NoStaffCheck, NotPermitted, NotStaff
from subscriptions.accounts import Account, AccountKind
from subscriptions.adapters.fakes import FakeGateway
from subscriptions.adapters.memory import InMemoryStore
from subscriptions.center import BillingCenter
from subscriptions.errors import InvalidInput, SubscriptionsError
from subscriptions.orders import OrderState


class Asked:
    """A staff check that says yes to ``staff`` and records every question."""

    def __init__(self, *staff: str) -> None:
        self.staff = set(staff)
        self.asked: list[str] = []

    def __call__(self, user: str) -> bool:
        self.asked.append(user)
        return user in self.staff


def _stored(store: InMemoryStore, center: BillingCenter, gateway: FakeGateway, account: str) -> Any:
    """Everything a refusal must leave as it was: the account's records, every quote
    and order, and the gateway's requests."""
    with store.unit_of_work() as uow:
        quotes = uow.quotes.page(limit=1000)
        orders = uow.orders.for_account(account)
    return take_snapshot(center, gateway, account), quotes, orders


@pytest.fixture
def refused(
    store: InMemoryStore, gateway: FakeGateway
) -> Callable[..., Iterator[pytest.ExceptionInfo[SubscriptionsError]]]:
    """``with refused(center, account_id, ErrorType, "advice"):`` the block raises that
    error, with that advice in its message, and changes nothing."""

    @contextmanager
    def check(
        center: BillingCenter, account_id: str, error: type[SubscriptionsError], advice: str
    ) -> Iterator[pytest.ExceptionInfo[SubscriptionsError]]:
        before = _stored(store, center, gateway, account_id)
        with pytest.raises(error) as info:
            yield info
        assert advice in str(info.value), str(info.value)
        assert _stored(store, center, gateway, account_id) == before

    return check


def _corporate(center: BillingCenter) -> Account:
    account = open_account(center, kind=AccountKind.CORPORATE, payment_method=None)
    center.subscribe_now(account.id, CONTACT, "remote-support", seats=20, frequency="annual")
    return account


def _order(center: BillingCenter, staff: str, account: str, quote: str, key: str = "po") -> Any:
    return center.staff_place_corporate_order(
        staff, account, quote, purchase_order="PO-1", idempotency_key=key
    )


def test_without_a_staff_check_no_one_is_staff(make_center: CenterFactory, refused: Any) -> None:
    trusted = make_center()
    account = _corporate(trusted)
    quote = trusted.staff_quote("sam", account.id)
    center = make_center(is_staff=None)
    assert center.is_staff is None
    with refused(center, account.id, NoStaffCheck, "build it with is_staff=") as info:
        center.staff_quote("sam", account.id)
    error = info.value
    assert "no user is staff" in str(error)
    assert isinstance(error, NotStaff)
    assert isinstance(error, NotPermitted)
    assert (error.user_id, error.action) == ("sam", "prepare staff quotes")
    with refused(center, account.id, NoStaffCheck, "is_staff=lambda user: user in STAFF"):
        _order(center, "sam", account.id, quote.id)


@pytest.mark.parametrize("user", ["mallory", "SAM", CONTACT])
def test_a_user_the_check_does_not_accept_is_refused_by_name(
    make_center: CenterFactory, refused: Any, user: str
) -> None:
    staff = Asked("sam")
    center = make_center(is_staff=staff)
    account = _corporate(center)
    quote = center.staff_quote("sam", account.id)
    with refused(center, account.id, NotStaff, "ask a staff member") as info:
        center.staff_quote(user, account.id)
    assert f"user {user!r} is not one of the vendor's staff" in str(info.value)
    assert f"subscriptions staff add {user}" in str(info.value)
    assert not isinstance(info.value, NoStaffCheck)
    with refused(center, account.id, NotStaff, "cannot place corporate orders"):
        _order(center, user, account.id, quote.id)
    assert staff.asked == ["sam", user, user]


def test_the_check_is_asked_once_per_use_case_and_the_staff_act(
    make_center: CenterFactory,
) -> None:
    staff = Asked("sam")
    center = make_center(is_staff=staff)
    account = _corporate(center)
    quote = center.staff_quote("sam", account.id)
    assert staff.asked == ["sam"]
    assert quote.prepared_by == "staff:sam"
    order = _order(center, "sam", account.id, quote.id)
    assert staff.asked == ["sam", "sam"]
    assert order.state is OrderState.AWAITING_CONFIRMATION
    assert order.placed_by == "staff:sam"
    # Placed again under its key: the same order, the check asked again (once).
    assert _order(center, "sam", account.id, quote.id) == order
    assert staff.asked == ["sam"] * 3
    # A staff member who leaves: the host's check says no from then on.
    staff.staff.clear()
    with pytest.raises(NotStaff):
        _order(center, "sam", account.id, quote.id)
    assert staff.asked == ["sam"] * 4


@pytest.mark.parametrize("bad", ["", "sam spade", 7, None])
def test_a_malformed_staff_user_is_refused_before_the_check_is_asked(
    make_center: CenterFactory, refused: Any, bad: Any
) -> None:
    staff = Asked("sam")
    center = make_center(is_staff=staff)
    account = _corporate(center)
    quote = center.staff_quote("sam", account.id)
    with refused(center, account.id, InvalidInput, "staff user id"):
        center.staff_quote(bad, account.id)
    with refused(center, account.id, InvalidInput, "staff user id"):
        _order(center, bad, account.id, quote.id)
    assert staff.asked == ["sam"]


@pytest.mark.parametrize("answer", [1, "yes", None, [True]])
def test_a_check_that_does_not_answer_true_or_false_never_grants(
    make_center: CenterFactory, refused: Any, answer: Any
) -> None:
    center = make_center(is_staff=lambda user: answer)
    account = _corporate(make_center())
    with refused(center, account.id, InvalidInput, "it must return True or False"):
        center.staff_quote("sam", account.id)


@pytest.mark.parametrize("check", ["sam", {"sam"}, True])
def test_a_staff_check_that_is_not_callable_is_refused_when_the_center_is_built(
    make_center: CenterFactory, check: Any
) -> None:
    with pytest.raises(InvalidInput, match=r"is_staff .* is not callable"):
        make_center(is_staff=check)


def test_an_error_of_the_hosts_check_propagates_and_changes_nothing(
    make_center: CenterFactory, store: InMemoryStore, gateway: FakeGateway
) -> None:
    def broken(user: str) -> bool:
        raise RuntimeError("the directory is down")

    center = make_center(is_staff=broken)
    account = _corporate(make_center())
    before = _stored(store, center, gateway, account.id)
    with pytest.raises(RuntimeError, match="the directory is down"):
        center.staff_quote("sam", account.id)
    assert _stored(store, center, gateway, account.id) == before
