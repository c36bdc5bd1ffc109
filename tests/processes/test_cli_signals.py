"""Ctrl-C (SIGINT) and SIGTERM in the command line: the bill run stops after the charge
being sent, records every outcome, prints one line and exits with 130 or 143; nothing
is left in flight, and running it again finishes the job, charging nobody twice."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from subscriptions import Account, BillingContext, InvoiceStatus, Subscribe, Terms, apply
from subscriptions.adapters.fakes import FakeGateway, ManualClock
from subscriptions.adapters.sqlite import SQLiteStore
from subscriptions.center import BillingCenter
from subscriptions.cli import DEMO_CATALOG, main
from subscriptions.documents import catalog_from_dict
from subscriptions.pricing import Customer, TaxSetup
from tests.processes.world import SELLER

START = datetime(2025, 3, 3, 9, tzinfo=UTC)
BILL_AT = "2025-04-03T10:00:00+00:00"
COUNT = 400


def _book(tmp_path: Path) -> Path:
    db = tmp_path / "billing.sqlite3"
    catalog_file = tmp_path / "catalog.toml"
    catalog_file.write_text(DEMO_CATALOG, encoding="utf-8")
    assert main(["--db", str(db), "db", "init", "--simulation"]) == 0
    assert main(["--db", str(db), "catalog", "load", str(catalog_file)]) == 0
    data = tomllib.loads(DEMO_CATALOG)
    data.pop("seller")
    catalog = catalog_from_dict(data)
    context = BillingContext(
        catalog=catalog,
        currency="EUR",
        tz="Europe/Rome",
        tax=TaxSetup(seller_country="IT", customer=Customer(country="IT")),
    )
    with SQLiteStore(db) as store, store.unit_of_work() as uow:
        for i in range(COUNT):
            account_id = f"acct{i:05d}"
            uow.accounts.add(
                Account(
                    id=account_id,
                    name=f"Customer {i}",
                    address=SELLER.address,
                    timezone="Europe/Rome",
                    locale="it_IT",
                    currency="EUR",
                    billing_contacts=frozenset({"anna"}),
                    payment_method="tok_visa",
                )
            )
            outcome = apply(
                None,
                Subscribe(
                    terms=Terms(
                        product="remote-support", plan="standard", seats=1, frequency="monthly"
                    )
                ),
                at=START + timedelta(seconds=i),
                context=context,
                subscription_id=f"sub_{account_id}_remote-support",
                account_id=account_id,
            )
            uow.subscriptions.add(outcome.subscription)
        uow.commit()
    return db


def _renew(db: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "subscriptions.cli",
            "--db",
            str(db),
            "--now",
            BILL_AT,
            "--json",
            "renew",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _center(db: Path, store: SQLiteStore) -> BillingCenter:
    data = tomllib.loads(DEMO_CATALOG)
    data.pop("seller")
    return BillingCenter(
        catalog=catalog_from_dict(data),
        seller=SELLER,
        store=store,
        gateway=FakeGateway(journal=f"{db}.gateway.jsonl"),
        clock=ManualClock(datetime.fromisoformat(BILL_AT)),
    )


def _whole(db: Path, *, renewed: int | None = None) -> int:
    """Nothing in flight; every charge is a paid renewal; the number of them."""
    with SQLiteStore(db) as store:
        center = _center(db, store)
        assert center.payment_review().in_flight == 0
        gateway: FakeGateway = center.gateway  # type: ignore[assignment]
        charged = gateway.succeeded_charges()
        paid = 0
        for i in range(COUNT):
            for invoice in center.invoices(f"acct{i:05d}", "anna"):
                keys = [k for k in charged if invoice.id in k]
                assert len(keys) <= 1
                if invoice.status is InvoiceStatus.PAID:
                    assert len(keys) == 1
                    paid += 1
                else:
                    assert keys == [], invoice
        assert len(charged) == paid
        if renewed is not None:
            assert paid == renewed
        return paid


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_the_bill_run_cleanly(tmp_path: Path, signum: int, status: int) -> None:
    db = _book(tmp_path)
    journal = Path(f"{db}.gateway.jsonl")
    child = _renew(db)
    deadline = time.monotonic() + 60
    while not (journal.exists() and journal.stat().st_size > 0):
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, "the bill run never charged"
        time.sleep(0.005)
    child.send_signal(signum)
    out, err = child.communicate(timeout=60)
    assert child.returncode == status, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert signal.Signals(signum).name in lines[0]
    assert "stopped cleanly" in lines[0]
    report = json.loads(out)
    assert report["stopped"] == "interrupted"
    charged = _whole(db)
    assert 0 < charged < COUNT
    # Running it again finishes the job; nobody is charged twice.
    again = _renew(db)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    _whole(db, renewed=COUNT)
