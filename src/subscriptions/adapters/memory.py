"""The in-memory store: transactional storage for test suites and notebooks.

A unit of work of an :class:`InMemoryStore` sees the committed state plus its own
writes, rolls back unless committed, and checks versions at commit (optimistic
concurrency), so two units of work updating one record cannot both win. Records are
frozen values, so nothing a caller holds can change behind the store's back. A
snapshot (:meth:`InMemoryStore.snapshot`) sees the committed state of its first read
throughout, and writes nothing.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import attrs

from ..collection import due_at
from ..errors import (
    ConcurrencyConflict,
    InvalidInput,
    PaymentInProgress,
    StorageError,
)
from ..orders import IssuedInvoice, Order, OrderState
from ..payments import AttemptState, PaymentAttempt
from ..periods import ensure_aware
from ..ports import OutboxEntry
from ..subscription import Event, Subscription
from . import repositories
from .closing import ClosedOnExit, RolledBackOnExit

__all__ = ["InMemoryStore"]


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
        return self._uow._tables()[self._name]

    def _get(self, key: str) -> Any:
        writes = self._uow._writes
        if (self._name, key) in writes:
            return writes[(self._name, key)]
        return self._committed().get(key)

    def _get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        return {k: r for k in keys if (r := self._get(k)) is not None}

    def _keys(self) -> set[str]:
        keys = set(self._committed())
        keys.update(k for (t, k) in self._uow._writes if t == self._name)
        return keys

    def _page(self, after: str | None, limit: int) -> list[Any]:
        found: list[Any] = []
        for key in sorted(k for k in self._keys() if after is None or k > after):
            if len(found) >= limit:
                break
            record = self._get(key)
            if record is not None:
                found.append(record)
        return found

    def _add(self, key: str, record: Any) -> None:
        self._uow._check_writable("adding {} {!r}", self._label, key)
        if self._get(key) is not None:
            raise InvalidInput(f"{self._label} {key!r} already exists")
        self._uow._write(self._name, key, record, base=None)

    def _update(self, key: str, record: Any) -> None:
        self._uow._check_writable("updating {} {!r}", self._label, key)
        current = self._get(key)
        found = None if current is None else _version(current)
        expected = _version(record)
        assert expected is not None
        if found != expected - 1:
            raise ConcurrencyConflict(self._label, key, expected=expected - 1, found=found)
        self._uow._write(self._name, key, record, base=found)

    def _put(self, key: str, record: Any) -> None:
        self._uow._check_writable("storing {} {!r}", self._label, key)
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


class _Accounts(_Table, repositories.AccountRows):
    """The store's accounts, by id."""


class _Subscriptions(_Table, repositories.SubscriptionRows):
    def for_account(self, account_id: str) -> list[Subscription]:
        subs = [self._get(k) for k in self._keys()]
        return sorted(
            (s for s in subs if s is not None and s.account_id == account_id),
            key=lambda s: s.id,
        )

    def due(self, before: datetime, *, limit: int, after: str | None = None) -> list[str]:
        return [sub.id for sub in self._due(before, limit, after)]

    def claim_due(
        self, before: datetime, *, limit: int, after: str | None = None
    ) -> list[Subscription]:
        self._uow._check_writable("claiming the subscriptions due")
        return self._due(before, limit, after)

    def _due(self, before: datetime, limit: int, after: str | None) -> list[Subscription]:
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


class _Carts(_Table, repositories.CartRows):
    """The store's carts, by account id."""


class _Quotes(_Table, repositories.QuoteRows):
    """The store's quotes, by id."""


class _Orders(_Table, repositories.OrderRows):
    def for_account(self, account_id: str) -> list[Order]:
        found = [self._get(k) for k in sorted(self._keys())]
        return [o for o in found if o is not None and o.account_id == account_id]

    def unresolved(self) -> list[str]:
        states = (OrderState.PENDING, OrderState.UNKNOWN, OrderState.REQUIRES_ACTION)
        return sorted(
            k for k in self._keys() if (o := self._get(k)) is not None and o.state in states
        )


class _Invoices(_Table, repositories.InvoiceRows):
    def for_account(self, account_id: str) -> list[IssuedInvoice]:
        found = [self._get(k) for k in self._keys()]
        return sorted(
            (i for i in found if i is not None and i.account_id == account_id),
            key=lambda i: (i.series, i.sequence),
        )

    def take_numbers(
        self, series: str, count: int, *, now: Callable[[], datetime]
    ) -> tuple[int, datetime]:
        self._uow._check_writable("taking numbers of invoice series {!r}", series)
        if count < 1:
            raise InvalidInput(f"take at least one number, not {count}")
        last, issued = self._uow._read("series", series) or (0, None)
        committed = self._uow._tables()["series"].get(series) or (0, None)
        at = ensure_aware(now(), what="issue instant")
        if issued is not None and issued > at:
            at = issued
        self._uow._write("series", series, (last + count, at), base=committed[0], counter=True)
        return last + 1, at


