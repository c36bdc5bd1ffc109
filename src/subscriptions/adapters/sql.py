"""The unit of work shared by the SQL stores (:mod:`subscriptions.adapters.sqlite`,
:mod:`subscriptions.adapters.postgres`), and the seam each store fills in (a
:class:`Backend` running statements, a :class:`Dialect` spelling them); the tables
it reads and writes are in :mod:`subscriptions.adapters.sql_tables`, the storage
errors in :mod:`subscriptions.errors`.

A :class:`SqlUnitOfWork` is one database transaction, begun on first use and rolled
back unless committed. It keeps an identity map of the records it has read or written
(so it sees its own writes, and reads a record once), and queues its writes: they go
to the database in one batch per table and statement, at commit or before any query
that must see them. Optimistic versions are checked twice: at once against the
records this unit of work already holds, and in the database by the
``UPDATE ... WHERE version = ?`` itself, so a conflicting write by another process is
reported (:class:`~subscriptions.errors.ConcurrencyConflict`) by ``update`` or, at the
latest, by ``commit``.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, ClassVar

from .. import ports
from ..errors import (
    SubscriptionsError,
)
from . import codec
from .closing import RolledBackOnExit
from .sql_tables import (
    _ACCOUNTS,
    _ATTEMPTS,
    _CARTS,
    _INVOICES,
    _ORDERS,
    _OUTBOX,
    _QUOTES,
    _SEATS,
    _SUBSCRIPTIONS,
    _Accounts,
    _Attempts,
    _Carts,
    _Events,
    _Idempotency,
    _Invoices,
    _Orders,
    _Outbox,
    _Quotes,
    _Seats,
    _Spec,
    _Statements,
    _Subscriptions,
    _Table,
)

__all__ = [
    "Backend",
    "CursorBackend",
    "Dialect",
    "SqlUnitOfWork",
]


# -- the backend seam --------------------------------------------------------------------


class Backend(abc.ABC):
    """One open transaction on one connection; every method translates the
    database's errors into the library's."""

    @abc.abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """The rows of a SELECT (or of a statement with RETURNING)."""

    @abc.abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it changed."""

    @abc.abstractmethod
    def execute_counted(self, sql: str, rows: Sequence[Sequence[Any]]) -> list[int]:
        """Run ``sql`` once per row of parameters; how many rows each run changed."""

    @abc.abstractmethod
    def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run ``sql`` once per row of parameters."""

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None:
        """End the transaction, never raising: a connection that cannot roll back is
        broken, and its release discards it."""


class CursorBackend(Backend):
    """A backend over a DB-API cursor: its statements, each translating the driver's
    errors (``driver_error``) into the library's with :meth:`translated`."""

    __slots__ = ()

    cursor: Any
    #: The driver's base error class.
    driver_error: ClassVar[type[Exception]]

    @abc.abstractmethod
    def translated(self, exc: Exception) -> SubscriptionsError:
        """The library's error for the driver's ``exc``."""

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            rows: list[Any] = self.cursor.execute(sql, params).fetchall()
        except self.driver_error as exc:
            raise self.translated(exc) from exc
        return rows

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        try:
            count: int = self.cursor.execute(sql, params).rowcount
        except self.driver_error as exc:
            raise self.translated(exc) from exc
        return count

    def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            self.cursor.executemany(sql, rows)
        except self.driver_error as exc:
            raise self.translated(exc) from exc


class Dialect(abc.ABC):
    """What differs between the SQL databases: SQL details and the connections."""

    #: The parameter placeholder (``?`` or ``%s``).
    placeholder: ClassVar[str]
    #: Whether counted statements need ``RETURNING`` (PostgreSQL's executemany).
    counts_by_returning: ClassVar[bool]
    #: The clause that makes a query skip rows another transaction holds (and hold
    #: the rows it returns): ``pending()`` of the outbox, ``claim_due()``.
    lock_pending: ClassVar[str]
    #: The expression of ``doc`` with its ``status`` and ``version`` fields set to the
    #: two parameters that follow.
    doc_with_status: ClassVar[str]

    def __init__(self) -> None:
        self._statement_cache: dict[str, _Statements] = {}
        self._sql_cache: dict[str, str] = {}

    @staticmethod
    @abc.abstractmethod
    def load_doc(value: Any) -> Any:
        """A document column's value as JSON data."""

    @staticmethod
    @abc.abstractmethod
    def instant(value: datetime) -> Any:
        """An aware datetime as a column value that compares exactly."""

    @staticmethod
    @abc.abstractmethod
    def from_instant(value: Any) -> datetime:
        """The aware datetime (UTC) of an instant column's value."""

    @abc.abstractmethod
    def select_many(
        self, sql_prefix: str, key: str, keys: Sequence[str]
    ) -> Iterable[tuple[str, Sequence[Any]]]:
        """Statements ``<sql_prefix> WHERE <key> IN keys``, with their parameters."""

    @abc.abstractmethod
    def acquire(self, *, snapshot: bool = False) -> Backend:
        """A backend with its transaction begun: with ``snapshot``, a read-only
        transaction that sees one state of the database throughout."""

    @abc.abstractmethod
    def release(self, backend: Backend) -> None:
        """Give the backend's connection back (its transaction is over)."""

    def statements(self, spec: _Spec) -> _Statements:
        known = self._statement_cache.get(spec.table)
        if known is None:
            known = self._statement_cache[spec.table] = _Statements(spec, self)
        return known

    def sql(self, text: str) -> str:
        """``text`` with this database's placeholders (cached: called per statement)."""
        known = self._sql_cache.get(text)
        if known is None:
            known = self._sql_cache[text] = text.replace("?", self.placeholder)
        return known


