"""Fewer seats than users hold: refused as the change enters the cart, unless it names
the users to release, whose seats go when the order commits, in its transaction. The
rule is one (:func:`subscriptions.cart.item_seats`): the cart, the quote and the
order's completion apply it to the seats as they stand at each step.

Runs on the in-memory store, SQLite and PostgreSQL (when
``SUBSCRIPTIONS_TEST_POSTGRES_DSN`` is set)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest
from conftest import CONTACT, open_account, take_snapshot

from subscriptions.adapters.fakes import FakeGateway, InMemoryNotifier, ManualClock
from subscriptions.adapters.memory import InMemoryStore
from subscriptions.adapters.sqlite import SQLiteStore
from subscriptions.catalog import Catalog
from subscriptions.center import BillingCenter
from subscriptions.errors import (
    InvalidInput,
    PaymentFailed,
    QuoteChanged,
    SeatNotAssigned,
    SeatsInUse,
    SubscriptionsError,
)
from subscriptions.orders import Seller
from subscriptions.subscription import (
    BillingPolicy,
    ChangePolicy,
    ChangeTiming,
    EventKind,
    Status,
)

DSN_VARIABLE = "SUBSCRIPTIONS_TEST_POSTGRES_DSN"
PRODUCT = "remote-support"


@attrs.frozen
class Book:
    """A Billing Center over one store, and what it was built with."""

    center: BillingCenter
    gateway: FakeGateway
    clock: ManualClock
    make: Callable[..., BillingCenter]

    def snapshot(self, account_id: str) -> Any:
        return take_snapshot(self.center, self.gateway, account_id)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def book(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    catalog: Catalog,
    seller: Seller,
    clock: ManualClock,
    notifier: InMemoryNotifier,
) -> Iterator[Book]:
    gateway = FakeGateway()
    schema = ""
    dsn = ""
    if request.param == "memory":
        store: Any = InMemoryStore()
    elif request.param == "sqlite":
        store = SQLiteStore(tmp_path / "seats.sqlite3", timeout=5.0)
    else:
        dsn = os.environ.get(DSN_VARIABLE, "").strip()
        if not dsn:
            pytest.skip(f"set {DSN_VARIABLE} to run the PostgreSQL examples")
        from subscriptions.adapters.postgres import PostgresStore

        schema = f"test_seats_{uuid.uuid4().hex[:10]}"
        store = PostgresStore(dsn, schema=schema, max_size=2, timeout=10.0)

    def make(policy: BillingPolicy = BillingPolicy()) -> BillingCenter:
        return BillingCenter(
            catalog=catalog,
            seller=seller,
            store=store,
            gateway=gateway,
            clock=clock,
            notifier=notifier,
            policy=policy,
        )

    try:
        yield Book(center=make(), gateway=gateway, clock=clock, make=make)
    finally:
        store.close()
        if schema:
            import psycopg
            from psycopg import sql

            with psycopg.connect(dsn, autocommit=True) as db:
                db.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                )


@pytest.fixture
def account(book: Book) -> str:
    """An account paying 3 seats of Remote Support, held by giulia, marco and luca."""
    center = book.center
    opened = open_account(center)
    center.subscribe_now(opened.id, CONTACT, PRODUCT, seats=3)
    quote = center.quote(opened.id, CONTACT)
    center.place_order(opened.id, CONTACT, quote.id, idempotency_key="first")
    center.assign_seats(opened.id, CONTACT, PRODUCT, ["giulia", "marco", "luca"])
    return opened.id


@pytest.fixture
def refused(book: Book) -> Callable[..., Any]:
    """``with refused(account_id, ErrorType, "advice"):`` the block raises that error,
    saying that, and nothing stored or charged changes."""

    @contextmanager
    def check(
        account_id: str, error: type[SubscriptionsError], advice: str
    ) -> Iterator[pytest.ExceptionInfo[SubscriptionsError]]:
        before = book.snapshot(account_id)
        with pytest.raises(error) as info:
            yield info
        assert advice in str(info.value), str(info.value)
        assert book.snapshot(account_id) == before

    return check


def _order(center: BillingCenter, account_id: str, key: str, **kwargs: Any) -> Any:
    quote = center.quote(account_id, CONTACT)
    return center.place_order(account_id, CONTACT, quote.id, idempotency_key=key, **kwargs)


def _held(center: BillingCenter, account_id: str) -> tuple[int, tuple[str, ...]]:
    seats = center.seats(account_id, CONTACT, PRODUCT)
    return seats.seats, seats.users


# -- the change names who goes -----------------------------------------------------------


def test_a_reduction_that_names_the_users_to_release_releases_them_with_the_order(
    book: Book, account: str
) -> None:
    center = book.center
    cart = center.add_to_cart(account, CONTACT, PRODUCT, seats=1, release=["marco", "luca"])
    assert cart.item(PRODUCT).release == ("marco", "luca")
    # Nothing is released before the order commits.
    assert _held(center, account) == (3, ("giulia", "marco", "luca"))
    quote = center.quote(account, CONTACT)
    assert quote.items[0].release == ("marco", "luca")
    assert quote.cart[0].release == ("marco", "luca")
    order = center.place_order(account, CONTACT, quote.id, idempotency_key="fewer")
    assert order.state.value == "succeeded"
    assert _held(center, account) == (1, ("giulia",))
    (sub,) = center.subscriptions(account)
    assert sub.terms.seats == 1
    released = [e for e in center.events(account) if e.kind is EventKind.SEATS_UNASSIGNED]
    assert [(e.user_ids, e.order_id, e.product) for e in released] == [
        (("marco", "luca"), order.id, PRODUCT)
    ]
    assert center.cart(account).items == ()


def test_a_release_may_name_more_users_than_the_reduction_needs(book: Book, account: str) -> None:
    center = book.center
    center.subscribe_now(account, CONTACT, PRODUCT, seats=2, release=["luca", "marco"])
    _order(center, account, "fewer")
    assert _held(center, account) == (2, ("giulia",))


def test_a_release_without_a_reduction_frees_the_seats_with_the_order(
    book: Book, account: str
) -> None:
    center = book.center
    center.add_to_cart(account, CONTACT, PRODUCT, plan="premium", release=["luca"])
    _order(center, account, "upgrade")
    assert _held(center, account) == (3, ("giulia", "marco"))
    assert center.subscriptions(account)[0].terms.plan == "premium"


# -- refused as it enters the cart -------------------------------------------------------


def test_releasing_too_few_users_is_refused_as_it_enters_the_cart(
    book: Book, account: str, refused: Any
) -> None:
    center = book.center
    with refused(account, SeatsInUse, "and the change releases 1") as info:
        center.add_to_cart(account, CONTACT, PRODUCT, seats=1, release=["marco"])
    error = info.value
    assert (error.seats, error.seats_in_use, error.released, error.must_release) == (1, 3, 1, 1)
    assert "release the seats of 1 more user(s) first" in str(error)
    with refused(account, SeatsInUse, "release the seats of 2 user(s) first"):
        center.subscribe_now(account, CONTACT, PRODUCT, seats=1)


@pytest.mark.parametrize("release", [["sara"], ["marco", "sara"], ["giulia", "GIULIA"]])
def test_releasing_a_user_without_a_seat_is_refused(
    book: Book, account: str, refused: Any, release: list[str]
) -> None:
    with refused(account, SeatNotAssigned, "list the assignments to see who does") as info:
        book.center.add_to_cart(account, CONTACT, PRODUCT, seats=1, release=release)
    assert info.value.user_id in ("sara", "GIULIA")


@pytest.mark.parametrize(
    ("release", "advice"),
    [
        ("marco", "must be a list of user ids, not the string 'marco'"),
        ([""], "user id is empty"),
        (["mar co"], "contains whitespace"),
        ([7], "is not a string"),
        (None, "is not a list"),
        ({"marco": 1}, "must be a list of user ids"),
    ],
)
def test_a_malformed_release_is_refused(
    book: Book, account: str, refused: Any, release: Any, advice: str
) -> None:
    with refused(account, InvalidInput, advice):
        book.center.add_to_cart(account, CONTACT, PRODUCT, seats=1, release=release)


def test_a_release_for_a_product_never_subscribed_is_refused(
    book: Book, account: str, refused: Any
) -> None:
    with refused(account, SeatNotAssigned, "holds no seat"):
        book.center.add_to_cart(account, CONTACT, "monitoring", release=["marco"])


def test_editing_the_release_of_an_item(book: Book, account: str, refused: Any) -> None:
    center = book.center
    center.add_to_cart(account, CONTACT, PRODUCT, seats=1, release=["marco", "luca"])
    # What is not named is kept: an edit of the plan keeps the users to release.
    cart = center.edit_cart_item(account, CONTACT, PRODUCT, plan="premium")
    assert cart.item(PRODUCT).release == ("marco", "luca")
    with refused(account, SeatsInUse, "release the seats of 2 user(s) first"):
        center.edit_cart_item(account, CONTACT, PRODUCT, release=[])
    with refused(account, SeatsInUse, "release the seats of 1 more user(s)"):
        center.edit_cart_item(account, CONTACT, PRODUCT, release=["giulia"])
    with refused(account, SeatNotAssigned, "'sara' holds no seat"):
        center.edit_cart_item(account, CONTACT, PRODUCT, release=["sara", "luca"])
    with refused(account, SeatsInUse, "to 1 seat"):
        center.edit_cart_item(account, CONTACT, PRODUCT, seats=1, release=["luca"])
    cart = center.edit_cart_item(account, CONTACT, PRODUCT, seats=2, release=["luca"])
    assert (cart.item(PRODUCT).seats, cart.item(PRODUCT).release) == (2, ("luca",))
    # More seats than users: no one needs to go, and release=[] says no one does.
    cart = center.edit_cart_item(account, CONTACT, PRODUCT, seats=3, release=[])
    assert cart.item(PRODUCT).release == ()
    _order(center, account, "premium")
    assert _held(center, account) == (3, ("giulia", "marco", "luca"))


# -- the seats as they stand at the quote and at the order -------------------------------


def test_seats_assigned_after_the_cart_are_counted_at_the_quote(
    book: Book, account: str, refused: Any
) -> None:
    center = book.center
    center.unassign_seats(account, CONTACT, PRODUCT, ["luca"])
    center.add_to_cart(account, CONTACT, PRODUCT, seats=1, release=["marco"])
    center.assign_seats(account, CONTACT, PRODUCT, ["sara"])
    with refused(account, SeatsInUse, "and the change releases 1"):
        center.quote(account, CONTACT)


def test_seats_that_moved_after_the_quote_refuse_the_order(
    book: Book, account: str, refused: Any
) -> None:
    center = book.center
    center.add_to_cart(account, CONTACT, PRODUCT, seats=1, release=["marco", "luca"])
    quote = center.quote(account, CONTACT)
    center.unassign_seats(account, CONTACT, PRODUCT, ["luca"])
    with refused(account, QuoteChanged, "it cannot be priced any more") as info:
        center.place_order(account, CONTACT, quote.id, idempotency_key="fewer")
    assert "'luca' holds no seat" in str(info.value)
    # Assigned again, the same quote holds.
    center.assign_seats(account, CONTACT, PRODUCT, ["luca"])
    center.place_order(account, CONTACT, quote.id, idempotency_key="fewer")
    assert _held(center, account) == (1, ("giulia",))


def test_a_seat_assigned_while_the_payment_waits_fails_the_order_and_refunds_it(
    book: Book, account: str
) -> None:
    center = book.center
    center.unassign_seats(account, CONTACT, PRODUCT, ["luca"])
    # Two seats for the two users who hold one: nothing to release.
    center.add_to_cart(account, CONTACT, PRODUCT, plan="premium", seats=2)
    order = _order(center, account, "premium", payment_method="tok_3ds")
    assert order.state.value == "requires_action"
    center.assign_seats(account, CONTACT, PRODUCT, ["sara"])
    book.gateway.complete_action(order.charge_id)
    before = center.subscriptions(account)
    with pytest.raises(PaymentFailed, match="any charge was refunded") as info:
        center.confirm_payment(account, CONTACT, order.id)
    assert "cannot reduce subscription" in str(info.value)
    assert center.order(account, CONTACT, order.id).state.value == "failed"
    assert center.subscriptions(account) == before
    assert _held(center, account) == (3, ("giulia", "marco", "sara"))
    assert book.gateway.net_charged("EUR") == center.invoices(account, CONTACT)[0].total


# -- a subscription ended, a change at the end of the term -------------------------------


def test_subscribing_again_with_fewer_seats_names_the_users_to_release(
    book: Book, account: str, refused: Any
) -> None:
    center = book.center
    center.cancel(account, CONTACT, PRODUCT, timing="immediate")
    assert center.subscriptions(account)[0].status is Status.CANCELED
    with refused(account, SeatsInUse, "or name them with the change"):
        center.subscribe_now(account, CONTACT, PRODUCT, seats=2)
    center.subscribe_now(account, CONTACT, PRODUCT, seats=2, release=["giulia"])
    _order(center, account, "again")
    assert _held(center, account) == (2, ("marco", "luca"))


def test_a_reduction_at_the_end_of_the_term_releases_the_users_with_the_order(
    book: Book, account: str
) -> None:
    center = book.make(
        policy=BillingPolicy(plan_change=ChangePolicy(downgrade=ChangeTiming.END_OF_TERM))
    )
    center.add_to_cart(account, CONTACT, PRODUCT, seats=1, release=["marco", "luca"])
    quote = center.quote(account, CONTACT)
    assert quote.items[0].scheduled
    center.place_order(account, CONTACT, quote.id, idempotency_key="later")
    # The users named go now; the seats bought drop at the renewal.
    assert _held(center, account) == (3, ("giulia",))
    (sub,) = center.subscriptions(account)
    assert sub.scheduled is not None
    assert sub.scheduled.seats == 1
    assert sub.period is not None
    book.clock.advance(sub.period.end - book.clock.now())
    assert center.run_renewals().renewed == 1
    assert _held(center, account) == (1, ("giulia",))
