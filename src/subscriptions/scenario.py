"""The scenario runner: a JSON document in, every invoice and the final state out.

A scenario describes a catalog, one customer and a timeline of actions (format 1,
specified in ``docs/scenarios.md``). :func:`run` replays it deterministically (no wall
clock, no network) and returns the invoices it produced, the final subscriptions, the
credit balance and the actions that were refused.

The document is checked strictly before anything runs: wrong JSON types, missing or
unknown keys, unknown policy values, catalog errors, a seller outside the EU, naive
datetimes, events out of time order or at/after ``until`` raise
:class:`~subscriptions.errors.ScenarioError` with a one-line message naming the place.
A well-formed action that cannot be done is refused, listed in ``refused``, and the
timeline goes on without it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, tzinfo
from decimal import Decimal
from typing import Any, TypeVar

import attrs
from dateutil.parser import isoparse
from moneyed import Money

from .display import Section, View, Viewable, ZoneLike, view_zone
from .documents import (
    catalog_from_dict,
    read_bool,
    read_choice,
    read_int,
    read_list,
    read_object,
    read_str,
    reported_at,
    type_name,
)
from .errors import (
    CorporateSelfServiceRefused,
    DocumentError,
    ScenarioError,
    SubscriptionsError,
)
from .money import Rounding, check_currency, exact_sum, format_amount, to_money
from .periods import Frequency, localize, zone
from .pricing import Customer, Invoice, TaxRounding, TaxSetup, apply_credit
from .proration import CreditBasis, DayCount, Granularity, ProrationPolicy
from .seats import seat_count
from .subscription import (
    Action,
    BillingContext,
    BillingPolicy,
    Cancel,
    CancelTiming,
    Change,
    ChangePolicy,
    ChangeTiming,
    Reactivate,
    StartTrial,
    Subscribe,
    Subscription,
    Terms,
    TrialEnd,
)
from .transitions import advance, apply, next_due
from .vat import eu_seller_country, format_rate, normalize_location, vat_number_or_none

__all__ = ["Scenario", "ScenarioResult", "load", "run"]

_E = TypeVar("_E")
_T = TypeVar("_T")

_ACTION_KEYS: Mapping[str, tuple[frozenset[str], frozenset[str]]] = {
    "start_trial": (frozenset({"product", "plan", "seats", "frequency"}), frozenset()),
    "subscribe": (
        frozenset({"product", "plan", "seats", "frequency"}),
        frozenset({"billing_day"}),
    ),
    "change": (frozenset({"product"}), frozenset({"plan", "seats", "frequency", "timing"})),
    "cancel": (frozenset({"product"}), frozenset({"timing"})),
    "reactivate": (frozenset({"product"}), frozenset()),
}

_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


@attrs.frozen(kw_only=True, weakref_slot=False)
class ScenarioEvent:
    index: int
    at: datetime
    kind: str
    product: str
    action: Action | None
    refusal: SubscriptionsError | None = None


@attrs.frozen(kw_only=True, weakref_slot=False)
class Scenario:
    """A validated scenario, ready to run."""

    context: BillingContext
    corporate: bool
    events: tuple[ScenarioEvent, ...]
    until: datetime


# -- validation helpers ----------------------------------------------------------


def _instant(value: object, path: str, tz: tzinfo) -> datetime:
    text = read_str(value, path)
    try:
        if _DATE_ONLY.fullmatch(text):
            return localize(datetime.combine(date.fromisoformat(text), time()), tz).astimezone(UTC)
        parsed = isoparse(text)
    except ValueError:
        raise DocumentError(path, f"{text!r} is not an ISO date or datetime") from None
    if parsed.tzinfo is None:
        raise DocumentError(
            path,
            f"{text!r} has a time but no UTC offset; write it with one "
            "(2026-01-05T09:00:00+01:00) or give a plain date",
        )
    return parsed.astimezone(UTC)


# -- loading ---------------------------------------------------------------------


_TOP_REQUIRED = frozenset({"format", "currency", "customer", "catalog", "events", "until"})
_TOP_OPTIONAL = frozenset({"timezone", "policy", "seller"})


def load(doc: Mapping[str, Any]) -> Scenario:
    """Validate a scenario document; raise :class:`ScenarioError` if it is invalid."""
    try:
        return _load(doc)
    except ScenarioError:
        raise
    except DocumentError as exc:
        raise ScenarioError(exc.path, exc.problem) from None


def _load(doc: Mapping[str, Any]) -> Scenario:
    top = read_object(doc, "", _TOP_REQUIRED, _TOP_OPTIONAL)
    if read_int(top["format"], "format") != 1:
        raise DocumentError("format", f"unsupported format {top['format']!r}; this library reads 1")
    currency = read_str(top["currency"], "currency")
    with reported_at("currency"):
        currency = check_currency(currency)
    with reported_at("timezone"):
        tz = zone(read_str(top.get("timezone", "UTC"), "timezone"))
    policy = _policy(top.get("policy", {}))
    customer_doc = read_object(
        top["customer"],
        "customer",
        frozenset({"country"}),
        frozenset({"region", "vat_number", "kind"}),
    )
    with reported_at("customer"):
        country, region = normalize_location(
            read_str(customer_doc["country"], "customer.country"),
            None
            if customer_doc.get("region") is None
            else read_str(customer_doc["region"], "customer.region"),
        )
    kind = customer_doc.get("kind", "self_service")
    kind = read_choice(kind, "customer.kind", str, ["self_service", "corporate"])
    raw_number = customer_doc.get("vat_number")
    if raw_number is not None:
        read_str(raw_number, "customer.vat_number")
    tax = None
    if "seller" in top:
        seller = read_object(top["seller"], "seller", frozenset({"country"}), frozenset())
        with reported_at("seller.country"):
            seller_country = eu_seller_country(read_str(seller["country"], "seller.country"))
        number = None if raw_number is None else vat_number_or_none(raw_number, country=country)
        tax = TaxSetup(
            seller_country=seller_country,
            customer=Customer(country=country, region=region, vat_number=number),
        )
    catalog = catalog_from_dict(top["catalog"], currency=currency, path="catalog")
    context = BillingContext(catalog=catalog, currency=currency, tz=tz, policy=policy, tax=tax)
    until = _instant(top["until"], "until", tz)
    events = _events(top["events"], tz, until)
    return Scenario(context=context, corporate=kind == "corporate", events=events, until=until)


_POLICY_KEYS = frozenset(
    {
        "proration",
        "day_count",
        "plan_change",
        "credit",
        "rounding",
        "tax_rounding",
        "prices_include_tax",
        "trial_end",
    }
)


def _values(enum_type: Any) -> list[str]:
    return [member.value for member in enum_type]


def _policy(value: object) -> BillingPolicy:
    doc = read_object(value, "policy", frozenset(), _POLICY_KEYS)

    def pick(key: str, enum_type: Any, default: Any) -> Any:
        if key not in doc:
            return default
        return read_choice(doc[key], f"policy.{key}", enum_type, _values(enum_type))

    proration = ProrationPolicy(
        granularity=pick("proration", Granularity, Granularity.DAY),
        day_count=pick("day_count", DayCount, DayCount.ACTUAL),
        credit=pick("credit", CreditBasis, CreditBasis.BILLED),
        rounding=pick("rounding", Rounding, Rounding.HALF_UP),
    )
    timing = pick("plan_change", ChangeTiming, ChangeTiming.REALIGN)
    include = doc.get("prices_include_tax", False)
    return BillingPolicy(
        proration=proration,
        plan_change=ChangePolicy.uniform(timing),
        trial_end=pick("trial_end", TrialEnd, TrialEnd.EXPIRE),
        prices_include_tax=read_bool(include, "policy.prices_include_tax"),
        tax_rounding=pick("tax_rounding", TaxRounding, TaxRounding.INVOICE),
    )


def _events(value: object, tz: tzinfo, until: datetime) -> tuple[ScenarioEvent, ...]:
    events = []
    previous: datetime | None = None
    for i, raw in enumerate(read_list(value, "events")):
        path = f"events[{i}]"
        if not isinstance(raw, Mapping):
            raise DocumentError(path, f"expected an object, got {type_name(raw)}")
        kind = read_str(raw.get("action"), f"{path}.action") if "action" in raw else None
        if kind is None:
            raise DocumentError(path, "missing key 'action'")
        if kind not in _ACTION_KEYS:
            raise DocumentError(
                f"{path}.action",
                f"unknown action {kind!r} (use one of {', '.join(_ACTION_KEYS)})",
            )
        required, optional = _ACTION_KEYS[kind]
        doc = read_object(raw, path, required | {"at", "action"}, optional)
        at = _instant(doc["at"], f"{path}.at", tz)
        if previous is not None and at < previous:
            raise DocumentError(f"{path}.at", "events must be in time order")
        if at >= until:
            raise DocumentError(f"{path}.at", "event is at or after 'until'; move 'until' later")
        previous = at
        product = read_str(doc["product"], f"{path}.product")
        action, refusal = _action(kind, doc, path)
        events.append(
            ScenarioEvent(
                index=i, at=at, kind=kind, product=product, action=action, refusal=refusal
            )
        )
    return tuple(events)


def _action(
    kind: str, doc: Mapping[str, Any], path: str
) -> tuple[Action | None, SubscriptionsError | None]:
    """The action of an event; a well-formed but impossible one becomes a refusal."""
    product = doc["product"]
    try:
        if kind in ("start_trial", "subscribe"):
            plan = read_str(doc["plan"], f"{path}.plan")
            seats = read_int(doc["seats"], f"{path}.seats")
            frequency = read_str(doc["frequency"], f"{path}.frequency")
            billing_day = doc.get("billing_day")
            if billing_day is not None:
                billing_day = read_int(billing_day, f"{path}.billing_day")
            terms = Terms(product=product, plan=plan, seats=seats, frequency=frequency)
            if kind == "start_trial":
                return StartTrial(terms=terms), None
            return Subscribe(terms=terms, billing_day=billing_day), None
        if kind == "change":
            if not {"plan", "seats", "frequency"} & doc.keys():
                raise DocumentError(
                    path, "a change needs at least one of 'plan', 'seats', 'frequency'"
                )
            new_plan = None if doc.get("plan") is None else read_str(doc["plan"], f"{path}.plan")
            new_seats = (
                None if doc.get("seats") is None else read_int(doc["seats"], f"{path}.seats")
            )
            new_frequency = (
                None
                if doc.get("frequency") is None
                else Frequency.parse(read_str(doc["frequency"], f"{path}.frequency"))
            )
            timing = doc.get("timing")
            timing_value = (
                None
                if timing is None
                else read_choice(timing, f"{path}.timing", ChangeTiming, _values(ChangeTiming))
            )
            if new_seats is not None:
                seat_count(new_seats)
            return Change(
                plan=new_plan, seats=new_seats, frequency=new_frequency, timing=timing_value
            ), None
        if kind == "cancel":
            timing = doc.get("timing", "end_of_term")
            return Cancel(
                timing=read_choice(timing, f"{path}.timing", CancelTiming, _values(CancelTiming))
            ), None
        return Reactivate(), None
    except DocumentError:
        raise
    except SubscriptionsError as exc:
        return None, exc


# -- running ---------------------------------------------------------------------


def run(doc: Mapping[str, Any]) -> ScenarioResult:
    """Replay a scenario document and return its output (see ``docs/scenarios.md``)."""
    return _Runner(load(doc)).run()


class ScenarioResult(dict[str, Any], Viewable):
    """A scenario's output: the ``dict`` of ``docs/scenarios.md`` (JSON data, every
    amount and instant a string: ``json.dumps`` takes it as it is), that also shows
    itself (:mod:`subscriptions.display`): ``table()``, ``rows()`` (one per invoice
    line, amounts as ``Decimal`` and instants as ``datetime``) and, in a notebook, an
    HTML table, its instants in the scenario's time zone unless a ``zone`` is given.
    """

    __slots__ = ("currency", "timezone")

    def __init__(self, output: Mapping[str, Any], *, currency: str, timezone: str) -> None:
        super().__init__(output)
        #: The scenario's currency: every amount of the output is in it.
        self.currency = currency
        #: The scenario's time zone (an IANA name), where its instants are shown.
        self.timezone = timezone

    def view(self, *, zone: ZoneLike = None) -> View:
        """The result as a :class:`~subscriptions.display.View`: its invoices, their
        lines (the rows), the final subscriptions and the refused actions, read back
        from the output's strings."""
        where = view_zone(zone, self.timezone)
        read = _Read(self.currency, where)
        invoices: list[Mapping[str, Any]] = list(self.get("invoices", ()))
        subscriptions: list[Mapping[str, Any]] = list(self.get("subscriptions", ()))
        refused: list[Mapping[str, Any]] = list(self.get("refused", ()))
        invoiced = exact_sum(Decimal(i["total"]) for i in invoices)
        due = exact_sum(Decimal(i["amount_due"]) for i in invoices)
        return View(
            title="Scenario",
            facts=(("currency", self.currency), ("zone", str(where)), ("invoices", len(invoices))),
            sections=(
                Section(
                    title="invoices",
                    columns=(
                        "number", "document", "issued_at", "reason", "subtotal", "tax", "total",
                        "credit_applied", "amount_due",
                    ),
                    cells=tuple(
                        (
                            i["number"], i["document"], read.instant(i["issued_at"]),
                            i["reason"], read.amount(i["subtotal"]),
                            read.money(exact_sum(Decimal(t["amount"]) for t in i["taxes"])),
                            read.amount(i["total"]), read.amount(i["credit_applied"]),
                            read.amount(i["amount_due"]),
                        )
                        for i in invoices
                    ),
                ),
                Section(
                    title="lines",
                    columns=(
                        "invoice", "issued_at", "kind", "product", "plan", "frequency", "seats",
                        "unit_price", "period_start", "period_end", "amount", "currency",
                    ),
                    cells=tuple(
                        (
                            i["number"], read.instant(i["issued_at"]), line["kind"],
                            line["product"], line["plan"], line["frequency"], line["seats"],
                            read.amount(line["unit_price"]), read.instant(line["period_start"]),
                            read.instant(line["period_end"]), read.amount(line["amount"]),
                            self.currency,
                        )
                        for i in invoices
                        for line in i["lines"]
                    ),
                    hidden=frozenset({"currency"}),
                ),
                Section(
                    title="subscriptions",
                    columns=(
                        "product", "status", "plan", "seats", "frequency", "anchor",
                        "current_period_start", "current_period_end",
                    ),
                    cells=tuple(
                        (
                            sub["product"], sub["status"], sub["plan"], sub["seats"],
                            sub["frequency"], read.instant(sub["anchor"]),
                            read.instant(sub["current_period_start"]),
                            read.instant(sub["current_period_end"]),
                        )
                        for sub in subscriptions
                    ),
                ),
                Section(
                    title="refused",
                    columns=("event", "error", "message"),
                    cells=tuple((r["event"], r["error"], r["message"]) for r in refused),
                ),
            ),
            totals=(
                ("invoiced", read.money(invoiced)),
                ("amount_due", read.money(due)),
                ("credit_balance", read.amount(self.get("credit_balance", "0"))),
            ),
            primary=1,
        )  # fmt: skip


