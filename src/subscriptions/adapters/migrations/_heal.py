"""Migration 3's data step: the attempts a book written before attempts existed left
in flight without a record.

The old code charged renewals and retries under ``invoice:{id}:{n}`` and orders under
``order:{id}`` without recording the attempt first, so a crash between the charge and
its record left an invoice open (or an order pending or unknown) that nothing would
look at again. Each such invoice and order gets the attempt the old code may have
sent, in flight, its lease over: the first reconcile asks the gateway by that key,
records a charge it finds, and puts the rest back to due.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..._records import revised
from ...accounts import Account
from ...orders import InvoiceStatus, IssuedInvoice, OrderState
from ...payments import AttemptKind, AttemptState, PaymentAttempt, invoice_key, order_key
from ...pricing import InvoiceReason
from ...subscription import Subscription
from .. import codec
from . import MigrationDatabase

__all__ = ["heal_in_flight"]

_ORDER_STATES = {
    OrderState.PENDING: AttemptState.PENDING,
    OrderState.UNKNOWN: AttemptState.UNKNOWN,
    OrderState.REQUIRES_ACTION: AttemptState.REQUIRES_ACTION,
}


def _docs(db: MigrationDatabase, sql: str) -> list[tuple[str, Any]]:
    return [(row[0], codec._json_decode(row[1])) for row in db.query(sql)]


def _insert(db: MigrationDatabase, attempt: PaymentAttempt) -> None:
    db.execute(
        "INSERT INTO attempts (key, account_id, target, state, version, doc) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            attempt.idempotency_key,
            attempt.account_id,
            attempt.target,
            attempt.state.value,
            attempt.version,
            codec.dumps(attempt),
        ),
    )


def heal_in_flight(db: MigrationDatabase) -> None:
    accounts = {
        key: codec.decode(Account, doc) for key, doc in _docs(db, "SELECT id, doc FROM accounts")
    }
    for _, doc in _docs(
        db,
        "SELECT id, doc FROM orders WHERE state IN ('pending', 'unknown', 'requires_action')",
    ):
        # Read as the documents of this schema are written, not through today's Order:
        # its amount due is a decimal string until migration 6 makes it Money.
        amount = Decimal(doc["amount_due"])
        if amount <= 0:
            continue
        updated_at = codec._decode_datetime(doc["updated_at"])
        _insert(
            db,
            PaymentAttempt(
                kind=AttemptKind.CHARGE,
                account_id=doc["account_id"],
                number=1,
                idempotency_key=order_key(doc["id"]),
                amount=amount,
                currency=doc["currency"],
                state=_ORDER_STATES[OrderState(doc["state"])],
                created_at=codec._decode_datetime(doc["created_at"]),
                updated_at=updated_at,
                lease_until=updated_at,
                payment_method=doc.get("payment_method"),
                order_id=doc["id"],
                charge_id=doc.get("charge_id"),
                next_action=doc.get("next_action"),
            ),
        )
    collecting: dict[str, Subscription] = {}
    for _, doc in _docs(db, "SELECT id, doc FROM subscriptions"):
        sub = codec.decode(Subscription, doc)
        if sub.dunning is not None:
            collecting[sub.dunning.invoice_id] = sub
    for key, doc in _docs(db, "SELECT id, doc FROM invoices"):
        invoice = codec.decode(IssuedInvoice, doc)
        if invoice.status is not InvoiceStatus.OPEN or invoice.amount_due <= 0:
            continue
        dunned = collecting.get(invoice.id)
        # The old bill run charged a renewal as attempt 1 and retry k as attempt k + 1.
        number = 1 if dunned is None else dunned.dunning.attempts + 1  # type: ignore[union-attr]
        renewal = invoice.reason in (InvoiceReason.RENEWAL, InvoiceReason.CONVERSION)
        subscription_id = (
            dunned.id
            if dunned is not None
            else (invoice.lines[0].subscription_id if renewal and invoice.lines else None)
        )
        account = accounts.get(invoice.account_id)
        _insert(
            db,
            PaymentAttempt(
                kind=AttemptKind.CHARGE,
                account_id=invoice.account_id,
                number=number,
                idempotency_key=invoice_key(invoice.id, number),
                amount=invoice.amount_due,
                currency=invoice.currency,
                state=AttemptState.PENDING,
                created_at=invoice.issued_at,
                updated_at=invoice.issued_at,
                lease_until=invoice.issued_at,
                payment_method=None if account is None else account.payment_method,
                off_session=renewal,
                invoice_id=invoice.id,
                subscription_id=subscription_id,
            ),
        )
        charging = revised(invoice, status=InvoiceStatus.CHARGING, attempts=number)
        db.execute(
            "UPDATE invoices SET version = ?, doc = ? WHERE id = ?",
            (charging.version, codec.dumps(charging), key),
        )
