"""Invoices from priced lines: net amounts, VAT per rate, totals that add up exactly.

Every line is priced once (a prorated amount rounded once to the minor unit) and
carries the tax decision of the supply it belongs to: a charge is taxed at the rate in
force on its local issue date; a credit keeps the rate and treatment of the charge it
reverses. :func:`build_invoice` then groups the lines by (rate, treatment):

* tax-exclusive prices (the default): tax = round(base x rate / 100), once per invoice
  and rate, or per line with ``TaxRounding.LINE``;
* tax-inclusive prices: the lines are gross; tax = round(gross x rate / (100 + rate))
  per rate (or per line), and each line's net amount is its gross less its share of
  that tax, shared by largest remainder so the net lines add up exactly.

In both cases ``subtotal`` is the sum of the lines and ``total = subtotal + taxes``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal, localcontext
from fractions import Fraction

import attrs

from ._enum import Choice
from ._records import quick_init
from .display import Cell, Pairs, Section, View, Viewable, ZoneLike, view_zone
from .errors import InvalidInput
from .money import (
    EXACT,
    Rounding,
    exact_multiply,
    exact_sum,
    largest_remainder,
    minor_digits,
    quantum,
    round_fraction,
    round_to_unit,
    to_money,
)
from .periods import Frequency, Period
from .vat import (
    EU_VAT_RATES,
    RateProvider,
    TaxDecision,
    TaxTreatment,
    VatNumber,
    decide_tax,
    format_rate,
)

__all__ = [
    "Customer",
    "Invoice",
    "InvoiceLine",
    "InvoiceReason",
    "LineKind",
    "TaxDecisions",
    "TaxLine",
    "TaxRounding",
    "TaxSetup",
    "apply_credit",
    "build_invoice",
    "exclusive_tax",
    "invoice_from_lines",
]

_ZERO = Decimal(0)
#: one percent, as a factor
_PERCENT = Decimal("0.01")


class TaxRounding(Choice):
    INVOICE = "invoice"
    LINE = "line"


class LineKind(Choice):
    CHARGE = "charge"
    CREDIT = "credit"


class InvoiceReason(Choice):
    SUBSCRIBE = "subscribe"
    CONVERSION = "conversion"
    CHANGE = "change"
    RENEWAL = "renewal"
    CANCEL = "cancel"
    ORDER = "order"


@attrs.frozen(kw_only=True, weakref_slot=False)
class Customer:
    """Where and who the customer is, for tax: country, region and a valid VAT number.

    ``vat_number`` is a number already judged valid (offline, or online when a
    verifier is plugged in); ``None`` taxes the customer as a consumer.
    """

    country: str
    region: str | None = None
    vat_number: VatNumber | None = None


class TaxDecisions:
    """An explicit cache of tax decisions, by tax setup and local date: invoices of one
    account ask again and again for the same day's decision. Equal decisions are kept
    as one object, so that lines taxed alike share it (and are recognized as alike by
    identity first, then by value). Bounded: it forgets everything once it holds
    ``limit`` decisions. Whoever builds a :class:`TaxSetup` owns it: pass one to share
    it between setups (it keys by setup), or let the setup make its own."""

    __slots__ = ("_by_setup", "_count", "_distinct", "_last", "limit")

    def __init__(self, *, limit: int = 4096) -> None:
        self.limit = limit
        #: each setup's decisions (equal setups share them)
        self._by_setup: dict[TaxSetup, _SetupDecisions] = {}
        self._distinct: dict[tuple[object, ...], TaxDecision] = {}
        self._count = 0
        #: the decisions of the setup asked last, found again by identity: a setup's own
        #: cache is only ever asked about it, and a setup's hash runs Python code
        self._last: _SetupDecisions | None = None

    def decide(self, setup: TaxSetup, on: date) -> TaxDecision:
        """``setup``'s decision for a supply on the local date ``on``."""
        last = self._last
        if last is None or last.setup is not setup:
            last = self._of(setup)
        decision = last.by_day.get(on)
        if decision is None:
            decision = self._decide(setup, on)
        return decision

    def _of(self, setup: TaxSetup) -> _SetupDecisions:
        found = self._by_setup.get(setup)
        if found is None:
            found = self._by_setup[setup] = _SetupDecisions(setup)
        self._last = found
        return found

    def _decide(self, setup: TaxSetup, on: date) -> TaxDecision:
        decision = decide_tax(
            seller_country=setup.seller_country,
            customer_country=setup.customer.country,
            customer_region=setup.customer.region,
            vat_number=setup.customer.vat_number,
            on=on,
            rates=setup.rates,
            micro_seller=setup.micro_seller,
        )
        if self._count >= self.limit:
            self._by_setup.clear()
            self._distinct.clear()
            self._count = 0
        key = (
            decision.treatment,
            decision.rate.as_tuple(),
            decision.rate_country,
            decision.mention,
        )
        decision = self._distinct.setdefault(key, decision)
        self._of(setup).by_day[on] = decision
        self._count += 1
        return decision

    def __repr__(self) -> str:
        return f"TaxDecisions({self._count} of {self.limit})"


