"""Money: minor units, refusing floats, named rounding, exact allocation."""

from __future__ import annotations

import decimal
from decimal import Decimal
from fractions import Fraction

import pytest
from moneyed import Money

from subscriptions.errors import (
    CurrencyMismatch,
    FloatRefused,
    InvalidInput,
    SubscriptionsError,
    UnknownCurrency,
)
from subscriptions.money import (
    Rounding,
    allocate,
    check_currency,
    format_amount,
    format_money,
    from_money,
    minor_digits,
    money_currency,
    quantum,
    round_amount,
    round_fraction,
    split_evenly,
    to_decimal,
    to_money,
)
from subscriptions.proration import prorate

D = Decimal


def exact(values: tuple[Decimal, ...]) -> list[tuple[str, int]]:
    """Value and exponent of each Decimal: ``Decimal('1.0') == Decimal('1.00')``."""
    return [(str(v), v.as_tuple().exponent) for v in values]  # type: ignore[misc]


# --- currencies ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "digits", "unit"),
    [("EUR", 2, "0.01"), ("USD", 2, "0.01"), ("JPY", 0, "1"), ("BHD", 3, "0.001")],
)
def test_minor_digits_and_quantum(currency: str, digits: int, unit: str) -> None:
    assert minor_digits(currency) == digits
    assert str(quantum(currency)) == str(D(unit))


@pytest.mark.parametrize("code", ["EUR", "eur", "Eur", " eur "])
def test_currency_codes_are_read_in_any_case(code: str) -> None:
    assert check_currency(code) == "EUR"


@pytest.mark.parametrize("code", ["ZZZ", "zzz", "EURO", "", " ", None, 978, ["EUR"]])
def test_unknown_currency_is_refused(code: object) -> None:
    with pytest.raises(UnknownCurrency) as info:
        check_currency(code)
    assert isinstance(info.value, ValueError)
    assert "ISO 4217" in str(info.value)


@pytest.mark.parametrize(
    "call",
    [
        lambda: minor_digits("ZZZ"),
        lambda: round_amount(D("1.00"), "ZZZ"),
        lambda: round_fraction(Fraction(1, 3), "ZZZ"),
        lambda: allocate(D("1.00"), [1, 1], "ZZZ"),
        lambda: to_money(D("1.00"), "ZZZ"),
        lambda: minor_digits(["EUR"]),
        lambda: round_amount(D("1.00"), ["EUR"]),
        lambda: to_money(D("1.00"), ["EUR"]),
    ],
    ids=[
        "minor_digits",
        "round_amount",
        "round_fraction",
        "allocate",
        "to_money",
        "minor_digits_unhashable",
        "round_amount_unhashable",
        "to_money_unhashable",
    ],
)
def test_every_entry_point_refuses_an_unknown_currency(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UnknownCurrency):
        call()


# --- to_decimal ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (D("249.95"), "249.95"),
        (7, "7"),
        (-3, "-3"),
        ("249.95", "249.95"),
        ("  12.50 ", "12.50"),
        ("-0.125", "-0.125"),
        ("1E+3", "1E+3"),
    ],
)
def test_to_decimal_accepts_exact_values(value: object, expected: str) -> None:
    result = to_decimal(value)
    assert isinstance(result, Decimal)
    assert str(result) == expected


def test_float_is_refused_with_a_message_naming_the_fix() -> None:
    with pytest.raises(FloatRefused) as info:
        to_decimal(0.1, what="price")
    error = info.value
    assert isinstance(error, TypeError)
    assert isinstance(error, ValueError)
    assert isinstance(error, InvalidInput)
    assert isinstance(error, SubscriptionsError)
    assert error.value == 0.1
    message = str(error)
    assert message.startswith("price 0.1 is a float")
    assert "decimal.Decimal" in message
    assert "'0.1'" in message


@pytest.mark.parametrize("value", [0.0, 1.0, -2.5, 1e300])
def test_every_float_is_refused_even_a_whole_one(value: float) -> None:
    with pytest.raises(FloatRefused):
        to_decimal(value)


