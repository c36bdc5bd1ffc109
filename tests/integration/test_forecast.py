"""The forecast of the book: the invoices every subscription would get over the coming
months, by month and plan, per currency, net and VAT apart, under today's catalog or a
candidate, and the difference between the two; pure over the stored book."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import attrs
import pytest
from conftest import CONTACT, ITALY, ROME, book_state, buy, open_account

from subscriptions import compare_forecasts, forecast
from subscriptions.adapters.fakes import FakeGateway, ManualClock
from subscriptions.adapters.memory import InMemoryStore
from subscriptions.catalog import Catalog, Plan, Price, Product
from subscriptions.center import BillingCenter
from subscriptions.errors import InvalidInput
from subscriptions.orders import Seller

DEC_1 = datetime(2026, 12, 1, 9, 0, tzinfo=ROME)


def _dearer(catalog: Catalog) -> Catalog:
    """The catalog with Monitoring at 12.00 a month instead of 10.00."""
    products = []
    for product in catalog.products:
        if product.id == "monitoring":
            plan = product.plans[0]
            prices = [
                attrs.evolve(p, amount=Decimal("12.00")) if p.frequency.value == "monthly" else p
                for p in plan.prices
            ]
            product = attrs.evolve(product, plans=[attrs.evolve(plan, prices=prices)])
        products.append(product)
    return Catalog(products=products)


def test_a_year_of_the_book_month_by_month_under_two_catalogs(
    center: BillingCenter, clock: ManualClock, gateway: FakeGateway, catalog: Catalog
) -> None:
    rossi = open_account(center, account_id="rossi")
    buy(center, rossi.id, "monitoring", seats=3)  # 30.00 a month, 22% VAT
    bianchi = open_account(center, account_id="bianchi")
    buy(center, bianchi.id, "remote-support", frequency="annual")  # 300.00 a year
    clock.set(DEC_1)
    before, charged = book_state(center), gateway.net_charged("EUR")
    today = center.forecast(12)
    assert book_state(center) == before  # pure: nothing written, charged or sent
    assert gateway.net_charged("EUR") == charged
    monitoring = [line for line in today.lines if line.product == "monitoring"]
    # Renewed on the 1st of each month from December 2026 to November 2027.
    assert [line.month for line in monitoring] == [
        "2026-12",
        *[f"2027-{m:02d}" for m in range(1, 12)],
    ]
    assert {(line.invoices, line.net, line.vat) for line in monitoring} == {
        (1, Decimal("30.00"), Decimal("6.60"))
    }
    (annual,) = [line for line in today.lines if line.product == "remote-support"]
    assert (annual.month, annual.net, annual.vat) == (
        "2027-11",
        Decimal("300.00"),
        Decimal("66.00"),
    )
    (eur,) = today.totals.items()
    assert eur[0] == "EUR"
    assert (eur[1].invoices, eur[1].net, eur[1].vat) == (13, Decimal("660.00"), Decimal("145.20"))
    candidate = center.forecast(12, catalog=_dearer(catalog))
    change = compare_forecasts(today, candidate)
    assert {(c.product, c.net, c.vat) for c in change.lines} == {
        ("monitoring", Decimal("6.00"), Decimal("1.32"))
    }
    assert len(change.lines) == 12
    assert change.totals["EUR"].net == Decimal("72.00")
    assert change.totals["EUR"].vat == Decimal("15.84")
    assert book_state(center) == before


def test_a_candidate_that_no_longer_sells_a_plan_names_its_subscriptions(
    center: BillingCenter, clock: ManualClock, catalog: Catalog
) -> None:
    rossi = open_account(center, account_id="rossi")
    buy(center, rossi.id, "monitoring")
    buy(center, rossi.id, "remote-support")
    clock.set(DEC_1)
    without = Catalog(products=[p for p in catalog.products if p.id != "monitoring"])
    candidate = center.forecast(3, catalog=without)
    (unpriced,) = candidate.unpriced
    assert (unpriced.product, unpriced.plan) == ("monitoring", "basic")
    assert "monitoring" in unpriced.reason
    assert {line.product for line in candidate.lines} == {"remote-support"}


def test_months_are_counted_in_the_sellers_zone(
    catalog: Catalog, seller: Seller, store: InMemoryStore
) -> None:
    auckland = ZoneInfo("Pacific/Auckland")
    bought = datetime(2026, 11, 1, 9, 0, tzinfo=auckland)  # 31 October, 21:00 in Rome
    center = BillingCenter(
        catalog=catalog, seller=seller, store=store, gateway=FakeGateway(),
        clock=ManualClock(bought),
    )  # fmt: skip
    account = center.open_account(
        account_id="kiwi", name="Kiwi Ltd", address=ITALY, timezone="Pacific/Auckland",
        locale="en", currency="EUR", billing_contacts=[CONTACT], payment_method="tok_visa",
    )  # fmt: skip
    buy(center, account.id, "monitoring")
    at = datetime(2026, 11, 15, tzinfo=auckland)
    # Renewed on 1 December, 09:00 in Auckland: still 30 November in Rome; and on
    # 1 January, 09:00 there: 31 December in Rome, inside Rome's two months.
    rome = forecast(store, catalog=catalog, seller=seller, months=2, at=at)
    assert rome.zone == "Europe/Rome"
    assert [line.month for line in rome.lines] == ["2026-11", "2026-12"]
    theirs = attrs.evolve(seller, timezone="Pacific/Auckland")
    kiwi = forecast(store, catalog=catalog, seller=theirs, months=2, at=at)
    assert [line.month for line in kiwi.lines] == ["2026-12"]
    assert rome.end == datetime(2027, 1, 1, tzinfo=ZoneInfo("Europe/Rome"))
    assert kiwi.end == datetime(2027, 1, 1, tzinfo=auckland)


def test_a_forecast_refuses_what_it_cannot_do(center: BillingCenter) -> None:
    for months in (0, -1, 121, True, "12"):
        with pytest.raises(InvalidInput):
            center.forecast(months)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        center.forecast(12, catalog={"products": []})  # type: ignore[arg-type]


def test_totals_are_per_currency_and_never_summed_across(
    store: InMemoryStore, seller: Seller
) -> None:
    catalog = Catalog(products=[Product(id="app", name="App", plans=[Plan(
        id="basic", name="Basic", rank=1, prices=[
            Price(currency="EUR", frequency="monthly", amount="10.00"),
            Price(currency="USD", frequency="monthly", amount="11.00"),
        ])])])  # fmt: skip
    clock = ManualClock(DEC_1)
    center = BillingCenter(
        catalog=catalog, seller=seller, store=store, gateway=FakeGateway(), clock=clock
    )
    for currency in ("EUR", "USD"):
        account = center.open_account(
            account_id=f"acc-{currency}", name=f"Customer {currency}",
            address=ITALY, timezone="Europe/Rome",
            locale="en", currency=currency, billing_contacts=[CONTACT],
            payment_method="tok_visa",
        )  # fmt: skip
        center.subscribe_now(account.id, CONTACT, "app")
        quote = center.quote(account.id, CONTACT)
        center.place_order(account.id, CONTACT, quote.id, idempotency_key=currency)
    result = center.forecast(2)
    assert sorted(result.totals) == ["EUR", "USD"]
    assert result.totals["EUR"].net == Decimal("10.00")
    assert result.totals["USD"].net == Decimal("11.00")
    rows = result.rows()
    assert {row["currency"] for row in rows} == {"EUR", "USD"}


def test_a_subscription_being_collected_is_counted_not_forecast_beyond_its_retry(
    center: BillingCenter, clock: ManualClock
) -> None:
    rossi = open_account(center, account_id="rossi")
    buy(center, rossi.id, "monitoring")
    center.update_payment_method(rossi.id, CONTACT, "tok_declined")
    clock.set(DEC_1)
    assert center.run_renewals().failed == 1
    result = center.forecast(6)
    assert result.collecting == 1
    assert result.lines == ()


def test_a_forecast_shows_itself(
    center: BillingCenter, clock: ManualClock, catalog: Catalog
) -> None:
    rossi = open_account(center, account_id="rossi")
    buy(center, rossi.id, "monitoring", seats=3)
    clock.set(DEC_1)
    today = center.forecast(2)
    text = today.table()
    assert text.startswith("Forecast from 2026-12-01 to 2027-02-01 (months in Europe/Rome)")
    assert "2026-12  monitoring  basic  EUR" in text
    assert "30.00" in text
    assert "6.60" in text
    rows = today.rows()
    assert rows[0]["net"] == Decimal("30.00")
    assert rows[0]["vat"] == Decimal("6.60")
    assert "<table" in today._repr_html_()
    change = compare_forecasts(today, center.forecast(2, catalog=_dearer(catalog), at=today.start))
    assert [row["net"] for row in change.rows()] == [Decimal("6.00"), Decimal("6.00")]
    assert "net EUR" in change.table()
