"""Invoices: VAT per rate (exclusive and inclusive prices), totals that add up, credit."""

from __future__ import annotations

import decimal
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from subscriptions.errors import InvalidInput
from subscriptions.money import Rounding
from subscriptions.periods import Frequency, Period
from subscriptions.pricing import (
    Invoice,
    InvoiceLine,
    InvoiceReason,
    LineKind,
    TaxRounding,
    apply_credit,
    build_invoice,
)
from subscriptions.vat import TaxDecision, TaxTreatment

ROME = ZoneInfo("Europe/Rome")
D = Decimal
ISSUED = datetime(2026, 2, 20, 10, tzinfo=ROME)
PERIOD = Period(datetime(2026, 2, 20, tzinfo=ROME), datetime(2026, 3, 20, tzinfo=ROME))


def standard(rate: str, country: str = "IT") -> TaxDecision:
    return TaxDecision(
        treatment=TaxTreatment.STANDARD, rate=D(rate), rate_country=country, mention=None
    )


IT_22 = standard("22")
FI_25_5 = standard("25.5", "FI")
REVERSE = TaxDecision(
    treatment=TaxTreatment.REVERSE_CHARGE,
    rate=D(0),
    rate_country="DE",
    mention="Reverse charge: VAT to be accounted for by the recipient (Art. 196)",
)
OUT_OF_SCOPE = TaxDecision(
    treatment=TaxTreatment.OUT_OF_SCOPE, rate=D(0), rate_country=None, mention=None
)


def line(
    listed: str, tax: TaxDecision | None = IT_22, *, plan: str = "standard", seats: int = 1
) -> InvoiceLine:
    amount = D(listed)
    return InvoiceLine(
        kind=LineKind.CREDIT if amount < 0 else LineKind.CHARGE,
        subscription_id="sub-1",
        product="remote-support",
        plan=plan,
        frequency=Frequency.MONTHLY,
        seats=seats,
        unit_price=abs(amount),
        period=PERIOD,
        listed=amount,
        amount=amount,
        tax=tax,
    )


def invoice(lines: list[InvoiceLine], currency: str = "EUR", **options: object) -> Invoice:
    return build_invoice(
        lines,
        currency=currency,
        issued_at=ISSUED,
        reason=InvoiceReason.CHANGE,
        **options,  # type: ignore[arg-type]
    )


def taxes(inv: Invoice) -> list[tuple[str, str, str, str]]:
    return [(str(t.rate), t.treatment.value, str(t.base), str(t.amount)) for t in inv.taxes]


def assert_adds_up(inv: Invoice) -> None:
    assert sum((x.amount for x in inv.lines), D(0)) == inv.subtotal
    assert inv.subtotal + sum((t.amount for t in inv.taxes), D(0)) == inv.total
    assert inv.tax_total == sum((t.amount for t in inv.taxes), D(0))
    assert sum((t.base for t in inv.taxes), D(0)) == (inv.subtotal if inv.taxes else 0)


# --- tax-exclusive -------------------------------------------------------------------


def test_single_line_exclusive() -> None:
    inv = invoice([line("150.00")])
    assert inv.subtotal == D("150.00")
    assert taxes(inv) == [("22", "standard", "150.00", "33.00")]
    assert inv.total == D("183.00")
    assert inv.document == "invoice"
    assert inv.credit_applied == 0
    assert inv.amount_due == D("183.00")
    assert not inv.prices_include_tax
    assert_adds_up(inv)


def test_per_invoice_and_per_line_tax_rounding_differ() -> None:
    lines = [line("10.07"), line("10.07"), line("10.07")]
    # Per invoice: 30.21 x 22% = 6.6462 -> 6.65.
    per_invoice = invoice(lines)
    assert taxes(per_invoice) == [("22", "standard", "30.21", "6.65")]
    assert per_invoice.total == D("36.86")
    # Per line: 10.07 x 22% = 2.2154 -> 2.22, three times 6.66.
    per_line = invoice(lines, tax_rounding=TaxRounding.LINE)
    assert taxes(per_line) == [("22", "standard", "30.21", "6.66")]
    assert per_line.total == D("36.87")
    assert_adds_up(per_invoice)
    assert_adds_up(per_line)


def test_default_tax_rounding_is_per_invoice() -> None:
    lines = [line("0.07"), line("0.07"), line("0.07")]
    assert invoice(lines).tax_total == D("0.05")  # 0.21 x 22% = 0.0462
    assert invoice(lines, tax_rounding=TaxRounding.LINE).tax_total == D("0.06")


