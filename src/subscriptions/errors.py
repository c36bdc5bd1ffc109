"""Every error the library raises, under one root.

Each error carries structured attributes for programs and a message for people that
says what was wrong and what to do instead. Errors about bad input also subclass
``ValueError`` (or ``TypeError``), so a caller that only knows the builtins still
catches them.

::

    SubscriptionsError
    ├── InvalidInput (ValueError)
    │   ├── FloatRefused (also TypeError)
    │   ├── NaiveDatetime
    │   ├── UnknownCurrency
    │   ├── CurrencyMismatch
    │   ├── CatalogError
    │   ├── InvalidVatNumber
    │   ├── UnknownTerritory
    │   └── ScenarioError
    ├── NotFound (LookupError)
    │   ├── UnknownProduct
    │   ├── UnknownPlan
    │   └── PriceNotOffered
    ├── ActionRefused
    │   ├── InvalidSeatCount
    │   ├── AlreadySubscribed
    │   ├── NoSubscription
    │   ├── TrialAlreadyUsed
    │   ├── CorporateSelfServiceRefused
    │   ├── NotPermitted
    │   └── InvalidTransition
    └── TaxRuleError
        ├── SellerOutsideEU
        └── NoRateForDate
"""

from __future__ import annotations

from datetime import date
from typing import Any


class SubscriptionsError(Exception):
    """The root of every error raised by ``subscriptions``."""


class InvalidInput(SubscriptionsError, ValueError):
    """A value given to the library is malformed or out of range."""


class FloatRefused(InvalidInput, TypeError):
    """A ``float`` was given where an exact amount is needed.

    Binary floats cannot represent most decimal amounts (``0.1 + 0.2 != 0.3``), so
    money never accepts them.
    """

    def __init__(self, value: float, *, what: str = "amount") -> None:
        self.value = value
        super().__init__(
            f"{what} {value!r} is a float; pass a decimal.Decimal or a string such as "
            f"'{value}' instead, so that no cent is lost to binary rounding"
        )


class NaiveDatetime(InvalidInput):
    """A datetime without a time zone was given."""

    def __init__(self, value: Any, *, what: str = "instant") -> None:
        self.value = value
        super().__init__(
            f"{what} {value!r} has no time zone; pass an aware datetime, for example "
            "datetime(2026, 1, 5, tzinfo=ZoneInfo('Europe/Rome'))"
        )


class UnknownCurrency(InvalidInput):
    """A currency code that ISO 4217 does not define."""

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(
            f"unknown currency {code!r}; use an ISO 4217 code such as 'EUR', 'USD' or 'JPY'"
        )


class CurrencyMismatch(InvalidInput):
    """Two amounts in different currencies were combined."""

    def __init__(self, left: str, right: str) -> None:
        self.left = left
        self.right = right
        super().__init__(
            f"cannot combine {left} with {right}; convert one amount first, or keep "
            "each currency on its own invoice"
        )


class CatalogError(InvalidInput):
    """The product catalog is inconsistent (duplicate ids, missing or negative prices)."""


class InvalidVatNumber(InvalidInput):
    """A VAT number failed the offline check.

    ``reason`` is one of ``"format"``, ``"length"``, ``"checksum"``, ``"country"``
    (it belongs to another country than the customer's) or ``"unsupported"`` (not an
    EU VAT number).
    """

    def __init__(self, number: str, *, reason: str, detail: str) -> None:
        self.number = number
        self.reason = reason
        super().__init__(f"VAT number {number!r} is not valid: {detail}")


class UnknownTerritory(InvalidInput):
    """A customer region that does not belong to the customer's country."""


class ScenarioError(InvalidInput):
    """A scenario document is invalid; nothing of it was run."""


class NotFound(SubscriptionsError, LookupError):
    """Something named by id does not exist."""


class UnknownProduct(NotFound):
    def __init__(self, product_id: str, *, known: tuple[str, ...] = ()) -> None:
        self.product_id = product_id
        hint = f"; the catalog offers {', '.join(known)}" if known else ""
        super().__init__(f"no product {product_id!r} in the catalog{hint}")


class UnknownPlan(NotFound):
    def __init__(self, product_id: str, plan_id: str, *, known: tuple[str, ...] = ()) -> None:
        self.product_id = product_id
        self.plan_id = plan_id
        hint = f"; choose one of {', '.join(known)}" if known else ""
        super().__init__(f"product {product_id!r} has no plan {plan_id!r}{hint}")


class PriceNotOffered(NotFound):
    """The plan has no price for that billing frequency (or currency)."""

    def __init__(self, plan_id: str, what: str, *, known: tuple[str, ...] = ()) -> None:
        self.plan_id = plan_id
        self.what = what
        hint = f"; it is offered {', '.join(known)}" if known else ""
        super().__init__(f"plan {plan_id!r} is not offered {what}{hint}")


class ActionRefused(SubscriptionsError):
    """A well-formed action that cannot be done in the current state."""


class InvalidSeatCount(ActionRefused, ValueError):
    def __init__(self, seats: object) -> None:
        self.seats = seats
        super().__init__(
            f"seat count {seats!r} is not allowed; buy at least 1 seat (a whole number)"
        )


class AlreadySubscribed(ActionRefused):
    def __init__(self, product_id: str, status: str) -> None:
        self.product_id = product_id
        self.status = status
        super().__init__(
            f"{product_id!r} already has a subscription ({status}); change it instead of "
            "subscribing again"
        )


class NoSubscription(ActionRefused):
    def __init__(self, product_id: str, action: str) -> None:
        self.product_id = product_id
        self.action = action
        super().__init__(
            f"cannot {action} {product_id!r}: there is no active subscription; subscribe first"
        )


class TrialAlreadyUsed(ActionRefused):
    def __init__(self, product_id: str) -> None:
        self.product_id = product_id
        super().__init__(f"a trial of {product_id!r} was already used; subscribe to keep using it")


class CorporateSelfServiceRefused(ActionRefused):
    def __init__(self, account: str = "this account") -> None:
        self.account = account
        super().__init__(
            f"{account} is a corporate account and cannot order through self-service; "
            "contact your account representative, who can prepare a quote and place the "
            "order on purchase-order terms"
        )


class NotPermitted(ActionRefused):
    """The acting user may not do this (only billing contacts may buy or manage)."""


class InvalidTransition(ActionRefused):
    """The subscription's state does not allow this action."""


class TaxRuleError(SubscriptionsError):
    """The built-in tax rules cannot decide."""


class SellerOutsideEU(TaxRuleError, ValueError):
    def __init__(self, country: str) -> None:
        self.country = country
        super().__init__(
            f"seller country {country!r} is not an EU member state; the built-in rules are "
            "EU VAT for an EU seller: plug in your own tax rules for other sellers"
        )


class NoRateForDate(TaxRuleError, LookupError):
    def __init__(self, country: str, on: date) -> None:
        self.country = country
        self.on = on
        super().__init__(
            f"no VAT rate for {country} on {on.isoformat()}: the rate table starts later; "
            "pass a rate provider whose table covers that date"
        )
