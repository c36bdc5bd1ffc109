"""What one command of the command line runs against: the database and its store, the
Billing Center wired for it (the book's gateway and VAT verifier, the clock), the
signals that stop it, and where its output goes."""

from __future__ import annotations

import json
import os
import signal
import sys
import tomllib
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from types import FrameType, SimpleNamespace
from typing import TYPE_CHECKING, Any, Protocol, TextIO
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from dateutil.parser import isoparse

from ..adapters.clock import SystemClock
from ..adapters.fakes import ManualClock
from ..adapters.notifiers import DirectoryNotifier, StreamNotifier
from ..center import BillingCenter
from ..documents import catalog_from_dict, seller_from_dict
from ..errors import DatabaseMissing, InvalidInput
from ..periods import ensure_aware
from ..ports import Clock, Notifier, Store
from . import wiring
from .output import Shown, jsonable, redacted_url
from .settings import CliSettings, staff_of

if TYPE_CHECKING:
    from ..adapters.vies import ViesVerifier

__all__ = [
    "DEFAULT_DB",
    "Env",
    "Interrupted",
    "Screen",
    "Signals",
    "UsageError",
    "database_url",
    "emit",
    "exit_status",
    "instant",
    "notifier_for",
    "open_store",
    "read_structured",
    "signal_name",
    "sqlite_path",
]

DEFAULT_DB = "subscriptions.sqlite3"


class UsageError(Exception):
    """A one-line error for the user; the command exits with status 2."""


class Interrupted(BaseException):
    """A second signal: stop at once."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class Signals:
    """SIGINT and SIGTERM while a command runs: the first one asks the command to
    stop at its next safe point (``stop()`` says so); a second one stops it at once."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except ValueError:  # not the main thread: leave the signals alone
                return

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            raise Interrupted(signum)
        self.received = signum

    def stop(self) -> bool:
        return self.received is not None


def exit_status(signum: int) -> int:
    return 128 + signum


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


# -- stores ------------------------------------------------------------------------


def open_store(url: str, *, migrate: bool = True) -> Store:
    """Open the store named by ``url``: a SQLite path (or ``sqlite:///path``), or a
    ``postgresql://`` URL (needs the ``postgres`` extra). With ``migrate=False`` only a
    database at the current schema opens: a missing one is never created, an old one
    never migrated (:class:`~subscriptions.errors.SchemaNotCurrent` says what to run)."""
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from ..adapters.postgres import PostgresStore
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise UsageError(
                "PostgreSQL needs the optional dependency: pip install 'subscriptions[postgres]'"
            ) from exc
        return _opened(lambda: PostgresStore(url, migrate=migrate), url)
    from ..adapters.sqlite import SQLiteStore

    return _opened(lambda: SQLiteStore(sqlite_path(url), migrate=migrate), url)


def database_url(given: str | None) -> str:
    """The database a command works on: ``--db`` (``given``), else
    ``$SUBSCRIPTIONS_DB``, else :data:`DEFAULT_DB`; an empty ``--db``, or a URL of a
    kind no store opens, is refused."""
    url = given if given is not None else os.environ.get("SUBSCRIPTIONS_DB") or DEFAULT_DB
    if not url.strip():
        raise UsageError("--db is empty; give a SQLite file or a postgresql:// URL")
    if "://" in url and urlsplit(url).scheme not in ("sqlite", "postgresql", "postgres"):
        raise UsageError(
            f"{redacted_url(url)} is not a database subscriptions opens; give a SQLite "
            "file (or sqlite:///path) or a postgresql:// URL"
        )
    return url


def sqlite_path(url: str) -> str:
    return url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url


def _opened(open_it: Callable[[], Store], url: str) -> Store:
    try:
        return open_it()
    except DatabaseMissing:
        raise UsageError(
            f"no database at {redacted_url(url)}; create one with 'subscriptions db init "
            "--simulation' (to try things out) or 'subscriptions db init' (a real book)"
        ) from None


# -- catalog and seller, kept in the database ----------------------------------------


def read_structured(path: str) -> dict[str, Any]:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    toml = path.endswith(".toml")
    try:
        data = tomllib.loads(raw.decode("utf-8")) if toml else json.loads(raw)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"{path} is not valid {'TOML' if path.endswith('.toml') else 'JSON'}: {exc}"
        ) from None
    if not isinstance(data, dict):
        raise UsageError(f"{path} must hold an object with 'seller' and 'products'")
    return data


class Screen(Protocol):
    """Where a command shows what it did to a person (never with ``--json``)."""

    def show(self, shown: Shown) -> None:
        """Write ``shown``: plain text where the output is not a terminal."""

    def shows_progress(self, as_json: bool) -> bool:
        """Whether :meth:`progress` draws anything (a person watching, no ``--json``):
        whether a total is worth counting for it."""

    def progress(
        self, what: str, total: int | None
    ) -> AbstractContextManager[Callable[[int], None]]:
        """A progress display for a long job: the callable it gives is told how many
        are done; ``total`` (when known) gives the bar its end and an estimate of the
        time left."""


