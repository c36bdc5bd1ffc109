"""The product catalog: products, plan levels with a rank, per-seat prices.

A catalog is checked when it is built: unknown currencies, negative prices, duplicate
ids, a plan without any price or a price with more digits than its currency's minor
unit cannot exist as values.

>>> from decimal import Decimal
>>> catalog = Catalog(products=[
...     Product(id="remote-support", name="Remote Support", trial_days=14, plans=[
...         Plan(id="standard", name="Standard", rank=1, prices=[
...             Price(currency="EUR", frequency=Frequency.MONTHLY, amount=Decimal("30.00")),
...         ]),
...     ]),
... ])
>>> catalog.plan("remote-support", "standard").price(Frequency.MONTHLY, "EUR")
Decimal('30.00')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any, TypeVar

import attrs

from .display import Section, View, Viewable, ZoneLike
from .errors import CatalogError, InvalidInput, PriceNotOffered, UnknownPlan, UnknownProduct
from .inputs import identifier
from .money import check_currency, round_amount, to_decimal, to_money
from .periods import Frequency, parse_frequency

__all__ = ["MAX_PRICE", "Catalog", "Plan", "Price", "Product"]


#: The largest price of one seat for one period: totals of up to the largest seat count,
#: with tax, stay far inside the exact context's 64 digits.
MAX_PRICE = Decimal("999999999999.99")


def _amount(value: object) -> Decimal:
    return to_decimal(value, what="price")


def _currency(value: object) -> str:
    return check_currency(value)


@attrs.frozen(kw_only=True, weakref_slot=False)
class Price:
    """The price of one seat for one period of ``frequency``, in ``currency``."""

    currency: str = attrs.field(converter=_currency)
    frequency: Frequency = attrs.field(converter=parse_frequency)
    amount: Decimal = attrs.field(converter=_amount)

    def __attrs_post_init__(self) -> None:
        if abs(self.amount) > MAX_PRICE:
            raise CatalogError(
                f"price {self.amount} {self.currency} is too large; a price per seat and "
                f"period is at most {MAX_PRICE:,}"
            )
        if self.amount < 0:
            raise CatalogError(
                f"price {self.amount} {self.currency} {self.frequency.value} is negative; "
                "prices are zero or more (use a credit or a discount for reductions)"
            )
        if round_amount(self.amount, self.currency) != self.amount:
            raise CatalogError(
                f"price {self.amount} {self.currency} has more digits than the currency's "
                "minor unit; round it to the minor unit"
            )


def _tuple(value: Iterable[Any]) -> tuple[Any, ...]:
    if isinstance(value, (str, bytes, Mapping)):
        raise CatalogError(f"expected a list, got {type(value).__name__}")
    return tuple(value)


_Item = TypeVar("_Item", "Plan", "Product")


def _by_id(
    items: tuple[Any, ...], kind: type[_Item], *, owner: str, plural: str
) -> dict[str, _Item]:
    """``items`` by their ids: each must be a ``kind``, and no id may come twice
    (``owner`` and ``plural`` name them in the errors)."""
    index: dict[str, _Item] = {}
    for item in items:
        if not isinstance(item, kind):
            raise CatalogError(f"{owner}: {item!r} is not a {kind.__name__}")
        if item.id in index:
            raise CatalogError(f"{owner} has two {plural} with id {item.id!r}")
        index[item.id] = item
    return index


def _check_id(kind: str, value: object) -> None:
    # The ids' one rule (subscription ids and gateway keys are made from them).
    try:
        identifier(value, what=f"{kind} id")
    except InvalidInput as exc:
        raise CatalogError(str(exc)) from None


@attrs.frozen(kw_only=True, weakref_slot=False)
class Plan:
    """A plan level of a product. A higher ``rank`` is a higher level."""

    id: str
    name: str
    rank: int
    prices: tuple[Price, ...] = attrs.field(converter=_tuple)
    _index: dict[tuple[Frequency, str], Decimal] = attrs.field(
        init=False, repr=False, eq=False, hash=False
    )

    def __attrs_post_init__(self) -> None:
        _check_id("plan", self.id)
        if isinstance(self.rank, bool) or not isinstance(self.rank, int):
            raise CatalogError(f"plan {self.id!r} rank {self.rank!r} must be a whole number")
        if not self.prices:
            raise CatalogError(
                f"plan {self.id!r} has no price; give it at least one price per frequency"
            )
        index: dict[tuple[Frequency, str], Decimal] = {}
        for price in self.prices:
            if not isinstance(price, Price):
                raise CatalogError(f"plan {self.id!r}: {price!r} is not a Price")
            key = (price.frequency, price.currency)
            if key in index:
                raise CatalogError(
                    f"plan {self.id!r} has two {price.frequency.value} prices in "
                    f"{price.currency}; keep one"
                )
            index[key] = price.amount
        object.__setattr__(self, "_index", index)

    def price(self, frequency: Frequency, currency: str) -> Decimal:
        """The per-seat price for one period, or :class:`PriceNotOffered`."""
        try:
            return self._index[(frequency, currency)]
        except KeyError:
            offered = tuple(
                sorted(f"{f.value} in {c}" for (f, c) in self._index if c == currency)
            ) or tuple(sorted({c for (_, c) in self._index}))
            raise PriceNotOffered(
                self.id, f"{frequency.value} in {currency}", known=offered
            ) from None

    def offers(self, frequency: Frequency, currency: str) -> bool:
        return (frequency, currency) in self._index

    def frequencies(self, currency: str) -> tuple[Frequency, ...]:
        return tuple(f for f in Frequency if (f, currency) in self._index)


@attrs.frozen(kw_only=True, weakref_slot=False)
class Product:
    """A product sold per seat in plan levels; ``trial_days`` None means no trial."""

    id: str
    name: str
    plans: tuple[Plan, ...] = attrs.field(converter=_tuple)
    trial_days: int | None = None
    _index: dict[str, Plan] = attrs.field(init=False, repr=False, eq=False, hash=False)

    def __attrs_post_init__(self) -> None:
        _check_id("product", self.id)
        if self.trial_days is not None and (
            isinstance(self.trial_days, bool)
            or not isinstance(self.trial_days, int)
            or self.trial_days < 1
        ):
            raise CatalogError(
                f"product {self.id!r} trial_days {self.trial_days!r} must be a whole "
                "number of days >= 1; for no trial leave it out (None)"
            )
        if not self.plans:
            raise CatalogError(f"product {self.id!r} has no plans; give it at least one")
        index = _by_id(self.plans, Plan, owner=f"product {self.id!r}", plural="plans")
        ranks: dict[int, str] = {}
        for plan in self.plans:
            if plan.rank in ranks:
                raise CatalogError(
                    f"product {self.id!r} has two plans of rank {plan.rank} "
                    f"({ranks[plan.rank]!r} and {plan.id!r}); give each plan level a rank "
                    "of its own (a higher rank is a higher level)"
                )
            ranks[plan.rank] = plan.id
        object.__setattr__(self, "_index", index)

    def plan(self, plan_id: str) -> Plan:
        try:
            return self._index[plan_id]
        except (KeyError, TypeError):
            raise UnknownPlan(self.id, str(plan_id), known=tuple(self._index)) from None


@attrs.frozen(kw_only=True, weakref_slot=False)
class Catalog(Viewable):
    """All products on sale, looked up by id.

    It shows itself (:mod:`subscriptions.display`): ``table()``, ``rows()`` (one per
    price of each plan of each product) and, in a notebook, an HTML table.
    """

    products: tuple[Product, ...] = attrs.field(converter=_tuple)
    _index: dict[str, Product] = attrs.field(init=False, repr=False, eq=False, hash=False)
    # (product id, plan id) -> plan: one lookup on the hot path.
    _plans: dict[tuple[str, str], Plan] = attrs.field(init=False, repr=False, eq=False, hash=False)
    #: (product id, plan id, frequency, currency) to (per-seat price, plan rank): every
    #: offer of the catalog, built with it, read-only.
    offers: Mapping[tuple[str, str, Frequency, str], tuple[Decimal, int]] = attrs.field(
        init=False, repr=False, eq=False, hash=False
    )

    def __attrs_post_init__(self) -> None:
        index = _by_id(self.products, Product, owner="the catalog", plural="products")
        object.__setattr__(self, "_index", index)
        plans = {(product.id, plan.id): plan for product in self.products for plan in product.plans}
        object.__setattr__(self, "_plans", plans)
        offers = {
            (product_id, plan.id, frequency, currency): (amount, plan.rank)
            for (product_id, _), plan in plans.items()
            for (frequency, currency), amount in plan._index.items()
        }
        object.__setattr__(self, "offers", MappingProxyType(offers))

    def product(self, product_id: str) -> Product:
        try:
            return self._index[product_id]
        except (KeyError, TypeError):
            raise UnknownProduct(str(product_id), known=tuple(self._index)) from None

    def plan(self, product_id: str, plan_id: str) -> Plan:
        try:
            return self._plans[product_id, plan_id]
        except (KeyError, TypeError):
            # The product's own lookups name what is unknown.
            return self.product(product_id).plan(plan_id)

    def offer(
        self, product_id: str, plan_id: str, frequency: Frequency, currency: str
    ) -> tuple[Decimal, int]:
        """(per-seat price, plan rank) of a plan at ``frequency`` in ``currency``, or
        the :class:`~subscriptions.errors.NotFound` that names what is not on sale."""
        found = self.find_offer(product_id, plan_id, frequency, currency)
        if found is None:
            plan = self.plan(product_id, plan_id)
            return plan.price(frequency, currency), plan.rank
        return found

    def find_offer(
        self, product_id: str, plan_id: str, frequency: Frequency, currency: str
    ) -> tuple[Decimal, int] | None:
        """Like :meth:`offer`, ``None`` for what is not on sale."""
        try:
            return self.offers.get((product_id, plan_id, frequency, currency))
        except TypeError:  # an unhashable id: nothing is on sale under it
            return None

    def __contains__(self, product_id: object) -> bool:
        return product_id in self._index

    def view(self, *, zone: ZoneLike = None) -> View:
        """The catalog as a :class:`~subscriptions.display.View`: one row per price,
        with its product and plan (a catalog has no instant: ``zone`` changes
        nothing)."""
        plans = sum(len(product.plans) for product in self.products)
        return View(
            title="Catalog",
            facts=(("products", len(self.products)), ("plans", plans)),
            sections=(
                Section(
                    title="prices",
                    columns=(
                        "product", "product_name", "trial_days", "plan", "plan_name", "rank",
                        "frequency", "currency", "price",
                    ),
                    cells=tuple(
                        (
                            product.id, product.name, product.trial_days, plan.id, plan.name,
                            plan.rank, price.frequency.value, price.currency,
                            to_money(price.amount, price.currency),
                        )
                        for product in self.products
                        for plan in product.plans
                        for price in plan.prices
                    ),
                ),
            ),
        )  # fmt: skip
