"""The catalog: validated when built, lookups with helpful errors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from subscriptions.catalog import Catalog, Plan, Price, Product
from subscriptions.errors import (
    CatalogError,
    FloatRefused,
    InvalidInput,
    NotFound,
    PriceNotOffered,
    UnknownCurrency,
    UnknownPlan,
    UnknownProduct,
)
from subscriptions.periods import Frequency

D = Decimal
MONTHLY = Frequency.MONTHLY
ANNUAL = Frequency.ANNUAL


def price(amount: object = "30.00", currency: object = "EUR", frequency: object = MONTHLY) -> Price:
    return Price(currency=currency, frequency=frequency, amount=amount)  # type: ignore[arg-type]


def plan(plan_id: str = "standard", rank: object = 1, prices: object = None) -> Plan:
    return Plan(
        id=plan_id,
        name=plan_id.title(),
        rank=rank,  # type: ignore[arg-type]
        prices=[price()] if prices is None else prices,  # type: ignore[arg-type]
    )


def product(product_id: str = "remote-support", plans: object = None, **kw: object) -> Product:
    return Product(
        id=product_id,
        name="Remote Support",
        plans=[plan()] if plans is None else plans,  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def catalog() -> Catalog:
    return Catalog(
        products=[
            product(
                plans=[
                    plan("standard", 1, [price("30.00"), price("300.00", frequency=ANNUAL)]),
                    plan("premium", 2, [price("50.00"), price("5000", "JPY")]),
                ],
                trial_days=14,
            ),
            product("backup", plans=[plan("basic", 1, [price("9.99", "USD")])]),
        ]
    )


# --- prices --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("30.00", "EUR", "30.00"),
        ("30", "EUR", "30"),
        (30, "EUR", "30"),
        (D("0"), "EUR", "0"),
        ("1500", "JPY", "1500"),
        ("1.234", "BHD", "1.234"),
    ],
)
def test_valid_prices(amount: object, currency: str, expected: str) -> None:
    p = price(amount, currency)
    assert isinstance(p.amount, Decimal)
    assert str(p.amount) == expected
    assert p.currency == currency


def test_price_frequency_is_parsed_from_its_name() -> None:
    assert price(frequency="annual").frequency is ANNUAL


@pytest.mark.parametrize("amount", ["-0.01", -1, D("-30.00")])
def test_negative_price_is_refused(amount: object) -> None:
    with pytest.raises(CatalogError, match="negative"):
        price(amount)


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("1.5", "JPY"), ("30.001", "EUR"), ("1.2345", "BHD"), ("0.001", "USD")],
)
def test_price_with_more_digits_than_the_currency_is_refused(amount: str, currency: str) -> None:
    with pytest.raises(CatalogError, match="minor unit"):
        price(amount, currency)


@pytest.mark.parametrize("currency", ["ZZZ", "euro", "", None, 978])
def test_price_in_an_unknown_currency_is_refused(currency: object) -> None:
    with pytest.raises(UnknownCurrency):
        price(currency=currency)


def test_float_price_is_refused() -> None:
    with pytest.raises(FloatRefused, match=r"price 30\.0 is a float"):
        price(30.0)


@pytest.mark.parametrize("amount", ["thirty", "NaN", "Infinity", True, None])
def test_non_numeric_price_is_refused(amount: object) -> None:
    with pytest.raises(InvalidInput):
        price(amount)


@pytest.mark.parametrize("frequency", ["weekly", "Monthly", 1, None])
def test_price_with_an_unknown_frequency_is_refused(frequency: object) -> None:
    with pytest.raises(InvalidInput, match="frequency"):
        price(frequency=frequency)


# --- plans ---------------------------------------------------------------------------


def test_plan_without_prices_is_refused() -> None:
    with pytest.raises(CatalogError, match="'standard' has no price"):
        plan(prices=[])


def test_duplicate_price_per_frequency_and_currency_is_refused() -> None:
    with pytest.raises(CatalogError, match="two monthly prices in EUR"):
        plan(prices=[price("30.00"), price("35.00")])


def test_same_frequency_in_two_currencies_and_two_frequencies_are_fine() -> None:
    p = plan(prices=[price("30.00"), price("33.00", "USD"), price("300.00", frequency=ANNUAL)])
    assert p.price(MONTHLY, "EUR") == D("30.00")
    assert p.price(MONTHLY, "USD") == D("33.00")
    assert p.price(ANNUAL, "EUR") == D("300.00")


@pytest.mark.parametrize("rank", [True, False, "1", 1.0, None, D(1)])
def test_plan_rank_must_be_a_whole_number(rank: object) -> None:
    with pytest.raises(CatalogError, match="rank"):
        plan(rank=rank)


@pytest.mark.parametrize("rank", [0, -5, 10**6])
def test_any_integer_rank_is_accepted(rank: int) -> None:
    assert plan(rank=rank).rank == rank


@pytest.mark.parametrize("plan_id", ["", "   ", None, 7])
def test_plan_id_must_be_a_non_empty_string(plan_id: object) -> None:
    with pytest.raises(CatalogError, match="plan id"):
        Plan(id=plan_id, name="X", rank=1, prices=[price()])  # type: ignore[arg-type]


@pytest.mark.parametrize("prices", ["30.00", {"monthly": "30.00"}])
def test_plan_prices_must_be_a_list(prices: object) -> None:
    with pytest.raises(CatalogError, match="expected a list"):
        plan(prices=prices)


def test_plan_prices_must_be_price_values() -> None:
    with pytest.raises(CatalogError, match="is not a Price"):
        plan(prices=[("EUR", "monthly", "30.00")])


def test_plan_frequencies_and_offers() -> None:
    p = plan(
        prices=[
            price("300.00", frequency=ANNUAL),
            price("30.00"),
            price("3000", "JPY", Frequency.QUARTERLY),
        ]
    )
    assert p.frequencies("EUR") == (MONTHLY, ANNUAL)
    assert p.frequencies("JPY") == (Frequency.QUARTERLY,)
    assert p.frequencies("USD") == ()
    assert p.offers(ANNUAL, "EUR")
    assert not p.offers(ANNUAL, "JPY")
    assert p.prices[0].amount == D("300.00")


# --- products ------------------------------------------------------------------------


def test_duplicate_plan_ids_within_a_product_are_refused() -> None:
    with pytest.raises(CatalogError, match="two plans with id 'standard'"):
        product(plans=[plan("standard"), plan("standard", rank=2)])


def test_the_same_plan_id_in_two_products_is_fine() -> None:
    c = Catalog(products=[product("a"), product("b")])
    assert c.plan("a", "standard").id == c.plan("b", "standard").id == "standard"


def test_product_without_plans_is_refused() -> None:
    with pytest.raises(CatalogError, match="no plans"):
        product(plans=[])


@pytest.mark.parametrize("trial_days", [0, -1, True, False, "14", 14.0, D(14)])
def test_trial_days_must_be_a_positive_whole_number_or_none(trial_days: object) -> None:
    with pytest.raises(CatalogError, match="trial_days"):
        product(trial_days=trial_days)


@pytest.mark.parametrize("trial_days", [None, 1, 14, 365])
def test_valid_trial_days(trial_days: int | None) -> None:
    assert product(trial_days=trial_days).trial_days == trial_days


@pytest.mark.parametrize("product_id", ["", " ", None])
def test_product_id_must_be_a_non_empty_string(product_id: object) -> None:
    with pytest.raises(CatalogError, match="product id"):
        product(product_id)  # type: ignore[arg-type]


def test_product_plans_must_be_plan_values() -> None:
    with pytest.raises(CatalogError, match="is not a Plan"):
        product(plans=["standard"])


# --- catalog -------------------------------------------------------------------------


def test_duplicate_product_ids_are_refused() -> None:
    with pytest.raises(CatalogError, match="two products with id 'remote-support'"):
        Catalog(products=[product(), product()])


def test_catalog_products_must_be_product_values() -> None:
    with pytest.raises(CatalogError, match="is not a Product"):
        Catalog(products=[{"id": "remote-support"}])
    with pytest.raises(CatalogError, match="expected a list"):
        Catalog(products={"remote-support": product()})


def test_empty_catalog_is_allowed_and_finds_nothing() -> None:
    empty = Catalog(products=[])
    assert "x" not in empty
    with pytest.raises(UnknownProduct) as info:
        empty.product("x")
    assert str(info.value) == "no product 'x' in the catalog"


def test_lookups(catalog: Catalog) -> None:
    assert "remote-support" in catalog
    assert "nope" not in catalog
    assert catalog.product("remote-support").trial_days == 14
    assert catalog.plan("remote-support", "premium").rank == 2
    assert catalog.plan("remote-support", "standard").price(ANNUAL, "EUR") == D("300.00")
    assert catalog.plan("remote-support", "premium").price(MONTHLY, "JPY") == D("5000")


def test_unknown_product_lists_the_products(catalog: Catalog) -> None:
    with pytest.raises(UnknownProduct) as info:
        catalog.product("remote-suport")
    error = info.value
    assert isinstance(error, NotFound)
    assert isinstance(error, LookupError)
    assert error.product_id == "remote-suport"
    assert str(error) == (
        "no product 'remote-suport' in the catalog; the catalog offers remote-support, backup"
    )


def test_unknown_plan_lists_the_plans(catalog: Catalog) -> None:
    with pytest.raises(UnknownPlan) as info:
        catalog.plan("remote-support", "gold")
    error = info.value
    assert isinstance(error, LookupError)
    assert (error.product_id, error.plan_id) == ("remote-support", "gold")
    assert (
        str(error) == "product 'remote-support' has no plan 'gold'; choose one of standard, premium"
    )


def test_unknown_product_comes_before_unknown_plan(catalog: Catalog) -> None:
    with pytest.raises(UnknownProduct):
        catalog.plan("nope", "standard")


@pytest.mark.parametrize("key", [None, 7, ["remote-support"]])
def test_lookup_with_a_non_string_id_is_not_found(catalog: Catalog, key: object) -> None:
    with pytest.raises(UnknownProduct):
        catalog.product(key)  # type: ignore[arg-type]
    with pytest.raises(UnknownPlan):
        catalog.product("remote-support").plan(key)  # type: ignore[arg-type]


def test_price_not_offered_lists_the_frequencies_in_that_currency(catalog: Catalog) -> None:
    with pytest.raises(PriceNotOffered) as info:
        catalog.plan("remote-support", "standard").price(Frequency.QUARTERLY, "EUR")
    error = info.value
    assert isinstance(error, LookupError)
    assert error.plan_id == "standard"
    assert error.what == "quarterly in EUR"
    assert str(error) == (
        "plan 'standard' is not offered quarterly in EUR; "
        "it is offered annual in EUR, monthly in EUR"
    )


def test_price_not_offered_in_a_currency_lists_the_currencies(catalog: Catalog) -> None:
    with pytest.raises(PriceNotOffered) as info:
        catalog.plan("remote-support", "premium").price(MONTHLY, "USD")
    assert str(info.value) == "plan 'premium' is not offered monthly in USD; it is offered EUR, JPY"
