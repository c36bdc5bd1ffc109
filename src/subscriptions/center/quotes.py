"""The cart and its quotes: editing the cart, pricing it into a quote that pins the
instant, the prices, the tax treatment and the subscriptions' versions, and checking
at payment that the quote still holds."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

from .. import cart as carts
from ..accounts import Account, require_billing_contact
from ..cart import Cart, CartItem, PricedCart, price_cart
from ..errors import (
    ConcurrencyConflict,
    InvoiceUnpaid,
    QuoteChanged,
    QuoteExpired,
    StorageError,
    SubscriptionsError,
)
from ..money import to_money
from ..orders import Quote
from ..periods import Frequency
from ..ports import UnitOfWork
from ..pricing import LineKind
from ..seats import SeatAssignments
from ..vat import TaxTreatment
from . import trials
from .base import Center, owned

__all__ = [
    "add_to_cart",
    "edit_cart_item",
    "price",
    "quote",
    "remove_cart_item",
    "reprice",
    "show_cart",
    "staff_quote",
    "subscribe_now",
    "valid_quote",
]


def _same_amounts(priced: PricedCart, quote: Quote, *, exact: bool) -> bool:
    """Whether a cart priced again is what ``quote`` showed: to the last detail when
    priced at the quote's own instant; in every amount (lines, taxes, totals, credit),
    when priced later (its periods then start later)."""
    if exact:
        return priced.invoice == quote.invoice
    mine, theirs = priced.invoice, quote.invoice
    if mine is None or theirs is None:
        return mine is theirs
    return (
        [line.amount for line in mine.lines] == [line.amount for line in theirs.lines]
        and [(t.rate, t.treatment, t.base, t.amount) for t in mine.taxes]
        == [(t.rate, t.treatment, t.base, t.amount) for t in theirs.taxes]
        and (mine.subtotal, mine.total, priced.credit_applied)
        == (theirs.subtotal, theirs.total, quote.credit_applied.amount)
    )


def show_cart(center: Center, account_id: str) -> Cart:
    """The account's cart (empty if it has none)."""
    with center.store.unit_of_work() as uow:
        center.load_account(uow, account_id)
        return uow.carts.get(account_id) or Cart(account_id=account_id)


def _edit_cart(
    center: Center,
    account_id: str,
    user: str,
    edit: Callable[[Cart], Cart],
    product: str | None = None,
) -> Cart:
    """Save what ``edit`` makes of the account's cart; the item of ``product`` (the one
    added or edited) must keep the seats assigned within its own."""
    with center.store.unit_of_work() as uow:
        account = center.load_account(uow, account_id)
        require_billing_contact(account, user, "edit the cart")
        cart = uow.carts.get(account_id) or Cart(account_id=account_id)
        edited = edit(cart)
        for item in edited.items:
            # Refuse at once what no quote could price: an unknown plan, or a
            # frequency the plan is not offered at in the account's currency.
            center.catalog.plan(item.product, item.plan).price(item.frequency, account.currency)
        if product is not None and product in edited:
            # Refuse at once too a reduction below the seats assigned (the quote and
            # the order apply the same rule, to the seats as they then stand).
            subscription_id = center.subscription_id(account_id)(product)
            assigned = uow.seats.get(subscription_id)
            carts.item_seats(edited.item(product), assigned, subscription_id=subscription_id)
        uow.carts.put(edited)
        uow.commit()
    return edited


def _default_item(
    center: Center,
    account_id: str,
    product: str,
    plan: str | None,
    seats: int | None,
    frequency: Frequency | str | None,
    release: Iterable[str],
) -> CartItem:
    with center.store.unit_of_work() as uow:
        account = center.load_account(uow, account_id)
        existing = uow.subscriptions.get(center.subscription_id(account_id)(product))
    base = existing.terms if existing is not None else None
    terms = trials.terms_of(
        center,
        product,
        plan if plan is not None else (base.plan if base else None),
        seats if seats is not None else (base.seats if base else 1),
        frequency if frequency is not None else (base.frequency if base else None),
        account.currency,
    )
    return CartItem(
        product=terms.product,
        plan=terms.plan,
        seats=terms.seats,
        frequency=terms.frequency,
        release=release,
    )


