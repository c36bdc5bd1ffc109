"""Which book the command line works on, and which gateway moves its money.

A database is either a **simulation** or a real book, and says which: ``subscriptions
db init --simulation`` creates a simulation, and keeps the marker in the database (in
the command line's own ``cli_settings`` table), so that whoever opens it later knows.
Only a simulation takes the fake gateway (payments that move no money) and ``--now``
(a clock set by hand): on a real book, an invoice marked paid must have been paid, and
time is the real clock's. A database with no marker is a real book. A real book checks
VAT numbers with VIES (``$SUBSCRIPTIONS_VIES_URL`` overrides its address); a
simulation checks them offline, unless that variable names a service.

The gateway is ``--gateway fake|stripe`` (or ``$SUBSCRIPTIONS_GATEWAY``); the default
is the fake one on a simulation and Stripe on a real book. Stripe's secret key comes
from ``$STRIPE_API_KEY``, never from the command line (it would be in the shell's
history and the process list); ``$STRIPE_RETURN_URL`` is where 3-D Secure sends the
customer back; ``$STRIPE_API_BASE`` points the SDK at another server (a local test
server). The gateway is built at its first use, so a command that moves
no money needs no key; one that does, without it, fails with
:class:`~subscriptions.errors.GatewayMisconfigured` and charges nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
from dateutil.parser import isoparse

from ..errors import GatewayMisconfigured
from ..payments import ChargeRequest, PaymentResult, RefundRequest
from ..ports import PaymentGateway
from .settings import CliSettings

if TYPE_CHECKING:
    from ..adapters.vies import ViesVerifier

__all__ = [
    "BOOK_KEY",
    "GATEWAYS",
    "Book",
    "LazyGateway",
    "WiringError",
    "advance_clock",
    "check_clock",
    "choose_gateway",
    "init_book",
    "journal_for",
    "read_book",
    "simulation_clock",
    "vat_verifier",
]

#: The ``cli_settings`` key of the marker.
BOOK_KEY = "book"
GATEWAYS = ("fake", "stripe")
_SIMULATION_ONLY = (
    "create a simulation with 'subscriptions --db NEW_FILE db init --simulation' (a new "
    "database), or work on this one without it"
)


class WiringError(Exception):
    """The command line cannot be wired as asked (shown as a usage error)."""


@attrs.frozen(weakref_slot=False)
class Book:
    """What the database says of itself: whether it is a simulation, and a
    simulation's clock (the latest instant a command ran at with ``--now``)."""

    simulation: bool
    marked: bool
    clock: datetime | None = None


def read_book(settings: CliSettings) -> Book:
    doc = settings.get(BOOK_KEY)
    if doc is None:
        return Book(simulation=False, marked=False)
    clock = doc.get("clock")
    return Book(
        simulation=doc.get("simulation") is True,
        marked=True,
        clock=isoparse(clock) if isinstance(clock, str) else None,
    )


def simulation_clock(book: Book, asked: datetime | None, real: datetime) -> datetime | None:
    """The instant a command on a simulation runs at: ``asked`` (``--now``), never
    before the simulation's clock (time only moves forward); without ``--now``, the
    simulation's clock while it is ahead of the ``real`` one. ``None``: the real
    clock."""
    if asked is not None:
        if book.clock is not None and asked < book.clock:
            at = book.clock.isoformat()
            raise WiringError(
                f"this simulation's clock is at {at}, and time only moves forward: give "
                f"--now {at} or later, or leave --now out to act at that instant"
            )
        return asked
    if book.clock is not None and book.clock > real:
        return book.clock
    return None


def advance_clock(settings: CliSettings, book: Book, at: datetime) -> None:
    """Move a simulation's clock to ``at`` (after a command ran at it), never back."""
    if not book.simulation or (book.clock is not None and at <= book.clock):
        return
    doc = settings.get(BOOK_KEY) or {}
    settings.put_all({BOOK_KEY: {**doc, "clock": at.isoformat()}})


def journal_for(url: str) -> Path:
    """Where the fake gateway of the database at ``url`` keeps its records."""
    if url.startswith(("postgresql://", "postgres://")):
        return Path(os.environ.get("SUBSCRIPTIONS_GATEWAY_JOURNAL", "subscriptions-gateway.jsonl"))
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url
    return Path(f"{path}.gateway.jsonl")


def check_clock(book: Book, now: str | None) -> None:
    """``--now`` only on a simulation."""
    if now is not None and not book.simulation:
        raise WiringError(
            "--now (or $SUBSCRIPTIONS_NOW) sets the clock by hand, which only a simulation may "
            f"do; this database is a real book: {_SIMULATION_ONLY}"
        )


