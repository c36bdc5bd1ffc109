"""Results that show themselves: the text table, the HTML table with every text
escaped, amounts with their currency's digits, instants in the record's zone, and rows
that pandas takes (one per invoice line, per price, per step)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pandas
import pytest

from subscriptions.accounts import Account, Address
from subscriptions.catalog import Catalog, Plan, Price, Product
from subscriptions.display import Section, View, shown
from subscriptions.errors import InvalidInput
from subscriptions.money import to_money
from subscriptions.orders import Draft, Quote, Seller, issued_documents
from subscriptions.preview import Preview, quote
from subscriptions.pricing import Customer, Invoice, TaxSetup
from subscriptions.scenario import ScenarioResult, run
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


# -- the records ---------------------------------------------------------------------


def test_a_product_named_script_shows_escaped_in_the_catalog() -> None:
    catalog = _catalog(SCRIPT)
    page = catalog._repr_html_()
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "Basic &amp; &lt;Co&gt;" in page
    # The text view is plain text: shown as written.
    assert SCRIPT in catalog.table()


def test_the_catalog_has_one_row_per_price() -> None:
    frame = pandas.DataFrame(_catalog().rows())
    assert len(frame) == 3
    assert list(frame.columns) == [
        "product",
        "product_name",
        "trial_days",
        "plan",
        "plan_name",
        "rank",
        "frequency",
        "currency",
        "price",
    ]
    assert list(frame["price"]) == [Decimal("10.00"), Decimal("1200"), Decimal("25.00")]
    text = _catalog().table()
    assert "  10.00\n" in text  # EUR: two digits
    assert "   1200\n" in text  # JPY: none
    assert "1200.00" not in text


def test_a_quote_has_one_row_per_invoice_line() -> None:
    preview = _change(_context())
    record = _quote(preview.invoice)
    frame = pandas.DataFrame(record.rows())
    assert list(frame["kind"]) == ["credit", "charge"]
    assert len(frame) == len(preview.lines) == 2
    assert sum(frame["amount"]) == preview.subtotal.amount
    assert set(frame["currency"]) == {"EUR"}
    assert list(frame["vat_rate"]) == [Decimal(22), Decimal(22)]
    # Instants in UTC unless the caller names the account's zone.
    assert str(frame["period_end"].dt.tz) == "UTC"
    rome = pandas.DataFrame(record.rows(zone="Europe/Rome"))
    assert str(rome["period_end"].dt.tz) == "Europe/Rome"
    assert rome["period_end"][1] == pandas.Timestamp("2026-02-15 09:00", tz="Europe/Rome")


def test_a_quote_shows_its_lines_totals_and_what_is_due() -> None:
    record = _quote(quote(None, Subscribe(terms=_terms()), at=AT, context=_context()).invoice)
    text = record.table(zone=ROME)
    assert text.startswith("Quote quo_1\n")
    assert "created_at      2026-01-05 09:00+01:00\n" in text
    assert "charge  app      basic  monthly        3       10.00  2026-01-05 09:00+01:00" in text
    assert "subtotal        30.00\n" in text
    assert "vat 22%          6.60\n" in text
    assert "total           36.60\n" in text
    assert "credit_applied   0.00\n" in text
    assert "amount_due      36.60\n" in text
    assert "<table" in record._repr_html_()
    # The repr is still the one attrs makes.
    assert repr(record).startswith("Quote(id='quo_1', account_id='acct_1'")
    assert str(record) == repr(record)


def test_a_quote_without_an_invoice_shows_a_zero_total_with_the_currency_digits() -> None:
    record = _quote(None)
    assert record.rows() == []
    text = record.table()
    assert "lines\n(none)\n" in text
    assert "total           0.00\n" in text
    assert "credit_applied  0.00\n" in text
    assert "amount_due      0.00\n" in text


def test_yen_show_no_decimals() -> None:
    context = _context("JPY")
    preview = quote(None, Subscribe(terms=_terms()), at=AT, context=context)
    text = preview.table()
    assert "subtotal  3600\n" in text
    assert "vat 22%    792\n" in text
    assert "total     4392\n" in text
    assert "." not in text.split("lines\n", 1)[1].split("\n\n", 1)[0].replace("-", "")
    record = _quote(preview.invoice, currency="JPY")
    assert "amount_due      4392\n" in record.table()


def test_a_preview_shows_itself_in_the_context_zone() -> None:
    preview = _change(_context())
    text = preview.table()
    assert text.startswith("Preview of app: change\n")
    assert "zone             Europe/Rome\n" in text
    assert "plan_after       pro\n" in text
    assert "credit  app      basic" in text
    assert "2026-01-15 09:00+01:00" in text
    assert "credits   -" in text
    frame = pandas.DataFrame(preview.rows())
    assert str(frame["period_start"].dt.tz) == "Europe/Rome"
    assert list(frame["amount"]) == [line.amount.amount for line in preview.lines]
    assert repr(preview).startswith("Preview(total=Money(")


def test_a_priced_invoice_shows_itself() -> None:
    invoice = quote(None, Subscribe(terms=_terms()), at=AT, context=_context()).invoice
    assert invoice is not None
    text = invoice.table()
    assert text.startswith("Invoice (not numbered)\n")
    assert "issued_at  2026-01-05 08:00+00:00\n" in text
    assert "total     36.60\n" in text
    assert len(invoice.rows()) == 1


def test_an_issued_invoice_shows_its_parties_escaped() -> None:
    address = Address(line1="Via Po 2", city="Torino", postal_code="10123", country="IT")
    seller = Seller(name="Vendor <S.r.l.>", address=address)
    account = Account(
        id="acct_1",
        name=SCRIPT,
        address=address,
        timezone="Europe/Rome",
        locale="it_IT",
        currency="EUR",
        billing_contacts=("anna",),
    )
    invoice = quote(None, Subscribe(terms=_terms()), at=AT, context=_context()).invoice
    assert invoice is not None
    (document,) = issued_documents(
        [Draft(account=account, invoice=invoice)],
        seller=seller,
        first=7,
        issued_at=AT,
        new_id=lambda: "inv_1",
    )
    text = document.table(zone="Europe/Rome")
    assert text.startswith("Invoice INV-000007\n")
    assert f"customer   {SCRIPT}\n" in text
    assert "issued_at  2026-01-05 09:00+01:00\n" in text
    assert "amount_due      36.60\n" in text
    page = document._repr_html_()
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "Vendor &lt;S.r.l.&gt;" in page
    frame = pandas.DataFrame(document.rows())
    assert list(frame["amount"]) == [Decimal("30.00")]


def test_a_scenario_result_is_still_the_dict_json_takes() -> None:
    doc = {
        "format": 1,
        "currency": "EUR",
        "timezone": "Europe/Rome",
        "customer": {"country": "IT"},
        "seller": {"country": "IT"},
        "catalog": {
            "products": [
                {
                    "id": "app",
                    "name": SCRIPT,
                    "plans": [
                        {
                            "id": "basic",
                            "name": "Basic",
                            "rank": 1,
                            "prices": {"monthly": "10.00"},
                        }
                    ],
                }
            ]
        },
        "events": [
            {
                "at": "2026-01-05",
                "action": "subscribe",
                "product": "app",
                "plan": "basic",
                "seats": 2,
                "frequency": "monthly",
            },
            {"at": "2026-01-06", "action": "change", "product": "app", "plan": "gold"},
        ],
        "until": "2026-03-10",
    }
    result = run(doc)
    assert isinstance(result, dict)
    assert isinstance(result, ScenarioResult)
    assert json.loads(json.dumps(result)) == dict(result)
    assert (result.currency, result.timezone) == ("EUR", "Europe/Rome")
    frame = pandas.DataFrame(result.rows())
    assert list(frame["invoice"]) == [1, 2, 3]
    assert list(frame["amount"]) == [Decimal("20.00")] * 3
    assert str(frame["issued_at"].dt.tz) == "Europe/Rome"
    text = result.table()
    assert "invoiced        73.20\n" in text
    assert "credit_balance   0.00\n" in text
    assert "refused\nevent  error" in text
    page = result._repr_html_()
    assert "&#x27;gold&#x27;" in page
    assert "<script>" not in page