def test_exclusive_tax_rounding_mode_on_a_tie() -> None:
    # 0.50 x 25% = 0.125: half-up 0.13, half-even 0.12; the credit mirrors it.
    rate_25 = standard("25")
    assert invoice([line("0.50", rate_25)]).tax_total == D("0.13")
    assert invoice([line("0.50", rate_25)], rounding=Rounding.HALF_EVEN).tax_total == D("0.12")
    assert invoice([line("-0.50", rate_25)]).tax_total == D("-0.13")
    assert invoice([line("-0.50", rate_25)], rounding=Rounding.HALF_EVEN).tax_total == D("-0.12")


def test_exclusive_jpy_and_bhd() -> None:
    inv = invoice([line("999", standard("10"))], "JPY")
    assert (inv.subtotal, inv.tax_total, inv.total) == (D("999"), D("100"), D("1099"))
    inv = invoice([line("1.005", standard("10"))], "BHD")
    assert (inv.tax_total, inv.total) == (D("0.101"), D("1.106"))  # 0.1005 -> 0.101


# --- tax-inclusive -------------------------------------------------------------------


def test_inclusive_300_gross_at_22() -> None:
    inv = invoice([line("300.00")], prices_include_tax=True)
    assert taxes(inv) == [("22", "standard", "245.90", "54.10")]
    assert inv.subtotal == D("245.90")
    assert inv.total == D("300.00")
    (only,) = inv.lines
    assert only.listed == D("300.00")
    assert only.amount == D("245.90")
    assert inv.prices_include_tax
    assert_adds_up(inv)


def test_inclusive_lines_net_amounts_add_up_exactly() -> None:
    # Each 10.00 holds 1.8032... of tax; per invoice 30.00 holds 5.4098 -> 5.41, shared
    # 1.81 / 1.80 / 1.80 by largest remainder (ties to the earlier line).
    inv = invoice([line("10.00"), line("10.00"), line("10.00")], prices_include_tax=True)
    assert [x.amount for x in inv.lines] == [D("8.19"), D("8.20"), D("8.20")]
    assert taxes(inv) == [("22", "standard", "24.59", "5.41")]
    assert inv.subtotal == D("24.59")
    assert inv.total == D("30.00")
    assert_adds_up(inv)


def test_inclusive_per_line_tax_rounding() -> None:
    inv = invoice(
        [line("10.00"), line("10.00"), line("10.00")],
        prices_include_tax=True,
        tax_rounding=TaxRounding.LINE,
    )
    assert [x.amount for x in inv.lines] == [D("8.20"), D("8.20"), D("8.20")]
    assert taxes(inv) == [("22", "standard", "24.60", "5.40")]
    assert inv.total == D("30.00")
    assert_adds_up(inv)


def test_inclusive_uneven_lines_share_the_tax_by_largest_remainder() -> None:
    gross = ["99.99", "0.01", "45.50", "0.03"]
    inv = invoice([line(g) for g in gross], prices_include_tax=True)
    # 145.53 x 22/122 = 26.2432... -> 26.24; exact shares in cents 1803.098, 0.180,
    # 820.492, 0.541: the floors add up to 26.23, and the cent left goes to the largest
    # remainder, the 0.03 line (0.541), not to the largest line.
    assert inv.tax_total == D("26.24")
    assert [x.amount for x in inv.lines] == [D("81.96"), D("0.01"), D("37.30"), D("0.02")]
    assert inv.total == D("145.53")
    assert_adds_up(inv)
    for x in inv.lines:
        assert x.listed - x.amount >= 0


def test_inclusive_charge_and_its_credit_cancel_out() -> None:
    inv = invoice([line("100.00"), line("-100.00")], prices_include_tax=True)
    assert [x.amount for x in inv.lines] == [D("81.97"), D("-81.97")]
    assert inv.tax_total == 0
    assert inv.subtotal == 0
    assert inv.total == 0
    assert inv.document == "invoice"


def test_inclusive_jpy() -> None:
    inv = invoice([line("1000", standard("10"))], "JPY", prices_include_tax=True)
    assert taxes(inv) == [("10", "standard", "909", "91")]
    assert inv.total == D("1000")


def test_inclusive_zero_rated_line_keeps_its_gross() -> None:
    inv = invoice([line("100.00", REVERSE)], prices_include_tax=True)
    assert inv.lines[0].amount == D("100.00")
    assert inv.total == D("100.00")
    assert inv.tax_total == 0


# --- rates and treatments ------------------------------------------------------------


