"""A quote's line: named, read-only fields; amounts as Money."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from moneyed import Money

from subscriptions.changes import PreviewLine
from subscriptions.money import money_currency
from subscriptions.periods import Frequency, Period
from subscriptions.pricing import LineKind

START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2026, 2, 1, tzinfo=UTC)


def test_a_preview_line_reads_by_name_and_cannot_be_changed() -> None:
    line = PreviewLine(
        LineKind.CHARGE,
        "app",
        "basic",
        3,
        Frequency.MONTHLY,
        Decimal("10.00"),
        START,
        END,
        Decimal("30.00"),
        money_currency("EUR"),
    )
    assert (line.kind, line.product, line.plan, line.seats) == (LineKind.CHARGE, "app", "basic", 3)
    assert line.frequency is Frequency.MONTHLY
    assert line.unit_price == Money("10.00", "EUR")
    assert line.amount == Money("30.00", "EUR")
    assert line.exact_amount == Decimal("30.00")
    assert line.period == Period.between(START, END)
    assert (line.currency, line.tax, line.credited) == ("EUR", None, None)
    with pytest.raises(AttributeError):
        line.seats = 4  # type: ignore[misc]
    with pytest.raises(AttributeError):
        line.anything = 1  # type: ignore[attr-defined]
