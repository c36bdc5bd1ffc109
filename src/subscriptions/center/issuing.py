"""Issuing documents: numbers and dates taken together, in the series, at the end.

Every invoice and credit note is dated at the instant it is issued: the Billing
Center takes the documents' numbers in one statement, then reads its clock, and dates
them then, never earlier than the last document of the series (whatever the clocks of
the servers that issued it). So in a series, numbers increase with issue dates (the
progressive numbering Italy's art. 21 DPR 633/72 asks for), and a late bill run issues
today's invoices for past periods, whose lines state the period each covers. Each
document also records its tax point: the instant whose VAT rate it applies.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import attrs

from ..accounts import Account
from ..orders import InvoiceStatus, IssuedInvoice, Party, corrected_numbers
from ..ports import UnitOfWork
from ..pricing import Invoice, InvoiceLine, LineKind
from ..subscription import Event, EventKind
from .base import Center

__all__ = ["Draft", "corrected", "issue", "status_of"]


@attrs.frozen(kw_only=True)
class Draft:
    """A document to issue: the priced invoice and what the issuing adds to it."""

    account: Account
    invoice: Invoice
    order_id: str | None = None
    status: InvoiceStatus | None = None
    due_at: datetime | None = None
    corrects: tuple[str, ...] = ()
    tax_point: datetime | None = None
    attempts: int = 0


def status_of(invoice: Invoice) -> InvoiceStatus:
    """The status of a document nothing is left to collect on."""
    if invoice.total <= 0:
        return InvoiceStatus.SETTLED
    return InvoiceStatus.PAID if invoice.amount_due == 0 else InvoiceStatus.OPEN


def corrected(uow: UnitOfWork, account_id: str, lines: Sequence[InvoiceLine]) -> tuple[str, ...]:
    """The numbers of the account's invoices whose charges these credit lines reverse
    (:func:`~subscriptions.orders.corrected_numbers` over what the store holds)."""
    if not any(line.kind is LineKind.CREDIT for line in lines):
        return ()
    return corrected_numbers(uow.invoices.for_account(account_id), lines)


def issue(center: Center, uow: UnitOfWork, drafts: Sequence[Draft]) -> list[IssuedInvoice]:
    """Number, date and store ``drafts`` in this unit of work, in order.

    Call it last before the commit: the series stays held until then.
    """
    if not drafts:
        return []
    seller = center.seller
    series = seller.series
    party = seller.party
    first, issued_at = uow.invoices.take_numbers(series, len(drafts), now=center.now)
    issued = []
    customers: dict[tuple[str, int], Party] = {}
    for offset, draft in enumerate(drafts):
        invoice, account = draft.invoice, draft.account
        sequence = first + offset
        customer = customers.get((account.id, account.version))
        if customer is None:
            customer = customers[(account.id, account.version)] = Party(
                name=account.name,
                address=account.address,
                vat_number=None if account.vat_number is None else str(account.vat_number),
            )
        document = IssuedInvoice(
            id=center.new_id("inv"),
            number=f"{series}-{sequence:06d}",
            series=series,
            sequence=sequence,
            account_id=account.id,
            order_id=draft.order_id,
            seller=party,
            customer=customer,
            issued_at=issued_at,
            reason=invoice.reason,
            currency=invoice.currency,
            lines=invoice.lines,
            subtotal=invoice.subtotal,
            taxes=invoice.taxes,
            total=invoice.total,
            credit_applied=invoice.credit_applied,
            amount_due=invoice.amount_due,
            mentions=invoice.mentions,
            corrects=draft.corrects,
            due_at=draft.due_at,
            status=draft.status or status_of(invoice),
            tax_point=draft.tax_point,
            attempts=draft.attempts,
        )
        uow.invoices.add(document)
        uow.events.add(
            account.id,
            Event(kind=EventKind.INVOICE_ISSUED, at=issued_at, invoice_number=document.number),
        )
        issued.append(document)
    return issued
