"""The cart and its priced quote, as pure values and functions.

"Subscribe now" puts a product in an empty cart; "add to cart" adds another product;
each item's plan level, seats and billing frequency can be edited, and items removed.
:func:`price_cart` prices the whole cart at one instant by calling, for each item, the
same lifecycle transition that placing the order commits (a subscription for a new
product, a plan change for a subscribed one), so the quote is, to the cent, what the
order charges.

An item with fewer seats than users hold names the users whose seats its order
releases (``release``); :func:`item_seats` is the rule, applied when the item enters
the cart, when it is priced, and when its order commits:

>>> from subscriptions.seats import SeatAssignments
>>> held = SeatAssignments(subscription_id="sub-1", seats=5, users=("ada", "bo", "cy"))
>>> fewer = CartItem(product="app", plan="basic", seats=2, frequency="monthly")
>>> item_seats(fewer, held, subscription_id="sub-1")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
subscriptions.errors.SeatsInUse: cannot reduce subscription 'sub-1' to 2 seats: 3 are assigned; ...
>>> item_seats(attrs.evolve(fewer, release=["bo"]), held, subscription_id="sub-1").users
('ada', 'cy')
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal, localcontext
from types import MappingProxyType

import attrs

from ._enum import Choice
from ._records import revised
from .accounts import Account
from .errors import (
    CartItemExists,
    CartNotEmpty,
    EmptyCart,
    InvalidInput,
    NotInCart,
)
from .inputs import user_ids
from .money import EXACT
from .periods import Frequency, parse_frequency
from .pricing import Invoice, InvoiceLine, InvoiceReason, apply_credit, invoice_from_lines
from .seats import SeatAssignments, resize, seat_count
from .subscription import (
    BILLING,
    BillingContext,
    Change,
    Outcome,
    Subscribe,
    Subscription,
    Terms,
)
from .transitions import apply

__all__ = [
    "Cart",
    "CartItem",
    "ItemAction",
    "PricedCart",
    "QuoteItem",
    "add_to_cart",
    "edit_item",
    "item_seats",
    "price_cart",
    "remove_item",
    "subscribe_now",
]


def _release(value: Iterable[str]) -> tuple[str, ...]:
    """The users to release: a list of user ids, each once, in the order given."""
    return tuple(dict.fromkeys(user_ids(value, what="the users to release")))


@attrs.frozen(kw_only=True, weakref_slot=False)
class CartItem:
    product: str
    plan: str
    seats: int = attrs.field(converter=seat_count)
    frequency: Frequency = attrs.field(converter=parse_frequency)
    #: The users whose seats the order releases (a reduction below the seats assigned
    #: names them), as :func:`item_seats` applies it.
    release: tuple[str, ...] = attrs.field(default=(), converter=_release)

    @property
    def terms(self) -> Terms:
        return Terms(
            product=self.product, plan=self.plan, seats=self.seats, frequency=self.frequency
        )


@attrs.frozen(kw_only=True, weakref_slot=False)
class Cart:
    account_id: str
    items: tuple[CartItem, ...] = ()
    version: int = 0

    def item(self, product: str) -> CartItem:
        for item in self.items:
            if item.product == product:
                return item
        raise NotInCart(product)

    def __contains__(self, product: object) -> bool:
        return any(item.product == product for item in self.items)


def subscribe_now(cart: Cart, item: CartItem) -> Cart:
    """Put ``item`` in an empty cart ("Subscribe now")."""
    if cart.items:
        raise CartNotEmpty(item.product)
    return revised(cart, items=(item,))


def add_to_cart(cart: Cart, item: CartItem) -> Cart:
    """Add ``item`` to the cart ("Add to cart"); one item per product."""
    if item.product in cart:
        raise CartItemExists(item.product)
    return revised(cart, items=(*cart.items, item))


def edit_item(
    cart: Cart,
    product: str,
    *,
    plan: str | None = None,
    seats: int | None = None,
    frequency: Frequency | str | None = None,
    release: Iterable[str] | None = None,
) -> Cart:
    """Change an item's plan level, seats, billing frequency or users to release
    (``None`` keeps each as it is; ``release=[]`` releases no one)."""
    current = cart.item(product)
    if plan is None and seats is None and frequency is None and release is None:
        raise InvalidInput(
            "name a plan, a seat count, a frequency or the users to release to change the item"
        )
    edited = CartItem(
        product=product,
        plan=current.plan if plan is None else plan,
        seats=current.seats if seats is None else seats,
        frequency=current.frequency if frequency is None else Frequency.parse(frequency),
        release=current.release if release is None else release,
    )
    items = tuple(edited if i.product == product else i for i in cart.items)
    return revised(cart, items=items)


def remove_item(cart: Cart, product: str) -> Cart:
    cart.item(product)
    items = tuple(i for i in cart.items if i.product != product)
    return revised(cart, items=items)


def item_seats(
    item: CartItem, assigned: SeatAssignments | None, *, subscription_id: str
) -> SeatAssignments | None:
    """What the seat assignments of ``item``'s subscription (``subscription_id``)
    become when its order commits: ``assigned`` (as stored; ``None`` when no seat of it
    was ever assigned) resized to the item's seats, without the users it releases.
    ``None`` when nothing is assigned and no one is named.

    The one rule of an item's seats (:func:`~subscriptions.seats.resize`): a
    reduction below the seats assigned that does not release enough users is refused
    with :class:`~subscriptions.errors.SeatsInUse`, a user named who holds no seat
    with :class:`~subscriptions.errors.SeatNotAssigned`. The cart applies it when the
    item enters it, :func:`price_cart` when it prices the item, and the order's
    completion saves what it gives."""
    if assigned is None:
        if not item.release:
            return None
        assigned = SeatAssignments(subscription_id=subscription_id, seats=0)
    return resize(assigned, item.seats, release=item.release)


class ItemAction(Choice):
    """What an order does to one product."""

    #: A new subscription (or one ended before).
    SUBSCRIBE = "subscribe"
    #: A change of the running subscription's plan, seats or frequency.
    CHANGE = "change"


@attrs.frozen(kw_only=True, weakref_slot=False)
class QuoteItem:
    """What the order does to one product, as priced."""

    product: str
    subscription_id: str
    action: ItemAction
    terms: Terms
    previous: Terms | None
    pinned_version: int | None
    seats_added: int
    next_billing_at: datetime | None
    scheduled: bool = False
    #: The users whose seats the order releases (the cart item's).
    release: tuple[str, ...] = ()


@attrs.frozen(kw_only=True, weakref_slot=False)
class PricedCart:
    """The result of :func:`price_cart`: items, the invoice and what is due."""

    at: datetime
    expires_at: datetime
    items: tuple[QuoteItem, ...]
    invoice: Invoice | None
    outcomes: tuple[Outcome, ...]
    credit_applied: Decimal
    amount_due: Decimal


def price_cart(
    account: Account,
    cart: Cart,
    subscriptions: Mapping[str, Subscription],
    *,
    at: datetime,
    context: BillingContext,
    subscription_id: Callable[[str], str],
    ttl: timedelta = timedelta(minutes=30),
    seats: Mapping[str, SeatAssignments] = MappingProxyType({}),
) -> PricedCart:
    """Price every item of ``cart`` at ``at`` with the lifecycle transitions.

    ``subscriptions`` maps a product id to the account's subscription record for it;
    ``subscription_id`` names the record of a product subscribed for the first time;
    ``seats`` maps a subscription id to its stored seat assignments, which each item
    must keep within its seats (:func:`item_seats`). Raises the transition's own
    error when an item cannot be ordered.
    """
    if not cart.items:
        raise EmptyCart()
    items: list[QuoteItem] = []
    outcomes: list[Outcome] = []
    lines: list[InvoiceLine] = []
    for item in cart.items:
        existing = subscriptions.get(item.product)
        terms = item.terms
        if existing is not None and existing.status in BILLING:
            outcome = apply(
                existing,
                Change(plan=terms.plan, seats=terms.seats, frequency=terms.frequency),
                at=at,
                context=context,
            )
            action, previous = ItemAction.CHANGE, existing.terms
        else:
            outcome = apply(
                existing,
                Subscribe(terms=terms),
                at=at,
                context=context,
                subscription_id=subscription_id(item.product),
                account_id=account.id,
            )
            action, previous = ItemAction.SUBSCRIBE, None
        sub = outcome.subscription
        item_seats(item, seats.get(sub.id), subscription_id=sub.id)
        scheduled = sub.scheduled is not None and sub.terms != terms
        items.append(
            QuoteItem(
                product=item.product,
                subscription_id=sub.id,
                action=action,
                terms=terms,
                previous=previous,
                pinned_version=None if existing is None else existing.version,
                seats_added=max(0, terms.seats - (previous.seats if previous else 0)),
                next_billing_at=None if sub.period is None else sub.period.end,
                scheduled=scheduled,
                release=item.release,
            )
        )
        outcomes.append(outcome)
        if outcome.invoice is not None:
            lines.extend(outcome.invoice.lines)
    invoice = None
    credit_applied = Decimal(0)
    amount_due = Decimal(0)
    if lines:
        with localcontext(EXACT):
            invoice = invoice_from_lines(
                lines,
                currency=context.currency,
                issued_at=at,
                reason=InvoiceReason.ORDER,
                prices_include_tax=context.policy.prices_include_tax,
                tax_rounding=context.policy.tax_rounding,
                rounding=context.policy.proration.rounding,
            )
            invoice, _ = apply_credit(invoice, account.credit_balance)
        credit_applied = invoice.credit_applied
        amount_due = invoice.amount_due
    return PricedCart(
        at=at,
        expires_at=at + ttl,
        items=tuple(items),
        invoice=invoice,
        outcomes=tuple(outcomes),
        credit_applied=credit_applied,
        amount_due=amount_due,
    )
