"""What only the SQLite store promises: its file, its schema, its pragmas."""

from __future__ import annotations

import json
import multiprocessing
import shutil
import sqlite3
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from moneyed import Money

from subscriptions.accounts import Account
from subscriptions.adapters import codec
from subscriptions.adapters.migrations import LATEST, MIGRATIONS
from subscriptions.adapters.sqlite import (
    DatabaseConflict,
    DatabaseMissing,
    SchemaNotCurrent,
    SchemaTooNew,
    SQLiteStore,
    StorageError,
    migrate,
    migrate_schema,
    schema_version,
)
from subscriptions.cart import Cart
from subscriptions.cli.settings import CliSettings
from subscriptions.errors import ConcurrencyConflict, InvalidInput
from subscriptions.orders import (
    InvoiceStatus,
    IssuedInvoice,
    Order,
    OrderFailure,
    OrderState,
    Quote,
)
from subscriptions.payments import IN_FLIGHT
from subscriptions.ports import OutboxEntry
from subscriptions.seats import SeatAssignments
from subscriptions.subscription import Event, Subscription

from . import records as r

FIXTURE = Path(__file__).parent.parent / "fixtures" / "schema1.sqlite3"


@pytest.fixture(autouse=True)
def _fixture_is_there(request: pytest.FixtureRequest) -> None:
    if "fixture" in request.node.name and not FIXTURE.exists():
        pytest.fail(
            f"{FIXTURE} is missing: it must be committed (.gitignore ignores *.sqlite3, "
            "so add it with git add -f); python -m tests.fixtures.make_schema1 rewrites it"
        )


def connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def put_and_commit(store: SQLiteStore, seats: SeatAssignments) -> None:
    with store.unit_of_work() as uow:
        uow.seats.put(seats)
        uow.commit()


def fill(store: SQLiteStore) -> dict[str, Any]:
    it = r.italian_account()
    sub, invoice = r.subscribed(it)
    issued = r.issued_invoice(it, invoice, order_id=None)
    with store.unit_of_work() as uow:
        uow.accounts.add(it)
        uow.subscriptions.add(sub)
        assert r.number(uow, "INV") == 1
        uow.invoices.add(issued)
        uow.seats.put(r.seats(sub.id))
        uow.orders.add(r.order(it, "ord-1", state=OrderState.PENDING))
        uow.idempotency.put(it.id, "key", "ord-1")
        uow.commit()
    return {"account": it, "subscription": sub, "invoice": issued}


def test_a_reopened_file_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "billing.sqlite3"
    with SQLiteStore(path) as store:
        made = fill(store)
    with SQLiteStore(str(path)) as store, store.unit_of_work() as uow:
        assert uow.accounts.get("acc-it") == made["account"]
        assert uow.subscriptions.get(made["subscription"].id) == made["subscription"]
        assert uow.invoices.get(made["invoice"].id) == made["invoice"]
        assert uow.seats.get(made["subscription"].id) == r.seats(made["subscription"].id)
        assert uow.orders.unresolved() == ["ord-1"]
        assert uow.idempotency.get("acc-it", "key") == "ord-1"
        assert r.number(uow, "INV") == 2


