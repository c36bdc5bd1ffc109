"""Amounts as the Stripe gateway sends and reads them (no Stripe SDK needed here).

Amounts go in Stripe's minor units by Stripe's own currency table (not ISO's):
zero-decimal currencies as they are, three-decimal ones times 1000 with a last digit
0, ISK and UGX times 100 in whole units, HUF and TWD times 100 in whole units (Stripe
pays those out in whole units only; we refuse fractions rather than have a charge
that cannot be paid out), every other currency times 100. An amount that does not fit
is refused with :class:`~subscriptions.errors.AmountNotRepresentable` before any
request.

>>> from decimal import Decimal, localcontext
>>> from moneyed import Money
>>> with localcontext() as ctx:
...     ctx.prec = 3  # a careless host's context changes nothing
...     to_minor(Money(Decimal("1234.56"), "EUR")), to_minor(Money(Decimal("500"), "JPY"))
((123456, 'eur'), (500, 'jpy'))
>>> from_minor(5120, "kwd")
Money('5.120', 'KWD')
"""

from __future__ import annotations

from decimal import Decimal

from moneyed import Money

from ..errors import AmountNotRepresentable
from ..money import EXACT, money_currency

__all__ = ["from_minor", "to_minor"]

# Stripe's currency table (https://docs.stripe.com/currencies): how many decimals an
# API amount has, and how many of them must be zero.
_ZERO_DECIMAL = frozenset(
    [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
)
_THREE_DECIMAL = frozenset(["BHD", "JOD", "KWD", "OMR", "TND"])
#: Sent with two decimals, in whole units only (the cents must be 00).
_WHOLE_UNITS = frozenset({"ISK", "UGX", "HUF", "TWD"})
#: Whole units, shown without decimals.
_SHOWN_WHOLE = frozenset({"ISK", "UGX"})


def _digits(code: str) -> int:
    if code in _ZERO_DECIMAL:
        return 0
    return 3 if code in _THREE_DECIMAL else 2


def to_minor(amount: Money) -> tuple[int, str]:
    """``amount`` as Stripe's integer amount and lowercase currency; refuses (before
    anything is sent) an amount Stripe cannot take."""
    code = str(amount.currency.code)
    value = amount.amount
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise AmountNotRepresentable(
            str(value),
            code,
            problem="a charge or refund is a positive amount",
            fix="give a positive decimal amount",
        )
    scaled = value.scaleb(_digits(code), EXACT)
    if scaled != scaled.to_integral_value(context=EXACT):
        raise AmountNotRepresentable(
            str(value),
            code,
            problem=f"Stripe takes {code} with {_digits(code)} decimals",
            fix=f"round it to {_digits(code)} decimals first",
        )
    minor = int(scaled)
    if code in _THREE_DECIMAL and minor % 10:
        raise AmountNotRepresentable(
            str(value),
            code,
            problem=f"Stripe needs the last of {code}'s 3 decimals to be 0",
            fix="round it to the nearest 0.010",
        )
    if code in _WHOLE_UNITS and minor % 100:
        raise AmountNotRepresentable(
            str(value),
            code,
            problem=f"Stripe takes {code} in whole units only",
            fix="round it to a whole amount",
        )
    return minor, code.lower()


def from_minor(minor: int, currency: str) -> Money:
    """Stripe's integer amount in ``currency`` as money (the inverse of :func:`to_minor`)."""
    code = currency.upper()
    value = Decimal(minor).scaleb(-_digits(code), EXACT)
    if code in _SHOWN_WHOLE:
        value = value.quantize(Decimal(1), context=EXACT)
    return Money(value, money_currency(code))
