"""The ports: the small protocols the Billing Center talks to the world through.

* :class:`Store` gives a :class:`UnitOfWork`: repositories for accounts,
  subscriptions, carts, quotes, orders, invoices, payment attempts, seat assignments,
  idempotency records and an outbox, all read and written in one transaction that
  rolls back unless committed. Updates are optimistic: a record's ``version`` must be
  exactly one more than the stored one, else
  :class:`~subscriptions.errors.ConcurrencyConflict`.
* :class:`PaymentGateway` charges and refunds with an idempotency key, and looks a
  charge (or a refund) up by that key.
* :class:`VatVerifier` checks a VAT number online (VIES-like) and returns the evidence.
* :class:`Renderer` writes a message from the record it tells of (the library's own is
  :class:`~subscriptions.messages.GettextRenderer`); :class:`Notifier` delivers it;
  :class:`Clock` tells the time.

The library ships complete in-memory adapters (:mod:`subscriptions.adapters.memory`), a
SQLite adapter and a PostgreSQL one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

import attrs

from .accounts import Account, VatCheck
from .cart import Cart
from .errors import InvalidInput
from .messages import Message, MessageData, Notice
from .orders import IssuedInvoice, Order, Quote
from .payments import (
    AttemptState,
    ChargeRequest,
    PaymentAttempt,
    PaymentResult,
    PaymentStatus,
    RefundRequest,
)
from .seats import SeatAssignments
from .subscription import Event, Subscription
from .vat import VatNumber

__all__ = [
    "AccountRepository",
    "AttemptRepository",
    "CartRepository",
    "ChargeRequest",
    "Clock",
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
    "Renderer",
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

    def page(self, *, after: str | None = None, limit: int) -> list[Account]:
        """At most ``limit`` of them in id order, after ``after`` (for paging
        through all of them)."""
        ...


class SubscriptionRepository(Protocol):
    def get(self, subscription_id: str) -> Subscription | None: ...
    def get_many(self, subscription_ids: Sequence[str]) -> dict[str, Subscription]: ...
    def add(self, subscription: Subscription) -> None: ...
    def update(self, subscription: Subscription) -> None: ...
    def for_account(self, account_id: str) -> list[Subscription]: ...

    def page(self, *, after: str | None = None, limit: int) -> list[Subscription]:
        """At most ``limit`` of them in id order, after ``after`` (for paging
        through all of them)."""
        ...

    def due(self, before: datetime, *, limit: int, after: str | None = None) -> list[str]:
        """Ids of subscriptions with an automatic step or retry due at or before
        ``before`` (:func:`subscriptions.collection.due_at`), in id order after
        ``after`` (for batches), at most ``limit``."""
        ...

    def claim_due(
        self, before: datetime, *, limit: int, after: str | None = None
    ) -> list[Subscription]:
        """The subscriptions :meth:`due` lists, read and held for this unit of work:
        a store that can lock rows (PostgreSQL) skips those another unit of work
        holds, so concurrent bill runs take disjoint batches."""
        ...


class CartRepository(Protocol):
    def get(self, account_id: str) -> Cart | None: ...
    def put(self, cart: Cart) -> None: ...

    def page(self, *, after: str | None = None, limit: int) -> list[Cart]:
        """At most ``limit`` of them in account id order, after ``after`` (for paging
        through all of them)."""
        ...


class QuoteRepository(Protocol):
    def get(self, quote_id: str) -> Quote | None: ...
    def add(self, quote: Quote) -> None: ...

    def page(self, *, after: str | None = None, limit: int) -> list[Quote]:
        """At most ``limit`` of them in id order, after ``after`` (for paging
        through all of them)."""
        ...


class OrderRepository(Protocol):
    def get(self, order_id: str) -> Order | None: ...
    def add(self, order: Order) -> None: ...
    def update(self, order: Order) -> None: ...
    def for_account(self, account_id: str) -> list[Order]:
        """The account's orders, oldest first (ids made later sort later)."""
        ...

    def unresolved(self) -> list[str]:
        """Ids of orders left ``pending``, ``unknown`` or ``requires_action``."""
        ...