class _Attempts(_Table, repositories.AttemptRows):
    def _all(self) -> list[PaymentAttempt]:
        return [a for k in self._keys() if (a := self._get(k)) is not None]

    def add(self, attempt: PaymentAttempt) -> None:
        if attempt.in_flight:
            other = self.in_flight(attempt.target)
            if other is not None:
                raise PaymentInProgress(attempt.target, other.idempotency_key)
        self._add(attempt.idempotency_key, attempt)

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
        known = self._uow._in_flight().get(target)
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


class _Seats(_Table, repositories.SeatRows):
    """The store's seat assignments, by subscription id."""


class _Idempotency(_Table):
    def get(self, scope: str, key: str) -> str | None:
        result: str | None = self._get(f"{scope}\x00{key}")
        return result

    def put(self, scope: str, key: str, value: str) -> None:
        self._uow._check_writable("recording idempotency key {!r}", key)
        full = f"{scope}\x00{key}"
        if self._get(full) is not None:
            raise ConcurrencyConflict("idempotency key", key, expected=0, found=1)
        self._uow._write(self._name, full, value, base=None, keyed=True)

    def delete(self, scope: str, key: str) -> None:
        self._uow._check_writable("deleting idempotency key {!r}", key)
        full = f"{scope}\x00{key}"
        if self._get(full) is not None:
            self._uow._write(self._name, full, None, base=None, keyed=True)


class _Outbox(_Table):
    def add(self, entry: OutboxEntry) -> None:
        self._add(entry.id, entry)

    def pending(self, limit: int) -> list[OutboxEntry]:
        self._uow._check_writable("claiming the outbox entries to deliver")
        entries = [self._get(k) for k in self._keys()]
        waiting = sorted(
            (e for e in entries if e is not None and e.sent_at is None),
            key=lambda e: (e.created_at, e.id),
        )
        return waiting[:limit]

    def mark_sent(self, entry_id: str, at: datetime) -> None:
        self._uow._check_writable("marking outbox entry {!r} sent", entry_id)
        entry: OutboxEntry | None = self._get(entry_id)
        if entry is None:
            raise InvalidInput(f"no outbox entry {entry_id!r}")
        self._uow._write(self._name, entry_id, attrs.evolve(entry, sent_at=at), base=None)


class _Events(_Table):
    def add(self, account_id: str, event: Event) -> None:
        self._uow._check_writable("adding an event of account {!r}", account_id)
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


_sequence = itertools.count(1)
_UNWRITTEN: Any = object()


class InMemoryUnitOfWork(RolledBackOnExit):
    """A transaction over an :class:`InMemoryStore`; rolls back unless committed.

    With ``snapshot`` it is the store's ``snapshot()``: at its first read it takes a
    copy of the committed tables (of references: records are frozen values, shared,
    not copied), reads only that copy, and refuses every write and claim
    (:class:`~subscriptions.errors.ReadOnlySnapshot`)."""

    def __init__(self, data: _Data, *, snapshot: bool = False) -> None:
        self._data = data
        self._snapshot = snapshot
        self._seen_tables: dict[str, dict[str, Any]] | None = None
        self._seen_in_flight: dict[str, str] = {}
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

    def _tables(self) -> dict[str, dict[str, Any]]:
        """The committed tables this unit of work reads: the live ones, or a
        snapshot's copy, taken at its first read."""
        if not self._snapshot:
            return self._data.tables
        tables = self._seen_tables
        if tables is None:
            with self._data.lock:
                tables = {name: dict(rows) for name, rows in self._data.tables.items()}
                self._seen_in_flight = dict(self._data.in_flight)
            self._seen_tables = tables
        return tables

    def _in_flight(self) -> dict[str, str]:
        """The committed attempts in flight by target, as :meth:`_tables` sees them."""
        if not self._snapshot:
            return self._data.in_flight
        self._tables()
        return self._seen_in_flight

    def _next_seq(self) -> int:
        return next(_sequence)

    def _read(self, table: str, key: str) -> Any:
        if (table, key) in self._writes:
            return self._writes[(table, key)]
        return self._tables()[table].get(key)

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
        self._seen_tables = None
        self._done = True

    def rollback(self) -> None:
        self._writes.clear()
        self._bases.clear()
        self._seen_tables = None
        self._seen_in_flight = {}
        self._done = True

    def _end_of_block(self) -> None:
        if not self._done:
            self.rollback()


class InMemoryStore(ClosedOnExit):
    """Transactional in-memory storage (see the module documentation)."""

    def __init__(self) -> None:
        self._data = _Data()
        self._closed = False

    def unit_of_work(self) -> InMemoryUnitOfWork:
        if self._closed:
            raise StorageError("the in-memory store is closed; open a new InMemoryStore")
        return InMemoryUnitOfWork(self._data)

    def snapshot(self) -> InMemoryUnitOfWork:
        """A read-only unit of work that sees the store as it was at its first read
        (see :meth:`subscriptions.ports.Store.snapshot`): it copies the committed
        tables' references then, once, and reads only that copy."""
        if self._closed:
            raise StorageError("the in-memory store is closed; open a new InMemoryStore")
        return InMemoryUnitOfWork(self._data, snapshot=True)

    def close(self) -> None:
        """Close the store: later units of work are refused (what it holds is gone
        with it). Closing twice is harmless."""
        self._closed = True


# -- payments ------------------------------------------------------------------------
