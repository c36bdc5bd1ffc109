"""PostgreSQL storage on psycopg 3, for applications that outgrow one machine.

Install the ``postgres`` extra (``pip install 'subscriptions[postgres]'``); nothing
else in the library imports psycopg.

:class:`PostgresStore` keeps a pool of connections (``psycopg_pool``) to one
database, optionally in a schema of its own, with the same tables, documents and
migrations as :class:`~subscriptions.adapters.sqlite.SQLiteStore` (``timestamptz``
instants). Migrations run when the store opens, under an advisory
lock, so many processes may open the same database at once. Opened with
``migrate=False``, the store takes no lock and creates nothing: it opens only a
database (and schema) already at the version this library uses;
:func:`schema_version` reads the version and :func:`migrate_schema` migrates
explicitly.

Concurrency control is correct with any number of application processes: each unit
of work is one ``READ COMMITTED`` transaction (a :meth:`~PostgresStore.snapshot` one
``REPEATABLE READ READ ONLY`` transaction); updates are optimistic
(``UPDATE ... WHERE id = %s AND version = %s``, which also waits for a concurrent
writer of the row and then sees its version), so of two transactions that change
the same record one wins and the other gets a
:class:`~subscriptions.errors.ConcurrencyConflict`. Invoice numbers come from a
counter row that the transaction locks, so they have no gaps. A unique violation, a
serialization failure, a deadlock or a lock timeout raises :class:`DatabaseConflict`
(a ``ConcurrencyConflict``); a lost connection and any other failure raise
:class:`StorageError`. A unit of work's writes go to the server in batches
(``executemany``, pipelined), at commit or before a query that must see them.

Opening the store first makes one plain connection, with a connect timeout of at most
:data:`CONNECT_TIMEOUT` seconds (unless the DSN sets ``connect_timeout``): a server
that is not running, an unknown database or role, a wrong password fail at once with
a :class:`StorageError` that quotes the server's reason, and the pool never starts
(so it never logs its retries).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
import psycopg_pool
from psycopg import errors, sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

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
    "PostgresStore",
    "SchemaNotCurrent",
    "SchemaTooNew",
    "StorageError",
    "migrate_schema",
    "schema_version",
]

#: The first key of the advisory lock that serializes migrations ("Subs").
_MIGRATION_LOCK = 0x53756273

_CONFLICTS = (
    errors.UniqueViolation,
    errors.SerializationFailure,
    errors.DeadlockDetected,
    errors.LockNotAvailable,
)

_Connection = psycopg.Connection[tuple[Any, ...]]

#: The longest a connection attempt waits for an unreachable server, in seconds
#: (libpq counts whole seconds, at least 2), unless the DSN sets ``connect_timeout``.
CONNECT_TIMEOUT = 4


def _redacted(dsn: str) -> str:
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "the given DSN"
    params.pop("password", None)
    return make_conninfo("", **params)


def _translate(exc: Exception, where: str) -> SubscriptionsError:
    if isinstance(exc, _CONFLICTS):
        return DatabaseConflict(f"PostgreSQL {type(exc).__name__}: {exc}".strip())
    if isinstance(exc, errors.ForeignKeyViolation):
        return StorageError(
            f"PostgreSQL ({where}) refused the transaction: {exc}; a record refers to one "
            "that is not stored (seat assignments need their subscription), store that "
            "one first"
        )
    if isinstance(exc, psycopg_pool.PoolTimeout):
        return StorageError(f"no PostgreSQL connection to {where} became free in time: {exc}")
    if isinstance(exc, psycopg_pool.PoolClosed):
        return StorageError(f"the PostgresStore of {where} is closed")
    if isinstance(exc, psycopg.OperationalError):
        return StorageError(f"PostgreSQL connection to {where} failed: {exc}")
    return StorageError(f"PostgreSQL ({where}) failed: {exc}")


def _connect_options(dsn: str, timeout: float) -> dict[str, Any]:
    """The connect timeout to add to ``dsn``'s own options, if it sets none."""
    try:
        if "connect_timeout" in conninfo_to_dict(dsn):
            return {}
    except psycopg.ProgrammingError:
        return {}  # the probe reports the malformed DSN
    return {"connect_timeout": max(2, min(CONNECT_TIMEOUT, math.ceil(timeout)))}


