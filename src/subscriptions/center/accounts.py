"""Accounts: opening one, its payment method, billing contacts and VAT number, and
what it holds (its events and subscriptions)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs

from .._records import revised
from ..accounts import (
    Account,
    AccountKind,
    Address,
    VatCheck,
    VatCheckStatus,
    require_billing_contact,
)
from ..errors import InvalidInput, VatCheckFailed
from ..inputs import identifier, optional_identifier, user_ids, whole_number
from ..subscription import Event, EventKind, Subscription
from ..vat import parse_vat_number
from .base import Center, VatUnavailable

__all__ = [
    "list_accounts",
    "list_events",
    "list_subscriptions",
    "open_account",
    "set_billing_contacts",
    "set_vat_number",
    "show_account",
    "update_payment_method",
]


def open_account(
    center: Center,
    *,
    name: str,
    address: Address,
    timezone: str,
    locale: str,
    currency: str,
    billing_contacts: Sequence[str],
    kind: AccountKind = AccountKind.SELF_SERVICE,
    payment_method: str | None = None,
    account_id: str | None = None,
) -> Account:
    """Open a customer account.

    ``account_id`` (default: a new id), the billing contacts and the payment method
    (a gateway token) are identifiers: non-blank, at most 64 characters, without
    whitespace or control characters. The currency is an ISO 4217 code in any case
    (``"eur"`` is ``"EUR"``), as is the address's country."""
    if not isinstance(address, Address):
        raise InvalidInput(
            f"the address must be an Address, not {type(address).__name__}; build one "
            "with Address(line1=..., city=..., postal_code=..., country=...)"
        )
    account = Account(
        id=center.new_id("acct")
        if account_id is None
        else identifier(account_id, what="account id"),
        name=name,
        address=address,
        timezone=timezone,
        locale=locale,
        currency=currency,
        billing_contacts=billing_contacts,
        kind=AccountKind.parse(kind, what="account kind"),
        payment_method=optional_identifier(payment_method, what="payment method"),
    )
    _check_currency_offered(center, account.currency)
    with center.store.unit_of_work() as uow:
        uow.accounts.add(account)
        center.record(uow, account.id, [Event(kind=EventKind.ACCOUNT_OPENED, at=center.now())])
        uow.commit()
    return account


def _check_currency_offered(center: Center, currency: str) -> None:
    offered = any(
        price.currency == currency
        for product in center.catalog.products
        for plan in product.plans
        for price in plan.prices
    )
    if not offered:
        raise InvalidInput(
            f"the catalog has no prices in {currency}; open the account in a currency "
            "the catalog offers"
        )


def show_account(center: Center, account_id: str) -> Account:
    """The account, or :class:`~subscriptions.errors.NotFound`."""
    with center.store.unit_of_work() as uow:
        return center.load_account(uow, account_id)


def _update_account(
    center: Center, account_id: str, user: str, action: str, change: Callable[[Account], Account]
) -> Account:
    with center.store.unit_of_work() as uow:
        account = center.load_account(uow, account_id)
        require_billing_contact(account, user, action)
        updated = revised(change(account))
        uow.accounts.update(updated)
        center.record(
            uow,
            account_id,
            [Event(kind=EventKind.ACCOUNT_UPDATED, at=center.now(), note=action)],
        )
        uow.commit()
    return updated


def update_payment_method(center: Center, account_id: str, user: str, token: str) -> Account:
    """Replace the account's payment method (a gateway token, never a card number,
    such as ``"tok_visa"``: an identifier)."""
    identifier(token, what="payment method")
    return _update_account(
        center,
        account_id,
        user,
        "replace the payment method",
        lambda a: attrs.evolve(a, payment_method=token),
    )


def set_billing_contacts(
    center: Center, account_id: str, user: str, contacts: Sequence[str]
) -> Account:
    """Replace the users who may buy and pay for the account (a list of user ids, at
    least one; a single string is refused, not read as its letters)."""
    users = user_ids(contacts, what="billing contacts")
    return _update_account(
        center,
        account_id,
        user,
        "change the billing contacts",
        lambda a: attrs.evolve(a, billing_contacts=frozenset(users)),
    )


def set_vat_number(center: Center, account_id: str, user: str, number: str | None) -> Account:
    """Enter (or clear, with ``None``) the account's VAT number.

    The number is checked offline (format, check digits, the customer's country),
    then online when a verifier is plugged in; the evidence is kept. A number of the
    seller's own country is not checked online: a domestic business is charged VAT
    all the same (no reverse charge), so its offline evidence is all it needs. An
    invalid number is refused and the account stays as it was. Quotes made before
    must be made again: they pinned the old tax treatment."""
    with center.store.unit_of_work() as uow:
        account = center.load_account(uow, account_id)
        require_billing_contact(account, user, "set the VAT number")
    if number is None:
        vat_number, check = None, None
    else:
        vat_number = parse_vat_number(number, country=account.country)
        now = center.now()
        if center.vat_verifier is None or center.domestic(vat_number):
            check = VatCheck(
                number=str(vat_number), status=VatCheckStatus.OFFLINE_VALID, checked_at=now
            )
        else:
            check = center.vat_verifier.verify(vat_number, at=now)
            if check.status is VatCheckStatus.INVALID:
                raise VatCheckFailed(
                    str(vat_number),
                    "the VIES registry does not know it; check the number with the "
                    "customer, or leave it empty to be taxed as a consumer",
                )
            if (
                check.status is VatCheckStatus.UNAVAILABLE
                and center.settings.vat_unavailable is VatUnavailable.REFUSE
            ):
                raise VatCheckFailed(
                    str(vat_number),
                    "the VIES registry cannot be reached right now; try again later",
                )
    return _update_account(
        center,
        account_id,
        user,
        "set the VAT number",
        lambda a: attrs.evolve(a, vat_number=vat_number, vat_check=check),
    )


def list_accounts(center: Center, *, after: str | None = None, limit: int = 100) -> list[Account]:
    """At most ``limit`` accounts in id order, after the account ``after`` (to page
    through all of them: pass the last id of a page to get the next)."""
    optional_identifier(after, what="account id to list after")
    whole_number(limit, what="limit", minimum=1, maximum=10_000)
    with center.store.unit_of_work() as uow:
        return uow.accounts.page(after=after, limit=limit)


def list_events(center: Center, account_id: str) -> list[Event]:
    """The account's events, oldest first."""
    with center.store.unit_of_work() as uow:
        center.load_account(uow, account_id)
        return uow.events.for_account(account_id)


def list_subscriptions(center: Center, account_id: str) -> list[Subscription]:
    """The account's subscriptions, in id order."""
    with center.store.unit_of_work() as uow:
        center.load_account(uow, account_id)
        return uow.subscriptions.for_account(account_id)
