"""Benchmark of the bill run through durable storage.

Run ``python benchmarks/storage.py --json``; the last line printed is one JSON object:

* ``sqlite_renewals_per_second``: 100,000 due monthly subscriptions (one per
  account) renewed through ``BillingCenter.run_renewals`` on a ``SQLiteStore`` file,
  charged through the fake gateway, every invoice and payment attempt written and
  committed;
* ``sqlite_raw_renewals_per_second``: bare ``sqlite3`` doing the same reads and writes
  per renewal, in the same schema, batched alike, with ready-made documents: what the
  database alone costs;
* ``postgres_renewals_per_second``: the bill run on ``PostgresStore`` (the server named
  by ``--postgres-dsn`` or ``SUBSCRIPTIONS_TEST_POSTGRES_DSN``, in a schema of its own
  that is dropped afterwards); ``null`` when no server is given;
* ``postgres_2_workers_renewals_per_second``: the same 100,000 renewals, same code and
  batch size, split over two processes that run the bill run at once on one book
  (they claim disjoint batches), timed from the first start to the last exit;
* ``postgres_raw_renewals_per_second``: bare psycopg doing the same reads and writes
  per renewal, batched alike, in the same run.

The raw baselines issue the same statements per renewal as the store: the benchmark
counts them on both sides in a shorter run (sqlite3's trace callback; a psycopg
cursor that counts what it executes) and refuses to report if they differ
(``statements_per_renewal``). They write documents of the mean sizes the store wrote
in that shorter run, table by table (``document_bytes``), so both sides move the
same bytes. Seeding is not timed.

Per renewal, in the batch's transaction: the subscription updated, its renewal event,
the invoice (its number taken with the batch's, in one statement) and its event, the
payment attempt; in the next batch's transaction, once charged: the invoice marked
paid, the attempt's outcome, the payment's event.

Targets (issues 4 and 8): SQLite at least 5,000 renewals a second and at least 40% of
the raw figure; PostgreSQL at least 2,000 a second and at least 40% of raw; two
PostgreSQL workers at least 1.3 times one.
"""

from __future__ import annotations

import abc
import argparse
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import astuple, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from subscriptions import (
    Account,
    Address,
    BillingCenter,
    BillingContext,
    Catalog,
    FakeGateway,
    ManualClock,
    Plan,
    Price,
    Product,
    Seller,
    Settings,
    Subscribe,
    Terms,
    apply,
)
from subscriptions.ports import Store
from subscriptions.pricing import Customer, TaxSetup

CATALOG = Catalog(
    products=[
        Product(
            id="app",
            name="App",
            plans=[
                Plan(
                    id="basic",
                    name="Basic",
                    rank=1,
                    prices=[Price(currency="EUR", frequency="monthly", amount="10.00")],
                )
            ],
        )
    ]
)
SELLER = Seller(
    name="Vendor S.r.l.",
    vat_number="IT00743110157",
    address=Address(line1="Via Roma 1", city="Milano", postal_code="20121", country="IT"),
)
ADDRESS = Address(line1="Via Po 2", city="Torino", postal_code="10123", country="IT")
START = datetime(2025, 1, 1, 9, tzinfo=UTC)
#: Every subscription started on one of Jan 1..28 is due once by then.
BILL_AT = datetime(2025, 3, 1, 0, tzinfo=UTC)
#: Statements that only delimit transactions, left out of the comparison.
_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b", re.IGNORECASE)


# -- the book --------------------------------------------------------------------------


def seed(store: Store, count: int) -> None:
    """``count`` accounts, each with one active monthly subscription, in batches."""
    context = BillingContext(
        catalog=CATALOG,
        currency="EUR",
        tz="Europe/Rome",
        tax=TaxSetup(seller_country="IT", customer=Customer(country="IT")),
    )
    batch = 2_000
    for first in range(0, count, batch):
        with store.unit_of_work() as uow:
            for i in range(first, min(first + batch, count)):
                account_id = f"acct{i:07d}"
                uow.accounts.add(
                    Account(
                        id=account_id,
                        name=f"Customer {i}",
                        address=ADDRESS,
                        timezone="Europe/Rome",
                        locale="it_IT",
                        currency="EUR",
                        billing_contacts=frozenset({"billing"}),
                        payment_method="tok_visa",
                    )
                )
                terms = Terms(product="app", plan="basic", seats=1 + i % 20, frequency="monthly")
                at = START + timedelta(days=i % 28, minutes=i % 600)
                outcome = apply(
                    None,
                    Subscribe(terms=terms),
                    at=at,
                    context=context,
                    subscription_id=f"sub_{account_id}_app",
                    account_id=account_id,
                )
                uow.subscriptions.add(outcome.subscription)
            uow.commit()


