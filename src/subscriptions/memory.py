"""Complete in-memory adapters: what test suites and notebooks plug in.

* :class:`InMemoryStore`: transactional storage. A unit of work sees the committed
  state plus its own writes, rolls back unless committed, and checks versions at
  commit (optimistic concurrency), so two units of work updating one record cannot
  both win. Records are frozen values, so nothing a caller holds can change behind
  the store's back.
* :class:`FakeGateway`: a payment gateway scripted by documented test tokens or by a
  handler function; it records every request and honours idempotency keys.
* :class:`FakeVatVerifier`: a VIES-like registry of valid numbers.
* :class:`InMemoryNotifier` keeps what it was asked to send; :class:`ManualClock` is
  a clock that tests move forward.

Test tokens understood by :class:`FakeGateway`:

==========================  ===========================================================
``tok_visa``                succeeds
``tok_declined``            declined (``card_declined``)
``tok_insufficient_funds``  declined (``insufficient_funds``)
``tok_3ds``                 requires customer action (3-D Secure); completes when
                            :meth:`FakeGateway.complete_action` is called
``tok_transient``           transient error every time, nothing charged
``tok_timeout``             charges, then times out (:class:`GatewayUnavailable`)
==========================  ===========================================================

Faults can also be switched on for every call: :attr:`FakeGateway.unavailable`
(nothing reaches the gateway: every call, lookups included, raises
:class:`GatewayUnavailable`) and :attr:`FakeGateway.lose_responses` (charges and
refunds are made, and their answers lost: :class:`GatewayUnavailable`).
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import attrs
from moneyed import Money

from .accounts import Account, VatCheck, VatCheckStatus
from .cart import Cart
from .collection import due_at
from .errors import (
    ConcurrencyConflict,
    GatewayUnavailable,
    IdempotencyKeyReused,
    InvalidInput,
    PaymentInProgress,
)
from .lifecycle import Event, Subscription
from .messages import Message
from .money import EXACT, exact_sum, money_currency
from .orders import IssuedInvoice, Order, OrderState, Quote
from .payments import (
    AttemptState,
    ChargeRequest,
    PaymentAttempt,
    PaymentResult,
    PaymentStatus,
    RefundRequest,
)
from .periods import ensure_aware
from .ports import OutboxEntry
from .seats import SeatAssignments
from .vat import VatNumber

__all__ = [
    "FakeGateway",
    "FakeVatVerifier",
    "InMemoryNotifier",
    "InMemoryStore",
    "ManualClock",
]

_Key = tuple[str, str]


class _Data:
    """The committed state of an :class:`InMemoryStore`."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, Any]] = {
            name: {}
            for name in (
                "accounts",
                "subscriptions",
                "carts",
                "quotes",
                "orders",
                "invoices",
                "attempts",
                "seats",
                "idempotency",
                "outbox",
                "events",
                "series",
                "config",
            )
        }
        self.lock = threading.Lock()
        #: The keys of the committed attempts in flight, by target.
        self.in_flight: dict[str, str] = {}


def _version(record: Any) -> int | None:
    return getattr(record, "version", None)


class _Table:
    def __init__(self, uow: InMemoryUnitOfWork, name: str, label: str) -> None:
        self._uow = uow
        self._name = name
        self._label = label

    def _committed(self) -> dict[str, Any]:
        return self._uow._data.tables[self._name]

    def _get(self, key: str) -> Any:
        writes = self._uow._writes
        if (self._name, key) in writes:
            return writes[(self._name, key)]
        return self._committed().get(key)

    def _keys(self) -> set[str]:
        keys = set(self._committed())
        keys.update(k for (t, k) in self._uow._writes if t == self._name)
        return keys

    def _add(self, key: str, record: Any) -> None:
        self._uow._check_open()
        if self._get(key) is not None:
            raise InvalidInput(f"{self._label} {key!r} already exists")
        self._uow._write(self._name, key, record, base=None)

    def _update(self, key: str, record: Any) -> None:
        self._uow._check_open()
        current = self._get(key)
        found = None if current is None else _version(current)
        expected = _version(record)
        assert expected is not None
        if found != expected - 1:
            raise ConcurrencyConflict(self._label, key, expected=expected - 1, found=found)
        self._uow._write(self._name, key, record, base=found)

    def _put(self, key: str, record: Any) -> None:
        current = self._get(key)
        if current is None:
            # A record that does not exist yet may be created at version 0, or at
            # version 1 when it was edited from an implicit empty version 0.
            expected = _version(record)
            if expected not in (0, 1, None):
                raise ConcurrencyConflict(self._label, key, expected=expected - 1, found=None)
            self._uow._check_open()
            self._uow._write(self._name, key, record, base=None)
        else:
            self._update(key, record)


