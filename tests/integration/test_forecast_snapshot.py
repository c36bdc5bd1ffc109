"""A forecast reads the book through one snapshot of the store: what commits while it
runs changes nothing in it, and its memory does not grow with the book.

Runs on the in-memory store, SQLite and PostgreSQL (``SUBSCRIPTIONS_TEST_POSTGRES_DSN``;
required on CI)."""

from __future__ import annotations

import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
import pytest
from conftest import ROME, buy, open_account
from tests.contract.conftest import drop_schema, postgres_dsn

from subscriptions import forecast
from subscriptions.adapters.fakes import FakeGateway, ManualClock
from subscriptions.adapters.memory import InMemoryStore
from subscriptions.adapters.sqlite import SQLiteStore
from subscriptions.catalog import Catalog
from subscriptions.center import BillingCenter
from subscriptions.orders import Seller
from subscriptions.outlook import Forecast

BOUGHT = datetime(2026, 11, 1, 9, 0, tzinfo=ROME)
AT = datetime(2026, 11, 20, 9, 0, tzinfo=ROME)


@pytest.fixture
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str], Any]]:
    """Opens a store of the kind asked for (each closed, a PostgreSQL schema dropped,
    after the test)."""
    opened: list[Any] = []
    schemas: list[tuple[str, str]] = []

    def factory(kind: str) -> Any:
        if kind == "memory":
            store: Any = InMemoryStore()
        elif kind == "sqlite":
            store = SQLiteStore(tmp_path / f"book-{len(opened)}.sqlite3", timeout=5.0)
        else:
            from subscriptions.adapters.postgres import PostgresStore

            dsn = postgres_dsn()
            schema = f"test_snapshot_{uuid.uuid4().hex[:10]}"
            schemas.append((dsn, schema))
            store = PostgresStore(dsn, schema=schema, max_size=3, timeout=10.0)
        opened.append(store)
        return store

    try:
        yield factory
    finally:
        for store in opened:
            store.close()
        for dsn, schema in schemas:
            drop_schema(dsn, schema)


def seeded(store: Any, catalog: Catalog, seller: Seller, count: int, *, first: int = 0) -> None:
    """``count`` accounts with a monthly Monitoring subscription each (three seats, so
    30.00 a month, bought on 1 November): one bought through the Billing Center, the
    others its copies under new ids, ``sub-<first>`` onwards."""
    center = BillingCenter(
        catalog=catalog, seller=seller, store=store, gateway=FakeGateway(),
        clock=ManualClock(BOUGHT),
    )  # fmt: skip
    model_id = f"model-{first}"
    open_account(center, account_id=model_id)
    buy(center, model_id, "monitoring", seats=3)
    with store.unit_of_work() as uow:
        account = uow.accounts.get(model_id)
        (sub,) = uow.subscriptions.for_account(model_id)
    for start in range(first, first + count - 1, 200):
        with store.unit_of_work() as uow:
            for n in range(start, min(start + 200, first + count - 1)):
                copy = attrs.evolve(account, id=f"acc-{n:05d}")
                uow.accounts.add(copy)
                uow.subscriptions.add(attrs.evolve(sub, id=f"sub-{n:05d}", account_id=copy.id))
            uow.commit()


class _WritesMeanwhile:
    """A store whose units of work (snapshots or not), once one has read its first
    page of subscriptions, let ``write`` commit once, in units of work of its own: a
    bill run or a checkout committing while a forecast runs."""

    def __init__(self, store: Any, write: Callable[[Any], None]) -> None:
        self._store = store
        self._write: Callable[[Any], None] | None = write

    def _once(self) -> None:
        write, self._write = self._write, None
        if write is not None:
            write(self._store)

    def unit_of_work(self) -> Any:
        return _Hooked(self._store.unit_of_work(), self._once)

    def snapshot(self) -> Any:
        return _Hooked(self._store.snapshot(), self._once)

    def close(self) -> None:
        self._store.close()


class _Hooked:
    def __init__(self, uow: Any, hook: Callable[[], None]) -> None:
        self._uow = uow
        self.subscriptions = _PageThen(uow.subscriptions, hook)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._uow, name)

    def __enter__(self) -> _Hooked:
        self._uow.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._uow.__exit__(*exc)


class _PageThen:
    def __init__(self, subscriptions: Any, hook: Callable[[], None]) -> None:
        self._subscriptions = subscriptions
        self._hook = hook

    def __getattr__(self, name: str) -> Any:
        return getattr(self._subscriptions, name)

    def page(self, **kwargs: Any) -> Any:
        found = self._subscriptions.page(**kwargs)
        self._hook()
        return found


def _invoices(made: Forecast) -> int:
    return sum(line.invoices for line in made.lines)


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgres"])
def test_what_commits_while_a_forecast_runs_changes_nothing_in_it(
    kind: str, open_store: Callable[[str], Any], catalog: Catalog, seller: Seller
) -> None:
    store = open_store(kind)
    seeded(store, catalog, seller, 1_100)  # three pages of 500

    def checkout_meanwhile(target: Any) -> None:
        # (From 20 November: the renewals of 1 December and 1 January.)
        # A later page gains 300 subscriptions, and one already there two more seats.
        seeded(target, catalog, seller, 300, first=50_000)
        with target.unit_of_work() as uow:
            sub = uow.subscriptions.get("sub-00900")
            terms = attrs.evolve(sub.terms, seats=5)
            uow.subscriptions.update(attrs.evolve(sub, terms=terms, version=sub.version + 1))
            uow.commit()

    before = forecast(store, catalog=catalog, seller=seller, months=3, at=AT)
    assert _invoices(before) == 1_100 * 2
    meanwhile = _WritesMeanwhile(store, checkout_meanwhile)
    during = forecast(meanwhile, catalog=catalog, seller=seller, months=3, at=AT)
    assert meanwhile._write is None  # it did write, while the forecast ran
    assert during == before
    after = forecast(store, catalog=catalog, seller=seller, months=3, at=AT)
    assert _invoices(after) == 1_400 * 2
    assert after.totals["EUR"].net == before.totals["EUR"].net + (300 * 30 + 20) * 2


def _peak_bytes(store: Any, catalog: Catalog, seller: Seller) -> int:
    tracemalloc.start()
    try:
        forecast(store, catalog=catalog, seller=seller, months=3, at=AT)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_forecast_takes_the_memory_of_a_page_however_big_the_book(
    kind: str, open_store: Callable[[str], Any], catalog: Catalog, seller: Seller
) -> None:
    """The snapshot keeps none of the records it returns: a book four times as big
    (two pages, then five) takes no more memory to forecast."""
    small, big = open_store(kind), open_store(kind)
    seeded(small, catalog, seller, 600)
    seeded(big, catalog, seller, 2_400)
    _peak_bytes(small, catalog, seller)  # caches (statements, contexts) warmed
    _peak_bytes(big, catalog, seller)
    assert _peak_bytes(big, catalog, seller) < 1.5 * _peak_bytes(small, catalog, seller)