def test_wal_foreign_keys_and_busy_timeout_are_on(tmp_path: Path) -> None:
    path = tmp_path / "billing.sqlite3"
    with SQLiteStore(path, timeout=2.5) as store:
        connection = store._checkout()
        try:
            assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            assert connection.execute("PRAGMA foreign_keys").fetchone() == (1,)
            assert connection.execute("PRAGMA busy_timeout").fetchone() == (2500,)
            assert connection.execute("PRAGMA synchronous").fetchone() == (2,)
            assert connection.execute("PRAGMA cache_size").fetchone() == (-64 * 1024,)
            assert connection.execute("PRAGMA wal_autocheckpoint").fetchone() == (10_000,)
            assert connection.execute("PRAGMA temp_store").fetchone() == (2,)  # memory
        finally:
            store._checkin(connection, broken=False)
    with SQLiteStore(path, cache_mb=8, checkpoint_pages=500) as store:
        connection = store._checkout()
        try:
            assert connection.execute("PRAGMA cache_size").fetchone() == (-8 * 1024,)
            assert connection.execute("PRAGMA wal_autocheckpoint").fetchone() == (500,)
        finally:
            store._checkin(connection, broken=False)
    for bad in ({"cache_mb": 0}, {"checkpoint_pages": -1}, {"cache_mb": True}):
        with pytest.raises(InvalidInput, match="whole number"):
            SQLiteStore(path, **bad)  # type: ignore[arg-type]
    # WAL is a property of the file: a plain connection sees it too.
    with connect(path) as plain:
        assert plain.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    plain.close()


def test_a_seat_assignment_needs_its_subscription(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "billing.sqlite3") as store:
        with pytest.raises(StorageError, match="FOREIGN KEY"):
            put_and_commit(store, SeatAssignments(subscription_id="nothing", seats=1))
        with store.unit_of_work() as uow:
            assert uow.seats.get("nothing") is None


def test_migrations_are_applied_on_open(tmp_path: Path) -> None:
    path = tmp_path / "billing.sqlite3"
    with SQLiteStore(path) as store:
        assert store.schema_version() == LATEST == len(MIGRATIONS)
    with connect(path) as plain:
        rows = plain.execute("SELECT version, name FROM schema_migrations ORDER BY version")
        assert [tuple(row) for row in rows] == [(m.version, m.name) for m in MIGRATIONS]
        columns = {row[1] for row in plain.execute("PRAGMA table_info(orders)")}
        assert "state" in columns
        indexes = {row[1] for row in plain.execute("PRAGMA index_list(orders)")}
        assert "orders_unresolved" in indexes
    plain.close()


def test_a_version_1_database_is_migrated_on_open(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    plain = connect(path)
    try:
        assert migrate(plain, target=1) == 1
        order = r.order(r.italian_account(), "ord-9", state=OrderState.UNKNOWN)
        plain.execute(
            "INSERT INTO orders (id, account_id, version, doc) VALUES (?, ?, ?, ?)",
            (order.id, order.account_id, order.version, r.first_schema_text(order)),
        )
    finally:
        plain.close()
    with SQLiteStore(path) as store:
        assert store.schema_version() == LATEST
        with store.unit_of_work() as uow:
            assert uow.orders.unresolved() == ["ord-9"]
            assert uow.orders.get("ord-9") == order
            # Migration 3 gave the unknown order the attempt the old code sent.
            healed = uow.attempts.get("order:ord-9")
            assert healed is not None
            assert (healed.state.value, healed.order_id) == ("unknown", "ord-9")
            assert healed.amount == order.amount_due.amount
            assert healed.lease_expired(order.updated_at)


def test_concurrent_opens_migrate_once(tmp_path: Path) -> None:
    path = tmp_path / "billing.sqlite3"
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def open_it() -> None:
        start.wait()
        try:
            with SQLiteStore(path) as store:
                assert store.schema_version() == LATEST
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with connect(path) as plain:
        assert plain.execute("SELECT count(*) FROM schema_migrations").fetchone() == (LATEST,)
    plain.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    with SQLiteStore(path):
        pass
    with connect(path) as plain:
        plain.execute(
            "INSERT INTO schema_migrations VALUES (?, 'from the future', '2030-01-01')",
            (LATEST + 1,),
        )
    plain.close()
    with pytest.raises(StorageError, match="newer than this library"):
        SQLiteStore(path)


def test_a_held_write_lock_times_out_as_a_conflict(tmp_path: Path) -> None:
    path = tmp_path / "billing.sqlite3"
    with SQLiteStore(path, timeout=0.1) as store:
        blocker = connect(path)
        try:
            blocker.execute("BEGIN IMMEDIATE")
            with pytest.raises(ConcurrencyConflict) as raised, store.unit_of_work() as uow:
                uow.accounts.get("acc-it")
            assert isinstance(raised.value, DatabaseConflict)
            assert isinstance(raised.value.__cause__, sqlite3.OperationalError)
            blocker.execute("ROLLBACK")
        finally:
            blocker.close()
        with store.unit_of_work() as uow:
            assert uow.accounts.get("acc-it") is None


def test_a_file_that_is_not_a_database_is_a_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.sqlite3"
    path.write_bytes(b"this is not an SQLite database" * 100)
    with pytest.raises(StorageError) as raised:
        SQLiteStore(path)
    assert isinstance(raised.value.__cause__, sqlite3.DatabaseError)


def test_a_database_in_memory_is_refused() -> None:
    with pytest.raises(InvalidInput, match="InMemoryStore"):
        SQLiteStore(":memory:")


def test_a_closed_store_is_refused(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "billing.sqlite3")
    store.close()
    with pytest.raises(StorageError, match="closed"):
        store.unit_of_work()


def _add_accounts(path: str, prefix: str, count: int) -> None:
    with SQLiteStore(path) as store:
        for n in range(count):
            account = r.italian_account(f"{prefix}-{n:03d}")
            with store.unit_of_work() as uow:
                uow.accounts.add(account)
                r.number(uow, "INV")
                uow.commit()


def test_several_processes_share_one_file(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    SQLiteStore(path).close()
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_add_accounts, args=(str(path), f"p{n}", 20)) for n in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0, 0, 0]
    with SQLiteStore(path) as store, store.unit_of_work() as uow:
        found = uow.accounts.get_many([f"p{p}-{n:03d}" for p in range(3) for n in range(20)])
        assert len(found) == 60
        # Every process took its numbers from one gapless series.
        assert r.number(uow, "INV") == 61


