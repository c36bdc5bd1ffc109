"""Results that show themselves: the text table, the HTML table with every text
escaped, amounts with their currency's digits, instants in the record's zone, and rows
that pandas takes (one per invoice line, per price, per step)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from subscriptions.catalog import Catalog, Plan, Price, Product
from subscriptions.display import Section, View, shown
from subscriptions.errors import InvalidInput
from subscriptions.money import to_money
from subscriptions.orders import Quote
from subscriptions.preview import Preview, quote
from subscriptions.pricing import Customer, Invoice, TaxSetup
from subscriptions.subscription import (
    BillingContext,
    BillingPolicy,
    Change,
    ChangePolicy,
    ChangeTiming,
    Subscribe,
    Subscription,
    Terms,
)
from subscriptions.transitions import apply

ROME = ZoneInfo("Europe/Rome")
AT = datetime(2026, 1, 5, 9, tzinfo=ROME)
SCRIPT = "<script>alert('x')</script>"


def _catalog(name: str = "App") -> Catalog:
    return Catalog(
        products=[
            Product(
                id="app",
                name=name,
                trial_days=14,
                plans=[
                    Plan(
                        id="basic",
                        name="Basic & <Co>",
                        rank=1,
                        prices=[
                            Price(currency="EUR", frequency="monthly", amount="10.00"),
                            Price(currency="JPY", frequency="monthly", amount="1200"),
                        ],
                    ),
                    Plan(
                        id="pro",
                        name="Pro",
                        rank=2,
                        prices=[Price(currency="EUR", frequency="monthly", amount="25.00")],
                    ),
                ],
            )
        ]
    )


def _context(currency: str = "EUR", *, name: str = "App") -> BillingContext:
    return BillingContext(
        catalog=_catalog(name),
        currency=currency,
        tz=ROME,
        policy=BillingPolicy(plan_change=ChangePolicy.uniform(ChangeTiming.REALIGN)),
        tax=TaxSetup(seller_country="IT", customer=Customer(country="IT")),
    )


def _terms(plan: str = "basic", seats: int = 3) -> Terms:
    return Terms(product="app", plan=plan, seats=seats, frequency="monthly")


def _subscribed(context: BillingContext) -> Subscription:
    return apply(None, Subscribe(terms=_terms()), at=AT, context=context).subscription


def _change(context: BillingContext) -> Preview:
    """An upgrade mid-period: a credit line and a charge line."""
    return quote(
        _subscribed(context), Change(plan="pro"), at=AT + timedelta(days=10), context=context
    )


def _quote(invoice: Invoice | None, *, currency: str = "EUR") -> Quote:
    total = Decimal(0) if invoice is None else invoice.total
    return Quote(
        id="quo_1",
        account_id="acct_1",
        created_at=AT,
        expires_at=AT + timedelta(minutes=30),
        currency=currency,
        cart=(),
        items=(),
        invoice=invoice,
        credit_applied=to_money(Decimal(0), currency),
        amount_due=to_money(total, currency),
        vat_number=None,
        reverse_charge=False,
        prepared_by="anna",
    )


# -- the shared rendering ------------------------------------------------------------


def test_a_cell_is_shown_by_one_rule() -> None:
    assert shown(to_money(Decimal("0"), "EUR")) == "0.00"
    assert shown(to_money(Decimal("30"), "EUR")) == "30.00"
    assert shown(to_money(Decimal("1200"), "JPY")) == "1200"
    assert shown(to_money(Decimal("5.1"), "BHD")) == "5.100"
    # More digits than the currency has: kept, never rounded away.
    assert shown(to_money(Decimal("9.8765"), "EUR")) == "9.8765"
    assert shown(datetime(2026, 1, 5, 9, 30, tzinfo=ROME)) == "2026-01-05 09:30+01:00"
    assert shown(datetime(2026, 1, 5, 9, 30, 15, tzinfo=UTC)) == "2026-01-05 09:30:15+00:00"
    assert (shown(Decimal("22")), shown(Decimal("25.50")), shown(Decimal("2E+1"))) == (
        "22",
        "25.5",
        "20",
    )
    assert (shown(None), shown(True), shown(False), shown(3)) == ("", "yes", "no", "3")


def test_the_text_table_aligns_numbers_right_and_hides_what_rows_keep() -> None:
    view = View(
        title="Title",
        facts=(("account", "acct_1"),),
        sections=(
            Section(
                title="lines",
                columns=("name", "seats", "amount", "currency"),
                cells=(
                    ("a", 1, to_money(Decimal("5"), "EUR"), "EUR"),
                    ("bb", 12, to_money(Decimal("100.5"), "EUR"), "EUR"),
                ),
                hidden=frozenset({"currency"}),
            ),
            Section(title="other", columns=("x",)),
        ),
        totals=(("total", to_money(Decimal("105.5"), "EUR")),),
        notes=("A mention.",),
    )
    assert view.table() == (
        "Title\n"
        "\n"
        "account  acct_1\n"
        "\n"
        "lines\n"
        "name  seats  amount\n"
        "----  -----  ------\n"
        "a         1    5.00\n"
        "bb       12  100.50\n"
        "\n"
        "total  105.50\n"
        "\n"
        "other\n"
        "(none)\n"
        "\n"
        "A mention.\n"
    )
    assert str(view) == view.table()
    assert view.rows() == [
        {"name": "a", "seats": 1, "amount": Decimal("5"), "currency": "EUR"},
        {"name": "bb", "seats": 12, "amount": Decimal("100.5"), "currency": "EUR"},
    ]
    assert "currency" not in view.html()
    assert view._repr_html_() == view.html()


def test_a_row_must_have_one_cell_per_column() -> None:
    with pytest.raises(InvalidInput, match="a row of 1 cells under 2 columns"):
        Section(title="bad", columns=("a", "b"), cells=(("only",),))


def test_the_html_view_escapes_every_text() -> None:
    view = View(
        title=SCRIPT,
        facts=((SCRIPT, SCRIPT),),
        sections=(Section(title=SCRIPT, columns=(SCRIPT,), cells=((SCRIPT,),)),),
        totals=((SCRIPT, to_money(Decimal(1), "EUR")),),
        notes=(SCRIPT,),
    )
    page = view.html()
    assert "<script>" not in page
    assert "alert(" in page
    assert page.count("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;") == 8
