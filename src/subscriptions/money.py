"""Exact money: decimal amounts, minor units, named rounding, allocation.

The library keeps amounts as :class:`decimal.Decimal` inside and hands out
:class:`moneyed.Money` at its public edge. It never relies on py-moneyed's own
rounding or formatting, nor on the ambient ``decimal`` context: every rounding names
its mode and rounds to the currency's minor unit as Babel knows it (EUR 2, JPY 0,
BHD 3).

>>> from decimal import Decimal
>>> round_amount(Decimal("-0.125"), "EUR")
Decimal('-0.13')
>>> round_amount(Decimal("0.125"), "EUR", Rounding.HALF_EVEN)
Decimal('0.12')
>>> allocate(Decimal("100.00"), [1, 1, 1], "EUR")
(Decimal('33.34'), Decimal('33.33'), Decimal('33.33'))
>>> to_decimal(0.1)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
subscriptions.errors.FloatRefused: amount 0.1 is a float; pass a decimal.Decimal or ...
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from decimal import (
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from fractions import Fraction
from functools import cache, lru_cache

from babel.numbers import format_currency, get_currency_precision, list_currencies
from moneyed import CURRENCIES, Currency, Money

from ._enum import Choice
from .errors import CurrencyMismatch, FloatRefused, InvalidInput, UnknownCurrency, shown

__all__ = [
    "EXACT",
    "Rounding",
    "allocate",
    "check_currency",
    "exact_add",
    "exact_multiply",
    "exact_sum",
    "format_amount",
    "format_money",
    "from_money",
    "minor_digits",
    "money_currency",
    "quantum",
    "round_amount",
    "round_fraction",
    "round_ratio",
    "round_to_unit",
    "shown_amount",
    "split_evenly",
    "to_decimal",
    "to_money",
]


#: The decimal context for every sum and product of amounts: wide enough that
#: additions and multiplications of real-world amounts are exact, whatever context
#: the host application has set. Rounding never happens through it, only through
#: :func:`round_amount` and :func:`round_fraction` with a named mode.
EXACT = Context(prec=64, traps=[InvalidOperation, DivisionByZero, Overflow])

#: :data:`EXACT`'s sum and product, bound once for the hot paths: a ``Context``'s own
#: attribute lookup (it looks for ``traps`` and ``flags`` first) costs some 50 ns a read.
exact_add = EXACT.add
exact_multiply = EXACT.multiply


class Rounding(Choice):
    """How an amount is rounded to the currency's minor unit."""

    #: Ties away from zero: 0.125 -> 0.13 and -0.125 -> -0.13 (the default).
    HALF_UP = "half_up"
    #: Ties to the even digit (banker's rounding): 0.125 -> 0.12, 0.135 -> 0.14.
    HALF_EVEN = "half_even"

    @property
    def decimal_mode(self) -> str:
        return _DECIMAL_MODES[self]


#: Looked up directly on the hot path: a property of an enum member is slow to reach.
_DECIMAL_MODES = {Rounding.HALF_UP: ROUND_HALF_UP, Rounding.HALF_EVEN: ROUND_HALF_EVEN}
#: Bound once: reading a member off its enum class runs ``EnumType.__getattr__``'s
#: slot hook on Python 3.11 (some 50 ns a read).
_HALF_UP = Rounding.HALF_UP


@cache
def _known_currencies() -> frozenset[str]:
    return frozenset(list_currencies())


def check_currency(code: object) -> str:
    """Return ``code`` in upper case if it is an ISO 4217 currency Babel knows, else
    raise :class:`~subscriptions.errors.UnknownCurrency`. Case does not matter, as for
    country codes (:func:`~subscriptions.vat.normalize_country`).

    >>> check_currency("EUR"), check_currency("eur")
    ('EUR', 'EUR')
    """
    if isinstance(code, str):
        if code in _known_currencies():
            return code
        upper = code.strip().upper()
        if upper in _known_currencies():
            return upper
    raise UnknownCurrency(code if isinstance(code, str) and len(code) <= 16 else shown(code))


