"""Benchmark of the bill run through durable storage.

Run ``python benchmarks/storage.py --json``; the last line printed is one JSON object:

* ``sqlite_renewals_per_second``: 100,000 due monthly subscriptions (one per
  account) renewed through ``BillingCenter.run_renewals`` on a ``SQLiteStore`` file,
  charged through the fake gateway, every invoice written and committed;
* ``postgres_renewals_per_second``: the same on ``PostgresStore`` (the server named by
  ``--postgres-dsn`` or ``SUBSCRIPTIONS_TEST_POSTGRES_DSN``, in a schema of its own that
  is dropped afterwards); ``null`` when no server is given;
* ``sqlite_raw_renewals_per_second``: bare ``sqlite3`` doing the same reads and writes
  per renewal (due query, batched reads of subscriptions and accounts, the optimistic
  subscription update, the invoice number, the invoice and its two events, then the
  invoice marked paid), in batches of the same size, with ready-made documents: what
  the database alone costs.

Seeding is not timed. Targets (issue 4): SQLite at least 5,000 renewals a second and at
least 25% of the raw figure; PostgreSQL at least 2,000 a second.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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


def bill(store: Store, count: int, batch_size: int) -> float:
    """Renewals per second of one bill run over the seeded store."""
    center = BillingCenter(
        catalog=CATALOG,
        seller=SELLER,
        store=store,
        gateway=FakeGateway(),
        clock=ManualClock(BILL_AT),
        settings=Settings(batch_size=batch_size),
    )
    started = time.perf_counter()
    report = center.run_renewals(BILL_AT)
    elapsed = time.perf_counter() - started
    if report.renewed != count or report.charged != count:
        raise SystemExit(f"expected {count} renewals, got {report}")
    return count / elapsed


def raw_sqlite(path: Path, count: int, batch_size: int) -> float:
    """The same reads and writes per renewal with bare sqlite3 and ready-made documents."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.executescript(
        """
        CREATE TABLE accounts (id TEXT PRIMARY KEY, version INTEGER NOT NULL, doc TEXT NOT NULL);
        CREATE TABLE subscriptions (id TEXT PRIMARY KEY, account_id TEXT, version INTEGER NOT NULL,
                                    due_at INTEGER, doc TEXT NOT NULL);
        CREATE INDEX subscriptions_due ON subscriptions (id, due_at);
        CREATE TABLE invoices (id TEXT PRIMARY KEY, account_id TEXT NOT NULL, series TEXT NOT NULL,
                               sequence INTEGER NOT NULL, version INTEGER NOT NULL,
                               doc TEXT NOT NULL, UNIQUE (series, sequence));
        CREATE TABLE invoice_series (series TEXT PRIMARY KEY, last INTEGER NOT NULL);
        CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, account_id TEXT NOT NULL,
                             doc TEXT NOT NULL);
        """
    )
    # Documents of the real sizes: a subscription with its open charge line, an account,
    # an invoice with one line and its VAT, an event.
    sub_doc = "x" * 1_300
    account_doc = "y" * 450
    invoice_doc = "z" * 1_400
    event_doc = "e" * 220
    due = int(BILL_AT.timestamp() * 1_000_000)
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO accounts VALUES (?, 0, ?)",
        ((f"acct{i:07d}", account_doc) for i in range(count)),
    )
    db.executemany(
        "INSERT INTO subscriptions VALUES (?, ?, 0, ?, ?)",
        ((f"sub_acct{i:07d}_app", f"acct{i:07d}", due - 1, sub_doc) for i in range(count)),
    )
    db.execute("COMMIT")

    started = time.perf_counter()
    after = ""
    renewed = 0
    while True:
        db.execute("BEGIN IMMEDIATE")
        ids = [
            row[0]
            for row in db.execute(
                "SELECT id FROM subscriptions WHERE id > ? AND due_at <= ? ORDER BY id LIMIT ?",
                (after, due, batch_size),
            )
        ]
        if not ids:
            db.execute("COMMIT")
            break
        after = ids[-1]
        marks = ",".join("?" * len(ids))
        subs = db.execute(
            f"SELECT id, version, account_id, doc FROM subscriptions WHERE id IN ({marks})", ids
        ).fetchall()
        accounts = [s[2] for s in subs]
        db.execute(f"SELECT id, doc FROM accounts WHERE id IN ({marks})", accounts).fetchall()
        invoices = []
        for sub_id, version, account_id, _doc in subs:
            changed = db.execute(
                "UPDATE subscriptions SET version = ?, due_at = ?, doc = ? "
                "WHERE id = ? AND version = ?",
                (version + 1, due + 1, sub_doc, sub_id, version),
            ).rowcount
            assert changed == 1
            (number,) = db.execute(
                "INSERT INTO invoice_series (series, last) VALUES ('INV', 1) "
                "ON CONFLICT (series) DO UPDATE SET last = invoice_series.last + 1 "
                "RETURNING last"
            ).fetchone()
            invoice_id = uuid.uuid4().hex
            db.execute(
                "INSERT INTO invoices VALUES (?, ?, 'INV', ?, 0, ?)",
                (invoice_id, account_id, number, invoice_doc),
            )
            db.executemany(
                "INSERT INTO events (account_id, doc) VALUES (?, ?)",
                ((account_id, event_doc), (account_id, event_doc)),
            )
            invoices.append(invoice_id)
        db.execute("COMMIT")
        db.execute("BEGIN IMMEDIATE")
        db.execute(f"SELECT id, doc FROM subscriptions WHERE id IN ({marks})", ids).fetchall()
        db.execute(
            f"SELECT id, doc FROM invoices WHERE id IN ({','.join('?' * len(invoices))})",
            invoices,
        ).fetchall()
        for invoice_id in invoices:
            db.execute(
                "UPDATE invoices SET version = 1, doc = ? WHERE id = ? AND version = 0",
                (invoice_doc, invoice_id),
            )
        db.execute("COMMIT")
        renewed += len(ids)
    elapsed = time.perf_counter() - started
    db.close()
    assert renewed == count
    return count / elapsed


