"""The amounts of quotes and orders are ``Money`` in the record's own currency."""

from __future__ import annotations

import re
from decimal import Decimal

import attrs
import pytest
from moneyed import Money

from subscriptions._records import revised
from subscriptions.errors import InvalidInput
from subscriptions.orders import OrderState, order_moved
from tests.contract import records as r


def test_a_quote_and_an_order_carry_money_in_their_currency() -> None:
    quote = r.quote(r.italian_account())
    assert quote.amount_due == Money("2451.90", "EUR")
    assert quote.credit_applied == Money("12.50", "EUR")
    assert quote.invoice is not None
    assert quote.total == Money(quote.invoice.total, "EUR")
    assert isinstance(quote.invoice.total, Decimal)  # the invoice keeps its Decimals
    order = r.order(r.italian_account())
    assert order.amount_due == Money("183.00", "EUR")


def test_a_quote_without_an_invoice_totals_zero_in_its_currency() -> None:
    quote = attrs.evolve(r.quote(r.italian_account()), invoice=None)
    assert quote.total == Money(0, "EUR")
    jpy = attrs.evolve(
        quote, currency="JPY", credit_applied=Money(0, "JPY"), amount_due=Money(0, "JPY")
    )
    assert jpy.total == Money(0, "JPY")


@pytest.mark.parametrize("field", ["credit_applied", "amount_due"])
def test_a_quote_refuses_an_amount_that_is_not_money(field: str) -> None:
    quote = r.quote(r.italian_account())
    refusal = re.escape(f"quote 'quo-1': {field} must be a moneyed.Money")
    with pytest.raises(InvalidInput, match=refusal) as raised:
        attrs.evolve(quote, **{field: Decimal("10.00")})
    assert "to_money(amount, 'EUR')" in str(raised.value)


@pytest.mark.parametrize("field", ["credit_applied", "amount_due"])
def test_a_quote_refuses_an_amount_in_another_currency(field: str) -> None:
    quote = r.quote(r.italian_account())
    refusal = f"quote 'quo-1': {field} is in USD, but the record is in EUR"
    with pytest.raises(InvalidInput, match=refusal):
        attrs.evolve(quote, **{field: Money("10.00", "USD")})


def test_an_order_refuses_an_amount_that_is_not_money_or_in_another_currency() -> None:
    order = r.order(r.italian_account())
    with pytest.raises(InvalidInput, match=r"order 'ord-1': amount_due must be a moneyed\.Money"):
        attrs.evolve(order, amount_due=Decimal("183.00"))
    with pytest.raises(InvalidInput, match="amount_due is in CHF, but the record is in EUR"):
        attrs.evolve(order, amount_due=Money("183.00", "CHF"))
    # Changing the currency alone leaves the amount in the old one: refused as well.
    with pytest.raises(InvalidInput, match="amount_due is in EUR, but the record is in USD"):
        revised(order, currency="USD")


def test_an_order_s_next_versions_keep_its_money() -> None:
    order = r.order(r.italian_account(), state=OrderState.PENDING)
    moved = order_moved(order, OrderState.SUCCEEDED, at=order.updated_at)
    assert moved.amount_due is order.amount_due
    assert moved.version == order.version + 1