# -- the schema-1 fixture ---------------------------------------------------------------

_TABLES: dict[str, tuple[str, type]] = {
    "accounts": ("id", Account),
    "subscriptions": ("id", Subscription),
    "carts": ("account_id", Cart),
    "quotes": ("id", Quote),
    "orders": ("id", Order),
    "invoices": ("id", IssuedInvoice),
    "seats": ("subscription_id", SeatAssignments),
}


def _raw(path: Path) -> dict[str, dict[str, Any]]:
    plain = connect(path)
    try:
        assert plain.execute("SELECT max(version) FROM schema_migrations").fetchone() == (1,)
        raw = {
            table: {
                key: json.loads(doc) for key, doc in plain.execute(f"SELECT {k}, doc FROM {table}")
            }
            for table, (k, _) in _TABLES.items()
        }
        raw["outbox"] = {
            key: (json.loads(doc), sent)
            for key, doc, sent in plain.execute("SELECT id, doc, sent_at FROM outbox")
        }
        raw["events"] = {
            str(seq): (account, json.loads(doc))
            for seq, account, doc in plain.execute("SELECT seq, account_id, doc FROM events")
        }
    finally:
        plain.close()
    return raw


def _same(record: Any, document: dict[str, Any]) -> None:
    """``record`` is what ``document`` encodes, field for field (a field the class
    has dropped since is ignored; one it has gained takes its default)."""
    assert codec.decode(type(record), document) == record
    encoded = codec.encode(record)
    for key, value in document.items():
        if key in encoded:
            assert _written(encoded[key]) == _written(value), key
        else:
            # Left out now because it holds its default (None or empty).
            assert value in (None, [], ""), key


def _written(value: Any) -> Any:
    """``value`` without the keys of nested documents that hold None or nothing: what
    an earlier codec wrote for them, and the current one leaves out."""
    if isinstance(value, dict):
        return {k: _written(v) for k, v in value.items() if v not in (None, [], "")}
    if isinstance(value, list):
        return [_written(v) for v in value]
    return value