def bill(store: Store, batch_size: int) -> int:
    """Run the bill run over the seeded store; how many it renewed (and charged)."""
    center = BillingCenter(
        catalog=CATALOG,
        seller=SELLER,
        store=store,
        gateway=FakeGateway(),
        clock=ManualClock(BILL_AT),
        settings=Settings(batch_size=batch_size),
    )
    report = center.run_renewals(BILL_AT)
    if report.renewed != report.charged or report.errors:
        raise SystemExit(f"the bill run did not renew and charge everything: {report}")
    return report.renewed


def timed_bill(store: Store, count: int, batch_size: int) -> float:
    started = time.perf_counter()
    renewed = bill(store, batch_size)
    elapsed = time.perf_counter() - started
    if renewed != count:
        raise SystemExit(f"expected {count} renewals, got {renewed}")
    return count / elapsed


# -- the raw baseline: the same statements, ready-made documents ------------------------


@dataclass(frozen=True)
class Documents:
    """The documents the raw baseline writes: a subscription with its open charge
    line, an account, an invoice with one line and its VAT, an attempt, an event. Of
    the sizes the store writes (:func:`store_documents`), so that both sides move the
    same bytes."""

    subscription: str
    account: str
    invoice: str
    attempt: str
    event: str

    @classmethod
    def of_sizes(cls, sizes: dict[str, int]) -> Documents:
        head = '{"status":"charging","version":1,"lines":"'
        return cls(
            subscription="x" * sizes["subscriptions"],
            account="y" * sizes["accounts"],
            invoice=head + "z" * max(0, sizes["invoices"] - len(head) - 2) + '"}',
            attempt="a" * sizes["attempts"],
            event="e" * sizes["events"],
        )


#: The tables whose documents the raw baseline writes.
_DOCUMENT_TABLES = ("subscriptions", "accounts", "invoices", "attempts", "events")


def store_documents(path: Path) -> Documents:
    """Documents of the mean sizes the store wrote in the SQLite book at ``path``."""
    connection = sqlite3.connect(path)
    try:
        sizes = {
            table: round(connection.execute(f"SELECT avg(length(doc)) FROM {table}").fetchone()[0])
            for table in _DOCUMENT_TABLES
        }
    finally:
        connection.close()
    return Documents.of_sizes(sizes)


class _Raw(abc.ABC):
    """A bare database connection and the statements of the bill run, per dialect."""

    mark = "?"
    returning = ""
    lock = ""
    #: The invoice document with its status and version set (as the store writes it).
    doc_with_status = "json_set(doc, '$.status', ?, '$.version', ?)"

    def sql(self, text: str) -> str:
        return text.replace("?", self.mark)

    @abc.abstractmethod
    def begin(self) -> None: ...

    @abc.abstractmethod
    def query(self, sql: str, params: Sequence[Any]) -> list[Any]: ...

    @abc.abstractmethod
    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    @abc.abstractmethod
    def commit(self) -> None: ...

    def instant(self, value: datetime) -> Any:
        return value

    def select_in(self, prefix: str, key: str, keys: Sequence[str]) -> tuple[str, Sequence[Any]]:
        marks = ", ".join("?" * len(keys))
        return self.sql(f"{prefix} WHERE {key} IN ({marks})"), keys


