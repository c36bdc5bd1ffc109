"""Migration 5's reading of the free-text events the earlier schemas stored."""

from __future__ import annotations

from typing import Any

import pytest

from subscriptions.adapters import codec
from subscriptions.adapters.migrations._events import typed_event
from subscriptions.orders import OrderFailure, failure_of_code
from subscriptions.subscription import CancelTiming, ChangeKind, ChangeTiming, Event, EventKind

AT = "2026-11-02T09:00:00+00:00"


def _typed(kind: str, detail: str, currencies: dict[str, str] | None = None) -> Event:
    doc: dict[str, Any] = {"kind": kind, "at": AT, "subscription_id": "sub-1", "detail": detail}
    typed = typed_event(doc, (currencies or {}).get)
    assert "detail" not in typed
    return codec.decode(Event, typed)


@pytest.mark.parametrize(
    ("kind", "detail", "expected"),
    [
        ("order_placed", "ord-1", {"order_id": "ord-1"}),
        (
            "order_failed",
            "ord-1: card_declined",
            {"order_id": "ord-1", "failure_code": "card_declined"},
        ),
        ("invoice_issued", "INV-000007", {"invoice_number": "INV-000007"}),
        ("payment_succeeded", "INV-000007", {"invoice_number": "INV-000007"}),
        (
            "payment_failed",
            "INV-000007: insufficient_funds",
            {"invoice_number": "INV-000007", "failure_code": "insufficient_funds"},
        ),
        ("seats_assigned", "anna, marco", {"user_ids": ("anna", "marco")}),
        ("seats_unassigned", "anna", {"user_ids": ("anna",)}),
        ("account_updated", "set the VAT number", {"note": "set the VAT number"}),
        ("trial_converted", "automatic", {"note": "automatic"}),
        (
            "refund_failed",
            "refund:k:1: the charge is disputed",
            {"payment_key": "refund:k:1", "note": "the charge is disputed"},
        ),
        (
            "payment_needs_review",
            "order:ord-1: unknown since 2026-11-01",
            {"payment_key": "order:ord-1"},
        ),
        ("subscription_canceled", "immediate", {"cancel_timing": CancelTiming.IMMEDIATE}),
        ("subscription_canceled", "end of term", {"cancel_timing": CancelTiming.END_OF_TERM}),
        (
            "subscription_changed",
            "upgrade, keep_anchor",
            {"change_kind": ChangeKind.UPGRADE, "change_timing": ChangeTiming.KEEP_ANCHOR},
        ),
        (
            "change_scheduled",
            "downgrade, end_of_term",
            {"change_kind": ChangeKind.DOWNGRADE, "change_timing": ChangeTiming.END_OF_TERM},
        ),
    ],
)
def test_each_kind_of_text_becomes_its_typed_fields(
    kind: str, detail: str, expected: dict[str, Any]
) -> None:
    event = _typed(kind, detail)
    assert event.kind is EventKind(kind)
    for name, value in expected.items():
        assert getattr(event, name) == value, name
    if "note" not in expected:
        assert event.note == ""


def test_instants_in_the_text_become_instants() -> None:
    trial = _typed("trial_started", f"ends {AT}")
    assert trial.ends_at is not None
    assert trial.ends_at.isoformat() == AT
    scheduled = _typed("cancellation_scheduled", AT)
    assert scheduled.ends_at == trial.ends_at


def test_a_reassigned_seat_becomes_its_own_kind() -> None:
    event = _typed("seats_assigned", "anna -> marco")
    assert event.kind is EventKind.SEAT_REASSIGNED
    assert event.user_ids == ("anna", "marco")


def test_a_refund_takes_the_currency_of_its_attempt() -> None:
    event = _typed("payment_refunded", "refund:k:1: 12.20", {"refund:k:1": "EUR"})
    assert event.payment_key == "refund:k:1"
    assert event.amount is not None
    assert (str(event.amount.amount), event.amount.currency.code) == ("12.20", "EUR")
    unknown = _typed("order_refunded", "refund:k:2: 5.00")
    assert (unknown.payment_key, unknown.amount, unknown.note) == ("refund:k:2", None, "5.00")


def test_a_text_it_cannot_read_is_kept_whole_as_a_note() -> None:
    event = _typed("order_failed", "no colon here")
    assert (event.note, event.order_id) == ("no colon here", None)
    assert _typed("subscription_renewed", "").note == ""


@pytest.mark.parametrize(
    ("code", "failure"),
    [
        ("transient_error", OrderFailure.NOT_CHARGED),
        ("not_charged", OrderFailure.NOT_CHARGED),
        ("abandoned", OrderFailure.ABANDONED),
        ("quote_changed", OrderFailure.QUOTE_CHANGED),
        ("card_declined", OrderFailure.DECLINED),
        (None, OrderFailure.DECLINED),
    ],
)
def test_a_stored_failure_code_stands_for_one_typed_failure(
    code: str | None, failure: OrderFailure
) -> None:
    assert failure_of_code(code) is failure
