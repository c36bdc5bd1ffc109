"""Migration 6's data step: stored amounts of orders and quotes, from decimal strings to
the codec's ``Money`` objects."""

from __future__ import annotations

import json
from typing import Any

import pytest
from moneyed import Money

from subscriptions.adapters import codec
from subscriptions.adapters.migrations._money import AMOUNTS, money_amounts, with_money
from subscriptions.errors import CodecError, InvalidInput
from subscriptions.orders import Order, OrderState, Quote
from tests.contract import records as r


def _old(record: Order | Quote) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(r.first_schema_text(record))
    return doc


def test_an_old_order_document_decodes_as_the_order_after_it() -> None:
    order = r.order(r.italian_account(), state=OrderState.PENDING)
    old = _old(order)
    assert old["amount_due"] == "183.00"
    new = with_money(old, AMOUNTS["orders"], what="order 'ord-1'")
    assert new["amount_due"] == {"amount": "183.00", "currency": "EUR"}
    # Nothing else moved, and the keys keep their order (the text stays the codec's).
    assert list(new) == list(old)
    assert {k: v for k, v in new.items() if k != "amount_due"} == {
        k: v for k, v in old.items() if k != "amount_due"
    }
    assert codec.decode(Order, new) == order
    assert codec._json_encode(new) == codec.dumps(order)


def test_an_old_quote_document_gets_both_amounts_as_money() -> None:
    quote = r.quote(r.german_account())
    old = _old(quote)
    assert (old["credit_applied"], old["amount_due"]) == ("0", "2020.00")
    new = with_money(old, AMOUNTS["quotes"], what="quote 'quo-1'")
    assert new["credit_applied"] == {"amount": "0", "currency": "EUR"}
    assert new["amount_due"] == {"amount": "2020.00", "currency": "EUR"}
    decoded = codec.decode(Quote, new)
    assert decoded == quote
    assert decoded.credit_applied == Money("0", "EUR")
    assert str(decoded.credit_applied.amount) == "0"  # the stored text, exactly


def test_the_document_s_own_currency_is_the_amount_s() -> None:
    old = {"id": "ord-1", "amount_due": "1200", "currency": "JPY"}
    new = with_money(old, AMOUNTS["orders"], what="order 'ord-1'")
    assert new["amount_due"] == {"amount": "1200", "currency": "JPY"}


def test_an_amount_already_money_is_left_as_it_is() -> None:
    quote = r.quote(r.italian_account(), "quo-2")
    current = codec.encode(quote)
    assert with_money(current, AMOUNTS["quotes"], what="quote 'quo-2'") == current
    # A document with one amount of each shape gets the other converted.
    mixed = {**current, "credit_applied": str(quote.credit_applied.amount)}
    assert with_money(mixed, AMOUNTS["quotes"], what="quote 'quo-2'") == current


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"id": "o", "amount_due": "5.00"}, "no currency"),
        ({"id": "o", "amount_due": "5.00", "currency": None}, "no currency"),
        ({"id": "o", "currency": "EUR"}, "neither a decimal string"),
        ({"id": "o", "amount_due": 5, "currency": "EUR"}, "neither a decimal string"),
        ({"id": "o", "amount_due": {"currency": "EUR"}, "currency": "EUR"}, "neither"),
    ],
)
def test_a_document_it_cannot_read_is_refused_by_name(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(CodecError, match=message) as raised:
        with_money(doc, AMOUNTS["orders"], what="order 'o'")
    assert "order 'o'" in str(raised.value)
    assert isinstance(raised.value, InvalidInput)


class _Book:
    """The two tables the step reads, as a :class:`MigrationDatabase` would show them."""

    def __init__(self, tables: dict[str, dict[str, str]]) -> None:
        self.tables = tables
        self.updates: list[tuple[str, str]] = []

    def query(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        table = sql.removeprefix("SELECT id, doc FROM ")
        assert table in self.tables, sql
        return list(self.tables[table].items())

    def execute(self, sql: str, params: Any = ()) -> None:
        table = sql.removeprefix("UPDATE ").partition(" ")[0]
        assert sql == f"UPDATE {table} SET doc = ? WHERE id = ?", sql
        doc, key = params
        self.tables[table][key] = doc
        self.updates.append((table, key))

    def instant(self, value: Any) -> Any:
        raise AssertionError("the step stores no instant")


def test_the_step_rewrites_every_old_document_and_only_those() -> None:
    it, de = r.italian_account(), r.german_account()
    orders = [r.order(it, "ord-1"), r.order(de, "ord-2", state=OrderState.FAILED)]
    quotes = [r.quote(de, "quo-1"), r.quote(it, "quo-2")]
    book = _Book(
        {
            "orders": {
                "ord-1": r.first_schema_text(orders[0]),
                "ord-2": codec.dumps(orders[1]),  # already in the current shape
            },
            "quotes": {
                "quo-1": r.first_schema_text(quotes[0]),
                "quo-2": r.first_schema_text(quotes[1]),
            },
        }
    )
    money_amounts(book)
    assert book.updates == [("orders", "ord-1"), ("quotes", "quo-1"), ("quotes", "quo-2")]
    assert [codec.loads(Order, book.tables["orders"][o.id]) for o in orders] == orders
    assert [codec.loads(Quote, book.tables["quotes"][q.id]) for q in quotes] == quotes
    # Run again, it finds nothing left to do.
    money_amounts(book)
    assert len(book.updates) == 3
