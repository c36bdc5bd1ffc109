"""What the book uses of the catalog, and what a new catalog would take away.

A subscription that is not over renews at its plan's price; a scheduled change starts
at its plan's price; an open cart is priced, and an unexpired quote ordered, from the
catalog of the moment. Each needs its offer (a product's plan at a frequency, in a
currency) to stay on sale: a new catalog may change a price (subscribers pay it from
their next renewal), never remove an offer in use. :func:`lost_uses` is that rule.

>>> from datetime import datetime, UTC
>>> from subscriptions.catalog import Catalog, Plan, Price, Product
>>> catalog = Catalog(products=[Product(id="app", name="App", plans=[
...     Plan(id="basic", name="Basic", rank=1,
...          prices=[Price(currency="EUR", frequency="monthly", amount="10.00")])])])
>>> use = Use(record="subscription s-1", product="app", plan="pro",
...           frequency=Frequency.MONTHLY, currency="EUR")
>>> lost_uses(catalog, [use])
("subscription s-1: app/pro monthly in EUR (product 'app' has no plan 'pro'; choose one of basic)",)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

import attrs

from .cart import Cart
from .catalog import Catalog
from .errors import NotFound
from .orders import Quote
from .periods import Frequency
from .subscription import Status, Subscription, Terms

__all__ = ["Use", "cart_uses", "lost_uses", "quote_uses", "subscription_uses"]


_OVER = frozenset((Status.EXPIRED, Status.CANCELED))


@attrs.frozen(kw_only=True, weakref_slot=False)
class Use:
    """An offer a stored record needs: ``record`` names the record for people."""

    record: str
    product: str
    plan: str
    frequency: Frequency
    currency: str

    def __str__(self) -> str:
        return (
            f"{self.record}: {self.product}/{self.plan} {self.frequency.value} in {self.currency}"
        )


def _use(record: str, terms: Terms, currency: str) -> Use:
    return Use(
        record=record,
        product=terms.product,
        plan=terms.plan,
        frequency=terms.frequency,
        currency=currency,
    )


def subscription_uses(sub: Subscription, currency: str) -> Iterator[Use]:
    """The offers of a subscription that is not over: its terms, and the terms of a
    change scheduled for the end of its term."""
    if sub.status in _OVER:
        return
    yield _use(f"subscription {sub.id}", sub.terms, currency)
    if sub.scheduled is not None:
        yield _use(f"the change scheduled on subscription {sub.id}", sub.scheduled, currency)


def cart_uses(cart: Cart, currency: str) -> Iterator[Use]:
    """The offers of the items in an account's cart."""
    for item in cart.items:
        yield Use(
            record=f"the cart of account {cart.account_id}",
            product=item.product,
            plan=item.plan,
            frequency=item.frequency,
            currency=currency,
        )


def quote_uses(quote: Quote, at: datetime) -> Iterator[Use]:
    """The offers of a quote that can still be ordered at ``at``."""
    if quote.expires_at <= at:
        return
    for item in quote.items:
        yield _use(f"quote {quote.id}", item.terms, quote.currency)


def lost_uses(catalog: Catalog, uses: Iterable[Use]) -> tuple[str, ...]:
    """Each use ``catalog`` does not offer, with what is missing (the catalog's own
    words), in the order given."""
    lost = []
    for use in uses:
        try:
            catalog.offer(use.product, use.plan, use.frequency, use.currency)
        except NotFound as missing:
            lost.append(f"{use} ({missing})")
    return tuple(lost)
