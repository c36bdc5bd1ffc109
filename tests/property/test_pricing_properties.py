"""Proration conserves money when a period is split; invoices add up exactly."""

from __future__ import annotations

from datetime import datetime, tzinfo
from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from subscriptions.money import EXACT, Rounding, quantum, round_ratio
from subscriptions.periods import Frequency, Period
from subscriptions.pricing import (
    InvoiceLine,
    InvoiceReason,
    LineKind,
    TaxRounding,
    build_invoice,
    tax_on,
)
from subscriptions.proration import Granularity, ProrationPolicy, fraction, prorate
from subscriptions.vat import TaxDecision
from tests.strategies import (
    amounts,
    anchored_periods,
    currencies,
    instants_inside,
    tax_decisions,
    to_minor,
)

DAY = ProrationPolicy()
SECOND = ProrationPolicy(granularity=Granularity.SECOND)


@st.composite
def split_periods(draw: st.DrawFn) -> tuple[Period, datetime, tzinfo, int]:
    _, frequency, tz, _, period = draw(anchored_periods())
    return period, draw(instants_inside(period, tz=tz)), tz, frequency.months


@given(split_periods())
def test_day_fractions_of_a_split_period_add_up_to_one(
    split: tuple[Period, datetime, tzinfo, int],
) -> None:
    period, at, tz, _ = split
    used = fraction(Period(period.start, at), period, tz=tz, policy=DAY)
    unused = fraction(Period(at, period.end), period, tz=tz, policy=DAY)
    assert used + unused == 1
    assert 0 <= used <= 1


@given(
    split_periods(),
    st.sampled_from([DAY, SECOND]),
    st.sampled_from(list(Rounding)),
    st.data(),
)
def test_a_split_period_prorates_into_the_full_amount(
    split: tuple[Period, datetime, tzinfo, int],
    policy: ProrationPolicy,
    rounding: Rounding,
    data: st.DataObject,
) -> None:
    period, at, tz, _ = split
    currency = data.draw(currencies)
    amount = data.draw(amounts(currency, min_minor=-(10**10), max_minor=10**10))
    used = fraction(Period(period.start, at), period, tz=tz, policy=policy)
    unused = fraction(Period(at, period.end), period, tz=tz, policy=policy)
    charge = prorate(amount, used, currency, rounding)
    credit = prorate(amount, unused, currency, rounding)
    assert abs(charge + credit - amount) <= quantum(currency)
    # Each part is the exact share rounded once.
    assert abs(Fraction(charge) - Fraction(amount) * used) <= Fraction(quantum(currency)) / 2


@st.composite
def invoice_lines(draw: st.DrawFn) -> tuple[str, list[InvoiceLine]]:
    currency = draw(currencies)
    decisions = draw(st.lists(tax_decisions(), min_size=1, max_size=3))
    period = Period(
        datetime.fromisoformat("2026-01-01T00:00:00+01:00"),
        datetime.fromisoformat("2026-02-01T00:00:00+01:00"),
    )
    lines = []
    for _ in range(draw(st.integers(1, 8))):
        listed = draw(amounts(currency, min_minor=-(10**8), max_minor=10**8))
        decision: TaxDecision = draw(st.sampled_from(decisions))
        lines.append(
            InvoiceLine(
                kind=LineKind.CREDIT if listed < 0 else LineKind.CHARGE,
                subscription_id="sub",
                product="p",
                plan="standard",
                frequency=Frequency.MONTHLY,
                seats=1,
                unit_price=abs(listed),
                period=period,
                listed=listed,
                amount=listed,
                tax=decision,
            )
        )
    return currency, lines


@given(
    invoice_lines(),
    st.booleans(),
    st.sampled_from(list(TaxRounding)),
    st.sampled_from(list(Rounding)),
)
def test_invoices_add_up_exactly(
    currency_lines: tuple[str, list[InvoiceLine]],
    inclusive: bool,
    tax_rounding: TaxRounding,
    rounding: Rounding,
) -> None:
    currency, lines = currency_lines
    invoice = build_invoice(
        lines,
        currency=currency,
        issued_at=lines[0].period.start,
        reason=InvoiceReason.CHANGE,
        prices_include_tax=inclusive,
        tax_rounding=tax_rounding,
        rounding=rounding,
    )
    gross = sum((x.listed for x in lines), Decimal(0))
    assert sum((x.amount for x in invoice.lines), Decimal(0)) == invoice.subtotal
    assert invoice.subtotal + invoice.tax_total == invoice.total
    assert sum((t.base for t in invoice.taxes), Decimal(0)) == invoice.subtotal
    for value in (invoice.subtotal, invoice.total, *(t.amount for t in invoice.taxes)):
        to_minor(value, currency)
    for original, final in zip(lines, invoice.lines, strict=True):
        assert final.listed == original.listed
        to_minor(final.amount, currency)
    if inclusive:
        # The customer pays exactly the gross: net + tax = gross, in total and per rate.
        assert invoice.total == gross
        for tax_line in invoice.taxes:
            group = [
                x
                for x in invoice.lines
                if x.tax is not None
                and (x.tax.rate, x.tax.treatment) == (tax_line.rate, tax_line.treatment)
            ]
            assert tax_line.base + tax_line.amount == sum((x.listed for x in group), Decimal(0))
            assert tax_line.base == sum((x.amount for x in group), Decimal(0))
    else:
        assert invoice.subtotal == gross
        assert [x.amount for x in invoice.lines] == [x.listed for x in lines]
        if tax_rounding is TaxRounding.INVOICE:
            unit = Fraction(quantum(currency))
            for tax_line in invoice.taxes:
                exact = Fraction(tax_line.base) * Fraction(tax_line.rate) / 100
                assert abs(Fraction(tax_line.amount) - exact) <= unit / 2


@given(
    st.integers(-(10**12), 10**12).flatmap(
        lambda n: st.integers(0, 6).map(lambda e: Decimal(n).scaleb(-e))
    ),
    st.integers(0, 10**4).flatmap(lambda n: st.integers(0, 3).map(lambda e: Decimal(n).scaleb(-e))),
    currencies,
    st.sampled_from(list(Rounding)),
)
def test_tax_on_rounds_the_exact_tax_once(
    base: Decimal, rate: Decimal, currency: str, rounding: Rounding
) -> None:
    unit = quantum(currency)
    tax = tax_on(base, rate, unit, rounding.decimal_mode)
    # The exact tax in minor units, rounded once (ties per the mode), written with the
    # minor unit's digits; a zero is never "-0.00".
    minor = Fraction(base) * Fraction(rate) / 100 / Fraction(unit)
    expected = EXACT.multiply(round_ratio(minor.numerator, minor.denominator, rounding), unit)
    assert tax.as_tuple() == expected.as_tuple()
