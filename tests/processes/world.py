"""A small billing world shared by a test and the child processes it starts."""

from __future__ import annotations

import os
import signal
from datetime import datetime
from typing import Any

from subscriptions import (
    Address,
    BillingCenter,
    Catalog,
    FakeGateway,
    InMemoryNotifier,
    ManualClock,
    Plan,
    Price,
    Product,
    Seller,
    Settings,
)
from subscriptions.ports import ChargeRequest, PaymentResult, Store

START = "2026-11-02T09:00:00+01:00"
CONTACT = "anna"

CATALOG = Catalog(
    products=[
        Product(
            id="remote-support",
            name="Remote Support",
            trial_days=14,
            plans=[
                Plan(
                    id="standard",
                    name="Standard",
                    rank=1,
                    prices=[Price(currency="EUR", frequency="monthly", amount="30.00")],
                ),
                Plan(
                    id="premium",
                    name="Premium",
                    rank=2,
                    prices=[Price(currency="EUR", frequency="monthly", amount="50.00")],
                ),
            ],
        )
    ]
)
SELLER = Seller(
    name="Vendor S.r.l.",
    vat_number="IT00743110157",
    address=Address(line1="Via Roma 1", city="Milano", postal_code="20121", country="IT"),
)


def open_store(spec: str, *, timeout: float | None = None) -> Store:
    """``sqlite:PATH`` or ``postgres:SCHEMA@DSN``."""
    kind, _, rest = spec.partition(":")
    if kind == "sqlite":
        from subscriptions.adapters.sqlite import SQLiteStore

        return SQLiteStore(rest, timeout=timeout or 30.0)
    schema, _, dsn = rest.partition("@")
    from subscriptions.adapters.postgres import PostgresStore

    return PostgresStore(dsn, schema=schema, timeout=timeout or 30.0)


def close(store: Store) -> None:
    closer: Any = getattr(store, "close", None)
    if closer is not None:
        closer()


class CrashingGateway(FakeGateway):
    """A journaled fake gateway that kills its own process at a chosen point."""

    def __init__(self, journal: str, crash: str | None) -> None:
        super().__init__(
            handler=self._before if crash == "before_charge" else None, journal=journal
        )
        self.crash = crash

    def _before(self, request: ChargeRequest) -> PaymentResult:
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")

    def charge(self, request: ChargeRequest) -> PaymentResult:
        result = super().charge(request)
        if self.crash == "after_charge":
            os.kill(os.getpid(), signal.SIGKILL)
        return result


class CrashingNotifier(InMemoryNotifier):
    def __init__(self, crash: bool) -> None:
        super().__init__()
        self.crash = crash

    def send(self, message: Any) -> None:
        if self.crash:
            os.kill(os.getpid(), signal.SIGKILL)
        super().send(message)


def center(
    store: Store,
    journal: str,
    *,
    now: str = START,
    crash: str | None = None,
    batch_size: int | None = None,
) -> BillingCenter:
    return BillingCenter(
        catalog=CATALOG,
        seller=SELLER,
        store=store,
        gateway=CrashingGateway(journal, crash),
        clock=ManualClock(datetime.fromisoformat(now)),
        notifier=CrashingNotifier(crash == "before_message"),
        settings=Settings(batch_size=batch_size or Settings().batch_size),
    )
