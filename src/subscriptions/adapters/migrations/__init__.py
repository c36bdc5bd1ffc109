"""The storage schema, as numbered forward migrations for SQLite and PostgreSQL.

Both SQL stores apply the migrations they have not applied yet when they open a
database, in order and in one transaction (all or nothing), and record each in the
``schema_migrations`` table (version, name, when); concurrent openers wait for each
other (SQLite's write lock, a PostgreSQL advisory lock). Migrations only go forward: a
released migration is never edited or removed; a change is a new migration. A store
refuses to open a database whose schema is newer than the migrations it knows.

Every record is kept as a JSON document (:mod:`subscriptions.adapters.codec`: amounts as
decimal strings, instants with their offset) in a ``TEXT`` column (in PostgreSQL too:
reading and writing text is several times cheaper than ``JSONB``, and ``doc::jsonb``
still serves ad-hoc queries), next to the columns its queries need: ids,
``account_id``, the optimistic ``version``, and the instant a subscription is next due
(``due_at``: the earlier of its next automatic step and, when past due, its next
payment retry). Instants in columns are exact: microseconds since the Unix epoch (UTC)
in SQLite, ``timestamptz`` in PostgreSQL. No amount is ever a floating-point column.
Keys compare byte by byte (SQLite's default, ``COLLATE "C"`` in PostgreSQL), so ids
sort the same way in every store, whatever the database's locale.

1. The first schema: one table per repository, the invoice series counters, the
   idempotency keys (unique per scope), the outbox, the event log and the named
   configuration documents.
2. ``orders.state``, filled from the stored documents, with a partial index on the
   orders still ``pending``, ``unknown`` or ``requires_action`` (what the reconcile
   step looks for).
3. Payment attempts (:mod:`subscriptions.payments`): the ``attempts`` table, keyed
   by idempotency key, with a unique partial index that allows one attempt in flight per target
   (``attempts_in_flight``) and a small one of failed refunds; the instant each
   invoice series last issued a document (``invoice_series.issued_at``). Books
   written before attempts existed are healed: every open invoice with an amount due
   and every pending, unknown or 3-D Secure order gets the attempt in flight that the
   old code sent without recording, under the key it used (``invoice:{id}:{n}``,
   ``order:{id}``), its lease already over, so the first reconcile asks the gateway
   and records what it finds.

4. The named configuration documents (the catalog and seller the command line keeps)
   are no store's business: the ``config`` table becomes ``cli_settings``, which the
   command line reads and writes itself (:mod:`subscriptions.cli.settings`).

5. Events with typed fields: each stored event's text (``detail``) becomes the typed
   fields of its kind (order id, invoice number, failure code, payment key and amount,
   user ids, a plan change's kind and timing, when a trial or a cancellation ends); a
   reassigned seat becomes a ``seat_reassigned`` event. Each failed order gets its
   typed failure (declined, not charged, abandoned, quote changed) from its code.

6. Money at the edge of orders and quotes: each stored order's ``amount_due`` and each
   stored quote's ``credit_applied`` and ``amount_due``, a decimal string until now,
   becomes the codec's ``Money`` object (``{"amount": "183.00", "currency": "EUR"}``)
   in the document's own currency; the amount's text is kept as it was.

7. Outbox entries hold notices: whom a message is for (user ids) and the record it is
   written from (``{"notice": {"to": [...], "data": {"Confirmation": {...}}}}``), the
   message being written when it is delivered, by the host's renderer. Entries stored
   before keep the message written when it was posted (``{"message": {...}}``) and
   are delivered as they are, so no document changes: the step marks the books that
   an earlier version of the library, which cannot read a notice, must refuse.

A migration may have a data step besides its statements: a function over the open
transaction (:class:`MigrationDatabase`), written once for both databases.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import attrs

__all__ = ["IN_FLIGHT_PREDICATE", "LATEST", "MIGRATIONS", "Migration", "MigrationDatabase"]


class MigrationDatabase(Protocol):
    """The transaction a data step runs in; SQL with ``?`` placeholders."""

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    def instant(self, value: Any) -> Any:
        """An aware datetime as this database's instant column value."""
        ...


@attrs.frozen(kw_only=True, weakref_slot=False)
class Migration:
    """One schema step: the statements that make it, per database, and its data step."""

    version: int
    name: str
    sqlite: tuple[str, ...]
    postgres: tuple[str, ...]
    data: Callable[[MigrationDatabase], None] | None = None


