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

import contextlib
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, time, tzinfo
from decimal import Decimal
from typing import Any, TypeVar

import attrs
from dateutil.parser import isoparse

from .catalog import Catalog, Plan, Price, Product
from .errors import CorporateSelfServiceRefused, InvalidSeatCount, ScenarioError, SubscriptionsError
from .money import Rounding, check_currency, format_amount
from .periods import Frequency, localize, zone
from .pricing import Customer, Invoice, TaxRounding, TaxSetup, apply_credit
from .proration import CreditBasis, DayCount, Granularity, ProrationPolicy
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
from .vat import (
    EU_MEMBER_STATES,
    format_rate,
    normalize_country,
    normalize_location,
    vat_number_or_none,
)

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


def _fail(path: str, message: str) -> ScenarioError:
    return ScenarioError(f"{path}: {message}" if path else message)


@contextlib.contextmanager
def _reported_at(path: str) -> Iterator[None]:
    """Report an error of the library raised inside (a catalog's, a currency's) as a
    scenario error at ``path``; a scenario error raised inside keeps its own path."""
    try:
        yield
    except ScenarioError:
        raise
    except SubscriptionsError as exc:
        raise _fail(path, str(exc)) from None


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    return {
        bool: "boolean",
        int: "number",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
    }.get(type(value), type(value).__name__)


def _object(
    value: object,
    path: str,
    required: frozenset[str] | set[str],
    optional: frozenset[str] | set[str],
) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(path, f"expected an object, got {_type_name(value)}")
    for key in value:
        if key not in required and key not in optional:
            allowed = ", ".join(sorted({*required, *optional}))
            raise _fail(path, f"unknown key {key!r} (allowed: {allowed})")
    missing = sorted(k for k in required if k not in value)
    if missing:
        raise _fail(path, f"missing key {missing[0]!r}")
    return value


def _expect(value: object, path: str, kind: type[_T], expected: str) -> _T:
    """``value`` if it is a ``kind``; else a scenario error at ``path`` that says what
    was ``expected`` and what came instead."""
    if not isinstance(value, kind):
        raise _fail(path, f"expected {expected}, got {_type_name(value)}")
    return value


def _str(value: object, path: str) -> str:
    return _expect(value, path, str, "a string")