def _connect(dsn: str, options: dict[str, Any], where: str) -> _Connection:
    """One plain connection in autocommit mode, outside any pool; a server that
    cannot be reached or refuses the login raises :class:`StorageError`, in its own
    words."""
    try:
        return psycopg.connect(dsn, autocommit=True, **options)
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split())
        raise StorageError(
            f"cannot connect to PostgreSQL ({where}): {reason}; check that the server "
            "is running and that the URL's host, port, database, user and password "
            "are right (the database and the role must exist)"
        ) from exc


def _probe(dsn: str, options: dict[str, Any], where: str) -> None:
    """Connect once, outside the pool, so that a server that cannot be reached or
    refuses the login is reported at once, in its own words."""
    _connect(dsn, options, where).close()


def _where(dsn: str, schema: str | None) -> str:
    return _redacted(dsn) + (f" schema {schema}" if schema else "")


def _described(where: str) -> str:
    return f"the PostgreSQL database ({where})"


def schema_version(dsn: str, *, schema: str | None = None, timeout: float = 30.0) -> int:
    """The schema version of the database at ``dsn`` (in ``schema``, when given, else
    where the connection's ``search_path`` finds it), changing nothing and taking no
    lock that a writer waits for: 0 when it has no tables of ours; higher than
    :data:`~subscriptions.adapters.migrations.LATEST` when a newer release migrated
    it. A ``schema`` that does not exist raises :class:`DatabaseMissing` (and is not
    created); a server that cannot be reached :class:`StorageError`.
    """
    where = _where(dsn, schema)
    connection = _connect(dsn, _connect_options(dsn, timeout), where)
    try:
        if schema is not None:
            connection.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        return _read_existing(connection, schema, _described(where))
    except psycopg.Error as exc:
        raise _translate(exc, where) from exc
    finally:
        connection.close()


def migrate_schema(
    dsn: str, *, schema: str | None = None, timeout: float = 30.0
) -> tuple[int, int]:
    """Create ``schema`` (when given) and the tables if missing, and migrate the
    database at ``dsn`` forward to the schema this library uses, as
    ``PostgresStore(dsn, schema=schema)`` does when it opens it (under the same
    advisory lock, so concurrent migrators apply each migration once); the version
    found (0: a new or empty schema) and the version now. A database at a newer
    schema raises :class:`SchemaTooNew`.
    """
    with PostgresStore(dsn, schema=schema, min_size=1, max_size=1, timeout=timeout) as store:
        return store._found, LATEST


class _PostgresBackend(CursorBackend):
    __slots__ = ("connection", "cursor", "snapshot", "where")

    driver_error = psycopg.Error

    def __init__(self, connection: _Connection, where: str, *, snapshot: bool) -> None:
        self.connection = connection
        self.cursor = connection.cursor()
        self.where = where
        self.snapshot = snapshot

    def translated(self, exc: Exception) -> SubscriptionsError:
        return _translate(exc, self.where)

    def execute_counted(self, sql: str, rows: Sequence[Sequence[Any]]) -> list[int]:
        # The statement says RETURNING 1; executemany pipelines every row in one
        # round trip and keeps each row's result.
        cursor = self.cursor
        try:
            cursor.executemany(sql, rows, returning=True)
            counts = [cursor.rowcount]
            while cursor.nextset():
                counts.append(cursor.rowcount)
        except psycopg.Error as exc:
            raise _translate(exc, self.where) from exc
        return counts

    def commit(self) -> None:
        try:
            self.connection.commit()
        except psycopg.Error as exc:
            raise _translate(exc, self.where) from exc

    def rollback(self) -> None:
        # On a broken connection the server has ended the transaction already, and
        # the pool discards the connection when it comes back.
        with contextlib.suppress(psycopg.Error):
            self.connection.rollback()


def _identity(value: Any) -> Any:
    return value


def _utc(value: Any) -> datetime:
    instant: datetime = value
    return instant.astimezone(UTC)


class _MigrationDatabase:
    """A migration's data step on a PostgreSQL connection in its transaction."""

    def __init__(self, connection: _Connection) -> None:
        self._connection = connection

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._connection.execute(sql.replace("?", "%s"), params).fetchall()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._connection.execute(sql.replace("?", "%s"), params)

    def instant(self, value: datetime) -> Any:
        return value