def minor_digits(currency: str) -> int:
    """Digits after the decimal point of the currency's minor unit.

    >>> minor_digits("EUR"), minor_digits("JPY"), minor_digits("BHD")
    (2, 0, 3)
    """
    try:
        return _minor_digits(currency)
    except TypeError:  # unhashable, so no currency code
        raise UnknownCurrency(str(currency)) from None


def quantum(currency: str) -> Decimal:
    """The currency's minor unit as a Decimal exponent: ``Decimal('0.01')`` for EUR."""
    try:
        return _quantum(currency)
    except TypeError:  # unhashable, so no currency code
        raise UnknownCurrency(str(currency)) from None


@lru_cache(maxsize=512)
def _minor_digits(currency: str) -> int:
    return int(get_currency_precision(check_currency(currency)))


@lru_cache(maxsize=512)
def _quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-_minor_digits(currency), EXACT)


#: An amount as a person writes it: digits, an optional sign and decimal point.
_PLAIN_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def to_decimal(value: object, *, what: str = "amount", plain: bool = False) -> Decimal:
    """Turn a ``Decimal``, an ``int`` or a numeric string into a finite ``Decimal``.

    A ``float`` is refused with :class:`~subscriptions.errors.FloatRefused`; so are
    booleans, NaN and infinities. With ``plain``, a string must be written as on an
    invoice, with digits and a decimal point (a document a person wrote: ``"1e3"``
    and ``"1_000"`` are refused there, though ``Decimal`` reads them).

    >>> to_decimal("1E+3"), to_decimal(" 249.95 ", plain=True)
    (Decimal('1E+3'), Decimal('249.95'))
    >>> to_decimal("1e3", what="price", plain=True)
    Traceback (most recent call last):
      ...
    subscriptions.errors.InvalidInput: price '1e3' is not written as an amount; write it with digits and a decimal point, like '249.95' (no exponent, no separators)
    """  # noqa: E501
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise InvalidInput(f"{what} {value!r} is a boolean; pass a decimal amount")
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        raise FloatRefused(value, what=what)
    elif isinstance(value, str):
        if plain and _PLAIN_DECIMAL.fullmatch(value.strip()) is None:
            raise InvalidInput(
                f"{what} {value!r} is not written as an amount; write it with digits and a "
                "decimal point, like '249.95' (no exponent, no separators)"
            )
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise InvalidInput(
                f"{what} {value!r} is not a number; write it like '249.95'"
            ) from None
    else:
        raise InvalidInput(
            f"{what} {value!r} ({type(value).__name__}) is not an amount; "
            "pass a decimal.Decimal, an int or a string such as '249.95'"
        )
    if not result.is_finite():
        raise InvalidInput(f"{what} {value!r} is not a finite number")
    return result


def exact_sum(amounts: Iterable[Decimal]) -> Decimal:
    """The sum of ``amounts``, exact whatever decimal context the caller's thread has
    (``sum()`` would add in that context).

    >>> exact_sum([Decimal("0.10"), Decimal("0.20")])
    Decimal('0.30')
    """
    total = Decimal(0)
    for amount in amounts:
        total = exact_add(total, amount)
    return total


def round_amount(amount: Decimal, currency: str, mode: Rounding = Rounding.HALF_UP) -> Decimal:
    """Round ``amount`` to the currency's minor unit with the named mode."""
    if type(amount) is not Decimal:
        amount = to_decimal(amount)
    try:
        unit = _quantum(currency)
    except TypeError:  # unhashable, so no currency code
        raise UnknownCurrency(str(currency)) from None
    return round_to_unit(amount, unit, _DECIMAL_MODES[mode])