def _int(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(path, f"expected a whole number, got {_type_name(value)} {value!r}")
    return value


def _bool(value: object, path: str) -> bool:
    return _expect(value, path, bool, "true or false")


def _list(value: object, path: str) -> list[Any]:
    return _expect(value, path, list, "an array")


def _choice(value: object, path: str, enum_type: Callable[[Any], _E], names: list[str]) -> _E:
    text = _str(value, path)
    if text not in names:
        raise _fail(path, f"unknown value {text!r} (use one of {', '.join(names)})")
    return enum_type(text)


def _instant(value: object, path: str, tz: tzinfo) -> datetime:
    text = _str(value, path)
    try:
        if _DATE_ONLY.fullmatch(text):
            return localize(datetime.combine(date.fromisoformat(text), time()), tz).astimezone(UTC)
        parsed = isoparse(text)
    except ValueError:
        raise _fail(path, f"{text!r} is not an ISO date or datetime") from None
    if parsed.tzinfo is None:
        raise _fail(
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
    top = _object(doc, "", _TOP_REQUIRED, _TOP_OPTIONAL)
    if _int(top["format"], "format") != 1:
        raise _fail("format", f"unsupported format {top['format']!r}; this library reads 1")
    currency = _str(top["currency"], "currency")
    with _reported_at("currency"):
        check_currency(currency)
    try:
        tz = zone(_str(top.get("timezone", "UTC"), "timezone"))
    except SubscriptionsError as exc:
        raise _fail("timezone", str(exc)) from None
    policy = _policy(top.get("policy", {}))
    customer_doc = _object(
        top["customer"],
        "customer",
        frozenset({"country"}),
        frozenset({"region", "vat_number", "kind"}),
    )
    try:
        country, region = normalize_location(
            _str(customer_doc["country"], "customer.country"),
            None
            if customer_doc.get("region") is None
            else _str(customer_doc["region"], "customer.region"),
        )
    except SubscriptionsError as exc:
        raise _fail("customer", str(exc)) from None
    kind = customer_doc.get("kind", "self_service")
    kind = _choice(kind, "customer.kind", str, ["self_service", "corporate"])
    raw_number = customer_doc.get("vat_number")
    if raw_number is not None:
        _str(raw_number, "customer.vat_number")
    tax = None
    if "seller" in top:
        seller = _object(top["seller"], "seller", frozenset({"country"}), frozenset())
        try:
            seller_country = normalize_country(_str(seller["country"], "seller.country"))
        except SubscriptionsError as exc:
            raise _fail("seller.country", str(exc)) from None
        if seller_country not in EU_MEMBER_STATES:
            raise _fail(
                "seller.country",
                f"{seller_country!r} is not an EU member state; the built-in rules are EU "
                "VAT for an EU seller",
            )
        number = None if raw_number is None else vat_number_or_none(raw_number, country=country)
        tax = TaxSetup(
            seller_country=seller_country,
            customer=Customer(country=country, region=region, vat_number=number),
        )
    catalog = _catalog(top["catalog"], currency)
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
    doc = _object(value, "policy", frozenset(), _POLICY_KEYS)

    def pick(key: str, enum_type: Any, default: Any) -> Any:
        if key not in doc:
            return default
        return _choice(doc[key], f"policy.{key}", enum_type, _values(enum_type))

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
        prices_include_tax=_bool(include, "policy.prices_include_tax"),
        tax_rounding=pick("tax_rounding", TaxRounding, TaxRounding.INVOICE),
    )


def _catalog(value: object, currency: str) -> Catalog:
    doc = _object(value, "catalog", frozenset({"products"}), frozenset())
    products = []
    for i, raw in enumerate(_list(doc["products"], "catalog.products")):
        path = f"catalog.products[{i}]"
        p = _object(raw, path, frozenset({"id", "plans"}), frozenset({"name", "trial_days"}))
        plans = []
        for j, raw_plan in enumerate(_list(p["plans"], f"{path}.plans")):
            plan_path = f"{path}.plans[{j}]"
            q = _object(
                raw_plan, plan_path, frozenset({"id", "rank", "prices"}), frozenset({"name"})
            )
            prices_doc = q["prices"]
            if not isinstance(prices_doc, Mapping):
                raise _fail(
                    f"{plan_path}.prices", f"expected an object, got {_type_name(prices_doc)}"
                )
            prices = []
            for freq, amount in prices_doc.items():
                price_path = f"{plan_path}.prices.{freq}"
                if freq not in _values(Frequency):
                    raise _fail(
                        price_path,
                        f"unknown frequency {freq!r} (use one of {', '.join(_values(Frequency))})",
                    )
                text = _str(amount, price_path) if not isinstance(amount, (int, float)) else None
                if text is None:
                    raise _fail(price_path, 'write amounts as strings, such as "30.00"')
                with _reported_at(price_path):
                    prices.append(Price(currency=currency, frequency=freq, amount=text))
            plan_id = _str(q["id"], f"{plan_path}.id")
            with _reported_at(plan_path):
                plans.append(
                    Plan(
                        id=plan_id,
                        name=_str(q.get("name", plan_id), f"{plan_path}.name"),
                        rank=_int(q["rank"], f"{plan_path}.rank"),
                        prices=prices,
                    )
                )
        trial_days = p.get("trial_days")
        product_id = _str(p["id"], f"{path}.id")
        with _reported_at(path):
            products.append(
                Product(
                    id=product_id,
                    name=_str(p.get("name", product_id), f"{path}.name"),
                    plans=plans,
                    trial_days=None
                    if trial_days is None
                    else _int(trial_days, f"{path}.trial_days"),
                )
            )
    with _reported_at("catalog"):
        return Catalog(products=products)


def _events(value: object, tz: tzinfo, until: datetime) -> tuple[ScenarioEvent, ...]:
    events = []
    previous: datetime | None = None
    for i, raw in enumerate(_list(value, "events")):
        path = f"events[{i}]"
        if not isinstance(raw, Mapping):
            raise _fail(path, f"expected an object, got {_type_name(raw)}")
        kind = _str(raw.get("action"), f"{path}.action") if "action" in raw else None
        if kind is None:
            raise _fail(path, "missing key 'action'")
        if kind not in _ACTION_KEYS:
            raise _fail(
                f"{path}.action",
                f"unknown action {kind!r} (use one of {', '.join(_ACTION_KEYS)})",
            )
        required, optional = _ACTION_KEYS[kind]
        doc = _object(raw, path, required | {"at", "action"}, optional)
        at = _instant(doc["at"], f"{path}.at", tz)
        if previous is not None and at < previous:
            raise _fail(f"{path}.at", "events must be in time order")
        if at >= until:
            raise _fail(f"{path}.at", "event is at or after 'until'; move 'until' later")
        previous = at
        product = _str(doc["product"], f"{path}.product")
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
            plan = _str(doc["plan"], f"{path}.plan")
            seats = _int(doc["seats"], f"{path}.seats")
            frequency = _str(doc["frequency"], f"{path}.frequency")
            billing_day = doc.get("billing_day")
            if billing_day is not None:
                billing_day = _int(billing_day, f"{path}.billing_day")
            terms = Terms(product=product, plan=plan, seats=seats, frequency=frequency)
            if kind == "start_trial":
                return StartTrial(terms=terms), None
            return Subscribe(terms=terms, billing_day=billing_day), None
        if kind == "change":
            if not {"plan", "seats", "frequency"} & doc.keys():
                raise _fail(path, "a change needs at least one of 'plan', 'seats', 'frequency'")
            new_plan = None if doc.get("plan") is None else _str(doc["plan"], f"{path}.plan")
            new_seats = None if doc.get("seats") is None else _int(doc["seats"], f"{path}.seats")
            new_frequency = (
                None
                if doc.get("frequency") is None
                else Frequency.parse(_str(doc["frequency"], f"{path}.frequency"))
            )
            timing = doc.get("timing")
            timing_value = (
                None
                if timing is None
                else _choice(timing, f"{path}.timing", ChangeTiming, _values(ChangeTiming))
            )
            if new_seats is not None and new_seats < 1:
                raise InvalidSeatCount(new_seats)
            return Change(
                plan=new_plan, seats=new_seats, frequency=new_frequency, timing=timing_value
            ), None
        if kind == "cancel":
            timing = doc.get("timing", "end_of_term")
            return Cancel(
                timing=_choice(timing, f"{path}.timing", CancelTiming, _values(CancelTiming))
            ), None
        return Reactivate(), None
    except ScenarioError:
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
