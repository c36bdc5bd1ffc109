"""SQLite storage on the standard library's :mod:`sqlite3`: the embedded default.

>>> import tempfile
>>> from datetime import datetime, timezone
>>> from pathlib import Path
>>> from subscriptions.adapters.sqlite import SQLiteStore
>>> folder = tempfile.TemporaryDirectory()
>>> now = lambda: datetime(2026, 12, 1, 9, tzinfo=timezone.utc)
>>> with SQLiteStore(Path(folder.name) / "billing.sqlite3") as store:
...     with store.unit_of_work() as uow:
...         uow.invoices.take_numbers("INV", 2, now=now)
...         uow.commit()
...     store.schema_version()
(1, datetime.datetime(2026, 12, 1, 9, 0, tzinfo=datetime.timezone.utc))
7
>>> folder.cleanup()

The database is one file in WAL mode, with foreign keys enforced and a busy timeout,
so several threads and processes can use the same file. Its schema is versioned
(:mod:`subscriptions.adapters.migrations`) and migrated forward when the store opens it,
unless it is opened with ``migrate=False``: then it opens only an existing file at the
current version (:func:`schema_version` reads the version, :func:`migrate_schema`
migrates explicitly). Each record is a JSON document
(:mod:`subscriptions.adapters.codec`) beside the indexed columns its queries need.

A unit of work is one ``BEGIN IMMEDIATE`` transaction on a connection of its own (the
store keeps idle connections for reuse): it takes SQLite's write lock with its first
read or write, so units of work queue (up to ``timeout`` seconds) rather than fail on
a stale snapshot, and versions are still checked for changes made between two units
of work. Plain readers of the file are never blocked (WAL), and neither is a
:meth:`~SQLiteStore.snapshot`: a deferred read transaction on a connection that
refuses writes, which sees the file as it was at its first read. A lock not obtained in
time raises :class:`DatabaseConflict` (a
:class:`~subscriptions.errors.ConcurrencyConflict`); any other database failure raises
:class:`StorageError`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from ..errors import (
    DatabaseConflict,
    DatabaseMissing,
    DuplicateRecord,
    InvalidInput,
    SchemaNotCurrent,
    SchemaTooNew,
    StorageError,
    SubscriptionsError,
)
from . import codec
from .closing import ClosedOnExit
from .migrations import LATEST, MIGRATIONS
from .sql import Backend, CursorBackend, Dialect, SqlUnitOfWork

__all__ = [
    "DatabaseConflict",
    "DatabaseMissing",
    "DuplicateRecord",
    "SQLiteStore",
    "SchemaNotCurrent",
    "SchemaTooNew",
    "StorageError",
    "migrate",
    "migrate_schema",
    "schema_version",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
#: Keys per ``IN (...)`` list of get_many (SQLite allows 32766 parameters).
_CHUNK = 500
#: Idle connections a store keeps open for the next units of work.
_IDLE = 8


def _instant(value: datetime) -> int:
    """Microseconds since the Unix epoch: exact, and ordered like the instants."""
    return (value - _EPOCH) // _MICROSECOND


def _from_instant(value: Any) -> datetime:
    return _EPOCH + timedelta(microseconds=int(value))


def _translate(exc: sqlite3.Error, path: str) -> SubscriptionsError:
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if code in _BUSY:
        return DatabaseConflict(f"SQLite: {exc}")
    if isinstance(exc, sqlite3.IntegrityError):
        text = str(exc)
        if "FOREIGN KEY" in text:
            return StorageError(
                f"SQLite database {path!r} refused the transaction: {text}; a record "
                "refers to one that is not stored (seat assignments need their "
                "subscription), store that one first"
            )
        if "UNIQUE" in text or "PRIMARY KEY" in text:
            return DatabaseConflict(f"SQLite: {text}")
    return StorageError(f"SQLite database {path!r} failed: {exc}")


@contextlib.contextmanager
def _closed_on_error(connection: sqlite3.Connection, path: str) -> Iterator[None]:
    """Close ``connection`` when the block fails (a connection being set up is not
    handed out), with a SQLite error translated into ours."""
    try:
        yield
    except sqlite3.Error as exc:
        connection.close()
        raise _translate(exc, path) from exc
    except BaseException:
        connection.close()
        raise


class _SQLiteBackend(CursorBackend):
    __slots__ = ("broken", "connection", "cursor", "path", "snapshot")

    driver_error = sqlite3.Error

    def __init__(self, connection: sqlite3.Connection, path: str, *, snapshot: bool) -> None:
        self.connection = connection
        self.cursor = connection.cursor()
        self.path = path
        self.broken = False
        self.snapshot = snapshot

    def translated(self, exc: Exception) -> SubscriptionsError:
        assert isinstance(exc, sqlite3.Error)
        return _translate(exc, self.path)

    def execute_counted(self, sql: str, rows: Sequence[Sequence[Any]]) -> list[int]:
        # Every row changes one row or none (a key, a version check). Run them all at
        # once and compare the total; only when some row did not change, undo that
        # under a savepoint and run them one at a time to learn which.
        cursor = self.cursor
        execute = cursor.execute
        try:
            if len(rows) < 2:
                return [execute(sql, row).rowcount for row in rows]
            execute("SAVEPOINT counted")
            cursor.executemany(sql, rows)
            if cursor.rowcount == len(rows):
                execute("RELEASE counted")
                return [1] * len(rows)
            execute("ROLLBACK TO counted")
            execute("RELEASE counted")
            return [execute(sql, row).rowcount for row in rows]
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from exc

    def commit(self) -> None:
        try:
            self.cursor.execute("COMMIT")
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from exc

    def rollback(self) -> None:
        try:
            if self.connection.in_transaction:
                self.cursor.execute("ROLLBACK")
        except sqlite3.Error:
            self.broken = True


class _SQLiteDialect(Dialect):
    placeholder = "?"
    counts_by_returning = False
    lock_pending = ""
    doc_with_status = "json_set(doc, '$.status', ?, '$.version', ?)"

    @staticmethod
    def load_doc(value: Any) -> Any:
        return codec._json_decode(value)

    instant = staticmethod(_instant)
    from_instant = staticmethod(_from_instant)

    def __init__(self, store: SQLiteStore) -> None:
        super().__init__()
        self._store = store

    def select_many(
        self, sql_prefix: str, key: str, keys: Sequence[str]
    ) -> Iterable[tuple[str, Sequence[Any]]]:
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            yield f"{sql_prefix} WHERE {key} IN ({marks})", chunk

    def acquire(self, *, snapshot: bool = False) -> Backend:
        store = self._store
        connection = store._checkout()
        backend = _SQLiteBackend(connection, store._path, snapshot=snapshot)
        try:
            if snapshot:
                # A deferred transaction takes no lock; its first read fixes the
                # state it sees (WAL), and the connection refuses writes meanwhile.
                backend.cursor.execute("PRAGMA query_only = ON")
                backend.cursor.execute("BEGIN")
            else:
                backend.cursor.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            store._checkin(connection, broken=snapshot)
            raise _translate(exc, store._path) from exc
        return backend

    def release(self, backend: Backend) -> None:
        assert isinstance(backend, _SQLiteBackend)
        if backend.snapshot and not backend.broken:
            try:
                backend.cursor.execute("PRAGMA query_only = OFF")
            except sqlite3.Error:
                backend.broken = True
        backend.cursor.close()
        self._store._checkin(backend.connection, broken=backend.broken)


def migrate(connection: sqlite3.Connection, *, target: int | None = None) -> int:
    """Apply the migrations ``connection``'s database lacks, up to ``target``
    (default: the latest), in one transaction; the schema version it is at now.

    ``connection`` must be in autocommit mode (``isolation_level=None``). Concurrent
    callers wait for each other on SQLite's write lock. A database at a newer schema
    than the library knows raises :class:`SchemaTooNew`.
    """
    return _migrate(connection, "the SQLite database", target=target)[1]


def _migrate(
    connection: sqlite3.Connection, where: str, *, target: int | None = None
) -> tuple[int, int]:
    """:func:`migrate`, returning the version found and the version now."""
    target = LATEST if target is None else target
    if not 0 <= target <= LATEST:
        raise InvalidInput(f"schema version {target} does not exist; the latest is {LATEST}")
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, "
            "applied_at TEXT NOT NULL)"
        )
        current = _read_version(connection)
        if current > LATEST:
            raise SchemaTooNew(where, found=current, expected=LATEST)
        for migration in MIGRATIONS[current:target]:
            for statement in migration.sqlite:
                connection.execute(statement)
            if migration.data is not None:
                migration.data(_MigrationDatabase(connection))
            connection.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, datetime.now(UTC).isoformat()),
            )
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return current, max(current, target)


def _read_version(connection: sqlite3.Connection) -> int:
    """The schema version of ``connection``'s database, 0 when it has no
    ``schema_migrations`` table; reads only."""
    (tables,) = connection.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if not tables:
        return 0
    (version,) = connection.execute(
        "SELECT coalesce(max(version), 0) FROM schema_migrations"
    ).fetchone()
    return int(version)


def _where(path: str) -> str:
    return f"the SQLite database {path!r}"


def _open_existing(path: str, timeout: float) -> sqlite3.Connection:
    """A connection to the database file at ``path`` that exists: opened read-write
    (``mode=rw``), so that a missing file is an error, never a new empty database."""
    try:
        return sqlite3.connect(
            Path(path).absolute().as_uri() + "?mode=rw",
            uri=True,
            timeout=timeout,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=256,
        )
    except sqlite3.Error as exc:
        if not os.path.exists(path):
            raise DatabaseMissing(
                _where(path), expected=LATEST, problem=f"no database at {path!r}"
            ) from exc
        raise StorageError(f"cannot open SQLite database {path!r}: {exc}") from exc


def schema_version(path: str | os.PathLike[str], *, timeout: float = 30.0) -> int:
    """The schema version of the database file at ``path``, changing nothing: 0 when
    it has no tables of ours; higher than
    :data:`~subscriptions.adapters.migrations.LATEST` when a newer release migrated it.
    A missing file raises :class:`DatabaseMissing` (and is not created); a file that
    is not an SQLite database raises :class:`StorageError`. ``timeout`` is how long
    it may wait for a writer's lock (only a file not in WAL mode makes readers wait).
    """
    name = os.fspath(path)
    connection = _open_existing(name, timeout)
    try:
        return _read_version(connection)
    except sqlite3.Error as exc:
        raise _translate(exc, name) from exc
    finally:
        connection.close()


def migrate_schema(path: str | os.PathLike[str], *, timeout: float = 30.0) -> tuple[int, int]:
    """Create the database file at ``path`` if missing, and migrate it forward to the
    schema this library uses, as ``SQLiteStore(path)`` does when it opens it; the
    version found (0: a new or empty database) and the version now. A database at a
    newer schema raises :class:`SchemaTooNew`; concurrent callers wait for each other
    (up to ``timeout`` seconds).
    """
    with SQLiteStore(path, timeout=timeout) as store:
        return store._found, LATEST


class _MigrationDatabase:
    """A migration's data step on a SQLite connection in its transaction."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._connection.execute(sql, params).fetchall()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._connection.execute(sql, params)

    def instant(self, value: datetime) -> Any:
        return _instant(value)


