"""What the command line keeps of its own in the database: the catalog and the seller.

A host application passes its catalog and seller to :class:`~subscriptions.BillingCenter`
in code; the command line has no code of the operator's, so ``catalog load`` saves them
in the database it works on, in a table of its own (``cli_settings``: a key and a JSON
document), which every later command reads. The stores know nothing of it: this
repository opens its own connection to the same database (the SQLite file, or the
PostgreSQL URL), one short transaction per call.
"""

from __future__ import annotations

import json
import os
import sqlite3
from typing import Any
from urllib.parse import quote

from ..errors import InvalidInput, StorageError

__all__ = ["CliSettings"]

_TABLE = """CREATE TABLE IF NOT EXISTS cli_settings (
    key TEXT NOT NULL PRIMARY KEY,
    doc TEXT NOT NULL
)"""


class CliSettings:
    """Named JSON documents in ``cli_settings`` of the database at ``url`` (a SQLite
    path or a ``postgresql://`` URL); the last :meth:`put` of a key wins."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._postgres = url.startswith(("postgresql://", "postgres://"))

    def get(self, key: str) -> dict[str, Any] | None:
        """The document saved under ``key``, or ``None``."""
        rows = self._run("SELECT doc FROM cli_settings WHERE key = ?", (key,), write=False)
        if not rows:
            return None
        value: dict[str, Any] = json.loads(rows[0][0])
        return value

    def put_all(self, documents: dict[str, dict[str, Any]]) -> None:
        """Save every document (key to JSON object) in one transaction."""
        for key, value in documents.items():
            self._check(key, value)
        rows = [(k, json.dumps(v, separators=(",", ":"))) for k, v in documents.items()]
        self._run(
            "INSERT INTO cli_settings (key, doc) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET doc = excluded.doc",
            rows,
            write=True,
        )

    @staticmethod
    def _check(key: str, value: object) -> None:
        if not isinstance(key, str) or not key:
            raise InvalidInput(f"a setting's key is a non-empty string, not {key!r}")
        if not isinstance(value, dict):
            raise InvalidInput(f"setting {key!r} must be a JSON object")

    def _run(self, sql: str, params: Any, *, write: bool) -> list[Any]:
        if self._postgres:
            return self._run_postgres(sql.replace("?", "%s"), params, write=write)
        return self._run_sqlite(sql, params, write=write)

    def _run_sqlite(self, sql: str, params: Any, *, write: bool) -> list[Any]:
        path = self.url.removeprefix("sqlite:///")
        if not write and not os.path.exists(path):
            return []  # nothing saved in a database that does not exist (none is made)
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
            connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            if write:
                connection.execute(_TABLE)
                connection.executemany(sql, params)
                rows: list[Any] = []
            else:
                rows = _sqlite_rows(connection, sql, params)
            connection.execute("COMMIT")
            return rows
        except sqlite3.Error as exc:
            raise StorageError(
                f"cannot read or save the catalog in SQLite database {path!r}: {exc}; check "
                "that it is a database this library wrote and that it is writable"
            ) from exc
        finally:
            connection.close()

    def _run_postgres(self, sql: str, params: Any, *, write: bool) -> list[Any]:
        import psycopg

        try:
            with psycopg.connect(self.url, connect_timeout=10) as connection:
                if write:
                    connection.execute(_TABLE)
                    with connection.cursor() as cursor:
                        cursor.executemany(sql, params)
                    return []
                exists = connection.execute(
                    "SELECT to_regclass('cli_settings') IS NOT NULL"
                ).fetchone()
                if not exists or not exists[0]:
                    return []
                return connection.execute(sql, params).fetchall()
        except psycopg.Error as exc:
            raise StorageError(
                f"cannot read or save the catalog in the PostgreSQL database: {exc}; check "
                "the database URL and that its role may create and write tables"
            ) from exc


def _sqlite_rows(connection: sqlite3.Connection, sql: str, params: Any) -> list[Any]:
    try:
        return connection.execute(sql, params).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
