"""Paying an open invoice on session: a past-due renewal, or a purchase order's invoice.

The payment is an attempt on record (the invoice's next number, key
``invoice:{id}:{n}``), made only when no other attempt at the invoice is in flight: a
second billing contact paying at the same moment, or a payment while the bill run
retries it, gets :class:`~subscriptions.errors.PaymentInProgress` and is never sent.
The customer's idempotency key names the attempt: the same key gives the same
payment, as it stands. A card that asks for 3-D Secure raises
:class:`~subscriptions.errors.PaymentActionRequired` with what the page needs; once
the customer has authenticated, ``pay_invoice`` with the same key (or
``confirm_payment`` with the invoice's id) completes it.
"""

from __future__ import annotations

from .. import collection, payments
from ..accounts import require_billing_contact
from ..errors import (
    ConcurrencyConflict,
    InvalidInput,
    InvalidTransition,
    PaymentActionRequired,
    PaymentDeclined,
    PaymentFailed,
    PaymentInProgress,
)
from ..inputs import identifier
from ..orders import COLLECTIBLE, InvoiceStatus, IssuedInvoice, Order
from ..payments import AttemptState, PaymentAttempt
from ..ports import UnitOfWork
from . import attempts, orders
from .base import COLLISION_TRIES, Center, owned
from .orders import check_key

__all__ = ["confirm_invoice_payment", "find_invoice", "pay_invoice"]


def find_invoice(uow: UnitOfWork, account_id: str, invoice_id: str) -> IssuedInvoice:
    return owned(
        uow.invoices.get(identifier(invoice_id, what="invoice id")),
        account_id,
        f"invoice {invoice_id!r}",
        "list the account's invoices to find its id",
    )


def _scope_key(invoice_id: str, idempotency_key: str) -> str:
    return f"pay:{invoice_id}:{idempotency_key}"


def pay_invoice(
    center: Center, account_id: str, user: str, invoice_id: str, *, idempotency_key: str
) -> IssuedInvoice:
    """Pay an open (or failed) invoice now, on session, with the account's payment
    method (after updating it, typically): a past-due subscription becomes active
    again. The same key gives the same payment, as it stands; a second payment
    while one is in flight raises
    :class:`~subscriptions.errors.PaymentInProgress` and is never sent. A
    declined payment raises :class:`~subscriptions.errors.PaymentDeclined` and
    changes nothing; 3-D Secure raises
    :class:`~subscriptions.errors.PaymentActionRequired` (call again with the same
    key, or :meth:`confirm_payment`, once the customer has authenticated). The
    invoice is returned paid, or ``charging`` when the gateway did not answer
    (:meth:`reconcile` resolves it)."""
    check_key(idempotency_key)
    attempt: PaymentAttempt | None = None
    for tried in range(COLLISION_TRIES):
        now = center.now()
        try:
            with center.store.unit_of_work() as uow:
                account = center.load_account(uow, account_id)
                require_billing_contact(account, user, "pay invoices")
                invoice = find_invoice(uow, account_id, invoice_id)
                known = uow.idempotency.get(account_id, _scope_key(invoice_id, idempotency_key))
                if known is not None:
                    attempt = uow.attempts.get(known)
                    break
                if invoice.status in (InvoiceStatus.CHARGING, InvoiceStatus.REQUIRES_ACTION):
                    running = uow.attempts.in_flight(payments.invoice_target(invoice.id))
                    raise PaymentInProgress(
                        payments.invoice_target(invoice.id), None if running is None else running.id
                    )
                if invoice.status not in COLLECTIBLE or invoice.amount_due <= 0:
                    raise InvalidTransition(
                        f"invoice {invoice.number} is {invoice.status.value}; there is nothing "
                        "to pay"
                    )
                if account.payment_method is None:
                    raise InvalidInput(
                        "the account has no payment method; add one first "
                        "(update_payment_method; on the command line, account payment-method)"
                    )
                begun = collection.begin(invoice)
                uow.invoices.update(begun)
                collected = attempts.collecting(uow, account_id, invoice_id)
                attempt = payments.invoice_attempt(
                    invoice,
                    number=begun.attempts,
                    payment_method=account.payment_method,
                    off_session=False,
                    at=now,
                    lease=center.settings.reconcile_after,
                    subscription_id=None if collected is None else collected.id,
                )
                uow.attempts.add(attempt)
                uow.idempotency.put(account_id, _scope_key(invoice_id, idempotency_key), attempt.id)
                uow.commit()
            break
        except PaymentInProgress:
            raise
        except ConcurrencyConflict:
            # Another payment of it began meanwhile (or this key was recorded by a
            # concurrent call): look again. The writer collided with may itself be
            # rolled back (one side of a deadlock), so a look may find nothing yet
            # and collide again; a few tries settle it.
            attempt = None
            if tried == COLLISION_TRIES - 1:
                raise
    assert attempt is not None
    return _as_it_stands(center, attempt)


