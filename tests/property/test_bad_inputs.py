"""Every public use case of the Billing Center, fed a bad value in any one of its
arguments, refuses it with a library error and leaves the store as it was.

A world (an account with a paid subscription, a seat assigned, a quote, an order and
an invoice, and a corporate account) is built once per store; each example picks a
use case, one of its arguments and a bad value for it (a wrong type, ``None``, a
blank, too long or control-character string, a huge int, a naive or out-of-range
datetime, a string where a list is expected, an unknown enum name, a float, a NaN or
infinite decimal) and checks that (a) only a ``SubscriptionsError`` is raised and
(b) every table of the store (every repository of the in-memory one), the gateway's
requests and the notifier's messages are exactly as before. The only accepted
"bad" value is ``None`` for an argument whose default is ``None``.

Runs on the in-memory store and SQLite, and on PostgreSQL when
``SUBSCRIPTIONS_TEST_POSTGRES_DSN`` is set.
"""

from __future__ import annotations

import copy
import os
import sqlite3
import tomllib
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from subscriptions.accounts import AccountKind, Address
from subscriptions.adapters.fakes import FakeGateway, InMemoryNotifier, ManualClock
from subscriptions.adapters.memory import InMemoryStore
from subscriptions.adapters.sqlite import SQLiteStore
from subscriptions.center import BillingCenter
from subscriptions.cli import DEMO_CATALOG
from subscriptions.documents import seller_and_catalog_from_dict
from subscriptions.errors import SubscriptionsError

DSN_VARIABLE = "SUBSCRIPTIONS_TEST_POSTGRES_DSN"
ROME = ZoneInfo("Europe/Rome")
START = datetime(2026, 11, 1, 9, 0, tzinfo=ROME)
ITALY = Address(line1="Via Po 2", city="Torino", postal_code="10123", country="IT")
# The demo's catalog and seller, read as the command line reads them.
SELLER, CATALOG = seller_and_catalog_from_dict(tomllib.loads(DEMO_CATALOG))


BAD_VALUES = st.one_of(
    st.sampled_from(
        [
            None,
            "",
            "   ",
            "x" * 65,
            "x" * 100_000,
            "a\x00b",
            "tab\tbed",
            "new\nline",
            b"bytes",
            True,
            0,
            -1,
            10**64,
            1.5,
            float("nan"),
            Decimal("NaN"),
            Decimal("Infinity"),
            Decimal("-0.001"),
            datetime(2026, 11, 1, 9, 0),  # naive
            datetime(9999, 12, 31, tzinfo=UTC),
            datetime(1, 1, 1, tzinfo=ZoneInfo("Asia/Tokyo")),  # before year 1 in UTC
            [None],
            [1, 2],
            {"a": 1},
        ]
    ),
    st.integers(min_value=2**63),
    st.text(max_size=3).map(lambda s: f" {s}\x7f"),
)


class World:
    """The ids of the records the use cases act on."""

    def __init__(self, center: BillingCenter, gateway: FakeGateway) -> None:
        self.center = center
        self.gateway = gateway
        account = center.open_account(
            name="Rossi S.r.l.",
            address=ITALY,
            timezone="Europe/Rome",
            locale="it_IT",
            currency="EUR",
            billing_contacts=["anna"],
            payment_method="tok_visa",
            account_id="acct-1",
        )
        self.account = account
        center.subscribe_now(account.id, "anna", "remote-support", seats=3)
        quote = center.quote(account.id, "anna")
        self.order = center.place_order(account.id, "anna", quote.id, idempotency_key="k1")
        center.assign_seats(account.id, "anna", "remote-support", ["ada"])
        self.invoice = center.invoices(account.id, "anna")[0].id
        center.subscribe_now(account.id, "anna", "monitoring")
        self.quote = center.quote(account.id, "anna").id
        corporate = center.open_account(
            name="Big S.p.A.",
            address=ITALY,
            timezone="Europe/Rome",
            locale="it_IT",
            currency="EUR",
            billing_contacts=["carla"],
            kind=AccountKind.CORPORATE,
            account_id="corp-1",
        )
        self.corporate = corporate.id


