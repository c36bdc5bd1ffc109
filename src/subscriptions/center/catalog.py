"""A catalog change checked against the book: what is in use stays on sale.

:func:`check_catalog_change` pages through the stored subscriptions, carts and quotes
(a unit of work per page, so memory stays flat on a large book) and refuses a new
catalog that no longer offers what any of them uses (:func:`subscriptions.usage.lost_uses`),
naming them. Nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from ..accounts import Account
from ..catalog import Catalog
from ..errors import CatalogInUse, InvalidInput
from ..periods import ensure_aware
from ..ports import Store, UnitOfWork
from ..usage import Use, cart_uses, lost_uses, quote_uses, subscription_uses
from .base import Center

__all__ = ["check_catalog", "check_catalog_change"]

#: Records read per unit of work.
PAGE = 500


def check_catalog(center: Center, catalog: Catalog) -> None:
    """Refuse ``catalog`` as the Billing Center's next one if it takes away an offer the
    book uses (:class:`~subscriptions.errors.CatalogInUse`); a host calls this before
    it deploys a new catalog."""
    check_catalog_change(center.store, catalog, at=center.clock.now())


def check_catalog_change(store: Store, catalog: Catalog, *, at: datetime) -> None:
    """Refuse ``catalog`` if a subscription that is not over, a scheduled change, an
    open cart or a quote unexpired at ``at`` in ``store`` uses an offer it no longer
    has; the error lists the first few and counts them all."""
    if not isinstance(catalog, Catalog):
        raise InvalidInput(
            f"catalog {catalog!r} is not a Catalog; read one with catalog_from_dict()"
        )
    ensure_aware(at, what="the instant of the catalog change")
    lost: list[str] = []
    for uses in _pages(store, at):
        lost.extend(lost_uses(catalog, uses))
    if lost:
        raise CatalogInUse(tuple(lost))


def _pages(store: Store, at: datetime) -> Iterator[list[Use]]:
    """The uses of the stored records, a page at a time."""
    for subs, accounts in _paged(store, lambda uow: uow.subscriptions, key=lambda s: s.id):
        yield [
            use
            for sub in subs
            if (account := accounts.get(sub.account_id or "")) is not None
            for use in subscription_uses(sub, account.currency)
        ]
    for carts, accounts in _paged(store, lambda uow: uow.carts, key=lambda c: c.account_id):
        yield [
            use
            for cart in carts
            if (account := accounts.get(cart.account_id)) is not None
            for use in cart_uses(cart, account.currency)
        ]
    # (A quote carries its currency: its account is not read.)
    for quotes, _ in _paged(store, lambda uow: uow.quotes, key=lambda q: q.id, owners=False):
        yield [use for quote in quotes for use in quote_uses(quote, at)]


def _paged(
    store: Store,
    repository: Callable[[UnitOfWork], Any],
    *,
    key: Callable[[Any], str],
    owners: bool = True,
) -> Iterator[tuple[list[Any], dict[str, Account]]]:
    """The records of one repository a page at a time, with the accounts they belong to
    (none read when not ``owners``)."""
    after: str | None = None
    while True:
        with store.unit_of_work() as uow:
            records = repository(uow).page(after=after, limit=PAGE)
            ids = {r.account_id for r in records if r.account_id is not None} if owners else ()
            accounts = uow.accounts.get_many(sorted(ids))
        if not records:
            return
        after = key(records[-1])
        yield records, accounts