class InvoiceRepository(Protocol):
    def get(self, invoice_id: str) -> IssuedInvoice | None: ...
    def get_many(self, invoice_ids: Sequence[str]) -> dict[str, IssuedInvoice]: ...
    def add(self, invoice: IssuedInvoice) -> None: ...
    def update(self, invoice: IssuedInvoice) -> None: ...

    def set_status(self, changed: IssuedInvoice) -> None:
        """Store ``changed``: a stored invoice one version later whose collection
        status alone changed (:meth:`IssuedInvoice.with_status`), optimistically from
        the version before. Only the status is written."""
        ...

    def for_account(self, account_id: str) -> list[IssuedInvoice]: ...

    def take_numbers(
        self, series: str, count: int, *, now: Callable[[], datetime]
    ) -> tuple[int, datetime]:
        """Take the next ``count`` numbers of ``series`` in this transaction, in one
        statement (gapless: a rolled-back transaction gives them back); returns the
        first and the instant the documents are issued at: ``now()``, read once the
        series is held, and never earlier than the series' last issue."""
        ...


class AttemptRepository(Protocol):
    """Payment attempts (:mod:`subscriptions.payments`), known by their idempotency
    keys; at most one in flight per target."""

    def get(self, idempotency_key: str) -> PaymentAttempt | None: ...

    def add(self, attempt: PaymentAttempt) -> None:
        """Record a new attempt. Another attempt at the same target in flight raises
        :class:`~subscriptions.errors.PaymentInProgress`, here or at the latest at
        commit (a unique index in the SQL stores)."""
        ...

    def update(self, attempt: PaymentAttempt) -> None: ...

    def in_flight(self, target: str) -> PaymentAttempt | None:
        """The attempt at ``target`` in flight, if any."""
        ...

    def with_state(
        self, states: Sequence[AttemptState], *, limit: int, after: str | None = None
    ) -> list[PaymentAttempt]:
        """Attempts in one of ``states`` (in flight ones, or failed refunds), in order
        of target after ``after``, at most ``limit``."""
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


@attrs.frozen(kw_only=True, weakref_slot=False)
class OutboxEntry:
    """A message to deliver after the transaction that produced it commits.

    ``notice`` is what a use case posted: whom the message is for (user ids) and the
    record it is written from; it is written when it is delivered. ``message`` is what
    an earlier version of the library stored instead: the message written when it was
    posted, the users' ids in its ``to`` and no ``data``, delivered as it was written.
    An entry holds one of the two.
    """

    id: str
    created_at: datetime
    notice: Notice | None = None
    sent_at: datetime | None = None
    message: Message | None = None

    def __attrs_post_init__(self) -> None:
        if (self.notice is None) == (self.message is None):
            raise InvalidInput(
                f"outbox entry {self.id!r} must hold a notice (or, as an earlier version "
                "stored it, a written message), and only one"
            )

    @property
    def users(self) -> tuple[str, ...]:
        """Whom the message is for: user ids."""
        if self.notice is not None:
            return self.notice.to
        assert self.message is not None
        return self.message.to


class OutboxRepository(Protocol):
    def add(self, entry: OutboxEntry) -> None: ...
    def pending(self, limit: int) -> list[OutboxEntry]: ...
    def mark_sent(self, entry_id: str, at: datetime) -> None: ...


