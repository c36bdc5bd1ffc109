"""The command line's database commands: ``db init`` (a real book or a simulation),
``db migrate`` and ``db status``, the only commands that create or change a schema."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any, TextIO

from ..errors import DatabaseMissing
from . import wiring
from .env import Env, UsageError, database_url, emit, sqlite_path
from .output import redacted_url
from .settings import CliSettings

__all__ = ["db_admin", "db_init"]


def db_init(env: Env) -> None:
    """Create the tables (opening the store did) and mark what the database is."""
    if env.args.now is not None and not env.args.simulation:
        raise UsageError(
            "--now (or $SUBSCRIPTIONS_NOW) sets the clock by hand, which only a simulation may do"
        )
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


def _kind(url: str) -> wiring.Book:
    """Whether the database at ``url`` (at the current schema) is a simulation."""
    return wiring.read_book(CliSettings(url))


def db_admin(args: SimpleNamespace, out: TextIO) -> None:
    """``db migrate`` and ``db status``: over the database itself, no store opened."""
    from ..adapters.migrations import LATEST

    url = database_url(args.db)
    module, where = _schema(url)
    shown = redacted_url(url)
    if args.action == "migrate":
        try:
            module.schema_version(where)
        except DatabaseMissing:
            raise UsageError(
                f"no database at {shown} to migrate; create one with 'subscriptions db init "
                "--simulation' (to try things out) or 'subscriptions db init' (a real book)"
            ) from None
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
        kind = _kind(url) if state == "current" else None
        document = {
            "database": shown,
            "version": version,
            "expected": LATEST,
            "state": state,
            "simulation": None if kind is None else kind.simulation,
        }
        advice = {
            "missing": "create it with 'subscriptions db init --simulation' (to try things "
            "out) or 'subscriptions db init' (a real book)",
            "old": "run 'subscriptions db migrate'",
            "newer": "upgrade subscriptions to use it",
            "current": "ready",
        }[state]
        if version is None:
            text = f"{shown}: no database there; {advice}\n"
        else:
            what = (
                "" if kind is None else ("a simulation, " if kind.simulation else "a real book, ")
            )
            text = f"{shown}: {what}schema version {version}, this library's {LATEST}: {advice}\n"
    out.write(json.dumps(document, indent=2) + "\n" if args.json else text)