def _raw_run(db: _Raw, docs: Documents, count: int, batch_size: int) -> float:
    """The store's statements per renewal and per batch (see the module docstring)."""
    due = db.instant(BILL_AT)
    later = db.instant(BILL_AT + timedelta(days=31))
    ret = db.returning
    started = time.perf_counter()
    after = ""
    renewed = 0
    number = 0
    pending: list[tuple[str, str, str]] = []  # (invoice, attempt key, account)

    def record() -> None:
        # The last batch's outcomes: each invoice paid, each attempt succeeded, an event.
        db.many(
            db.sql(
                f"UPDATE invoices SET version = ?, doc = {db.doc_with_status} "
                "WHERE id = ? AND version = ?" + ret
            ),
            [(2, "paid", 2, invoice, 1) for invoice, _, _ in pending],
        )
        db.many(
            db.sql(
                "UPDATE attempts SET version = ?, account_id = ?, target = ?, state = ?, "
                "doc = ? WHERE key = ? AND version = ?" + ret
            ),
            [
                (1, account, f"invoice:{invoice}", "succeeded", docs.attempt, key, 0)
                for invoice, key, account in pending
            ],
        )
        db.many(
            db.sql("INSERT INTO events (account_id, doc) VALUES (?, ?)"),
            [(account, docs.event) for _, _, account in pending],
        )
        pending.clear()

    while True:
        db.begin()
        if pending:
            record()
        rows = db.query(
            db.sql("SELECT id, doc FROM subscriptions WHERE id > ? AND due_at <= ? ")
            + db.sql("ORDER BY id LIMIT ?")
            + db.lock,
            (after, due, batch_size),
        )
        if not rows:
            db.commit()
            break
        ids = [row[0] for row in rows]
        after = ids[-1]
        accounts = [f"acct{sub_id[8:15]}" for sub_id in ids]
        db.query(*db.select_in("SELECT id, doc FROM accounts", "id", accounts))
        db.many(
            db.sql(
                "UPDATE subscriptions SET version = ?, account_id = ?, due_at = ?, doc = ? "
                "WHERE id = ? AND version = ?" + ret
            ),
            [
                (1, account, later, docs.subscription, sub_id, 0)
                for sub_id, account in zip(ids, accounts, strict=True)
            ],
        )
        db.many(
            db.sql("INSERT INTO events (account_id, doc) VALUES (?, ?)"),
            [(account, docs.event) for account in accounts],
        )
        (last, _) = db.query(
            db.sql(
                "INSERT INTO invoice_series (series, last) VALUES (?, ?) "
                "ON CONFLICT (series) DO UPDATE SET last = invoice_series.last + ? "
                "RETURNING last, issued_at"
            ),
            ("INV", len(ids), len(ids)),
        )[0]
        if number == 0:
            # The series' issue instant, written once (it does not move in this run).
            db.many(
                db.sql("UPDATE invoice_series SET last = ?, issued_at = ? WHERE series = ?"),
                [(last, due, "INV")],
            )
        first = int(last) - len(ids) + 1
        invoices = [uuid.uuid4().hex for _ in ids]
        db.many(
            db.sql(
                "INSERT INTO invoices (id, version, account_id, series, sequence, doc) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING" + ret
            ),
            [
                (invoice, 1, account, "INV", first + n, docs.invoice)
                for n, (invoice, account) in enumerate(zip(invoices, accounts, strict=True))
            ],
        )
        keys = [f"invoice:{invoice}:1" for invoice in invoices]
        db.many(
            db.sql(
                "INSERT INTO attempts (key, version, account_id, target, state, doc) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING" + ret
            ),
            [
                (key, 0, account, f"invoice:{invoice}", "pending", docs.attempt)
                for key, invoice, account in zip(keys, invoices, accounts, strict=True)
            ],
        )
        db.many(
            db.sql("INSERT INTO events (account_id, doc) VALUES (?, ?)"),
            [(account, docs.event) for account in accounts],
        )
        db.commit()
        number = int(last)
        pending.extend(zip(invoices, keys, accounts, strict=True))
        renewed += len(ids)
    if pending:
        db.begin()
        record()
        db.commit()
    elapsed = time.perf_counter() - started
    if renewed != count:
        raise SystemExit(f"the raw baseline renewed {renewed}, not {count}")
    return count / elapsed


def _raw_rows(
    docs: Documents, count: int, instant: Callable[[datetime], Any]
) -> tuple[list[Any], list[Any]]:
    due = instant(BILL_AT - timedelta(microseconds=1))
    accounts = [(f"acct{i:07d}", 0, docs.account) for i in range(count)]
    subs = [
        (f"sub_acct{i:07d}_app", f"acct{i:07d}", 0, due, docs.subscription) for i in range(count)
    ]
    return accounts, subs