#: The amounts of orders and quotes that the first schema stored as decimal strings.
_MONEY_AMOUNTS = {"orders": ("amount_due",), "quotes": ("credit_applied", "amount_due")}


def _amounts_as_money(record: Any, table: str, document: dict[str, Any]) -> dict[str, Any]:
    """Check that migration 6 made each amount of ``record`` the ``Money`` its first-
    schema ``document`` held as a decimal string, and return the document as the
    current schema writes it."""
    currency = document["currency"]
    for name in _MONEY_AMOUNTS[table]:
        old = document[name]
        assert isinstance(old, str), (table, name)
        amount = getattr(record, name)
        assert isinstance(amount, Money), (table, name)
        assert amount == Money(Decimal(old), currency)
        assert str(amount.amount) == old  # exactly: exponent and trailing zeros kept
    names = _MONEY_AMOUNTS[table]
    return {**document, **{n: {"amount": document[n], "currency": currency} for n in names}}


def test_the_schema_1_fixture_opens_and_migrates_without_loss(tmp_path: Path) -> None:
    path = tmp_path / "schema1.sqlite3"
    shutil.copyfile(FIXTURE, path)
    raw = _raw(path)
    assert {table: len(rows) for table, rows in raw.items()} == {
        "accounts": 2,
        "subscriptions": 4,
        "carts": 1,
        "quotes": 2,
        "orders": 4,
        "invoices": 2,
        "seats": 1,
        "outbox": 2,
        "events": 3,
    }
    with SQLiteStore(path) as store:
        assert store.schema_version() == LATEST
        with store.unit_of_work() as uow:
            repositories = {
                "accounts": uow.accounts,
                "subscriptions": uow.subscriptions,
                "carts": uow.carts,
                "quotes": uow.quotes,
                "orders": uow.orders,
                "invoices": uow.invoices,
                "seats": uow.seats,
            }
            for table, rows in raw.items():
                if table in repositories:
                    for key, document in rows.items():
                        record = repositories[table].get(key)
                        assert record is not None, (table, key)
                        if table == "invoices" and document["status"] == "open":
                            # Migration 3 gave the open invoice the attempt in flight
                            # that the old code may have sent: it is being charged.
                            assert (record.status.value, record.attempts) == ("charging", 1)
                            assert record.version == document["version"] + 1
                            record = attrs.evolve(
                                record,
                                status=InvoiceStatus.OPEN,
                                attempts=0,
                                version=document["version"],
                            )
                        if table == "orders" and document["state"] == "failed":
                            # Migration 5 gave the failed order its typed failure (a
                            # failure without a code is a decline).
                            assert record.failure is OrderFailure.DECLINED
                            record = attrs.evolve(record, failure=None)
                        if table in _MONEY_AMOUNTS:
                            document = _amounts_as_money(record, table, document)
                        _same(record, document)
            healed = {
                a.idempotency_key: a for a in uow.attempts.with_state(tuple(IN_FLIGHT), limit=10)
            }
            assert {k: a.state.value for k, a in healed.items()} == {
                "invoice:inv-1:1": "pending",
                "order:ord-2": "pending",
                "order:ord-3": "unknown",
            }
            assert all(a.lease_until <= a.updated_at for a in healed.values())
            (pending,) = uow.outbox.pending(10)
            assert pending.id == "msg-2"
            _same(pending, raw["outbox"]["msg-2"][0])
            for account in ("acc-de", "acc-it"):
                expected = [
                    doc for _, (acc, doc) in sorted(raw["events"].items()) if acc == account
                ]
                events = uow.events.for_account(account)
                assert all(isinstance(e, Event) for e in events)
                same = ("kind", "at", "subscription_id", "product")
                assert [[codec.encode(e)[k] for k in same] for e in events] == [
                    [d[k] for k in same] for d in expected
                ]
                # Migration 5 typed what the first schema wrote as text.
                for event, document in zip(events, expected, strict=True):
                    assert "detail" not in codec.encode(event)
                    if document["kind"] == "subscription_changed":
                        assert event.change_kind is not None
                        assert event.change_timing is not None
                        typed = f"{event.change_kind.value}, {event.change_timing.value}"
                        assert typed == document["detail"]
                    else:
                        assert document["detail"] == ""
            # Migration 2 filled orders.state from the documents.
            assert uow.orders.unresolved() == ["ord-2", "ord-3"]
            assert uow.idempotency.get("acc-de", "key-ord-1") == "ord-1"
            assert [i.number for i in uow.invoices.for_account("acc-de")] == ["INV-000001"]
            # Migration 4 gave the configuration documents to the command line.
            assert CliSettings(str(path)).get("seller") == {
                "name": "Vendor S.r.l.",
                "series": "INV",
                "vat_number": "IT00743110157",
            }
            assert [s.id for s in uow.subscriptions.for_account("acc-it")] == [
                "acc-it:dunned",
                "acc-it:monitoring",
                "acc-it:trial",
            ]
            # A few values spelled out, independently of the codec.
            de = uow.accounts.get("acc-de")
            assert de is not None
            assert str(de.vat_number) == "DE136695976"
            assert de.vat_check is not None
            assert de.vat_check.checked_at.isoformat() == "2026-10-30T16:45:12.250000+01:00"
            invoice = uow.invoices.get("inv-1")
            assert invoice is not None
            assert invoice.taxes[0].treatment.value == "reverse_charge"
            # Migration 6 made the amounts of orders and quotes Money.
            quote = uow.quotes.get("quo-2")
            assert quote is not None
            assert (quote.credit_applied, quote.amount_due) == (
                Money("12.50", "EUR"),
                Money("2451.90", "EUR"),
            )
            assert quote.invoice is not None
            assert quote.total == Money(quote.invoice.total, "EUR")
            for order_id in raw["orders"]:
                order = uow.orders.get(order_id)
                assert order is not None
                assert order.amount_due == Money("183.00", "EUR")
            assert all(isinstance(line.amount, Decimal) for line in invoice.lines)
            assert sum(line.amount for line in invoice.lines) == invoice.subtotal
        with store.unit_of_work() as uow:
            # The migrated file is used as any other: numbers continue, states move.
            assert r.number(uow, "INV") == 3
            order = uow.orders.get("ord-2")
            assert order is not None
            uow.orders.update(attrs.evolve(order, state=OrderState.SUCCEEDED, version=1))
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.orders.unresolved() == ["ord-3"]
            assert uow.subscriptions.due(r.START.replace(year=2030), limit=10) == sorted(
                raw["subscriptions"]
            )