def subscribe_now(
    center: Center,
    account_id: str,
    user: str,
    product: str,
    *,
    plan: str | None = None,
    seats: int | None = None,
    frequency: Frequency | str | None = None,
    release: Iterable[str] = (),
) -> Cart:
    """Press "Subscribe now" on a product: the cart must be empty. Plan, seats and
    frequency default to the trial's (or current subscription's) terms; ``release``
    names the users whose seats the order releases (see :func:`add_to_cart`)."""
    item = _default_item(center, account_id, product, plan, seats, frequency, release)
    return _edit_cart(
        center, account_id, user, lambda cart: carts.subscribe_now(cart, item), product
    )


def add_to_cart(
    center: Center,
    account_id: str,
    user: str,
    product: str,
    *,
    plan: str | None = None,
    seats: int | None = None,
    frequency: Frequency | str | None = None,
    release: Iterable[str] = (),
) -> Cart:
    """Press "Add to cart": another product in the same order.

    Fewer seats than the product's users hold is refused at once
    (:class:`~subscriptions.errors.SeatsInUse`, saying how many must go), unless
    ``release`` names enough of them: their seats are released when the order
    commits, in its transaction. Naming a user who holds no seat is refused
    (:class:`~subscriptions.errors.SeatNotAssigned`)."""
    item = _default_item(center, account_id, product, plan, seats, frequency, release)
    return _edit_cart(center, account_id, user, lambda cart: carts.add_to_cart(cart, item), product)


def edit_cart_item(
    center: Center,
    account_id: str,
    user: str,
    product: str,
    *,
    plan: str | None = None,
    seats: int | None = None,
    frequency: Frequency | str | None = None,
    release: Iterable[str] | None = None,
) -> Cart:
    """Change an item's plan level, seats, billing frequency or the users whose
    seats its order releases (``None`` keeps each; ``release=[]`` releases no one).
    The edited item keeps to the seats assigned as :func:`add_to_cart` says."""
    if plan is not None:
        center.catalog.plan(product, plan)
    return _edit_cart(
        center,
        account_id,
        user,
        lambda cart: carts.edit_item(
            cart, product, plan=plan, seats=seats, frequency=frequency, release=release
        ),
        product,
    )


def remove_cart_item(center: Center, account_id: str, user: str, product: str) -> Cart:
    """Take ``product`` out of the cart."""
    return _edit_cart(center, account_id, user, lambda cart: carts.remove_item(cart, product))


def price(
    center: Center,
    uow: UnitOfWork,
    account: Account,
    cart_items: Sequence[CartItem],
    at: datetime,
    ttl: timedelta,
) -> PricedCart:
    subs = center.subscriptions_by_product(uow, account.id)
    new_id = center.subscription_id(account.id)
    seats: dict[str, SeatAssignments] = {}
    for item in cart_items:
        sub = subs.get(item.product)
        if sub is not None:
            center.catch_up(sub, at)
            if sub.dunning is not None:
                unpaid = uow.invoices.get(sub.dunning.invoice_id)
                raise InvoiceUnpaid(
                    item.product, unpaid.number if unpaid else sub.dunning.invoice_id
                )
        subscription_id = new_id(item.product) if sub is None else sub.id
        assigned = uow.seats.get(subscription_id)
        if assigned is not None:
            seats[subscription_id] = assigned
    return price_cart(
        account,
        Cart(account_id=account.id, items=tuple(cart_items)),
        subs,
        at=at,
        context=center.context(account),
        subscription_id=new_id,
        ttl=ttl,
        seats=seats,
    )


def quote(center: Center, account_id: str, user: str) -> Quote:
    """Price the account's cart: lines, credits, VAT per rate, total, amount due
    after the credit balance, and each subscription's next billing date.

    The quote pins the instant, prices, tax treatment and subscription versions;
    it expires after ``Settings.quote_ttl`` (``corporate_quote_ttl`` for corporate
    accounts). A reduction below the seats assigned that does not release enough
    users (as they stand now: seats may have been assigned since the cart was
    edited) is refused here as in the cart."""
    with center.store.unit_of_work() as uow:
        account = center.load_account(uow, account_id)
        require_billing_contact(account, user, "request a quote")
        return _make_quote(center, uow, account, prepared_by=user)


