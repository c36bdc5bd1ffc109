"""How the command line writes what it found: JSON for programs, tables for people.

One set of rules for every command:

* **Amounts** are strings with exactly their currency's minor digits (``"0.00"``,
  ``"30.00"``, ``"1200"`` yen): a record with a ``currency`` shows its amounts so, and
  passes the currency down to its lines. An amount with more digits than its currency
  has (a prorated unit price) keeps them: nothing printed is rounded away.
* **Instants** are ISO 8601 with the offset of the account they belong to, when the
  command knows the account, or the record names its time zone (a bill run's
  projected step), else UTC.
* A **3-D Secure step** is shown when it is a web address; anything else may be a
  client secret and is withheld.
* **Errors**, with ``--json``, are JSON too, on stdout: ``{"error": {"type": ...,
  "message": ...}}``.
* A **database URL** is shown without its password.
* **Tables** are values (:class:`Table`): plain text, a header and a rule, where the
  output is not a terminal (a pipe, a file); drawn by rich on a terminal.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Any, TypeAlias
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import attrs
from moneyed import Money

from ..money import shown_amount

__all__ = [
    "WITHHELD",
    "Shown",
    "Table",
    "error_document",
    "jsonable",
    "plain",
    "redacted_url",
    "shown_action",
    "table",
]

#: What is printed instead of a 3-D Secure step that is not a web address.
WITHHELD = "(withheld: a client secret, for the host's payment page only)"

#: Fields of a record with a currency that hold an amount of it (a rate, a count or a
#: quantity is never one of them).
_AMOUNTS = frozenset(
    {
        "amount",
        "amount_due",
        "amount_refunded",
        "base",
        "captured",
        "credit_applied",
        "credit_balance",
        "listed",
        "subtotal",
        "total",
        "unit_price",
    }
)


def shown_action(value: object) -> str | None:
    """A 3-D Secure step as printed: a web address to send the customer to is shown;
    anything else may be a client secret (Stripe's), which no output ever shows."""
    if value is None:
        return None
    text = str(value)
    if text.startswith(("https://", "http://")) and "secret" not in text:
        return text
    return WITHHELD


def jsonable(value: Any, *, zone: tzinfo | None = None, currency: str | None = None) -> Any:
    """``value`` as JSON data, by the rules of the module (``zone``: the account's)."""
    if attrs.has(type(value)):
        own = getattr(value, "currency", None)
        here = own if isinstance(own, str) else currency
        # A record of an account's (a projected step) carries the account's time zone.
        named = getattr(value, "timezone", None)
        zone = ZoneInfo(named) if isinstance(named, str) and named else zone
        return {
            f.name.lstrip("_"): _field(f.name, getattr(value, f.name), zone, here)
            for f in attrs.fields(type(value))
            if f.init
        }
    if isinstance(value, dict):
        return {str(k): jsonable(v, zone=zone, currency=currency) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, zone=zone, currency=currency) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(jsonable(v, zone=zone, currency=currency) for v in value)
    if isinstance(value, Money):
        # The bare amount: the currency is a field of the record beside it.
        return shown_amount(value.amount, str(value.currency.code))
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, datetime):
        return (value if zone is None else value.astimezone(zone)).isoformat()
    if hasattr(value, "value") and hasattr(type(value), "__members__"):
        return value.value
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


def _field(name: str, value: Any, zone: tzinfo | None, currency: str | None) -> Any:
    if name == "next_action":
        return shown_action(value)
    if isinstance(value, Decimal) and currency is not None and name in _AMOUNTS:
        return shown_amount(value, currency)
    return jsonable(value, zone=zone, currency=currency)


def error_document(exc: BaseException, message: str) -> str:
    """The JSON an error is printed as with ``--json``."""
    document = {"error": {"type": type(exc).__name__, "message": message}}
    return json.dumps(document, ensure_ascii=False) + "\n"


def redacted_url(url: str) -> str:
    """``url`` without its password: a database URL may be shown, its secret never.

    >>> redacted_url("postgresql://billing:s3cret@db.example:5432/book")
    'postgresql://billing:***@db.example:5432/book'
    >>> redacted_url("subscriptions.sqlite3")
    'subscriptions.sqlite3'
    """
    parts = urlsplit(url)
    if not parts.scheme or parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


@attrs.frozen(weakref_slot=False)
class Table:
    """Rows under headers, every cell already text."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def __str__(self) -> str:
        """The plain text table: a header, a rule, one line per row.

        >>> print(table([("a", 1), ("bb", None)], ("name", "n")), end="")
        name  n
        ----  -
        a     1
        bb
        """
        cells = [list(self.headers), *map(list, self.rows)]
        widths = [max(len(row[i]) for row in cells) for i in range(len(self.headers))]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            for row in cells
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines) + "\n"


#: What a command shows a person: text, a table, or a sequence of both in order.
Shown: TypeAlias = str | Table | Sequence[str | Table]


def table(rows: Sequence[Sequence[object]], headers: Sequence[str]) -> Table:
    """A :class:`Table` of ``rows`` under ``headers``; ``None`` shows as nothing."""
    return Table(
        headers=tuple(str(h) for h in headers),
        rows=tuple(tuple("" if c is None else str(c) for c in r) for r in rows),
    )


def plain(shown: Shown) -> str:
    """``shown`` as plain text, for a pipe or a file."""
    if isinstance(shown, (str, Table)):
        return str(shown)
    return "".join(str(block) for block in shown)