def _use_cases(w: World) -> dict[str, tuple[dict[str, Any], int, frozenset[str]]]:
    a, o = w.account.id, w.order.id
    opened = {
        "name": "New S.r.l.",
        "address": ITALY,
        "timezone": "Europe/Rome",
        "locale": "it_IT",
        "currency": "EUR",
        "billing_contacts": ["bob"],
        "kind": AccountKind.SELF_SERVICE,
        "payment_method": "tok_visa",
        "account_id": "acct-new",
    }
    sub = {"account_id": a, "user": "anna", "product": "remote-support"}
    item = {**sub, "plan": "standard", "seats": 2, "frequency": "monthly"}
    # Each use case: its valid arguments in order (the first ``positional`` of them
    # passed by position, under names of this table's choosing), and the ones whose
    # default is None.
    none = frozenset({"plan", "seats", "frequency", "payment_method", "account_id", "at"})
    return {
        "open_account": (opened, 0, frozenset({"payment_method", "account_id"})),
        "account": ({"account_id": a}, 1, frozenset()),
        "update_payment_method": ({"a": a, "u": "anna", "token": "tok_new"}, 3, frozenset()),
        "set_billing_contacts": ({"a": a, "u": "anna", "c": ["anna", "bob"]}, 3, frozenset()),
        "set_vat_number": ({"a": a, "u": "anna", "n": "IT02114460963"}, 3, frozenset({"n"})),
        "events": ({"account_id": a}, 1, frozenset()),
        "subscriptions": ({"account_id": a}, 1, frozenset()),
        "start_trial": ({**sub, "product": "monitoring", "plan": "basic", "seats": 1}, 3, none),
        "expire_trials": ({"at": START, "stop": None}, 0, frozenset({"at", "stop"})),
        "cart": ({"account_id": a}, 1, frozenset()),
        "add_to_cart": ({**item, "release": ["ada"]}, 3, none),
        "edit_cart_item": (
            {**item, "product": "monitoring", "plan": "basic", "release": []},
            3,
            none | {"release"},
        ),
        "remove_cart_item": ({**sub, "product": "monitoring"}, 3, frozenset()),
        "quote": ({"a": a, "u": "anna"}, 2, frozenset()),
        "staff_quote": ({"s": "staff", "a": w.corporate}, 2, frozenset()),
        "place_order": (
            {"a": a, "u": "anna", "q": w.quote, "idempotency_key": "k1"},
            3,
            frozenset({"payment_method"}),
        ),
        "confirm_payment": ({"a": a, "u": "anna", "p": o}, 3, frozenset()),
        "order": ({"a": a, "u": "anna", "o": o}, 3, frozenset()),
        "staff_place_corporate_order": (
            {
                "s": "staff",
                "a": w.corporate,
                "q": w.quote,
                "purchase_order": "PO 1",
                "due_days": 30,
                "idempotency_key": "k2",
            },
            3,
            frozenset(),
        ),
        "confirm_corporate_order": ({"a": w.corporate, "u": "carla", "o": o}, 3, frozenset()),
        "reconcile": ({"order_id": o, "stop": None}, 0, frozenset({"order_id", "stop"})),
        "resolve_payment": ({"k": f"order:{o}"}, 1, frozenset()),
        "assign_seats": ({**sub, "users": ["grace"]}, 4, frozenset()),
        "unassign_seats": ({**sub, "users": ["ada"]}, 4, frozenset()),
        "release_seats": ({**sub, "users": ["ada"]}, 4, frozenset()),
        "reassign_seat": ({**sub, "f": "ada", "t": "linus"}, 5, frozenset()),
        "seats": (sub, 3, frozenset()),
        "cancel": ({**sub, "timing": "immediate"}, 3, frozenset()),
        "reactivate": (sub, 3, frozenset()),
        "pay_invoice": (
            {"a": a, "u": "anna", "i": w.invoice, "idempotency_key": "k3"},
            3,
            frozenset(),
        ),
        "invoices": ({"a": a, "u": "anna"}, 2, frozenset()),
        "invoice": ({"a": a, "u": "anna", "i": w.invoice}, 3, frozenset()),
        "run_renewals": (
            {"at": START, "progress": None, "stop": None},
            0,
            frozenset({"at", "progress", "stop"}),
        ),
        "deliver_outbox": ({"limit": 10}, 0, frozenset()),
        "context": ({"account": w.account}, 1, frozenset()),
    }