def _migrate(connection: _Connection, schema: str | None, where: str) -> int:
    """Create ``schema`` (if given) and the migrations table if missing, and apply
    the migrations the database lacks, in ``connection``'s transaction, under an
    advisory lock per schema that concurrent migrators wait for; the version found."""
    connection.execute(
        "SELECT pg_advisory_xact_lock(%s, hashtext(coalesce(%s, current_schema())))",
        (_MIGRATION_LOCK, schema),
    )
    if schema is not None:
        connection.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    connection.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
        "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    current = _read_version(connection)
    if current > LATEST:
        raise SchemaTooNew(where, found=current, expected=LATEST)
    for migration in MIGRATIONS[current:]:
        for statement in migration.postgres:
            connection.execute(statement)
        if migration.data is not None:
            migration.data(_MigrationDatabase(connection))
        connection.execute(
            "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
            (migration.version, migration.name),
        )
    return current


def _read_version(connection: _Connection) -> int:
    """The version in the ``schema_migrations`` table the ``search_path`` finds, 0
    when there is none; reads only (no lock beyond the table's share lock)."""
    row = connection.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if row is None or not row[0]:
        return 0
    row = connection.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    assert row is not None
    version: int = row[0]
    return version


def _read_existing(connection: _Connection, schema: str | None, where: str) -> int:
    """:func:`_read_version`, after checking that ``schema`` (if given) exists."""
    if schema is not None:
        row = connection.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %s)", (schema,)
        ).fetchone()
        if row is None or not row[0]:
            raise DatabaseMissing(
                where,
                expected=LATEST,
                problem=f"no schema {schema!r} in {where}",
            )
    return _read_version(connection)


def _check_current(connection: _Connection, schema: str | None, where: str) -> int:
    """Refuse a database that is not at :data:`LATEST`, changing nothing."""
    found = _read_existing(connection, schema, where)
    if found > LATEST:
        raise SchemaTooNew(where, found=found, expected=LATEST)
    if found < LATEST:
        raise SchemaNotCurrent(where, found=found, expected=LATEST)
    return found


class _PostgresDialect(Dialect):
    placeholder = "%s"
    counts_by_returning = True
    lock_pending = " FOR UPDATE SKIP LOCKED"
    doc_with_status = (
        "jsonb_set(jsonb_set(doc::jsonb, '{status}', to_jsonb(%s::text)), "
        "'{version}', to_jsonb(%s::integer))::text"
    )
    # psycopg adapts aware datetimes to timestamptz, exactly.
    instant = staticmethod(_identity)
    from_instant = staticmethod(_utc)

    @staticmethod
    def load_doc(value: Any) -> Any:
        return codec._json_decode(value)

    def __init__(
        self, pool: psycopg_pool.ConnectionPool[_Connection], where: str, timeout: float
    ) -> None:
        super().__init__()
        self._pool = pool
        self._where = where
        self._timeout = timeout

    def select_many(
        self, sql_prefix: str, key: str, keys: Sequence[str]
    ) -> Iterable[tuple[str, Sequence[Any]]]:
        yield f"{sql_prefix} WHERE {key} = ANY(%s)", (list(keys),)

    def acquire(self, *, snapshot: bool = False) -> Backend:
        try:
            connection = self._pool.getconn(timeout=self._timeout)
        except (psycopg.Error, psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed) as exc:
            raise _translate(exc, self._where) from exc
        if snapshot:
            # psycopg begins the transaction with these at the first statement:
            # BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY.
            try:
                connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
                connection.read_only = True
            except psycopg.Error as exc:
                connection.close()
                self._pool.putconn(connection)
                raise _translate(exc, self._where) from exc
        return _PostgresBackend(connection, self._where, snapshot=snapshot)

    def release(self, backend: Backend) -> None:
        assert isinstance(backend, _PostgresBackend)
        connection = backend.connection
        try:
            backend.cursor.close()
            if backend.snapshot:
                try:
                    connection.isolation_level = None
                    connection.read_only = None
                except psycopg.Error:
                    # Not reset, so not reusable: the pool discards a closed one.
                    connection.close()
        finally:
            self._pool.putconn(connection)


