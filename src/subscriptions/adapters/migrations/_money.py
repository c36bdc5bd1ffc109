"""Migration 6's data step: the amounts of stored orders and quotes become ``Money``.

Before it, an order's ``amount_due`` and a quote's ``credit_applied`` and ``amount_due``
were stored as decimal strings (``"183.00"``), in the currency the document names in
its own ``currency`` field. Each becomes the codec's ``Money`` object,
``{"amount": "183.00", "currency": "EUR"}``: the amount's text is kept as it was
(exponent and trailing zeros), the currency is the document's. An amount already in
that form is left as it is, so the step may run on a book more than once.
"""

from __future__ import annotations

from typing import Any

from ...errors import CodecError
from .. import codec
from . import MigrationDatabase

__all__ = ["AMOUNTS", "money_amounts", "with_money"]

#: The tables of documents whose amounts became ``Money``, and those amounts' fields.
AMOUNTS: dict[str, tuple[str, ...]] = {
    "orders": ("amount_due",),
    "quotes": ("credit_applied", "amount_due"),
}


def with_money(doc: dict[str, Any], fields: tuple[str, ...], *, what: str) -> dict[str, Any]:
    """``doc`` with each of its ``fields`` that is a decimal string made a ``Money``
    object in the document's currency (``what`` names the document in errors)."""
    currency = doc.get("currency")
    converted = dict(doc)
    for name in fields:
        value = doc.get(name)
        if isinstance(value, dict) and isinstance(value.get("amount"), str):
            continue
        if not isinstance(value, str):
            raise CodecError(
                f"stored {what} has {name} {value!r}, neither a decimal string nor an "
                "amount with its currency; correct the document, then open the book again"
            )
        if not isinstance(currency, str):
            raise CodecError(
                f"stored {what} has no currency for its {name} {value!r}; add the "
                "document's currency, then open the book again"
            )
        converted[name] = {"amount": value, "currency": currency}
    return converted


def money_amounts(db: MigrationDatabase) -> None:
    for table, fields in AMOUNTS.items():
        for key, text in db.query(f"SELECT id, doc FROM {table}"):
            doc = codec._json_decode(text)
            converted = with_money(doc, fields, what=f"{table[:-1]} {key!r}")
            if converted != doc:
                db.execute(
                    f"UPDATE {table} SET doc = ? WHERE id = ?",
                    (codec._json_encode(converted), key),
                )
