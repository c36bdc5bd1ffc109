"""Corporate orders on purchase-order terms: placed by the vendor's staff, confirmed
by the customer's billing contact, invoiced with payment due in the agreed days."""

from __future__ import annotations

from datetime import timedelta

from ..accounts import require_billing_contact
from ..errors import IdempotencyKeyReused, InvalidTransition, QuoteExpired
from ..inputs import identifier, text, whole_number
from ..orders import Order, OrderState, order_moved
from . import orders, purchase, quotes
from .base import Center

__all__ = [
    "confirm_corporate_order",
    "staff_place_corporate_order",
]


#: The longest payment term of a purchase order, in days (ten years).
MAX_DUE_DAYS = 3650


def staff_place_corporate_order(
    center: Center,
    staff_user: str,
    account_id: str,
    quote_id: str,
    *,
    purchase_order: str,
    due_days: int = 30,
    idempotency_key: str,
) -> Order:
    """The vendor's staff place a corporate account's order on purchase-order
    terms: no card; an invoice due in ``due_days`` (0 to :data:`MAX_DUE_DAYS`) once
    the customer confirms. The purchase-order number is a one-line text of at most
    200 characters. Placed again under the same key, it returns the same order if
    the quote, purchase order and due days are the same, and is refused with
    :class:`~subscriptions.errors.IdempotencyKeyReused` otherwise. ``staff_user``
    must be one of the vendor's staff, as the host's ``is_staff`` says
    (:class:`~subscriptions.errors.NotStaff` otherwise)."""
    staff = center.require_staff(staff_user, "place corporate orders")
    orders.check_key(idempotency_key)
    identifier(quote_id, what="quote id")
    whole_number(due_days, what="due_days", minimum=0, maximum=MAX_DUE_DAYS)
    text(purchase_order, what="the purchase-order number")
    now = center.now()
    with center.store.unit_of_work() as uow:
        account = center.load_account(uow, account_id)
        if not account.corporate:
            raise InvalidTransition(
                f"account {account.name!r} is self-service: its billing contacts place "
                "their own orders (place_order; on the command line, checkout)"
            )
        existing = orders.known_order(uow, account_id, idempotency_key, quote_id)
        if existing is not None:
            if (existing.purchase_order, existing.due_days) != (purchase_order, due_days):
                raise IdempotencyKeyReused(
                    idempotency_key,
                    f"order {existing.id!r} with another purchase order or due days",
                )
            return existing
        quote = quotes.valid_quote(center, uow, account, quote_id, now)
        order = orders.record_order(
            center,
            uow,
            quote,
            idempotency_key,
            now,
            state=OrderState.AWAITING_CONFIRMATION,
            placed_by=f"staff:{staff}",
            purchase_order=purchase_order,
            due_days=due_days,
        )
        uow.commit()
    return order


def confirm_corporate_order(center: Center, account_id: str, user: str, order_id: str) -> Order:
    """The customer's billing contact confirms the quote of a purchase-order order.

    The order is priced, and its subscriptions start, at the confirmation (the
    billing date moves to the day of the change, as for self-service); if that
    price is not what the quote said (a proration quoted on an earlier day), the
    confirmation is refused with :class:`~subscriptions.errors.QuoteChanged` and
    the staff quote again. The invoice is issued now, due in the agreed days."""
    now = center.now()
    with center.store.unit_of_work() as uow:
        account = center.load_account(uow, account_id)
        require_billing_contact(account, user, "confirm orders")
        order = orders.find_order(uow, account_id, order_id)
        if order.state is OrderState.SUCCEEDED:
            return order
        if order.state is not OrderState.AWAITING_CONFIRMATION:
            raise InvalidTransition(
                f"order {order_id!r} is {order.state.value}, not a purchase order waiting "
                "for confirmation; only orders placed by the vendor's staff are confirmed"
            )
        quote = uow.quotes.get(order.quote_id)
        assert quote is not None
        if now >= quote.expires_at:
            raise QuoteExpired(quote.id, f"it expired at {quote.expires_at.isoformat()}")
        priced = quotes.reprice(center, uow, account, quote, at=now)
        due_at = now + timedelta(days=order.due_days or 0)
        invoice = purchase.persist(
            center, uow, account, priced, order, due_at=due_at, tax_point=now
        )
        updated = order_moved(
            order,
            OrderState.SUCCEEDED,
            at=now,
            invoice_id=None if invoice is None else invoice.id,
        )
        uow.orders.update(updated)
        center.post(uow, purchase.confirmation(center, account, quote, priced, updated, invoice))
        uow.commit()
    center.deliver_after_commit()
    return updated