@pytest.mark.parametrize(
    "call",
    [
        lambda: to_decimal(0.1),
        lambda: allocate(0.1, [1, 1], "EUR"),  # type: ignore[arg-type]
        lambda: allocate(D("1.00"), [0.5, 0.5], "EUR"),  # type: ignore[list-item]
        lambda: split_evenly(0.1, 2, "EUR"),  # type: ignore[arg-type]
        lambda: to_money(0.1, "EUR"),  # type: ignore[arg-type]
        lambda: round_amount(0.1, "EUR"),  # type: ignore[arg-type]
        lambda: format_amount(0.1, "EUR"),  # type: ignore[arg-type]
        lambda: format_money(0.1, "EUR", "it_IT"),  # type: ignore[arg-type]
        lambda: prorate(0.1, Fraction(1, 2), "EUR"),  # type: ignore[arg-type]
    ],
    ids=[
        "to_decimal",
        "allocate-amount",
        "allocate-ratio",
        "split_evenly",
        "to_money",
        "round_amount",
        "format_amount",
        "format_money",
        "prorate",
    ],
)
def test_floats_are_refused_everywhere(call) -> None:  # type: ignore[no-untyped-def]
    """DESIGN.md: "a float anywhere is a TypeError" (FloatRefused, not an accident)."""
    with pytest.raises(FloatRefused):
        call()


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        "NaN",
        "nan",
        "sNaN",
        "Infinity",
        "-Infinity",
        "inf",
        D("NaN"),
        D("Infinity"),
        D("-Infinity"),
        "",
        "   ",
        "12,50",
        "1.2.3",
        "€12",
        "twelve",
        None,
        [1],
        Fraction(1, 2),
        b"12",
    ],
)
def test_non_amounts_are_refused(value: object) -> None:
    with pytest.raises(InvalidInput) as info:
        to_decimal(value)
    assert not isinstance(info.value, FloatRefused)
    assert repr(value) in str(info.value) or "not" in str(info.value)


def test_boolean_is_refused_by_name() -> None:
    with pytest.raises(InvalidInput, match="boolean"):
        to_decimal(True)


def test_garbage_string_message_shows_the_expected_form() -> None:
    with pytest.raises(InvalidInput, match=r"'12,50' is not a number; write it like '249\.95'"):
        to_decimal("12,50")


def test_garbage_string_is_refused_even_without_the_invalid_operation_trap() -> None:
    with decimal.localcontext() as ctx:
        ctx.traps[decimal.InvalidOperation] = False
        with pytest.raises(InvalidInput):
            to_decimal("garbage")


# --- round_amount --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "half_up", "half_even"),
    [
        ("0.125", "EUR", "0.13", "0.12"),
        ("-0.125", "EUR", "-0.13", "-0.12"),
        ("0.135", "EUR", "0.14", "0.14"),
        ("-0.135", "EUR", "-0.14", "-0.14"),
        ("0.124999", "EUR", "0.12", "0.12"),
        ("0.125001", "EUR", "0.13", "0.13"),
        ("2.5", "JPY", "3", "2"),
        ("-2.5", "JPY", "-3", "-2"),
        ("3.5", "JPY", "4", "4"),
        ("0.0005", "BHD", "0.001", "0.000"),
        ("-1.2345", "BHD", "-1.235", "-1.234"),
        ("7", "EUR", "7.00", "7.00"),
        ("1E+3", "JPY", "1000", "1000"),
    ],
)
def test_round_amount_modes(amount: str, currency: str, half_up: str, half_even: str) -> None:
    assert str(round_amount(D(amount), currency)) == half_up
    assert str(round_amount(D(amount), currency, Rounding.HALF_UP)) == half_up
    assert str(round_amount(D(amount), currency, Rounding.HALF_EVEN)) == half_even


@pytest.mark.parametrize("amount", ["-0.001", "-0.004", "-0.0049999"])
def test_negative_amount_rounding_to_zero_is_not_negative_zero(amount: str) -> None:
    result = round_amount(D(amount), "EUR")
    assert str(result) == "0.00"
    assert not result.is_signed()


def test_round_amount_of_a_huge_amount_is_exact() -> None:
    huge = D("123456789012345678901234567890.125")
    assert str(round_amount(huge, "EUR")) == "123456789012345678901234567890.13"