class _SQLiteRaw(_Raw):
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def begin(self) -> None:
        self.connection.execute("BEGIN IMMEDIATE")

    def query(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return self.connection.execute(sql, params).fetchall()

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.connection.executemany(sql, rows)

    def commit(self) -> None:
        self.connection.execute("COMMIT")

    def instant(self, value: datetime) -> Any:
        return (value - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _sqlite_raw_book(path: Path, docs: Documents, count: int) -> sqlite3.Connection:
    from subscriptions.adapters.sqlite import SQLiteStore, migrate

    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    # The store's schema and connection settings, so that only the code differs.
    with SQLiteStore(path) as store:
        pragmas = store.pragmas
    for pragma in pragmas:
        connection.execute(f"PRAGMA {pragma}")
    migrate(connection)
    raw = _SQLiteRaw(connection)
    accounts, subs = _raw_rows(docs, count, raw.instant)
    connection.execute("BEGIN")
    connection.executemany("INSERT INTO accounts (id, version, doc) VALUES (?, ?, ?)", accounts)
    connection.executemany(
        "INSERT INTO subscriptions (id, account_id, version, due_at, doc) VALUES (?, ?, ?, ?, ?)",
        subs,
    )
    connection.execute("COMMIT")
    return connection


def raw_sqlite(path: Path, docs: Documents, count: int, batch_size: int) -> float:
    connection = _sqlite_raw_book(path, docs, count)
    try:
        return _raw_run(_SQLiteRaw(connection), docs, count, batch_size)
    finally:
        connection.close()


class _PostgresRaw(_Raw):
    mark = "%s"
    returning = " RETURNING 1"
    lock = " FOR UPDATE SKIP LOCKED"
    doc_with_status = (
        "jsonb_set(jsonb_set(doc::jsonb, '{status}', to_jsonb(?::text)), "
        "'{version}', to_jsonb(?::integer))::text"
    )

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.cursor = connection.cursor()

    def begin(self) -> None:
        pass  # psycopg begins a transaction with the first statement

    def query(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return self.cursor.execute(sql, params).fetchall()

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.cursor.executemany(sql, rows, returning=" RETURNING " in sql)

    def commit(self) -> None:
        self.connection.commit()

    def select_in(self, prefix: str, key: str, keys: Sequence[str]) -> tuple[str, Sequence[Any]]:
        return f"{prefix} WHERE {key} = ANY(%s)", (list(keys),)


def _counting_cursor() -> Any:
    """A psycopg cursor class that counts the statements it executes, by kind."""
    import psycopg

    class CountingCursor(psycopg.Cursor[Any]):
        counts: ClassVar[Counter[str]] = Counter()

        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            CountingCursor.counts.update([_kind(str(query))])
            return super().execute(query, params, **kwargs)

        def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> None:
            rows = list(params_seq)
            CountingCursor.counts.update({_kind(str(query)): len(rows)})
            super().executemany(query, rows, **kwargs)

    return CountingCursor


def _kind(sql: str) -> str:
    """A statement's kind: its verb and table (``UPDATE invoices``)."""
    words = sql.split()
    if not words or _CONTROL.match(sql):
        return "control"
    verb = words[0].upper()
    if verb == "SELECT":
        table = words[words.index("FROM") + 1] if "FROM" in words else "?"
        return f"SELECT {table}"
    if verb in ("INSERT", "DELETE"):
        return f"{verb} {words[2]}"
    return f"{verb} {words[1]}"


def _postgres_schema(dsn: str) -> Iterator[str]:
    import psycopg
    from psycopg import sql

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    try:
        yield schema
    finally:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )


postgres_schema = contextmanager(_postgres_schema)


def _postgres_raw_book(
    dsn: str, schema: str, docs: Documents, count: int, cursor_factory: Any = None
) -> Any:
    import psycopg
    from psycopg import sql

    from subscriptions.adapters.postgres import PostgresStore

    PostgresStore(dsn, schema=schema).close()  # the schema, by the store's migrations
    connection = psycopg.connect(dsn)
    if cursor_factory is not None:
        connection.cursor_factory = cursor_factory
    connection.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
    connection.commit()
    accounts, subs = _raw_rows(docs, count, lambda value: value)
    with connection.cursor() as cursor:
        cursor.executemany("INSERT INTO accounts (id, version, doc) VALUES (%s, %s, %s)", accounts)
        cursor.executemany(
            "INSERT INTO subscriptions (id, account_id, version, due_at, doc) "
            "VALUES (%s, %s, %s, %s, %s)",
            subs,
        )
    connection.commit()
    return connection


def raw_postgres(dsn: str, docs: Documents, count: int, batch_size: int) -> float:
    with postgres_schema(dsn) as schema:
        connection = _postgres_raw_book(dsn, schema, docs, count)
        try:
            return _raw_run(_PostgresRaw(connection), docs, count, batch_size)
        finally:
            connection.close()


# -- the store -------------------------------------------------------------------------


def run_sqlite(folder: Path, count: int, batch_size: int) -> tuple[float, float]:
    from subscriptions.adapters.sqlite import SQLiteStore

    store = SQLiteStore(folder / "bench.sqlite3")
    try:
        started = time.perf_counter()
        seed(store, count)
        seeded = time.perf_counter() - started
        return timed_bill(store, count, batch_size), seeded
    finally:
        store.close()


def run_postgres(dsn: str, count: int, batch_size: int) -> tuple[float, float]:
    from subscriptions.adapters.postgres import PostgresStore

    with postgres_schema(dsn) as schema:
        store = PostgresStore(dsn, schema=schema)
        try:
            started = time.perf_counter()
            seed(store, count)
            seeded = time.perf_counter() - started
            return timed_bill(store, count, batch_size), seeded
        finally:
            store.close()


def run_postgres_workers(dsn: str, count: int, batch_size: int, workers: int) -> float:
    """``workers`` processes run the bill run at once over one seeded book."""
    from subscriptions.adapters.postgres import PostgresStore

    with postgres_schema(dsn) as schema:
        with PostgresStore(dsn, schema=schema) as store:
            seed(store, count)
        command = [
            sys.executable,
            __file__,
            "--worker",
            "--postgres-dsn",
            dsn,
            "--schema",
            schema,
            "--batch",
            str(batch_size),
        ]
        started = time.perf_counter()
        children = [
            subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(workers)
        ]
        renewed = 0
        for child in children:
            out, _ = child.communicate()
            if child.returncode != 0:
                raise SystemExit(f"a worker failed ({child.returncode})")
            renewed += int(json.loads(out.strip().splitlines()[-1])["renewed"])
        elapsed = time.perf_counter() - started
    if renewed != count:
        raise SystemExit(f"the {workers} workers renewed {renewed}, not {count}")
    return count / elapsed


def _worker(dsn: str, schema: str, batch_size: int) -> int:
    from subscriptions.adapters.postgres import PostgresStore

    with PostgresStore(dsn, schema=schema) as store:
        renewed = bill(store, batch_size)
    print(json.dumps({"renewed": renewed}))
    return 0


# -- counting statements on both sides ----------------------------------------------------


def _per_renewal(counts: Counter[str], count: int) -> dict[str, float]:
    return {kind: round(n / count, 3) for kind, n in sorted(counts.items()) if kind != "control"}


def sqlite_statements(
    folder: Path, count: int, batch_size: int
) -> tuple[dict[str, dict[str, float]], Documents]:
    """Statements per renewal of the store and of the raw baseline, by kind, and the
    documents of the sizes the store wrote."""
    from subscriptions.adapters.sqlite import SQLiteStore

    store_counts: Counter[str] = Counter()
    real_connect = SQLiteStore._connect

    def traced(self: SQLiteStore) -> sqlite3.Connection:
        connection = real_connect(self)
        connection.set_trace_callback(lambda text: store_counts.update([_kind(text)]))
        return connection

    store = SQLiteStore(folder / "counted.sqlite3")
    try:
        seed(store, count)
        store._idle.clear()  # new connections, traced
        SQLiteStore._connect = traced  # type: ignore[method-assign]
        bill(store, batch_size)
    finally:
        SQLiteStore._connect = real_connect  # type: ignore[method-assign]
        store.close()
    docs = store_documents(folder / "counted.sqlite3")
    raw_counts: Counter[str] = Counter()
    connection = _sqlite_raw_book(folder / "counted-raw.sqlite3", docs, count)
    connection.set_trace_callback(lambda text: raw_counts.update([_kind(text)]))
    try:
        _raw_run(_SQLiteRaw(connection), docs, count, batch_size)
    finally:
        connection.close()
    counts = {"store": _per_renewal(store_counts, count), "raw": _per_renewal(raw_counts, count)}
    return counts, docs


def postgres_statements(
    dsn: str, docs: Documents, count: int, batch_size: int
) -> dict[str, dict[str, float]]:
    from subscriptions.adapters.postgres import PostgresStore

    counting = _counting_cursor()
    with postgres_schema(dsn) as schema:
        with PostgresStore(dsn, schema=schema) as store:
            seed(store, count)
        real_configure = PostgresStore._configure

        def configure(self: PostgresStore, connection: Any) -> None:
            real_configure(self, connection)
            connection.cursor_factory = counting

        PostgresStore._configure = configure  # type: ignore[method-assign]
        try:
            with PostgresStore(dsn, schema=schema) as store:
                counting.counts.clear()
                bill(store, batch_size)
                store_counts = Counter(counting.counts)
        finally:
            PostgresStore._configure = real_configure  # type: ignore[method-assign]
    with postgres_schema(dsn) as schema:
        connection = _postgres_raw_book(dsn, schema, docs, count, cursor_factory=counting)
        try:
            counting.counts.clear()
            _raw_run(_PostgresRaw(connection), docs, count, batch_size)
            raw_counts = Counter(counting.counts)
        finally:
            connection.close()
    return {"store": _per_renewal(store_counts, count), "raw": _per_renewal(raw_counts, count)}


def _same(statements: dict[str, dict[str, float]], name: str) -> None:
    """The renewal's own statements must be the same on both sides; the run's few
    fixed ones (reconcile's look at what is in flight) are a rounding error."""
    store, raw = statements["store"], statements["raw"]
    for kind in sorted(set(store) | set(raw)):
        if abs(store.get(kind, 0) - raw.get(kind, 0)) > 0.01:
            raise SystemExit(
                f"{name}: the raw baseline does not issue the store's statements "
                f"({kind}: store {store.get(kind, 0)}, raw {raw.get(kind, 0)} per renewal)"
            )


# -- main ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print only the JSON object")
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=Settings().batch_size)
    parser.add_argument("--check-count", type=int, default=2_000, help="renewals counted")
    parser.add_argument("--postgres-dsn", default=os.environ.get("SUBSCRIPTIONS_TEST_POSTGRES_DSN"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--schema", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _worker(args.postgres_dsn, args.schema, args.batch)

    with tempfile.TemporaryDirectory(prefix="subscriptions-bench-") as tmp:
        folder = Path(tmp)
        counted, docs = sqlite_statements(folder, args.check_count, args.batch)
        statements = {"sqlite": counted}
        _same(statements["sqlite"], "SQLite")
        sqlite_rate, sqlite_seed = run_sqlite(folder, args.count, args.batch)
        raw_rate = raw_sqlite(folder / "raw.sqlite3", docs, args.count, args.batch)
    pg: dict[str, float | None] = dict.fromkeys(("rate", "seed", "workers", "raw"))
    if args.postgres_dsn:
        statements["postgres"] = postgres_statements(
            args.postgres_dsn, docs, args.check_count, args.batch
        )
        _same(statements["postgres"], "PostgreSQL")
        pg["rate"], pg["seed"] = run_postgres(args.postgres_dsn, args.count, args.batch)
        pg["workers"] = run_postgres_workers(args.postgres_dsn, args.count, args.batch, 2)
        pg["raw"] = raw_postgres(args.postgres_dsn, docs, args.count, args.batch)

    def rounded(value: float | None) -> int | None:
        return None if value is None else round(value)

    result: dict[str, Any] = {
        "count": args.count,
        "batch": args.batch,
        "sqlite_renewals_per_second": round(sqlite_rate),
        "sqlite_raw_renewals_per_second": round(raw_rate),
        "sqlite_share_of_raw": round(sqlite_rate / raw_rate, 3),
        "postgres_renewals_per_second": rounded(pg["rate"]),
        "postgres_2_workers_renewals_per_second": rounded(pg["workers"]),
        "postgres_raw_renewals_per_second": rounded(pg["raw"]),
        "postgres_share_of_raw": None
        if pg["rate"] is None or pg["raw"] is None
        else round(pg["rate"] / pg["raw"], 3),
        "postgres_2_workers_speedup": None
        if pg["rate"] is None or pg["workers"] is None
        else round(pg["workers"] / pg["rate"], 2),
        "statements_per_renewal": statements,
        "document_bytes": {
            table: len(doc) for table, doc in zip(_DOCUMENT_TABLES, astuple(docs), strict=True)
        },
        "seed_seconds": {
            "sqlite": round(sqlite_seed, 1),
            "postgres": None if pg["seed"] is None else round(pg["seed"], 1),
        },
        "python": sys.version.split()[0],
    }
    if not args.json:
        for key, value in result.items():
            print(f"{key:>40}: {value}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