class _SetupDecisions:
    """One setup's decisions in a :class:`TaxDecisions`, by local date."""

    __slots__ = ("by_day", "setup")

    def __init__(self, setup: TaxSetup) -> None:
        self.setup = setup
        self.by_day: dict[date, TaxDecision] = {}


@attrs.frozen(kw_only=True, cache_hash=True, weakref_slot=False)
class TaxSetup:
    """How an account's invoices are taxed: seller, customer, rates, rounding.

    Two setups are equal when they tax alike (same seller country, customer, rate
    provider and election). ``decisions`` is the cache its decisions are looked up
    in (see :class:`TaxDecisions`): no part of its value."""

    seller_country: str
    customer: Customer
    rates: RateProvider = EU_VAT_RATES
    micro_seller: bool = False
    decisions: TaxDecisions = attrs.field(factory=TaxDecisions, repr=False, eq=False, hash=False)

    def decide(self, on: date) -> TaxDecision:
        """The treatment and rate of a supply on the local date ``on``."""
        return self.decisions.decide(self, on)

    def decide_at(self, instant: datetime, tz: tzinfo) -> TaxDecision:
        return self.decide(instant.astimezone(tz).date())


@quick_init
@attrs.frozen(kw_only=True, weakref_slot=False)
class InvoiceLine:
    """One line of an invoice: a charge for a span, or a credit for its unused part.

    ``listed`` is the amount as priced (gross when prices include tax); ``amount`` is
    the net amount the invoice shows. They are equal for tax-exclusive prices.
    """

    kind: LineKind
    subscription_id: str
    product: str
    plan: str
    frequency: Frequency
    seats: int
    unit_price: Decimal
    period: Period
    listed: Decimal
    amount: Decimal
    tax: TaxDecision | None = None


@quick_init
@attrs.frozen(kw_only=True, weakref_slot=False)
class TaxLine:
    """The tax of one (rate, treatment) group of an invoice."""

    rate: Decimal
    treatment: TaxTreatment
    base: Decimal
    amount: Decimal
    mention: str | None = None


@quick_init
@attrs.frozen(kw_only=True, weakref_slot=False)
class Invoice(Viewable):
    """An invoice (or, with a negative total, a credit note) before or after numbering.

    It shows itself (:mod:`subscriptions.display`): ``table()``, ``rows()`` (one per
    line) and, in a notebook, an HTML table; its instants in UTC unless a ``zone``
    is given (an invoice does not know its account's).
    """

    currency: str
    issued_at: datetime
    reason: InvoiceReason
    lines: tuple[InvoiceLine, ...]
    subtotal: Decimal
    taxes: tuple[TaxLine, ...]
    total: Decimal
    prices_include_tax: bool = False
    credit_applied: Decimal = _ZERO
    number: str | None = None

    @property
    def document(self) -> str:
        """``"credit_note"`` for a negative total, else ``"invoice"``."""
        return "credit_note" if self.total < 0 else "invoice"

    @property
    def tax_total(self) -> Decimal:
        return exact_sum(tax.amount for tax in self.taxes)

    @property
    def amount_due(self) -> Decimal:
        """What the customer pays: the total less the credit balance applied."""
        return max(EXACT.subtract(self.total, self.credit_applied), _ZERO)

    @property
    def mentions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.mention for t in self.taxes if t.mention))

    def view(self, *, zone: ZoneLike = None) -> View:
        """The invoice as a :class:`~subscriptions.display.View`: its lines, then its
        totals."""
        where = view_zone(zone)
        kind = "Credit note" if self.document == "credit_note" else "Invoice"
        facts: Pairs = (
            ("issued_at", self.issued_at.astimezone(where)),
            ("reason", self.reason.value),
            ("currency", self.currency),
        )
        if self.prices_include_tax:
            facts += (("prices_include_tax", True),)
        totals = invoice_totals(
            subtotal=self.subtotal, taxes=self.taxes, total=self.total, currency=self.currency
        )
        if self.credit_applied:
            totals += settlement(self.credit_applied, self.amount_due, self.currency)
        return View(
            title=f"{kind} {self.number or '(not numbered)'}",
            facts=facts,
            sections=(lines_section(self.lines, self.currency, where),),
            totals=totals,
            notes=self.mentions,
        )


