"""Completing a purchase: what an order bought, committed in one unit of work.

An order completes once its charge succeeded (or nothing was due, or the customer
confirmed a purchase order): the cart is priced again as the quote pinned it, and if
that is still what the customer reviewed, the subscriptions, seats, invoice, credit
balance and cart are saved together with the order's new state and its confirmation
message. If it is not (the quote expired, a subscription moved on), the order fails
and the charge is refunded, on record.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from .._records import revised
from ..accounts import Account
from ..cart import PricedCart
from ..errors import NotFound, QuoteChanged, QuoteExpired
from ..messages import (
    Confirmation,
    ConfirmationItem,
    ConfirmationLine,
    ConfirmationTax,
    Notice,
)
from ..orders import (
    Draft,
    InvoiceStatus,
    IssuedInvoice,
    Order,
    OrderFailure,
    OrderState,
    Quote,
    order_moved,
    status_of,
)
from ..payments import PaymentAttempt, PaymentResult
from ..ports import UnitOfWork
from ..pricing import InvoiceLine, apply_credit
from ..seats import SeatAssignments, resize
from ..subscription import Event, EventKind
from . import issuing, quotes
from .base import Center, notice
from .refunds import refund_due

__all__ = ["ORDER_SLOT", "complete", "confirmation", "fail", "persist", "release"]

_ZERO = Decimal(0)
#: The idempotency record that holds an account's running order.
ORDER_SLOT = "__order_in_progress__"


def release(uow: UnitOfWork, order: Order) -> None:
    """Free the account's order slot held by ``order``."""
    if uow.idempotency.get(order.account_id, ORDER_SLOT) == order.id:
        uow.idempotency.delete(order.account_id, ORDER_SLOT)


def fail(
    center: Center,
    uow: UnitOfWork,
    order: Order,
    *,
    at: datetime,
    failure: OrderFailure,
    code: str,
    message: str,
    **changes: object,
) -> Order:
    """The order failed: recorded, its slot freed, an event."""
    failed = order_moved(
        order,
        OrderState.FAILED,
        at=at,
        failure=failure,
        failure_code=code,
        failure_message=message,
        **changes,
    )
    uow.orders.update(failed)
    release(uow, order)
    center.record(
        uow,
        order.account_id,
        [Event(kind=EventKind.ORDER_FAILED, at=at, order_id=order.id, failure_code=code)],
    )
    return failed


def persist(
    center: Center,
    uow: UnitOfWork,
    account: Account,
    priced: PricedCart,
    order: Order,
    *,
    due_at: datetime | None,
    tax_point: datetime,
    saved: str | None = None,
) -> IssuedInvoice | None:
    """Save the subscriptions, seats, invoice, balance and cart of a purchase;
    ``saved`` is the payment method the gateway saved when it charged the order.

    The users an item releases lose their seats now, with the change (for a change
    scheduled at the end of the term too: the seat count drops at the renewal); the
    pricing of ``priced``, in this same transaction, has checked that the seats
    assigned then fit (:func:`~subscriptions.cart.item_seats`)."""
    for item, outcome in zip(priced.items, priced.outcomes, strict=True):
        center.save_subscription(uow, outcome.subscription)
        seats = uow.seats.get(item.subscription_id)
        if seats is None:
            uow.seats.put(SeatAssignments(subscription_id=item.subscription_id, seats=0))
            seats = uow.seats.get(item.subscription_id)
            assert seats is not None
        bought = seats.seats if item.scheduled else outcome.subscription.terms.seats
        if seats.seats != bought or item.release:
            uow.seats.put(resize(seats, bought, release=item.release))
        center.record(uow, account.id, outcome.events)
        if item.release:
            released = Event(
                kind=EventKind.SEATS_UNASSIGNED,
                at=center.now(),
                subscription_id=item.subscription_id,
                product=item.product,
                user_ids=item.release,
                order_id=order.id,
            )
            center.record(uow, account.id, [released])
    balance = account.credit_balance
    draft = None
    if priced.invoice is not None:
        settled, balance = apply_credit(priced.invoice, account.credit_balance)
        if due_at is not None and settled.amount_due > 0:
            status = InvoiceStatus.OPEN
        else:
            status = status_of(settled)
            if status is InvoiceStatus.OPEN:
                status = InvoiceStatus.PAID  # the order's charge paid it
        draft = Draft(
            account=account,
            invoice=settled,
            order_id=order.id,
            status=status,
            due_at=due_at,
            corrects=issuing.corrected(uow, account.id, settled.lines),
            tax_point=tax_point,
        )
    # The card the gateway saved for later charges replaces the account's; else a card
    # that paid is kept for the renewals when the account had none.
    payment_method = (
        saved
        or account.payment_method
        or (order.payment_method if order.amount_due.amount > 0 else None)
    )
    if balance != account.credit_balance or payment_method != account.payment_method:
        uow.accounts.update(revised(account, credit_balance=balance, payment_method=payment_method))
    release(uow, order)
    cart = uow.carts.get(account.id)
    if cart is not None and cart.items:
        uow.carts.put(revised(cart, items=()))
    if draft is None:
        return None
    (invoice,) = issuing.issue(center, uow, [draft])
    return invoice