def test_credits_and_charges_at_two_rates_group_in_first_appearance_order() -> None:
    lines = [
        line("-50.00", FI_25_5),  # a credit at the rate of the charge it reverses
        line("100.00", IT_22),
        line("-10.00", IT_22),
        line("30.00", FI_25_5),
    ]
    inv = invoice(lines)
    assert taxes(inv) == [
        ("25.5", "standard", "-20.00", "-5.10"),
        ("22", "standard", "90.00", "19.80"),
    ]
    assert inv.subtotal == D("70.00")
    assert inv.total == D("84.70")
    assert [x.amount for x in inv.lines] == [D("-50.00"), D("100.00"), D("-10.00"), D("30.00")]
    assert_adds_up(inv)
    # The other order of first appearance gives the other order of tax lines.
    swapped = invoice([lines[1], lines[0], lines[2], lines[3]])
    assert [str(t.rate) for t in swapped.taxes] == ["22", "25.5"]
    assert swapped.total == inv.total


def test_the_same_rate_given_with_another_exponent_is_one_group() -> None:
    inv = invoice([line("10.00", standard("22")), line("10.00", standard("22.0"))])
    assert len(inv.taxes) == 1
    assert inv.tax_total == D("4.40")


def test_zero_rated_treatments_are_separate_tax_lines_with_their_mentions() -> None:
    inv = invoice([line("100.00", REVERSE), line("40.00", OUT_OF_SCOPE), line("5.00", REVERSE)])
    assert taxes(inv) == [
        ("0", "reverse_charge", "105.00", "0.00"),
        ("0", "out_of_scope", "40.00", "0.00"),
    ]
    assert inv.taxes[0].mention == REVERSE.mention
    assert inv.taxes[1].mention is None
    assert inv.mentions == (REVERSE.mention,)
    assert inv.total == D("145.00")


def test_untaxed_lines() -> None:
    inv = invoice([line("30.00", None), line("-12.50", None)])
    assert inv.taxes == ()
    assert inv.subtotal == D("17.50")
    assert inv.total == inv.subtotal
    assert inv.tax_total == 0
    assert inv.mentions == ()
    inclusive = invoice([line("30.00", None)], prices_include_tax=True)
    assert inclusive.total == D("30.00")
    assert inclusive.lines[0].amount == D("30.00")


def test_mixing_taxed_and_untaxed_lines_is_refused() -> None:
    with pytest.raises(InvalidInput, match="every line of an invoice is taxed or none"):
        invoice([line("30.00", IT_22), line("10.00", None)])
    with pytest.raises(InvalidInput, match="every line of an invoice is taxed or none"):
        invoice([line("10.00", None), line("30.00", IT_22)], prices_include_tax=True)


def test_an_empty_invoice_is_refused() -> None:
    with pytest.raises(InvalidInput, match="at least one line"):
        invoice([])


# --- documents and credit ------------------------------------------------------------


def test_negative_total_is_a_credit_note() -> None:
    inv = invoice([line("-100.00"), line("20.00")])
    assert inv.total == D("-97.60")
    assert inv.document == "credit_note"
    assert inv.amount_due == 0


def test_zero_total_is_an_invoice() -> None:
    inv = invoice([line("-20.00"), line("20.00")])
    assert inv.total == 0
    assert inv.document == "invoice"


def test_apply_credit_note_adds_to_the_balance() -> None:
    note = invoice([line("-100.00")])
    settled, balance = apply_credit(note, D("5.00"))
    assert balance == D("127.00")
    assert settled.credit_applied == 0
    assert settled.amount_due == 0
    assert settled.total == note.total


@pytest.mark.parametrize(
    ("balance", "applied", "left", "due"),
    [
        ("0.00", "0.00", "0.00", "122.00"),
        ("30.00", "30.00", "0.00", "92.00"),
        ("122.00", "122.00", "0.00", "0.00"),
        ("150.00", "122.00", "28.00", "0.00"),
    ],
)
def test_apply_credit_uses_the_smaller_of_balance_and_total(
    balance: str, applied: str, left: str, due: str
) -> None:
    inv = invoice([line("100.00")])
    settled, rest = apply_credit(inv, D(balance))
    assert settled.credit_applied == D(applied)
    assert rest == D(left)
    assert settled.amount_due == D(due)
    assert settled.total == D("122.00")
    assert settled.lines == inv.lines


def test_apply_credit_on_a_zero_total() -> None:
    settled, rest = apply_credit(invoice([line("-20.00"), line("20.00")]), D("10.00"))
    assert settled.credit_applied == 0
    assert rest == D("10.00")