#: The columns of an invoice line, in every view that shows one (and in its rows).
LINE_COLUMNS = (
    "kind",
    "subscription_id",
    "product",
    "plan",
    "frequency",
    "seats",
    "unit_price",
    "period_start",
    "period_end",
    "amount",
    "vat_rate",
    "vat_treatment",
    "currency",
)
#: In the rows, not in the tables a person reads (the view names the currency).
_LINE_HIDDEN = frozenset({"subscription_id", "vat_treatment", "currency"})


def lines_section(lines: Sequence[InvoiceLine], currency: str, zone: tzinfo = UTC) -> Section:
    """The ``lines`` of an invoice in ``currency`` as a table, their service periods
    in ``zone``: one row per line, with the :data:`LINE_COLUMNS`."""
    return Section(
        title="lines",
        columns=LINE_COLUMNS,
        cells=tuple(
            (
                line.kind.value,
                line.subscription_id,
                line.product,
                line.plan,
                line.frequency.value,
                line.seats,
                to_money(line.unit_price, currency),
                line.period.start.astimezone(zone),
                line.period.end.astimezone(zone),
                to_money(line.amount, currency),
                None if line.tax is None else line.tax.rate,
                None if line.tax is None else line.tax.treatment.value,
                currency,
            )
            for line in lines
        ),
        hidden=_LINE_HIDDEN,
    )


def invoice_totals(
    *, subtotal: Decimal, taxes: Sequence[TaxLine], total: Decimal, currency: str
) -> Pairs:
    """The totals of an invoice as a view shows them: the subtotal, the tax of each
    rate (``vat 22%``; a treatment other than the standard one is named), the total."""
    lines: list[tuple[str, Cell]] = [("subtotal", to_money(subtotal, currency))]
    for tax in taxes:
        label = f"vat {format_rate(tax.rate)}%"
        if tax.treatment is not TaxTreatment.STANDARD:
            label += f" ({tax.treatment.value})"
        lines.append((label, to_money(tax.amount, currency)))
    lines.append(("total", to_money(total, currency)))
    return tuple(lines)


def settlement(credit_applied: Decimal, amount_due: Decimal, currency: str) -> Pairs:
    """The credit balance a document used and what is left to pay, as a view shows
    them below its total."""
    return (
        ("credit_applied", to_money(credit_applied, currency)),
        ("amount_due", to_money(amount_due, currency)),
    )


def build_invoice(
    lines: Sequence[InvoiceLine],
    *,
    currency: str,
    issued_at: datetime,
    reason: InvoiceReason,
    prices_include_tax: bool = False,
    tax_rounding: TaxRounding = TaxRounding.INVOICE,
    rounding: Rounding = Rounding.HALF_UP,
) -> Invoice:
    """Group priced lines into an invoice with its VAT, exactly.

    Lines without a tax decision (no seller configured) are untaxed. Mixing taxed and
    untaxed lines on one invoice is refused.
    """
    if not lines:
        raise InvalidInput("an invoice needs at least one line")
    with localcontext(EXACT):
        return invoice_from_lines(
            lines,
            currency=currency,
            issued_at=issued_at,
            reason=reason,
            prices_include_tax=prices_include_tax,
            tax_rounding=tax_rounding,
            rounding=rounding,
        )


