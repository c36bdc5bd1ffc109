"""Preview == commit: a quote's figures are exactly what applying the change bills."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Context, Decimal, localcontext

from hypothesis import given, settings
from hypothesis import strategies as st
from moneyed import Money

from subscriptions import (
    BillingContext,
    BillingPolicy,
    Catalog,
    Change,
    ChangePolicy,
    ChangeTiming,
    CreditBasis,
    Customer,
    DayCount,
    Frequency,
    Granularity,
    Plan,
    Price,
    Product,
    ProrationPolicy,
    Rounding,
    Subscribe,
    TaxRounding,
    TaxSetup,
    Terms,
    apply,
    quote,
)
from subscriptions.vat import parse_vat_number

FREQUENCIES = [Frequency.MONTHLY, Frequency.QUARTERLY, Frequency.ANNUAL]
amounts = st.integers(min_value=1, max_value=500_000).map(lambda c: Decimal(c).scaleb(-2))


def catalog(prices: list[Decimal]) -> Catalog:
    return Catalog(
        products=[
            Product(
                id="app",
                name="App",
                plans=[
                    Plan(
                        id=f"p{rank}",
                        name=f"Plan {rank}",
                        rank=rank,
                        prices=[
                            Price(currency="EUR", frequency=f, amount=price * f.months)
                            for f in FREQUENCIES
                        ],
                    )
                    for rank, price in enumerate(prices, start=1)
                ],
            )
        ]
    )


customers = st.sampled_from(
    [
        None,
        Customer(country="IT"),
        Customer(country="FR"),
        Customer(country="DE", vat_number=parse_vat_number("DE136695976")),
        Customer(country="US"),
    ]
)


@settings(max_examples=200, deadline=None)
@given(
    prices=st.lists(amounts, min_size=2, max_size=3),
    seats=st.integers(1, 40),
    new_seats=st.integers(1, 40),
    frequency=st.sampled_from(FREQUENCIES),
    new_frequency=st.sampled_from(FREQUENCIES),
    new_plan=st.integers(1, 3),
    offset=st.integers(0, 80 * 24 * 3600),
    timing=st.sampled_from(list(ChangeTiming)),
    granularity=st.sampled_from([Granularity.DAY, Granularity.SECOND]),
    day_count=st.sampled_from(list(DayCount)),
    rounding=st.sampled_from(list(Rounding)),
    credit=st.sampled_from(list(CreditBasis)),
    inclusive=st.booleans(),
    tax_rounding=st.sampled_from(list(TaxRounding)),
    customer=customers,
)
def test_a_quote_is_what_the_change_commits(
    prices: list[Decimal],
    seats: int,
    new_seats: int,
    frequency: Frequency,
    new_frequency: Frequency,
    new_plan: int,
    offset: int,
    timing: ChangeTiming,
    granularity: Granularity,
    day_count: DayCount,
    rounding: Rounding,
    credit: CreditBasis,
    inclusive: bool,
    tax_rounding: TaxRounding,
    customer: Customer | None,
) -> None:
    context = BillingContext(
        catalog=catalog(prices),
        currency="EUR",
        tz="Europe/Rome",
        policy=BillingPolicy(
            proration=ProrationPolicy(
                granularity=granularity, day_count=day_count, credit=credit, rounding=rounding
            ),
            plan_change=ChangePolicy.uniform(timing),
            prices_include_tax=inclusive,
            tax_rounding=tax_rounding,
        ),
        tax=None if customer is None else TaxSetup(seller_country="IT", customer=customer),
    )
    start = datetime(2026, 1, 31, 10, tzinfo=UTC)
    sub = apply(
        None,
        Subscribe(terms=Terms(product="app", plan="p1", seats=seats, frequency=frequency)),
        at=start,
        context=context,
    ).subscription
    assert sub.period is not None
    at = start + timedelta(seconds=offset)
    if at >= sub.period.end:
        at = sub.period.start + (sub.period.end - sub.period.start) / 2
    plan = f"p{min(new_plan, len(prices))}"
    change = Change(plan=plan, seats=new_seats, frequency=new_frequency)
    if (plan, new_seats, new_frequency) == ("p1", seats, frequency):
        return
    # The quote runs in a host's careless decimal context (3 digits, rounding down):
    # it must not matter, every sum and product names its own exact context.
    with localcontext(Context(prec=3, rounding=ROUND_FLOOR)):
        preview = quote(sub, change, at=at, context=context)
        # The figures first, read before anything is built...
        total, tax = preview.total, preview.tax
        lines = [line.amount for line in preview.lines]
        credits_total, charges_total = preview.credits, preview.charges
    committed = apply(sub, change, at=at, context=context)
    invoice = committed.invoice
    if invoice is None:
        assert total == Money(0, "EUR")
        assert lines == []
    else:
        assert total == Money(invoice.total, "EUR")
        assert tax == Money(invoice.tax_total, "EUR")
        assert preview.subtotal == Money(invoice.subtotal, "EUR")
        assert lines == [Money(line.amount, "EUR") for line in invoice.lines]
        # Every field of every line, not only the amounts.
        assert [
            (
                line.kind,
                line.product,
                line.plan,
                line.seats,
                line.frequency,
                line.unit_price,
                line.period,
                line.currency,
            )
            for line in preview.lines
        ] == [
            (
                line.kind,
                line.product,
                line.plan,
                line.seats,
                line.frequency,
                Money(line.unit_price, "EUR"),
                line.period,
                "EUR",
            )
            for line in invoice.lines
        ]
        credits = sum((line.amount for line in invoice.lines if line.amount < 0), Decimal(0))
        assert credits_total == Money(credits, "EUR")
        assert charges_total == Money(invoice.subtotal - credits, "EUR")
    # ...then the records the quote would commit.
    assert preview.outcome == committed