def _close_all(connections: list[sqlite3.Connection]) -> None:
    while connections:
        connections.pop().close()


class SQLiteStore(ClosedOnExit):
    """A :class:`~subscriptions.ports.Store` in one SQLite file (see the module
    documentation).

    ``path`` is the database file. With ``migrate=True`` (the default) a missing file
    is created and an older schema migrated forward (:func:`migrate_schema` does
    only that). With ``migrate=False`` the store opens only a database that exists
    and is at the schema this library uses, and changes nothing else: a missing file
    raises :class:`DatabaseMissing` (no file is created), a database without our
    tables or at an older version :class:`SchemaNotCurrent`. A newer schema raises
    :class:`SchemaTooNew` either way. ``timeout`` is how many
    seconds a unit of work waits for another one's write lock before it raises
    :class:`DatabaseConflict`. ``synchronous="full"`` (the default) makes every commit
    durable through a power loss; ``"normal"`` only through a crash of the process,
    and commits faster. ``cache_mb`` is each connection's page cache;
    ``checkpoint_pages`` how many pages the write-ahead log may hold before they are
    copied back into the database file (each copy is one more wait for the disk: the
    bill run writes a few pages per renewal). Temporary files (the journal of each
    batch's savepoint, sorts) are kept in memory. Close the store (or use it as a context
    manager) to close its connections.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        migrate: bool = True,
        timeout: float = 30.0,
        synchronous: Literal["full", "normal"] = "full",
        cache_mb: int = 64,
        checkpoint_pages: int = 10_000,
    ) -> None:
        self._path = os.fspath(path)
        if self._path == ":memory:" or self._path.startswith("file::memory:"):
            raise InvalidInput(
                "an SQLiteStore needs a database file that its connections share; use "
                "InMemoryStore for a store in memory"
            )
        if synchronous not in ("full", "normal"):
            raise InvalidInput(f"synchronous must be 'full' or 'normal', not {synchronous!r}")
        if not timeout >= 0:
            raise InvalidInput(f"timeout must be a number of seconds >= 0, not {timeout!r}")
        for name, value in (("cache_mb", cache_mb), ("checkpoint_pages", checkpoint_pages)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInput(f"{name} must be a whole number >= 1, not {value!r}")
        #: The settings every connection of the store gets, after the WAL mode.
        self.pragmas = (
            "foreign_keys = ON",
            f"synchronous = {synchronous.upper()}",
            f"cache_size = -{cache_mb * 1024}",
            f"wal_autocheckpoint = {checkpoint_pages}",
            # Temporary files in memory, the statement journal first: every batch of
            # writes runs under a savepoint (to learn which row a conflict refused),
            # and SQLite copies each page it changes there before changing it,
            # spilling to a temporary file past 64 KiB (several writes per renewal).
            "temp_store = MEMORY",
        )
        self._timeout = timeout
        self._synchronous = synchronous
        self._lock = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        self._closed = False
        self._finalizer = weakref.finalize(self, _close_all, self._idle)
        self._dialect = _SQLiteDialect(self)
        #: Whether connections may create the file (only a migrating store may).
        self._creates = migrate
        if migrate:
            connection = self._connect()
            with _closed_on_error(connection, self._path):
                self._found = _migrate(connection, _where(self._path))[0]
        else:
            # The version is checked before the connection is set up, so that a
            # database refused is left exactly as it was (not even switched to WAL).
            connection = _open_existing(self._path, timeout)
            with _closed_on_error(connection, self._path):
                self._found = _read_version(connection)
                if self._found > LATEST:
                    raise SchemaTooNew(_where(self._path), found=self._found, expected=LATEST)
                if self._found < LATEST:
                    raise SchemaNotCurrent(_where(self._path), found=self._found, expected=LATEST)
                self._set_up(connection)
        self._checkin(connection, broken=False)

    @property
    def path(self) -> str:
        return self._path

    def _connect(self) -> sqlite3.Connection:
        if not self._creates:
            connection = _open_existing(self._path, self._timeout)
        else:
            try:
                connection = sqlite3.connect(
                    self._path,
                    timeout=self._timeout,
                    isolation_level=None,
                    check_same_thread=False,
                    cached_statements=256,
                )
            except sqlite3.Error as exc:
                raise StorageError(f"cannot open SQLite database {self._path!r}: {exc}") from exc
        self._set_up(connection)
        return connection

    def _set_up(self, connection: sqlite3.Connection) -> None:
        """The busy timeout, WAL and the store's pragmas on a new connection (closed
        when they fail)."""
        with _closed_on_error(connection, self._path):
            connection.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
            mode = self._wal(connection)
            if mode.lower() != "wal":
                raise StorageError(
                    f"SQLite database {self._path!r} cannot use write-ahead logging "
                    f"(journal mode {mode!r})"
                )
            for pragma in self.pragmas:
                connection.execute(f"PRAGMA {pragma}")

    def _wal(self, connection: sqlite3.Connection) -> str:
        """Switch the file to WAL (once per file: the mode persists). The switch takes
        an exclusive lock that SQLite does not wait for, so wait here."""
        deadline = time.monotonic() + self._timeout
        delay = 0.001
        while True:
            try:
                (mode,) = connection.execute("PRAGMA journal_mode").fetchone()
                if mode.lower() != "wal":
                    (mode,) = connection.execute("PRAGMA journal_mode = WAL").fetchone()
                return str(mode)
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF not in _BUSY or time.monotonic() > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def _checkout(self) -> sqlite3.Connection:
        with self._lock:
            if self._closed:
                raise StorageError(f"the SQLiteStore of {self._path!r} is closed")
            if self._idle:
                return self._idle.pop()
        return self._connect()

    def _checkin(self, connection: sqlite3.Connection, *, broken: bool) -> None:
        with self._lock:
            if not (broken or self._closed) and len(self._idle) < _IDLE:
                self._idle.append(connection)
                return
        connection.close()

    def unit_of_work(self) -> SqlUnitOfWork:
        """A new transaction over every repository; it rolls back unless committed."""
        if self._closed:
            raise StorageError(f"the SQLiteStore of {self._path!r} is closed")
        return SqlUnitOfWork(self._dialect)

    def snapshot(self) -> SqlUnitOfWork:
        """A read-only unit of work that sees the file as it was at its first read
        (see :meth:`subscriptions.ports.Store.snapshot`): a deferred transaction, so
        it waits for no writer and no writer waits for it. While it is open the
        write-ahead log cannot be copied back past the state it sees, so the log
        grows with what others write meanwhile: end it when done."""
        if self._closed:
            raise StorageError(f"the SQLiteStore of {self._path!r} is closed")
        return SqlUnitOfWork(self._dialect, snapshot=True)

    def schema_version(self) -> int:
        """The schema version of the database file."""
        connection = self._checkout()
        try:
            (version,) = connection.execute(
                "SELECT coalesce(max(version), 0) FROM schema_migrations"
            ).fetchone()
        except sqlite3.Error as exc:
            self._checkin(connection, broken=True)
            raise _translate(exc, self._path) from exc
        self._checkin(connection, broken=False)
        return int(version)

    def close(self) -> None:
        """Close the idle connections; units of work still running close theirs
        when they end. The store cannot be used afterwards."""
        with self._lock:
            self._closed = True
            _close_all(self._idle)

    def __repr__(self) -> str:
        return f"SQLiteStore({self._path!r})"