def test_the_schema_1_fixture_heals_on_the_first_reconcile(tmp_path: Path) -> None:
    """The old code charged renewals and orders without recording the attempt first:
    an open invoice or an order left pending may have been charged. After the upgrade,
    the first reconcile finds such a charge by its old key and records it; what was
    never charged fails (orders) or stays due (invoices)."""
    from moneyed import Money

    from subscriptions import BillingCenter, FakeGateway, ManualClock, Seller
    from subscriptions.payments import ChargeRequest

    path = tmp_path / "schema1.sqlite3"
    shutil.copyfile(FIXTURE, path)
    gateway = FakeGateway()
    with SQLiteStore(path) as store:
        with store.unit_of_work() as uow:
            invoice = uow.invoices.get("inv-1")
        assert invoice is not None
        # The old process charged invoice inv-1 under its key, then died.
        gateway.charge(
            ChargeRequest(
                idempotency_key="invoice:inv-1:1",
                amount=Money(invoice.amount_due, invoice.currency),
                payment_method="tok_visa",
                description="Invoice INV-000001",
            )
        )
        center = BillingCenter(
            catalog=r.catalog(),
            seller=Seller(
                name="Vendor S.r.l.",
                vat_number="IT00743110157",
                address=r.italian_account().address,
            ),
            store=store,
            gateway=gateway,
            clock=ManualClock(r.START.replace(year=2027)),
        )
        report = center.reconcile()
        assert {a.idempotency_key: a.state.value for a in report.resolved} == {
            "invoice:inv-1:1": "succeeded",
            "order:ord-2": "not_charged",
            "order:ord-3": "not_charged",
        }
        assert {o.id: o.state for o in report.orders} == {
            "ord-2": OrderState.FAILED,
            "ord-3": OrderState.FAILED,
        }
        with store.unit_of_work() as uow:
            healed = uow.invoices.get("inv-1")
        assert healed is not None
        assert healed.status is InvoiceStatus.PAID
        assert center.payment_review().in_flight == 0
        assert gateway.net_charged("EUR") == invoice.amount_due  # nothing charged twice
        assert len(gateway.charge_requests) == 1


