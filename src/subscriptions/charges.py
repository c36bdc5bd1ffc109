"""The lines a subscription's transitions invoice: the charge for a period (whole, or
prorated from an instant), and the invoice those lines make in the billing context."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from .periods import Period, anchored_start
from .pricing import Invoice, InvoiceLine, InvoiceReason, LineKind, invoice_from_lines
from .proration import prorate_ratio, ratio
from .subscription import BillingContext, Terms
from .vat import TaxDecision

# -- lines ---------------------------------------------------------------------------


__all__ = []

# Members read on the renewal's path, bound once (see Choice).
_CHARGE = LineKind.CHARGE


def charge_line(
    sub_id: str,
    terms: Terms,
    unit_price: Decimal,
    span: Period,
    listed: Decimal,
    tax: TaxDecision | None,
) -> InvoiceLine:
    return InvoiceLine(
        kind=_CHARGE,
        subscription_id=sub_id,
        product=terms.product,
        plan=terms.plan,
        frequency=terms.frequency,
        seats=terms.seats,
        unit_price=unit_price,
        period=span,
        listed=listed,
        amount=listed,
        tax=tax,
    )


def full_charge(
    sub_id: str, terms: Terms, span: Period, at: datetime, ctx: BillingContext
) -> InvoiceLine:
    price = ctx.unit_price(terms)
    return charge_line(sub_id, terms, price, span, price * terms.seats, ctx.tax_at(at))


def partial_charge(
    sub_id: str,
    terms: Terms,
    start: datetime,
    whole: Period,
    at: datetime,
    ctx: BillingContext,
) -> InvoiceLine:
    """The charge for ``[start, whole.end)`` of the full period ``whole``, rounded once."""
    price = ctx.unit_price(terms)
    proration = ctx.policy.proration
    end = whole.end
    num, den = ratio(
        start, end, whole.start, end, tz=ctx.tz, policy=proration, months=terms.frequency.months
    )
    listed = prorate_ratio(price * terms.seats, num, den, ctx.currency, proration.rounding)
    span = whole if start == whole.start else Period.between(start, end)
    return charge_line(sub_id, terms, price, span, listed, ctx.tax_at(at))


def line_is_whole(line: InvoiceLine, ctx: BillingContext) -> bool:
    """Whether a charge line spans exactly one period of its frequency."""
    end = anchored_start(line.period.start, 1, line.frequency, ctx.tz)
    if end == line.period.end:
        return True
    # Month-end anchors: a line from Feb 28 to Mar 31 is a whole month of an anchor on
    # the 31st; compare against the period that ends where the line ends.
    return anchored_start(line.period.end, -1, line.frequency, ctx.tz) == line.period.start


def invoice_of(
    lines: Sequence[InvoiceLine], at: datetime, reason: InvoiceReason, ctx: BillingContext
) -> Invoice | None:
    if not lines:
        return None
    return invoice_from_lines(
        lines,
        currency=ctx.currency,
        issued_at=at,
        reason=reason,
        prices_include_tax=ctx.policy.prices_include_tax,
        tax_rounding=ctx.policy.tax_rounding,
        rounding=ctx.policy.proration.rounding,
    )
