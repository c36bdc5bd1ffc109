"""What only the PostgreSQL store promises: many pools (processes) on one database."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest

from subscriptions.adapters import codec
from subscriptions.adapters.migrations import LATEST, MIGRATIONS
from subscriptions.errors import ConcurrencyConflict
from subscriptions.orders import OrderState

from . import records as r
from .conftest import postgres_dsn

pytest.importorskip("psycopg", reason="the PostgreSQL tests need the 'postgres' extra")

import psycopg
from psycopg.conninfo import make_conninfo

from subscriptions.adapters.postgres import (
    DatabaseConflict,
    DatabaseMissing,
    PostgresStore,
    SchemaNotCurrent,
    SchemaTooNew,
    StorageError,
    migrate_schema,
    schema_version,
)

Opener = Callable[..., PostgresStore]


@pytest.fixture
def open_pg(pg_schema: tuple[str, str]) -> Iterator[Opener]:
    """Opens PostgresStores (each with a pool of its own) on this test's schema."""
    dsn, schema = pg_schema
    stores: list[PostgresStore] = []

    def factory(**options: Any) -> PostgresStore:
        options.setdefault("max_size", 4)
        options.setdefault("timeout", 10.0)
        store = PostgresStore(dsn, schema=schema, **options)
        stores.append(store)
        return store

    try:
        yield factory
    finally:
        for store in stores:
            store.close()


