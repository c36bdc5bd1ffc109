"""Quotes of a plan change: the same call as the real change, with ``Money`` at the edge,
so what a customer reviews is, to the cent, what the order charges."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, localcontext

from moneyed import Money

from .changes import ChangePlan, PreviewLine, commit_change, plan_change, plan_totals
from .display import Pairs, View, Viewable, ZoneLike, view_zone
from .money import EXACT, exact_sum
from .periods import ALWAYS_AWARE, ensure_aware
from .pricing import Invoice, LineKind, invoice_totals, lines_section
from .subscription import BILLING, Action, BillingContext, Change, Outcome, Status, Subscription
from .transitions import apply, check_in_period

__all__ = [
    "Preview",
    "quote",
]


_ZERO = Decimal(0)


_ENDED = frozenset((Status.EXPIRED, Status.CANCELED))


class Preview(Viewable):
    """What an action would bill, priced by the very call that commits it.

    Amounts are ``Money``. :attr:`outcome` is the state, invoice and events that
    committing the action produces (exactly these, if nothing changed meanwhile); it
    is built on first use, from the same priced plan the totals come from.

    It shows itself (:mod:`subscriptions.display`): ``table()``, ``rows()`` (one per
    line) and, in a notebook, an HTML table; its instants in the billing context's
    time zone unless a ``zone`` is given.
    """

    __slots__ = (
        "_context",
        "_currency",
        "_lines",
        "_outcome",
        "_plan",
        "_planned",
        "_subtotal",
        "_tax",
        "_total",
    )

    def __init__(
        self,
        context: BillingContext,
        outcome: Outcome | None = None,
        plan: ChangePlan | None = None,
    ) -> None:
        self._context = context
        self._currency = context.money_currency
        self._outcome = outcome
        self._plan = plan
        self._lines: tuple[PreviewLine, ...] | None = None
        totals = None if plan is None else plan_totals(plan, context)
        #: whether the totals are the planned change's, with no invoice to build
        self._planned = totals is not None
        self._subtotal: Decimal | None = None
        self._tax: Decimal | None = None
        self._total: Decimal | None = None
        if totals is not None:
            self._subtotal, self._tax, self._total = totals

    @property
    def currency(self) -> str:
        """The ISO 4217 code of the amounts."""
        return self._context.currency

    @property
    def outcome(self) -> Outcome:
        if self._outcome is None:
            assert self._plan is not None
            with localcontext(EXACT):
                self._outcome = commit_change(self._plan, self._context)
        return self._outcome

    @property
    def invoice(self) -> Invoice | None:
        return self.outcome.invoice

    @property
    def lines(self) -> tuple[PreviewLine, ...]:
        lines = self._lines
        if lines is None:
            lines = self._lines = self._build_lines()
        return lines

    def _build_lines(self) -> tuple[PreviewLine, ...]:
        plan = self._plan
        if plan is not None and self._planned:
            # Tax-exclusive lines: the planned lines are the invoice's.
            charge = plan.charge
            return (*plan.credits, charge) if charge is not None else tuple(plan.credits)
        invoice = self.outcome.invoice
        if invoice is None:
            return ()
        currency = self._currency
        return tuple(PreviewLine.of(line, currency) for line in invoice.lines)

    def _invoice_totals(self) -> tuple[Decimal, Decimal, Decimal]:
        """(subtotal, tax, total) of the invoice the action makes (zeros for none),
        kept for the next read."""
        invoice = self.outcome.invoice
        if invoice is None:
            totals = _ZERO, _ZERO, _ZERO
        else:
            totals = invoice.subtotal, invoice.tax_total, invoice.total
        self._subtotal, self._tax, self._total = totals
        return totals

    @property
    def subtotal(self) -> Money:
        subtotal = self._subtotal
        if subtotal is None:
            subtotal, _, _ = self._invoice_totals()
        return Money(subtotal, self._currency)

    @property
    def tax(self) -> Money:
        tax = self._tax
        if tax is None:
            _, tax, _ = self._invoice_totals()
        return Money(tax, self._currency)

    @property
    def total(self) -> Money:
        total = self._total
        if total is None:
            _, _, total = self._invoice_totals()
        return Money(total, self._currency)

    @property
    def credits(self) -> Money:
        """The sum of the credit lines (zero or negative)."""
        return Money(self._sum(LineKind.CREDIT), self._currency)

    @property
    def charges(self) -> Money:
        """The sum of the charge lines."""
        return Money(self._sum(LineKind.CHARGE), self._currency)

    def _sum(self, kind: LineKind) -> Decimal:
        return exact_sum(line.exact_amount for line in self.lines if line.kind is kind)

    def view(self, *, zone: ZoneLike = None) -> View:
        """The preview as a :class:`~subscriptions.display.View`: the lines the action
        would invoice, the charges and credits among them, and the invoice's totals;
        its facts say how the action leaves the subscription (``plan_after``...)."""
        where = view_zone(zone, self._context.tz)
        invoice, currency = self.invoice, self.currency
        totals: Pairs = (("charges", self.charges), ("credits", self.credits))
        if invoice is None:
            totals += (("subtotal", self.subtotal), ("tax", self.tax), ("total", self.total))
        else:
            totals += invoice_totals(
                subtotal=invoice.subtotal, taxes=invoice.taxes, total=invoice.total,
                currency=currency,
            )  # fmt: skip
        outcome = self.outcome
        subscription = outcome.subscription
        return View(
            title=f"Preview of {subscription.product}"
            + ("" if invoice is None else f": {invoice.reason.value}"),
            facts=(
                ("subscription", subscription.id),
                ("status_after", subscription.status.value),
                ("plan_after", subscription.terms.plan),
                ("seats_after", subscription.terms.seats),
                ("frequency_after", subscription.terms.frequency.value),
                ("currency", currency),
                ("zone", str(where)),
            ),
            sections=(lines_section(() if invoice is None else invoice.lines, currency, where),),
            totals=totals,
            notes=() if invoice is None else invoice.mentions,
        )

    def __repr__(self) -> str:
        return f"Preview(total={self.total!r}, lines={len(self.lines)})"


def quote(
    subscription: Subscription | None,
    action: Action,
    *,
    at: datetime,
    context: BillingContext,
    subscription_id: str | None = None,
) -> Preview:
    """Price ``action`` without committing anything: :func:`apply`, seen in ``Money``.

    >>> from subscriptions.catalog import Catalog, Plan, Price, Product
    >>> from subscriptions.subscription import BillingContext, Subscribe, Terms
    >>> from datetime import datetime
    >>> from zoneinfo import ZoneInfo
    >>> rome = ZoneInfo("Europe/Rome")
    >>> catalog = Catalog(products=[Product(id="app", name="App", plans=[
    ...     Plan(id="basic", name="Basic", rank=1,
    ...          prices=[Price(currency="EUR", frequency="monthly", amount="10.00")])])])
    >>> context = BillingContext(catalog=catalog, currency="EUR", tz=rome)
    >>> terms = Terms(product="app", plan="basic", seats=3, frequency="monthly")
    >>> quote(None, Subscribe(terms=terms), at=datetime(2026, 1, 5, tzinfo=rome),
    ...       context=context).total
    Money('30.00', 'EUR')
    """
    if type(action) is Change and subscription is not None and subscription.status not in _ENDED:
        # A change is priced as a plan; its records are built only if asked for.
        # Every sum and product on this path names the EXACT context itself.
        if type(at) is not datetime or (
            type(at.tzinfo) not in ALWAYS_AWARE and at.utcoffset() is None
        ):
            ensure_aware(at, what="action instant")
        at = at.astimezone(UTC)
        period = subscription.period
        if (
            period is None
            or subscription.status not in BILLING
            or not period.start <= at < period.end
        ):
            check_in_period(subscription, at)
        return Preview(context, None, plan_change(subscription, action, at, context))
    outcome = apply(subscription, action, at=at, context=context, subscription_id=subscription_id)
    return Preview(context, outcome)
