"""Real processes killed at every point of the renewal path and of an order's
recording, stores broken under them, and processes racing to reconcile, complete one
order, pay one invoice and run the bill run, on SQLite and PostgreSQL.

After each, another process runs the bill run (which reconciles first) and the book
must be whole: every charge the gateway took belongs to exactly one paid invoice,
completed order or recorded refund; no invoice is charged twice; nothing due is left
behind; invoice numbers have no gaps.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from subscriptions import BillingCenter, InvoiceStatus, OrderState
from subscriptions.accounts import Address
from tests.contract.conftest import drop_schema, postgres_dsn
from tests.processes import world

CHILD = Path(__file__).with_name("child.py")
#: The bill run of the tests: a month after the subscriptions were bought.
RUN = "2026-12-02T09:00:00+01:00"
#: Later than every lease of the run.
AFTER = "2026-12-02T09:30:00+01:00"


@pytest.fixture(params=["sqlite", "postgres"])
def spec(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:{tmp_path / 'billing.sqlite3'}"
        return
    dsn = postgres_dsn()
    schema = f"test_pay_{uuid.uuid4().hex[:10]}"
    try:
        yield f"postgres:{schema}@{dsn}"
    finally:
        drop_schema(dsn, schema)


@pytest.fixture
def journal(tmp_path: Path) -> str:
    return str(tmp_path / "gateway.jsonl")


class Book:
    """A store and a Billing Center at an instant, opened and closed by the test."""

    def __init__(self, spec: str, journal: str, now: str = world.START) -> None:
        self.store = world.open_store(spec)
        self.center: BillingCenter = world.center(self.store, journal, now=now)

    def __enter__(self) -> BillingCenter:
        return self.center

    def __exit__(self, *exc: object) -> None:
        world.close(self.store)


def seed(spec: str, journal: str, count: int, *, token: str = "tok_visa") -> list[str]:
    """``count`` accounts, each with an active monthly subscription, paid."""
    ids = []
    with Book(spec, journal) as center:
        for n in range(count):
            account = center.open_account(
                name=f"Customer {n}",
                address=Address(line1="Via Po 2", city="Torino", postal_code="10123", country="IT"),
                timezone="Europe/Rome",
                locale="it_IT",
                currency="EUR",
                billing_contacts=[world.CONTACT],
                payment_method="tok_visa",
            )
            center.subscribe_now(account.id, world.CONTACT, "remote-support", seats=1 + n % 3)
            quote = center.quote(account.id, world.CONTACT)
            order = center.place_order(
                account.id, world.CONTACT, quote.id, idempotency_key=f"seed-{n}"
            )
            assert order.state is OrderState.SUCCEEDED
            if token != "tok_visa":
                center.update_payment_method(account.id, world.CONTACT, token)
            ids.append(account.id)
    return ids


def spawn(spec: str, journal: str, action: str, args: dict[str, Any]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(CHILD), spec, journal, action, json.dumps(args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(child: subprocess.Popen[str]) -> tuple[int, dict[str, Any] | None]:
    out, err = child.communicate(timeout=120)
    lines = out.strip().splitlines()
    if child.returncode not in (0, -9):
        raise AssertionError(err)
    return child.returncode, json.loads(lines[-1]) if lines else None


def race(
    tmp_path: Path, spec: str, journal: str, action: str, argsets: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    go = tmp_path / f"go-{uuid.uuid4().hex}"
    children = []
    readies = []
    for i, args in enumerate(argsets):
        ready = tmp_path / f"ready-{go.name}-{i}"
        readies.append(ready)
        children.append(spawn(spec, journal, action, {**args, "go": str(go), "ready": str(ready)}))
    deadline = datetime.now() + timedelta(seconds=60)
    while not all(r.exists() for r in readies):
        assert datetime.now() < deadline, "children never got ready"
        for child in children:
            assert child.poll() is None, child.communicate()
    go.touch()
    results = []
    for child in children:
        code, result = finish(child)
        assert code == 0
        assert result is not None
        results.append(result)
    return results


def check_book(spec: str, journal: str, accounts: list[str], *, now: str = AFTER) -> None:
    """Every charge belongs to exactly one paid invoice, completed order or refund; no
    invoice charged twice; nothing due left; nothing in flight; no gaps."""
    with Book(spec, journal, now=now) as center:
        assert center.payment_review().in_flight == 0
        gateway: Any = center.gateway
        invoices = {i.id: i for a in accounts for i in center.invoices(a, world.CONTACT)}
        paid = sum(
            (i.amount_due for i in invoices.values() if i.status is InvoiceStatus.PAID),
            Decimal(0),
        )
        assert gateway.net_charged("EUR") == paid
        per_invoice: dict[str, list[str]] = {}
        for key, request in gateway.succeeded_charges().items():
            if key.startswith("invoice:"):
                invoice_id = key.split(":")[1]
                per_invoice.setdefault(invoice_id, []).append(key)
                assert invoices[invoice_id].amount_due == request.amount.amount
        for invoice_id, keys in per_invoice.items():
            assert len(keys) == 1, f"{invoice_id} charged under {keys}"
            assert invoices[invoice_id].status is InvoiceStatus.PAID
        for invoice in invoices.values():
            if invoice.reason.value == "renewal":
                assert invoice.status is InvoiceStatus.PAID, invoice.number
        with center.store.unit_of_work() as uow:
            assert uow.subscriptions.due(datetime.fromisoformat(now), limit=5) == []
        numbers = sorted(i.sequence for i in invoices.values())
        assert numbers == list(range(1, len(numbers) + 1))


def heal(spec: str, journal: str) -> None:
    """The next bill run, later: it reconciles what was left first."""
    with Book(spec, journal, now=AFTER) as center:
        report = center.run_renewals()
        assert report.errors == ()


# -- the renewal path ------------------------------------------------------------------

CRASHES = ["before_charges", "after_charges:1", "after_charges:3", "before_record", "inside_record"]


@pytest.mark.parametrize("crash", CRASHES)
def test_a_bill_run_killed_anywhere_is_healed_by_the_next(
    spec: str, journal: str, crash: str
) -> None:
    accounts = seed(spec, journal, 4)
    code, _ = finish(spawn(spec, journal, "renew", {"now": RUN, "crash": crash}))
    assert code == -9, "the child was to be killed"
    heal(spec, journal)
    check_book(spec, journal, accounts)


@pytest.fixture
def pg_spec() -> Iterator[str]:
    dsn = postgres_dsn()
    schema = f"test_pay_{uuid.uuid4().hex[:10]}"
    try:
        yield f"postgres:{schema}@{dsn}"
    finally:
        drop_schema(dsn, schema)


def test_a_bill_run_whose_backend_is_killed_while_recording_is_healed(
    pg_spec: str, journal: str
) -> None:
    spec = pg_spec
    accounts = seed(spec, journal, 3)
    code, result = finish(
        spawn(spec, journal, "renew", {"now": RUN, "crash": "backend_killed_in_record"})
    )
    assert code == 0
    assert result is not None
    assert (result["ok"], result.get("error")) == (False, "PaymentNotRecorded")
    heal(spec, journal)
    check_book(spec, journal, accounts)


def test_a_crashed_bill_run_with_declines_puts_them_past_due_once(spec: str, journal: str) -> None:
    accounts = seed(spec, journal, 3, token="tok_declined")
    code, _ = finish(spawn(spec, journal, "renew", {"now": RUN, "crash": "before_record"}))
    assert code == -9
    heal(spec, journal)
    with Book(spec, journal, now=AFTER) as center:
        for account_id in accounts:
            (sub,) = center.subscriptions(account_id)
            assert sub.status.value == "past_due"
            assert sub.dunning is not None
            assert sub.dunning.attempts == 1
            assert (
                center.events(account_id).count(
                    next(e for e in center.events(account_id) if e.kind.value == "payment_failed")
                )
                == 1
            )
        gateway: Any = center.gateway
        assert gateway.net_charged("EUR") == sum(
            (
                i.amount_due
                for a in accounts
                for i in center.invoices(a, world.CONTACT)
                if i.status is InvoiceStatus.PAID
            ),
            Decimal(0),
        )


# -- an order's recording fails after the charge ---------------------------------------


def test_an_order_whose_store_fails_after_the_charge_completes_later_unrefunded(
    spec: str, journal: str
) -> None:
    (account_id,) = seed(spec, journal, 1)
    with Book(spec, journal) as center:
        center.subscribe_now(account_id, world.CONTACT, "remote-support", plan="premium", seats=4)
    crash = "store_busy" if spec.startswith("sqlite") else "backend_killed"
    code, result = finish(
        spawn(
            spec,
            journal,
            "order",
            {"account": account_id, "key": "upgrade", "crash": crash, "timeout": 0.5},
        )
    )
    assert code == 0
    assert result is not None
    assert (result["ok"], result["error"]) == (False, "PaymentNotRecorded")
    later = "2026-11-02T09:10:00+01:00"
    with Book(spec, journal, now=later) as center:
        gateway: Any = center.gateway
        assert not [r for r in gateway.requests if type(r).__name__ == "RefundRequest"]
        report = center.reconcile()
        (order,) = report.orders
        assert order.state is OrderState.SUCCEEDED
        (sub,) = center.subscriptions(account_id)
        assert (sub.terms.plan, sub.terms.seats) == ("premium", 4)
    check_book(spec, journal, [account_id], now=later)


# -- races -----------------------------------------------------------------------------


def test_concurrent_reconcilers_resolve_each_attempt_once(
    tmp_path: Path, spec: str, journal: str
) -> None:
    accounts = seed(spec, journal, 6)
    code, _ = finish(spawn(spec, journal, "renew", {"now": RUN, "crash": "before_record"}))
    assert code == -9
    results = race(tmp_path, spec, journal, "reconcile", [{"now": AFTER}] * 4)
    resolved = [key for r in results for key in r["resolved"]]
    assert len(resolved) == len(set(resolved)) == 6
    check_book(spec, journal, accounts)


def test_eight_callers_of_one_key_see_one_order_charged_once(
    tmp_path: Path, spec: str, journal: str
) -> None:
    (account_id,) = seed(spec, journal, 1)
    with Book(spec, journal) as center:
        center.subscribe_now(account_id, world.CONTACT, "remote-support", plan="premium", seats=6)
        quote = center.quote(account_id, world.CONTACT).id
    results = race(
        tmp_path,
        spec,
        journal,
        "order",
        [{"account": account_id, "key": "one", "quote": quote}] * 8,
    )
    assert [r for r in results if not r["ok"]] == []  # the refusals, named, if any
    assert len({r["order"] for r in results}) == 1
    assert {r["state"] for r in results} <= {"succeeded", "pending"}
    with Book(spec, journal, now="2026-11-02T09:10:00+01:00") as center:
        gateway: Any = center.gateway
        assert not [r for r in gateway.requests if type(r).__name__ == "RefundRequest"]
        order = center.order(account_id, world.CONTACT, results[0]["order"])
        assert order.state is OrderState.SUCCEEDED
    check_book(spec, journal, [account_id], now="2026-11-02T09:10:00+01:00")


def test_concurrent_payments_of_one_invoice_charge_it_once(
    tmp_path: Path, spec: str, journal: str
) -> None:
    (account_id,) = seed(spec, journal, 1, token="tok_declined")
    with Book(spec, journal, now=RUN) as center:
        center.run_renewals()
        invoice = center.invoices(account_id, world.CONTACT)[-1]
        assert invoice.status is InvoiceStatus.FAILED
        center.update_payment_method(account_id, world.CONTACT, "tok_visa")
    results = race(
        tmp_path,
        spec,
        journal,
        "pay",
        [
            {"account": account_id, "invoice": invoice.id, "key": f"k{n}", "now": RUN}
            for n in range(4)
        ],
    )
    paid = [r for r in results if r["ok"]]
    refused = [r for r in results if not r["ok"]]
    assert len(paid) >= 1
    assert all(r["status"] == "paid" for r in paid)
    assert {r["error"] for r in refused} <= {"PaymentInProgress", "InvalidTransition"}
    with Book(spec, journal, now=RUN) as center:
        gateway: Any = center.gateway
        keys = [k for k in gateway.succeeded_charges() if invoice.id in k]
        assert len(keys) == 1
        (sub,) = center.subscriptions(account_id)
        assert sub.status.value == "active"
    check_book(spec, journal, [account_id], now=RUN)


def test_concurrent_bill_runs_renew_each_subscription_once(
    tmp_path: Path, spec: str, journal: str
) -> None:
    accounts = seed(spec, journal, 12)
    results = race(tmp_path, spec, journal, "renew", [{"now": RUN, "batch_size": 2}] * 3)
    assert sum(r["renewed"] for r in results) == 12
    assert sum(r["charged"] for r in results) == 12
    check_book(spec, journal, accounts, now=RUN)
