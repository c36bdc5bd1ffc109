"""What the book would invoice over the coming months: the invoices of projected bill
runs (:mod:`subscriptions.projection`), added up by month and plan, per currency, with
net and VAT kept apart; and the difference between two such forecasts (today's catalog
and a candidate).

Pure: a :class:`Tally` is given the projected steps one subscription at a time and keeps
only the sums, so that a book of any size is forecast in constant memory.

>>> from datetime import datetime, timezone
>>> from decimal import Decimal
>>> line = ForecastLine(month="2027-01", product="app", plan="basic", currency="EUR",
...     invoices=2, net=Decimal("20.00"), vat=Decimal("4.40"))
>>> line.total
Decimal('24.40')
>>> base = Forecast(start=datetime(2027, 1, 1, tzinfo=timezone.utc),
...     end=datetime(2027, 2, 1, tzinfo=timezone.utc), zone="UTC", lines=(line,))
>>> dearer = attrs.evolve(base, lines=(attrs.evolve(line, net=Decimal("30.00"),
...     vat=Decimal("6.60")),))
>>> change = compare_forecasts(base, dearer)
>>> [(c.month, c.plan, str(c.net), str(c.vat)) for c in change.lines]
[('2027-01', 'basic', '10.00', '2.20')]
>>> {code: str(t.total) for code, t in change.totals.items()}
{'EUR': '12.20'}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, tzinfo
from decimal import Decimal

import attrs

from .display import Pairs, Section, View, Viewable, ZoneLike, view_zone
from .errors import InvalidInput
from .money import EXACT, to_money
from .projection import ProjectedStep, StepKind

__all__ = [
    "Forecast",
    "ForecastChange",
    "ForecastDifference",
    "ForecastLine",
    "ForecastTotal",
    "Tally",
    "Unpriced",
    "compare_forecasts",
]

_ZERO = Decimal(0)


class _NetAndVat:
    """What has a ``net`` amount and its ``vat``, and so a ``total``."""

    __slots__ = ()
    net: Decimal
    vat: Decimal

    @property
    def total(self) -> Decimal:
        return EXACT.add(self.net, self.vat)


@attrs.frozen(kw_only=True, weakref_slot=False)
class ForecastLine(_NetAndVat):
    """What the book would invoice in one ``month`` (``YYYY-MM`` in the seller's time
    zone) for one plan, in one currency: how many ``invoices``, their ``net`` amount and
    their ``vat``."""

    month: str
    product: str
    plan: str
    currency: str
    invoices: int
    net: Decimal
    vat: Decimal


@attrs.frozen(kw_only=True, weakref_slot=False)
class ForecastTotal(_NetAndVat):
    """A currency's sums over the whole forecast (never summed across currencies)."""

    invoices: int
    net: Decimal
    vat: Decimal


@attrs.frozen(kw_only=True, weakref_slot=False)
class Unpriced:
    """A subscription the forecast's catalog cannot bill (a plan or price it no longer
    offers): what the bill run would refuse, named rather than left out silently."""

    subscription_id: str
    product: str
    plan: str
    reason: str


def _totals(lines: Iterable[ForecastLine]) -> dict[str, ForecastTotal]:
    sums: dict[str, list[Decimal]] = {}
    counts: dict[str, int] = {}
    for line in lines:
        net, vat = sums.setdefault(line.currency, [_ZERO, _ZERO])
        sums[line.currency] = [EXACT.add(net, line.net), EXACT.add(vat, line.vat)]
        counts[line.currency] = counts.get(line.currency, 0) + line.invoices
    return {
        code: ForecastTotal(invoices=counts[code], net=net, vat=vat)
        for code, (net, vat) in sorted(sums.items())
    }