def complete(
    center: Center,
    uow: UnitOfWork,
    order: Order,
    charge: PaymentAttempt | None,
    result: PaymentResult | None,
    *,
    at: datetime,
) -> tuple[Order, PaymentAttempt | None]:
    """Complete ``order`` in ``uow`` after ``charge`` succeeded (``None``: nothing was
    due). Returns the order as it now stands and the refund to send after the commit
    when the order could not be completed."""
    account = uow.accounts.get(order.account_id)
    quote = uow.quotes.get(order.quote_id)
    if account is None or quote is None:
        raise NotFound(f"order {order.id!r} refers to an account or quote that is not stored")
    try:
        if charge is not None and at >= quote.expires_at:
            # Completing later than the quote allows (a slow 3-D Secure, a reconcile):
            # the quote's terms no longer hold.
            raise QuoteExpired(quote.id, f"it expired at {quote.expires_at.isoformat()}")
        priced = quotes.reprice(center, uow, account, quote)
    except QuoteChanged as exc:
        reference = None if charge is None else charge.charge_id
        failed = fail(
            center,
            uow,
            order,
            at=at,
            failure=OrderFailure.QUOTE_CHANGED,
            code="quote_changed",
            message=str(exc),
            charge_id=reference,
        )
        refund = None
        if charge is not None:
            refund = refund_due(
                center,
                uow,
                charge,
                result,
                reason=f"order {order.id} could not be completed: {exc.reason}",
                at=at,
            )
        return failed, refund
    invoice = persist(
        center,
        uow,
        account,
        priced,
        order,
        due_at=None,
        tax_point=order.created_at,
        saved=None if result is None else result.payment_method,
    )
    done = order_moved(
        order,
        OrderState.SUCCEEDED,
        at=at,
        charge_id=None if charge is None else charge.charge_id,
        invoice_id=None if invoice is None else invoice.id,
        next_action=None,
    )
    uow.orders.update(done)
    center.post(uow, confirmation(center, account, quote, priced, done, invoice))
    return done, None


def confirmation(
    center: Center,
    account: Account,
    quote: Quote,
    priced: PricedCart,
    order: Order,
    invoice: IssuedInvoice | None,
) -> Notice:
    """The order confirmation, to the account's billing contacts."""
    names = {p.id: p for p in center.catalog.products}

    def plan_name(product: str, plan: str) -> str:
        return names[product].plan(plan).name

    items = tuple(
        ConfirmationItem(
            product_name=names[item.product].name,
            plan_name=plan_name(item.product, item.terms.plan),
            seats=item.terms.seats,
            seats_added=0 if item.scheduled else item.seats_added,
            frequency=item.terms.frequency,
            next_billing_at=item.next_billing_at,
        )
        for item in priced.items
    )
    lines: tuple[InvoiceLine, ...] = () if priced.invoice is None else priced.invoice.lines
    total = _ZERO if priced.invoice is None else priced.invoice.total
    credit = _ZERO if total < 0 else priced.credit_applied
    details = Confirmation(
        order_id=order.id,
        invoice_number=None if invoice is None else invoice.number,
        account_name=account.name,
        locale=account.locale,
        timezone=account.timezone,
        currency=account.currency,
        placed_at=priced.at,
        items=items,
        lines=tuple(
            ConfirmationLine(
                kind=line.kind.value,
                product_name=names[line.product].name,
                plan_name=plan_name(line.product, line.plan),
                seats=line.seats,
                period_start=line.period.start,
                period_end=line.period.end,
                amount=line.amount,
            )
            for line in lines
        ),
        taxes=tuple(
            ConfirmationTax(
                rate=tax.rate,
                treatment=tax.treatment,
                base=tax.base,
                amount=tax.amount,
                mention=tax.mention,
            )
            for tax in (priced.invoice.taxes if priced.invoice else ())
        ),
        subtotal=_ZERO if priced.invoice is None else priced.invoice.subtotal,
        total=total,
        credit_applied=credit,
        amount_charged=_ZERO if total < 0 else priced.amount_due,
        due_at=None if invoice is None or order.purchase_order is None else invoice.due_at,
    )
    return notice(account, details)