#: The arguments that take a list of users, and those that take an enumeration's name.
LISTS = frozenset({"billing_contacts", "c", "users", "release"})
CHOICES = frozenset({"kind", "frequency", "timing"})
#: The arguments that are free text (up to 200 characters), not ids.
TEXTS = frozenset({"name", "purchase_order"})


def _call(center: BillingCenter, name: str, args: dict[str, Any], positional: int) -> Any:
    values = list(args.items())
    return getattr(center, name)(*(v for _, v in values[:positional]), **dict(values[positional:]))


# -- the stores and their contents ---------------------------------------------------


def _memory_rows(store: InMemoryStore) -> Any:
    return copy.deepcopy(store._data.tables)


def _sqlite_rows(path: Path) -> Any:
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: sorted(map(repr, db.execute(f'SELECT * FROM "{t}"'))) for t in tables}


def _postgres_rows(dsn: str, schema: str) -> Any:
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn, autocommit=True) as db:
        tables = [
            r[0]
            for r in db.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (schema,),
            )
        ]
        return {
            t: sorted(
                map(
                    repr,
                    db.execute(
                        sql.SQL("SELECT * FROM {}.{}").format(
                            sql.Identifier(schema), sql.Identifier(t)
                        )
                    ),
                )
            )
            for t in tables
        }


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def world(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[World, Callable[[], Any]]]:
    gateway = FakeGateway()
    notifier = InMemoryNotifier()
    schema = ""
    if request.param == "memory":
        store: Any = InMemoryStore()
        rows: Callable[[], Any] = lambda: _memory_rows(store)  # noqa: E731
    elif request.param == "sqlite":
        path = tmp_path / "inputs.sqlite3"
        store = SQLiteStore(path, timeout=5.0)
        rows = lambda: _sqlite_rows(path)  # noqa: E731
    else:
        dsn = os.environ.get(DSN_VARIABLE, "").strip()
        if not dsn:
            pytest.skip(f"set {DSN_VARIABLE} to run the PostgreSQL examples")
        from subscriptions.adapters.postgres import PostgresStore

        schema = f"test_inputs_{uuid.uuid4().hex[:10]}"
        store = PostgresStore(dsn, schema=schema, max_size=2, timeout=10.0)
        rows = lambda: _postgres_rows(dsn, schema)  # noqa: E731
    center = BillingCenter(
        catalog=CATALOG,
        seller=SELLER,
        store=store,
        gateway=gateway,
        clock=ManualClock(START),
        notifier=notifier,
        is_staff=lambda user: user == "staff",
    )
    w = World(center, gateway)

    def state() -> Any:
        return rows(), list(gateway.requests), list(notifier.sent)

    try:
        yield w, state
    finally:
        store.close()
        if schema:
            import psycopg
            from psycopg import sql

            with psycopg.connect(dsn, autocommit=True) as db:
                db.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                )


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), bad=BAD_VALUES)
def test_a_bad_argument_is_refused_and_changes_nothing(
    world: tuple[World, Callable[[], Any]], data: st.DataObject, bad: Any
) -> None:
    w, state = world
    cases = _use_cases(w)
    name = data.draw(st.sampled_from(sorted(cases)), label="use case")
    args, positional, optional = cases[name]
    argument = data.draw(st.sampled_from(sorted(args)), label="argument")
    if argument in LISTS:
        bad = data.draw(st.sampled_from([bad, "ada", {"ada": 1}]), label="for a list")
    elif argument in CHOICES:
        bad = data.draw(st.sampled_from([bad, "sometime", "MONTHLY"]), label="for a name")
    if bad is None and argument in optional:
        return  # the documented default
    if argument in TEXTS and bad == "x" * 65:
        return  # a name is text, not an id: 65 characters are fine
    args = {**args, argument: bad}
    before = state()
    try:
        _call(w.center, name, args, positional)
    except SubscriptionsError:
        pass
    else:
        pytest.fail(f"{name}({argument}={bad!r:.80}) was accepted")
    assert state() == before, f"{name}({argument}={bad!r:.80}) changed the store"
