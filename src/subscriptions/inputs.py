"""The shape of the identifiers and lists the use cases take, checked in one place.

Every id a caller passes (an account, quote, order, invoice or payment id, a user id,
a payment-method token, an idempotency key) is an *identifier*: a non-blank string of
at most :data:`MAX_ID_LENGTH` characters, without whitespace or control characters.
The limit keeps every key derived from ids (``pay:{invoice_id}:{key}``, a
subscription's ``sub_{account_id}_{product}``) well below the 255 characters gateways
and databases allow, and the charset keeps ids printable in logs, messages and URLs
and storable by every adapter (a NUL byte, for one, is refused by PostgreSQL).

>>> identifier("acct_42", what="account id")
'acct_42'
>>> identifier("tok visa", what="payment method")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
subscriptions.errors.InvalidInput: payment method 'tok visa' contains whitespace or a ...

Where a list of users is expected, a string is refused rather than read as its
letters:

>>> user_ids(["ada", "grace"])
('ada', 'grace')
>>> user_ids("ada")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
subscriptions.errors.InvalidInput: user ids must be a list of user ids, not the string 'ada'; ...
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .errors import InvalidInput, shown

__all__ = [
    "MAX_ID_LENGTH",
    "MAX_KEY_LENGTH",
    "MAX_TEXT_LENGTH",
    "callback",
    "identifier",
    "optional_identifier",
    "text",
    "user_ids",
    "whole_number",
]

#: The longest identifier accepted, in characters.
MAX_ID_LENGTH = 64
#: The longest payment key accepted where one the library derived from ids is given
#: back (``resolve_payment``): under the 255 characters gateways allow.
MAX_KEY_LENGTH = 254
#: The longest free text accepted where a short reference is expected (a purchase
#: order number).
MAX_TEXT_LENGTH = 200


def identifier(value: object, *, what: str, max_length: int = MAX_ID_LENGTH) -> str:
    """``value`` if it is an identifier (see the module's documentation), else
    :class:`~subscriptions.errors.InvalidInput` saying what is wrong with it."""
    if not isinstance(value, str):
        raise InvalidInput(
            f"{what} {shown(value)} ({type(value).__name__}) is not a string; pass an id: "
            "a short string without spaces, such as 'acct_42' or 'tok_visa'"
        )
    if not value:
        raise InvalidInput(f"{what} is empty; pass an id such as 'acct_42' or 'tok_visa'")
    if len(value) > max_length:
        raise InvalidInput(
            f"{what} {shown(value)} is {len(value)} characters long; it may have at most "
            f"{max_length}"
        )
    # isprintable() is False for every control, format, surrogate, unassigned and
    # separator character except the ASCII space, which is checked on its own.
    if not value.isprintable() or " " in value:
        raise InvalidInput(
            f"{what} {shown(value)} contains whitespace or a control character; ids are "
            "printable characters without spaces, such as 'acct_42' or 'tok_visa'"
        )
    return value


def optional_identifier(value: object, *, what: str) -> str | None:
    """``None``, or ``value`` if it is an identifier."""
    return None if value is None else identifier(value, what=what)


def callback(value: object, *, what: str) -> None:
    """Refuse ``value`` unless it is ``None`` or callable (a ``stop`` or ``progress``
    function), before a job starts rather than when it first calls it."""
    if value is not None and not callable(value):
        raise InvalidInput(
            f"{what} {shown(value)} ({type(value).__name__}) is not callable; pass a "
            "function, or leave it out"
        )


def text(value: object, *, what: str, max_length: int = MAX_TEXT_LENGTH) -> str:
    """``value`` if it is a short, non-blank, printable text (spaces allowed), such as
    a purchase-order number."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} {shown(value)} must be a non-empty text")
    if len(value) > max_length:
        raise InvalidInput(
            f"{what} is {len(value)} characters long; it may have at most {max_length}"
        )
    if not value.isprintable():
        raise InvalidInput(
            f"{what} {shown(value)} contains a control character; write it on one line "
            "of printable characters"
        )
    return value


def user_ids(value: object, *, what: str = "user ids") -> tuple[str, ...]:
    """The identifiers in ``value``, a list (any iterable but a string) of user ids."""
    if isinstance(value, str | bytes | Mapping):
        raise InvalidInput(
            f"{what} must be a list of user ids, not the string {shown(value)}; write "
            f"[{shown(value)}] for one user"
        )
    if not isinstance(value, Iterable):
        raise InvalidInput(
            f"{what} {shown(value)} ({type(value).__name__}) is not a list; pass a list "
            "of user ids such as ['ada', 'grace']"
        )
    return tuple(identifier(user, what="user id") for user in value)


def whole_number(value: object, *, what: str, minimum: int, maximum: int) -> int:
    """``value`` if it is an ``int`` (not a ``bool``) from ``minimum`` to ``maximum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(
            f"{what} {shown(value)} ({type(value).__name__}) is not a whole number; pass "
            f"an int from {minimum} to {maximum}"
        )
    if not minimum <= value <= maximum:
        raise InvalidInput(f"{what} {shown(value)} is out of range; pass {minimum} to {maximum}")
    return value
