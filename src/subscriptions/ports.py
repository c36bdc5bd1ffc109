"""The ports: the small protocols the Billing Center talks to the world through.

* :class:`Store` gives a :class:`UnitOfWork`: repositories for accounts,
  subscriptions, carts, quotes, orders, invoices, seat assignments, idempotency
  records and an outbox, all read and written in one transaction that rolls back
  unless committed. Updates are optimistic: a record's ``version`` must be exactly one
  more than the stored one, else :class:`~subscriptions.errors.ConcurrencyConflict`.
* :class:`PaymentGateway` charges and refunds with an idempotency key, and looks a
  charge up by that key.
* :class:`VatVerifier` checks a VAT number online (VIES-like) and returns the evidence.
* :class:`Notifier` delivers messages; :class:`Clock` tells the time.

The library ships complete in-memory adapters (:mod:`subscriptions.memory`), a
SQLite adapter and a PostgreSQL one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self

import attrs
from moneyed import Money

from ._enum import Choice
from .accounts import Account, VatCheck
from .cart import Cart
from .lifecycle import Event, Subscription
from .messages import Message
from .orders import InvoiceStatus, IssuedInvoice, Order, Quote
from .seats import SeatAssignments
from .vat import VatNumber

__all__ = [
    "AccountRepository",
    "CartRepository",
    "ChargeRequest",
    "Clock",
    "ConfigRepository",
    "EventRepository",
    "IdempotencyRepository",
    "InvoiceRepository",
    "Notifier",
    "OrderRepository",
    "OutboxEntry",
    "OutboxRepository",
    "PaymentGateway",
    "PaymentResult",
    "PaymentStatus",
    "QuoteRepository",
    "RefundRequest",
    "SeatRepository",
    "Store",
    "SubscriptionRepository",
    "UnitOfWork",
    "VatVerifier",
]


# -- storage -------------------------------------------------------------------------


class AccountRepository(Protocol):
    def get(self, account_id: str) -> Account | None: ...
    def get_many(self, account_ids: Sequence[str]) -> dict[str, Account]: ...
    def add(self, account: Account) -> None: ...
    def update(self, account: Account) -> None: ...


class SubscriptionRepository(Protocol):
    def get(self, subscription_id: str) -> Subscription | None: ...
    def get_many(self, subscription_ids: Sequence[str]) -> dict[str, Subscription]: ...
    def add(self, subscription: Subscription) -> None: ...
    def update(self, subscription: Subscription) -> None: ...
    def for_account(self, account_id: str) -> list[Subscription]: ...

    def due(self, before: datetime, *, limit: int, after: str | None = None) -> list[str]:
        """Ids of subscriptions with an automatic step or retry due at or before
        ``before``, in id order after ``after`` (for batches), at most ``limit``."""
        ...


class CartRepository(Protocol):
    def get(self, account_id: str) -> Cart | None: ...
    def put(self, cart: Cart) -> None: ...


class QuoteRepository(Protocol):
    def get(self, quote_id: str) -> Quote | None: ...
    def add(self, quote: Quote) -> None: ...


class OrderRepository(Protocol):
    def get(self, order_id: str) -> Order | None: ...
    def add(self, order: Order) -> None: ...
    def update(self, order: Order) -> None: ...
    def unresolved(self) -> list[str]:
        """Ids of orders left ``pending``, ``unknown`` or ``requires_action``."""
        ...


class InvoiceRepository(Protocol):
    def get(self, invoice_id: str) -> IssuedInvoice | None: ...
    def get_many(self, invoice_ids: Sequence[str]) -> dict[str, IssuedInvoice]: ...
    def add(self, invoice: IssuedInvoice) -> None: ...
    def update(self, invoice: IssuedInvoice) -> None: ...

    def set_status(self, invoice: IssuedInvoice, status: InvoiceStatus) -> IssuedInvoice:
        """Change only the collection status of a stored invoice (optimistically, from
        ``invoice.version``); returns the invoice as updated."""
        ...

    def for_account(self, account_id: str) -> list[IssuedInvoice]: ...

    def next_number(self, series: str) -> int:
        """The next number of ``series``, taken in this transaction (gapless: a
        rolled-back transaction gives its number back)."""
        ...


class SeatRepository(Protocol):
    def get(self, subscription_id: str) -> SeatAssignments | None: ...
    def get_many(self, subscription_ids: Sequence[str]) -> dict[str, SeatAssignments]: ...
    def put(self, seats: SeatAssignments) -> None: ...


class IdempotencyRepository(Protocol):
    def get(self, scope: str, key: str) -> str | None:
        """The id recorded for ``key`` in ``scope`` (e.g. an account), or None."""
        ...

    def put(self, scope: str, key: str, value: str) -> None:
        """Record ``key``; raises ConcurrencyConflict if it is already recorded."""
        ...

    def delete(self, scope: str, key: str) -> None:
        """Forget ``key`` (nothing happens if it is not recorded)."""
        ...


@attrs.frozen(kw_only=True)
class OutboxEntry:
    """A message to deliver after the transaction that produced it commits."""

    id: str
    created_at: datetime
    message: Message
    sent_at: datetime | None = None


class OutboxRepository(Protocol):
    def add(self, entry: OutboxEntry) -> None: ...
    def pending(self, limit: int) -> list[OutboxEntry]: ...
    def mark_sent(self, entry_id: str, at: datetime) -> None: ...


class EventRepository(Protocol):
    def add(self, account_id: str, event: Event) -> None: ...
    def for_account(self, account_id: str) -> list[Event]: ...


class ConfigRepository(Protocol):
    """Small named JSON documents: the catalog and seller a command line keeps."""

    def get(self, key: str) -> dict[str, Any] | None: ...
    def put(self, key: str, value: dict[str, Any]) -> None: ...


class UnitOfWork(Protocol):
    """One transaction over every repository; rolls back unless committed."""

    # Read-only in the protocol, so that each adapter may give its own repository types.
    @property
    def accounts(self) -> AccountRepository: ...
    @property
    def subscriptions(self) -> SubscriptionRepository: ...
    @property
    def carts(self) -> CartRepository: ...
    @property
    def quotes(self) -> QuoteRepository: ...
    @property
    def orders(self) -> OrderRepository: ...
    @property
    def invoices(self) -> InvoiceRepository: ...
    @property
    def seats(self) -> SeatRepository: ...
    @property
    def idempotency(self) -> IdempotencyRepository: ...
    @property
    def outbox(self) -> OutboxRepository: ...
    @property
    def events(self) -> EventRepository: ...
    @property
    def config(self) -> ConfigRepository: ...

    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class Store(Protocol):
    def unit_of_work(self) -> UnitOfWork: ...


# -- payments ------------------------------------------------------------------------


class PaymentStatus(Choice):
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    #: The customer must act (3-D Secure); look the charge up again afterwards.
    REQUIRES_ACTION = "requires_action"
    #: The gateway failed before charging (try again later with the same key).
    TRANSIENT_ERROR = "transient_error"
    REFUNDED = "refunded"


@attrs.frozen(kw_only=True)
class ChargeRequest:
    idempotency_key: str
    amount: Money
    payment_method: str
    description: str
    off_session: bool = False


@attrs.frozen(kw_only=True)
class RefundRequest:
    idempotency_key: str
    charge_id: str
    amount: Money
    reason: str


@attrs.frozen(kw_only=True)
class PaymentResult:
    status: PaymentStatus
    charge_id: str | None = None
    amount: Money | None = None
    decline_code: str | None = None
    message: str | None = None
    next_action: str | None = None


class PaymentGateway(Protocol):
    """A payment provider. Every call carries an idempotency key: the same key gives
    the same result and never charges twice. A timeout raises
    :class:`~subscriptions.errors.GatewayUnavailable` (the outcome is then unknown)."""

    def charge(self, request: ChargeRequest) -> PaymentResult: ...
    def refund(self, request: RefundRequest) -> PaymentResult: ...
    def lookup(self, idempotency_key: str) -> PaymentResult | None: ...


# -- VAT, messages, time -------------------------------------------------------------


class VatVerifier(Protocol):
    """An online VAT-number check (VIES-like). Returns the evidence; a registry that
    cannot be reached gives a check with status ``UNAVAILABLE``."""

    def verify(self, number: VatNumber, *, at: datetime) -> VatCheck: ...


class Notifier(Protocol):
    def send(self, message: Message) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime: ...