def test_apply_credit_refuses_a_negative_balance() -> None:
    with pytest.raises(InvalidInput, match="negative"):
        apply_credit(invoice([line("100.00")]), D("-0.01"))


# --- exactness -----------------------------------------------------------------------


BIG = [line("1234.56"), line("0.01"), line("98765.43", FI_25_5), line("-4321.09")]


def _invoices() -> list[Invoice]:
    big = BIG
    return [
        invoice(big),
        invoice(big, tax_rounding=TaxRounding.LINE),
        invoice(big, prices_include_tax=True),
        invoice(big, prices_include_tax=True, tax_rounding=TaxRounding.LINE),
    ]


def test_invoices_do_not_depend_on_the_callers_decimal_context() -> None:
    expected = _invoices()
    with decimal.localcontext() as ctx:
        ctx.prec = 3
        ctx.rounding = decimal.ROUND_DOWN
        got = _invoices()
    assert got == expected
    assert expected[0].subtotal == D("95678.91")
    assert expected[2].total == D("95678.91")
    for inv in expected:
        assert_adds_up(inv)


def test_lines_taxed_alike_share_one_decision() -> None:
    from datetime import date

    from subscriptions.pricing import Customer, TaxSetup

    setup = TaxSetup(seller_country="IT", customer=Customer(country="EE"))
    # Estonia: 22% until 2025-06-30, 24% from 2025-07-01.
    early, late = setup.decide(date(2025, 1, 10)), setup.decide(date(2025, 6, 30))
    assert early is late
    changed = setup.decide(date(2025, 7, 1))
    assert changed is not early
    assert (early.rate, changed.rate) == (Decimal("22"), Decimal("24"))
    assert setup.decide(date(2025, 12, 1)) is changed


def test_tax_setups_that_tax_alike_are_equal() -> None:
    from datetime import date

    from subscriptions.pricing import Customer, TaxSetup

    one = TaxSetup(seller_country="IT", customer=Customer(country="IT"))
    other = TaxSetup(seller_country="IT", customer=Customer(country="IT"))
    one.decide(date(2026, 1, 1))  # what one has decided is no part of its value
    assert one == other
    assert hash(one) == hash(other)
    assert one != TaxSetup(seller_country="IT", customer=Customer(country="DE"))
    assert one.decide(date(2026, 1, 1)) == other.decide(date(2026, 1, 1))


def test_tax_decisions_are_an_explicit_bounded_cache_a_caller_may_share() -> None:
    from datetime import date, timedelta

    from subscriptions.pricing import Customer, TaxDecisions, TaxSetup

    shared = TaxDecisions(limit=50)
    italian = TaxSetup(seller_country="IT", customer=Customer(country="IT"), decisions=shared)
    german = TaxSetup(seller_country="IT", customer=Customer(country="DE"), decisions=shared)
    assert italian.decisions is german.decisions is shared
    # One cache, keyed by setup: each setup still gets its own decision.
    day = date(2026, 1, 1)
    assert (italian.decide(day).rate, german.decide(day).rate) == (Decimal("22"), Decimal("19"))
    assert italian == TaxSetup(seller_country="IT", customer=Customer(country="IT"))
    for n in range(200):
        italian.decide(day + timedelta(days=n))
    assert shared._count <= shared.limit
    assert german.decide(day).rate == Decimal("19")  # refilled after forgetting
    assert "of 50" in repr(shared)


def test_a_shared_tax_decisions_cache_answers_each_setup_in_any_order() -> None:
    from datetime import date, timedelta

    from subscriptions.pricing import Customer, TaxDecisions, TaxSetup

    shared = TaxDecisions(limit=7)
    italian = TaxSetup(seller_country="IT", customer=Customer(country="IT"), decisions=shared)
    german = TaxSetup(seller_country="IT", customer=Customer(country="DE"), decisions=shared)
    # Equal to the first but another object: it shares the first one's decisions.
    also_italian = TaxSetup(seller_country="IT", customer=Customer(country="IT"), decisions=shared)
    day = date(2026, 1, 1)
    first = italian.decide(day)
    for n in range(40):  # alternating, and past the limit more than once
        on = day + timedelta(days=n % 10)
        assert italian.decide(on).rate == Decimal("22")
        assert german.decide(on).rate == Decimal("19")
        assert also_italian.decide(on).rate == Decimal("22")
        assert shared._count <= shared.limit
    assert also_italian.decide(day) is italian.decide(day)
    assert italian.decide(day) == first
