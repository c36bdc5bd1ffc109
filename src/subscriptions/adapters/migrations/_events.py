"""Migration 5's data step: stored events from free text to typed fields, and failed
orders with their typed failure.

Before it, an event said what it was about in one text, ``detail``: an order's id, an
invoice's number and a failure code (``"INV-000007: card_declined"``), the users whose
seats moved (``"anna, marco"``), a plan change's kind and timing. Each stored event is
rewritten with the typed fields of its kind (:class:`~subscriptions.subscription.Event`);
its instant, kind and subscription stay as they were. A text the step cannot read (a
book edited by hand) is kept, whole, as the event's ``note``: nothing is lost. A failed
order gets the :class:`~subscriptions.orders.OrderFailure` its failure code stands for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...orders import failure_of_code
from .. import codec
from . import MigrationDatabase

_KEY_AND_REST = {"order_failed", "payment_failed", "order_refunded", "payment_refunded"}


def typed_event(doc: dict[str, Any], currency_of: Callable[[str], str | None]) -> dict[str, Any]:
    """The typed form of a stored event document (``currency_of`` names the currency of
    a payment attempt, by its key)."""
    doc = dict(doc)
    detail = doc.pop("detail", "")
    if not isinstance(detail, str) or not detail:
        return doc
    kind = doc.get("kind")
    fields = _fields(kind, detail, currency_of)
    if fields is None:
        doc["note"] = detail
    else:
        doc.update(fields)
    return doc


def _fields(
    kind: object, detail: str, currency_of: Callable[[str], str | None]
) -> dict[str, Any] | None:
    head, sep, rest = detail.partition(": ")
    if kind == "trial_started" and detail.startswith("ends "):
        return {"ends_at": detail.removeprefix("ends ")}
    if kind == "cancellation_scheduled":
        return {"ends_at": detail}
    if kind == "subscription_canceled" and detail in ("immediate", "end of term"):
        return {"cancel_timing": "immediate" if detail == "immediate" else "end_of_term"}
    if kind in ("subscription_changed", "change_scheduled"):
        change, comma, timing = detail.partition(", ")
        return {"change_kind": change, "change_timing": timing} if comma else None
    if kind == "order_placed":
        return {"order_id": detail}
    if kind in ("invoice_issued", "payment_succeeded"):
        return {"invoice_number": detail}
    if kind in ("seats_assigned", "seats_unassigned"):
        if " -> " in detail:
            giver, _, taker = detail.partition(" -> ")
            return {"kind": "seat_reassigned", "user_ids": [giver, taker]}
        return {"user_ids": [user for user in detail.split(", ") if user]}
    if kind == "account_updated" or kind == "trial_converted":
        return {"note": detail}
    if not sep:
        return None
    if kind in _KEY_AND_REST:
        if kind == "order_failed":
            return {"order_id": head, "failure_code": rest}
        if kind == "payment_failed":
            return {"invoice_number": head, "failure_code": rest}
        currency = currency_of(head)
        if currency is None:
            return {"payment_key": head, "note": rest}
        return {"payment_key": head, "amount": {"amount": rest, "currency": currency}}
    if kind == "refund_failed":
        return {"payment_key": head, "note": rest}
    if kind == "payment_needs_review":
        return {"payment_key": head}
    return None


def type_events(db: MigrationDatabase) -> None:
    currencies = {
        key: codec._json_decode(doc).get("currency")
        for key, doc in db.query("SELECT key, doc FROM attempts")
    }
    for seq, text in db.query("SELECT seq, doc FROM events ORDER BY seq"):
        doc = codec._json_decode(text)
        if "detail" not in doc:
            continue
        typed = typed_event(doc, currencies.get)
        if typed != doc:
            db.execute("UPDATE events SET doc = ? WHERE seq = ?", (codec._json_encode(typed), seq))


def type_order_failures(db: MigrationDatabase) -> None:
    for order_id, text in db.query("SELECT id, doc FROM orders WHERE state = 'failed'"):
        doc = codec._json_decode(text)
        if doc.get("failure") is None:
            doc["failure"] = failure_of_code(doc.get("failure_code")).value
            db.execute(
                "UPDATE orders SET doc = ? WHERE id = ?", (codec._json_encode(doc), order_id)
            )