class _Accounts(_Table):
    def get(self, account_id: str) -> Account | None:
        result: Account | None = self._get(account_id)
        return result

    def get_many(self, account_ids: Sequence[str]) -> dict[str, Account]:
        return {k: a for k in account_ids if (a := self._get(k)) is not None}

    def add(self, account: Account) -> None:
        self._add(account.id, account)

    def update(self, account: Account) -> None:
        self._update(account.id, account)


class _Subscriptions(_Table):
    def get(self, subscription_id: str) -> Subscription | None:
        result: Subscription | None = self._get(subscription_id)
        return result

    def get_many(self, subscription_ids: Sequence[str]) -> dict[str, Subscription]:
        return {k: s for k in subscription_ids if (s := self._get(k)) is not None}

    def add(self, subscription: Subscription) -> None:
        self._add(subscription.id, subscription)

    def update(self, subscription: Subscription) -> None:
        self._update(subscription.id, subscription)

    def for_account(self, account_id: str) -> list[Subscription]:
        subs = [self._get(k) for k in self._keys()]
        return sorted(
            (s for s in subs if s is not None and s.account_id == account_id),
            key=lambda s: s.id,
        )

    def due(self, before: datetime, *, limit: int, after: str | None = None) -> list[str]:
        return [sub.id for sub in self.claim_due(before, limit=limit, after=after)]

    def claim_due(
        self, before: datetime, *, limit: int, after: str | None = None
    ) -> list[Subscription]:
        found = []
        for key in sorted(self._keys()):
            if after is not None and key <= after:
                continue
            sub: Subscription | None = self._get(key)
            if sub is not None and (due := due_at(sub)) is not None and due <= before:
                found.append(sub)
                if len(found) >= limit:
                    break
        return found


class _Carts(_Table):
    def get(self, account_id: str) -> Cart | None:
        result: Cart | None = self._get(account_id)
        return result

    def put(self, cart: Cart) -> None:
        self._put(cart.account_id, cart)


class _Quotes(_Table):
    def get(self, quote_id: str) -> Quote | None:
        result: Quote | None = self._get(quote_id)
        return result

    def add(self, quote: Quote) -> None:
        self._add(quote.id, quote)


class _Orders(_Table):
    def get(self, order_id: str) -> Order | None:
        result: Order | None = self._get(order_id)
        return result

    def add(self, order: Order) -> None:
        self._add(order.id, order)

    def update(self, order: Order) -> None:
        self._update(order.id, order)

    def unresolved(self) -> list[str]:
        states = (OrderState.PENDING, OrderState.UNKNOWN, OrderState.REQUIRES_ACTION)
        return sorted(
            k for k in self._keys() if (o := self._get(k)) is not None and o.state in states
        )


class _Invoices(_Table):
    def get(self, invoice_id: str) -> IssuedInvoice | None:
        result: IssuedInvoice | None = self._get(invoice_id)
        return result

    def get_many(self, invoice_ids: Sequence[str]) -> dict[str, IssuedInvoice]:
        return {k: i for k in invoice_ids if (i := self._get(k)) is not None}

    def add(self, invoice: IssuedInvoice) -> None:
        self._add(invoice.id, invoice)

    def update(self, invoice: IssuedInvoice) -> None:
        self._update(invoice.id, invoice)

    def set_status(self, changed: IssuedInvoice) -> None:
        self._update(changed.id, changed)

    def for_account(self, account_id: str) -> list[IssuedInvoice]:
        found = [self._get(k) for k in self._keys()]
        return sorted(
            (i for i in found if i is not None and i.account_id == account_id),
            key=lambda i: (i.series, i.sequence),
        )

    def take_numbers(
        self, series: str, count: int, *, now: Callable[[], datetime]
    ) -> tuple[int, datetime]:
        self._uow._check_open()
        if count < 1:
            raise InvalidInput(f"take at least one number, not {count}")
        last, issued = self._uow._read("series", series) or (0, None)
        committed = self._uow._data.tables["series"].get(series) or (0, None)
        at = ensure_aware(now(), what="issue instant")
        if issued is not None and issued > at:
            at = issued
        self._uow._write("series", series, (last + count, at), base=committed[0], counter=True)
        return last + 1, at