class PostgresStore(ClosedOnExit):
    """A :class:`~subscriptions.ports.Store` in a PostgreSQL database (see the module
    documentation).

    ``dsn`` is a libpq connection string or URL
    (``postgresql://user@host:5432/db``); ``min_size`` and ``max_size`` bound the
    pool; ``schema``, when given, is where the tables live, else the connection's
    default ``search_path`` decides. With ``migrate=True`` (the default) a missing
    schema and its tables are created and an older schema migrated forward, under an
    advisory lock (:func:`migrate_schema` does only that). With ``migrate=False`` the
    store takes no lock and changes nothing: a schema that does not exist raises
    :class:`DatabaseMissing`, a database without our tables or at an older version
    :class:`SchemaNotCurrent`. A newer schema raises :class:`SchemaTooNew` either way.
    ``timeout`` is how many seconds opening the store, or a unit of work waiting for a
    free connection, may take; a server that cannot be reached or refuses the login
    fails sooner (see the module documentation). Close the store (or use it as a
    context manager) to close the pool.
    """

    def __init__(
        self,
        dsn: str,
        *,
        migrate: bool = True,
        min_size: int = 1,
        max_size: int = 10,
        schema: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        if not 0 <= min_size <= max_size or max_size < 1:
            raise InvalidInput(
                f"pool sizes min_size={min_size}, max_size={max_size} are invalid; "
                "use 0 <= min_size <= max_size and max_size >= 1"
            )
        if schema is not None and not schema.strip():
            raise InvalidInput("schema must be a non-empty name, or None for the default")
        self._schema = schema
        self._where = _where(dsn, schema)
        options = _connect_options(dsn, timeout)
        _probe(dsn, options, self._where)
        self._pool: psycopg_pool.ConnectionPool[_Connection] = psycopg_pool.ConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            kwargs=options,
            configure=self._configure,
            # A connection the server dropped (a restart, a failover) is replaced
            # before a unit of work gets it, at the cost of one round trip per unit.
            check=psycopg_pool.ConnectionPool.check_connection,
            open=False,
            name="subscriptions",
        )
        try:
            self._pool.open(wait=True, timeout=timeout)
            with self._pool.connection() as connection:
                described = _described(self._where)
                if migrate:
                    self._found = _migrate(connection, self._schema, described)
                else:
                    self._found = _check_current(connection, self._schema, described)
        except BaseException as exc:
            self._pool.close()
            if isinstance(exc, psycopg.Error | psycopg_pool.PoolTimeout):
                raise _translate(exc, self._where) from exc
            raise
        self._dialect = _PostgresDialect(self._pool, self._where, timeout)

    def _configure(self, connection: _Connection) -> None:
        if self._schema is not None:
            connection.execute(
                sql.SQL("SET search_path TO {}").format(sql.Identifier(self._schema))
            )
            connection.commit()

    def unit_of_work(self) -> SqlUnitOfWork:
        """A new transaction over every repository; it rolls back unless committed."""
        if self._pool.closed:
            raise StorageError(f"the PostgresStore of {self._where} is closed")
        return SqlUnitOfWork(self._dialect)

    def snapshot(self) -> SqlUnitOfWork:
        """A read-only unit of work that sees the database as it was at its first read
        (see :meth:`subscriptions.ports.Store.snapshot`): one ``REPEATABLE READ READ
        ONLY`` transaction, which blocks no writer. While it is open the server keeps
        the row versions it may still read (vacuum waits for it): end it when done."""
        if self._pool.closed:
            raise StorageError(f"the PostgresStore of {self._where} is closed")
        return SqlUnitOfWork(self._dialect, snapshot=True)

    def schema_version(self) -> int:
        """The schema version of the database."""
        try:
            with self._pool.connection(timeout=self._pool.timeout) as connection:
                row = connection.execute(
                    "SELECT coalesce(max(version), 0) FROM schema_migrations"
                ).fetchone()
        except (psycopg.Error, psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed) as exc:
            raise _translate(exc, self._where) from exc
        assert row is not None
        version: int = row[0]
        return version

    def close(self) -> None:
        """Close the pool and its connections; the store cannot be used afterwards."""
        self._pool.close()

    def __repr__(self) -> str:
        return f"PostgresStore({self._where!r})"
