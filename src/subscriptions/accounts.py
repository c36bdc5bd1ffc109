"""Customer accounts: who they are, where they are taxed, who may buy for them.

An account has a name, a postal address (its country and region decide the tax
rules), a time zone (day counts and billing dates are local to it), a locale (its
messages), a currency, billing contacts (the only users who may buy, change, cancel,
pay or manage seats), a payment method (a gateway token, never a card number), a kind
(self-service or corporate), an optional VAT number with the evidence of its check,
and a credit balance that later invoices consume.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

import attrs
from babel import Locale, UnknownLocaleError

from ._enum import Choice
from .errors import CorporateSelfServiceRefused, InvalidInput, NotPermitted
from .inputs import identifier, text, user_ids
from .money import check_currency, to_decimal
from .periods import ensure_aware, zone
from .vat import VatNumber, normalize_country, normalize_location

__all__ = [
    "Account",
    "AccountKind",
    "Address",
    "VatCheck",
    "VatCheckStatus",
    "require_billing_contact",
    "require_self_service",
]


class AccountKind(Choice):
    SELF_SERVICE = "self_service"
    CORPORATE = "corporate"


def _required_text(_: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{attribute.name} must be a non-empty string, got {value!r}")


def _optional_text(_: object, attribute: attrs.Attribute[str | None], value: object) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise InvalidInput(f"address {attribute.name} must be a non-empty string or None")


@attrs.frozen(kw_only=True, weakref_slot=False)
class Address:
    """A postal address; ``country`` is ISO 3166-1 alpha-2, ``region`` ISO 3166-2."""

    line1: str = attrs.field(validator=_required_text)
    city: str = attrs.field(validator=_required_text)
    postal_code: str = attrs.field(validator=_required_text)
    country: str
    line2: str | None = attrs.field(default=None, validator=_optional_text)
    region: str | None = None

    def __attrs_post_init__(self) -> None:
        # The postal country stays as written (Monaco is Monaco on an invoice); the
        # tax rules map it where they must (Monaco counts as France for VAT).
        country = normalize_country(self.country)
        _, region = normalize_location(country, self.region)
        object.__setattr__(self, "country", country)
        object.__setattr__(self, "region", region)

    def lines(self) -> tuple[str, ...]:
        """The address as printed on an invoice."""
        return tuple(
            line
            for line in (self.line1, self.line2, f"{self.postal_code} {self.city}", self.country)
            if line
        )


class VatCheckStatus(Choice):
    #: Format and check digits are right (python-stdnum); not checked online.
    OFFLINE_VALID = "offline_valid"
    #: The online registry (VIES) confirmed the number.
    VALID = "valid"
    #: The online registry says the number is not registered.
    INVALID = "invalid"
    #: The online registry could not be reached; see the policy for what follows.
    UNAVAILABLE = "unavailable"


@attrs.frozen(kw_only=True, weakref_slot=False)
class VatCheck:
    """The evidence of a VAT number check, kept with the account.

    ``consultation_number`` is the registry's reference for this check (VIES gives
    one only when the seller's own number is sent as the requester): the proof, in
    an audit, that the number was checked when it was. ``registered_name`` and
    ``registered_address`` are what the registry holds, when it tells. ``error`` is
    the registry's (or the network's) code when the check could not be made, such as
    ``"MS_UNAVAILABLE"``: set only on an ``UNAVAILABLE`` check.
    """

    number: str
    status: VatCheckStatus
    checked_at: datetime
    consultation_number: str | None = None
    registered_name: str | None = None
    registered_address: str | None = None
    error: str | None = None

    def __attrs_post_init__(self) -> None:
        ensure_aware(self.checked_at, what="checked_at")
        if self.error is not None:
            if not isinstance(self.error, str) or not self.error.strip():
                raise InvalidInput(
                    f"a VAT check's error must be a non-empty code such as "
                    f"'MS_UNAVAILABLE' or None, got {self.error!r}"
                )
            if self.status is not VatCheckStatus.UNAVAILABLE:
                raise InvalidInput(
                    f"a {self.status.value} VAT check has no error code ({self.error!r}); "
                    "only a check that could not be made (unavailable) carries one"
                )


def _contacts(value: Iterable[str]) -> frozenset[str]:
    return frozenset(user_ids(value, what="billing contacts"))


def _balance(value: object) -> Decimal:
    amount = to_decimal(value, what="credit balance")
    if amount < 0:
        raise InvalidInput(f"credit balance {amount} is negative; it is zero or more")
    return amount


def _check_locale(_: object, __: attrs.Attribute[str], value: str) -> None:
    try:
        Locale.parse(value)
    except (UnknownLocaleError, ValueError, TypeError):
        raise InvalidInput(
            f"unknown locale {value!r}; use a code such as 'en', 'it' or 'it_IT'"
        ) from None


def _name(_: object, __: attrs.Attribute[str], value: object) -> None:
    text(value, what="account name")


def _check_zone(_: object, __: attrs.Attribute[str], value: str) -> None:
    zone(value)


@attrs.frozen(kw_only=True, weakref_slot=False)
class Account:
    id: str
    name: str = attrs.field(validator=_name)
    address: Address
    timezone: str = attrs.field(validator=_check_zone)
    locale: str = attrs.field(validator=_check_locale)
    currency: str = attrs.field(converter=check_currency)
    billing_contacts: frozenset[str] = attrs.field(converter=_contacts)
    kind: AccountKind = AccountKind.SELF_SERVICE
    payment_method: str | None = None
    vat_number: VatNumber | None = None
    vat_check: VatCheck | None = None
    credit_balance: Decimal = attrs.field(default=Decimal(0), converter=_balance)
    version: int = 0

    def __attrs_post_init__(self) -> None:
        if not self.billing_contacts:
            raise InvalidInput(
                f"account {self.id!r} needs at least one billing contact (a user id)"
            )

    @property
    def country(self) -> str:
        return self.address.country

    @property
    def region(self) -> str | None:
        return self.address.region

    @property
    def corporate(self) -> bool:
        return self.kind is AccountKind.CORPORATE


def require_billing_contact(account: Account, user_id: str, action: str) -> None:
    """Refuse ``action`` unless ``user_id`` (an identifier) is one of the account's
    billing contacts."""
    identifier(user_id, what="user id")
    if user_id not in account.billing_contacts:
        raise NotPermitted(
            f"user {user_id!r} is not a billing contact of account {account.id!r} and "
            f"cannot {action}; ask a billing contact of the account to do it, or to add "
            "you as one"
        )


def require_self_service(account: Account, user_id: str, action: str) -> None:
    """Refuse ``action`` unless ``user_id`` is a billing contact of ``account`` and the
    account is not corporate (the vendor's staff order and change for those)."""
    require_billing_contact(account, user_id, action)
    if account.corporate:
        raise CorporateSelfServiceRefused(f"account {account.name!r}")
