"""The command line's own settings table: documents by key, last write wins."""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path

import pytest

from subscriptions.adapters.sqlite import SQLiteStore
from subscriptions.cli.settings import CliSettings, staff_of
from subscriptions.errors import InvalidInput, StorageError

DSN = os.environ.get("SUBSCRIPTIONS_TEST_POSTGRES_DSN")


def _round_trip(settings: CliSettings) -> None:
    assert settings.get("catalog") is None
    settings.put_all({"catalog": {"products": [], "n": 1}, "seller": {"name": "Vendor"}})
    got = settings.get("catalog")
    assert got == {"products": [], "n": 1}
    assert got is not None
    got["n"] = 2  # a copy: the saved document does not change
    assert settings.get("catalog") == {"products": [], "n": 1}
    settings.put_all({"catalog": {"n": 3}})
    assert settings.get("catalog") == {"n": 3}
    assert settings.get("seller") == {"name": "Vendor"}
    _updates(settings)


def _updates(settings: CliSettings) -> None:
    """update: read and written in one transaction; nothing saved when it raises."""
    assert settings.update("staff", lambda doc: {"users": [*(doc or {}).get("users", []), "a"]})
    settings.update("staff", lambda doc: {"users": [*(doc or {})["users"], "b"]})
    assert staff_of(settings) == {"a", "b"}

    def refuse(doc: object) -> dict[str, object]:
        raise InvalidInput("no")

    with pytest.raises(InvalidInput):
        settings.update("staff", refuse)
    with pytest.raises(InvalidInput):
        settings.update("staff", lambda doc: "not an object")  # type: ignore[arg-type,return-value]
    assert settings.get("staff") == {"users": ["a", "b"]}

    # Concurrent updates of one document never lose one.
    def add_many(prefix: str) -> None:
        mine = CliSettings(settings.url)
        for i in range(15):
            user = f"{prefix}{i}"
            mine.update("staff", lambda doc, user=user: {"users": [*(doc or {})["users"], user]})

    threads = [threading.Thread(target=add_many, args=(p,)) for p in ("x", "y")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(staff_of(settings)) == 2 + 30


def test_sqlite_settings_round_trip_beside_the_store(tmp_path: Path) -> None:
    path = tmp_path / "book.sqlite3"
    with SQLiteStore(path):
        _round_trip(CliSettings(str(path)))
        _round_trip(CliSettings(f"sqlite:///{tmp_path / 'other.sqlite3'}"))


def test_bad_settings_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    settings = CliSettings(str(tmp_path / "book.sqlite3"))
    with pytest.raises(InvalidInput):
        settings.put_all({"catalog": {"n": 1}, "seller": "not an object"})  # type: ignore[dict-item]
    assert settings.get("catalog") is None


def test_an_unreadable_database_is_a_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError):
        CliSettings(str(path)).get("catalog")


@pytest.mark.skipif(DSN is None, reason="set SUBSCRIPTIONS_TEST_POSTGRES_DSN to run it")
def test_postgres_settings_round_trip() -> None:
    import psycopg

    assert DSN is not None
    schema = f"cli_settings_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(DSN, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        joiner = "&" if "?" in DSN else "?"
        _round_trip(CliSettings(f"{DSN}{joiner}options=-csearch_path%3D{schema}"))
    finally:
        with psycopg.connect(DSN, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.mark.parametrize(
    "doc", [None, {}, {"users": "sam"}, {"users": {"sam": True}}, {"users": ["sam", 7, None]}]
)
def test_staff_saved_in_any_other_shape_than_a_list_of_ids_is_no_one(
    tmp_path: Path, doc: dict[str, object] | None
) -> None:
    settings = CliSettings(str(tmp_path / "book.sqlite3"))
    if doc is not None:
        settings.put_all({"staff": doc})
    expected = {"sam"} if doc == {"users": ["sam", 7, None]} else set()
    assert staff_of(settings) == expected
