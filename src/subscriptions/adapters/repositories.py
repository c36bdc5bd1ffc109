"""The typed faces of the repositories, written once for every store.

Each store keeps records of one kind in a table of its own making (a dictionary
in memory, a document table in SQL) that offers six keyed primitives:
``_get``, ``_get_many``, ``_add``, ``_update``, ``_put`` and ``_page``. What a record's key
is, and which primitive each port method is, is the same in every store, so it
lives here; a store's table class takes one of these as a base and adds only
the queries it answers its own way (``for_account``, ``due``, ...).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

from ..accounts import Account
from ..cart import Cart
from ..orders import IssuedInvoice, Order, Quote
from ..payments import PaymentAttempt
from ..seats import SeatAssignments
from ..subscription import Subscription


class Keyed(abc.ABC):
    """The primitives a store's table gives the typed faces below."""

    __slots__ = ()

    @abc.abstractmethod
    def _get(self, key: str) -> Any:
        """The record at ``key``, or None."""

    @abc.abstractmethod
    def _get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        """The records of ``keys`` that exist, by key."""

    @abc.abstractmethod
    def _add(self, key: str, record: Any) -> None:
        """Insert a new record; refused if one is at ``key`` already."""

    @abc.abstractmethod
    def _update(self, key: str, record: Any) -> None:
        """Replace the record at ``key``, whose version must be the one before."""

    @abc.abstractmethod
    def _put(self, key: str, record: Any) -> None:
        """Insert or replace, by the record's version (0 or 1 may create)."""

    @abc.abstractmethod
    def _page(self, after: str | None, limit: int) -> list[Any]:
        """At most ``limit`` records in key order, after the key ``after``."""


class AccountRows(Keyed):
    __slots__ = ()

    def get(self, account_id: str) -> Account | None:
        found: Account | None = self._get(account_id)
        return found

    def get_many(self, account_ids: Sequence[str]) -> dict[str, Account]:
        return self._get_many(account_ids)

    def add(self, account: Account) -> None:
        self._add(account.id, account)

    def update(self, account: Account) -> None:
        self._update(account.id, account)

    def page(self, *, after: str | None = None, limit: int) -> list[Account]:
        return self._page(after, limit)


class SubscriptionRows(Keyed):
    __slots__ = ()

    def get(self, subscription_id: str) -> Subscription | None:
        found: Subscription | None = self._get(subscription_id)
        return found

    def get_many(self, subscription_ids: Sequence[str]) -> dict[str, Subscription]:
        return self._get_many(subscription_ids)

    def add(self, subscription: Subscription) -> None:
        self._add(subscription.id, subscription)

    def update(self, subscription: Subscription) -> None:
        self._update(subscription.id, subscription)

    def page(self, *, after: str | None = None, limit: int) -> list[Subscription]:
        return self._page(after, limit)


class CartRows(Keyed):
    __slots__ = ()

    def get(self, account_id: str) -> Cart | None:
        found: Cart | None = self._get(account_id)
        return found

    def put(self, cart: Cart) -> None:
        self._put(cart.account_id, cart)

    def page(self, *, after: str | None = None, limit: int) -> list[Cart]:
        return self._page(after, limit)


class QuoteRows(Keyed):
    __slots__ = ()

    def get(self, quote_id: str) -> Quote | None:
        found: Quote | None = self._get(quote_id)
        return found

    def add(self, quote: Quote) -> None:
        self._add(quote.id, quote)

    def page(self, *, after: str | None = None, limit: int) -> list[Quote]:
        return self._page(after, limit)


class OrderRows(Keyed):
    __slots__ = ()

    def get(self, order_id: str) -> Order | None:
        found: Order | None = self._get(order_id)
        return found

    def add(self, order: Order) -> None:
        self._add(order.id, order)

    def update(self, order: Order) -> None:
        self._update(order.id, order)


class InvoiceRows(Keyed):
    __slots__ = ()

    def get(self, invoice_id: str) -> IssuedInvoice | None:
        found: IssuedInvoice | None = self._get(invoice_id)
        return found

    def get_many(self, invoice_ids: Sequence[str]) -> dict[str, IssuedInvoice]:
        return self._get_many(invoice_ids)

    def add(self, invoice: IssuedInvoice) -> None:
        self._add(invoice.id, invoice)

    def update(self, invoice: IssuedInvoice) -> None:
        self._update(invoice.id, invoice)

    def set_status(self, changed: IssuedInvoice) -> None:
        self._update(changed.id, changed)


class AttemptRows(Keyed):
    __slots__ = ()

    def get(self, idempotency_key: str) -> PaymentAttempt | None:
        found: PaymentAttempt | None = self._get(idempotency_key)
        return found

    def add(self, attempt: PaymentAttempt) -> None:
        self._add(attempt.idempotency_key, attempt)

    def update(self, attempt: PaymentAttempt) -> None:
        self._update(attempt.idempotency_key, attempt)


class SeatRows(Keyed):
    __slots__ = ()

    def get(self, subscription_id: str) -> SeatAssignments | None:
        found: SeatAssignments | None = self._get(subscription_id)
        return found

    def get_many(self, subscription_ids: Sequence[str]) -> dict[str, SeatAssignments]:
        return self._get_many(subscription_ids)

    def put(self, seats: SeatAssignments) -> None:
        self._put(seats.subscription_id, seats)