class _Read:
    """The output's strings read back: amounts in the scenario's currency, instants
    in the view's zone."""

    __slots__ = ("currency", "zone")

    def __init__(self, currency: str, zone: tzinfo) -> None:
        self.currency, self.zone = currency, zone

    def money(self, value: Decimal) -> Money:
        return to_money(value, self.currency)

    def amount(self, text: str) -> Money:
        return to_money(Decimal(text), self.currency)

    def instant(self, text: str | None) -> datetime | None:
        return None if text is None else datetime.fromisoformat(text).astimezone(self.zone)


class _Runner:
    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.context = scenario.context
        self.subs: dict[str, Subscription] = {}
        self.invoices: list[dict[str, Any]] = []
        self.balance = Decimal(0)
        self.refused: list[dict[str, Any]] = []

    def run(self) -> ScenarioResult:
        for event in self.scenario.events:
            self._advance(until=event.at, inclusive=True)
            self._event(event)
        self._advance(until=self.scenario.until, inclusive=False)
        currency = self.context.currency
        output = {
            "invoices": self.invoices,
            "subscriptions": [self._sub(s) for s in self.subs.values()],
            "credit_balance": format_amount(self.balance, currency),
            "refused": self.refused,
        }
        return ScenarioResult(output, currency=currency, timezone=str(self.context.tz))

    def _advance(self, *, until: datetime, inclusive: bool) -> None:
        while True:
            due_subs = [
                (due, order, sub)
                for order, sub in enumerate(self.subs.values())
                if (due := next_due(sub)) is not None
                and (due <= until if inclusive else due < until)
            ]
            if not due_subs:
                return
            _, _, sub = min(due_subs, key=lambda item: (item[0], item[1]))
            outcome = advance(sub, context=self.context)
            self.subs[sub.product] = outcome.subscription
            if outcome.invoice is not None:
                self._issue(outcome.invoice)

    def _event(self, event: ScenarioEvent) -> None:
        try:
            if event.refusal is not None:
                raise event.refusal
            assert event.action is not None
            if self.scenario.corporate and not isinstance(event.action, StartTrial):
                raise CorporateSelfServiceRefused("the customer")
            outcome = apply(
                self.subs.get(event.product),
                event.action,
                at=event.at,
                context=self.context,
                subscription_id=event.product,
            )
        except SubscriptionsError as exc:
            self.refused.append(
                {"event": event.index, "error": type(exc).__name__, "message": str(exc)}
            )
            return
        self.subs[event.product] = outcome.subscription
        if outcome.invoice is not None:
            self._issue(outcome.invoice)

    def _issue(self, invoice: Invoice) -> None:
        settled, self.balance = apply_credit(invoice, self.balance)
        self.invoices.append(self._invoice(settled, len(self.invoices) + 1))

    def _time(self, instant: datetime | None) -> str | None:
        return None if instant is None else instant.astimezone(self.context.tz).isoformat()

    def _invoice(self, invoice: Invoice, number: int) -> dict[str, Any]:
        c = invoice.currency
        return {
            "number": number,
            "document": invoice.document,
            "issued_at": self._time(invoice.issued_at),
            "reason": invoice.reason.value,
            "lines": [
                {
                    "kind": line.kind.value,
                    "product": line.product,
                    "plan": line.plan,
                    "frequency": line.frequency.value,
                    "seats": line.seats,
                    "unit_price": format_amount(line.unit_price, c),
                    "period_start": self._time(line.period.start),
                    "period_end": self._time(line.period.end),
                    "amount": format_amount(line.amount, c),
                }
                for line in invoice.lines
            ],
            "subtotal": format_amount(invoice.subtotal, c),
            "taxes": [
                {
                    "rate": format_rate(tax.rate),
                    "base": format_amount(tax.base, c),
                    "amount": format_amount(tax.amount, c),
                    "treatment": tax.treatment.value,
                    **({"mention": tax.mention} if tax.mention else {}),
                }
                for tax in invoice.taxes
            ],
            "total": format_amount(invoice.total, c),
            "credit_applied": format_amount(invoice.credit_applied, c),
            "amount_due": format_amount(invoice.amount_due, c),
        }

    def _sub(self, sub: Subscription) -> dict[str, Any]:
        period = sub.period
        start = period.start if period else sub.canceled_at
        end = period.end if period else sub.canceled_at
        billed = sub.anchor is not None
        return {
            "product": sub.product,
            "status": sub.status.value,
            "plan": sub.terms.plan,
            "seats": sub.terms.seats,
            "frequency": sub.terms.frequency.value,
            "anchor": self._time(sub.anchor) if billed else None,
            "current_period_start": self._time(start) if billed else None,
            "current_period_end": self._time(end) if billed else None,
        }