def round_to_unit(amount: Decimal, unit: Decimal, mode: str) -> Decimal:
    """``amount`` rounded to ``unit`` (a minor unit, ``Decimal("0.01")``) with the
    ``decimal`` rounding ``mode``: the kernel of every rounding to a minor unit."""
    # Positional arguments: keywords make this C call three times slower.
    result = amount.quantize(unit, mode, EXACT)
    # A negative amount that rounds to zero must not print as "-0.00".
    return result.copy_abs() if result.is_zero() else result


def round_fraction(value: Fraction, currency: str, mode: Rounding = Rounding.HALF_UP) -> Decimal:
    """Round an exact rational amount to the minor unit, exactly.

    Proration multiplies a price by a fraction of a period (``150 x 20/28``); the result
    is rounded once, from the exact value, never from a truncated decimal expansion.
    """
    digits = minor_digits(currency)
    minor = round_ratio(value.numerator * 10**digits, value.denominator, mode)
    return Decimal(minor).scaleb(-digits, EXACT) if digits else Decimal(minor)


def round_ratio(numerator: int, denominator: int, mode: Rounding) -> int:
    """``numerator / denominator`` rounded to an integer; ties per ``mode``.

    >>> round_ratio(5, 2, Rounding.HALF_UP), round_ratio(-5, 2, Rounding.HALF_UP)
    (3, -3)
    >>> round_ratio(5, 2, Rounding.HALF_EVEN)
    2
    """
    if denominator < 0:
        numerator, denominator = -numerator, -denominator
    negative = numerator < 0
    if mode is _HALF_UP:
        # floor(|n| / d + 1/2), with the sign restored: ties away from zero.
        twice = denominator + denominator
        if negative:
            return -((denominator - numerator - numerator) // twice)
        return (numerator + numerator + denominator) // twice
    quotient, remainder = divmod(-numerator if negative else numerator, denominator)
    twice = remainder + remainder
    if twice > denominator or (twice == denominator and quotient & 1):
        quotient += 1
    return -quotient if negative else quotient


def allocate(
    amount: Decimal, ratios: Sequence[Decimal | int], currency: str
) -> tuple[Decimal, ...]:
    """Split ``amount`` over parts in proportion to ``ratios``, losing no minor unit.

    Each part gets its exact share rounded down to the minor unit; the units left
    over go, one each, to the parts with the largest remainders (earlier parts first
    on ties). The parts always add up to ``amount`` exactly.

    >>> allocate(Decimal("10.00"), [Decimal("0.7"), Decimal("0.3")], "EUR")
    (Decimal('7.00'), Decimal('3.00'))
    >>> allocate(Decimal("-0.05"), [1, 1], "EUR")
    (Decimal('-0.03'), Decimal('-0.02'))
    """
    if not ratios:
        raise InvalidInput("cannot allocate over no parts; pass at least one ratio")
    checked = [to_decimal(r, what="ratio") for r in ratios]
    if any(r < 0 for r in checked):
        raise InvalidInput(f"ratios must not be negative, got {[str(r) for r in checked]}")
    total_ratio = sum((Fraction(r) for r in checked), Fraction(0))
    if total_ratio == 0:
        raise InvalidInput("ratios add up to zero; give at least one part a positive ratio")
    amount = to_decimal(amount)
    if round_amount(amount, currency) != amount:
        raise InvalidInput(f"{amount} has more digits than {currency}'s minor unit; round it first")
    digits = minor_digits(currency)
    minor_total = int(amount.scaleb(digits, EXACT))
    # Allocate the magnitude and restore the sign, so that a negative amount splits
    # as the mirror image of the positive one.
    sign = -1 if minor_total < 0 else 1
    exact = [Fraction(abs(minor_total)) * Fraction(r) / total_ratio for r in checked]
    shares = [sign * share for share in largest_remainder(abs(minor_total), exact)]
    return tuple(Decimal(s).scaleb(-digits, EXACT) if digits else Decimal(s) for s in shares)


def largest_remainder(total: int, exact: Sequence[Fraction]) -> list[int]:
    """Integers close to ``exact`` that add up to ``total`` (largest remainder method).

    Works for any signs: each share starts at the floor of its exact value, and the
    difference to ``total`` is handed out one unit at a time to the largest
    fractional parts (or taken from the smallest, when the floors overshoot).
    """
    floors = [v.numerator // v.denominator for v in exact]
    left = total - sum(floors)
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - floors[i]), i))
    if left >= 0:
        for k in range(left):
            floors[order[k % len(order)]] += 1
    else:
        for k in range(-left):
            floors[order[-1 - (k % len(order))]] -= 1
    return floors


