"""The storage contract of ``Store.snapshot()``, for every adapter: one read-only unit
of work that sees the store as it was at its first read, whatever commits meanwhile,
and refuses every write and claim, leaving the store as it was."""

from __future__ import annotations

import gc
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest

from subscriptions.errors import ReadOnlySnapshot, SubscriptionsError
from subscriptions.orders import InvoiceStatus
from subscriptions.subscription import Event, EventKind

from . import records as r
from .conftest import StoreFactory, save

Store = Any


def book(store: Store) -> None:
    """Two accounts with a subscription, an invoice, seats, a cart, an idempotency
    key, an outbox entry and an event."""
    for sequence, account_id in enumerate(("acc-a", "acc-b"), start=1):
        account = r.italian_account(account_id)
        sub, invoice = r.subscribed(account)
        save(
            store,
            lambda uow, a=account: uow.accounts.add(a),
            lambda uow, s=sub: uow.subscriptions.add(s),
            lambda uow, s=sub: uow.seats.put(r.seats(s.id)),
            lambda uow, a=account, i=invoice, n=sequence: uow.invoices.add(
                r.issued_invoice(a, i, invoice_id=f"inv-{a.id}", sequence=n, order_id=None)
            ),
        )
    account = r.italian_account("acc-a")
    save(
        store,
        lambda uow: uow.carts.put(r.cart(account)),
        lambda uow: uow.idempotency.put("order", "k-1", "ord-1"),
        lambda uow: uow.outbox.add(r.outbox_entry(account, "m-1", r.START)),
        lambda uow: uow.events.add("acc-a", Event(kind=EventKind.SEATS_ASSIGNED, at=r.START)),
    )


def everything(store: Store) -> tuple[object, ...]:
    """What the store holds, read in a unit of work rolled back (the next invoice
    number included: a rollback gives it back)."""
    with store.unit_of_work() as uow:
        accounts = uow.accounts.page(limit=100)
        return (
            accounts,
            uow.subscriptions.page(limit=100),
            [uow.invoices.for_account(a.id) for a in accounts],
            [uow.carts.get(a.id) for a in accounts],
            [uow.seats.get(f"{a.id}:remote-support") for a in accounts],
            [uow.events.for_account(a.id) for a in accounts],
            uow.idempotency.get("order", "k-1"),
            uow.outbox.pending(10),
            uow.invoices.take_numbers("INV", 1, now=lambda: r.START),
        )


def richer(account: Any, by: str = "5.00") -> Any:
    return attrs.evolve(
        account, credit_balance=account.credit_balance + Decimal(by), version=account.version + 1
    )


def test_a_snapshot_sees_the_store_as_it_was_at_its_first_read(store: Store) -> None:
    book(store)
    with store.snapshot() as snap:
        first = snap.accounts.get("acc-a")
        # Meanwhile, another unit of work changes both accounts and adds a third.
        with store.unit_of_work() as uow:
            uow.accounts.update(richer(uow.accounts.get("acc-a")))
            uow.accounts.update(richer(uow.accounts.get("acc-b")))
            uow.accounts.add(r.italian_account("acc-c"))
            uow.invoices.set_status(uow.invoices.get("inv-acc-b").with_status(InvoiceStatus.VOID))
            uow.commit()
        assert snap.accounts.get("acc-a") == first
        assert snap.accounts.get("acc-b").version == 0
        assert snap.accounts.get("acc-c") is None
        assert [a.id for a in snap.accounts.page(limit=10)] == ["acc-a", "acc-b"]
        assert set(snap.accounts.get_many(["acc-a", "acc-b", "acc-c"])) == {"acc-a", "acc-b"}
        assert snap.invoices.get("inv-acc-b").status is InvoiceStatus.PAID
        assert [i.status for i in snap.invoices.for_account("acc-b")] == [InvoiceStatus.PAID]
    # A snapshot opened now sees the change.
    with store.snapshot() as snap:
        assert snap.accounts.get("acc-b").version == 1
        assert snap.accounts.get("acc-c") is not None


def test_a_snapshot_begins_at_its_first_read_not_when_it_is_made(store: Store) -> None:
    book(store)
    with store.snapshot() as snap:
        save(store, lambda uow: uow.accounts.update(richer(uow.accounts.get("acc-a"))))
        assert snap.accounts.get("acc-a").version == 1


def test_every_read_works_in_a_snapshot(store: Store) -> None:
    book(store)
    with store.unit_of_work() as uow:
        expected = (
            uow.subscriptions.for_account("acc-a"),
            uow.subscriptions.due(r.START + timedelta(days=400), limit=10),
            uow.orders.for_account("acc-a"),
            uow.orders.unresolved(),
            uow.attempts.in_flight("inv-acc-a"),
            uow.carts.get("acc-a"),
            uow.seats.get_many(["acc-a:remote-support", "acc-b:remote-support"]),
            uow.subscriptions.get_many(["acc-a:remote-support", "acc-x:remote-support"]),
            uow.idempotency.get("order", "k-1"),
            uow.events.for_account("acc-a"),
            uow.quotes.get("quo-1"),
        )
    with store.snapshot() as snap:
        assert (
            snap.subscriptions.for_account("acc-a"),
            snap.subscriptions.due(r.START + timedelta(days=400), limit=10),
            snap.orders.for_account("acc-a"),
            snap.orders.unresolved(),
            snap.attempts.in_flight("inv-acc-a"),
            snap.carts.get("acc-a"),
            snap.seats.get_many(["acc-a:remote-support", "acc-b:remote-support"]),
            snap.subscriptions.get_many(["acc-a:remote-support", "acc-x:remote-support"]),
            snap.idempotency.get("order", "k-1"),
            snap.events.for_account("acc-a"),
            snap.quotes.get("quo-1"),
        ) == expected
        assert expected[1] == ["acc-a:remote-support", "acc-b:remote-support"]
        assert snap.attempts.with_state([], limit=10) == []