class Env:
    """What one command runs against: the store, the center, the clock, the output.

    ``args`` holds the command's parameters and the global options, by name."""

    def __init__(
        self, args: SimpleNamespace, out: TextIO, signals: Signals, screen: Screen
    ) -> None:
        self.args = args
        self.out = out
        self.signals = signals
        self.screen = screen
        self.url = database_url(args.db)
        # Only 'db init' and 'db migrate' create or migrate a database.
        self.store = open_store(self.url, migrate=args.command == "db")
        self.saved = CliSettings(self.url)
        self.book = wiring.read_book(self.saved)
        initialising = args.command == "db"
        try:
            #: The instant ``--now`` asked for, which the simulation's clock moves to
            #: once the command has run (:meth:`ran`).
            self.asked = instant(args.now, option="--now") if args.now else None
            if not initialising:
                wiring.check_clock(self.book, args.now)
            at = wiring.simulation_clock(self.book, self.asked, SystemClock().now())
            build = wiring.choose_gateway(
                wiring.Book(simulation=True, marked=True) if initialising else self.book,
                args.gateway,
                self.url,
            )
        except (wiring.WiringError, UsageError) as exc:
            self.store.close()
            raise UsageError(str(exc)) from None
        self.clock: Clock = SystemClock() if at is None else ManualClock(at)
        self.gateway = wiring.LazyGateway(build)
        self.notifier = notifier_for(getattr(args, "messages", None))
        self.verifier: ViesVerifier | None = None
        self._center: BillingCenter | None = None

    def center(self) -> BillingCenter:
        if self._center is None:
            catalog_doc = self.saved.get("catalog")
            seller_doc = self.saved.get("seller")
            if catalog_doc is None or seller_doc is None:
                raise UsageError(
                    "no catalog in this database yet; load one with "
                    "'subscriptions catalog load FILE.toml'"
                )
            seller = seller_from_dict(seller_doc)
            try:
                self.verifier = wiring.vat_verifier(self.book, seller.vat_number)
            except wiring.WiringError as exc:
                raise UsageError(str(exc)) from None
            self._center = BillingCenter(
                catalog=catalog_from_dict(catalog_doc),
                seller=seller,
                store=self.store,
                gateway=self.gateway,
                clock=self.clock,
                notifier=self.notifier,
                vat_verifier=self.verifier,
                # The staff as 'staff add' named them, read when a staff use case asks.
                is_staff=lambda user: user in staff_of(self.saved),
            )
        return self._center

    def ran(self) -> None:
        """The command has run: a simulation's clock moves to its ``--now``."""
        if self.asked is not None:
            wiring.advance_clock(self.saved, wiring.read_book(self.saved), self.asked)

    def close(self) -> None:
        if self.verifier is not None:
            self.verifier.close()
        self.store.close()


def notifier_for(destination: str | None) -> Notifier | None:
    """Where the messages go: ``--messages`` (or ``$SUBSCRIPTIONS_MESSAGES``), a folder
    of email files or ``stderr``; with neither, nowhere: they wait in the outbox, never
    marked sent, until a command is given a destination (``subscriptions messages
    deliver --messages DIR``)."""
    destination = destination or os.environ.get("SUBSCRIPTIONS_MESSAGES") or None
    if destination is None:
        return None
    if destination == "stderr":
        return StreamNotifier(sys.stderr)
    try:
        return DirectoryNotifier(destination)
    except (InvalidInput, OSError) as exc:
        raise UsageError(f"--messages {destination!r}: {exc}") from None


def instant(text: str, *, option: str = "the instant") -> datetime:
    """``text`` (the value of ``option``) as an aware instant: ISO 8601 with its time
    and UTC offset."""
    like = "write it with its time and UTC offset, like 2026-11-27T09:00:00+01:00"
    try:
        value = isoparse(text)
    except ValueError:
        raise UsageError(f"{option} {text!r} is not an ISO 8601 instant; {like}") from None
    if value.tzinfo is None:
        raise UsageError(f"{option} {text!r} has no UTC offset; {like}")
    try:
        return ensure_aware(value, what=option)
    except InvalidInput as exc:
        raise UsageError(str(exc)) from None


# -- output --------------------------------------------------------------------------


def emit(env: Env, value: Any, human: Callable[[], Shown], *, zone: ZoneInfo | None = None) -> None:
    """Print ``value`` as JSON with ``--json`` (instants in ``zone``, the account's),
    else show what ``human()`` makes of it."""
    if env.args.json:
        document = jsonable(value, zone=zone)
        env.out.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    else:
        env.screen.show(human())