# --- round_fraction ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "currency", "half_up", "half_even"),
    [
        (Fraction(1, 8), "EUR", "0.13", "0.12"),
        (Fraction(-1, 8), "EUR", "-0.13", "-0.12"),
        (Fraction(5, 2), "JPY", "3", "2"),
        (Fraction(-5, 2), "JPY", "-3", "-2"),
        (Fraction(7, 2), "JPY", "4", "4"),
        (Fraction(1, 2000), "BHD", "0.001", "0.000"),
        (Fraction(1, 3), "EUR", "0.33", "0.33"),
        (Fraction(2, 3), "EUR", "0.67", "0.67"),
        (Fraction(-2, 3), "EUR", "-0.67", "-0.67"),
        (Fraction(0), "EUR", "0.00", "0.00"),
        (Fraction(-1, 1000), "EUR", "0.00", "0.00"),
        (Fraction(150) * Fraction(20, 28), "EUR", "107.14", "107.14"),
    ],
)
def test_round_fraction_modes(value: Fraction, currency: str, half_up: str, half_even: str) -> None:
    assert str(round_fraction(value, currency)) == half_up
    assert str(round_fraction(value, currency, Rounding.HALF_EVEN)) == half_even


CONTEXT_28 = decimal.Context(prec=28)


def test_round_fraction_sees_a_tie_that_a_decimal_expansion_misses() -> None:
    # 0.005 x (1/3) x 3 is exactly 0.005, a tie: half-up gives 0.01. Through a 28-digit
    # expansion of 1/3 it is 0.004999...98, which rounds to 0.00.
    value = Fraction(D("0.005")) * Fraction(1, 3) * 3
    naive = CONTEXT_28.multiply(
        CONTEXT_28.multiply(D("0.005"), CONTEXT_28.divide(D(1), D(3))), D(3)
    )
    assert naive < D("0.005")
    assert round_fraction(value, "EUR") == D("0.01")
    assert round_fraction(-value, "EUR") == D("-0.01")
    assert round_fraction(value, "EUR", Rounding.HALF_EVEN) == D("0.00")


def test_round_fraction_sees_a_prorated_tie() -> None:
    # 1.62 x 7/12 is exactly 0.945; 7/12 expanded to 28 digits makes it 0.94499...9.
    value = Fraction(D("1.62")) * Fraction(7, 12)
    assert CONTEXT_28.multiply(D("1.62"), CONTEXT_28.divide(D(7), D(12))) < D("0.945")
    assert round_fraction(value, "EUR") == D("0.95")
    assert round_fraction(value, "EUR", Rounding.HALF_EVEN) == D("0.94")
    assert prorate(D("1.62"), Fraction(7, 12), "EUR") == D("0.95")


def test_round_fraction_sees_a_value_just_below_a_tie() -> None:
    # 0.004999...9 (27 nines) + 5e-31 is below 0.005; 28 digits round the sum up to
    # 0.005000...0, which would then round to 0.01.
    just_below = Fraction(D("0.004999999999999999999999999999")) + Fraction(5, 10**31)
    assert just_below < Fraction(1, 200)
    assert CONTEXT_28.add(D("0.004999999999999999999999999999"), D("5E-31")) == D("0.005")
    assert round_fraction(just_below, "EUR") == D("0.00")
    assert round_fraction(-just_below, "EUR") == D("0.00")
    assert round_fraction(Fraction(1, 200) - Fraction(1, 10**40), "EUR") == D("0.00")
    just_above = Fraction(1, 200) + Fraction(1, 10**40)
    assert round_fraction(just_above, "EUR", Rounding.HALF_EVEN) == D("0.01")


def test_round_fraction_of_a_huge_value_is_exact() -> None:
    value = Fraction(10**30 + 1, 8)  # 125000000000000000000000000000.125
    assert str(round_fraction(value, "EUR")) == "125000000000000000000000000000.13"


# --- the ambient decimal context is never used --------------------------------------


def _money_results() -> list[object]:
    return [
        round_amount(D("1234.565"), "EUR"),
        round_amount(D("-98765.4325"), "BHD", Rounding.HALF_EVEN),
        round_fraction(Fraction(123456789, 1000), "EUR"),
        round_fraction(Fraction(150) * Fraction(20, 28), "EUR"),
        round_fraction(Fraction(-98765, 2), "JPY"),
        allocate(D("100.00"), [1, 1, 1], "EUR"),
        allocate(D("1234.56"), [1, 1], "EUR"),
        allocate(D("1000.00"), [D(1), D("0.0001")], "EUR"),
        allocate(D("98765"), [D("1.2345"), D("2.3456"), D("3.4567")], "JPY"),
        split_evenly(D("12345.678"), 4, "BHD"),
        format_amount(D("1234.5"), "EUR"),
    ]