def in_threads(*work: Callable[[], None]) -> list[BaseException]:
    errors: list[BaseException] = []

    def run(job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def test_two_pools_see_each_others_commits(open_pg: Opener) -> None:
    first, second = open_pg(), open_pg()
    account = r.italian_account()
    with first.unit_of_work() as uow:
        uow.accounts.add(account)
        uow.commit()
    with second.unit_of_work() as uow:
        assert uow.accounts.get(account.id) == account
        uow.accounts.update(attrs.evolve(account, credit_balance=Decimal("7.00"), version=1))
        uow.commit()
    with first.unit_of_work() as uow:
        got = uow.accounts.get(account.id)
        assert got is not None
        assert got.credit_balance == Decimal("7.00")


def test_concurrent_opens_migrate_once(pg_schema: tuple[str, str]) -> None:
    dsn, schema = pg_schema
    stores: list[PostgresStore] = []
    start = threading.Barrier(5)

    def open_one() -> None:
        start.wait()
        stores.append(PostgresStore(dsn, schema=schema, max_size=1, timeout=20.0))

    try:
        assert in_threads(*[open_one] * 5) == []
        assert {store.schema_version() for store in stores} == {LATEST}
    finally:
        for store in stores:
            store.close()
    import psycopg

    with psycopg.connect(dsn) as connection:
        rows = connection.execute(
            f'SELECT version, name FROM "{schema}".schema_migrations ORDER BY version'
        ).fetchall()
    assert rows == [(m.version, m.name) for m in MIGRATIONS]


def test_two_processes_updating_one_record_one_wins(open_pg: Opener) -> None:
    first, second = open_pg(), open_pg()
    account = r.italian_account()
    with first.unit_of_work() as uow:
        uow.accounts.add(account)
        uow.commit()
    a, b = first.unit_of_work(), second.unit_of_work()
    with a, b:
        seen_a, seen_b = a.accounts.get(account.id), b.accounts.get(account.id)
        assert seen_a == seen_b == account
        b.accounts.update(attrs.evolve(account, credit_balance=Decimal(1), version=1))
        b.commit()
        with pytest.raises(ConcurrencyConflict):
            update_and_commit(a, attrs.evolve(account, credit_balance=Decimal(2), version=1))
    with first.unit_of_work() as uow:
        got = uow.accounts.get(account.id)
        assert got is not None
        assert got.credit_balance == Decimal(1)


def update_and_commit(uow: Any, account: Any) -> None:
    uow.accounts.update(account)
    uow.commit()


def test_a_writer_waits_for_the_row_then_conflicts(open_pg: Opener) -> None:
    first, second = open_pg(), open_pg()
    account = r.italian_account()
    with first.unit_of_work() as uow:
        uow.accounts.add(account)
        uow.commit()
    holding = first.unit_of_work()
    holding.accounts.update(attrs.evolve(account, credit_balance=Decimal(1), version=1))
    holding.flush()  # the row is locked until this transaction ends
    outcome: list[str] = []

    def late_writer() -> None:
        with second.unit_of_work() as uow:
            uow.accounts.update(attrs.evolve(account, credit_balance=Decimal(2), version=1))
            try:
                uow.commit()
                outcome.append("committed")
            except ConcurrencyConflict:
                outcome.append("conflict")

    thread = threading.Thread(target=late_writer)
    thread.start()
    time.sleep(0.3)
    assert outcome == []  # still waiting for the row lock
    holding.commit()
    thread.join(timeout=30)
    assert outcome == ["conflict"]


def test_concurrent_invoice_numbers_have_no_gaps(open_pg: Opener) -> None:
    stores = [open_pg(), open_pg(), open_pg()]
    committed: list[int] = []
    lock = threading.Lock()

    def issue(store: PostgresStore, n: int) -> Callable[[], None]:
        def job() -> None:
            for i in range(8):
                with store.unit_of_work() as uow:
                    number = r.number(uow, "INV")
                    if (i + n) % 3 == 0:
                        uow.rollback()
                        continue
                    uow.commit()
                with lock:
                    committed.append(number)

        return job

    assert in_threads(*[issue(store, n) for n, store in enumerate(stores)]) == []
    assert sorted(committed) == list(range(1, len(committed) + 1))


def test_a_deadlock_is_a_conflict(open_pg: Opener) -> None:
    store = open_pg()
    one, two = r.italian_account("acc-1"), r.italian_account("acc-2")
    with store.unit_of_work() as uow:
        uow.accounts.add(one)
        uow.accounts.add(two)
        uow.commit()
    locked = threading.Barrier(2)

    def crosswise(first: Any, then: Any) -> Callable[[], None]:
        def job() -> None:
            with store.unit_of_work() as uow:
                uow.accounts.update(attrs.evolve(first, version=1))
                uow.flush()
                locked.wait()
                uow.accounts.update(attrs.evolve(then, version=1))
                uow.commit()

        return job

    errors = in_threads(crosswise(one, two), crosswise(two, one))
    assert len(errors) == 1
    assert isinstance(errors[0], DatabaseConflict)
    assert "DeadlockDetected" in str(errors[0])


def test_pending_outbox_entries_are_delivered_by_one_worker(open_pg: Opener) -> None:
    first, second = open_pg(), open_pg()
    account = r.italian_account()
    with first.unit_of_work() as uow:
        for n in range(4):
            uow.outbox.add(r.outbox_entry(account, f"m-{n}", r.START))
        uow.commit()
    with first.unit_of_work() as a, second.unit_of_work() as b:
        taken = [e.id for e in a.outbox.pending(2)]
        others = [e.id for e in b.outbox.pending(10)]
    assert taken == ["m-0", "m-1"]
    assert others == ["m-2", "m-3"]


def test_a_newer_schema_is_refused(open_pg: Opener, pg_schema: tuple[str, str]) -> None:
    store = open_pg()
    with store.unit_of_work() as uow:
        uow.idempotency.put("acct", "k", "v")
        uow.commit()
    import psycopg

    dsn, schema = pg_schema
    with psycopg.connect(dsn) as connection:
        connection.execute(
            f'INSERT INTO "{schema}".schema_migrations (version, name) VALUES (%s, %s)',
            (LATEST + 1, "from the future"),
        )
    with pytest.raises(StorageError, match="newer than this library"):
        open_pg()


def test_an_unreachable_server_is_a_storage_error() -> None:
    with pytest.raises(StorageError, match=r"127\.0\.0\.1") as raised:
        PostgresStore("postgresql://nobody:s3cret@127.0.0.1:1/none", timeout=0.5)
    assert raised.value.__cause__ is not None
    assert "s3cret" not in str(raised.value)


def _free_port() -> int:
    """A local port that nothing listens on: bound, then let go."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _refused_quickly(dsn: str, caplog: pytest.LogCaptureFixture) -> StorageError:
    """Open a store on ``dsn`` that must fail: at once (not after the pool's 30 s),
    with no pool retries logged."""
    started = time.monotonic()
    with caplog.at_level(logging.DEBUG, logger="psycopg"), pytest.raises(StorageError) as raised:
        PostgresStore(dsn)
    assert time.monotonic() - started < 5
    assert isinstance(raised.value.__cause__, psycopg.OperationalError)
    assert not [record for record in caplog.records if record.name.startswith("psycopg.pool")]
    assert "check that the server is running" in str(raised.value)
    return raised.value


def test_a_closed_port_fails_at_once_with_the_reason(caplog: pytest.LogCaptureFixture) -> None:
    error = _refused_quickly(f"postgresql://postgres@127.0.0.1:{_free_port()}/test", caplog)
    assert "Connection refused" in str(error)


def test_an_unknown_database_fails_at_once_with_the_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dsn = make_conninfo(postgres_dsn(), dbname="subscriptions_no_such_database")
    error = _refused_quickly(dsn, caplog)
    assert 'database "subscriptions_no_such_database" does not exist' in str(error)


def test_an_unknown_role_fails_at_once_with_the_reason(caplog: pytest.LogCaptureFixture) -> None:
    dsn = make_conninfo(postgres_dsn(), user="subscriptions_no_such_role")
    error = _refused_quickly(dsn, caplog)
    assert 'role "subscriptions_no_such_role" does not exist' in str(error)


def test_a_closed_store_is_refused(open_pg: Opener) -> None:
    store = open_pg()
    store.close()
    with pytest.raises(StorageError, match="closed"):
        store.unit_of_work()


def _terminate(dsn: str, pid: int) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_dropped_connection_is_replaced_and_a_lost_one_is_a_storage_error(
    open_pg: Opener, pg_schema: tuple[str, str]
) -> None:
    dsn, _ = pg_schema
    store = open_pg(min_size=1, max_size=1)
    with store._pool.connection() as connection:
        pid = connection.info.backend_pid
    _terminate(dsn, pid)
    # The pool checks a connection before lending it: the server's restart is unseen.
    with store.unit_of_work() as uow:
        uow.idempotency.put("acct", "k", "v1")
        uow.commit()
    with store.unit_of_work() as uow:
        assert uow.idempotency.get("acct", "k") == "v1"
        _terminate(dsn, uow._db().connection.info.backend_pid)  # type: ignore[attr-defined]
        with pytest.raises(StorageError) as raised:
            uow.idempotency.get("acct", "other")
    assert raised.value.__cause__ is not None
    with store.unit_of_work() as uow:
        assert uow.idempotency.get("acct", "k") == "v1"


def _as_of_schema(
    pg_schema: tuple[str, str], version: int, rows: list[tuple[str, tuple[object, ...]]]
) -> None:
    """Write ``rows`` (statements naming ``{schema}``, with their parameters) as a book
    at schema ``version`` stored them, and forget every later migration, so that the
    next open applies them again over those rows."""
    import psycopg

    dsn, schema = pg_schema
    quoted = f'"{schema}"'
    with psycopg.connect(dsn, autocommit=True) as connection:
        for statement, params in rows:
            connection.execute(statement.replace("{schema}", quoted), params)
        connection.execute(f"DELETE FROM {quoted}.schema_migrations WHERE version > %s", (version,))


def test_migration_5_types_the_events_a_book_stored_as_text(
    open_pg: Opener, pg_schema: tuple[str, str]
) -> None:
    from subscriptions.subscription import EventKind

    store = open_pg()
    store.close()
    old = [
        '{"kind":"order_failed","at":"2026-11-02T09:00:00+00:00","detail":"ord-1: card_declined"}',
        '{"kind":"seats_assigned","at":"2026-11-02T09:01:00+00:00","detail":"anna -> marco"}',
    ]
    _as_of_schema(
        pg_schema,
        4,
        [
            ("INSERT INTO {schema}.events (account_id, doc) VALUES (%s, %s)", ("acc", doc))
            for doc in old
        ],
    )
    reopened = open_pg()
    assert reopened.schema_version() == LATEST
    with reopened.unit_of_work() as uow:
        failed, reassigned = uow.events.for_account("acc")
    assert (failed.order_id, failed.failure_code, failed.note) == ("ord-1", "card_declined", "")
    assert reassigned.kind is EventKind.SEAT_REASSIGNED
    assert reassigned.user_ids == ("anna", "marco")


def test_migration_6_makes_the_amounts_of_stored_orders_and_quotes_money(
    open_pg: Opener, pg_schema: tuple[str, str]
) -> None:
    from moneyed import Money

    store = open_pg()
    store.close()
    it = r.italian_account()
    order = r.order(it, "ord-1", state=OrderState.PENDING)
    quote = r.quote(it, "quo-1")
    _as_of_schema(
        pg_schema,
        5,
        [
            (
                "INSERT INTO {schema}.orders (id, account_id, version, state, doc) "
                "VALUES (%s, %s, %s, %s, %s)",
                (order.id, order.account_id, order.version, "pending", r.first_schema_text(order)),
            ),
            (
                "INSERT INTO {schema}.quotes (id, account_id, doc) VALUES (%s, %s, %s)",
                (quote.id, quote.account_id, r.first_schema_text(quote)),
            ),
        ],
    )
    reopened = open_pg()
    assert reopened.schema_version() == LATEST
    with reopened.unit_of_work() as uow:
        assert uow.orders.get("ord-1") == order
        assert uow.quotes.get("quo-1") == quote
        stored = uow.orders.get("ord-1")
    assert stored is not None
    assert stored.amount_due == Money("183.00", "EUR")


def test_migration_7_keeps_the_messages_a_book_stored_written(
    open_pg: Opener, pg_schema: tuple[str, str]
) -> None:
    store = open_pg()
    store.close()
    de = r.german_account()
    written = r.written_outbox_entry(de, "msg-1", r.START)
    _as_of_schema(
        pg_schema,
        6,
        [
            (
                "INSERT INTO {schema}.outbox (id, created_at, doc) VALUES (%s, %s, %s)",
                (written.id, written.created_at, codec.dumps(written)),
            )
        ],
    )
    reopened = open_pg()
    assert reopened.schema_version() == LATEST
    with reopened.unit_of_work() as uow:
        uow.outbox.add(r.outbox_entry(de, "msg-2", r.START + timedelta(minutes=1)))
        uow.commit()
    with reopened.unit_of_work() as uow:
        assert uow.outbox.pending(10) == [
            written,
            r.outbox_entry(de, "msg-2", r.START + timedelta(minutes=1)),
        ]


# -- migrate=False: open only a database at the current schema ------------------------


def _schema_exists(dsn: str, schema: str) -> bool:
    with psycopg.connect(dsn) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname = %s", (schema,)
        ).fetchone()
    return row == (1,)


def _tables(dsn: str, schema: str) -> list[str]:
    with psycopg.connect(dsn) as connection:
        rows = connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
            "ORDER BY table_name",
            (schema,),
        ).fetchall()
    return [name for (name,) in rows]


def _versions(dsn: str, schema: str) -> list[int]:
    with psycopg.connect(dsn) as connection:
        rows = connection.execute(
            f'SELECT version FROM "{schema}".schema_migrations ORDER BY version'
        ).fetchall()
    return [version for (version,) in rows]


def test_without_migrating_a_missing_schema_is_not_created(pg_schema: tuple[str, str]) -> None:
    dsn, schema = pg_schema
    with pytest.raises(DatabaseMissing) as raised:
        PostgresStore(dsn, schema=schema, migrate=False, timeout=10.0)
    message = str(raised.value)
    assert message.startswith(f"no schema {schema!r} in the PostgreSQL database (")
    assert message.endswith(
        "; create it with `subscriptions db init` (or open the store with migrate=True)"
    )
    assert (raised.value.found, raised.value.expected) == (0, LATEST)
    with pytest.raises(DatabaseMissing):
        schema_version(dsn, schema=schema)
    assert not _schema_exists(dsn, schema)


@pytest.mark.parametrize("tables", [(), ("CREATE TABLE {schema}.notes (id INTEGER)",)])
def test_without_migrating_a_schema_without_our_tables_is_refused_as_it_is(
    pg_schema: tuple[str, str], tables: tuple[str, ...]
) -> None:
    dsn, schema = pg_schema
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
        for statement in tables:
            connection.execute(statement.replace("{schema}", f'"{schema}"'))
    before = _tables(dsn, schema)
    assert schema_version(dsn, schema=schema) == 0
    with pytest.raises(SchemaNotCurrent) as raised:
        PostgresStore(dsn, schema=schema, migrate=False, timeout=10.0)
    assert not isinstance(raised.value, DatabaseMissing)
    assert raised.value.found == 0
    assert "has no tables of subscriptions" in str(raised.value)
    assert "run `subscriptions db migrate`" in str(raised.value)
    assert _tables(dsn, schema) == before


def _schema_1(dsn: str, schema: str) -> None:
    """A schema as the first release wrote it: migration 1 alone."""
    with psycopg.connect(dsn) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
        connection.execute(f'SET search_path TO "{schema}"')
        connection.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
            "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        for statement in MIGRATIONS[0].postgres:
            connection.execute(statement)
        connection.execute(
            "INSERT INTO schema_migrations (version, name) VALUES (1, %s)", (MIGRATIONS[0].name,)
        )


def test_without_migrating_an_older_schema_is_refused_and_left_as_it_was(
    pg_schema: tuple[str, str],
) -> None:
    dsn, schema = pg_schema
    _schema_1(dsn, schema)
    before = _tables(dsn, schema)
    with pytest.raises(SchemaNotCurrent) as raised:
        PostgresStore(dsn, schema=schema, migrate=False, timeout=10.0)
    assert (raised.value.found, raised.value.expected) == (1, LATEST)
    assert f"is at schema version 1, and this library needs version {LATEST}; run " in str(
        raised.value
    )
    assert (_tables(dsn, schema), _versions(dsn, schema)) == (before, [1])
    assert schema_version(dsn, schema=schema) == 1
    # The explicit migration, then the same open works.
    assert migrate_schema(dsn, schema=schema) == (1, LATEST)
    assert migrate_schema(dsn, schema=schema) == (LATEST, LATEST)
    assert _versions(dsn, schema) == [m.version for m in MIGRATIONS]
    with PostgresStore(dsn, schema=schema, migrate=False, timeout=10.0) as store:
        assert store.schema_version() == LATEST


def test_without_migrating_a_current_database_reads_and_writes(
    pg_schema: tuple[str, str],
) -> None:
    dsn, schema = pg_schema
    assert migrate_schema(dsn, schema=schema) == (0, LATEST)
    account = r.italian_account()
    with PostgresStore(dsn, schema=schema, migrate=False, timeout=10.0) as store:
        assert store.schema_version() == schema_version(dsn, schema=schema) == LATEST
        with store.unit_of_work() as uow:
            uow.accounts.add(account)
            uow.commit()
    reopened = PostgresStore(dsn, schema=schema, migrate=False, timeout=10.0)
    with reopened, reopened.unit_of_work() as uow:
        assert uow.accounts.get(account.id) == account


def test_without_migrating_the_open_waits_for_no_migrator_or_writer(
    open_pg: Opener, pg_schema: tuple[str, str]
) -> None:
    from subscriptions.adapters.postgres import _MIGRATION_LOCK

    dsn, schema = pg_schema
    open_pg().close()
    with psycopg.connect(dsn) as holder:
        # A migrator holding the migration lock, and a writer in the middle of a
        # transaction on schema_migrations and on a record.
        holder.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_MIGRATION_LOCK, schema))
        holder.execute(f'LOCK TABLE "{schema}".schema_migrations IN ROW EXCLUSIVE MODE')
        holder.execute(
            f'INSERT INTO "{schema}".idempotency (scope, key, value) VALUES (%s, %s, %s)',
            ("acct", "k", "v"),
        )
        started = time.monotonic()
        store = PostgresStore(dsn, schema=schema, migrate=False, timeout=2.0)
        try:
            assert store.schema_version() == LATEST
        finally:
            store.close()
        assert time.monotonic() - started < 2.0
        holder.rollback()


def test_concurrent_explicit_migrations_migrate_once(pg_schema: tuple[str, str]) -> None:
    dsn, schema = pg_schema
    found: list[tuple[int, int]] = []
    start = threading.Barrier(4)

    def migrate_one() -> None:
        start.wait()
        found.append(migrate_schema(dsn, schema=schema, timeout=20.0))

    assert in_threads(*[migrate_one] * 4) == []
    assert sorted(found) == [(0, LATEST)] + [(LATEST, LATEST)] * 3
    assert _versions(dsn, schema) == [m.version for m in MIGRATIONS]


def test_a_newer_schema_is_refused_whether_migrating_or_not(pg_schema: tuple[str, str]) -> None:
    dsn, schema = pg_schema
    migrate_schema(dsn, schema=schema)
    with psycopg.connect(dsn) as connection:
        connection.execute(
            f'INSERT INTO "{schema}".schema_migrations (version, name) VALUES (%s, %s)',
            (LATEST + 1, "from the future"),
        )
    assert schema_version(dsn, schema=schema) == LATEST + 1
    for migrating in (True, False):
        with pytest.raises(SchemaTooNew) as raised:
            PostgresStore(dsn, schema=schema, migrate=migrating, timeout=10.0)
        assert (raised.value.found, raised.value.expected) == (LATEST + 1, LATEST)
        assert "newer than this library knows" in str(raised.value)
    with pytest.raises(SchemaTooNew):
        migrate_schema(dsn, schema=schema)
    assert schema_version(dsn, schema=schema) == LATEST + 1


def test_schema_version_of_an_unreachable_server_is_a_storage_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(StorageError, match="cannot connect to PostgreSQL"):
        schema_version(f"postgresql://nobody@127.0.0.1:{port}/nothing", timeout=2.0)