def test_the_fixture_is_still_schema_1() -> None:
    """The committed file must stay what the first schema wrote."""
    plain = sqlite3.connect(f"file:{FIXTURE}?mode=ro", uri=True)
    try:
        assert plain.execute("SELECT version FROM schema_migrations").fetchall() == [(1,)]
        assert plain.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert FIXTURE.stat().st_size < 100_000
    finally:
        plain.close()


def test_outbox_entries_keep_their_instants(tmp_path: Path) -> None:
    entry = r.outbox_entry(r.italian_account(), "m-1", r.START)
    with SQLiteStore(tmp_path / "billing.sqlite3") as store:
        with store.unit_of_work() as uow:
            uow.outbox.add(entry)
            uow.commit()
        with store.unit_of_work() as uow:
            (back,) = uow.outbox.pending(1)
    assert back == entry
    assert back.created_at.tzinfo == entry.created_at.tzinfo
    assert isinstance(back, OutboxEntry)


def test_migration_1_still_writes_the_fixture_schema(tmp_path: Path) -> None:
    """A released migration is never edited: version 1 must still make exactly the
    tables and indexes the fixture has."""

    def schema(path: Path) -> list[tuple[str, str]]:
        plain = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = plain.execute(
                "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name"
            ).fetchall()
        finally:
            plain.close()
        return [(name, " ".join(sql.split())) for name, sql in rows]

    fresh = tmp_path / "fresh.sqlite3"
    plain = connect(fresh)
    try:
        migrate(plain, target=1)
    finally:
        plain.close()
    assert schema(fresh) == schema(FIXTURE)


# -- migrate=False: open only a database at the current schema ------------------------


