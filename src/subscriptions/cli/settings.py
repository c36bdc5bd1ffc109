"""What the command line keeps of its own in the database: the catalog and the seller,
and the vendor's staff.

A host application passes its catalog, seller and staff check to
:class:`~subscriptions.BillingCenter` in code; the command line has no code of the
operator's, so ``catalog load`` saves the catalog and seller in the database it works
on, and ``staff add`` and ``staff remove`` the user ids of the vendor's staff, in a
table of its own (``cli_settings``: a key and a JSON document), which every later
command reads. The stores know nothing of it: this repository opens its own
connection to the same database (the SQLite file, or the PostgreSQL URL), one short
transaction per call.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

from ..errors import InvalidInput, StorageError

__all__ = ["STAFF_KEY", "CliSettings", "staff_in", "staff_of"]

#: The ``cli_settings`` key of the vendor's staff: ``{"users": [user ids]}``.
STAFF_KEY = "staff"

_TABLE = """CREATE TABLE IF NOT EXISTS cli_settings (
    key TEXT NOT NULL PRIMARY KEY,
    doc TEXT NOT NULL
)"""
_SELECT = "SELECT doc FROM cli_settings WHERE key = ?"
_UPSERT = (
    "INSERT INTO cli_settings (key, doc) VALUES (?, ?) "
    "ON CONFLICT (key) DO UPDATE SET doc = excluded.doc"
)

_T = TypeVar("_T")
#: Runs one statement (``?`` placeholders) in the open transaction: its rows.
_Run = Callable[[str, tuple[Any, ...]], list[Any]]


class CliSettings:
    """Named JSON documents in ``cli_settings`` of the database at ``url`` (a SQLite
    path or a ``postgresql://`` URL); the last :meth:`put_all` of a key wins, and
    :meth:`update` changes one without losing a concurrent update."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._postgres = url.startswith(("postgresql://", "postgres://"))

    def get(self, key: str) -> dict[str, Any] | None:
        """The document saved under ``key``, or ``None``."""
        rows = self._transaction(lambda run: run(_SELECT, (key,)), write=False)
        if not rows:
            return None
        value: dict[str, Any] = json.loads(rows[0][0])
        return value

    def put_all(self, documents: dict[str, dict[str, Any]]) -> None:
        """Save every document (key to JSON object) in one transaction."""
        for key, value in documents.items():
            self._check(key, value)
        rows = [(k, json.dumps(v, separators=(",", ":"))) for k, v in documents.items()]

        def save(run: _Run) -> None:
            for row in rows:
                run(_UPSERT, row)

        self._transaction(save, write=True)

    def update(
        self, key: str, change: Callable[[dict[str, Any] | None], dict[str, Any]]
    ) -> dict[str, Any]:
        """Save what ``change`` makes of the document under ``key`` (``None`` when
        there is none yet), read and written in one transaction that holds off the
        other updates: two commands changing one document (adding and removing staff)
        never lose either change. Nothing is saved if ``change`` raises."""

        def work(run: _Run) -> dict[str, Any]:
            rows = run(_SELECT, (key,))
            value = change(json.loads(rows[0][0]) if rows else None)
            self._check(key, value)
            run(_UPSERT, (key, json.dumps(value, separators=(",", ":"))))
            return value

        return self._transaction(work, write=True, exclusive=True)

    @staticmethod
    def _check(key: str, value: object) -> None:
        if not isinstance(key, str) or not key:
            raise InvalidInput(f"a setting's key is a non-empty string, not {key!r}")
        if not isinstance(value, dict):
            raise InvalidInput(f"setting {key!r} must be a JSON object")

    def _transaction(
        self, work: Callable[[_Run], _T], *, write: bool, exclusive: bool = False
    ) -> _T:
        if self._postgres:
            return self._postgres_transaction(work, write=write, exclusive=exclusive)
        return self._sqlite_transaction(work, write=write)

    def _sqlite_transaction(self, work: Callable[[_Run], _T], *, write: bool) -> _T:
        path = self.url.removeprefix("sqlite:///")
        if not write and not os.path.exists(path):
            # Nothing saved in a database that does not exist (and none is made).
            return work(lambda sql, params: [])
        try:
            # A read never creates the file (a missing database reads as empty).
            target = path if write else f"file:{quote(path)}?mode=ro"
            connection = sqlite3.connect(target, timeout=30, isolation_level=None, uri=not write)
        except sqlite3.Error as exc:
            raise StorageError(
                f"cannot open SQLite database {path!r}: {exc}; check the path given with "
                "--db (or $SUBSCRIPTIONS_DB)"
            ) from exc
        try:
            # A write takes the write lock first: what it reads stays so until it commits.
            connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            if write:
                connection.execute(_TABLE)
            result = work(lambda sql, params: _sqlite_rows(connection, sql, params))
            connection.execute("COMMIT")
            return result
        except sqlite3.Error as exc:
            raise StorageError(
                f"cannot read or save the command line's settings in SQLite database "
                f"{path!r}: {exc}; check that it is a database this library wrote and that "
                "it is writable"
            ) from exc
        finally:
            connection.close()  # rolls back what was not committed

    def _postgres_transaction(
        self, work: Callable[[_Run], _T], *, write: bool, exclusive: bool
    ) -> _T:
        import psycopg

        try:
            # One transaction, committed when the block ends and rolled back if it raises.
            with psycopg.connect(self.url, connect_timeout=10) as connection:

                def run(sql: str, params: tuple[Any, ...]) -> list[Any]:
                    cursor = connection.execute(sql.replace("?", "%s"), params)
                    return cursor.fetchall() if cursor.description is not None else []

                if write:
                    connection.execute(_TABLE)
                    if exclusive:
                        # Updates of the settings wait for each other (reads do not).
                        connection.execute("LOCK TABLE cli_settings IN SHARE ROW EXCLUSIVE MODE")
                    return work(run)
                exists = connection.execute(
                    "SELECT to_regclass('cli_settings') IS NOT NULL"
                ).fetchone()
                if not exists or not exists[0]:
                    return work(lambda sql, params: [])
                return work(run)
        except psycopg.Error as exc:
            raise StorageError(
                f"cannot read or save the command line's settings in the PostgreSQL "
                f"database: {exc}; check the database URL and that its role may create and "
                "write tables"
            ) from exc


def staff_of(settings: CliSettings) -> frozenset[str]:
    """The user ids of the vendor's staff saved in ``settings``."""
    return staff_in(settings.get(STAFF_KEY))


def staff_in(doc: dict[str, Any] | None) -> frozenset[str]:
    """The user ids of the staff document ``doc`` (none when nothing was saved, or what
    was saved is not a list of ids: no one is staff by accident)."""
    users = None if doc is None else doc.get("users")
    if not isinstance(users, list):
        return frozenset()
    return frozenset(user for user in users if isinstance(user, str))


def _sqlite_rows(connection: sqlite3.Connection, sql: str, params: Any) -> list[Any]:
    try:
        return connection.execute(sql, params).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