class _Attempts(_Table):
    def get(self, idempotency_key: str) -> PaymentAttempt | None:
        result: PaymentAttempt | None = self._get(idempotency_key)
        return result

    def _all(self) -> list[PaymentAttempt]:
        return [a for k in self._keys() if (a := self._get(k)) is not None]

    def add(self, attempt: PaymentAttempt) -> None:
        if attempt.in_flight:
            other = self.in_flight(attempt.target)
            if other is not None:
                raise PaymentInProgress(attempt.target, other.idempotency_key)
        self._add(attempt.idempotency_key, attempt)

    def update(self, attempt: PaymentAttempt) -> None:
        self._update(attempt.idempotency_key, attempt)

    def in_flight(self, target: str) -> PaymentAttempt | None:
        for (table, _), record in self._uow._writes.items():
            if (
                table == "attempts"
                and record is not None
                and record.target == target
                and record.in_flight
            ):
                found: PaymentAttempt = record
                return found
        known = self._uow._data.in_flight.get(target)
        current = None if known is None else self.get(known)
        return current if current is not None and current.in_flight else None

    def with_state(
        self, states: Sequence[AttemptState], *, limit: int, after: str | None = None
    ) -> list[PaymentAttempt]:
        wanted = frozenset(states)
        found = sorted(
            (a for a in self._all() if a.state in wanted and (after is None or a.target > after)),
            key=lambda a: (a.target, a.idempotency_key),
        )
        return found[:limit]


class _Seats(_Table):
    def get(self, subscription_id: str) -> SeatAssignments | None:
        result: SeatAssignments | None = self._get(subscription_id)
        return result

    def get_many(self, subscription_ids: Sequence[str]) -> dict[str, SeatAssignments]:
        return {k: a for k in subscription_ids if (a := self._get(k)) is not None}

    def put(self, seats: SeatAssignments) -> None:
        self._put(seats.subscription_id, seats)


class _Idempotency(_Table):
    def get(self, scope: str, key: str) -> str | None:
        result: str | None = self._get(f"{scope}\x00{key}")
        return result

    def put(self, scope: str, key: str, value: str) -> None:
        self._uow._check_open()
        full = f"{scope}\x00{key}"
        if self._get(full) is not None:
            raise ConcurrencyConflict("idempotency key", key, expected=0, found=1)
        self._uow._write(self._name, full, value, base=None, keyed=True)

    def delete(self, scope: str, key: str) -> None:
        self._uow._check_open()
        full = f"{scope}\x00{key}"
        if self._get(full) is not None:
            self._uow._write(self._name, full, None, base=None, keyed=True)


class _Outbox(_Table):
    def add(self, entry: OutboxEntry) -> None:
        self._add(entry.id, entry)

    def pending(self, limit: int) -> list[OutboxEntry]:
        entries = [self._get(k) for k in self._keys()]
        waiting = sorted(
            (e for e in entries if e is not None and e.sent_at is None),
            key=lambda e: (e.created_at, e.id),
        )
        return waiting[:limit]

    def mark_sent(self, entry_id: str, at: datetime) -> None:
        self._uow._check_open()
        entry: OutboxEntry | None = self._get(entry_id)
        if entry is None:
            raise InvalidInput(f"no outbox entry {entry_id!r}")
        self._uow._write(self._name, entry_id, attrs.evolve(entry, sent_at=at), base=None)


class _Events(_Table):
    def add(self, account_id: str, event: Event) -> None:
        self._uow._check_open()
        key = f"{account_id}\x00{self._uow._next_seq()}"
        self._uow._write(self._name, key, (account_id, event), base=None, append=True)

    def for_account(self, account_id: str) -> list[Event]:
        rows = [self._get(k) for k in self._keys()]
        return [
            event
            for _, (acc, event) in sorted(
                ((int(k.split("\x00")[1]), r) for k, r in zip(self._keys(), rows, strict=True)),
                key=lambda item: item[0],
            )
            if acc == account_id
        ]


class _Config(_Table):
    def get(self, key: str) -> dict[str, Any] | None:
        value: dict[str, Any] | None = self._get(key)
        return None if value is None else json.loads(json.dumps(value))

    def put(self, key: str, value: dict[str, Any]) -> None:
        self._uow._check_open()
        # Stored as a JSON round trip: a copy the caller cannot change afterwards.
        self._uow._write(self._name, key, json.loads(json.dumps(value)), base=None, append=True)


_sequence = itertools.count(1)
_UNWRITTEN: Any = object()


