"""Catalog and seller documents: plain data (a parsed TOML or JSON file) read into the
domain, checked at every level before anything is used, and written back.

One shape serves the command line's catalog file, the Python API and the scenario
runner; ``docs/catalog.md`` describes it key by key. At the top, ``currency`` (of
prices written ``frequency -> amount``), ``products`` and, in the command line's file,
``seller``; each product has an ``id``, ``plans`` and optional ``name`` and
``trial_days``; each plan an ``id``, a ``rank``, ``prices`` (``{"monthly": "30.00"}``,
or nested by currency: ``{"EUR": {"monthly": "30.00"}}``) and an optional ``name``.

Every refusal is a :class:`~subscriptions.errors.DocumentError` naming the place
(``products.remote-support.trial_day``): an unknown key at any level, a value of the
wrong type (with the type expected), or a value a domain constructor refuses (a
negative price, two plans of one rank, a seller outside the EU, a VAT number whose
check digits are wrong). The readers below are the ones the scenario runner reads its
own documents with.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from .accounts import Address
from .catalog import Catalog, Plan, Price, Product
from .errors import DocumentError, SubscriptionsError
from .money import check_currency, to_decimal
from .orders import Seller
from .periods import Frequency

__all__ = [
    "catalog_from_dict",
    "catalog_to_dict",
    "seller_and_catalog_from_dict",
    "seller_from_dict",
    "seller_to_dict",
]

_T = TypeVar("_T")
_E = TypeVar("_E")


# -- readers: one value of a document, at a path ----------------------------------------


def at(path: str, key: object) -> str:
    """The path of ``key`` inside the value at ``path``."""
    return f"{path}.{key}" if path else str(key)


def item_at(path: str, index: int, item: object) -> str:
    """The path of a list's item: by its ``id`` when it has a usable one
    (``products.remote-support``), else by its index (``products[0]``)."""
    if isinstance(item, Mapping):
        key = item.get("id")
        if isinstance(key, str) and key.strip() and key.isprintable() and "." not in key:
            return at(path, key)
    return f"{path}[{index}]"


@contextlib.contextmanager
def reported_at(path: str) -> Iterator[None]:
    """Report an error of the library raised inside (a domain constructor's) as a
    document error at ``path``; a document error raised inside keeps its own path."""
    try:
        yield
    except DocumentError:
        raise
    except SubscriptionsError as exc:
        raise DocumentError(path, str(exc)) from exc


def type_name(value: object) -> str:
    """The JSON (or TOML) name of ``value``'s type, for messages."""
    if value is None:
        return "null"
    return {
        bool: "boolean",
        int: "number",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
    }.get(type(value), type(value).__name__)


def read_object(
    value: object,
    path: str,
    required: frozenset[str] | set[str],
    optional: frozenset[str] | set[str],
) -> Mapping[str, Any]:
    """``value`` as an object with exactly the ``required`` keys and some ``optional``
    ones; any other key is refused at its own path, with the keys allowed there."""
    if not isinstance(value, Mapping):
        raise DocumentError(path, f"expected an object, got {type_name(value)}")
    for key in value:
        if key not in required and key not in optional:
            allowed = ", ".join(sorted({*required, *optional}))
            raise DocumentError(at(path, key), f"unknown key {key!r} (allowed: {allowed})")
    missing = sorted(k for k in required if k not in value)
    if missing:
        raise DocumentError(path, f"missing key {missing[0]!r}")
    return value


def expect(value: object, path: str, kind: type[_T], expected: str) -> _T:
    """``value`` if it is a ``kind``; else an error at ``path`` that says what was
    ``expected`` and what came instead."""
    if not isinstance(value, kind):
        raise DocumentError(path, f"expected {expected}, got {type_name(value)}")
    return value


def read_str(value: object, path: str) -> str:
    return expect(value, path, str, "a string")


def read_int(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DocumentError(path, f"expected a whole number, got {type_name(value)} {value!r}")
    return value


def read_bool(value: object, path: str) -> bool:
    return expect(value, path, bool, "true or false")


def read_list(value: object, path: str) -> list[Any]:
    return expect(value, path, list, "an array")


def read_choice(value: object, path: str, enum_type: Callable[[Any], _E], names: list[str]) -> _E:
    """One of ``names`` (an enumeration's values), refused otherwise listing them."""
    text = read_str(value, path)
    if text not in names:
        raise DocumentError(path, f"unknown value {text!r} (use one of {', '.join(names)})")
    return enum_type(text)


# -- the catalog ---------------------------------------------------------------------------


_FREQUENCIES = [f.value for f in Frequency]


def catalog_from_dict(data: object, *, currency: str | None = None, path: str = "") -> Catalog:
    """Read a catalog document (see the module documentation).

    ``currency`` is the currency of prices written ``frequency -> amount`` (a document
    that names another one is refused); ``path`` is where the document sits in a larger one
    (``"catalog"`` in a scenario), for the messages. Amounts are strings
    (``"30.00"``): numbers are refused, floats could not hold them exactly.

    >>> catalog = catalog_from_dict({"currency": "EUR", "products": [{"id": "app",
    ...     "plans": [{"id": "basic", "rank": 1, "prices": {"monthly": "10.00"}}]}]})
    >>> catalog.plan("app", "basic").price(Frequency.MONTHLY, "EUR")
    Decimal('10.00')
    >>> catalog_from_dict({"currency": "EUR", "products": [{"id": "app", "trial_day": 14,
    ...     "plans": []}]})
    Traceback (most recent call last):
      ...
    subscriptions.errors.DocumentError: products.app.trial_day: unknown key 'trial_day' (allowed: id, name, plans, trial_days)
    """  # noqa: E501
    doc = read_object(data, path, {"products"}, {"currency"})
    if "currency" in doc:
        where = at(path, "currency")
        with reported_at(where):
            named = check_currency(read_str(doc["currency"], where))
            if currency is not None and named != check_currency(currency):
                raise DocumentError(
                    where,
                    f"the catalog is in {named} but is read for {currency}; write its "
                    f"prices in {currency}, or nest them by currency",
                )
        currency = named
    elif currency is not None:
        with reported_at(at(path, "currency")):
            currency = check_currency(currency)
    where = at(path, "products")
    raw_products = read_list(doc["products"], where)
    if not raw_products:
        raise DocumentError(where, "the catalog has no products; give it at least one")
    products = [
        _product(raw, item_at(where, i, raw), currency) for i, raw in enumerate(raw_products)
    ]
    with reported_at(where):
        return Catalog(products=products)


def _product(value: object, path: str, currency: str | None) -> Product:
    doc = read_object(value, path, {"id", "plans"}, {"name", "trial_days"})
    product_id = read_str(doc["id"], at(path, "id"))
    where = at(path, "plans")
    plans = [
        _plan(raw, item_at(where, i, raw), currency)
        for i, raw in enumerate(read_list(doc["plans"], where))
    ]
    trial_days = doc.get("trial_days")
    with reported_at(path):
        return Product(
            id=product_id,
            name=read_str(doc.get("name", product_id), at(path, "name")),
            plans=plans,
            trial_days=None if trial_days is None else read_int(trial_days, at(path, "trial_days")),
        )


def _plan(value: object, path: str, currency: str | None) -> Plan:
    doc = read_object(value, path, {"id", "rank", "prices"}, {"name"})
    plan_id = read_str(doc["id"], at(path, "id"))
    rank = read_int(doc["rank"], at(path, "rank"))
    prices = _prices(doc["prices"], at(path, "prices"), currency)
    with reported_at(path):
        return Plan(
            id=plan_id,
            name=read_str(doc.get("name", plan_id), at(path, "name")),
            rank=rank,
            prices=prices,
        )


def _prices(value: object, path: str, currency: str | None) -> list[Price]:
    if not isinstance(value, Mapping):
        raise DocumentError(
            path, f"expected an object of frequency to amount, got {type_name(value)}"
        )
    prices: list[Price] = []
    for key, amount in value.items():
        where = at(path, key)
        if isinstance(amount, Mapping):
            # currency -> {frequency: amount}
            with reported_at(where):
                code = check_currency(key)
            prices.extend(_price(code, f, a, at(where, f)) for f, a in amount.items())
        elif key not in _FREQUENCIES and currency is None:
            raise DocumentError(
                where, f"unknown frequency {key!r} (use one of {', '.join(_FREQUENCIES)})"
            )
        elif currency is None:
            raise DocumentError(
                where,
                "a price without a currency: set the catalog's 'currency', or nest the "
                'prices by currency ({EUR = {monthly = "30.00"}})',
            )
        else:
            prices.append(_price(currency, key, amount, where))
    return prices


def _price(currency: str, frequency: object, amount: object, path: str) -> Price:
    if frequency not in _FREQUENCIES:
        raise DocumentError(
            path, f"unknown frequency {frequency!r} (use one of {', '.join(_FREQUENCIES)})"
        )
    if not isinstance(amount, str):
        raise DocumentError(
            path, f'expected the amount as a string, such as "30.00", got {type_name(amount)}'
        )
    with reported_at(path):
        price = Price(currency=currency, frequency=frequency, amount=amount)
        # A price the file states is written as on an invoice (not "1e3").
        to_decimal(amount, what="price", plain=True)
        return price


def catalog_to_dict(catalog: Catalog) -> dict[str, Any]:
    """The document of ``catalog``, as :func:`catalog_from_dict` reads it back: prices
    ``frequency -> amount`` under the catalog's ``currency`` when it sells in one,
    nested by currency otherwise; ``trial_days`` only when there is a trial (TOML has
    no null)."""
    currencies = {
        price.currency for p in catalog.products for plan in p.plans for price in plan.prices
    }
    single = next(iter(currencies)) if len(currencies) == 1 else None
    products = []
    for product in catalog.products:
        entry: dict[str, Any] = {"id": product.id, "name": product.name}
        if product.trial_days is not None:
            entry["trial_days"] = product.trial_days
        entry["plans"] = [
            {
                "id": plan.id,
                "name": plan.name,
                "rank": plan.rank,
                "prices": _written_prices(plan, single),
            }
            for plan in product.plans
        ]
        products.append(entry)
    return {"currency": single, "products": products} if single else {"products": products}


def _written_prices(plan: Plan, single: str | None) -> dict[str, Any]:
    if single is not None:
        return {price.frequency.value: f"{price.amount:f}" for price in plan.prices}
    nested: dict[str, dict[str, str]] = {}
    for price in plan.prices:
        nested.setdefault(price.currency, {})[price.frequency.value] = f"{price.amount:f}"
    return nested


# -- the seller ----------------------------------------------------------------------------


def seller_from_dict(data: object, *, path: str = "seller") -> Seller:
    """Read a seller document: ``name``, ``address`` (``line1``, ``city``,
    ``postal_code``, optional ``line2`` and ``region``), the ``country`` (here or in
    the address), optional ``vat_number`` and invoice ``series``. The seller must be
    in an EU member state and its VAT number valid for that country. An optional
    ``timezone`` names the zone its books are kept in (default: its country's)."""
    doc = read_object(
        data, path, {"name", "address"}, {"country", "vat_number", "series", "timezone"}
    )
    where = at(path, "address")
    address = read_object(
        doc["address"], where, {"line1", "city", "postal_code"}, {"line2", "region", "country"}
    )
    country = doc.get("country", address.get("country"))
    if country is None:
        raise DocumentError(path, "missing key 'country' (the seller's ISO country code)")
    if "country" in doc and "country" in address and doc["country"] != address["country"]:
        raise DocumentError(
            at(where, "country"),
            f"{address['country']!r} differs from the seller's country {doc['country']!r}; "
            "give the country once",
        )
    line2, region = address.get("line2"), address.get("region")
    with reported_at(where):
        postal = Address(
            line1=read_str(address["line1"], at(where, "line1")),
            line2=None if line2 is None else read_str(line2, at(where, "line2")),
            city=read_str(address["city"], at(where, "city")),
            postal_code=read_str(address["postal_code"], at(where, "postal_code")),
            country=read_str(country, at(path, "country")),
            region=None if region is None else read_str(region, at(where, "region")),
        )
    number = doc.get("vat_number")
    series = doc.get("series", "INV")
    zone_name = doc.get("timezone")
    with reported_at(path):
        return Seller(
            name=read_str(doc["name"], at(path, "name")),
            address=postal,
            vat_number=None if number is None else read_str(number, at(path, "vat_number")),
            series=read_str(series, at(path, "series")),
            timezone=None if zone_name is None else read_str(zone_name, at(path, "timezone")),
        )


def seller_to_dict(seller: Seller) -> dict[str, Any]:
    """The document of ``seller``, as :func:`seller_from_dict` reads it back."""
    a = seller.address
    address = {
        "line1": a.line1,
        "line2": a.line2,
        "city": a.city,
        "postal_code": a.postal_code,
        "region": a.region,
    }
    doc: dict[str, Any] = {"name": seller.name, "country": a.country}
    if seller.vat_number is not None:
        doc["vat_number"] = seller.vat_number
    doc["series"] = seller.series
    if seller.timezone != Seller(name=seller.name, address=a).timezone:
        doc["timezone"] = seller.timezone  # written when it is not the country's own
    doc["address"] = {k: v for k, v in address.items() if v is not None}
    return doc


def seller_and_catalog_from_dict(data: object) -> tuple[Seller, Catalog]:
    """Read the command line's catalog file: a ``seller`` table beside a catalog."""
    doc = read_object(data, "", {"seller", "products"}, {"currency"})
    seller = seller_from_dict(doc["seller"])
    catalog = catalog_from_dict({k: v for k, v in doc.items() if k != "seller"})
    return seller, catalog
