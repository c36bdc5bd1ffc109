"""Quotes, orders and issued invoices: the records the Billing Center keeps.

A :class:`Quote` is what the customer reviewed: the cart it priced, the instant it
pinned, the invoice it showed, the subscription versions it was computed from, the VAT
number and treatment it assumed, and when it expires. An :class:`Order` is placed
from a quote with an idempotency key; it is recorded (``pending``) before the gateway
is called. An :class:`IssuedInvoice` is the numbered, immutable document; only its
collection status changes after it is issued.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime, tzinfo
from decimal import Decimal

import attrs
from moneyed import Money

from ._enum import Choice
from ._records import moved, quick_init, revised
from .accounts import Account, Address
from .cart import CartItem, QuoteItem
from .display import Cell, Pairs, Section, View, Viewable, ZoneLike, view_zone
from .errors import InvalidInput, InvalidTransition
from .inputs import identifier, text
from .money import to_money
from .periods import zone
from .pricing import (
    Invoice,
    InvoiceLine,
    InvoiceReason,
    LineKind,
    TaxLine,
    invoice_totals,
    lines_section,
    settlement,
)
from .subscription import Terms
from .vat import eu_seller_country, parse_vat_number

__all__ = [
    "COLLECTIBLE",
    "DONE",
    "Draft",
    "InvoiceStatus",
    "IssuedInvoice",
    "Order",
    "OrderFailure",
    "OrderState",
    "Party",
    "Quote",
    "Seller",
    "corrected_numbers",
    "failure_of_code",
    "invoice_number",
    "issued_documents",
    "order_moved",
    "status_of",
]


_ZERO = Decimal(0)


def _money_of_record(
    instance: Quote | Order, attribute: attrs.Attribute[Money], value: Money
) -> None:
    """Refuse an amount of a quote or an order that is not a ``Money`` in the record's
    own currency."""
    record = f"{type(instance).__name__.lower()} {instance.id!r}"
    if not isinstance(value, Money):
        raise InvalidInput(
            f"{record}: {attribute.name} must be a moneyed.Money, got {value!r}; "
            f"build it with subscriptions.money.to_money(amount, {instance.currency!r})"
        )
    if value.currency.code != instance.currency:
        raise InvalidInput(
            f"{record}: {attribute.name} is in {value.currency.code}, but the record is "
            f"in {instance.currency}; give the amount in {instance.currency}"
        )


@attrs.frozen(kw_only=True, weakref_slot=False)
class Quote(Viewable):
    """What the customer reviewed. ``credit_applied`` and ``amount_due`` are ``Money``
    in the quote's currency; the priced :attr:`invoice` keeps its ``Decimal`` amounts
    (with its currency), as every invoice does.

    It shows itself (:mod:`subscriptions.display`): ``table()``, ``rows()`` (one per
    line of its invoice) and, in a notebook, an HTML table; its instants in UTC
    unless a ``zone`` is given (the account's, say: a quote does not know it).
    """

    id: str
    account_id: str
    created_at: datetime
    expires_at: datetime
    currency: str
    cart: tuple[CartItem, ...]
    items: tuple[QuoteItem, ...]
    invoice: Invoice | None
    credit_applied: Money = attrs.field(validator=_money_of_record)
    amount_due: Money = attrs.field(validator=_money_of_record)
    vat_number: str | None
    reverse_charge: bool
    prepared_by: str

    @property
    def total(self) -> Money:
        """The invoice's total (zero when the cart priced no invoice)."""
        return to_money(_ZERO if self.invoice is None else self.invoice.total, self.currency)

    def view(self, *, zone: ZoneLike = None) -> View:
        """The quote as a :class:`~subscriptions.display.View`: the lines of its
        invoice, its totals and what is due, then what it does to each product."""
        where = view_zone(zone)
        invoice, currency = self.invoice, self.currency
        facts: list[tuple[str, Cell]] = [
            ("account", self.account_id),
            ("created_at", self.created_at.astimezone(where)),
            ("expires_at", self.expires_at.astimezone(where)),
            ("currency", currency),
        ]
        if self.vat_number is not None:
            facts.append(("vat_number", self.vat_number))
        facts += [("reverse_charge", self.reverse_charge), ("prepared_by", self.prepared_by)]
        if invoice is None:
            totals: Pairs = (("total", self.total),)
        else:
            totals = invoice_totals(
                subtotal=invoice.subtotal,
                taxes=invoice.taxes,
                total=invoice.total,
                currency=currency,
            )
        return View(
            title=f"Quote {self.id}",
            facts=tuple(facts),
            sections=(
                lines_section(() if invoice is None else invoice.lines, currency, where),
                _items_section(self.items, where),
            ),
            totals=(
                *totals,
                ("credit_applied", self.credit_applied),
                ("amount_due", self.amount_due),
            ),
            notes=() if invoice is None else invoice.mentions,
        )


def _items_section(items: Sequence[QuoteItem], zone: tzinfo) -> Section:
    """What a quote does to each product: the terms before and after."""
    return Section(
        title="items",
        columns=(
            "product",
            "subscription_id",
            "action",
            "plan",
            "seats",
            "frequency",
            "previous",
            "seats_added",
            "next_billing_at",
            "scheduled",
        ),
        cells=tuple(
            (
                item.product,
                item.subscription_id,
                item.action.value,
                item.terms.plan,
                item.terms.seats,
                item.terms.frequency.value,
                None if item.previous is None else _terms(item.previous),
                item.seats_added,
                None if item.next_billing_at is None else item.next_billing_at.astimezone(zone),
                item.scheduled,
            )
            for item in items
        ),
        hidden=frozenset({"subscription_id"}),
    )


def _terms(terms: Terms) -> str:
    return f"{terms.plan} x{terms.seats} {terms.frequency.value}"


class OrderState(Choice):
    #: Recorded, before the gateway is called.
    PENDING = "pending"
    #: The customer must complete an action (3-D Secure); confirm_payment resumes it.
    REQUIRES_ACTION = "requires_action"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    #: The gateway did not answer (a timeout); the reconcile use case resolves it.
    UNKNOWN = "unknown"
    #: A corporate order on purchase-order terms, waiting for the customer's confirmation.
    AWAITING_CONFIRMATION = "awaiting_confirmation"

    @property
    def final(self) -> bool:
        return self in (OrderState.SUCCEEDED, OrderState.FAILED)


#: The order state machine: from each state, the states an order may move to.
_ORDER_MOVES: dict[OrderState, frozenset[OrderState]] = {
    OrderState.PENDING: frozenset(
        {
            OrderState.REQUIRES_ACTION,
            OrderState.UNKNOWN,
            OrderState.SUCCEEDED,
            OrderState.FAILED,
        }
    ),
    OrderState.UNKNOWN: frozenset(
        {OrderState.REQUIRES_ACTION, OrderState.SUCCEEDED, OrderState.FAILED}
    ),
    OrderState.REQUIRES_ACTION: frozenset(
        {OrderState.UNKNOWN, OrderState.SUCCEEDED, OrderState.FAILED}
    ),
    OrderState.AWAITING_CONFIRMATION: frozenset({OrderState.SUCCEEDED, OrderState.FAILED}),
    OrderState.SUCCEEDED: frozenset(),
    OrderState.FAILED: frozenset(),
}


class OrderFailure(Choice):
    """Why an order failed: what the customer is told, and whether any money moved."""

    #: The payment was declined (``failure_code`` has the gateway's reason).
    DECLINED = "declined"
    #: Nothing was charged: the gateway failed before charging, or never got it.
    NOT_CHARGED = "not_charged"
    #: The customer never completed 3-D Secure; nothing was charged.
    ABANDONED = "abandoned"
    #: The quote no longer held when the order was completed; any charge was refunded.
    QUOTE_CHANGED = "quote_changed"


def failure_of_code(code: str | None) -> OrderFailure:
    """The failure a stored failure code stands for (books written before orders had
    a typed failure said it in the code alone)."""
    if code in ("transient_error", "not_charged"):
        return OrderFailure.NOT_CHARGED
    if code == "abandoned":
        return OrderFailure.ABANDONED
    if code == "quote_changed":
        return OrderFailure.QUOTE_CHANGED
    return OrderFailure.DECLINED


@attrs.frozen(kw_only=True, weakref_slot=False)
class Order:
    """An order placed from a quote. ``amount_due`` is ``Money`` in the order's
    currency: what the order charges."""

    id: str
    account_id: str
    quote_id: str
    idempotency_key: str
    state: OrderState
    amount_due: Money = attrs.field(validator=_money_of_record)
    currency: str
    placed_by: str
    created_at: datetime
    updated_at: datetime
    payment_method: str | None = None
    charge_id: str | None = None
    #: Never shown in a repr (it may be a client secret).
    next_action: str | None = attrs.field(default=None, repr=False)
    #: Why it failed (a failed order only).
    failure: OrderFailure | None = None
    #: The gateway's decline code, or the library's, of a failed order.
    failure_code: str | None = None
    failure_message: str | None = None
    invoice_id: str | None = None
    refund_id: str | None = None
    purchase_order: str | None = None
    due_days: int | None = None
    version: int = 0


def order_moved(order: Order, state: OrderState, *, at: datetime, **changes: object) -> Order:
    """``order`` in ``state`` at ``at``, one version later: the one place an order's
    state changes. A move the state machine does not allow (anything out of
    ``succeeded`` or ``failed``, for one) raises
    :class:`~subscriptions.errors.InvalidTransition`."""
    if state is not order.state and state not in _ORDER_MOVES[order.state]:
        raise InvalidTransition(
            f"order {order.id!r} is {order.state.value} and cannot become {state.value}"
        )
    return revised(order, state=state, updated_at=max(at, order.updated_at), **changes)


@quick_init
@attrs.frozen(kw_only=True, weakref_slot=False)
class Party:
    """A party named on an invoice: name, postal address, VAT number."""

    name: str
    address: Address
    vat_number: str | None = None


#: The main time zone of each EU member state (a seller's books, unless it names one).
_MAIN_ZONES = {
    "AT": "Europe/Vienna", "BE": "Europe/Brussels", "BG": "Europe/Sofia",
    "CY": "Asia/Nicosia", "CZ": "Europe/Prague", "DE": "Europe/Berlin",
    "DK": "Europe/Copenhagen", "EE": "Europe/Tallinn", "ES": "Europe/Madrid",
    "FI": "Europe/Helsinki", "FR": "Europe/Paris", "GR": "Europe/Athens",
    "HR": "Europe/Zagreb", "HU": "Europe/Budapest", "IE": "Europe/Dublin",
    "IT": "Europe/Rome", "LT": "Europe/Vilnius", "LU": "Europe/Luxembourg",
    "LV": "Europe/Riga", "MT": "Europe/Malta", "NL": "Europe/Amsterdam",
    "PL": "Europe/Warsaw", "PT": "Europe/Lisbon", "RO": "Europe/Bucharest",
    "SE": "Europe/Stockholm", "SI": "Europe/Ljubljana", "SK": "Europe/Bratislava",
}  # fmt: skip


@attrs.frozen(kw_only=True, weakref_slot=False)
class Seller:
    """The vendor: who issues the invoices, the series they are numbered in, and the
    time zone its books are kept in (a forecast's months): its own ``timezone``, or its
    country's main one (``Europe/Rome`` for Italy)."""

    name: str
    address: Address
    vat_number: str | None = None
    series: str = "INV"
    timezone: str | None = None

    def __attrs_post_init__(self) -> None:
        text(self.name, what="seller name")
        if not isinstance(self.address, Address):
            raise InvalidInput(
                f"seller address {self.address!r} is not an Address; build one with "
                "Address(line1=..., city=..., postal_code=..., country=...)"
            )
        country = eu_seller_country(self.address.country)
        named = _MAIN_ZONES[country] if self.timezone is None else self.timezone
        object.__setattr__(self, "timezone", str(zone(named)))
        if self.vat_number is not None:
            # Format and check digits for the seller's country, kept in its usual form.
            number = parse_vat_number(self.vat_number, country=self.address.country)
            object.__setattr__(self, "vat_number", str(number))
        # The series prefixes every invoice number: an id's rule.
        identifier(self.series, what="invoice series")

    @property
    def country(self) -> str:
        return self.address.country

    @property
    def party(self) -> Party:
        return _seller_party(self)


@functools.lru_cache(maxsize=64)
def _seller_party(seller: Seller) -> Party:
    return Party(name=seller.name, address=seller.address, vat_number=seller.vat_number)


class InvoiceStatus(Choice):
    """Where an issued document stands in its collection (see
    :mod:`subscriptions.collection` for the transitions)."""

    #: Issued and waiting for payment (a purchase order, or a renewal due again).
    OPEN = "open"
    #: An attempt to collect it is in flight.
    CHARGING = "charging"
    #: The customer must authenticate the payment on session (3-D Secure).
    REQUIRES_ACTION = "requires_action"
    #: A charge was declined; the next retry is scheduled (the subscription is past due).
    FAILED = "failed"
    PAID = "paid"
    #: Nothing was due (a zero total, or a credit note).
    SETTLED = "settled"
    #: Cancelled by a credit note (a renewal that lapsed unpaid).
    VOID = "void"


#: The states in which a new attempt may collect an invoice.
COLLECTIBLE = frozenset({InvoiceStatus.OPEN, InvoiceStatus.FAILED})
#: The states of an invoice with nothing left to collect.
DONE = frozenset({InvoiceStatus.PAID, InvoiceStatus.VOID, InvoiceStatus.SETTLED})


@quick_init
@attrs.frozen(kw_only=True, weakref_slot=False)
class IssuedInvoice(Viewable):
    """A numbered invoice or credit note, immutable but for its collection status.

    It shows itself (:mod:`subscriptions.display`): ``table()``, ``rows()`` (one per
    line) and, in a notebook, an HTML table; its instants in UTC unless a ``zone`` is
    given (the account's, say: a document does not know it).
    """

    id: str
    number: str
    series: str
    sequence: int
    account_id: str
    order_id: str | None
    seller: Party
    customer: Party
    issued_at: datetime
    reason: InvoiceReason
    currency: str
    lines: tuple[InvoiceLine, ...]
    subtotal: Decimal
    taxes: tuple[TaxLine, ...]
    total: Decimal
    credit_applied: Decimal
    amount_due: Decimal
    mentions: tuple[str, ...] = ()
    corrects: tuple[str, ...] = ()
    due_at: datetime | None = None
    status: InvoiceStatus = InvoiceStatus.OPEN
    #: When the VAT became chargeable (the rate is the one in force then): the
    #: payment or the issue, whichever came first (docs/vat.md). ``None`` on
    #: documents that only correct earlier ones (their lines keep the rates of the
    #: supplies they reverse).
    tax_point: datetime | None = None
    #: How many payment attempts were made at it (the next one is numbered after).
    attempts: int = 0
    version: int = 0

    @property
    def document(self) -> str:
        return "credit_note" if self.total < 0 else "invoice"

    def view(self, *, zone: ZoneLike = None) -> View:
        """The document as a :class:`~subscriptions.display.View`: who issued it to
        whom, its lines, its totals and what is due."""
        where = view_zone(zone)
        facts: list[tuple[str, Cell]] = [
            ("status", self.status.value),
            ("issued_at", self.issued_at.astimezone(where)),
        ]
        if self.due_at is not None:
            facts.append(("due_at", self.due_at.astimezone(where)))
        facts += [("seller", self.seller.name), ("customer", self.customer.name)]
        if self.customer.vat_number is not None:
            facts.append(("customer_vat_number", self.customer.vat_number))
        facts += [("account", self.account_id), ("reason", self.reason.value)]
        if self.order_id is not None:
            facts.append(("order", self.order_id))
        if self.corrects:
            facts.append(("corrects", ", ".join(self.corrects)))
        facts.append(("currency", self.currency))
        kind = "Credit note" if self.document == "credit_note" else "Invoice"
        totals = invoice_totals(
            subtotal=self.subtotal, taxes=self.taxes, total=self.total, currency=self.currency
        )
        return View(
            title=f"{kind} {self.number}",
            facts=tuple(facts),
            sections=(lines_section(self.lines, self.currency, where),),
            totals=totals + settlement(self.credit_applied, self.amount_due, self.currency),
            notes=self.mentions,
        )

    def with_status(self, status: InvoiceStatus) -> IssuedInvoice:
        """The same document with another collection status, one version later."""
        # Only the status moves (nothing a validator checks), and the bill run does
        # this for every renewal: copied, not rebuilt.
        return moved(self, status=status)


def corrected_numbers(
    issued: Sequence[IssuedInvoice], lines: Sequence[InvoiceLine]
) -> tuple[str, ...]:
    """The numbers of the ``issued`` invoices (in number order) whose charges the credit
    lines among ``lines`` reverse: a credit corrects the latest charge of the same
    subscription that ends where it ends and starts no later. A credit note names the
    invoices it amends (VAT Directive art. 219)."""
    credits = [line for line in lines if line.kind is LineKind.CREDIT]
    if not credits:
        return ()
    found: dict[str, None] = {}
    for invoice in reversed(issued):
        for charge in invoice.lines:
            if charge.kind is not LineKind.CHARGE:
                continue
            for credit in credits:
                if (
                    charge.subscription_id == credit.subscription_id
                    and charge.period.end == credit.period.end
                    and charge.period.start <= credit.period.start
                ):
                    found[invoice.number] = None
        if len(found) >= len(credits):
            break
    return tuple(found)


# -- issuing: numbers, dates and parties of the documents ---------------------------


@quick_init
@attrs.frozen(kw_only=True, weakref_slot=False)
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
    """The status a document is issued in, by its amounts: settled for a credit note
    (or a zero total), paid when the credit balance covers it, else open."""
    if invoice.total <= 0:
        return InvoiceStatus.SETTLED
    return InvoiceStatus.PAID if invoice.amount_due == 0 else InvoiceStatus.OPEN


def invoice_number(series: str, sequence: int) -> str:
    """The printed number of the ``sequence``-th document of ``series``."""
    return f"{series}-{sequence:06d}"


def issued_documents(
    drafts: Sequence[Draft],
    *,
    seller: Seller,
    first: int,
    issued_at: datetime,
    new_id: Callable[[], str],
) -> list[IssuedInvoice]:
    """The ``drafts`` as issued documents: numbered on from ``first`` in the seller's
    series, in order, all dated ``issued_at``, naming the seller and each customer as
    their accounts stand."""
    series, party = seller.series, seller.party
    customers: dict[tuple[str, int], Party] = {}
    documents = []
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
        documents.append(
            IssuedInvoice(
                id=new_id(),
                number=invoice_number(series, sequence),
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
        )
    return documents
