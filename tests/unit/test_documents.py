"""Catalog and seller documents: one strict reader, with the path of every refusal,
and a writer whose output reads back unchanged."""

from __future__ import annotations

import copy
import json
import tomllib
from typing import Any

import pytest

from subscriptions.accounts import Address
from subscriptions.catalog import Catalog, Plan, Price, Product
from subscriptions.cli import DEMO_CATALOG
from subscriptions.documents import (
    catalog_from_dict,
    catalog_to_dict,
    seller_and_catalog_from_dict,
    seller_from_dict,
    seller_to_dict,
)
from subscriptions.errors import (
    CatalogError,
    DocumentError,
    InvalidInput,
    InvalidVatNumber,
    ScenarioError,
    SellerOutsideEU,
)
from subscriptions.orders import Seller
from subscriptions.periods import Frequency

# The demo's file, its monitoring product without a trial and its plan without a name.
FILE = DEMO_CATALOG.replace("trial_days = 30\n", "").replace('  name = "Basic"\n', "")
assert FILE.count("trial_days") == 1
assert 'name = "Basic"' not in FILE


def document() -> dict[str, Any]:
    return tomllib.loads(FILE)


def test_the_file_reads_into_a_seller_and_a_catalog() -> None:
    seller, catalog = seller_and_catalog_from_dict(document())
    assert seller.name == "Remote Tools S.r.l."
    assert seller.country == "IT"
    assert seller.address.line1 == "Via Roma 1"
    assert catalog.plan("remote-support", "premium").price(Frequency.MONTHLY, "EUR") == 50
    assert catalog.product("remote-support").trial_days == 14
    assert catalog.product("monitoring").trial_days is None
    assert catalog.plan("monitoring", "basic").name == "basic"


def test_what_is_written_reads_back_unchanged() -> None:
    seller, catalog = seller_and_catalog_from_dict(document())
    written = {"seller": seller_to_dict(seller), **catalog_to_dict(catalog)}
    # Through JSON and in the shape of the file: one currency, prices by frequency.
    again = json.loads(json.dumps(written))
    assert again["currency"] == "EUR"
    assert again["products"][0]["plans"][0]["prices"] == {"monthly": "30.00", "annual": "300.00"}
    assert "trial_days" not in again["products"][1]
    seller2, catalog2 = seller_and_catalog_from_dict(again)
    assert (seller2, catalog2) == (seller, catalog)
    assert catalog_to_dict(catalog2) == catalog_to_dict(catalog)
    assert seller_to_dict(seller2) == seller_to_dict(seller)


def test_several_currencies_are_written_nested_and_read_back() -> None:
    catalog = Catalog(
        products=[
            Product(
                id="app",
                name="App",
                plans=[
                    Plan(
                        id="basic",
                        name="Basic",
                        rank=1,
                        prices=[
                            Price(currency="EUR", frequency="monthly", amount="10.00"),
                            Price(currency="EUR", frequency="annual", amount="100.00"),
                            Price(currency="JPY", frequency="monthly", amount="1500"),
                        ],
                    )
                ],
            )
        ]
    )
    written = catalog_to_dict(catalog)
    assert "currency" not in written
    assert written["products"][0]["plans"][0]["prices"] == {
        "EUR": {"monthly": "10.00", "annual": "100.00"},
        "JPY": {"monthly": "1500"},
    }
    assert catalog_from_dict(written) == catalog


def test_prices_by_frequency_need_a_currency() -> None:
    doc = document()
    del doc["currency"], doc["seller"]
    with pytest.raises(DocumentError) as caught:
        catalog_from_dict(doc)
    assert caught.value.path == "products.remote-support.plans.standard.prices.monthly"
    assert "currency" in caught.value.problem
    assert (
        catalog_from_dict(doc, currency="EUR").plan("monitoring", "basic").prices[0].currency
        == "EUR"
    )


def _parent(doc: dict[str, Any], path: str) -> tuple[Any, Any]:
    """The container of the value at ``path`` (``products/0/id``) and its key there."""
    node: Any = doc
    *parents, last = path.split("/")
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    return node, int(last) if isinstance(node, list) else last


