"""Stores for the contract suite: every test runs against each storage adapter.

``store`` is an :class:`InMemoryStore`, an :class:`SQLiteStore` on a file in
``tmp_path``, or a :class:`PostgresStore` on a schema of its own (``test_<hex>``,
dropped after the test) in the database named by ``SUBSCRIPTIONS_TEST_POSTGRES_DSN``.
Without that variable the PostgreSQL runs are skipped, unless ``CI=true``: there
they must run, so they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from subscriptions.adapters.memory import InMemoryStore
from subscriptions.adapters.sqlite import SQLiteStore
from tests.gateways.stripe_support import localstripe_or_skip

DSN_VARIABLE = "SUBSCRIPTIONS_TEST_POSTGRES_DSN"
SKIP_MESSAGE = f"set {DSN_VARIABLE}=postgresql://user@host:port/db to run the PostgreSQL tests"

#: One prefix per test run, so parallel runs never share a schema.
RUN = uuid.uuid4().hex[:10]


def postgres_dsn() -> str:
    """The DSN of the test server, or skip (fail on CI) when there is none."""
    dsn = os.environ.get(DSN_VARIABLE, "").strip()
    if not dsn:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{DSN_VARIABLE} is not set on CI; {SKIP_MESSAGE}", pytrace=False)
        pytest.skip(SKIP_MESSAGE)
    return dsn


def drop_schema(dsn: str, schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
        )


@pytest.fixture
def pg_schema() -> Iterator[tuple[str, str]]:
    """(dsn, schema): a fresh schema name for this test, dropped afterwards."""
    dsn = postgres_dsn()
    schema = f"test_{RUN}_{uuid.uuid4().hex[:8]}"
    try:
        yield dsn, schema
    finally:
        drop_schema(dsn, schema)


StoreFactory = Callable[[], Any]


def save(store: Any, *writes: Callable[[Any], None]) -> None:
    """Run ``writes`` in one unit of work of ``store`` and commit it."""
    with store.unit_of_work() as uow:
        for write in writes:
            write(uow)
        uow.commit()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def open_store(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[StoreFactory]:
    """Opens stores on one database for this test (all closed afterwards): for the
    in-memory backend every call gives the same store."""
    opened: list[Any] = []
    memory = InMemoryStore()
    if backend == "postgres":
        dsn, schema = request.getfixturevalue("pg_schema")

    def factory() -> Any:
        if backend == "memory":
            return memory
        if backend == "sqlite":
            store: Any = SQLiteStore(tmp_path / "contract.sqlite3", timeout=5.0)
        else:
            from subscriptions.adapters.postgres import PostgresStore

            store = PostgresStore(dsn, schema=schema, max_size=4, timeout=10.0)
        opened.append(store)
        return store

    try:
        yield factory
    finally:
        for store in opened:
            store.close()


@pytest.fixture
def store(open_store: StoreFactory) -> Any:
    return open_store()


@pytest.fixture(scope="session")
def localstripe_url() -> Iterator[str]:
    """The base URL of a localstripe started for the session (skipped without it,
    failing on CI): tests.gateways.localstripe_server, stopped by its pid."""
    yield from localstripe_or_skip()