_SQLITE_1 = (
    """CREATE TABLE accounts (
        id TEXT NOT NULL PRIMARY KEY,
        version INTEGER NOT NULL,
        doc TEXT NOT NULL
    )""",
    """CREATE TABLE subscriptions (
        id TEXT NOT NULL PRIMARY KEY,
        account_id TEXT,
        version INTEGER NOT NULL,
        due_at INTEGER,
        doc TEXT NOT NULL
    )""",
    "CREATE INDEX subscriptions_account ON subscriptions (account_id, id)",
    # Paging through due() walks this covering index in id order once per bill run.
    "CREATE INDEX subscriptions_due ON subscriptions (id, due_at)",
    """CREATE TABLE carts (
        account_id TEXT NOT NULL PRIMARY KEY,
        version INTEGER NOT NULL,
        doc TEXT NOT NULL
    )""",
    """CREATE TABLE quotes (
        id TEXT NOT NULL PRIMARY KEY,
        account_id TEXT NOT NULL,
        doc TEXT NOT NULL
    )""",
    """CREATE TABLE orders (
        id TEXT NOT NULL PRIMARY KEY,
        account_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        doc TEXT NOT NULL
    )""",
    "CREATE INDEX orders_account ON orders (account_id)",
    """CREATE TABLE invoices (
        id TEXT NOT NULL PRIMARY KEY,
        account_id TEXT NOT NULL,
        series TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        version INTEGER NOT NULL,
        doc TEXT NOT NULL,
        UNIQUE (series, sequence)
    )""",
    "CREATE INDEX invoices_account ON invoices (account_id, series, sequence)",
    """CREATE TABLE invoice_series (
        series TEXT NOT NULL PRIMARY KEY,
        last INTEGER NOT NULL CHECK (last >= 0)
    )""",
    """CREATE TABLE seats (
        subscription_id TEXT NOT NULL PRIMARY KEY
            REFERENCES subscriptions (id) DEFERRABLE INITIALLY DEFERRED,
        version INTEGER NOT NULL,
        doc TEXT NOT NULL
    )""",
    """CREATE TABLE idempotency (
        scope TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (scope, key)
    )""",
    """CREATE TABLE outbox (
        id TEXT NOT NULL PRIMARY KEY,
        created_at INTEGER NOT NULL,
        sent_at INTEGER,
        doc TEXT NOT NULL
    )""",
    "CREATE INDEX outbox_pending ON outbox (created_at, id) WHERE sent_at IS NULL",
    """CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        account_id TEXT NOT NULL,
        doc TEXT NOT NULL
    )""",
    "CREATE INDEX events_account ON events (account_id, seq)",
    """CREATE TABLE config (
        key TEXT NOT NULL PRIMARY KEY,
        doc TEXT NOT NULL
    )""",
)

_POSTGRES_1 = (
    """CREATE TABLE accounts (
        id TEXT COLLATE "C" PRIMARY KEY,
        version INTEGER NOT NULL,
        doc TEXT NOT NULL
    )""",
    """CREATE TABLE subscriptions (
        id TEXT COLLATE "C" PRIMARY KEY,
        account_id TEXT COLLATE "C",
        version INTEGER NOT NULL,
        due_at TIMESTAMPTZ,
        doc TEXT NOT NULL
    )""",
    "CREATE INDEX subscriptions_account ON subscriptions (account_id, id)",
    "CREATE INDEX subscriptions_due ON subscriptions (id, due_at)",
    """CREATE TABLE carts (
        account_id TEXT COLLATE "C" PRIMARY KEY,
        version INTEGER NOT NULL,
        doc TEXT NOT NULL
    )""",
    """CREATE TABLE quotes (
        id TEXT COLLATE "C" PRIMARY KEY,
        account_id TEXT COLLATE "C" NOT NULL,
        doc TEXT NOT NULL
    )""",
    """CREATE TABLE orders (
        id TEXT COLLATE "C" PRIMARY KEY,
        account_id TEXT COLLATE "C" NOT NULL,
        version INTEGER NOT NULL,
        doc TEXT NOT NULL
    )""",
    "CREATE INDEX orders_account ON orders (account_id)",
    """CREATE TABLE invoices (
        id TEXT COLLATE "C" PRIMARY KEY,
        account_id TEXT COLLATE "C" NOT NULL,
        series TEXT COLLATE "C" NOT NULL,
        sequence BIGINT NOT NULL,
        version INTEGER NOT NULL,
        doc TEXT NOT NULL,
        UNIQUE (series, sequence)
    )""",
    "CREATE INDEX invoices_account ON invoices (account_id, series, sequence)",
    """CREATE TABLE invoice_series (
        series TEXT COLLATE "C" PRIMARY KEY,
        last BIGINT NOT NULL CHECK (last >= 0)
    )""",
    """CREATE TABLE seats (
        subscription_id TEXT COLLATE "C" PRIMARY KEY
            REFERENCES subscriptions (id) DEFERRABLE INITIALLY DEFERRED,
        version INTEGER NOT NULL,
        doc TEXT NOT NULL
    )""",
    """CREATE TABLE idempotency (
        scope TEXT COLLATE "C" NOT NULL,
        key TEXT COLLATE "C" NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (scope, key)
    )""",
    """CREATE TABLE outbox (
        id TEXT COLLATE "C" PRIMARY KEY,
        created_at TIMESTAMPTZ NOT NULL,
        sent_at TIMESTAMPTZ,
        doc TEXT NOT NULL
    )""",
    "CREATE INDEX outbox_pending ON outbox (created_at, id) WHERE sent_at IS NULL",
    """CREATE TABLE events (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        account_id TEXT COLLATE "C" NOT NULL,
        doc TEXT NOT NULL
    )""",
    "CREATE INDEX events_account ON events (account_id, seq)",
    """CREATE TABLE config (
        key TEXT COLLATE "C" PRIMARY KEY,
        doc TEXT NOT NULL
    )""",
)