class EventRepository(Protocol):
    def add(self, account_id: str, event: Event) -> None: ...
    def for_account(self, account_id: str) -> list[Event]: ...


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
    def attempts(self) -> AttemptRepository: ...
    @property
    def seats(self) -> SeatRepository: ...
    @property
    def idempotency(self) -> IdempotencyRepository: ...
    @property
    def outbox(self) -> OutboxRepository: ...
    @property
    def events(self) -> EventRepository: ...

    def flush(self) -> None:
        """Send the queued writes to the store now (commit does it anyway): a
        conflict shows here at the latest."""
        ...

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

    def snapshot(self) -> UnitOfWork:
        """A read-only unit of work that sees the store as it was at its first read,
        however long it stays open and whatever other units of work commit
        meanwhile (a forecast reads a whole book through one). It keeps none of the
        records it returns (reading a book page by page takes the memory of one
        page) and refuses every write and claim with
        :class:`~subscriptions.errors.ReadOnlySnapshot`, leaving the store as it was;
        ``commit`` and ``rollback`` both just end it."""
        ...

    def close(self) -> None:
        """Let go of what the store holds (connections, a pool); closing twice is
        harmless. A store is closed by whoever opened it."""
        ...


# -- payments ------------------------------------------------------------------------


class PaymentGateway(Protocol):
    """A payment provider. Every call carries an idempotency key: the same key gives
    the same result and never charges twice. A timeout raises
    :class:`~subscriptions.errors.GatewayUnavailable` (the outcome is then unknown).

    ``lookup`` tells what the gateway knows of a key: a charge's current result
    (``refunded`` once refunded in full, ``amount_refunded`` for part), a refund's
    result, or ``None`` when it never received that key (nothing was charged under
    it). It raises ``GatewayUnavailable`` when it cannot tell. Looking up never moves
    money. ``request``, when the caller has it, is the request that was (or may have
    been) sent under the key: a gateway that finds a charge by replaying its creation
    (Stripe) needs it; one that keeps its own index of keys ignores it.

    A gateway that the host has set up wrongly (a bad API key, a request the provider
    refuses as invalid) raises :class:`~subscriptions.errors.GatewayMisconfigured`:
    nothing was charged, and nothing should be retried until the setting it names is
    fixed.
    """

    def charge(self, request: ChargeRequest) -> PaymentResult: ...
    def refund(self, request: RefundRequest) -> PaymentResult: ...
    def lookup(
        self, idempotency_key: str, *, request: ChargeRequest | RefundRequest | None = None
    ) -> PaymentResult | None: ...

    def key_of(self, charge_id: str) -> str | None:
        """The idempotency key the gateway's charge ``charge_id`` was made under, or
        ``None`` when it was not made by the library (a gateway event that names only
        the charge, such as a dispute, is matched to its attempt with it)."""
        ...


# -- VAT, messages, time -------------------------------------------------------------


class VatVerifier(Protocol):
    """An online VAT-number check (VIES-like). Returns the evidence; a registry that
    cannot be reached gives a check with status ``UNAVAILABLE``."""

    def verify(self, number: VatNumber, *, at: datetime) -> VatCheck: ...


class Renderer(Protocol):
    """Writes the message of a record (a :class:`~subscriptions.messages.Confirmation`,
    a :class:`~subscriptions.messages.PaymentFailure`...: one of
    :data:`~subscriptions.messages.MessageData`) to ``to``, the recipients'
    addresses: a :class:`~subscriptions.messages.Message` with a subject, a text, and
    HTML if the renderer writes any. The message's ``data`` should be the record.

    The library's own, :class:`~subscriptions.messages.GettextRenderer`, writes the
    texts of its catalogs (and of the host's). A host with templates of its own
    writes the kinds it lays out and hands the others to it; see docs/messages.md.
    """

    def render(self, data: MessageData, *, to: Sequence[str]) -> Message: ...


class Notifier(Protocol):
    """Delivers a written message: ``message.to`` holds the recipients' addresses
    (as the Billing Center's ``address_of`` hook gave them for the users), the text is
    always there, ``html`` when the renderer wrote some, and ``data`` is the record it
    was written from. Raising leaves the message in the outbox, to be sent next time.
    """

    def send(self, message: Message) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime: ...
