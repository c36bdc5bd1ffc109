"""The command line's database commands: ``db init`` (a real book or a simulation),
``db migrate`` and ``db status``, the only commands that create or change a schema."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace
from typing import Any, TextIO

from ..errors import DatabaseMissing
from . import wiring
from .env import DEFAULT_DB, Env, UsageError, emit, sqlite_path
from .output import redacted_url

__all__ = ["db_admin", "db_init"]


def db_init(env: Env) -> None:
    """Create the tables (opening the store did) and mark what the database is."""
    if env.args.now is not None and not env.args.simulation:
        raise UsageError("--now sets the clock by hand, which only a simulation may do")
    with env.store.unit_of_work() as uow:
        has_records = bool(uow.subscriptions.page(limit=1) or uow.quotes.page(limit=1))
    has_records = has_records or env.saved.get("catalog") is not None
    try:
        book = wiring.init_book(
            env.saved,
            simulation=env.args.simulation,
            at=env.clock.now(),
            has_records=has_records,
        )
    except wiring.WiringError as exc:
        raise UsageError(str(exc)) from None
    what = "a simulation" if book.simulation else "a real book"
    emit(env, {"simulation": book.simulation}, lambda: f"{redacted_url(env.url)}: {what}\n")


def _schema(url: str) -> Any:
    """The adapter module of the database at ``url`` (its ``schema_version`` and
    ``migrate_schema``), and the address it takes."""
    if url.startswith(("postgresql://", "postgres://")):
        from ..adapters import postgres

        return postgres, url
    from ..adapters import sqlite

    return sqlite, sqlite_path(url)


def db_admin(args: SimpleNamespace, out: TextIO) -> None:
    """``db migrate`` and ``db status``: over the database itself, no store opened."""
    from ..adapters.migrations import LATEST

    url = args.db or os.environ.get("SUBSCRIPTIONS_DB") or DEFAULT_DB
    module, where = _schema(url)
    shown = redacted_url(url)
    if args.action == "migrate":
        found, now = module.migrate_schema(where)
        document: dict[str, Any] = {"database": shown, "from": found, "to": now}
        text = (
            f"{shown}: already at schema version {now}\n"
            if found == now
            else f"{shown}: migrated from schema version {found} to {now}\n"
        )
    else:
        try:
            version = module.schema_version(where)
        except DatabaseMissing:
            version = None
        state = (
            "missing"
            if version is None
            else "current"
            if version == LATEST
            else "newer"
            if version > LATEST
            else "old"
        )
        document = {"database": shown, "version": version, "expected": LATEST, "state": state}
        advice = {
            "missing": "create it with 'subscriptions db init [--simulation]'",
            "old": "run 'subscriptions db migrate'",
            "newer": "upgrade subscriptions to use it",
            "current": "ready",
        }[state]
        text = f"{shown}: schema version {version}, this library's {LATEST}: {advice}\n"
    out.write(json.dumps(document, indent=2) + "\n" if args.json else text)
