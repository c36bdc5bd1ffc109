"""The cart and its priced quote at their edges: subscribe now vs add to cart, one item
per product, edits, and a quote priced by the very transitions an order commits."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import attrs
import pytest

from subscriptions.accounts import Account, Address
from subscriptions.cart import (
    Cart,
    CartItem,
    ItemAction,
    add_to_cart,
    edit_item,
    item_seats,
    price_cart,
    remove_item,
    subscribe_now,
)
from subscriptions.catalog import Catalog, Plan, Price, Product
from subscriptions.errors import (
    ActionRefused,
    CartItemExists,
    CartNotEmpty,
    EmptyCart,
    InvalidInput,
    InvalidSeatCount,
    InvalidTransition,
    NotInCart,
    SeatNotAssigned,
    SeatsInUse,
)
from subscriptions.periods import Frequency
from subscriptions.pricing import Customer, LineKind, TaxSetup
from subscriptions.seats import SeatAssignments
from subscriptions.subscription import BillingContext, Change, StartTrial, Status, Subscribe, Terms
from subscriptions.transitions import apply

ROME = ZoneInfo("Europe/Rome")
AT = datetime(2026, 11, 26, 10, 0, tzinfo=ROME)


def _prices(monthly: str, annual: str) -> list[Price]:
    return [
        Price(currency="EUR", frequency="monthly", amount=monthly),
        Price(currency="EUR", frequency="annual", amount=annual),
    ]


CATALOG = Catalog(
    products=[
        Product(
            id="remote-support",
            name="Remote Support",
            trial_days=14,
            plans=[
                Plan(id="standard", name="Standard", rank=1, prices=_prices("30.00", "300.00")),
                Plan(id="premium", name="Premium", rank=2, prices=_prices("50.00", "500.00")),
            ],
        ),
        Product(
            id="monitoring",
            name="Monitoring",
            plans=[Plan(id="basic", name="Basic", rank=1, prices=_prices("10.00", "100.00"))],
        ),
    ]
)
CONTEXT = BillingContext(
    catalog=CATALOG,
    currency="EUR",
    tz=ROME,
    tax=TaxSetup(seller_country="IT", customer=Customer(country="IT")),
)


def account(balance: str = "0") -> Account:
    return Account(
        id="acct",
        name="Rossi S.r.l.",
        address=Address(line1="Via Po 2", city="Torino", postal_code="10123", country="IT"),
        timezone="Europe/Rome",
        locale="it_IT",
        currency="EUR",
        billing_contacts=["anna"],
        credit_balance=balance,
    )


def item(product: str = "remote-support", plan: str = "standard", seats: int = 1) -> CartItem:
    return CartItem(product=product, plan=plan, seats=seats, frequency="monthly")


def sub_id(product: str) -> str:
    return f"sub_acct_{product}"


# -- items -------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -1, True, False, 1.0, "2", None])
def test_an_item_needs_a_whole_positive_seat_count(bad: object) -> None:
    with pytest.raises(InvalidSeatCount, match="buy from 1 to"):
        CartItem(product="p", plan="x", seats=bad, frequency="monthly")  # type: ignore[arg-type]


def test_an_item_with_a_huge_seat_count() -> None:
    assert item(seats=10**6).terms.seats == 10**6


def test_an_item_parses_its_frequency() -> None:
    parsed = CartItem(product="p", plan="x", seats=1, frequency="annual")
    assert parsed.frequency is Frequency.ANNUAL
    assert parsed.terms == Terms(product="p", plan="x", seats=1, frequency=Frequency.ANNUAL)
    with pytest.raises(InvalidInput, match="unknown billing frequency"):
        CartItem(product="p", plan="x", seats=1, frequency="weekly")


# -- subscribe now, add, edit, remove -----------------------------------------------------


def test_subscribe_now_on_an_empty_cart() -> None:
    cart = subscribe_now(Cart(account_id="acct"), item())
    assert cart.items == (item(),)
    assert cart.version == 1
    assert "remote-support" in cart
    assert "monitoring" not in cart


def test_subscribe_now_on_a_cart_that_holds_items() -> None:
    cart = subscribe_now(Cart(account_id="acct"), item())
    with pytest.raises(CartNotEmpty) as info:
        subscribe_now(cart, item("monitoring", "basic"))
    assert info.value.product == "monitoring"
    assert "add 'monitoring' to the cart instead" in str(info.value)
    assert isinstance(info.value, ActionRefused)
    # Even for the product already there.
    with pytest.raises(CartNotEmpty):
        subscribe_now(cart, item())


def test_add_to_cart_keeps_the_order_of_items() -> None:
    cart = add_to_cart(Cart(account_id="acct"), item())
    cart = add_to_cart(cart, item("monitoring", "basic"))
    assert [i.product for i in cart.items] == ["remote-support", "monitoring"]
    assert cart.version == 2


def test_one_item_per_product() -> None:
    cart = add_to_cart(Cart(account_id="acct"), item())
    with pytest.raises(CartItemExists, match="edit that item instead"):
        add_to_cart(cart, item(plan="premium", seats=4))


def test_edit_each_part_of_an_item() -> None:
    cart = subscribe_now(Cart(account_id="acct"), item())
    cart = edit_item(cart, "remote-support", plan="premium")
    cart = edit_item(cart, "remote-support", seats=5)
    cart = edit_item(cart, "remote-support", frequency="annual")
    assert cart.item("remote-support") == CartItem(
        product="remote-support", plan="premium", seats=5, frequency=Frequency.ANNUAL
    )
    assert cart.version == 4


def test_edit_leaves_the_other_items_alone() -> None:
    cart = add_to_cart(subscribe_now(Cart(account_id="acct"), item()), item("monitoring", "basic"))
    edited = edit_item(cart, "monitoring", seats=3)
    assert edited.items[0] == cart.items[0]
    assert edited.items[1].seats == 3
    assert cart.items[1].seats == 1  # values are immutable


def test_edit_refusals() -> None:
    cart = subscribe_now(Cart(account_id="acct"), item())
    with pytest.raises(
        InvalidInput, match="name a plan, a seat count, a frequency or the users to release"
    ):
        edit_item(cart, "remote-support")
    with pytest.raises(NotInCart, match="add it first"):
        edit_item(cart, "monitoring", seats=2)
    with pytest.raises(InvalidSeatCount):
        edit_item(cart, "remote-support", seats=0)
    with pytest.raises(InvalidInput):
        edit_item(cart, "remote-support", frequency="fortnightly")


def test_remove_an_item() -> None:
    cart = add_to_cart(subscribe_now(Cart(account_id="acct"), item()), item("monitoring", "basic"))
    cart = remove_item(cart, "remote-support")
    assert [i.product for i in cart.items] == ["monitoring"]
    cart = remove_item(cart, "monitoring")
    assert cart.items == ()
    with pytest.raises(NotInCart):
        remove_item(cart, "monitoring")
    # An emptied cart takes "subscribe now" again.
    assert subscribe_now(cart, item()).items == (item(),)


# -- the users an item releases ---------------------------------------------------------


def held(seats: int, *users: str) -> SeatAssignments:
    return SeatAssignments(subscription_id=sub_id("remote-support"), seats=seats, users=users)


def test_an_item_releases_no_one_unless_it_names_users() -> None:
    assert item().release == ()
    named = attrs.evolve(item(), release=["ada", "grace", "ada"])
    assert named.release == ("ada", "grace")  # each once, in the order given
    assert attrs.evolve(item(), release=iter(["ada"])).release == ("ada",)


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("ada", "the users to release must be a list of user ids, not the string 'ada'"),
        (None, "is not a list"),
        ([""], "user id is empty"),
        (["a b"], "contains whitespace"),
        ([1], "is not a string"),
        ({"ada": 1}, "must be a list"),
    ],
)
def test_an_item_refuses_a_release_that_is_no_list_of_ids(bad: object, says: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(says)):
        CartItem(product="p", plan="x", seats=1, frequency="monthly", release=bad)  # type: ignore[arg-type]


def test_edit_keeps_replaces_or_clears_the_users_to_release() -> None:
    cart = subscribe_now(Cart(account_id="acct"), attrs.evolve(item(), release=["ada"]))
    assert edit_item(cart, "remote-support", seats=2).item("remote-support").release == ("ada",)
    replaced = edit_item(cart, "remote-support", release=["grace"])
    assert replaced.item("remote-support").release == ("grace",)
    assert edit_item(cart, "remote-support", release=[]).item("remote-support").release == ()
    with pytest.raises(InvalidInput, match="list of user ids"):
        edit_item(cart, "remote-support", release="grace")


def test_the_seat_rule_of_an_item() -> None:
    fewer = item(seats=1)
    # No one holds a seat: nothing to keep within the seats.
    assert item_seats(fewer, None, subscription_id="s") is None
    assert item_seats(fewer, held(3), subscription_id="s") == attrs.evolve(held(1), version=1)
    with pytest.raises(SeatsInUse) as info:
        item_seats(fewer, held(3, "ada", "grace"), subscription_id="s")
    assert (info.value.seats_in_use, info.value.released, info.value.must_release) == (2, 0, 1)
    kept = item_seats(
        attrs.evolve(fewer, release=["ada"]), held(3, "ada", "grace"), subscription_id="s"
    )
    assert kept is not None
    assert (kept.seats, kept.users) == (1, ("grace",))
    with pytest.raises(SeatsInUse) as info:
        item_seats(
            attrs.evolve(fewer, release=["ada"]),
            held(3, "ada", "grace", "linus"),
            subscription_id="s",
        )
    assert (info.value.released, info.value.must_release) == (1, 1)
    # A user named who holds no seat: refused, even when nothing is assigned at all.
    with pytest.raises(SeatNotAssigned, match="'linus' holds no seat of subscription 's'"):
        item_seats(attrs.evolve(fewer, release=["linus"]), None, subscription_id="s")
    with pytest.raises(SeatNotAssigned):
        item_seats(
            attrs.evolve(item(seats=5), release=["linus"]), held(5, "ada"), subscription_id="s"
        )


def test_the_quote_applies_the_seat_rule_to_the_seats_it_is_given() -> None:
    reduce = subscribe_now(Cart(account_id="acct"), item(seats=1))
    stored = {sub_id("remote-support"): held(3, "ada", "grace")}
    with pytest.raises(SeatsInUse, match="release the seats of 1 user"):
        price_cart(
            account(), reduce, {}, at=AT, context=CONTEXT, subscription_id=sub_id, seats=stored
        )
    releasing = edit_item(reduce, "remote-support", release=["grace"])
    priced = price_cart(
        account(), releasing, {}, at=AT, context=CONTEXT, subscription_id=sub_id, seats=stored
    )
    assert priced.items[0].release == ("grace",)
    # The seats of another subscription are not this item's.
    other = {sub_id("monitoring"): held(3, "ada", "grace")}
    assert price_cart(
        account(), reduce, {}, at=AT, context=CONTEXT, subscription_id=sub_id, seats=other
    )


# -- the priced quote --------------------------------------------------------------------


def test_an_empty_cart_has_no_quote() -> None:
    with pytest.raises(EmptyCart, match="add a product"):
        price_cart(
            account(), Cart(account_id="acct"), {}, at=AT, context=CONTEXT, subscription_id=sub_id
        )


def test_a_new_product_is_priced_by_the_subscribe_transition() -> None:
    cart = subscribe_now(Cart(account_id="acct"), item(seats=3))
    priced = price_cart(
        account(),
        cart,
        {},
        at=AT,
        context=CONTEXT,
        subscription_id=sub_id,
        ttl=timedelta(minutes=5),
    )
    (quoted,) = priced.items
    assert quoted.action is ItemAction.SUBSCRIBE
    assert quoted.subscription_id == "sub_acct_remote-support"
    assert quoted.previous is None
    assert quoted.pinned_version is None
    assert quoted.seats_added == 3
    assert quoted.next_billing_at == datetime(2026, 12, 26, 10, 0, tzinfo=ROME)
    assert priced.at == AT
    assert priced.expires_at == AT + timedelta(minutes=5)
    same = apply(
        None,
        Subscribe(terms=item(seats=3).terms),
        at=AT,
        context=CONTEXT,
        subscription_id="sub_acct_remote-support",
        account_id="acct",
    )
    assert priced.outcomes == (same,)
    assert priced.invoice is not None
    assert same.invoice is not None
    assert priced.invoice.lines == same.invoice.lines
    assert priced.invoice.total == Decimal("109.80")
    assert priced.amount_due == Decimal("109.80")
    assert priced.credit_applied == 0


def test_a_subscribed_product_is_priced_as_a_change() -> None:
    start = AT - timedelta(days=10)
    current = apply(
        None,
        Subscribe(terms=item(seats=2).terms),
        at=start,
        context=CONTEXT,
        subscription_id="sub_acct_remote-support",
        account_id="acct",
    ).subscription
    current = attrs.evolve(current, version=7)
    cart = subscribe_now(Cart(account_id="acct"), item(plan="premium", seats=5))
    priced = price_cart(
        account(),
        cart,
        {"remote-support": current},
        at=AT,
        context=CONTEXT,
        subscription_id=sub_id,
    )
    (quoted,) = priced.items
    assert quoted.action is ItemAction.CHANGE
    assert quoted.previous == current.terms
    assert quoted.pinned_version == 7
    assert quoted.seats_added == 3
    same = apply(current, Change(plan="premium", seats=5), at=AT, context=CONTEXT)
    assert priced.outcomes == (same,)
    assert priced.invoice is not None
    assert [line.kind for line in priced.invoice.lines] == [LineKind.CREDIT, LineKind.CHARGE]


def test_fewer_seats_add_none() -> None:
    current = apply(
        None,
        Subscribe(terms=item(seats=4).terms),
        at=AT - timedelta(days=1),
        context=CONTEXT,
        subscription_id="sub_acct_remote-support",
        account_id="acct",
    ).subscription
    cart = subscribe_now(Cart(account_id="acct"), item(seats=2))
    priced = price_cart(
        account(), cart, {"remote-support": current}, at=AT, context=CONTEXT, subscription_id=sub_id
    )
    assert priced.items[0].seats_added == 0


def test_a_trial_is_converted_by_subscribing() -> None:
    trial = apply(
        None,
        StartTrial(terms=item().terms),
        at=AT - timedelta(days=3),
        context=CONTEXT,
        subscription_id="sub_acct_remote-support",
        account_id="acct",
    ).subscription
    assert trial.status is Status.TRIALING
    cart = subscribe_now(Cart(account_id="acct"), item(plan="premium"))
    priced = price_cart(
        account(), cart, {"remote-support": trial}, at=AT, context=CONTEXT, subscription_id=sub_id
    )
    (quoted,) = priced.items
    assert quoted.action is ItemAction.SUBSCRIBE
    assert quoted.pinned_version == trial.version
    (outcome,) = priced.outcomes
    assert outcome.subscription.status is Status.ACTIVE
    assert outcome.subscription.trial is not None
    assert outcome.subscription.trial.end == AT


def test_two_products_on_one_invoice() -> None:
    cart = add_to_cart(
        subscribe_now(Cart(account_id="acct"), item(seats=2)), item("monitoring", "basic", 3)
    )
    priced = price_cart(account(), cart, {}, at=AT, context=CONTEXT, subscription_id=sub_id)
    assert priced.invoice is not None
    assert [line.product for line in priced.invoice.lines] == ["remote-support", "monitoring"]
    assert priced.invoice.subtotal == Decimal("90.00")
    assert priced.invoice.total == Decimal("109.80")
    assert sum((line.amount for line in priced.invoice.lines), Decimal(0)) == (
        priced.invoice.subtotal
    )


@pytest.mark.parametrize(
    ("balance", "applied", "due"),
    [
        ("0", "0", "36.60"),
        ("10.00", "10.00", "26.60"),
        ("36.60", "36.60", "0"),
        ("500.00", "36.60", "0"),
    ],
)
def test_the_credit_balance_pays_part_or_all(balance: str, applied: str, due: str) -> None:
    cart = subscribe_now(Cart(account_id="acct"), item())
    priced = price_cart(account(balance), cart, {}, at=AT, context=CONTEXT, subscription_id=sub_id)
    assert priced.credit_applied == Decimal(applied)
    assert priced.amount_due == Decimal(due)
    assert priced.invoice is not None
    assert priced.invoice.total == Decimal("36.60")


def test_an_item_that_cannot_be_ordered_raises_the_transitions_error() -> None:
    current = apply(
        None,
        Subscribe(terms=item().terms),
        at=AT - timedelta(days=1),
        context=CONTEXT,
        subscription_id="sub_acct_remote-support",
        account_id="acct",
    ).subscription
    cart = subscribe_now(Cart(account_id="acct"), item())  # exactly the current terms
    with pytest.raises(InvalidTransition, match="name a different plan"):
        price_cart(
            account(),
            cart,
            {"remote-support": current},
            at=AT,
            context=CONTEXT,
            subscription_id=sub_id,
        )