def test_results_do_not_depend_on_the_callers_decimal_context() -> None:
    expected = _money_results()
    with decimal.localcontext() as ctx:
        ctx.prec = 3
        ctx.rounding = decimal.ROUND_DOWN
        got = _money_results()
    assert [str(g) for g in got] == [str(e) for e in expected]


def test_expected_values_in_the_default_context() -> None:
    results = _money_results()
    assert str(results[0]) == "1234.57"
    assert str(results[2]) == "123456.79"
    assert results[6] == (D("617.28"), D("617.28"))
    assert results[7] == (D("999.90"), D("0.10"))


# --- allocate ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "ratios", "currency", "expected"),
    [
        ("100.00", [1, 1, 1], "EUR", ("33.34", "33.33", "33.33")),
        ("10.00", [D("0.7"), D("0.3")], "EUR", ("7.00", "3.00")),
        ("0.05", [1, 1], "EUR", ("0.03", "0.02")),
        ("0.01", [1, 1, 1], "EUR", ("0.01", "0.00", "0.00")),
        ("100", [1, 1, 1], "JPY", ("34", "33", "33")),
        ("10", [3, 7], "JPY", ("3", "7")),
        ("1.000", [1, 2], "BHD", ("0.333", "0.667")),
        ("100.00", [0, 1], "EUR", ("0.00", "100.00")),
        ("100.00", [1, 2, 1], "EUR", ("25.00", "50.00", "25.00")),
        ("1.00", [1, 1, 1, 1, 1, 1], "EUR", ("0.17", "0.17", "0.17", "0.17", "0.16", "0.16")),
        ("0.00", [1, 1], "EUR", ("0.00", "0.00")),
        ("100", [1, 1], "EUR", ("50.00", "50.00")),
        ("100.00", [5], "EUR", ("100.00",)),
    ],
)
def test_allocate(amount: str, ratios: list[Decimal | int], currency: str, expected: tuple) -> None:  # type: ignore[type-arg]
    parts = allocate(D(amount), ratios, currency)
    assert exact(parts) == exact(tuple(D(e) for e in expected))
    assert sum(parts) == D(amount)


def test_allocate_largest_remainder_not_first_part() -> None:
    # 1.00 in 0.15/0.15/0.70 -> exact 0.15, 0.15, 0.70: no leftovers at all.
    assert allocate(D("1.00"), [D("0.15"), D("0.15"), D("0.7")], "EUR") == (
        D("0.15"),
        D("0.15"),
        D("0.70"),
    )
    # 0.10 in 1:2:7 with weights giving remainders .3, .6, .1 -> the .6 part gets the unit.
    assert allocate(D("0.10"), [D("0.13"), D("0.26"), D("0.61")], "EUR") == (
        D("0.01"),
        D("0.03"),
        D("0.06"),
    )


@pytest.mark.parametrize(
    ("amount", "ratios", "currency"),
    [
        ("100.00", [1, 1, 1], "EUR"),
        ("0.05", [1, 1], "EUR"),
        ("0.01", [1, 1, 1], "EUR"),
        ("100", [1, 1, 1], "JPY"),
        ("1.000", [1, 2], "BHD"),
        ("987.65", [D("0.3"), D("0.3"), D("0.4"), 2], "EUR"),
    ],
)
def test_allocate_negative_amount_mirrors_positive(
    amount: str, ratios: list[Decimal | int], currency: str
) -> None:
    positive = allocate(D(amount), ratios, currency)
    negative = allocate(-D(amount), ratios, currency)
    assert negative == tuple(-p for p in positive)
    assert sum(negative) == -D(amount)


@pytest.mark.parametrize(
    ("ratios", "match"),
    [
        ([], "no parts"),
        ([0, 0], "zero"),
        ([D(0)], "zero"),
        ([1, -1], "negative"),
        ([D("-0.5"), 2], "negative"),
    ],
)
def test_allocate_refuses_bad_ratios(ratios: list[Decimal | int], match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        allocate(D("10.00"), ratios, "EUR")


@pytest.mark.parametrize("ratio", [True, "NaN", D("Infinity"), None])
def test_allocate_refuses_non_numeric_ratios(ratio: object) -> None:
    with pytest.raises(InvalidInput):
        allocate(D("10.00"), [1, ratio], "EUR")  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("1.005", "EUR"), ("0.001", "EUR"), ("1.5", "JPY"), ("0.0001", "BHD"), ("-1.005", "EUR")],
)
def test_allocate_refuses_amounts_below_the_minor_unit(amount: str, currency: str) -> None:
    with pytest.raises(InvalidInput, match="minor unit"):
        allocate(D(amount), [1, 1], currency)