def test_without_migrating_a_missing_file_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "missing.sqlite3"
    with pytest.raises(DatabaseMissing) as raised:
        SQLiteStore(path, migrate=False)
    assert str(raised.value) == (
        f"no database at {str(path)!r}; create it with `subscriptions db init` (or open "
        "the store with migrate=True)"
    )
    assert (raised.value.found, raised.value.expected) == (0, LATEST)
    with pytest.raises(DatabaseMissing):
        schema_version(path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("tables", [(), ("CREATE TABLE notes (id INTEGER PRIMARY KEY)",)])
def test_without_migrating_a_database_without_our_tables_is_refused_as_it_is(
    tmp_path: Path, tables: tuple[str, ...]
) -> None:
    path = tmp_path / "other.sqlite3"
    plain = connect(path)
    for statement in tables:
        plain.execute(statement)
    plain.close()
    before = path.read_bytes()
    assert schema_version(path) == 0
    with pytest.raises(SchemaNotCurrent) as raised:
        SQLiteStore(path, migrate=False)
    assert not isinstance(raised.value, DatabaseMissing)
    assert raised.value.found == 0
    assert "has no tables of subscriptions" in str(raised.value)
    assert "run `subscriptions db migrate`" in str(raised.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.sqlite3"]


def test_without_migrating_an_older_schema_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "schema1.sqlite3"
    shutil.copyfile(FIXTURE, path)
    before = path.read_bytes()
    with pytest.raises(SchemaNotCurrent) as raised:
        SQLiteStore(path, migrate=False)
    assert (raised.value.found, raised.value.expected) == (1, LATEST)
    assert str(raised.value) == (
        f"the SQLite database {str(path)!r} is at schema version 1, and this library "
        f"needs version {LATEST}; run `subscriptions db migrate` (or open the store with "
        "migrate=True) to migrate it"
    )
    assert path.read_bytes() == before
    assert schema_version(path) == 1
    assert path.read_bytes() == before
    # The explicit migration, then the same open works.
    assert migrate_schema(path) == (1, LATEST)
    assert migrate_schema(path) == (LATEST, LATEST)
    with SQLiteStore(path, migrate=False) as store:
        assert store.schema_version() == LATEST
        with store.unit_of_work() as uow:
            assert uow.accounts.get("acc-it") is not None


def test_without_migrating_a_current_database_reads_and_writes(tmp_path: Path) -> None:
    path = tmp_path / "billing.sqlite3"
    assert migrate_schema(path) == (0, LATEST)
    with SQLiteStore(path, migrate=False, timeout=5.0) as store:
        assert store.schema_version() == schema_version(path) == LATEST
        written = fill(store)
        # A unit of work in another thread, while this one runs, opens a connection of
        # its own (the same way) and waits for this one's lock.
        seen: list[Any] = []

        def other() -> None:
            with store.unit_of_work() as uow:
                seen.append(uow.subscriptions.get(written["subscription"].id))

        with store.unit_of_work() as first:
            assert first.accounts.get("acc-it") == written["account"]
            thread = threading.Thread(target=other)
            thread.start()
        thread.join(timeout=10)
        assert seen == [written["subscription"]]
    with SQLiteStore(path, migrate=False) as store, store.unit_of_work() as uow:
        assert uow.invoices.get(written["invoice"].id) == written["invoice"]


def test_without_migrating_the_open_waits_for_no_writer(tmp_path: Path) -> None:
    path = tmp_path / "billing.sqlite3"
    migrate_schema(path)
    writer = connect(path)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("INSERT INTO idempotency VALUES ('acct', 'k', 'v')")
        with SQLiteStore(path, migrate=False, timeout=0.0) as store:
            assert store.schema_version() == LATEST
        writer.execute("COMMIT")
    finally:
        writer.close()


def test_a_newer_schema_is_refused_whether_migrating_or_not(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    migrate_schema(path)
    with connect(path) as plain:
        plain.execute(
            "INSERT INTO schema_migrations VALUES (?, 'from the future', '2030-01-01')",
            (LATEST + 1,),
        )
    plain.close()
    assert schema_version(path) == LATEST + 1
    for migrating in (True, False):
        with pytest.raises(SchemaTooNew) as raised:
            SQLiteStore(path, migrate=migrating)
        assert (raised.value.found, raised.value.expected) == (LATEST + 1, LATEST)
        assert "upgrade subscriptions" in str(raised.value)
    with pytest.raises(SchemaTooNew):
        migrate_schema(path)
    assert schema_version(path) == LATEST + 1


def test_a_file_that_is_not_a_database_is_a_storage_error_without_migrating(
    tmp_path: Path,
) -> None:
    path = tmp_path / "garbage.sqlite3"
    path.write_bytes(b"this is not an SQLite database" * 100)
    for attempt in (lambda: SQLiteStore(path, migrate=False), lambda: schema_version(path)):
        with pytest.raises(StorageError) as raised:
            attempt()
        assert not isinstance(raised.value, SchemaNotCurrent)
        assert isinstance(raised.value.__cause__, sqlite3.DatabaseError)