class InMemoryUnitOfWork:
    """A transaction over an :class:`InMemoryStore`; rolls back unless committed."""

    def __init__(self, data: _Data) -> None:
        self._data = data
        self._writes: dict[_Key, Any] = {}
        self._bases: dict[_Key, tuple[int | None, bool, bool]] = {}
        self._keyed: dict[_Key, Any] = {}
        self._done = False
        self.accounts = _Accounts(self, "accounts", "account")
        self.subscriptions = _Subscriptions(self, "subscriptions", "subscription")
        self.carts = _Carts(self, "carts", "cart")
        self.quotes = _Quotes(self, "quotes", "quote")
        self.orders = _Orders(self, "orders", "order")
        self.invoices = _Invoices(self, "invoices", "invoice")
        self.attempts = _Attempts(self, "attempts", "payment attempt")
        self.seats = _Seats(self, "seats", "seat assignments")
        self.idempotency = _Idempotency(self, "idempotency", "idempotency key")
        self.outbox = _Outbox(self, "outbox", "outbox entry")
        self.events = _Events(self, "events", "event")
        self.config = _Config(self, "config", "setting")

    def _check_open(self) -> None:
        if self._done:
            raise InvalidInput(
                "this unit of work is already committed or rolled back; start a new one"
            )

    def _next_seq(self) -> int:
        return next(_sequence)

    def _read(self, table: str, key: str) -> Any:
        if (table, key) in self._writes:
            return self._writes[(table, key)]
        return self._data.tables[table].get(key)

    def _write(
        self,
        table: str,
        key: str,
        record: Any,
        *,
        base: int | None,
        counter: bool = False,
        append: bool = False,
        keyed: bool = False,
    ) -> None:
        if (table, key) not in self._bases:
            if keyed:
                # A unique key: remember whether it existed when this unit of work
                # first touched it, and check that at commit.
                committed = self._data.tables[table].get(key)
                self._keyed[(table, key)] = committed
            self._bases[(table, key)] = (base, counter, append)
        self._writes[(table, key)] = record

    def flush(self) -> None:
        """Nothing to send: the writes are applied at commit."""
        self._check_open()

    def _check_attempts(self) -> None:
        """One attempt in flight per target, against what other units of work
        committed meanwhile (the SQL stores' unique index)."""
        data = self._data
        for (table, key), record in self._writes.items():
            if table != "attempts" or record is None or not record.in_flight:
                continue
            holder = data.in_flight.get(record.target)
            if holder is not None and holder != key:
                mine = self._writes.get(("attempts", holder), _UNWRITTEN)
                if mine is _UNWRITTEN or (mine is not None and mine.in_flight):
                    raise PaymentInProgress(record.target, holder)

    def _index_attempts(self) -> None:
        data = self._data
        for (table, key), record in self._writes.items():
            if table != "attempts" or record is None:
                continue
            if record.in_flight:
                data.in_flight[record.target] = key
            elif data.in_flight.get(record.target) == key:
                del data.in_flight[record.target]

    def commit(self) -> None:
        self._check_open()
        with self._data.lock:
            self._check_attempts()
            for (table, key), (base, counter, append) in self._bases.items():
                if (table, key) in self._keyed:
                    if self._data.tables[table].get(key) != self._keyed[(table, key)]:
                        raise ConcurrencyConflict(
                            "idempotency key", key.split("\x00")[-1], expected=0, found=1
                        )
                    continue
                if append:
                    continue
                committed = self._data.tables[table].get(key)
                if counter:
                    found = committed[0] if committed else 0
                    if found != base:
                        raise ConcurrencyConflict(
                            "invoice series", key, expected=base or 0, found=found
                        )
                    continue
                found = None if committed is None else _version(committed)
                if table in ("outbox",) and committed is not None:
                    continue
                if base is None and committed is not None:
                    raise ConcurrencyConflict(
                        table.rstrip("s"), key, expected=0, found=found if found is not None else 0
                    )
                if base is not None and found != base:
                    raise ConcurrencyConflict(table.rstrip("s"), key, expected=base, found=found)
            for (table, key), record in self._writes.items():
                if record is None:
                    self._data.tables[table].pop(key, None)
                else:
                    self._data.tables[table][key] = record
            self._index_attempts()
        self._done = True

    def rollback(self) -> None:
        self._writes.clear()
        self._bases.clear()
        self._done = True

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._done:
            self.rollback()


class InMemoryStore:
    """Transactional in-memory storage (see the module documentation)."""

    def __init__(self) -> None:
        self._data = _Data()

    def unit_of_work(self) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self._data)