def invoice_from_lines(
    lines: Sequence[InvoiceLine],
    *,
    currency: str,
    issued_at: datetime,
    reason: InvoiceReason,
    prices_include_tax: bool,
    tax_rounding: TaxRounding,
    rounding: Rounding,
) -> Invoice:
    """:func:`build_invoice` for callers already inside the ``EXACT`` decimal context."""
    if len(lines) == 1 and not prices_include_tax:
        # One tax-exclusive line (a renewal): its amount is the subtotal.
        line = lines[0]
        decision = line.tax
        subtotal = line.listed
        if decision is None:
            one: tuple[TaxLine, ...] = ()
            total = subtotal
        else:
            tax = exclusive_tax(subtotal, decision.rate, currency, rounding)
            one = (
                TaxLine(
                    rate=decision.rate,
                    treatment=decision.treatment,
                    base=subtotal,
                    amount=tax,
                    mention=decision.mention,
                ),
            )
            total = subtotal + tax
        return Invoice(
            currency=currency,
            issued_at=issued_at,
            reason=reason,
            lines=(line,),
            subtotal=subtotal,
            taxes=one,
            total=total,
            prices_include_tax=False,
        )
    groups: dict[tuple[Decimal, TaxTreatment, str | None], list[int]] = {}
    first = lines[0].tax if lines else None
    if first is not None and all(line.tax is first for line in lines):
        # The common case (a renewal, a subscription): one decision for every line.
        groups[(first.rate, first.treatment, first.mention)] = list(range(len(lines)))
    else:
        untaxed = 0
        for i, line in enumerate(lines):
            decision = line.tax
            if decision is None:
                untaxed += 1
            else:
                key = (decision.rate, decision.treatment, decision.mention)
                members = groups.get(key)
                if members is None:
                    groups[key] = [i]
                else:
                    members.append(i)
        if untaxed and groups:
            raise InvalidInput("either every line of an invoice is taxed or none is")

    amounts = [line.listed for line in lines]
    taxes: list[TaxLine] = []
    tax_sum = _ZERO
    for (rate, treatment, mention), members in groups.items():
        listed = [amounts[i] for i in members]
        if prices_include_tax:
            shares = _inclusive_shares(listed, rate, currency, tax_rounding, rounding)
            for i, share in zip(members, shares, strict=True):
                amounts[i] = lines[i].listed - share
            tax = sum(shares, _ZERO)
            base = sum(listed, _ZERO) - tax
        else:
            base = sum(listed, _ZERO)
            if tax_rounding is TaxRounding.LINE:
                tax = sum((exclusive_tax(x, rate, currency, rounding) for x in listed), _ZERO)
            else:
                tax = exclusive_tax(base, rate, currency, rounding)
        tax_sum += tax
        taxes.append(
            TaxLine(rate=rate, treatment=treatment, base=base, amount=tax, mention=mention)
        )
    if prices_include_tax:
        final = tuple(
            line if line.amount == amount else attrs.evolve(line, amount=amount)
            for line, amount in zip(lines, amounts, strict=True)
        )
    else:
        final = tuple(lines)
    subtotal = sum(amounts, _ZERO)
    return Invoice(
        currency=currency,
        issued_at=issued_at,
        reason=reason,
        lines=final,
        subtotal=subtotal,
        taxes=tuple(taxes),
        total=subtotal + tax_sum,
        prices_include_tax=prices_include_tax,
    )


def exclusive_tax(base: Decimal, rate: Decimal, currency: str, rounding: Rounding) -> Decimal:
    """The tax on a net ``base`` at ``rate`` percent, rounded once."""
    return tax_on(base, rate, quantum(currency), rounding.decimal_mode)


def tax_on(base: Decimal, rate: Decimal, unit: Decimal, mode: str) -> Decimal:
    """The tax on a net ``base`` at ``rate`` percent, rounded once to ``unit`` with the
    ``decimal`` rounding ``mode``: the kernel of every tax-exclusive amount."""
    # base x rate / 100 is a finite decimal: exact in the EXACT context, rounded once.
    # (Times 0.01 rather than scaleb(-2): the same value and exponent, for less.)
    return round_to_unit(exact_multiply(exact_multiply(base, rate), _PERCENT), unit, mode)


def _inclusive_shares(
    gross: Sequence[Decimal],
    rate: Decimal,
    currency: str,
    tax_rounding: TaxRounding,
    rounding: Rounding,
) -> list[Decimal]:
    """Each gross line's share of the tax it contains, in minor units, exactly."""
    digits = minor_digits(currency)
    scale = 10**digits
    factor = Fraction(rate) / (100 + Fraction(rate))
    exact = [Fraction(g) * factor * scale for g in gross]
    if tax_rounding is TaxRounding.LINE:
        minor = [int(round_fraction(e / scale, currency, rounding).scaleb(digits)) for e in exact]
    else:
        total = int(
            round_fraction(sum(exact, Fraction(0)) / scale, currency, rounding).scaleb(digits)
        )
        minor = largest_remainder(total, exact)
    return [Decimal(m).scaleb(-digits, EXACT) if digits else Decimal(m) for m in minor]


def apply_credit(invoice: Invoice, balance: Decimal) -> tuple[Invoice, Decimal]:
    """Settle ``invoice`` against an account's credit ``balance``.

    A negative total (a credit note) adds its absolute value to the balance; a
    positive total uses ``min(balance, total)``. Returns the settled invoice and the
    balance left.
    """
    if balance < 0:
        raise InvalidInput(f"credit balance {balance} is negative; it is never below zero")
    if invoice.total < 0:
        settled = (
            invoice if invoice.credit_applied == 0 else attrs.evolve(invoice, credit_applied=_ZERO)
        )
        return settled, EXACT.subtract(balance, invoice.total)
    used = min(balance, invoice.total)
    if used == invoice.credit_applied:
        return invoice, EXACT.subtract(balance, used)
    return attrs.evolve(invoice, credit_applied=used), EXACT.subtract(balance, used)