def split_evenly(amount: Decimal, parts: int, currency: str) -> tuple[Decimal, ...]:
    """Split ``amount`` into ``parts`` shares as even as the minor unit allows.

    >>> split_evenly(Decimal("10"), 3, "JPY")
    (Decimal('4'), Decimal('3'), Decimal('3'))
    """
    if isinstance(parts, bool) or not isinstance(parts, int) or parts < 1:
        raise InvalidInput(f"cannot split into {parts!r} parts; pass a whole number >= 1")
    return allocate(amount, [1] * parts, currency)


def money_currency(code: str) -> Currency:
    """py-moneyed's ``Currency`` for an ISO 4217 code Babel knows.

    A code newer than py-moneyed's own list (``XCG``, say) gets a ``Currency`` of that
    code, so that every currency the library accepts can be shown as ``Money``.
    """
    return _money_currency(check_currency(code))


@lru_cache(maxsize=512)
def _money_currency(code: str) -> Currency:
    return CURRENCIES.get(code) or Currency(code=code)


def to_money(amount: Decimal, currency: str) -> Money:
    """Wrap an exact amount in a py-moneyed ``Money`` for the public edge."""
    return Money(to_decimal(amount), money_currency(currency))


def from_money(value: Money, *, currency: str | None = None) -> Decimal:
    """The exact amount of a ``Money``, checking its currency when one is expected."""
    if not isinstance(value, Money):
        raise InvalidInput(f"{value!r} is not a moneyed.Money")
    code = str(value.currency.code)
    if currency is not None and code != currency:
        raise CurrencyMismatch(code, currency)
    return to_decimal(value.amount)


def format_amount(amount: Decimal, currency: str) -> str:
    """A plain string with exactly the minor unit's digits: ``'249.90'``, ``'1200'``."""
    rounded = round_amount(amount, currency)
    return f"{rounded:f}"


def shown_amount(value: Decimal, currency: str) -> str:
    """``value`` as shown to a person or a program: at least ``currency``'s minor
    digits, never rounded (the one rule of every amount the library prints: the
    command line's output, the notebook views of :mod:`subscriptions.display`).

    An amount with more digits than its currency has (a prorated unit price) keeps
    them: nothing shown is rounded away.

    >>> shown_amount(Decimal("0"), "EUR"), shown_amount(Decimal("30"), "EUR")
    ('0.00', '30.00')
    >>> shown_amount(Decimal("1200"), "JPY"), shown_amount(Decimal("9.8765"), "EUR")
    ('1200', '9.8765')
    """
    digits = minor_digits(currency)
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent < digits:
        value = value.quantize(Decimal(1).scaleb(-digits), context=EXACT)
    return f"{value:f}"


def format_money(amount: Decimal, currency: str, locale: str) -> str:
    """A localized amount for people, e.g. ``'1.234,56\\xa0€'`` in ``it_IT``.

    >>> format_money(Decimal("1234.56"), "EUR", "it_IT")
    '1.234,56\\xa0€'
    """
    # Babel rounds in the thread's decimal context: give it ours, not the host's.
    with localcontext(EXACT):
        return str(format_currency(to_decimal(amount), check_currency(currency), locale=locale))