def choose_gateway(book: Book, asked: str | None, url: str) -> Callable[[], PaymentGateway]:
    """How to build the gateway asked for (``None``: the default for ``book``)."""
    name = (
        asked
        or os.environ.get("SUBSCRIPTIONS_GATEWAY")
        or ("fake" if book.simulation else "stripe")
    )
    if name not in GATEWAYS:
        raise WiringError(f"unknown gateway {name!r}; choose one of: {', '.join(GATEWAYS)}")
    if name == "fake":
        if not book.simulation:
            raise WiringError(
                "the fake gateway marks invoices paid with no money moved, which only a "
                f"simulation may do; this database is a real book: {_SIMULATION_ONLY}, or "
                "use --gateway stripe"
            )
        from ..adapters.fakes import FakeGateway

        return lambda: FakeGateway(journal=journal_for(url))
    return _stripe


def _stripe() -> PaymentGateway:
    # Raised at the first charge, refund or lookup: the Billing Center records the
    # attempt as not charged and the command fails with what to fix.
    key = os.environ.get("STRIPE_API_KEY")
    if not key:
        raise GatewayMisconfigured(
            "the Stripe gateway needs its secret key (sk_live_... or sk_test_...) in the "
            "environment, never on the command line",
            setting="$STRIPE_API_KEY",
        )
    try:
        import stripe

        from ..adapters.stripe import StripeGateway
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise GatewayMisconfigured(
            "the Stripe gateway needs its optional dependency",
            setting="the install (pip install 'subscriptions[stripe]')",
        ) from exc
    options: dict[str, Any] = {"max_network_retries": 2}
    base = os.environ.get("STRIPE_API_BASE")
    if base:
        options["base_addresses"] = {"api": base}
    return StripeGateway(
        stripe.StripeClient(key, **options), return_url=os.environ.get("STRIPE_RETURN_URL")
    )


def vat_verifier(book: Book, seller_vat_number: str | None) -> ViesVerifier | None:
    """The VAT-number verifier: VIES on a real book (``$SUBSCRIPTIONS_VIES_URL``
    overrides its address), none on a simulation (numbers are checked offline) unless
    ``$SUBSCRIPTIONS_VIES_URL`` names a service to ask."""
    url = os.environ.get("SUBSCRIPTIONS_VIES_URL")
    if book.simulation and not url:
        return None
    try:
        from ..adapters.vies import VIES_URL, ViesVerifier
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise WiringError(
            "checking VAT numbers with VIES needs its optional dependency: pip install "
            "'subscriptions[vies]'"
        ) from exc
    return ViesVerifier(requester=seller_vat_number, url=url or VIES_URL)


class LazyGateway:
    """The port, over a gateway built at the first call."""

    def __init__(self, build: Callable[[], PaymentGateway]) -> None:
        self._build = build
        self._gateway: PaymentGateway | None = None

    @property
    def gateway(self) -> PaymentGateway:
        if self._gateway is None:
            self._gateway = self._build()
        return self._gateway

    def charge(self, request: ChargeRequest) -> PaymentResult:
        return self.gateway.charge(request)

    def refund(self, request: RefundRequest) -> PaymentResult:
        return self.gateway.refund(request)

    def lookup(
        self, idempotency_key: str, *, request: ChargeRequest | RefundRequest | None = None
    ) -> PaymentResult | None:
        return self.gateway.lookup(idempotency_key, request=request)

    def key_of(self, charge_id: str) -> str | None:
        return self.gateway.key_of(charge_id)


def init_book(settings: CliSettings, *, simulation: bool, at: datetime, has_records: bool) -> Book:
    """Mark a database as a simulation or a real book (``db init``). A book keeps what
    it is: a real book never becomes a simulation, a simulation never a real book, and
    a database that already holds records without a marker is a real one."""
    book = read_book(settings)
    if book.marked:
        if book.simulation != simulation:
            what = "a simulation" if book.simulation else "a real book"
            raise WiringError(
                f"this database is already {what}, and stays so; use another database for "
                f"{'a real book' if book.simulation else 'a simulation'}"
            )
        return book
    if simulation and has_records:
        raise WiringError(
            "this database already holds records, so it is a real book and cannot become a "
            "simulation; create the simulation in a new database"
        )
    settings.put_all({BOOK_KEY: {"simulation": simulation, "created_at": at.isoformat()}})
    return Book(simulation=simulation, marked=True)