def _put(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    node, key = _parent(doc, path)
    node[key] = value
    return doc


def _drop(doc: dict[str, Any], path: str) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    node, key = _parent(doc, path)
    del node[key]
    return doc


P0 = "products/0"
PLAN0 = "products/0/plans/0"
AT_PLAN0 = "products.remote-support.plans.standard"

# (case, the changed document, the path named, a word the problem must hold)
BAD: list[tuple[str, dict[str, Any], str, str]] = [
    ("top-typo", _put(document(), "curency", "EUR"), "curency", "unknown key"),
    (
        "product-typo",
        _put(document(), f"{P0}/trial_day", 14),
        "products.remote-support.trial_day",
        "unknown key",
    ),
    ("plan-typo", _put(document(), f"{PLAN0}/rnak", 1), f"{AT_PLAN0}.rnak", "unknown key"),
    ("seller-typo", _put(document(), "seller/vat", "x"), "seller.vat", "unknown key"),
    (
        "address-typo",
        _put(document(), "seller/address/street", "x"),
        "seller.address.street",
        "unknown key",
    ),
    ("products-object", _put(document(), "products", {}), "products", "an array"),
    ("no-products", _put(document(), "products", []), "products", "no products"),
    ("product-string", _put(document(), P0, "remote-support"), "products[0]", "an object"),
    ("product-id-number", _put(document(), f"{P0}/id", 7), "products[0].id", "a string"),
    (
        "trial-days-string",
        _put(document(), f"{P0}/trial_days", "14"),
        "products.remote-support.trial_days",
        "whole number",
    ),
    (
        "trial-days-zero",
        _put(document(), f"{P0}/trial_days", 0),
        "products.remote-support",
        "trial_days",
    ),
    ("rank-string", _put(document(), f"{PLAN0}/rank", "1"), f"{AT_PLAN0}.rank", "whole number"),
    (
        "same-rank",
        _put(document(), "products/0/plans/1/rank", 1),
        "products.remote-support",
        "rank 1",
    ),
    (
        "same-plan-id",
        _put(document(), "products/0/plans/1/id", "standard"),
        "products.remote-support",
        "two plans",
    ),
    (
        "prices-array",
        _put(document(), f"{PLAN0}/prices", ["30.00"]),
        f"{AT_PLAN0}.prices",
        "an object",
    ),
    (
        "price-number",
        _put(document(), f"{PLAN0}/prices/monthly", 30),
        f"{AT_PLAN0}.prices.monthly",
        "as a string",
    ),
    (
        "price-float",
        _put(document(), f"{PLAN0}/prices/monthly", 30.5),
        f"{AT_PLAN0}.prices.monthly",
        "as a string",
    ),
    (
        "price-huge",
        _put(document(), f"{PLAN0}/prices/monthly", "1e400"),
        f"{AT_PLAN0}.prices.monthly",
        "too large",
    ),
    (
        "price-nan",
        _put(document(), f"{PLAN0}/prices/monthly", "NaN"),
        f"{AT_PLAN0}.prices.monthly",
        "finite",
    ),
    (
        "price-negative",
        _put(document(), f"{PLAN0}/prices/monthly", "-1.00"),
        f"{AT_PLAN0}.prices.monthly",
        "negative",
    ),
    (
        "price-sub-cent",
        _put(document(), f"{PLAN0}/prices/monthly", "30.001"),
        f"{AT_PLAN0}.prices.monthly",
        "minor unit",
    ),
    (
        "price-text",
        _put(document(), f"{PLAN0}/prices/monthly", "thirty"),
        f"{AT_PLAN0}.prices.monthly",
        "not a number",
    ),
    (
        "frequency",
        _put(document(), f"{PLAN0}/prices/weekly", "5.00"),
        f"{AT_PLAN0}.prices.weekly",
        "unknown frequency",
    ),
    ("currency-code", _put(document(), "currency", "EURO"), "currency", "EURO"),
    (
        "nested-currency",
        _put(document(), f"{PLAN0}/prices", {"XYZ": {"monthly": "1.00"}}),
        f"{AT_PLAN0}.prices.XYZ",
        "XYZ",
    ),
    ("no-plans", _put(document(), f"{P0}/plans", []), "products.remote-support", "no plans"),
    ("missing-rank", _drop(document(), f"{PLAN0}/rank"), AT_PLAN0, "'rank'"),
    ("seller-missing", _drop(document(), "seller"), "", "'seller'"),
    (
        "seller-address-string",
        _put(document(), "seller/address", "Via Roma 1"),
        "seller.address",
        "an object",
    ),
    (
        "seller-address-line1",
        _drop(document(), "seller/address/line1"),
        "seller.address",
        "'line1'",
    ),
    ("seller-blank-city", _put(document(), "seller/address/city", " "), "seller.address", "city"),
    ("seller-no-country", _drop(document(), "seller/country"), "seller", "'country'"),
    (
        "seller-two-countries",
        _put(document(), "seller/address/country", "FR"),
        "seller.address.country",
        "differs",
    ),
    ("seller-us", _put(document(), "seller/country", "US"), "seller", "EU member state"),
    ("seller-ch", _put(document(), "seller/country", "CH"), "seller", "EU member state"),
    ("seller-unknown-country", _put(document(), "seller/country", "XX"), "seller.address", "XX"),
    (
        "seller-check-digit",
        _put(document(), "seller/vat_number", "IT00743110158"),
        "seller",
        "check",
    ),
    (
        "seller-other-country-number",
        _put(document(), "seller/vat_number", "DE136695976"),
        "seller",
        "Germany",
    ),
    ("seller-name-number", _put(document(), "seller/name", 7), "seller.name", "a string"),
    ("seller-series-blank", _put(document(), "seller/series", ""), "seller", "series"),
]


@pytest.mark.parametrize(("doc", "path", "word"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_a_bad_document_is_refused_at_its_path(doc: dict[str, Any], path: str, word: str) -> None:
    with pytest.raises(DocumentError) as caught:
        seller_and_catalog_from_dict(doc)
    error = caught.value
    assert error.path == path, str(error)
    assert word in error.problem, str(error)
    assert "\n" not in str(error)
    assert str(error) == (f"{path}: {error.problem}" if path else error.problem)


def test_the_case_ids_are_unique() -> None:
    assert len({c[0] for c in BAD}) == len(BAD)


def test_document_errors_are_invalid_input_and_scenario_errors_are_document_errors() -> None:
    assert issubclass(DocumentError, InvalidInput)
    assert issubclass(DocumentError, ValueError)
    assert issubclass(ScenarioError, DocumentError)


def test_a_document_that_is_not_an_object() -> None:
    for value in ([], "catalog", None, 3):
        with pytest.raises(DocumentError):
            catalog_from_dict(value)
        with pytest.raises(DocumentError):
            seller_from_dict(value)


def test_the_seller_is_checked_when_built() -> None:
    address = Address(line1="Via Roma 1", city="Milano", postal_code="20121", country="IT")
    seller = Seller(name="V", address=address, vat_number="it 0074311 0157")
    assert seller.vat_number == "IT00743110157"
    with pytest.raises(InvalidVatNumber):
        Seller(name="V", address=address, vat_number="IT00743110158")
    with pytest.raises(SellerOutsideEU):
        Seller(
            name="V",
            address=Address(line1="1 Main St", city="Austin", postal_code="78701", country="US"),
        )
    with pytest.raises(InvalidInput):
        Seller(name=" ", address=address)
    with pytest.raises(InvalidInput):
        Seller(name="V", address="Via Roma 1")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        Seller(name="V", address=address, series="")


def test_two_plans_of_one_rank_are_refused() -> None:
    price = [Price(currency="EUR", frequency="monthly", amount="1.00")]
    with pytest.raises(CatalogError, match="rank 1"):
        Product(
            id="app",
            name="App",
            plans=[
                Plan(id="a", name="A", rank=1, prices=price),
                Plan(id="b", name="B", rank=1, prices=price),
            ],
        )


def test_a_scenario_reads_the_catalog_a_notebook_wrote() -> None:
    from importlib import resources

    from subscriptions.scenario import load, run

    example = resources.files("subscriptions.examples") / "trial_then_upgrade.json"
    text = example.read_text("utf-8")
    doc = json.loads(text)
    written = catalog_to_dict(load(doc).context.catalog)
    assert written["currency"] == doc["currency"]
    again = {**doc, "catalog": written}
    assert load(again).context.catalog == load(doc).context.catalog
    assert run(again) == run(doc)


@pytest.mark.parametrize("written", ["1e3", "1E+3", "1_000", "3,00"])
def test_a_price_is_written_as_on_an_invoice(written: str) -> None:
    doc = {"currency": "EUR", "products": [{"id": "app", "plans": [
        {"id": "basic", "rank": 1, "prices": {"monthly": written}}]}]}  # fmt: skip
    with pytest.raises(DocumentError) as refused:
        catalog_from_dict(doc)
    assert refused.value.path == "products.app.plans.basic.prices.monthly"


def test_a_sellers_time_zone_is_its_countrys_unless_it_names_one() -> None:
    doc = {
        "name": "Vendor S.r.l.",
        "country": "IT",
        "address": {"line1": "Via Roma 1", "city": "Milano", "postal_code": "20121"},
    }
    seller = seller_from_dict(doc)
    assert seller.timezone == "Europe/Rome"
    assert "timezone" not in seller_to_dict(seller)  # the country's own is not written
    lisbon = seller_from_dict({**doc, "timezone": "Atlantic/Madeira"})
    assert seller_to_dict(lisbon)["timezone"] == "Atlantic/Madeira"
    assert seller_from_dict(seller_to_dict(lisbon)) == lisbon
    with pytest.raises(DocumentError) as refused:
        seller_from_dict({**doc, "timezone": "Mars/Olympus"})
    assert refused.value.path == "seller"
