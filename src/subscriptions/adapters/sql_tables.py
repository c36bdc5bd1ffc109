"""The tables of the SQL stores' unit of work (:mod:`subscriptions.adapters.sql`):
one repository per record type, each with its identity map, its queued writes and
its statements.

Invoice numbers come from the ``invoice_series`` table: the first numbers a unit of
work takes from a series increment the row in the database in one statement (which
holds that row's lock, or SQLite's write lock, until the transaction ends), further
ones count on in memory and the last is written back before commit, with the instant
the documents are issued (never earlier than the series' last one). A rolled-back
transaction gives its numbers back, so a series has no gaps. Take them last, just
before commit, so that concurrent transactions hold the series only briefly.

Payment attempts are unique by key, and the ``attempts_in_flight`` unique index
allows one attempt in flight per target: an insert that would make a second one
raises :class:`~subscriptions.errors.PaymentInProgress`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from .. import ports
from ..accounts import Account
from ..cart import Cart
from ..collection import due_at
from ..errors import (
    ConcurrencyConflict,
    DuplicateRecord,
    InvalidInput,
    PaymentInProgress,
)
from ..orders import IssuedInvoice, Order, Quote
from ..payments import IN_FLIGHT, AttemptState, PaymentAttempt
from ..seats import SeatAssignments
from ..subscription import Event, Subscription
from . import codec, repositories
from .migrations import IN_FLIGHT_PREDICATE

if TYPE_CHECKING:
    from .sql import Backend, Dialect, SqlUnitOfWork

__all__ = ["IN_FLIGHT_SQL"]

#: The predicate of the ``attempts_in_flight`` index, spelled as its queries spell it
#: (with constants, so that the database sees that the index answers them).
IN_FLIGHT_SQL = IN_FLIGHT_PREDICATE


# -- tables ------------------------------------------------------------------------------


@attrs.frozen(weakref_slot=False)
class _Spec:
    """A table of documents: its key, its extra columns and how a record fills them."""

    table: str
    label: str
    key: str
    cls: type
    versioned: bool
    columns: tuple[str, ...] = ()
    values: Callable[[Any, Callable[[datetime], Any]], tuple[Any, ...]] | None = None
    hint: str = ""


def _subscription_values(sub: Subscription, instant: Callable[[datetime], Any]) -> tuple[Any, ...]:
    due = due_at(sub)
    return (sub.account_id, None if due is None else instant(due))


def _outbox_values(entry: ports.OutboxEntry, instant: Callable[[datetime], Any]) -> tuple[Any, ...]:
    sent = entry.sent_at
    return (instant(entry.created_at), None if sent is None else instant(sent))


def _quote_values(quote: Quote, _: Callable[[datetime], Any]) -> tuple[Any, ...]:
    return (quote.account_id,)


def _order_values(order: Order, _: Callable[[datetime], Any]) -> tuple[Any, ...]:
    return (order.account_id, order.state._value_)


def _invoice_values(invoice: IssuedInvoice, _: Callable[[datetime], Any]) -> tuple[Any, ...]:
    return (invoice.account_id, invoice.series, invoice.sequence)


def _attempt_values(attempt: PaymentAttempt, _: Callable[[datetime], Any]) -> tuple[Any, ...]:
    # ``_value_`` is a plain attribute; ``.value`` goes through a descriptor in Python
    # (twice per renewal here).
    return (attempt.account_id, attempt.target, attempt.state._value_)


_ACCOUNTS = _Spec("accounts", "account", "id", Account, True)
_SUBSCRIPTIONS = _Spec(
    "subscriptions",
    "subscription",
    "id",
    Subscription,
    True,
    ("account_id", "due_at"),
    _subscription_values,
)
_CARTS = _Spec("carts", "cart", "account_id", Cart, True)
_QUOTES = _Spec("quotes", "quote", "id", Quote, False, ("account_id",), _quote_values)
_ORDERS = _Spec("orders", "order", "id", Order, True, ("account_id", "state"), _order_values)
_INVOICES = _Spec(
    "invoices",
    "invoice",
    "id",
    IssuedInvoice,
    True,
    ("account_id", "series", "sequence"),
    _invoice_values,
    hint=", or its number was already issued",
)
_ATTEMPTS = _Spec(
    "attempts",
    "payment attempt",
    "key",
    PaymentAttempt,
    True,
    ("account_id", "target", "state"),
    _attempt_values,
)
_SEATS = _Spec("seats", "seat assignments", "subscription_id", SeatAssignments, True)
_OUTBOX = _Spec(
    "outbox",
    "outbox entry",
    "id",
    ports.OutboxEntry,
    False,
    ("created_at", "sent_at"),
    _outbox_values,
)


class _Statements:
    """The SQL of one table in one dialect, and its document decoder."""

    def __init__(self, spec: _Spec, dialect: Dialect) -> None:
        t, k = spec.table, spec.key
        ret = " RETURNING 1" if dialect.counts_by_returning else ""
        columns = [k, *(["version"] if spec.versioned else []), *spec.columns, "doc"]
        marks = ", ".join("?" * len(columns))
        names = ", ".join(columns)
        sql = dialect.sql
        self.get = sql(f"SELECT doc FROM {t} WHERE {k} = ?")
        self.many_prefix = f"SELECT {k}, doc FROM {t}"
        self.page = sql(f"SELECT {k}, doc FROM {t} WHERE {k} > ? ORDER BY {k} LIMIT ?")
        self.insert = sql(f"INSERT INTO {t} ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING{ret}")
        sets = ", ".join(f"{c} = ?" for c in ["version", *spec.columns, "doc"])
        self.update = sql(f"UPDATE {t} SET {sets} WHERE {k} = ? AND version = ?{ret}")
        excluded = ", ".join(f"{c} = excluded.{c}" for c in columns[1:])
        self.upsert = sql(
            f"INSERT INTO {t} ({names}) VALUES ({marks}) ON CONFLICT ({k}) DO UPDATE "
            f"SET {excluded} WHERE {t}.version = ?{ret}"
        )
        self.version = sql(f"SELECT version FROM {t} WHERE {k} = ?")
        # The one change an issued document allows: its status, without re-encoding it.
        self.status = sql(
            f"UPDATE {t} SET version = ?, doc = {dialect.doc_with_status} "
            f"WHERE {k} = ? AND version = ?{ret}"
        )
        load, cls = dialect.load_doc, spec.cls
        self.decode: Callable[[Any], Any] = lambda value: codec.decode(cls, load(value))


_UNSEEN: Any = object()
_INSERT, _UPDATE, _UPSERT, _STATUS = 0, 1, 2, 3


# -- repositories ------------------------------------------------------------------------


class _Table:
    """Documents of one record type: the identity map, the queued writes, the SQL."""

    __slots__ = ("_bases", "_decode", "_pending", "_remembers", "_seen", "_sql", "_uow", "spec")

    def __init__(self, uow: SqlUnitOfWork, spec: _Spec) -> None:
        self._uow = uow
        self.spec = spec
        self._sql = uow._dialect.statements(spec)
        self._decode = self._sql.decode
        #: key -> the record as this unit of work knows it (None: known to be missing)
        self._seen: dict[str, Any] = {}
        #: Whether records read are kept in ``_seen``: a snapshot, which never
        #: writes, keeps nothing (a whole book read page by page stays one page).
        self._remembers = not uow._snapshot
        #: key -> how its queued write is made (_INSERT, _UPDATE, _UPSERT, _STATUS),
        #: and the version an update is made from; the record written is the one in
        #: ``_seen``. (Ints only: these dicts are never traversed by the cyclic GC,
        #: which a batch of thousands of queued writes would otherwise feed.)
        self._pending: dict[str, int] = {}
        self._bases: dict[str, int] = {}
        uow._tables.append(self)

    def _get(self, key: str) -> Any:
        record = self._seen.get(key, _UNSEEN)
        if record is _UNSEEN:
            rows = self._uow._db().query(self._sql.get, (key,))
            record = self._decode(rows[0][0]) if rows else None
            if self._remembers:
                self._seen[key] = record
        return record

    def _get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        seen = self._seen
        missing = [k for k in dict.fromkeys(keys) if k not in seen]
        found: dict[str, Any] = {}
        if missing:
            db = self._uow._db()
            decode = self._decode
            for sql, params in self._uow._dialect.select_many(
                self._sql.many_prefix, self.spec.key, missing
            ):
                for key, doc in db.query(sql, params):
                    found[key] = decode(doc)
            if not self._remembers:
                return {k: r for k in keys if (r := found.get(k)) is not None}
            seen.update(found)
            for key in missing:
                seen.setdefault(key, None)
        return {k: r for k in keys if (r := seen[k]) is not None}

    def _page(self, after: str | None, limit: int) -> list[Any]:
        # (Every key is a non-empty string, so all of them sort after "".)
        db = self._uow._flushed()
        return self._rows(db.query(self._sql.page, ("" if after is None else after, limit)))

    def _rows(self, rows: Iterable[tuple[str, Any]]) -> list[Any]:
        """Records from (key, doc) rows; a record this unit of work holds wins."""
        seen, decode = self._seen, self._decode
        if not self._remembers:
            return [decode(doc) for _, doc in rows]
        found = []
        for key, doc in rows:
            record = seen.get(key)
            if record is None:
                record = seen[key] = decode(doc)
            found.append(record)
        return found

    def _add(self, key: str, record: Any) -> None:
        self._uow._check_writable("adding {} {!r}", self.spec.label, key)
        if self._seen.get(key) is not None:
            raise InvalidInput(f"{self.spec.label} {key!r} already exists")
        self._pending[key] = _INSERT
        self._seen[key] = record

    def _update(self, key: str, record: Any) -> None:
        self._uow._check_writable("updating {} {!r}", self.spec.label, key)
        expected = record.version - 1
        current = self._seen.get(key, _UNSEEN)
        if current is not _UNSEEN:
            found = None if current is None else current.version
            if found != expected:
                raise ConcurrencyConflict(self.spec.label, key, expected=expected, found=found)
        if key not in self._pending:
            self._pending[key] = _UPDATE
            self._bases[key] = expected
        self._seen[key] = record

    def _put(self, key: str, record: Any) -> None:
        self._uow._check_writable("storing {} {!r}", self.spec.label, key)
        version = record.version
        current = self._seen.get(key, _UNSEEN)
        if current is _UNSEEN:
            # Created at version 0 (or 1, edited from an implicit empty version 0) if
            # missing, else updated from the version before: one upsert decides.
            self._pending[key] = _UPSERT if version in (0, 1) else _UPDATE
            self._bases[key] = version - 1
            self._seen[key] = record
        elif current is None:
            if version not in (0, 1):
                raise ConcurrencyConflict(self.spec.label, key, expected=version - 1, found=None)
            self._pending[key] = _INSERT
            self._seen[key] = record
        else:
            self._update(key, record)

    def _flush(self, db: Backend) -> None:
        pending = self._pending
        if not pending:
            return
        spec, sql, seen, bases = self.spec, self._sql, self._seen, self._bases
        values, instant = spec.values, self._uow._dialect.instant
        dumps, versioned = codec.dumps, spec.versioned
        batches: tuple[list[str], ...] = ([], [], [], [])
        # Sorted, so that concurrent transactions lock rows in the same order.
        for key in sorted(pending):
            batches[pending[key]].append(key)
        pending.clear()
        for kind, batch in enumerate(batches):
            if not batch:
                continue
            rows: list[tuple[Any, ...]] = []
            for key in batch:
                record = seen[key]
                extra = () if values is None else values(record, instant)
                if kind == _STATUS:
                    status = record.status._value_
                    rows.append((record.version, status, record.version, key, bases[key]))
                elif kind == _UPDATE:
                    rows.append((record.version, *extra, dumps(record), key, bases[key]))
                elif kind == _UPSERT:
                    rows.append((key, record.version, *extra, dumps(record), bases[key]))
                elif versioned:
                    rows.append((key, record.version, *extra, dumps(record)))
                else:
                    rows.append((key, *extra, dumps(record)))
            statement = (sql.insert, sql.update, sql.upsert, sql.status)[kind]
            counts = db.execute_counted(statement, rows)
            for key, count in zip(batch, counts, strict=True):
                if count:
                    continue
                if kind == _INSERT:
                    self._refused(db, key, seen[key])
                found_rows = db.query(sql.version, (key,))
                found = found_rows[0][0] if found_rows else None
                raise ConcurrencyConflict(spec.label, key, expected=bases[key], found=found)
        bases.clear()

    def _refused(self, db: Backend, key: str, record: Any) -> None:
        """An insert the database did not make: the record exists already."""
        raise DuplicateRecord(self.spec.label, key, hint=self.spec.hint)

    def _reset(self) -> None:
        self._seen.clear()
        self._pending.clear()
        self._bases.clear()


class _Accounts(_Table, repositories.AccountRows):
    __slots__ = ()


class _Subscriptions(_Table, repositories.SubscriptionRows):
    __slots__ = ()

    def for_account(self, account_id: str) -> list[Subscription]:
        db = self._uow._flushed()
        rows = db.query(
            self._uow._dialect.sql(
                "SELECT id, doc FROM subscriptions WHERE account_id = ? ORDER BY id"
            ),
            (account_id,),
        )
        return self._rows(rows)

    def _due(
        self, columns: str, before: datetime, limit: int, after: str | None, lock: str
    ) -> list[Any]:
        db = self._uow._flushed()
        dialect = self._uow._dialect
        instant = dialect.instant(before)
        if after is None:
            sql = f"SELECT {columns} FROM subscriptions WHERE due_at <= ? ORDER BY id LIMIT ?"
            params: tuple[Any, ...] = (instant, limit)
        else:
            sql = (
                f"SELECT {columns} FROM subscriptions WHERE id > ? AND due_at <= ? "
                "ORDER BY id LIMIT ?"
            )
            params = (after, instant, limit)
        return db.query(dialect.sql(sql + lock), params)

    def due(self, before: datetime, *, limit: int, after: str | None = None) -> list[str]:
        return [row[0] for row in self._due("id", before, limit, after, "")]

    def claim_due(
        self, before: datetime, *, limit: int, after: str | None = None
    ) -> list[Subscription]:
        self._uow._check_writable("claiming the subscriptions due")
        lock = self._uow._dialect.lock_pending
        return self._rows(self._due("id, doc", before, limit, after, lock))


class _Carts(_Table, repositories.CartRows):
    __slots__ = ()


class _Quotes(_Table, repositories.QuoteRows):
    __slots__ = ()


class _Orders(_Table, repositories.OrderRows):
    __slots__ = ()

    def for_account(self, account_id: str) -> list[Order]:
        db = self._uow._flushed()
        rows = db.query(
            self._uow._dialect.sql("SELECT id, doc FROM orders WHERE account_id = ? ORDER BY id"),
            (account_id,),
        )
        return self._rows(rows)

    def unresolved(self) -> list[str]:
        db = self._uow._flushed()
        # The same predicate as the partial index orders_unresolved.
        rows = db.query(
            "SELECT id FROM orders WHERE state IN ('pending', 'unknown', 'requires_action') "
            "ORDER BY id"
        )
        return [row[0] for row in rows]


class _Invoices(_Table, repositories.InvoiceRows):
    __slots__ = ("_series",)

    def __init__(self, uow: SqlUnitOfWork, spec: _Spec) -> None:
        super().__init__(uow, spec)
        #: series -> [the last number taken, the last number written, issued at,
        #: issued at as written]
        self._series: dict[str, list[Any]] = {}

    def set_status(self, changed: IssuedInvoice) -> None:
        queued = changed.id in self._pending
        self._update(changed.id, changed)
        if not queued:
            # Only the status moved: write that field, not the whole document again.
            self._pending[changed.id] = _STATUS

    def for_account(self, account_id: str) -> list[IssuedInvoice]:
        db = self._uow._flushed()
        rows = db.query(
            self._uow._dialect.sql(
                "SELECT id, doc FROM invoices WHERE account_id = ? ORDER BY series, sequence"
            ),
            (account_id,),
        )
        return self._rows(rows)

    def take_numbers(
        self, series: str, count: int, *, now: Callable[[], datetime]
    ) -> tuple[int, datetime]:
        uow = self._uow
        uow._check_writable("taking numbers of invoice series {!r}", series)
        if count < 1:
            raise InvalidInput(f"take at least one number, not {count}")
        counter = self._series.get(series)
        if counter is None:
            dialect = uow._dialect
            rows = uow._db().query(
                dialect.sql(
                    "INSERT INTO invoice_series (series, last) VALUES (?, ?) "
                    "ON CONFLICT (series) DO UPDATE SET last = invoice_series.last + ? "
                    "RETURNING last, issued_at"
                ),
                (series, count, count),
            )
            last = int(rows[0][0])
            stored = rows[0][1]
            issued = None if stored is None else dialect.from_instant(stored)
            counter = self._series[series] = [last, last, issued, issued]
            first = last - count + 1
        else:
            first = counter[0] + 1
            counter[0] += count
        # Read the clock only now that the series is held: nothing issued later in
        # the series can be dated earlier.
        at = now()
        if counter[2] is not None and counter[2] > at:
            at = counter[2]
        counter[2] = at
        return first, at

    def _flush(self, db: Backend) -> None:
        changed = [
            (c[0], None if c[2] is None else self._uow._dialect.instant(c[2]), s)
            for s, c in sorted(self._series.items())
            if c[0] != c[1] or c[2] != c[3]
        ]
        if changed:
            db.execute_many(
                self._uow._dialect.sql(
                    "UPDATE invoice_series SET last = ?, issued_at = ? WHERE series = ?"
                ),
                changed,
            )
            for last, _, series in changed:
                counter = self._series[series]
                counter[1], counter[3] = last, counter[2]
        super()._flush(db)

    def _reset(self) -> None:
        super()._reset()
        self._series.clear()


class _Attempts(_Table, repositories.AttemptRows):
    """Payment attempts by idempotency key. A second attempt in flight at the same
    target is refused by the unique index when the insert reaches the database
    (see ``_refused``); callers that want to know before ask ``in_flight()`` first."""

    __slots__ = ()

    def in_flight(self, target: str) -> PaymentAttempt | None:
        for record in self._seen.values():
            if record is not None and record.target == target and record.in_flight:
                held: PaymentAttempt = record
                return held
        db = self._uow._flushed()
        rows = db.query(
            self._uow._dialect.sql(
                f"SELECT key, doc FROM attempts WHERE target = ? AND {IN_FLIGHT_SQL}"
            ),
            (target,),
        )
        return next((a for a in self._rows(rows) if a.in_flight), None)

    def with_state(
        self, states: Sequence[AttemptState], *, limit: int, after: str | None = None
    ) -> list[PaymentAttempt]:
        wanted = frozenset(states)
        if not wanted:
            return []
        if wanted == IN_FLIGHT:
            predicate = IN_FLIGHT_SQL
        else:
            predicate = "state IN ({})".format(
                ", ".join(f"'{AttemptState(s).value}'" for s in sorted(wanted, key=str))
            )
        db = self._uow._flushed()
        sql = f"SELECT key, doc FROM attempts WHERE {predicate}"
        params: tuple[Any, ...] = ()
        if after is not None:
            sql += " AND target > ?"
            params = (after,)
        rows = db.query(self._uow._dialect.sql(sql + " ORDER BY target LIMIT ?"), (*params, limit))
        return [a for a in self._rows(rows) if a.state in wanted]

    def _refused(self, db: Backend, key: str, record: Any) -> None:
        rows = db.query(
            self._uow._dialect.sql(
                f"SELECT key FROM attempts WHERE target = ? AND {IN_FLIGHT_SQL} AND key <> ?"
            ),
            (record.target, key),
        )
        if rows:
            raise PaymentInProgress(record.target, rows[0][0])
        super()._refused(db, key, record)


class _Seats(_Table, repositories.SeatRows):
    __slots__ = ()


class _Outbox(_Table):
    __slots__ = ("_marks",)

    def __init__(self, uow: SqlUnitOfWork, spec: _Spec) -> None:
        super().__init__(uow, spec)
        self._marks: dict[str, datetime] = {}

    def add(self, entry: ports.OutboxEntry) -> None:
        self._add(entry.id, entry)

    def pending(self, limit: int) -> list[ports.OutboxEntry]:
        self._uow._check_writable("claiming the outbox entries to deliver")
        db = self._uow._flushed()
        dialect = self._uow._dialect
        rows = db.query(
            dialect.sql(
                "SELECT id, doc FROM outbox WHERE sent_at IS NULL ORDER BY created_at, id "
                f"LIMIT ?{dialect.lock_pending}"
            ),
            (limit,),
        )
        return self._rows(rows)

    def mark_sent(self, entry_id: str, at: datetime) -> None:
        uow = self._uow
        uow._check_writable("marking outbox entry {!r} sent", entry_id)
        if entry_id in self._pending:
            self._seen[entry_id] = attrs.evolve(self._seen[entry_id], sent_at=at)
            return
        if self._seen.get(entry_id) is not None:
            self._marks[entry_id] = at
            return
        changed = uow._db().execute(
            uow._dialect.sql("UPDATE outbox SET sent_at = ? WHERE id = ?"),
            (uow._dialect.instant(at), entry_id),
        )
        if not changed:
            raise InvalidInput(f"no outbox entry {entry_id!r}")

    def _flush(self, db: Backend) -> None:
        super()._flush(db)
        if self._marks:
            instant = self._uow._dialect.instant
            db.execute_many(
                self._uow._dialect.sql("UPDATE outbox SET sent_at = ? WHERE id = ?"),
                [(instant(at), key) for key, at in sorted(self._marks.items())],
            )
            self._marks.clear()

    def _reset(self) -> None:
        super()._reset()
        self._marks.clear()


class _Idempotency:
    __slots__ = ("_deletes", "_pending", "_seen", "_uow")

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow
        self._seen: dict[tuple[str, str], str | None] = {}
        self._pending: dict[tuple[str, str], str] = {}
        #: keys to delete -> the value they held when this unit of work read them
        self._deletes: dict[tuple[str, str], str] = {}

    def get(self, scope: str, key: str) -> str | None:
        full = (scope, key)
        value = self._seen.get(full, _UNSEEN)
        if value is _UNSEEN:
            rows = self._uow._db().query(
                self._uow._dialect.sql("SELECT value FROM idempotency WHERE scope = ? AND key = ?"),
                full,
            )
            value = rows[0][0] if rows else None
            if not self._uow._snapshot:
                self._seen[full] = value
        result: str | None = value
        return result

    def put(self, scope: str, key: str, value: str) -> None:
        self._uow._check_writable("recording idempotency key {!r}", key)
        full = (scope, key)
        if self._seen.get(full) is not None:
            raise ConcurrencyConflict("idempotency key", key, expected=0, found=1)
        self._pending[full] = value
        self._seen[full] = value

    def delete(self, scope: str, key: str) -> None:
        self._uow._check_writable("deleting idempotency key {!r}", key)
        full = (scope, key)
        if self._pending.pop(full, None) is not None:
            # Recorded by this unit of work only: nothing to delete in the database.
            self._seen[full] = None
            return
        value = self.get(scope, key)
        if value is not None:
            # Deleted only if it still holds what this unit of work saw.
            self._deletes[full] = value
            self._seen[full] = None

    def _flush(self, db: Backend) -> None:
        dialect = self._uow._dialect
        ret = " RETURNING 1" if dialect.counts_by_returning else ""
        if self._deletes:
            rows = [(s, k, v) for (s, k), v in sorted(self._deletes.items())]
            self._deletes.clear()
            counts = db.execute_counted(
                dialect.sql(
                    f"DELETE FROM idempotency WHERE scope = ? AND key = ? AND value = ?{ret}"
                ),
                rows,
            )
            for (_, key, _), count in zip(rows, counts, strict=True):
                if not count:
                    raise ConcurrencyConflict("idempotency key", key, expected=1, found=0)
        if not self._pending:
            return
        rows = [(scope, key, value) for (scope, key), value in sorted(self._pending.items())]
        self._pending.clear()
        counts = db.execute_counted(
            dialect.sql(
                "INSERT INTO idempotency (scope, key, value) VALUES (?, ?, ?) "
                f"ON CONFLICT DO NOTHING{ret}"
            ),
            rows,
        )
        for (_, key, _), count in zip(rows, counts, strict=True):
            if not count:
                raise ConcurrencyConflict("idempotency key", key, expected=0, found=1)

    def _reset(self) -> None:
        self._seen.clear()
        self._pending.clear()
        self._deletes.clear()


class _Events:
    __slots__ = ("_pending", "_uow")

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow
        self._pending: list[tuple[str, str]] = []

    def add(self, account_id: str, event: Event) -> None:
        self._uow._check_writable("adding an event of account {!r}", account_id)
        self._pending.append((account_id, codec.dumps(event)))

    def for_account(self, account_id: str) -> list[Event]:
        db = self._uow._flushed()
        dialect = self._uow._dialect
        rows = db.query(
            dialect.sql("SELECT doc FROM events WHERE account_id = ? ORDER BY seq"),
            (account_id,),
        )
        load = dialect.load_doc
        return [codec.decode(Event, load(row[0])) for row in rows]

    def _flush(self, db: Backend) -> None:
        if self._pending:
            db.execute_many(
                self._uow._dialect.sql("INSERT INTO events (account_id, doc) VALUES (?, ?)"),
                self._pending,
            )
            self._pending.clear()

    def _reset(self) -> None:
        self._pending.clear()