# -- payments ------------------------------------------------------------------------


# The fake gateway keeps its records packed in plain tuples of strings, decimals and
# flags (a storage format, like a database row), which the garbage collector stops
# walking once it has seen them: a long run (a benchmark, a notebook's book) keeps
# hundreds of thousands of them.


def _pack_request(request: ChargeRequest) -> tuple[Any, ...]:
    amount = request.amount
    return (
        request.idempotency_key,
        amount.amount,
        amount.currency.code,
        request.payment_method,
        request.description,
        request.off_session,
    )


def _unpack_request(packed: tuple[Any, ...]) -> ChargeRequest:
    key, amount, currency, method, description, off_session = packed
    return ChargeRequest(
        idempotency_key=key,
        amount=Money(amount, money_currency(currency)),
        payment_method=method,
        description=description,
        off_session=off_session,
    )


def _pack_refund(request: RefundRequest) -> tuple[Any, ...]:
    amount = request.amount
    return (
        request.idempotency_key,
        request.charge_id,
        amount.amount,
        amount.currency.code,
        request.reason,
    )


def _unpack_refund(packed: tuple[Any, ...]) -> RefundRequest:
    key, charge_id, amount, currency, reason = packed
    return RefundRequest(
        idempotency_key=key,
        charge_id=charge_id,
        amount=Money(amount, money_currency(currency)),
        reason=reason,
    )


def _pack_result(result: PaymentResult) -> tuple[Any, ...]:
    amount = result.amount
    return (
        result.status.value,
        result.charge_id,
        None if amount is None else amount.amount,
        None if amount is None else amount.currency.code,
        result.decline_code,
        result.message,
        result.next_action,
    )


def _unpack_result(packed: tuple[Any, ...]) -> PaymentResult:
    status, charge_id, amount, currency, code, message, action = packed
    return PaymentResult(
        status=PaymentStatus(status),
        charge_id=charge_id,
        amount=None if amount is None else Money(amount, money_currency(currency)),
        decline_code=code,
        message=message,
        next_action=action,
    )


def _status(packed: tuple[Any, ...]) -> str:
    """The status of a packed result."""
    status: str = packed[0]
    return status


def _charge_id(packed: tuple[Any, ...]) -> str | None:
    """The charge id of a packed result."""
    charge_id: str | None = packed[1]
    return charge_id


def _amount(packed: tuple[Any, ...]) -> tuple[Decimal, str]:
    """The amount and currency of a packed charge request."""
    return packed[1], packed[2]


_SUCCEEDED = PaymentStatus.SUCCEEDED.value
_NONE = Decimal(0)


_DECLINES: Mapping[str, tuple[str, str]] = {
    "tok_declined": ("card_declined", "the card was declined"),
    "tok_insufficient_funds": ("insufficient_funds", "the card has insufficient funds"),
}

Handler = Callable[[ChargeRequest], PaymentResult]


def _money_json(value: Money | None) -> dict[str, str] | None:
    if value is None:
        return None
    return {"amount": str(value.amount), "currency": str(value.currency.code)}


def _money_from(data: Mapping[str, str] | None) -> Money | None:
    return (
        None if data is None else Money(Decimal(data["amount"]), money_currency(data["currency"]))
    )


def _result_json(result: PaymentResult) -> dict[str, Any]:
    return {
        "status": result.status.value,
        "charge_id": result.charge_id,
        "amount": _money_json(result.amount),
        "decline_code": result.decline_code,
        "message": result.message,
        "next_action": result.next_action,
    }


def _result_from(data: Mapping[str, Any]) -> PaymentResult:
    return PaymentResult(
        status=PaymentStatus(data["status"]),
        charge_id=data["charge_id"],
        amount=_money_from(data["amount"]),
        decline_code=data["decline_code"],
        message=data["message"],
        next_action=data["next_action"],
    )


def _request_json(request: ChargeRequest) -> dict[str, Any]:
    return {
        "idempotency_key": request.idempotency_key,
        "amount": _money_json(request.amount),
        "payment_method": request.payment_method,
        "description": request.description,
        "off_session": request.off_session,
    }


def _request_from(data: Mapping[str, Any]) -> ChargeRequest:
    amount = _money_from(data["amount"])
    assert amount is not None
    return ChargeRequest(
        idempotency_key=data["idempotency_key"],
        amount=amount,
        payment_method=data["payment_method"],
        description=data["description"],
        off_session=data["off_session"],
    )