#: Every write and claim of the port, as a snapshot is asked it.
WRITES: dict[str, Callable[[Any], object]] = {
    "accounts.add": lambda s: s.accounts.add(r.italian_account("acc-new")),
    "accounts.update": lambda s: s.accounts.update(richer(s.accounts.get("acc-a"))),
    "subscriptions.update": lambda s: s.subscriptions.update(
        attrs.evolve(s.subscriptions.get("acc-a:remote-support"), version=1)
    ),
    "subscriptions.claim_due": lambda s: s.subscriptions.claim_due(
        r.START + timedelta(days=400), limit=10
    ),
    "carts.put": lambda s: s.carts.put(r.cart(r.italian_account("acc-b"))),
    "seats.put": lambda s: s.seats.put(r.seats("acc-b:remote-support")),
    "quotes.add": lambda s: s.quotes.add(r.quote(r.italian_account("acc-a"))),
    "invoices.set_status": lambda s: s.invoices.set_status(
        s.invoices.get("inv-acc-a").with_status(InvoiceStatus.VOID)
    ),
    "invoices.take_numbers": lambda s: s.invoices.take_numbers("INV", 1, now=lambda: r.START),
    "idempotency.put": lambda s: s.idempotency.put("order", "k-2", "ord-2"),
    "idempotency.delete": lambda s: s.idempotency.delete("order", "k-1"),
    "outbox.add": lambda s: s.outbox.add(
        r.outbox_entry(r.italian_account("acc-a"), "m-2", r.START)
    ),
    "outbox.pending": lambda s: s.outbox.pending(10),
    "outbox.mark_sent": lambda s: s.outbox.mark_sent("m-1", r.START),
    "events.add": lambda s: s.events.add("acc-a", Event(kind=EventKind.SEATS_ASSIGNED, at=r.START)),
}


@pytest.mark.parametrize("operation", sorted(WRITES))
def test_a_snapshot_refuses_every_write_and_claim_and_changes_nothing(
    store: Store, operation: str
) -> None:
    book(store)
    before = everything(store)
    with store.snapshot() as snap:
        seen = snap.accounts.get("acc-a")
        with pytest.raises(ReadOnlySnapshot) as refused:
            WRITES[operation](snap)
        assert "store.unit_of_work()" in str(refused.value)
        assert isinstance(refused.value, SubscriptionsError)
        # Still open for reading, and committing it writes nothing.
        assert snap.accounts.get("acc-a") == seen
        snap.commit()
    assert everything(store) == before


def test_commit_and_rollback_end_a_snapshot(store: Store) -> None:
    book(store)
    snap = store.snapshot()
    assert snap.accounts.get("acc-a") is not None
    snap.rollback()
    with pytest.raises(SubscriptionsError):
        snap.accounts.add(r.italian_account("acc-late"))
    with store.snapshot() as snap:
        snap.commit()
        with pytest.raises(SubscriptionsError):
            snap.commit()


def test_the_store_writes_as_before_after_snapshots(open_store: StoreFactory) -> None:
    """A snapshot's connection goes back to the store as it was (not read-only, not
    repeatable-read): the units of work that reuse it write as ever."""
    store = open_store()
    book(store)
    for n in range(6):
        with store.snapshot() as snap:
            assert snap.accounts.get("acc-a").version == n
        save(
            store,
            lambda uow: uow.accounts.update(richer(uow.accounts.get("acc-a"))),
            lambda uow: uow.events.add("acc-a", Event(kind=EventKind.SEATS_ASSIGNED, at=r.START)),
        )
    with store.unit_of_work() as uow:
        assert uow.accounts.get("acc-a").version == 6
        assert len(uow.events.for_account("acc-a")) == 7


def test_a_snapshot_keeps_none_of_the_records_it_returns(store: Store, backend: str) -> None:
    """Read page by page, a book takes the memory of one page: a record the caller
    has let go of is gone (the in-memory store shares the records it holds, and copies
    none)."""
    book(store)
    with store.snapshot() as snap:
        read: list[Any] = [*snap.accounts.page(limit=10), *snap.subscriptions.page(limit=10)]
        read += snap.invoices.get_many(["inv-acc-a"]).values()
        read.append(snap.accounts.get("acc-b"))
        # (Records take no weak references: they are found among the live objects by
        # identity, with nothing made in between that could take an address freed.)
        first, made = id(read[0]), {id(record): type(record) for record in read}
        del read
        gc.collect()
        alive = [o for o in gc.get_objects() if made.get(id(o)) is type(o)]
        if backend == "memory":
            with store.unit_of_work() as uow:
                assert id(uow.accounts.get("acc-a")) == first
                assert alive
        else:
            assert alive == []


def test_a_closed_store_refuses_snapshots(store: Store) -> None:
    store.close()
    with pytest.raises(SubscriptionsError), store.snapshot() as snap:
        snap.accounts.get("acc-a")