def run_sqlite(folder: Path, count: int, batch_size: int) -> tuple[float, float]:
    from subscriptions.sqlite import SQLiteStore

    store = SQLiteStore(folder / "bench.sqlite3")
    try:
        started = time.perf_counter()
        seed(store, count)
        seeded = time.perf_counter() - started
        return bill(store, count, batch_size), seeded
    finally:
        store.close()


def run_postgres(dsn: str, count: int, batch_size: int) -> tuple[float, float]:
    import psycopg
    from psycopg import sql

    from subscriptions.postgres import PostgresStore

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    store = PostgresStore(dsn, schema=schema)
    try:
        started = time.perf_counter()
        seed(store, count)
        seeded = time.perf_counter() - started
        return bill(store, count, batch_size), seeded
    finally:
        store.close()
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print only the JSON object")
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=Settings().batch_size)
    parser.add_argument("--postgres-dsn", default=os.environ.get("SUBSCRIPTIONS_TEST_POSTGRES_DSN"))
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="subscriptions-bench-") as tmp:
        folder = Path(tmp)
        sqlite_rate, sqlite_seed = run_sqlite(folder, args.count, args.batch)
        raw_rate = raw_sqlite(folder / "raw.sqlite3", args.count, args.batch)
    postgres_rate: float | None = None
    postgres_seed: float | None = None
    if args.postgres_dsn:
        postgres_rate, postgres_seed = run_postgres(args.postgres_dsn, args.count, args.batch)
    result: dict[str, Any] = {
        "count": args.count,
        "batch": args.batch,
        "sqlite_renewals_per_second": round(sqlite_rate),
        "sqlite_raw_renewals_per_second": round(raw_rate),
        "sqlite_share_of_raw": round(sqlite_rate / raw_rate, 3),
        "postgres_renewals_per_second": None if postgres_rate is None else round(postgres_rate),
        "seed_seconds": {
            "sqlite": round(sqlite_seed, 1),
            "postgres": None if postgres_seed is None else round(postgres_seed, 1),
        },
        "python": sys.version.split()[0],
    }
    if not args.json:
        for key, value in result.items():
            print(f"{key:>32}: {value}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