class FakeGateway:
    """A scripted payment gateway (see the module documentation for its test tokens).

    ``handler``, when given, decides every charge instead of the tokens. It records
    every request in :attr:`requests` and honours idempotency keys: the same key
    returns the recorded result and never charges again; the same key with another
    amount or payment method is refused with :class:`IdempotencyKeyReused`.

    ``journal``, a file path, makes its records survive the process: every charge,
    refund and completed action is appended to the file (under a file lock), and
    every call first reads what other processes appended. Crash and race tests use
    it as the gateway's own durable memory, as a real provider has one.

    :meth:`lookup` tells what it knows of a key, as a real provider's API does: a
    charge's result now (``refunded`` once refunded in full, with
    ``amount_refunded``), a refund's result, or ``None`` for a key it never got.
    """

    #: When true, no call reaches the gateway: each raises GatewayUnavailable and
    #: nothing is charged, refunded or looked up.
    unavailable: bool = False
    #: When true, charges and refunds are made but their answers are lost: each call
    #: raises GatewayUnavailable after the gateway has acted.
    lose_responses: bool = False

    def __init__(
        self, handler: Handler | None = None, *, journal: str | os.PathLike[str] | None = None
    ) -> None:
        self._handler = handler
        self._lock = threading.Lock()
        #: Charges by key: the packed request, the packed result, how much was refunded.
        self._requests: dict[str, tuple[Any, ...]] = {}
        self._results: dict[str, tuple[Any, ...]] = {}
        self._refunded: dict[str, Decimal] = {}
        self._refunds: dict[str, tuple[Any, ...]] = {}
        self._count = 0
        self._journal = None if journal is None else Path(journal)
        self._offset = 0
        #: Every request received, packed: ("charge" | "refund", fields).
        self._log: list[tuple[str, tuple[Any, ...]]] = []
        if self._journal is not None:
            self._journal.touch(exist_ok=True)
            with self._locked():
                pass

    @property
    def requests(self) -> list[ChargeRequest | RefundRequest]:
        """Every request this gateway received, in order."""
        return [
            _unpack_request(fields) if kind == "charge" else _unpack_refund(fields)
            for kind, fields in self._log
        ]

    def _locked(self) -> contextlib.AbstractContextManager[Any]:
        """The thread lock; with a journal, also its file lock and the journal read up
        to date."""
        return self._lock if self._journal is None else self._journaled()

    @contextlib.contextmanager
    def _journaled(self) -> Iterator[None]:
        with self._lock:
            assert self._journal is not None
            with open(self._journal, "a+", encoding="utf-8") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    handle.seek(self._offset)
                    text = handle.read()
                    end = text.rfind("\n") + 1
                    for line in text[:end].splitlines():
                        if line.strip():
                            self._replay(json.loads(line))
                    self._offset += len(text[:end].encode("utf-8"))
                    if end < len(text):
                        # A line torn by a process killed while writing it: that
                        # request was never answered, so it never happened; drop it,
                        # and what comes next starts on a line of its own.
                        handle.truncate(self._offset)
                    self._handle = handle
                    yield
                    handle.flush()
                    os.fsync(handle.fileno())
                    self._offset = handle.tell()
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)

    def _append(self, record: dict[str, Any]) -> None:
        if self._journal is None:
            return
        self._handle.write(json.dumps(record, separators=(",", ":")) + "\n")

    def _replay(self, record: Mapping[str, Any]) -> None:
        op = record["op"]
        if op == "charge":
            key = record["key"]
            self._requests[key] = _pack_request(_request_from(record["request"]))
            self._results[key] = _pack_result(_result_from(record["result"]))
            self._count += 1
        elif op == "update":
            self._results[record["key"]] = _pack_result(_result_from(record["result"]))
        elif op == "refund":
            key = record["charge_key"]
            self._refunded[key] = EXACT.add(
                self._refunded.get(key, _NONE), Decimal(record["amount"])
            )
            self._refunds[record["key"]] = _pack_result(_result_from(record["result"]))

    def _store(self, request: ChargeRequest, result: PaymentResult) -> None:
        key = request.idempotency_key
        self._requests[key] = _pack_request(request)
        self._results[key] = _pack_result(result)
        if self._journal is not None:
            self._append(
                {
                    "op": "charge",
                    "key": key,
                    "request": _request_json(request),
                    "result": _result_json(result),
                }
            )

    def _key_of(self, charge_id: str) -> str | None:
        for key, result in self._results.items():
            if _charge_id(result) == charge_id:
                return key
        return None

    def _new_charge_id(self) -> str:
        self._count += 1
        suffix = "" if self._journal is None else f"_{os.getpid()}"
        return f"ch_{self._count}{suffix}"

    def _reachable(self) -> None:
        if self.unavailable:
            raise GatewayUnavailable(
                "the payment gateway cannot be reached; nothing was sent: try again later"
            )

    def _answer(self, result: PaymentResult) -> PaymentResult:
        if self.lose_responses:
            raise GatewayUnavailable(
                "the payment gateway did not answer; the request may have gone through: "
                "look it up by its key"
            )
        return result

    def charge(self, request: ChargeRequest) -> PaymentResult:
        self._reachable()
        return self._answer(self._charge(request))

    def _charge(self, request: ChargeRequest) -> PaymentResult:
        with self._locked():
            packed = _pack_request(request)
            self._log.append(("charge", packed))
            known = self._requests.get(request.idempotency_key)
            if known is not None:
                before = _unpack_request(known)
                # Same amount and payment method: the same charge.
                if (before.amount, before.payment_method) != (
                    request.amount,
                    request.payment_method,
                ):
                    raise IdempotencyKeyReused(
                        request.idempotency_key,
                        f"a charge of {before.amount.amount} {before.amount.currency.code}",
                    )
                return _unpack_result(self._results[request.idempotency_key])
            if request.payment_method == "tok_timeout":
                self._store(request, self._succeed(request))
                raise GatewayUnavailable(
                    "the payment gateway timed out; the charge may have gone through: "
                    "reconcile the order to find out"
                )
            result = self._decide(request)
            if result.status is not PaymentStatus.TRANSIENT_ERROR:
                self._store(request, result)
            return result

    def _succeed(self, request: ChargeRequest) -> PaymentResult:
        return PaymentResult(
            status=PaymentStatus.SUCCEEDED,
            charge_id=self._new_charge_id(),
            amount=request.amount,
        )

    def _decide(self, request: ChargeRequest) -> PaymentResult:
        if self._handler is not None:
            return self._handler(request)
        token = request.payment_method
        if token in _DECLINES:
            code, message = _DECLINES[token]
            return PaymentResult(
                status=PaymentStatus.DECLINED,
                charge_id=self._new_charge_id(),
                decline_code=code,
                message=message,
            )
        if token == "tok_3ds":
            if request.off_session:
                return PaymentResult(
                    status=PaymentStatus.DECLINED,
                    charge_id=self._new_charge_id(),
                    decline_code="authentication_required",
                    message="the bank requires the customer to authenticate the payment",
                )
            charge_id = self._new_charge_id()
            return PaymentResult(
                status=PaymentStatus.REQUIRES_ACTION,
                charge_id=charge_id,
                amount=request.amount,
                next_action=f"https://3ds.example.test/authenticate/{charge_id}",
            )
        if token == "tok_transient":
            return PaymentResult(
                status=PaymentStatus.TRANSIENT_ERROR,
                message="the gateway is briefly unavailable; nothing was charged",
            )
        return self._succeed(request)

    def complete_action(self, charge_id: str, *, succeed: bool = True) -> None:
        """Play the customer finishing (or failing) 3-D Secure for ``charge_id``."""
        with self._locked():
            key = self._key_of(charge_id)
            if key is None:
                raise InvalidInput(f"no charge {charge_id!r}")
            current = _unpack_result(self._results[key])
            if current.status is not PaymentStatus.REQUIRES_ACTION:
                raise InvalidInput(f"charge {charge_id!r} is not waiting for an action")
            if succeed:
                result = attrs.evolve(current, status=PaymentStatus.SUCCEEDED, next_action=None)
            else:
                result = attrs.evolve(
                    current,
                    status=PaymentStatus.DECLINED,
                    decline_code="authentication_failed",
                    message="the customer did not complete 3-D Secure",
                    next_action=None,
                )
            self._results[key] = _pack_result(result)
            self._append({"op": "update", "key": key, "result": _result_json(result)})

    def refund(self, request: RefundRequest) -> PaymentResult:
        self._reachable()
        return self._answer(self._refund(request))

    def _refund(self, request: RefundRequest) -> PaymentResult:
        with self._locked():
            self._log.append(("refund", _pack_refund(request)))
            known = self._refunds.get(request.idempotency_key)
            if known is not None:
                return _unpack_result(known)
            key = self._key_of(request.charge_id)
            if key is None:
                raise InvalidInput(f"no charge {request.charge_id!r} to refund")
            if _status(self._results[key]) != _SUCCEEDED:
                raise InvalidInput(f"charge {request.charge_id!r} did not succeed")
            captured, _ = _amount(self._requests[key])
            refunded = self._refunded.get(key, _NONE)
            left = EXACT.subtract(captured, refunded)
            if request.amount.amount > left:
                raise InvalidInput(
                    f"cannot refund {request.amount.amount}: only {left} is left on "
                    f"charge {request.charge_id!r}"
                )
            self._refunded[key] = EXACT.add(refunded, request.amount.amount)
            result = PaymentResult(
                status=PaymentStatus.REFUNDED,
                charge_id=request.charge_id,
                amount=request.amount,
            )
            self._refunds[request.idempotency_key] = _pack_result(result)
            self._append(
                {
                    "op": "refund",
                    "key": request.idempotency_key,
                    "charge_key": key,
                    "amount": str(request.amount.amount),
                    "result": _result_json(result),
                }
            )
            return result

    def lookup(self, idempotency_key: str) -> PaymentResult | None:
        self._reachable()
        with self._locked():
            packed = self._results.get(idempotency_key)
            if packed is None:
                refund = self._refunds.get(idempotency_key)
                return None if refund is None else _unpack_result(refund)
            result = _unpack_result(packed)
            refunded = self._refunded.get(idempotency_key, _NONE)
            if refunded > 0 and result.status is PaymentStatus.SUCCEEDED:
                captured, currency = _amount(self._requests[idempotency_key])
                result = attrs.evolve(
                    result,
                    status=PaymentStatus.REFUNDED if refunded >= captured else result.status,
                    amount_refunded=Money(refunded, money_currency(currency)),
                )
            return result

    def net_charged(self, currency: str) -> Decimal:
        """What customers paid in ``currency``: succeeded charges less refunds."""
        with self._locked():
            net = []
            for key, result in self._results.items():
                amount, code = _amount(self._requests[key])
                if _status(result) == _SUCCEEDED and code == currency:
                    net.append(EXACT.subtract(amount, self._refunded.get(key, _NONE)))
            return exact_sum(net)

    def succeeded_charges(self) -> dict[str, ChargeRequest]:
        """Every succeeded charge by idempotency key (across processes with a journal)."""
        with self._locked():
            return {
                key: _unpack_request(self._requests[key])
                for key, result in self._results.items()
                if _status(result) == _SUCCEEDED
            }

    @property
    def charge_requests(self) -> list[ChargeRequest]:
        return [_unpack_request(fields) for kind, fields in self._log if kind == "charge"]


