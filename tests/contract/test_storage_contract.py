"""The storage contract: every behaviour of the store port, for every adapter.

Each test runs against :class:`InMemoryStore`, :class:`SQLiteStore` and
:class:`PostgresStore` (see ``conftest.py``). Where adapters may legitimately differ
(the in-memory store checks versions at commit, the SQL stores at ``update`` or at
commit), the test accepts both.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest

from subscriptions.cart import Cart, CartItem
from subscriptions.errors import ConcurrencyConflict, InvalidInput, SubscriptionsError
from subscriptions.orders import InvoiceStatus, OrderState
from subscriptions.ports import OutboxEntry
from subscriptions.seats import SeatAssignments, unassign
from subscriptions.subscription import Event, EventKind, Status
from subscriptions.transitions import advance, next_due

from . import records as r
from .conftest import StoreFactory, save

Store = Any


def fail(uow: Any) -> None:
    raise RuntimeError("something went wrong before the commit")


def read(store: Store, what: Callable[[Any], Any]) -> Any:
    with store.unit_of_work() as uow:
        return what(uow)


def stored_subscription(store: Store, sub: Any) -> None:
    """Store ``sub`` with its account (an SQL store checks seats against it)."""
    account = r.italian_account(sub.account_id)
    save(store, lambda uow: uow.accounts.add(account), lambda uow: uow.subscriptions.add(sub))


# -- every record type, round trip -----------------------------------------------------


def _every_record() -> list[Any]:
    it, de = r.italian_account(), r.german_account()
    sub, invoice = r.subscribed(de)
    cases = [
        ("account", it, lambda u, x: u.accounts.add(x), lambda u: u.accounts.get(it.id)),
        (
            "account with VAT evidence",
            de,
            lambda u, x: u.accounts.add(x),
            lambda u: u.accounts.get(de.id),
        ),
        (
            "account whose VAT check could not be made",
            r.austrian_account_unchecked(),
            lambda u, x: u.accounts.add(x),
            lambda u: u.accounts.get("acc-at"),
        ),
        (
            "subscription with open charges",
            sub,
            lambda u, x: u.subscriptions.add(x),
            lambda u: u.subscriptions.get(sub.id),
        ),
        (
            "trialing subscription",
            r.trialing(it),
            lambda u, x: u.subscriptions.add(x),
            lambda u: u.subscriptions.get("acc-it:monitoring"),
        ),
        (
            "past-due subscription",
            r.past_due(it, "acc-it:dunned"),
            lambda u, x: u.subscriptions.add(x),
            lambda u: u.subscriptions.get("acc-it:dunned"),
        ),
        ("cart", r.cart(it), lambda u, x: u.carts.put(x), lambda u: u.carts.get(it.id)),
        (
            "cart releasing users",
            r.releasing_cart(de),
            lambda u, x: u.carts.put(x),
            lambda u: u.carts.get(de.id),
        ),
        ("quote", r.quote(de), lambda u, x: u.quotes.add(x), lambda u: u.quotes.get("quo-1")),
        (
            "quote releasing users",
            r.releasing_quote(de),
            lambda u, x: u.quotes.add(x),
            lambda u: u.quotes.get("quo-release"),
        ),
        ("order", r.order(de), lambda u, x: u.orders.add(x), lambda u: u.orders.get("ord-1")),
        (
            "credit note and invoice",
            r.issued_invoice(de, invoice),
            lambda u, x: u.invoices.add(x),
            lambda u: u.invoices.get("inv-1"),
        ),
    ]
    return [pytest.param(*case[1:], id=case[0]) for case in cases]


@pytest.mark.parametrize(("record", "write", "fetch"), _every_record())
def test_every_record_type_reads_back_equal(
    store: Store, record: Any, write: Any, fetch: Any
) -> None:
    save(store, lambda uow: write(uow, record))
    assert read(store, fetch) == record


def test_realistic_subscription_keeps_every_detail(store: Store) -> None:
    account = r.german_account()
    sub, _ = r.subscribed(account)
    save(store, lambda uow: uow.accounts.add(account), lambda uow: uow.subscriptions.add(sub))
    back = read(store, lambda uow: uow.subscriptions.get(sub.id))
    assert back == sub
    charge = back.open_charges[0]
    assert charge.amount == Decimal("150.00")
    assert isinstance(charge.amount, Decimal)
    assert charge.tax is not None
    assert charge.tax.treatment.value == "reverse_charge"
    assert charge.period.start.utcoffset() == timedelta(0)
    got = read(store, lambda uow: uow.accounts.get(account.id))
    assert got.vat_check.checked_at == account.vat_check.checked_at
    assert got.vat_check.checked_at.utcoffset() == account.vat_check.checked_at.utcoffset()
    assert got.vat_number == account.vat_number
    assert got.billing_contacts == frozenset({"jonas"})


def test_seat_assignments_round_trip(store: Store) -> None:
    sub, _ = r.subscribed(r.italian_account())
    stored_subscription(store, sub)
    seats = r.seats(sub.id)
    save(store, lambda uow: uow.seats.put(seats))
    assert read(store, lambda uow: uow.seats.get(sub.id)) == seats


def test_outbox_entry_and_events_round_trip(store: Store) -> None:
    account = r.italian_account()
    entry = r.outbox_entry(account, "msg-1", r.START)
    events = r.events(account)
    save(
        store,
        lambda uow: uow.outbox.add(entry),
        *[lambda uow, e=e: uow.events.add(account.id, e) for e in events],
    )
    assert read(store, lambda uow: uow.outbox.pending(10)) == [entry]
    assert read(store, lambda uow: uow.events.for_account(account.id)) == events


def test_the_outbox_keeps_every_kind_of_notice_and_messages_written_before(store: Store) -> None:
    # Each record a message is written from comes back equal, in its zone; so does a
    # message an earlier version stored written (its users in `to`, no data).
    account = r.german_account()
    entries = [
        OutboxEntry(id=f"m-{n}", created_at=r.START + timedelta(minutes=n), notice=notice)
        for n, notice in enumerate(r.notices(account))
    ]
    written = r.written_outbox_entry(account, "m-written", r.START + timedelta(hours=1))
    save(store, *[lambda uow, e=e: uow.outbox.add(e) for e in [*entries, written]])
    back = read(store, lambda uow: uow.outbox.pending(10))
    assert back == [*entries, written]
    assert [e.notice.kind for e in back[:-1]] == [
        "order_confirmation",
        "payment_failed",
        "subscription_lapsed",
        "trial_expired",
        "vat_number_invalid",
    ]
    assert back[0].notice.data.placed_at.tzinfo == ZoneInfo(account.timezone)
    assert back[-1].notice is None
    assert back[-1].users == tuple(sorted(account.billing_contacts))


# -- accounts and subscriptions ---------------------------------------------------------


def test_missing_records_are_none(store: Store) -> None:
    with store.unit_of_work() as uow:
        assert uow.accounts.get("nobody") is None
        assert uow.subscriptions.get("nothing") is None
        assert uow.carts.get("nobody") is None
        assert uow.quotes.get("nothing") is None
        assert uow.orders.get("nothing") is None
        assert uow.invoices.get("nothing") is None
        assert uow.seats.get("nothing") is None
        assert uow.idempotency.get("nobody", "key") is None
        assert uow.accounts.get_many(["nobody"]) == {}


def test_account_update_is_stored(store: Store) -> None:
    account = r.italian_account()
    save(store, lambda uow: uow.accounts.add(account))
    changed = attrs.evolve(account, credit_balance=Decimal("0.10"), version=1)
    save(store, lambda uow: uow.accounts.update(changed))
    assert read(store, lambda uow: uow.accounts.get(account.id)) == changed


def test_unavailable_vat_check_keeps_its_error_code(store: Store) -> None:
    account = r.austrian_account_unchecked()
    save(store, lambda uow: uow.accounts.add(account))
    got = read(store, lambda uow: uow.accounts.get(account.id))
    assert got.vat_check.error == "MS_UNAVAILABLE"
    assert got.vat_check == account.vat_check


def test_accounts_page_in_id_order_with_own_writes(store: Store) -> None:
    a, b, c, d = (r.italian_account(f"acc-{n}") for n in "abcd")
    save(store, lambda uow: uow.accounts.add(c), lambda uow: uow.accounts.add(a))
    with store.unit_of_work() as uow:
        uow.accounts.add(d)
        uow.accounts.add(b)
        first = uow.accounts.page(limit=2)
        rest = uow.accounts.page(after=first[-1].id, limit=10)
        assert [x.id for x in first] == ["acc-a", "acc-b"]
        assert [x.id for x in rest] == ["acc-c", "acc-d"]
        assert uow.accounts.page(after="acc-d", limit=10) == []
        uow.commit()
    assert read(store, lambda uow: [x.id for x in uow.accounts.page(after="acc-a", limit=2)]) == [
        "acc-b",
        "acc-c",
    ]


def test_get_many_returns_the_stored_ones_with_own_writes(store: Store) -> None:
    a, b, c = (r.italian_account(f"acc-{n}") for n in "abc")
    save(store, lambda uow: uow.accounts.add(a), lambda uow: uow.accounts.add(b))
    with store.unit_of_work() as uow:
        uow.accounts.add(c)
        found = uow.accounts.get_many(["acc-c", "acc-missing", "acc-a", "acc-b"])
        assert found == {"acc-c": c, "acc-a": a, "acc-b": b}
    sub, _ = r.subscribed(a)
    save(store, lambda uow: uow.subscriptions.add(sub))
    assert read(store, lambda uow: uow.subscriptions.get_many([sub.id, "x"])) == {sub.id: sub}


def test_adding_an_existing_record_is_refused(store: Store) -> None:
    account = r.italian_account()
    save(store, lambda uow: uow.accounts.add(account))
    with pytest.raises((InvalidInput, ConcurrencyConflict)):
        save(store, lambda uow: uow.accounts.add(attrs.evolve(account, name="Other S.r.l.")))
    assert read(store, lambda uow: uow.accounts.get(account.id)) == account


def test_for_account_lists_its_subscriptions_in_id_order(store: Store) -> None:
    mine, other = r.italian_account("acc-1"), r.italian_account("acc-2")
    sub, _ = r.subscribed(mine)
    subs = [attrs.evolve(sub, id=f"acc-1:{name}") for name in ("c", "a", "b")]
    foreign = attrs.evolve(sub, id="acc-1:0", account_id="acc-2")
    save(
        store,
        lambda uow: uow.accounts.add(mine),
        lambda uow: uow.accounts.add(other),
        *[lambda uow, s=s: uow.subscriptions.add(s) for s in [*subs, foreign]],
    )
    listed = read(store, lambda uow: uow.subscriptions.for_account("acc-1"))
    assert [s.id for s in listed] == ["acc-1:a", "acc-1:b", "acc-1:c"]
    assert listed[0] == subs[1]
    assert read(store, lambda uow: uow.subscriptions.for_account("acc-3")) == []


def test_orders_for_account_are_its_own_oldest_first(store: Store) -> None:
    mine, other = r.italian_account("acc-1"), r.italian_account("acc-2")
    orders = [r.order(mine, f"ord-{n}") for n in (3, 1, 2)]
    foreign = r.order(other, "ord-0")
    save(
        store,
        lambda uow: uow.accounts.add(mine),
        lambda uow: uow.accounts.add(other),
        *[lambda uow, o=o: uow.orders.add(o) for o in [*orders, foreign]],
    )
    listed = read(store, lambda uow: uow.orders.for_account("acc-1"))
    assert [o.id for o in listed] == ["ord-1", "ord-2", "ord-3"]
    assert listed[0] == orders[1]
    assert read(store, lambda uow: uow.orders.for_account("acc-3")) == []


def test_ids_sort_by_code_point_in_every_store(store: Store) -> None:
    account = r.italian_account()
    sub, _ = r.subscribed(account)
    ids = ["acc-it:b", "acc-it:B", "acc-it:_z", "acc-it:Ä", "acc-it:a-1", "acc-it:a1"]
    save(
        store,
        lambda uow: uow.accounts.add(account),
        *[lambda uow, i=i: uow.subscriptions.add(attrs.evolve(sub, id=i)) for i in ids],
    )
    listed = read(store, lambda uow: uow.subscriptions.for_account(account.id))
    assert [s.id for s in listed] == sorted(ids)
    assert sub.period is not None
    due = read(store, lambda uow: uow.subscriptions.due(sub.period.end, limit=10, after="acc-it:B"))
    assert due == [i for i in sorted(ids) if i > "acc-it:B"]


# -- due(): the bill run's query -------------------------------------------------------


def _due_fixture(store: Store) -> dict[str, Any]:
    account = r.italian_account()
    active, _ = r.subscribed(account)
    assert active.period is not None
    end = active.period.end
    trial = r.trialing(account)
    assert trial.trial is not None
    assert trial.trial.end < end
    dunned = r.past_due(account, "acc-it:c-dunned")
    assert dunned.dunning is not None
    # A retry that comes before the period ends makes it due earlier.
    early_retry = end - timedelta(days=1)
    dunned = attrs.evolve(dunned, dunning=attrs.evolve(dunned.dunning, next_retry_at=early_retry))
    assert trial.trial.end < early_retry
    subs = {
        "a": attrs.evolve(active, id="acc-it:a-active"),
        "b": attrs.evolve(trial, id="acc-it:b-trial"),
        "c": dunned,
        "d": attrs.evolve(active, id="acc-it:d-canceled", status=Status.CANCELED),
        "e": attrs.evolve(
            active,
            id="acc-it:e-later",
            period=attrs.evolve(active.period, end=end + timedelta(days=30)),
        ),
    }
    save(
        store,
        lambda uow: uow.accounts.add(account),
        *[lambda uow, s=s: uow.subscriptions.add(s) for s in subs.values()],
    )
    return {"subs": subs, "end": end, "trial_end": trial.trial.end, "retry": early_retry}


def test_due_lists_what_is_due_in_id_order(store: Store) -> None:
    f = _due_fixture(store)
    subs, end = f["subs"], f["end"]

    def due(before: datetime, limit: int = 100, after: str | None = None) -> list[str]:
        return read(store, lambda uow: uow.subscriptions.due(before, limit=limit, after=after))

    a, b, c, e = (subs[k].id for k in "abce")
    assert due(f["trial_end"] - timedelta(microseconds=1)) == []
    # Exactly at the instant counts (at or before).
    assert due(f["trial_end"]) == [b]
    assert due(f["retry"]) == sorted([b, c])
    assert due(end - timedelta(microseconds=1)) == sorted([b, c])
    assert due(end) == [a, b, c]
    assert due(end + timedelta(days=400)) == [a, b, c, e]
    # The same instant in another zone is the same instant.
    assert due(end.astimezone(ZoneInfo("Pacific/Kiritimati"))) == [a, b, c]


def test_due_pages_with_limit_and_after(store: Store) -> None:
    f = _due_fixture(store)
    later = f["end"] + timedelta(days=400)
    pages: list[list[str]] = []
    after: str | None = None
    while True:
        with store.unit_of_work() as uow:
            ids = uow.subscriptions.due(later, limit=2, after=after)
        if not ids:
            break
        pages.append(ids)
        after = ids[-1]
    subs = f["subs"]
    assert pages == [[subs["a"].id, subs["b"].id], [subs["c"].id, subs["e"].id]]


def test_due_follows_updates_and_a_past_due_retry(store: Store) -> None:
    f = _due_fixture(store)
    subs, end = f["subs"], f["end"]
    renewed = advance(subs["a"], context=r.context(r.italian_account())).subscription
    assert next_due(renewed) is not None
    assert next_due(renewed) > end  # type: ignore[operator]
    with store.unit_of_work() as uow:
        uow.subscriptions.update(renewed)
        # A unit of work's own update counts for its own query.
        assert subs["a"].id not in uow.subscriptions.due(end, limit=10)
        uow.commit()
    assert read(store, lambda uow: uow.subscriptions.due(end, limit=10)) == [
        subs["b"].id,
        subs["c"].id,
    ]
    dunned = subs["c"]
    paid = attrs.evolve(dunned, status=Status.ACTIVE, dunning=None, version=dunned.version + 1)
    save(store, lambda uow: uow.subscriptions.update(paid))
    assert read(store, lambda uow: uow.subscriptions.due(f["retry"], limit=10)) == [subs["b"].id]


# -- carts and seats: put ----------------------------------------------------------------


def test_cart_put_creates_then_updates_by_version(store: Store) -> None:
    account = r.italian_account()
    item = CartItem(product="monitoring", plan="basic", seats=1, frequency="monthly")
    first = Cart(account_id=account.id, items=(item,), version=1)
    save(store, lambda uow: uow.carts.put(first))
    assert read(store, lambda uow: uow.carts.get(account.id)) == first
    second = attrs.evolve(first, items=(), version=2)
    save(store, lambda uow: uow.carts.put(second))
    assert read(store, lambda uow: uow.carts.get(account.id)) == second
    with pytest.raises(ConcurrencyConflict):
        save(store, lambda uow: uow.carts.put(attrs.evolve(first, version=2)))
    assert read(store, lambda uow: uow.carts.get(account.id)) == second


def test_cart_put_at_version_zero_creates_it(store: Store) -> None:
    cart = Cart(account_id="acc-zero")
    save(store, lambda uow: uow.carts.put(cart))
    assert read(store, lambda uow: uow.carts.get("acc-zero")) == cart
    with pytest.raises(ConcurrencyConflict):
        save(store, lambda uow: uow.carts.put(Cart(account_id="acc-zero")))


def test_cart_put_twice_in_one_unit_of_work_without_reading_it(store: Store) -> None:
    save(store, lambda uow: uow.carts.put(Cart(account_id="acc-1")))
    item = CartItem(product="monitoring", plan="basic", seats=1, frequency="monthly")
    one = Cart(account_id="acc-1", items=(item,), version=1)
    two = attrs.evolve(one, items=(), version=2)
    save(store, lambda uow: uow.carts.put(one), lambda uow: uow.carts.put(two))
    assert read(store, lambda uow: uow.carts.get("acc-1")) == two
    fresh = Cart(account_id="acc-2", items=(item,), version=1)
    save(
        store,
        lambda uow: uow.carts.put(fresh),
        lambda uow: uow.carts.put(attrs.evolve(fresh, version=2)),
    )
    assert read(store, lambda uow: uow.carts.get("acc-2")) == attrs.evolve(fresh, version=2)


def test_a_new_cart_far_ahead_in_versions_is_a_conflict(store: Store) -> None:
    with pytest.raises(ConcurrencyConflict):
        save(store, lambda uow: uow.carts.put(Cart(account_id="acc-new", version=5)))
    assert read(store, lambda uow: uow.carts.get("acc-new")) is None


def test_seats_put_create_and_resize_in_one_unit_of_work(store: Store) -> None:
    sub, _ = r.subscribed(r.italian_account())
    stored_subscription(store, sub)
    with store.unit_of_work() as uow:
        uow.seats.put(SeatAssignments(subscription_id=sub.id, seats=0))
        empty = uow.seats.get(sub.id)
        assert empty == SeatAssignments(subscription_id=sub.id, seats=0)
        uow.seats.put(attrs.evolve(empty, seats=5, version=1))
        uow.commit()
    current = read(store, lambda uow: uow.seats.get(sub.id))
    assert current == SeatAssignments(subscription_id=sub.id, seats=5, version=1)
    full = attrs.evolve(current, users=("anna", "bruno"), version=2)
    save(store, lambda uow: uow.seats.put(full))
    released = unassign(full, ["anna"])
    save(store, lambda uow: uow.seats.put(released))
    assert read(store, lambda uow: uow.seats.get(sub.id)) == released
    with pytest.raises(ConcurrencyConflict):
        save(store, lambda uow: uow.seats.put(attrs.evolve(full, users=("linus",), version=3)))


# -- quotes, orders, invoices ----------------------------------------------------------


def test_unresolved_lists_orders_waiting_for_an_outcome_in_id_order(store: Store) -> None:
    account = r.italian_account()
    states = {
        "ord-5": OrderState.PENDING,
        "ord-1": OrderState.UNKNOWN,
        "ord-3": OrderState.SUCCEEDED,
        "ord-2": OrderState.FAILED,
        "ord-4": OrderState.REQUIRES_ACTION,
        "ord-0": OrderState.PENDING,
    }
    orders = {i: r.order(account, i, state=s) for i, s in states.items()}
    save(store, *[lambda uow, o=o: uow.orders.add(o) for o in orders.values()])
    unresolved = ["ord-0", "ord-1", "ord-4", "ord-5"]
    assert read(store, lambda uow: uow.orders.unresolved()) == unresolved
    done = attrs.evolve(orders["ord-5"], state=OrderState.SUCCEEDED, version=1)
    with store.unit_of_work() as uow:
        uow.orders.update(done)
        assert uow.orders.unresolved() == ["ord-0", "ord-1", "ord-4"]
        uow.orders.add(r.order(account, "ord-6", state=OrderState.PENDING))
        assert uow.orders.unresolved() == ["ord-0", "ord-1", "ord-4", "ord-6"]
        uow.commit()
    assert read(store, lambda uow: uow.orders.get("ord-5")) == done


def test_invoices_for_account_in_series_and_number_order(store: Store) -> None:
    account, other = r.italian_account(), r.german_account()
    _, invoice = r.subscribed(account)
    made = [
        r.issued_invoice(account, invoice, invoice_id="i-b2", sequence=2, series="B"),
        r.issued_invoice(account, invoice, invoice_id="i-a10", sequence=10, series="A"),
        r.issued_invoice(account, invoice, invoice_id="i-a9", sequence=9, series="A"),
        r.issued_invoice(other, invoice, invoice_id="i-other", sequence=11, series="A"),
    ]
    save(store, *[lambda uow, i=i: uow.invoices.add(i) for i in made])
    listed = read(store, lambda uow: uow.invoices.for_account(account.id))
    assert [i.id for i in listed] == ["i-a9", "i-a10", "i-b2"]
    paid = attrs.evolve(listed[0], status=InvoiceStatus.PAID, version=1)
    save(store, lambda uow: uow.invoices.update(paid))
    assert read(store, lambda uow: uow.invoices.get("i-a9")) == paid


def test_an_invoice_status_changes_alone(store: Store) -> None:
    account = r.italian_account()
    _, invoice = r.subscribed(account)
    issued = r.issued_invoice(account, invoice, invoice_id="i-1")
    save(store, lambda uow: uow.invoices.add(issued))
    with store.unit_of_work() as uow:
        stored = uow.invoices.get("i-1")
        assert stored is not None
        paid = stored.with_status(InvoiceStatus.PAID)
        uow.invoices.set_status(paid)
        assert paid == attrs.evolve(issued, status=InvoiceStatus.PAID, version=1)
        assert uow.invoices.get("i-1") == paid
        uow.commit()
    assert read(store, lambda uow: uow.invoices.get("i-1")) == paid

    # From a stale version, the change is refused (at once or at commit).
    def stale(uow: Any) -> None:
        uow.invoices.set_status(issued.with_status(InvoiceStatus.VOID))
        uow.commit()

    with store.unit_of_work() as uow, pytest.raises(ConcurrencyConflict):
        stale(uow)
    assert read(store, lambda uow: uow.invoices.get("i-1")) == paid


def test_an_invoice_added_and_settled_in_one_unit_of_work(store: Store) -> None:
    account = r.italian_account()
    _, invoice = r.subscribed(account)
    issued = r.issued_invoice(account, invoice, invoice_id="i-2")
    with store.unit_of_work() as uow:
        uow.invoices.add(issued)
        voided = issued.with_status(InvoiceStatus.VOID)
        uow.invoices.set_status(voided)
        uow.commit()
    assert read(store, lambda uow: uow.invoices.get("i-2")) == voided


def test_series_numbers_are_gapless_across_rollbacks(store: Store) -> None:
    with store.unit_of_work() as uow:
        assert [r.number(uow, "INV") for _ in range(3)] == [1, 2, 3]
        assert r.number(uow, "CN") == 1
        uow.commit()
    with store.unit_of_work() as uow:
        assert r.number(uow, "INV") == 4
        assert r.number(uow, "INV") == 5
        uow.rollback()
    with pytest.raises(RuntimeError):
        save(store, lambda uow: r.number(uow, "INV"), fail)
    with store.unit_of_work() as uow:
        assert r.number(uow, "INV") == 4
        assert r.number(uow, "CN") == 2
        uow.commit()
    with store.unit_of_work() as uow:
        assert r.number(uow, "INV") == 5


# -- idempotency keys, outbox, events, config --------------------------------------------


def test_idempotency_keys_are_unique_per_scope(store: Store) -> None:
    with store.unit_of_work() as uow:
        assert uow.idempotency.get("acc-1", "key-1") is None
        uow.idempotency.put("acc-1", "key-1", "ord-1")
        assert uow.idempotency.get("acc-1", "key-1") == "ord-1"
        uow.commit()
    save(store, lambda uow: uow.idempotency.put("acc-2", "key-1", "ord-2"))
    assert read(store, lambda uow: uow.idempotency.get("acc-1", "key-1")) == "ord-1"
    assert read(store, lambda uow: uow.idempotency.get("acc-2", "key-1")) == "ord-2"
    with pytest.raises(ConcurrencyConflict):
        save(store, lambda uow: uow.idempotency.put("acc-1", "key-1", "ord-3"))
    assert read(store, lambda uow: uow.idempotency.get("acc-1", "key-1")) == "ord-1"


def test_idempotency_keys_can_be_deleted(store: Store) -> None:
    save(store, lambda uow: uow.idempotency.put("acc-1", "key-1", "ord-1"))
    with store.unit_of_work() as uow:
        uow.idempotency.delete("acc-1", "key-1")
        assert uow.idempotency.get("acc-1", "key-1") is None
        uow.idempotency.delete("acc-1", "never-recorded")
        uow.commit()
    assert read(store, lambda uow: uow.idempotency.get("acc-1", "key-1")) is None
    with store.unit_of_work() as uow:
        # Recorded and forgotten in one unit of work: nothing is kept.
        uow.idempotency.put("acc-1", "key-2", "ord-2")
        uow.idempotency.delete("acc-1", "key-2")
        # Forgotten, then recorded again: the new value is kept.
        uow.idempotency.put("acc-1", "key-1", "ord-3")
        uow.commit()
    assert read(store, lambda uow: uow.idempotency.get("acc-1", "key-2")) is None
    assert read(store, lambda uow: uow.idempotency.get("acc-1", "key-1")) == "ord-3"
    save(
        store,
        lambda uow: uow.idempotency.delete("acc-1", "key-1"),
        lambda uow: uow.idempotency.put("acc-1", "key-1", "ord-4"),
    )
    assert read(store, lambda uow: uow.idempotency.get("acc-1", "key-1")) == "ord-4"


def test_a_key_recorded_meanwhile_conflicts_without_reading_it(store: Store) -> None:
    save(store, lambda uow: uow.idempotency.put("acc-1", "key-1", "ord-1"))
    with pytest.raises(ConcurrencyConflict):
        save(store, lambda uow: uow.idempotency.put("acc-1", "key-1", "ord-2"))


def test_outbox_pending_in_creation_order_and_mark_sent(store: Store) -> None:
    account = r.italian_account()
    new_york = ZoneInfo("America/New_York")
    base = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    entries = [
        # Ordered by instant: 11:00 New York is 16:00 UTC, after 15:00 UTC.
        r.outbox_entry(account, "m-3", datetime(2026, 11, 2, 11, 0, tzinfo=new_york)),
        r.outbox_entry(account, "m-1", base),
        r.outbox_entry(account, "m-2", base + timedelta(hours=3)),
        r.outbox_entry(account, "m-0", base),
    ]
    save(store, *[lambda uow, e=e: uow.outbox.add(e) for e in entries])
    pending = read(store, lambda uow: uow.outbox.pending(10))
    assert [e.id for e in pending] == ["m-0", "m-1", "m-2", "m-3"]
    assert read(store, lambda uow: uow.outbox.pending(2)) == pending[:2]
    sent_at = base + timedelta(hours=5)
    with store.unit_of_work() as uow:
        for entry in uow.outbox.pending(2):
            uow.outbox.mark_sent(entry.id, sent_at)
        uow.commit()
    assert [e.id for e in read(store, lambda uow: uow.outbox.pending(10))] == ["m-2", "m-3"]
    with store.unit_of_work() as uow:
        late = r.outbox_entry(account, "m-late", base)
        uow.outbox.add(late)
        uow.outbox.mark_sent("m-late", sent_at)
        uow.outbox.mark_sent("m-3", sent_at)
        uow.commit()
    assert [e.id for e in read(store, lambda uow: uow.outbox.pending(10))] == ["m-2"]


def test_marking_an_unknown_outbox_entry_is_refused(store: Store) -> None:
    with pytest.raises(InvalidInput):
        save(store, lambda uow: uow.outbox.mark_sent("m-unknown", r.START))


def test_events_are_kept_in_order_per_account(store: Store) -> None:
    def event(n: int) -> Event:
        return Event(kind=EventKind.SEATS_ASSIGNED, at=r.START + timedelta(minutes=n), note=f"#{n}")

    with store.unit_of_work() as uow:
        uow.events.add("acc-1", event(3))
        uow.events.add("acc-2", event(1))
        uow.events.add("acc-1", event(1))
        assert uow.events.for_account("acc-1") == [event(3), event(1)]
        uow.commit()
    save(
        store,
        lambda uow: uow.events.add("acc-2", event(0)),
        lambda uow: uow.events.add("acc-1", event(2)),
    )
    assert read(store, lambda uow: uow.events.for_account("acc-1")) == [
        event(3),
        event(1),
        event(2),
    ]
    assert read(store, lambda uow: uow.events.for_account("acc-2")) == [event(1), event(0)]
    assert read(store, lambda uow: uow.events.for_account("acc-3")) == []


# -- transactions ------------------------------------------------------------------------


def test_nothing_is_kept_without_commit(store: Store) -> None:
    account = r.italian_account()
    with store.unit_of_work() as uow:
        uow.accounts.add(account)
        uow.idempotency.put("acc-it", "k", "v")
        uow.events.add("acc-it", r.events(account)[0])
        uow.outbox.add(r.outbox_entry(account, "m-1", r.START))
    with store.unit_of_work() as uow:
        assert uow.accounts.get(account.id) is None
        assert uow.idempotency.get("acc-it", "k") is None
        assert uow.events.for_account("acc-it") == []
        assert uow.outbox.pending(10) == []


def test_an_exception_rolls_back_and_propagates(store: Store) -> None:
    account = r.italian_account()
    with pytest.raises(RuntimeError):
        save(store, lambda uow: uow.accounts.add(account), fail)
    assert read(store, lambda uow: uow.accounts.get(account.id)) is None


def test_explicit_rollback_discards_and_closes(store: Store) -> None:
    account = r.italian_account()
    with store.unit_of_work() as uow:
        uow.accounts.add(account)
        uow.rollback()
        with pytest.raises(InvalidInput):
            uow.accounts.add(account)
    assert read(store, lambda uow: uow.accounts.get(account.id)) is None


def test_a_unit_of_work_sees_its_own_writes(store: Store) -> None:
    account = r.italian_account()
    sub, invoice = r.subscribed(account)
    issued = r.issued_invoice(account, invoice)
    with store.unit_of_work() as uow:
        uow.accounts.add(account)
        uow.subscriptions.add(sub)
        uow.invoices.add(issued)
        assert uow.accounts.get(account.id) == account
        assert uow.subscriptions.for_account(account.id) == [sub]
        assert uow.invoices.for_account(account.id) == [issued]
        changed = attrs.evolve(account, payment_method="tok_new", version=1)
        uow.accounts.update(changed)
        assert uow.accounts.get(account.id) == changed
        again = attrs.evolve(changed, payment_method="tok_newer", version=2)
        uow.accounts.update(again)
        assert uow.accounts.get(account.id) == again
        uow.commit()
    assert read(store, lambda uow: uow.accounts.get(account.id)) == again


def test_committed_writes_are_visible_to_the_next_unit_of_work(store: Store) -> None:
    account = r.italian_account()
    with store.unit_of_work() as uow:
        uow.accounts.add(account)
        uow.commit()
        # Reads after the commit see the committed state; writes are refused.
        assert uow.accounts.get(account.id) == account
        with pytest.raises(InvalidInput):
            uow.accounts.update(attrs.evolve(account, version=1))
    with store.unit_of_work() as uow:
        assert uow.accounts.get(account.id) == account


def test_a_commit_twice_is_refused(store: Store) -> None:
    with store.unit_of_work() as uow:
        uow.idempotency.put("acct", "k", "v")
        uow.commit()
        with pytest.raises(InvalidInput):
            uow.commit()


# -- optimistic versions -------------------------------------------------------------------


def test_updating_from_a_stale_copy_is_a_conflict(store: Store) -> None:
    account = r.italian_account()
    save(store, lambda uow: uow.accounts.add(account))
    stale = read(store, lambda uow: uow.accounts.get(account.id))
    winner = attrs.evolve(stale, credit_balance=Decimal("1.00"), version=1)
    save(store, lambda uow: uow.accounts.update(winner))
    with pytest.raises(ConcurrencyConflict) as raised:
        save(
            store,
            lambda uow: uow.accounts.update(
                attrs.evolve(stale, credit_balance=Decimal("2.00"), version=1)
            ),
        )
    assert raised.value.record_id == account.id
    assert raised.value.found == 1
    assert read(store, lambda uow: uow.accounts.get(account.id)) == winner


def test_a_conflict_rolls_back_the_whole_unit_of_work(store: Store) -> None:
    account = r.italian_account()
    sub, _ = r.subscribed(account)
    save(store, lambda uow: uow.accounts.add(account), lambda uow: uow.subscriptions.add(sub))
    save(store, lambda uow: uow.subscriptions.update(attrs.evolve(sub, version=sub.version + 1)))
    with pytest.raises(ConcurrencyConflict):
        save(
            store,
            lambda uow: uow.accounts.update(
                attrs.evolve(account, credit_balance=Decimal(0), version=1)
            ),
            lambda uow: r.number(uow, "INV"),
            lambda uow: uow.subscriptions.update(attrs.evolve(sub, version=sub.version + 1)),
        )
    assert read(store, lambda uow: uow.accounts.get(account.id)) == account
    with store.unit_of_work() as uow:
        assert r.number(uow, "INV") == 1


def test_updating_a_missing_record_is_a_conflict(store: Store) -> None:
    account = r.italian_account()
    with pytest.raises(ConcurrencyConflict) as raised:
        save(store, lambda uow: uow.accounts.update(attrs.evolve(account, version=1)))
    assert raised.value.found is None


def test_skipping_a_version_is_a_conflict(store: Store) -> None:
    account = r.italian_account()
    save(store, lambda uow: uow.accounts.add(account))
    with pytest.raises(ConcurrencyConflict):
        save(store, lambda uow: uow.accounts.update(attrs.evolve(account, version=2)))


def test_racing_updates_lose_nothing(open_store: Callable[[], Store]) -> None:
    """Threads that read, change and write one record at once: each write either
    wins or gets a conflict, and every win is in the final state."""
    store = open_store()
    account = attrs.evolve(r.italian_account(), credit_balance=Decimal(0))
    save(store, lambda uow: uow.accounts.add(account))
    wins: list[int] = []
    conflicts: list[int] = []
    start = threading.Barrier(4)

    def work(n: int) -> None:
        start.wait()
        for _ in range(5):
            try:
                with store.unit_of_work() as uow:
                    current = uow.accounts.get(account.id)
                    uow.accounts.update(
                        attrs.evolve(
                            current,
                            credit_balance=current.credit_balance + 1,
                            version=current.version + 1,
                        )
                    )
                    uow.commit()
                wins.append(n)
            except ConcurrencyConflict:
                conflicts.append(n)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = read(store, lambda uow: uow.accounts.get(account.id))
    assert len(wins) + len(conflicts) == 20
    assert final.version == len(wins)
    assert final.credit_balance == len(wins)


def test_a_closed_store_refuses_units_of_work_and_closes_twice_harmlessly(store: Store) -> None:
    save(store, lambda uow: uow.idempotency.put("acct", "k", "v"))
    store.close()
    store.close()
    with pytest.raises(SubscriptionsError), store.unit_of_work() as uow:
        uow.idempotency.get("acct", "k")


def test_a_store_used_in_a_with_block_is_closed_at_its_end(open_store: StoreFactory) -> None:
    with open_store() as store:
        save(store, lambda uow: uow.idempotency.put("acct", "k", "v"))
    with pytest.raises(SubscriptionsError), store.unit_of_work() as uow:
        uow.idempotency.get("acct", "k")