def staff_quote(center: Center, staff_user: str, account_id: str) -> Quote:
    """The vendor's staff prepare a quote for an account (corporate ones included).
    ``staff_user`` must be one of the vendor's staff, as the host's ``is_staff`` says
    (:class:`~subscriptions.errors.NotStaff` otherwise)."""
    staff = center.require_staff(staff_user, "prepare staff quotes")
    with center.store.unit_of_work() as uow:
        account = center.load_account(uow, account_id)
        return _make_quote(center, uow, account, prepared_by=f"staff:{staff}")


def _make_quote(center: Center, uow: UnitOfWork, account: Account, *, prepared_by: str) -> Quote:
    cart = uow.carts.get(account.id) or Cart(account_id=account.id)
    ttl = center.settings.corporate_quote_ttl if account.corporate else center.settings.quote_ttl
    priced = price(center, uow, account, cart.items, center.now(), ttl)
    usable = center.usable_vat_number(account)
    quote = Quote(
        id=center.new_id("quo"),
        account_id=account.id,
        created_at=priced.at,
        expires_at=priced.expires_at,
        currency=account.currency,
        cart=cart.items,
        items=priced.items,
        invoice=priced.invoice,
        credit_applied=to_money(priced.credit_applied, account.currency),
        amount_due=to_money(priced.amount_due, account.currency),
        vat_number=None if usable is None else str(usable),
        reverse_charge=any(
            line.tax is not None and line.tax.treatment is TaxTreatment.REVERSE_CHARGE
            for line in (priced.invoice.lines if priced.invoice else ())
        ),
        prepared_by=prepared_by,
    )
    uow.quotes.add(quote)
    uow.commit()
    return quote


def valid_quote(
    center: Center, uow: UnitOfWork, account: Account, quote_id: str, now: datetime
) -> Quote:
    quote = owned(uow.quotes.get(quote_id), account.id, f"quote {quote_id!r}", "ask for a quote")
    if now >= quote.expires_at:
        raise QuoteExpired(quote_id, f"it expired at {quote.expires_at.isoformat()}")
    reprice(center, uow, account, quote)
    if _tax_moved(center, account, quote, now):
        raise QuoteChanged(
            quote.id, "the VAT rate of its charges is not the same on the day it is paid"
        )
    return quote


def _tax_moved(center: Center, account: Account, quote: Quote, now: datetime) -> bool:
    """Whether the quote's charges would be taxed at another rate on the day they
    are paid (their tax point: a quote made before a rate change, ordered after)."""
    if quote.invoice is None:
        return False
    context = center.context(account)
    paid_on = now.astimezone(context.tz).date()
    if context.tax is None or paid_on == quote.created_at.astimezone(context.tz).date():
        return False
    decision = context.tax.decide(paid_on)
    return any(
        line.tax is not None
        and (line.tax.rate, line.tax.treatment) != (decision.rate, decision.treatment)
        for line in quote.invoice.lines
        if line.kind is LineKind.CHARGE
    )


def reprice(
    center: Center, uow: UnitOfWork, account: Account, quote: Quote, *, at: datetime | None = None
) -> PricedCart:
    """Price the quote's cart again, at its pinned instant (or ``at``); refuse if
    anything the customer reviewed differs."""
    usable = center.usable_vat_number(account)
    if (None if usable is None else str(usable)) != quote.vat_number:
        raise QuoteChanged(quote.id, "the VAT number or its check changed")
    for pinned in quote.items:
        current = uow.subscriptions.get(pinned.subscription_id)
        version = None if current is None else current.version
        if version != pinned.pinned_version:
            raise QuoteChanged(quote.id, f"the subscription to {pinned.product!r} changed since")
    when = quote.created_at if at is None else at
    try:
        priced = price(center, uow, account, quote.cart, when, quote.expires_at - when)
    except (QuoteChanged, ConcurrencyConflict, StorageError):
        # The store's own trouble is not a change of the quote: it propagates.
        raise
    except SubscriptionsError as exc:
        raise QuoteChanged(quote.id, f"it cannot be priced any more ({exc})") from exc
    same = priced.amount_due == quote.amount_due.amount
    if not same or not _same_amounts(priced, quote, exact=at is None):
        raise QuoteChanged(
            quote.id,
            "prices, taxes or the credit balance changed since it was made"
            if at is None
            else f"priced on {when.date().isoformat()} it is not what was quoted",
        )
    return priced
