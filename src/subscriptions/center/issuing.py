"""Issuing documents: numbers and dates taken together, in the series, at the end.

Every invoice and credit note is dated at the instant it is issued: the Billing
Center takes the documents' numbers in one statement, then reads its clock, and dates
them then, never earlier than the last document of the series (whatever the clocks of
the servers that issued it). So in a series, numbers increase with issue dates (the
progressive numbering Italy's art. 21 DPR 633/72 asks for), and a late bill run issues
today's invoices for past periods, whose lines state the period each covers. Each
document also records its tax point: the instant whose VAT rate it applies. What a
document says (its number, parties and status) is the core's rule,
:func:`subscriptions.orders.issued_documents`; this module holds the series and stores.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..orders import Draft, IssuedInvoice, corrected_numbers, issued_documents
from ..ports import UnitOfWork
from ..pricing import InvoiceLine, LineKind
from ..subscription import Event, EventKind
from .base import Center

__all__ = ["corrected", "issue"]

# Members read on the renewal's path, bound once (see Choice).
_ISSUED = EventKind.INVOICE_ISSUED


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
    first, issued_at = uow.invoices.take_numbers(seller.series, len(drafts), now=center.now)
    issued = issued_documents(
        drafts,
        seller=seller,
        first=first,
        issued_at=issued_at,
        new_id=lambda: center.new_id("inv"),
    )
    for document in issued:
        uow.invoices.add(document)
        uow.events.add(
            document.account_id,
            Event(kind=_ISSUED, at=issued_at, invoice_number=document.number),
        )
    return issued