@attrs.frozen(kw_only=True, weakref_slot=False)
class Forecast(Viewable):
    """The invoices the book would get from ``start`` to ``end``: one line per month,
    plan and currency (in that order), and the subscriptions it could not price."""

    start: datetime
    end: datetime
    #: The time zone the months are counted in (the seller's).
    zone: str
    lines: tuple[ForecastLine, ...] = ()
    unpriced: tuple[Unpriced, ...] = ()
    #: How many subscriptions are being collected (an unpaid renewal in dunning): not
    #: forecast beyond it, since whether they recover depends on the card.
    collecting: int = 0

    @property
    def totals(self) -> dict[str, ForecastTotal]:
        """Per currency: the invoices, net and VAT of the whole forecast."""
        return _totals(self.lines)

    def view(self, *, zone: ZoneLike = None) -> View:
        """One row per line (``pandas.DataFrame(forecast.rows())``: amounts as
        ``Decimal``), the totals per currency, and what could not be forecast."""
        where = view_zone(zone, self.zone)
        lines = Section(
            title="invoices by month and plan",
            columns=("month", "product", "plan", "currency", "invoices", "net", "vat", "total"),
            cells=tuple(
                (
                    line.month,
                    line.product,
                    line.plan,
                    line.currency,
                    line.invoices,
                    to_money(line.net, line.currency),
                    to_money(line.vat, line.currency),
                    to_money(line.total, line.currency),
                )
                for line in self.lines
            ),
        )
        return View(
            title=f"Forecast from {self.start.astimezone(where):%Y-%m-%d} to "
            f"{self.end.astimezone(where):%Y-%m-%d} (months in {self.zone})",
            sections=(lines,),
            totals=_total_pairs(self.totals),
            notes=_notes(self),
        )


@attrs.frozen(kw_only=True, weakref_slot=False)
class ForecastChange(_NetAndVat):
    """How one month, plan and currency differs from the base forecast to the
    candidate: ``net`` and ``vat`` are the candidate's less the base's."""

    month: str
    product: str
    plan: str
    currency: str
    base: ForecastLine | None
    candidate: ForecastLine | None
    net: Decimal
    vat: Decimal


@attrs.frozen(kw_only=True, weakref_slot=False)
class ForecastDifference(Viewable):
    """The candidate forecast less the base one, line by line and per currency."""

    base: Forecast
    candidate: Forecast
    lines: tuple[ForecastChange, ...] = ()

    @property
    def totals(self) -> dict[str, ForecastTotal]:
        """Per currency: the candidate's totals less the base's."""
        before, after = self.base.totals, self.candidate.totals
        empty = ForecastTotal(invoices=0, net=_ZERO, vat=_ZERO)
        return {
            code: ForecastTotal(
                invoices=after.get(code, empty).invoices - before.get(code, empty).invoices,
                net=EXACT.subtract(after.get(code, empty).net, before.get(code, empty).net),
                vat=EXACT.subtract(after.get(code, empty).vat, before.get(code, empty).vat),
            )
            for code in sorted(set(before) | set(after))
        }

    def view(self, *, zone: ZoneLike = None) -> View:
        """One row per changed line (``pandas.DataFrame(difference.rows())``), and the
        change of the totals per currency."""
        zero = Decimal(0)
        changes = Section(
            title="what the candidate changes",
            columns=(
                "month",
                "product",
                "plan",
                "currency",
                "base_net",
                "candidate_net",
                "net",
                "vat",
                "total",
            ),
            cells=tuple(
                (
                    c.month,
                    c.product,
                    c.plan,
                    c.currency,
                    to_money(zero if c.base is None else c.base.net, c.currency),
                    to_money(zero if c.candidate is None else c.candidate.net, c.currency),
                    to_money(c.net, c.currency),
                    to_money(c.vat, c.currency),
                    to_money(c.total, c.currency),
                )
                for c in self.lines
            ),
        )
        where = view_zone(zone, self.base.zone)
        return View(
            title=f"A candidate catalog against today's, from "
            f"{self.base.start.astimezone(where):%Y-%m-%d} to "
            f"{self.base.end.astimezone(where):%Y-%m-%d}",
            sections=(changes,),
            totals=_total_pairs(self.totals),
            notes=_notes(self.candidate),
        )


def _total_pairs(totals: Mapping[str, ForecastTotal]) -> Pairs:
    return tuple(
        pair
        for code, t in totals.items()
        for pair in (
            (f"net {code}", to_money(t.net, code)),
            (f"VAT {code}", to_money(t.vat, code)),
            (f"total {code}", to_money(t.total, code)),
        )
    )


