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
from .money import Rounding, check_currency, format_amount
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

__all__ = ["Scenario", "load", "run"]

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


@attrs.frozen(kw_only=True)
class ScenarioEvent:
    index: int
    at: datetime
    kind: str
    product: str
    action: Action | None
    refusal: SubscriptionsError | None = None


@attrs.frozen(kw_only=True)
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


def run(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Replay a scenario document and return its output (see ``docs/scenarios.md``)."""
    return _Runner(load(doc)).run()


class _Runner:
    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.context = scenario.context
        self.subs: dict[str, Subscription] = {}
        self.invoices: list[dict[str, Any]] = []
        self.balance = Decimal(0)
        self.refused: list[dict[str, Any]] = []

    def run(self) -> dict[str, Any]:
        for event in self.scenario.events:
            self._advance(until=event.at, inclusive=True)
            self._event(event)
        self._advance(until=self.scenario.until, inclusive=False)
        currency = self.context.currency
        return {
            "invoices": self.invoices,
            "subscriptions": [self._sub(s) for s in self.subs.values()],
            "credit_balance": format_amount(self.balance, currency),
            "refused": self.refused,
        }

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