_UNRESOLVED_INDEX = (
    "CREATE INDEX orders_unresolved ON orders (id) "
    "WHERE state IN ('pending', 'unknown', 'requires_action')"
)

#: The states of a payment attempt in flight, as the ``attempts_in_flight`` index
#: and its queries spell them (constants, so that SQLite sees the index answers them).
IN_FLIGHT_PREDICATE = "state IN ('needs_review', 'pending', 'requires_action', 'unknown')"

_ATTEMPT_INDEXES = (
    f"CREATE UNIQUE INDEX attempts_in_flight ON attempts (target) WHERE {IN_FLIGHT_PREDICATE}",
    "CREATE INDEX attempts_failed ON attempts (target) WHERE state = 'failed'",
)


def _type_events(db: MigrationDatabase) -> None:
    from ._events import type_events, type_order_failures

    type_events(db)
    type_order_failures(db)


def _money_amounts(db: MigrationDatabase) -> None:
    from ._money import money_amounts

    money_amounts(db)


def _heal_in_flight(db: MigrationDatabase) -> None:
    from ._heal import heal_in_flight

    heal_in_flight(db)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(version=1, name="first schema", sqlite=_SQLITE_1, postgres=_POSTGRES_1),
    Migration(
        version=2,
        name="orders.state, with an index of unresolved orders",
        sqlite=(
            "ALTER TABLE orders ADD COLUMN state TEXT",
            "UPDATE orders SET state = json_extract(doc, '$.state')",
            _UNRESOLVED_INDEX,
        ),
        postgres=(
            "ALTER TABLE orders ADD COLUMN state TEXT",
            "UPDATE orders SET state = doc::jsonb ->> 'state'",
            "ALTER TABLE orders ALTER COLUMN state SET NOT NULL",
            _UNRESOLVED_INDEX,
        ),
    ),
    Migration(
        version=3,
        name="payment attempts, issue instants of invoice series",
        sqlite=(
            """CREATE TABLE attempts (
                key TEXT NOT NULL PRIMARY KEY,
                account_id TEXT NOT NULL,
                target TEXT NOT NULL,
                state TEXT NOT NULL,
                version INTEGER NOT NULL,
                doc TEXT NOT NULL
            )""",
            *_ATTEMPT_INDEXES,
            "ALTER TABLE invoice_series ADD COLUMN issued_at INTEGER",
        ),
        postgres=(
            """CREATE TABLE attempts (
                key TEXT COLLATE "C" PRIMARY KEY,
                account_id TEXT COLLATE "C" NOT NULL,
                target TEXT COLLATE "C" NOT NULL,
                state TEXT NOT NULL,
                version INTEGER NOT NULL,
                doc TEXT NOT NULL
            )""",
            *_ATTEMPT_INDEXES,
            "ALTER TABLE invoice_series ADD COLUMN issued_at TIMESTAMPTZ",
        ),
        data=_heal_in_flight,
    ),
    Migration(
        version=4,
        name="the named configuration documents pass to the command line",
        sqlite=("ALTER TABLE config RENAME TO cli_settings",),
        postgres=("ALTER TABLE config RENAME TO cli_settings",),
    ),
    Migration(
        version=5,
        name="events with typed fields, failed orders with a typed failure",
        sqlite=(),
        postgres=(),
        data=_type_events,
    ),
    Migration(
        version=6,
        name="the amounts of orders and quotes as money",
        sqlite=(),
        postgres=(),
        data=_money_amounts,
    ),
    Migration(
        version=7,
        name="outbox entries hold notices, written when delivered",
        sqlite=(),
        postgres=(),
    ),
)
"""Every migration, in order; ``MIGRATIONS[n - 1].version == n``."""

LATEST: int = MIGRATIONS[-1].version
"""The schema version this library writes."""