# --- split_evenly --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "parts", "currency", "expected"),
    [
        ("10", 3, "JPY", ("4", "3", "3")),
        ("10.00", 3, "EUR", ("3.34", "3.33", "3.33")),
        ("0.02", 3, "EUR", ("0.01", "0.01", "0.00")),
        ("-0.02", 3, "EUR", ("-0.01", "-0.01", "0.00")),
        ("1.000", 3, "BHD", ("0.334", "0.333", "0.333")),
        ("5.00", 1, "EUR", ("5.00",)),
    ],
)
def test_split_evenly(amount: str, parts: int, currency: str, expected: tuple) -> None:  # type: ignore[type-arg]
    result = split_evenly(D(amount), parts, currency)
    assert exact(result) == exact(tuple(D(e) for e in expected))
    assert sum(result) == D(amount)
    assert max(result) - min(result) <= quantum(currency)


@pytest.mark.parametrize("parts", [0, -1, True, 1.5, "3", None])
def test_split_evenly_refuses_bad_part_counts(parts: object) -> None:
    with pytest.raises(InvalidInput, match="parts"):
        split_evenly(D("10.00"), parts, "EUR")  # type: ignore[arg-type]


# --- Money at the edge ---------------------------------------------------------------


def test_to_money_and_back() -> None:
    money = to_money(D("249.95"), "EUR")
    assert isinstance(money, Money)
    assert money.amount == D("249.95")
    assert money.currency.code == "EUR"
    assert from_money(money) == D("249.95")
    assert from_money(money, currency="EUR") == D("249.95")
    assert from_money(to_money(D("1200"), "JPY"), currency="JPY") == D("1200")


def test_currencies_newer_than_py_moneyeds_list_are_money_too() -> None:
    # XCG (Caribbean guilder, 2025) is in Babel's data but not in py-moneyed's list.
    money = to_money(D("12.50"), "XCG")
    assert isinstance(money, Money)
    assert money.currency.code == "XCG"
    assert from_money(money, currency="XCG") == D("12.50")
    assert money_currency("EUR") is money_currency("EUR")
    assert money_currency("EUR").code == "EUR"
    for bad in ("XYZ", ["EUR"], None):
        with pytest.raises(UnknownCurrency):
            money_currency(bad)  # type: ignore[arg-type]
        with pytest.raises(UnknownCurrency):
            to_money(D("1.00"), bad)  # type: ignore[arg-type]


def test_from_money_with_another_currency_is_a_mismatch() -> None:
    with pytest.raises(CurrencyMismatch) as info:
        from_money(to_money(D("10.00"), "EUR"), currency="USD")
    assert info.value.left == "EUR"
    assert info.value.right == "USD"
    assert isinstance(info.value, ValueError)
    assert "EUR" in str(info.value)
    assert "USD" in str(info.value)


@pytest.mark.parametrize("value", [D("10.00"), "10.00 EUR", 10, None])
def test_from_money_refuses_non_money(value: object) -> None:
    with pytest.raises(InvalidInput, match=r"not a moneyed\.Money"):
        from_money(value)  # type: ignore[arg-type]


# --- formatting ----------------------------------------------------------------------


def test_format_money_italian() -> None:
    assert format_money(D("1234.56"), "EUR", "it_IT") == "1.234,56\xa0€"


def test_format_money_english_and_yen() -> None:
    assert format_money(D("1234.56"), "EUR", "en_US") == "€1,234.56"
    assert format_money(D("1234"), "JPY", "ja_JP") == "￥1,234"


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("249.9", "EUR", "249.90"),
        ("1200", "JPY", "1200"),
        ("1E+3", "JPY", "1000"),
        ("1.5", "BHD", "1.500"),
        ("-0.001", "EUR", "0.00"),
        ("0.125", "EUR", "0.13"),
        ("-0.125", "EUR", "-0.13"),
    ],
)
def test_format_amount_has_exactly_the_minor_digits(
    amount: str, currency: str, expected: str
) -> None:
    assert format_amount(D(amount), currency) == expected
