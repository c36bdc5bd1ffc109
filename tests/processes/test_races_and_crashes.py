"""Real processes racing and crashing on SQLite and PostgreSQL.

Races: two processes ordering changes of the same subscription at once, and two
processes assigning the last seat. Crashes: a process killed (SIGKILL) at each point of
the order path, then the reconcile use case run from another process. The fake
gateway keeps its records in a journal file, as a real provider keeps its own.
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

import pytest

from subscriptions import BillingCenter, OrderState, ReconcileReport
from subscriptions.accounts import Address
from tests.contract.conftest import drop_schema, postgres_dsn
from tests.processes import world

CHILD = Path(__file__).with_name("child.py")


@pytest.fixture(params=["sqlite", "postgres"])
def spec(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:{tmp_path / 'billing.sqlite3'}"
        return
    dsn = postgres_dsn()
    schema = f"test_proc_{uuid.uuid4().hex[:10]}"
    try:
        yield f"postgres:{schema}@{dsn}"
    finally:
        drop_schema(dsn, schema)


@pytest.fixture
def journal(tmp_path: Path) -> str:
    return str(tmp_path / "gateway.jsonl")


def _center(spec: str, journal: str, now: str = world.START) -> tuple[BillingCenter, object]:
    store = world.open_store(spec)
    return world.center(store, journal, now=now), store


def _seed(spec: str, journal: str, *, seats: int = 2) -> str:
    """An account with an active monthly subscription of ``seats`` seats, paid."""
    center, store = _center(spec, journal)
    try:
        account = center.open_account(
            name="Rossi S.p.A.",
            address=Address(line1="Via Po 2", city="Torino", postal_code="10123", country="IT"),
            timezone="Europe/Rome",
            locale="it_IT",
            currency="EUR",
            billing_contacts=[world.CONTACT],
            payment_method="tok_visa",
        )
        center.subscribe_now(account.id, world.CONTACT, "remote-support", seats=seats)
        quote = center.quote(account.id, world.CONTACT)
        order = center.place_order(account.id, world.CONTACT, quote.id, idempotency_key="seed")
        assert order.state is OrderState.SUCCEEDED
        return account.id
    finally:
        world.close(store)  # type: ignore[arg-type]


def _spawn(spec: str, journal: str, action: str, args: dict[str, object]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(CHILD), spec, journal, action, json.dumps(args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _race(
    tmp_path: Path, spec: str, journal: str, action: str, argsets: list[dict[str, object]]
) -> list[dict[str, object]]:
    go = tmp_path / f"go-{uuid.uuid4().hex}"
    children = []
    readies = []
    for i, args in enumerate(argsets):
        ready = tmp_path / f"ready-{go.name}-{i}"
        readies.append(ready)
        children.append(_spawn(spec, journal, action, {**args, "go": str(go), "ready": str(ready)}))
    deadline = datetime.now() + timedelta(seconds=60)
    while not all(r.exists() for r in readies):
        assert datetime.now() < deadline, "children never got ready"
        for child in children:
            assert child.poll() is None, child.communicate()
    go.touch()
    results = []
    for child in children:
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def test_two_processes_ordering_the_same_subscription(
    tmp_path: Path, spec: str, journal: str
) -> None:
    account_id = _seed(spec, journal)
    center, store = _center(spec, journal)
    try:
        center.subscribe_now(account_id, world.CONTACT, "remote-support", plan="premium", seats=8)
        before = center.subscriptions(account_id)[0]
        charged_before = center.gateway.net_charged("EUR")  # type: ignore[attr-defined]
    finally:
        world.close(store)  # type: ignore[arg-type]

    results = _race(
        tmp_path,
        spec,
        journal,
        "order",
        [{"account": account_id, "key": "first"}, {"account": account_id, "key": "second"}],
    )

    winners = [r for r in results if r["ok"]]
    losers = [r for r in results if not r["ok"]]
    assert len(winners) == 1, results
    assert winners[0]["state"] == "succeeded"
    assert len(losers) == 1
    assert losers[0]["error"] in {"OrderInProgress", "ConcurrencyConflict", "QuoteChanged"}
    assert "again" in str(losers[0]["message"]) or "quote" in str(losers[0]["message"])

    center, store = _center(spec, journal)
    try:
        after = center.subscriptions(account_id)[0]
        assert after.terms.plan == "premium"
        assert after.terms.seats == 8
        assert after.version == before.version + 1  # exactly one change, none lost
        charges = center.gateway.succeeded_charges()  # type: ignore[attr-defined]
        order_charges = [k for k in charges if k.startswith("order:")]
        assert len(order_charges) == 2  # the seed order and the winner, nothing more
        invoices = center.invoices(account_id, world.CONTACT)
        assert [i.sequence for i in invoices] == list(range(1, len(invoices) + 1))
        paid = sum((i.amount_due for i in invoices), Decimal(0))
        assert center.gateway.net_charged("EUR") == paid  # type: ignore[attr-defined]
        assert center.gateway.net_charged("EUR") > charged_before  # type: ignore[attr-defined]
    finally:
        world.close(store)  # type: ignore[arg-type]


def test_two_processes_racing_for_the_last_seat(tmp_path: Path, spec: str, journal: str) -> None:
    account_id = _seed(spec, journal, seats=2)
    center, store = _center(spec, journal)
    try:
        center.assign_seats(account_id, world.CONTACT, "remote-support", ["first"])
    finally:
        world.close(store)  # type: ignore[arg-type]

    results = _race(
        tmp_path,
        spec,
        journal,
        "assign",
        [{"account": account_id, "user": "u1"}, {"account": account_id, "user": "u2"}],
    )

    assert sum(1 for r in results if r["ok"]) == 1, results
    loser = next(r for r in results if not r["ok"])
    assert loser["error"] in {"NotEnoughSeats", "ConcurrencyConflict"}
    center, store = _center(spec, journal)
    try:
        seats = center.seats(account_id, world.CONTACT, "remote-support")
        assert seats.in_use == 2
        assert seats.users[0] == "first"
    finally:
        world.close(store)  # type: ignore[arg-type]


def _killed_order(spec: str, journal: str, account_id: str, crash: str) -> None:
    child = _spawn(spec, journal, "order", {"account": account_id, "key": "crash", "crash": crash})
    _, err = child.communicate(timeout=60)
    assert child.returncode == -9, err  # killed, not a clean failure


def test_killed_before_the_charge_nothing_is_charged(spec: str, journal: str) -> None:
    account_id = _seed(spec, journal)
    center, store = _center(spec, journal)
    try:
        center.subscribe_now(account_id, world.CONTACT, "remote-support", plan="premium", seats=8)
        charged = center.gateway.net_charged("EUR")  # type: ignore[attr-defined]
        before = center.subscriptions(account_id)[0]
    finally:
        world.close(store)  # type: ignore[arg-type]

    _killed_order(spec, journal, account_id, "before_charge")

    later = "2026-11-02T09:10:00+01:00"
    center, store = _center(spec, journal, now=later)
    try:
        (order,) = [o for o in center.reconcile().orders if o.idempotency_key == "crash"]
        assert order.state is OrderState.FAILED
        assert order.failure_code == "not_charged"
        assert center.gateway.net_charged("EUR") == charged  # type: ignore[attr-defined]
        assert center.subscriptions(account_id)[0] == before
    finally:
        world.close(store)  # type: ignore[arg-type]


def test_killed_after_the_charge_the_order_is_completed_once(spec: str, journal: str) -> None:
    account_id = _seed(spec, journal)
    center, store = _center(spec, journal)
    try:
        center.subscribe_now(account_id, world.CONTACT, "remote-support", plan="premium", seats=8)
        charged = center.gateway.net_charged("EUR")  # type: ignore[attr-defined]
    finally:
        world.close(store)  # type: ignore[arg-type]

    _killed_order(spec, journal, account_id, "after_charge")

    later = "2026-11-02T09:10:00+01:00"
    center, store = _center(spec, journal, now=later)
    try:
        (order,) = [o for o in center.reconcile().orders if o.idempotency_key == "crash"]
        assert order.state is OrderState.SUCCEEDED
        sub = center.subscriptions(account_id)[0]
        assert (sub.terms.plan, sub.terms.seats) == ("premium", 8)
        paid = center.gateway.net_charged("EUR") - charged  # type: ignore[attr-defined]
        assert paid == order.amount_due.amount > 0
        assert center.reconcile() == ReconcileReport()  # nothing left, nothing charged twice
        assert center.gateway.net_charged("EUR") - charged == paid  # type: ignore[attr-defined]
    finally:
        world.close(store)  # type: ignore[arg-type]


def test_killed_after_the_charge_with_the_quote_expired_the_charge_is_refunded(
    spec: str, journal: str
) -> None:
    account_id = _seed(spec, journal)
    center, store = _center(spec, journal)
    try:
        center.subscribe_now(account_id, world.CONTACT, "remote-support", plan="premium", seats=8)
        charged = center.gateway.net_charged("EUR")  # type: ignore[attr-defined]
        before = center.subscriptions(account_id)[0]
    finally:
        world.close(store)  # type: ignore[arg-type]

    _killed_order(spec, journal, account_id, "after_charge")

    much_later = "2026-11-02T12:00:00+01:00"  # beyond the 30-minute quote
    center, store = _center(spec, journal, now=much_later)
    try:
        (order,) = [o for o in center.reconcile().orders if o.idempotency_key == "crash"]
        assert order.state is OrderState.FAILED
        assert order.refund_id is not None
        assert center.gateway.net_charged("EUR") == charged  # type: ignore[attr-defined]
        assert center.subscriptions(account_id)[0] == before
    finally:
        world.close(store)  # type: ignore[arg-type]


def test_killed_before_the_confirmation_is_sent_it_is_sent_later(spec: str, journal: str) -> None:
    account_id = _seed(spec, journal)
    center, store = _center(spec, journal)
    try:
        center.subscribe_now(account_id, world.CONTACT, "remote-support", plan="premium", seats=8)
    finally:
        world.close(store)  # type: ignore[arg-type]

    _killed_order(spec, journal, account_id, "before_message")

    center, store = _center(spec, journal, now="2026-11-02T09:10:00+01:00")
    try:
        assert center.reconcile() == ReconcileReport()  # the order itself committed
        sent = center.deliver_outbox()
        assert sent == 1
        assert center.notifier.sent[0].kind == "order_confirmation"  # type: ignore[union-attr]
        assert center.deliver_outbox() == 0
    finally:
        world.close(store)  # type: ignore[arg-type]