# -- VAT, messages, time -------------------------------------------------------------


class FakeVatVerifier:
    """A VIES-like registry: the numbers it knows are valid, others are not.

    ``unavailable=True`` plays a registry that cannot be reached.
    """

    def __init__(
        self, valid: Iterable[str] = (), *, unavailable: bool = False, name: str | None = None
    ) -> None:
        self.valid = set(valid)
        self.unavailable = unavailable
        self.name = name
        self.checked: list[str] = []
        self._ids = itertools.count(1)

    def verify(self, number: VatNumber, *, at: datetime) -> VatCheck:
        self.checked.append(str(number))
        if self.unavailable:
            return VatCheck(number=str(number), status=VatCheckStatus.UNAVAILABLE, checked_at=at)
        if str(number) in self.valid:
            return VatCheck(
                number=str(number),
                status=VatCheckStatus.VALID,
                checked_at=at,
                consultation_number=f"WAPI{next(self._ids):012d}",
                registered_name=self.name,
            )
        return VatCheck(number=str(number), status=VatCheckStatus.INVALID, checked_at=at)


class InMemoryNotifier:
    """Keeps every message it is asked to send, in order."""

    def __init__(self) -> None:
        self.sent: list[Message] = []

    def send(self, message: Message) -> None:
        self.sent.append(message)


class ManualClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime) -> None:
        self._now = ensure_aware(start, what="clock start")

    def now(self) -> datetime:
        return self._now

    def set(self, instant: datetime) -> None:
        instant = ensure_aware(instant, what="clock time")
        if instant < self._now:
            raise InvalidInput("a clock never goes back; set a later instant")
        self._now = instant

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        step = delta if delta is not None else timedelta(**kwargs)
        if step < timedelta(0):
            raise InvalidInput("a clock never goes back; advance by a positive duration")
        self._now = self._now + step
        return self._now
