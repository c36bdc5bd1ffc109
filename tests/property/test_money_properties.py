"""Allocation never loses or creates a minor unit."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from subscriptions.money import (
    Rounding,
    allocate,
    quantum,
    round_fraction,
    round_ratio,
    split_evenly,
)
from tests.strategies import currency_amounts, ratios, to_minor


@given(currency_amounts(), ratios())
def test_allocation_conserves_every_minor_unit(
    currency_amount: tuple[str, Decimal], weights: list[Decimal | int]
) -> None:
    currency, amount = currency_amount
    parts = allocate(amount, weights, currency)
    assert len(parts) == len(weights)
    assert sum(parts, Decimal(0)) == amount
    unit = Fraction(quantum(currency))
    total_weight = sum((Fraction(w) for w in weights), Fraction(0))
    for part, weight in zip(parts, weights, strict=True):
        to_minor(part, currency)  # every part sits on the minor unit
        share = Fraction(amount) * Fraction(weight) / total_weight
        assert abs(Fraction(part) - share) < unit
        if weight == 0:
            assert part == 0
        # A part never has the opposite sign of the amount.
        assert part * amount >= 0


@given(currency_amounts(), ratios())
def test_allocation_of_a_negative_amount_mirrors_the_positive(
    currency_amount: tuple[str, Decimal], weights: list[Decimal | int]
) -> None:
    currency, amount = currency_amount
    assert allocate(-amount, weights, currency) == tuple(
        -p for p in allocate(amount, weights, currency)
    )


@given(currency_amounts(), st.integers(1, 50))
def test_split_evenly_parts_differ_by_at_most_one_unit(
    currency_amount: tuple[str, Decimal], parts: int
) -> None:
    currency, amount = currency_amount
    shares = split_evenly(amount, parts, currency)
    assert len(shares) == parts
    assert sum(shares, Decimal(0)) == amount
    assert max(shares) - min(shares) <= quantum(currency)


@given(
    st.sampled_from(["EUR", "JPY", "BHD"]),
    st.integers(-(10**12), 10**12),
    st.integers(1, 10**6),
    st.sampled_from(list(Rounding)),
)
def test_round_fraction_is_within_half_a_unit(
    currency: str, numerator: int, denominator: int, mode: Rounding
) -> None:
    value = Fraction(numerator, denominator)
    rounded = round_fraction(value, currency, mode)
    unit = Fraction(quantum(currency))
    error = Fraction(rounded) - value
    assert abs(error) <= unit / 2
    to_minor(rounded, currency)
    # Rounding is symmetric around zero in both modes.
    assert round_fraction(-value, currency, mode) == -rounded


def _reference_round(value: Fraction, mode: Rounding) -> int:
    """``value`` rounded to an integer, ties per ``mode``, the plain way: the floor of
    the magnitude, then up past half (or at half, away from zero or to even)."""
    magnitude = abs(value)
    floor = magnitude.numerator // magnitude.denominator
    rest = magnitude - floor
    if rest > Fraction(1, 2) or (
        rest == Fraction(1, 2) and (mode is Rounding.HALF_UP or floor % 2 == 1)
    ):
        floor += 1
    return -floor if value < 0 else floor


@given(
    st.one_of(st.integers(-(10**6), 10**6), st.integers(-(10**40), 10**40)),
    st.one_of(st.integers(1, 10**3), st.integers(1, 10**20)).flatmap(
        lambda d: st.sampled_from([d, -d])
    ),
    st.sampled_from(list(Rounding)),
)
def test_round_ratio_is_the_exact_rounding_of_the_fraction(
    numerator: int, denominator: int, mode: Rounding
) -> None:
    expected = _reference_round(Fraction(numerator, denominator), mode)
    assert round_ratio(numerator, denominator, mode) == expected
    # Ties, by construction: an odd multiple of half the denominator.
    tie = (2 * numerator + 1) * denominator
    assert round_ratio(tie, 2 * denominator, mode) == _reference_round(
        Fraction(tie, 2 * denominator), mode
    )
    # Symmetric around zero in both modes.
    assert round_ratio(-numerator, denominator, mode) == -expected
