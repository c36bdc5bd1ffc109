"""The collection of an invoice as pure transitions (subscriptions.collection)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import attrs
import pytest

from subscriptions import collection
from subscriptions.errors import InvalidTransition
from subscriptions.orders import InvoiceStatus, IssuedInvoice
from subscriptions.subscription import Dunning, EventKind, Status, Subscription
from tests.contract import records as r

RETRIES = (3, 7, 14)


def renewal() -> tuple[Subscription, IssuedInvoice]:
    account = r.italian_account()
    sub, invoice = r.subscribed(account)
    issued = r.issued_invoice(account, invoice, invoice_id="inv_r", order_id=None)
    return sub, attrs.evolve(issued, status=InvoiceStatus.CHARGING, attempts=1)


def test_due_at_is_the_next_retry_while_collecting_else_the_next_step() -> None:
    sub, invoice = renewal()
    assert sub.period is not None
    assert collection.due_at(sub) == sub.period.end
    waiting = attrs.evolve(
        sub,
        dunning=Dunning(
            invoice_id=invoice.id, failed_at=sub.period.start, attempts=1, next_retry_at=None
        ),
    )
    assert collection.due_at(waiting) is None  # an attempt is in flight
    due = attrs.evolve(waiting, dunning=attrs.evolve(waiting.dunning, next_retry_at=r.START))
    assert collection.due_at(due) == r.START


def test_the_retry_schedule_keeps_its_gaps() -> None:
    gaps = [collection.retry_gap(RETRIES, declines=n) for n in range(1, 5)]
    assert gaps == [timedelta(days=3), timedelta(days=4), timedelta(days=7), None]
    assert collection.retry_gap((1, 2), declines=2) == timedelta(days=1)
    assert collection.retry_gap((), declines=1) is None
    assert collection.retry_gap(RETRIES, declines=0) is None


def test_begin_counts_the_attempt_and_refuses_what_is_not_collectible() -> None:
    _, invoice = renewal()
    opened = attrs.evolve(invoice, status=InvoiceStatus.OPEN)
    begun = collection.begin(opened)
    assert (begun.status, begun.attempts, begun.version) == (InvoiceStatus.CHARGING, 2, 1)
    for status in (InvoiceStatus.CHARGING, InvoiceStatus.PAID, InvoiceStatus.VOID):
        with pytest.raises(InvalidTransition):
            collection.begin(attrs.evolve(invoice, status=status))


def test_a_first_decline_makes_it_past_due_with_the_schedule_from_the_failure() -> None:
    sub, invoice = renewal()
    failed_at = r.START + timedelta(days=40)
    out = collection.declined(
        invoice, sub, at=failed_at, code="card_declined", retry_days=RETRIES, scheduled=True
    )
    assert out.invoice.status is InvoiceStatus.FAILED
    assert out.subscription is not None
    assert out.subscription.status is Status.PAST_DUE
    dunning = out.subscription.dunning
    assert dunning is not None
    assert (dunning.attempts, dunning.next_retry_at) == (1, failed_at + timedelta(days=3))
    assert sub.period is not None
    assert dunning.failed_at == sub.period.start  # where the unpaid period starts
    assert out.ends_at == failed_at + timedelta(days=14)
    assert [e.kind for e in out.events] == [
        EventKind.PAYMENT_FAILED,
        EventKind.SUBSCRIPTION_PAST_DUE,
    ]
    assert not out.lapses
    # The last retry declined: it lapses.
    last = attrs.evolve(out.subscription, dunning=attrs.evolve(dunning, attempts=3))
    final = collection.declined(
        out.invoice, last, at=failed_at, code="x", retry_days=RETRIES, scheduled=True
    )
    assert final.lapses
    assert final.retry_at is None


def test_a_decline_on_session_changes_no_schedule() -> None:
    sub, invoice = renewal()
    out = collection.declined(
        invoice, sub, at=r.START, code="c", retry_days=RETRIES, scheduled=False
    )
    assert out.subscription is None
    assert out.invoice.status is InvoiceStatus.OPEN


def test_not_charged_makes_it_due_again_or_keeps_the_schedule() -> None:
    sub, invoice = renewal()
    at = r.START + timedelta(days=31)
    out = collection.uncharged(invoice, sub, at=at, scheduled=True)
    assert out.invoice.status is InvoiceStatus.OPEN
    assert out.subscription is not None
    assert out.subscription.dunning == Dunning(
        invoice_id=invoice.id,
        failed_at=sub.period.start,  # type: ignore[union-attr]
        attempts=0,
        next_retry_at=at,
    )
    assert out.subscription.status is Status.ACTIVE
    past_due = attrs.evolve(
        sub,
        status=Status.PAST_DUE,
        dunning=Dunning(invoice_id=invoice.id, failed_at=at, attempts=2, next_retry_at=None),
    )
    kept = collection.uncharged(invoice, past_due, at=at, scheduled=True)
    assert kept.invoice.status is InvoiceStatus.FAILED
    assert kept.subscription is not None
    assert kept.subscription.dunning is not None
    assert (kept.subscription.dunning.attempts, kept.subscription.dunning.next_retry_at) == (2, at)


def test_paid_recovers_a_past_due_subscription() -> None:
    sub, invoice = renewal()
    past_due = attrs.evolve(
        sub,
        status=Status.PAST_DUE,
        dunning=Dunning(invoice_id=invoice.id, failed_at=r.START, attempts=1, next_retry_at=None),
    )
    out = collection.charged(invoice, past_due, at=r.START)
    assert out.invoice.status is InvoiceStatus.PAID
    assert out.subscription is not None
    assert (out.subscription.status, out.subscription.dunning) == (Status.ACTIVE, None)
    assert [e.kind for e in out.events] == [
        EventKind.PAYMENT_SUCCEEDED,
        EventKind.SUBSCRIPTION_RECOVERED,
    ]
    # A renewal paid at the first attempt changes nothing on its subscription.
    assert collection.charged(invoice, sub, at=r.START).subscription is None
    with pytest.raises(InvalidTransition, match="refunded instead"):
        collection.charged(out.invoice, past_due, at=r.START)


def test_a_lapse_ends_the_subscription_where_its_paid_period_ended() -> None:
    sub, invoice = renewal()
    assert sub.period is not None
    unpaid_from = sub.period.start + timedelta(days=10)
    past_due = attrs.evolve(
        sub,
        status=Status.PAST_DUE,
        dunning=Dunning(
            invoice_id=invoice.id, failed_at=unpaid_from, attempts=4, next_retry_at=None
        ),
    )
    failed = attrs.evolve(invoice, status=InvoiceStatus.FAILED, credit_applied=Decimal("2.00"))
    lapse = collection.lapse(past_due, failed, at=unpaid_from + timedelta(days=14))
    assert lapse.subscription.status is Status.CANCELED
    assert lapse.subscription.canceled_at == unpaid_from
    assert lapse.subscription.period is not None
    assert lapse.subscription.period.end == unpaid_from
    assert lapse.voided is not None
    assert lapse.voided.status is InvoiceStatus.VOID
    assert lapse.reversal is not None
    assert lapse.reversal.total == -failed.total
    assert [line.amount for line in lapse.reversal.lines] == [-line.amount for line in failed.lines]
    assert lapse.credit_back == Decimal("2.00")
    with pytest.raises(InvalidTransition, match="in flight"):
        collection.lapse(past_due, invoice, at=unpaid_from)  # being charged