def _notes(result: Forecast) -> tuple[str, ...]:
    notes = []
    if result.collecting:
        notes.append(
            f"{result.collecting} subscription(s) being collected (an unpaid renewal): not "
            "forecast beyond it"
        )
    notes.extend(
        f"not billable: {u.subscription_id} ({u.product}/{u.plan}): {u.reason}"
        for u in result.unpriced
    )
    return tuple(notes)


def _key(line: ForecastLine) -> tuple[str, str, str, str]:
    return (line.month, line.currency, line.product, line.plan)


def compare_forecasts(base: Forecast, candidate: Forecast) -> ForecastDifference:
    """``candidate`` less ``base``: every month, plan and currency where they differ."""
    if (base.start, base.end, base.zone) != (candidate.start, candidate.end, candidate.zone):
        raise InvalidInput(
            "the forecasts cover different months; forecast both from the same instant, "
            "over as many months"
        )
    before: Mapping[tuple[str, str, str, str], ForecastLine] = {_key(x): x for x in base.lines}
    after: Mapping[tuple[str, str, str, str], ForecastLine] = {_key(x): x for x in candidate.lines}
    changes = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        net = EXACT.subtract(_ZERO if new is None else new.net, _ZERO if old is None else old.net)
        vat = EXACT.subtract(_ZERO if new is None else new.vat, _ZERO if old is None else old.vat)
        same = old is not None and new is not None and old.invoices == new.invoices
        if net == 0 and vat == 0 and same:
            continue
        month, currency, product, plan = key
        changes.append(
            ForecastChange(
                month=month,
                product=product,
                plan=plan,
                currency=currency,
                base=old,
                candidate=new,
                net=net,
                vat=vat,
            )
        )
    return ForecastDifference(base=base, candidate=candidate, lines=tuple(changes))


class _Sum:
    __slots__ = ("invoices", "net", "vat")

    def __init__(self) -> None:
        self.invoices = 0
        self.net = _ZERO
        self.vat = _ZERO


class Tally:
    """The sums of a forecast as it is made: :meth:`add` the projected steps of each
    subscription, then :meth:`forecast`. A step is counted in the month it would be
    invoiced (a step already due is invoiced at ``start``, as the bill run would)."""

    def __init__(self, *, start: datetime, end: datetime, zone: tzinfo) -> None:
        self._start, self._end, self._zone = start, end, zone
        self._sums: dict[tuple[str, str, str, str], _Sum] = {}
        self._unpriced: list[Unpriced] = []
        self._collecting = 0

    def add(self, steps: Iterable[ProjectedStep]) -> None:
        """Count the invoices among ``steps`` (cancellations, expiries and retries of
        an invoice already issued are not new invoices)."""
        for step in steps:
            invoice = step.invoice
            if invoice is None:
                if step.kind is StepKind.RETRY:
                    self._collecting += 1
                continue
            local = max(step.at, self._start).astimezone(self._zone)
            key = (f"{local.year:04d}-{local.month:02d}", step.currency, step.product, step.plan)
            sums = self._sums.get(key)
            if sums is None:
                sums = self._sums[key] = _Sum()
            sums.invoices += 1
            sums.net = EXACT.add(sums.net, invoice.subtotal)
            for tax in invoice.taxes:
                sums.vat = EXACT.add(sums.vat, tax.amount)

    def refuse(self, unpriced: Unpriced) -> None:
        """Name a subscription the catalog cannot bill."""
        self._unpriced.append(unpriced)

    def forecast(self) -> Forecast:
        lines = tuple(
            ForecastLine(
                month=month,
                product=product,
                plan=plan,
                currency=currency,
                invoices=sums.invoices,
                net=sums.net,
                vat=sums.vat,
            )
            for (month, currency, product, plan), sums in sorted(self._sums.items())
        )
        return Forecast(
            start=self._start,
            end=self._end,
            zone=str(self._zone),
            lines=lines,
            unpriced=tuple(self._unpriced),
            collecting=self._collecting,
        )
