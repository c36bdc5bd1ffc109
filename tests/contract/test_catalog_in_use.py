"""A new catalog checked against the stored book, on every store: paging through the
subscriptions, carts and quotes, and the offers in use that may not go."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import attrs
import pytest

from subscriptions.catalog import Catalog, Plan, Price, Product
from subscriptions.center import check_catalog_change
from subscriptions.center.catalog import PAGE
from subscriptions.errors import CatalogInUse, InvalidInput, NaiveDatetime
from subscriptions.subscription import Status, Terms

from .records import START, cart, catalog, italian_account, quote, subscribed


def _without(plan_id: str, *, product: str = "remote-support") -> Catalog:
    """The records' catalog without one plan of ``product``."""
    kept = []
    for p in catalog().products:
        if p.id == product:
            p = Product(
                id=p.id,
                name=p.name,
                trial_days=p.trial_days,
                plans=[plan for plan in p.plans if plan.id != plan_id],
            )
        kept.append(p)
    return Catalog(products=kept)


def _monthly_only() -> Catalog:
    """The records' catalog, every plan sold monthly only, at new prices."""
    products = [
        Product(
            id=p.id,
            name=p.name,
            trial_days=p.trial_days,
            plans=[
                Plan(
                    id=plan.id,
                    name=plan.name,
                    rank=plan.rank,
                    prices=[Price(currency="EUR", frequency="monthly", amount="99.00")],
                )
                for plan in p.plans
            ],
        )
        for p in catalog().products
    ]
    return Catalog(products=products)


def _book(store: Any, *, subscriptions: int = 1, with_cart: bool = True) -> None:
    account = italian_account()
    sub, _ = subscribed(account)
    with store.unit_of_work() as uow:
        uow.accounts.add(account)
        for i in range(subscriptions):
            uow.subscriptions.add(attrs.evolve(sub, id=f"sub-{i:05d}"))
        if with_cart:
            uow.carts.put(cart(account))
        uow.quotes.add(quote(account))
        uow.commit()


def test_pages_come_in_key_order_after_the_last_key(store: Any) -> None:
    _book(store, subscriptions=7)
    with store.unit_of_work() as uow:
        first = uow.subscriptions.page(limit=3)
        rest = uow.subscriptions.page(after=first[-1].id, limit=10)
        assert [s.id for s in first] == ["sub-00000", "sub-00001", "sub-00002"]
        assert [s.id for s in rest] == [f"sub-{i:05d}" for i in range(3, 7)]
        assert uow.subscriptions.page(after="sub-00006", limit=10) == []
        assert [c.account_id for c in uow.carts.page(limit=5)] == ["acc-it"]
        assert [q.id for q in uow.quotes.page(limit=5)] == ["quo-1"]


def test_a_page_sees_what_this_unit_of_work_wrote(store: Any) -> None:
    sub, _ = subscribed(italian_account())
    with store.unit_of_work() as uow:
        uow.accounts.add(italian_account())
        uow.subscriptions.add(attrs.evolve(sub, id="sub-new"))
        assert [s.id for s in uow.subscriptions.page(limit=5)] == ["sub-new"]


def test_a_price_change_is_allowed(store: Any) -> None:
    _book(store)
    changed = _monthly_only()
    # The stored quote and cart buy annual terms: end them first.
    with store.unit_of_work() as uow:
        uow.carts.put(attrs.evolve(cart(italian_account()), items=(), version=2))
        uow.commit()
    check_catalog_change(store, changed, at=START + timedelta(days=1))


def test_a_plan_in_use_may_not_go_and_every_use_is_named(store: Any) -> None:
    _book(store, subscriptions=3)
    with pytest.raises(CatalogInUse) as caught:
        check_catalog_change(store, _without("standard"), at=START)
    uses = caught.value.uses
    assert uses == tuple(
        f"subscription sub-{i:05d}: remote-support/standard monthly in EUR "
        "(product 'remote-support' has no plan 'standard'; choose one of premium)"
        for i in range(3)
    )
    assert "sub-00000" in str(caught.value)
    assert "3 record(s)" in str(caught.value)


def test_carts_quotes_and_scheduled_changes_count(store: Any) -> None:
    _book(store)
    with pytest.raises(CatalogInUse) as caught:
        check_catalog_change(store, _without("premium"), at=START)
    records = [use.split(":")[0] for use in caught.value.uses]
    assert records == ["the cart of account acc-it", "quote quo-1"]
    sub, _ = subscribed(italian_account())
    scheduled = attrs.evolve(
        sub,
        id="sub-scheduled",
        scheduled=Terms(product="remote-support", plan="premium", seats=5, frequency="monthly"),
    )
    with store.unit_of_work() as uow:
        uow.subscriptions.add(scheduled)
        uow.commit()
    with pytest.raises(CatalogInUse) as again:
        check_catalog_change(store, _without("premium"), at=START)
    assert again.value.uses[0].startswith(
        "the change scheduled on subscription sub-scheduled: remote-support/premium"
    )


def test_what_is_over_does_not_count(store: Any) -> None:
    _book(store, with_cart=False)
    sub, _ = subscribed(italian_account())
    with store.unit_of_work() as uow:
        uow.subscriptions.update(
            attrs.evolve(
                uow.subscriptions.get("sub-00000"), status=Status.CANCELED, version=sub.version + 1
            )
        )
        uow.commit()
    # The quote expired 30 minutes after START; the only subscription is over.
    check_catalog_change(store, _without("standard"), at=START + timedelta(hours=1))
    check_catalog_change(store, _without("premium"), at=START + timedelta(hours=1))


def test_a_large_book_is_read_a_page_at_a_time(store: Any) -> None:
    _book(store, subscriptions=PAGE + 5, with_cart=False)
    with pytest.raises(CatalogInUse) as caught:
        check_catalog_change(store, _without("standard"), at=START + timedelta(hours=1))
    assert len(caught.value.uses) == PAGE + 5
    assert str(caught.value).count("subscription sub-") == 5
    assert f"and {PAGE} more" in str(caught.value)


def test_bad_arguments_are_refused(store: Any) -> None:
    with pytest.raises(InvalidInput):
        check_catalog_change(store, {"products": []}, at=START)  # type: ignore[arg-type]
    with pytest.raises(NaiveDatetime):
        check_catalog_change(store, catalog(), at=START.replace(tzinfo=None))