def _as_it_stands(center: Center, attempt: PaymentAttempt) -> IssuedInvoice:
    """Take the payment ``attempt`` as far as it goes now; the invoice as it stands."""
    if attempt.state in (AttemptState.PENDING, AttemptState.UNKNOWN):
        attempt = attempts.send_and_record(center, attempt).attempt
    elif attempt.state is AttemptState.REQUIRES_ACTION:
        settled = attempts.confirm(center, attempt)
        if settled is not None:
            attempt = settled.attempt
    with center.store.unit_of_work() as uow:
        invoice = uow.invoices.get(attempt.invoice_id or "")
    assert invoice is not None
    state = attempt.state
    if state is AttemptState.REQUIRES_ACTION:
        raise PaymentActionRequired(
            f"the payment of invoice {invoice.number} needs the customer to authenticate "
            "(3-D Secure); send them to the next action, then call pay_invoice again with "
            "the same idempotency key (or confirm_payment with the invoice's id)",
            order_id=None,
            next_action=attempt.next_action,
        )
    if state is AttemptState.DECLINED:
        raise PaymentDeclined(
            f"the payment of invoice {invoice.number} was declined ({attempt.decline_code}: "
            f"{attempt.message}); nothing was charged: update the payment method and pay "
            "again with a new idempotency key",
            order_id=None,
            code=attempt.decline_code,
        )
    if state is AttemptState.NOT_CHARGED:
        raise PaymentFailed(
            f"the payment of invoice {invoice.number} did not go through "
            f"({attempt.message}); nothing was charged: pay again with a new idempotency key",
            order_id=None,
            code=attempt.decline_code,
        )
    return invoice


def confirm_invoice_payment(
    center: Center, account_id: str, user: str, invoice_id: str
) -> IssuedInvoice:
    """Complete the 3-D Secure payment of an invoice once the customer authenticated."""
    with center.store.unit_of_work() as uow:
        account = center.load_account(uow, account_id)
        require_billing_contact(account, user, "pay")
        invoice = find_invoice(uow, account_id, invoice_id)
        attempt = uow.attempts.in_flight(payments.invoice_target(invoice.id))
    if attempt is None:
        return invoice
    return _as_it_stands(center, attempt)


def confirm_payment(
    center: Center, account_id: str, user: str, payment_id: str
) -> Order | IssuedInvoice:
    """Complete a payment that waited for 3-D Secure, once the customer has
    authenticated: ``payment_id`` is the order's id (the order is returned) or the
    invoice's id for a payment made with :meth:`pay_invoice` (the invoice is
    returned)."""
    identifier(payment_id, what="payment id")
    with center.store.unit_of_work() as uow:
        center.load_account(uow, account_id)
        invoice = uow.orders.get(payment_id) is None and uow.invoices.get(payment_id)
    if invoice:
        return confirm_invoice_payment(center, account_id, user, payment_id)
    return orders.confirm_order_payment(center, account_id, user, payment_id)


def list_invoices(center: Center, account_id: str, user: str) -> list[IssuedInvoice]:
    """The account's invoices and credit notes, in number order."""
    with center.store.unit_of_work() as uow:
        account = center.load_account(uow, account_id)
        require_billing_contact(account, user, "see invoices")
        return uow.invoices.for_account(account_id)


def show_invoice(center: Center, account_id: str, user: str, invoice_id: str) -> IssuedInvoice:
    """The account's invoice (or credit note) ``invoice_id``."""
    with center.store.unit_of_work() as uow:
        account = center.load_account(uow, account_id)
        require_billing_contact(account, user, "see invoices")
        return find_invoice(uow, account_id, invoice_id)