# -- the unit of work --------------------------------------------------------------------


class SqlUnitOfWork(RolledBackOnExit):
    """One transaction over every repository; rolls back unless committed.

    The transaction begins with the first read or write and ends with
    :meth:`commit`, :meth:`rollback` or the end of the ``with`` block. Reads after
    the end run in a new short transaction, ended with the ``with`` block.

    With ``snapshot``, the unit of work is the store's ``snapshot()``: one read-only
    transaction that sees the database as it was at its first read, keeps none of
    the records it returns, and refuses every write and claim before it reaches the
    database (:class:`~subscriptions.errors.ReadOnlySnapshot`).
    """

    def __init__(self, dialect: Dialect, *, snapshot: bool = False) -> None:
        self._dialect = dialect
        self._snapshot = snapshot
        self._backend: Backend | None = None
        self._done = False
        self._tables: list[_Table] = []
        # Typed as the ports (whose members are settable, hence invariant).
        self.accounts: ports.AccountRepository = _Accounts(self, _ACCOUNTS)
        self.subscriptions: ports.SubscriptionRepository = _Subscriptions(self, _SUBSCRIPTIONS)
        self.carts: ports.CartRepository = _Carts(self, _CARTS)
        self.quotes: ports.QuoteRepository = _Quotes(self, _QUOTES)
        self.orders: ports.OrderRepository = _Orders(self, _ORDERS)
        self._invoices = _Invoices(self, _INVOICES)
        self.invoices: ports.InvoiceRepository = self._invoices
        self.attempts: ports.AttemptRepository = _Attempts(self, _ATTEMPTS)
        self.seats: ports.SeatRepository = _Seats(self, _SEATS)
        self._outbox = _Outbox(self, _OUTBOX)
        self.outbox: ports.OutboxRepository = self._outbox
        self._idempotency = _Idempotency(self)
        self._events = _Events(self)
        self.idempotency: ports.IdempotencyRepository = self._idempotency
        self.events: ports.EventRepository = self._events

    def _db(self) -> Backend:
        backend = self._backend
        if backend is None:
            backend = self._backend = self._dialect.acquire(snapshot=self._snapshot)
        return backend

    def _flushed(self) -> Backend:
        """The backend, once every queued write has reached it."""
        db = self._db()
        if not self._done:
            try:
                self._flush(db)
            except BaseException:
                self._end(commit=False)
                raise
        return db

    def _flush(self, db: Backend) -> None:
        for table in self._tables:
            table._flush(db)
        self._idempotency._flush(db)
        self._events._flush(db)

    def _queued(self) -> bool:
        """Whether writes wait to be sent (before any read, so no counter is taken)."""
        return bool(
            any(table._pending for table in self._tables)
            or self._outbox._marks
            or self._idempotency._pending
            or self._events._pending
        )

    def _reset(self) -> None:
        for table in self._tables:
            table._reset()
        self._idempotency._reset()
        self._events._reset()
        codec.forget_texts()

    def _end(self, *, commit: bool) -> None:
        backend, self._backend = self._backend, None
        self._done = True
        self._reset()
        if backend is None:
            return
        try:
            if not commit:
                backend.rollback()
                return
            try:
                backend.commit()
            except BaseException:
                # A commit the database refused (a deferred foreign key, a lost
                # connection) leaves nothing behind.
                backend.rollback()
                raise
        finally:
            self._dialect.release(backend)

    def flush(self) -> None:
        """Send the queued writes to the database now (``commit`` does it anyway);
        a version conflict is raised here at the latest."""
        self._check_open()
        self._flushed()

    def commit(self) -> None:
        self._check_open()
        if self._backend is None and not self._queued():
            # Nothing read, nothing written: no transaction to open.
            self._end(commit=True)
            return
        db = self._db()
        try:
            self._flush(db)
        except BaseException:
            self._end(commit=False)
            raise
        self._end(commit=True)

    def rollback(self) -> None:
        self._end(commit=False)

    def _end_of_block(self) -> None:
        if not self._done or self._backend is not None:
            self._end(commit=False)
