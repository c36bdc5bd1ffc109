"""Invalid scenario documents: every rule of SCENARIOS.md raises ScenarioError, with a
one-line message that names the place; nothing of the document is run."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from subscriptions.errors import InvalidInput, ScenarioError
from subscriptions.scenario import load, run


def valid_doc() -> dict[str, Any]:
    """A document that uses every key of the format once."""
    return {
        "format": 1,
        "currency": "EUR",
        "timezone": "Europe/Rome",
        "policy": {
            "proration": "day",
            "day_count": "actual",
            "plan_change": "realign",
            "credit": "billed",
            "rounding": "half_up",
            "tax_rounding": "invoice",
            "prices_include_tax": False,
            "trial_end": "expire",
        },
        "seller": {"country": "IT"},
        "customer": {
            "country": "ES",
            "region": "ES-MD",
            "vat_number": "ESB58378431",
            "kind": "self_service",
        },
        "catalog": {
            "products": [
                {
                    "id": "remote-support",
                    "name": "Remote Support",
                    "trial_days": 14,
                    "plans": [
                        {
                            "id": "standard",
                            "name": "Standard",
                            "rank": 1,
                            "prices": {"monthly": "30.00", "annual": "300.00"},
                        },
                        {
                            "id": "premium",
                            "name": "Premium",
                            "rank": 2,
                            "prices": {"monthly": "50.00", "annual": "500.00"},
                        },
                    ],
                }
            ]
        },
        "events": [
            {
                "at": "2026-01-05",
                "action": "start_trial",
                "product": "remote-support",
                "plan": "standard",
                "seats": 1,
                "frequency": "monthly",
            },
            {
                "at": "2026-01-12T10:00:00+01:00",
                "action": "subscribe",
                "product": "remote-support",
                "plan": "standard",
                "seats": 5,
                "frequency": "monthly",
                "billing_day": 1,
            },
            {
                "at": "2026-02-20",
                "action": "change",
                "product": "remote-support",
                "plan": "premium",
                "seats": 8,
                "frequency": "monthly",
                "timing": "keep_anchor",
            },
            {
                "at": "2026-03-01",
                "action": "cancel",
                "product": "remote-support",
                "timing": "end_of_term",
            },
            {"at": "2026-03-02", "action": "reactivate", "product": "remote-support"},
        ],
        "until": "2026-04-01",
    }


def test_the_valid_document_runs_without_refusals() -> None:
    result = run(valid_doc())
    assert result["refused"] == []
    assert [i["reason"] for i in result["invoices"]] == [
        "subscribe",
        "renewal",
        "change",
        "renewal",
    ]
    assert result["invoices"][0]["taxes"][0]["treatment"] == "reverse_charge"


Mutation = Callable[[dict[str, Any]], None]


def _walk(doc: Any, path: str) -> tuple[Any, str | int]:
    keys: list[str | int] = [int(k) if k.isdigit() else k for k in path.split(".")]
    node = doc
    for key in keys[:-1]:
        node = node[key]
    return node, keys[-1]


def put(path: str, value: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        node, key = _walk(doc, path)
        node[key] = value

    return mutate


def drop(path: str) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        node, key = _walk(doc, path)
        del node[key]

    return mutate


def every(*mutations: Mutation) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(doc)

    return mutate


PLAN0 = "catalog.products.0.plans.0"
PRODUCT0_PLACE = "catalog.products.remote-support"
PLAN0_PLACE = f"{PRODUCT0_PLACE}.plans.standard"

# (case id, mutation, the place the message must name)
CASES: list[tuple[str, Mutation, str]] = [
    # wrong JSON types, at every level
    ("format-string", put("format", "1"), "format"),
    ("format-float", put("format", 1.0), "format"),
    ("format-bool", put("format", True), "format"),
    ("format-2", put("format", 2), "format"),
    ("currency-number", put("currency", 978), "currency"),
    ("timezone-number", put("timezone", 1), "timezone"),
    ("policy-array", put("policy", []), "policy"),
    ("policy-null", put("policy", None), "policy"),
    ("seller-string", put("seller", "IT"), "seller"),
    ("seller-country-number", put("seller.country", 380), "seller.country"),
    ("customer-string", put("customer", "ES"), "customer"),
    ("customer-country-number", put("customer.country", 724), "customer.country"),
    ("customer-region-number", put("customer.region", 5), "customer.region"),
    ("customer-vat-number", put("customer.vat_number", 12345678), "customer.vat_number"),
    ("customer-kind-bool", put("customer.kind", True), "customer.kind"),
    ("catalog-array", put("catalog", []), "catalog"),
    ("products-object", put("catalog.products", {}), "catalog.products"),
    ("product-string", put("catalog.products.0", "remote-support"), "catalog.products[0]"),
    ("product-id-number", put("catalog.products.0.id", 7), "catalog.products[0].id"),
    ("product-name-number", put("catalog.products.0.name", 7), f"{PRODUCT0_PLACE}.name"),
    (
        "trial-days-string",
        put("catalog.products.0.trial_days", "14"),
        "catalog.products.remote-support.trial_days",
    ),
    (
        "trial-days-float",
        put("catalog.products.0.trial_days", 14.0),
        "catalog.products.remote-support.trial_days",
    ),
    ("plans-object", put("catalog.products.0.plans", {}), "catalog.products.remote-support.plans"),
    ("plan-id-number", put(f"{PLAN0}.id", 1), "catalog.products.remote-support.plans[0].id"),
    ("plan-rank-string", put(f"{PLAN0}.rank", "1"), f"{PLAN0_PLACE}.rank"),
    ("plan-rank-float", put(f"{PLAN0}.rank", 1.5), f"{PLAN0_PLACE}.rank"),
    ("plan-rank-bool", put(f"{PLAN0}.rank", True), f"{PLAN0_PLACE}.rank"),
    ("plan-prices-array", put(f"{PLAN0}.prices", ["30.00"]), f"{PLAN0_PLACE}.prices"),
    ("events-object", put("events", {}), "events"),
    ("event-string", put("events.0", "start_trial"), "events[0]"),
    ("event-at-number", put("events.0.at", 20260105), "events[0].at"),
    ("event-action-number", put("events.0.action", 1), "events[0].action"),
    ("event-product-number", put("events.0.product", 1), "events[0].product"),
    ("event-plan-number", put("events.1.plan", 1), "events[1].plan"),
    ("event-seats-string", put("events.1.seats", "5"), "events[1].seats"),
    ("event-seats-float", put("events.1.seats", 5.0), "events[1].seats"),
    ("event-seats-bool", put("events.1.seats", True), "events[1].seats"),
    ("event-frequency-number", put("events.1.frequency", 12), "events[1].frequency"),
    ("event-billing-day-string", put("events.1.billing_day", "1"), "events[1].billing_day"),
    ("change-seats-string", put("events.2.seats", "8"), "events[2].seats"),
    ("change-timing-number", put("events.2.timing", 1), "events[2].timing"),
    ("cancel-timing-bool", put("events.3.timing", True), "events[3].timing"),
    ("until-number", put("until", 20260401), "until"),
    ("until-null", put("until", None), "until"),
    # missing keys, at every level
    ("missing-format", drop("format"), "'format'"),
    ("missing-currency", drop("currency"), "'currency'"),
    ("missing-customer", drop("customer"), "'customer'"),
    ("missing-catalog", drop("catalog"), "'catalog'"),
    ("missing-events", drop("events"), "'events'"),
    ("missing-until", drop("until"), "'until'"),
    ("missing-seller-country", drop("seller.country"), "seller"),
    ("missing-customer-country", drop("customer.country"), "customer"),
    ("missing-products", drop("catalog.products"), "catalog"),
    ("missing-product-id", drop("catalog.products.0.id"), "catalog.products[0]"),
    ("missing-product-plans", drop("catalog.products.0.plans"), "catalog.products.remote-support"),
    ("missing-plan-id", drop(f"{PLAN0}.id"), "catalog.products.remote-support.plans[0]"),
    ("missing-plan-rank", drop(f"{PLAN0}.rank"), PLAN0_PLACE),
    ("missing-plan-prices", drop(f"{PLAN0}.prices"), PLAN0_PLACE),
    ("missing-event-at", drop("events.0.at"), "events[0]"),
    ("missing-event-action", drop("events.0.action"), "events[0]"),
    ("missing-event-product", drop("events.4.product"), "events[4]"),
    ("missing-trial-plan", drop("events.0.plan"), "events[0]"),
    ("missing-trial-seats", drop("events.0.seats"), "events[0]"),
    ("missing-trial-frequency", drop("events.0.frequency"), "events[0]"),
    ("missing-subscribe-plan", drop("events.1.plan"), "events[1]"),
    ("missing-subscribe-seats", drop("events.1.seats"), "events[1]"),
    ("missing-subscribe-frequency", drop("events.1.frequency"), "events[1]"),
    (
        "change-without-terms",
        every(drop("events.2.plan"), drop("events.2.seats"), drop("events.2.frequency")),
        "events[2]",
    ),
    ("missing-cancel-product", drop("events.3.product"), "events[3]"),
    # unknown keys, at every level (a typo must not silently change a bill)
    ("unknown-top", put("polcy", {}), "polcy"),
    ("unknown-policy", put("policy.proation", "day"), "policy"),
    ("unknown-seller", put("seller.vat_number", "IT00743110157"), "seller"),
    ("unknown-customer", put("customer.vat", "ESB58378431"), "customer"),
    ("unknown-catalog", put("catalog.prices", {}), "catalog.prices"),
    ("catalog-other-currency", put("catalog.currency", "USD"), "catalog.currency"),
    ("unknown-product", put("catalog.products.0.trial", 14), "catalog.products.remote-support"),
    ("unknown-plan", put(f"{PLAN0}.price", "30.00"), PLAN0_PLACE),
    ("unknown-event", put("events.1.seat", 5), "events[1]"),
    ("billing-day-on-change", put("events.2.billing_day", 1), "events[2]"),
    ("timing-on-subscribe", put("events.1.timing", "realign"), "events[1]"),
    ("plan-on-cancel", put("events.3.plan", "standard"), "events[3]"),
    ("seats-on-reactivate", put("events.4.seats", 1), "events[4]"),
    ("unknown-action", put("events.0.action", "upgrade"), "events[0].action"),
    # unknown policy values
    ("policy-proration", put("policy.proration", "daily"), "policy.proration"),
    ("policy-day-count", put("policy.day_count", "30_360"), "policy.day_count"),
    ("policy-plan-change", put("policy.plan_change", "immediate"), "policy.plan_change"),
    ("policy-credit", put("policy.credit", "ledger"), "policy.credit"),
    ("policy-rounding", put("policy.rounding", "half_down"), "policy.rounding"),
    ("policy-tax-rounding", put("policy.tax_rounding", "total"), "policy.tax_rounding"),
    ("policy-inclusive", put("policy.prices_include_tax", "yes"), "policy.prices_include_tax"),
    ("policy-trial-end", put("policy.trial_end", "charge"), "policy.trial_end"),
    ("policy-case", put("policy.proration", "Day"), "policy.proration"),
    ("customer-kind", put("customer.kind", "enterprise"), "customer.kind"),
    ("change-timing", put("events.2.timing", "now"), "events[2].timing"),
    ("cancel-timing", put("events.3.timing", "later"), "events[3].timing"),
    # catalog errors
    (
        "duplicate-product",
        lambda d: d["catalog"]["products"].append(copy.deepcopy(d["catalog"]["products"][0])),
        "catalog",
    ),
    ("duplicate-plan", put("catalog.products.0.plans.1.id", "standard"), PRODUCT0_PLACE),
    ("negative-price", put(f"{PLAN0}.prices.monthly", "-1.00"), f"{PLAN0_PLACE}.prices.monthly"),
    ("price-not-a-number", put(f"{PLAN0}.prices.monthly", "abc"), f"{PLAN0_PLACE}.prices"),
    ("price-sub-cent", put(f"{PLAN0}.prices.monthly", "30.001"), f"{PLAN0_PLACE}.prices"),
    ("price-unknown-frequency", put(f"{PLAN0}.prices.weekly", "7.00"), f"{PLAN0_PLACE}.prices"),
    ("plan-without-prices", put(f"{PLAN0}.prices", {}), PLAN0_PLACE),
    ("product-without-plans", put("catalog.products.0.plans", []), PRODUCT0_PLACE),
    ("unknown-currency", put("currency", "EURO"), "currency"),
    ("unknown-timezone", put("timezone", "Mars/Olympus"), "timezone"),
    # prices must be strings, never JSON numbers
    ("price-int", put(f"{PLAN0}.prices.monthly", 30), f"{PLAN0_PLACE}.prices.monthly"),
    ("price-float", put(f"{PLAN0}.prices.monthly", 30.0), f"{PLAN0_PLACE}.prices.monthly"),
    ("price-null", put(f"{PLAN0}.prices.monthly", None), f"{PLAN0_PLACE}.prices.monthly"),
    # a seller outside the EU
    ("seller-us", put("seller.country", "US"), "seller.country"),
    ("seller-ch", put("seller.country", "CH"), "seller.country"),
    ("seller-gb", put("seller.country", "GB"), "seller.country"),
    # naive datetimes and bad dates
    ("naive-event", put("events.1.at", "2026-01-12T10:00:00"), "events[1].at"),
    ("naive-until", put("until", "2026-04-01T00:00:00"), "until"),
    ("bad-date", put("events.0.at", "2026-13-01"), "events[0].at"),
    ("not-a-date", put("events.0.at", "soon"), "events[0].at"),
    # events out of time order, at or after until
    ("out-of-order", put("events.2.at", "2026-01-10"), "events[2].at"),
    (
        "out-of-order-by-offset",
        put("events.1.at", "2026-01-05T00:30:00+03:00"),
        "events[1].at",
    ),
    ("event-at-until", put("events.4.at", "2026-04-01"), "events[4].at"),
    ("event-after-until", put("until", "2026-03-01T12:00:00+01:00"), "events[4].at"),
    ("until-before-events", put("until", "2026-01-01"), "events[0].at"),
]


@pytest.mark.parametrize(("mutation", "place"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_document(mutation: Mutation, place: str) -> None:
    doc = valid_doc()
    mutation(doc)
    with pytest.raises(ScenarioError) as caught:
        run(doc)
    message = str(caught.value)
    assert message
    assert "\n" not in message
    assert place in message, f"{message!r} does not name {place!r}"
    # load() validates alone, with the same error
    with pytest.raises(ScenarioError) as again:
        load(doc)
    assert str(again.value) == message


def test_the_case_ids_are_unique() -> None:
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("doc", [[], "scenario", 1, None])
def test_a_document_that_is_not_an_object(doc: Any) -> None:
    with pytest.raises(ScenarioError) as caught:
        run(doc)
    assert "\n" not in str(caught.value)


def test_scenario_error_is_an_invalid_input() -> None:
    assert issubclass(ScenarioError, InvalidInput)
    assert issubclass(ScenarioError, ValueError)


def test_an_unknown_customer_country_is_not_silently_out_of_scope() -> None:
    # "DX" is a typo for "DE": taxing it out of scope would silently change the bill.
    doc = valid_doc()
    doc["customer"] = {"country": "DX", "vat_number": None, "kind": "self_service"}
    with pytest.raises(ScenarioError) as caught:
        run(doc)
    assert "customer" in str(caught.value)


# -- well-formed actions that cannot be done are refused, not invalid ------------------


@pytest.mark.parametrize(
    "mutation",
    [
        put("events.1.seats", 0),
        put("events.1.seats", -3),
        put("events.1.plan", "gold"),
        put("events.1.frequency", "weekly"),
        put("events.1.frequency", "quarterly"),
        put("events.1.product", "nope"),
        put("events.2.plan", "gold"),
        put("events.2.seats", 0),
    ],
    ids=[
        "zero-seats",
        "negative-seats",
        "unknown-plan",
        "unknown-frequency",
        "frequency-not-offered",
        "unknown-product",
        "change-unknown-plan",
        "change-zero-seats",
    ],
)
def test_impossible_actions_are_refused_and_the_timeline_goes_on(mutation: Mutation) -> None:
    doc = valid_doc()
    mutation(doc)
    result = run(doc)
    assert result["refused"], result
    for refusal in result["refused"]:
        assert set(refusal) >= {"event", "error", "message"}
        assert isinstance(refusal["event"], int)


def test_optional_keys_may_be_left_out() -> None:
    doc = valid_doc()
    for key in ("timezone", "policy", "seller"):
        del doc[key]
    for key in ("region", "vat_number", "kind"):
        del doc["customer"][key]
    product = doc["catalog"]["products"][0]
    del product["name"]
    del product["trial_days"]
    for plan in product["plans"]:
        del plan["name"]
    del doc["events"][1]["billing_day"]
    del doc["events"][2]["timing"]
    del doc["events"][3]["timing"]
    doc["events"] = doc["events"][1:]  # no trial: trial_days is left out
    result = run(doc)
    assert result["refused"] == []
    assert all(invoice["taxes"] == [] for invoice in result["invoices"])
    assert all(invoice["total"] == invoice["subtotal"] for invoice in result["invoices"])


def test_an_empty_policy_and_empty_events_are_valid() -> None:
    doc = valid_doc()
    doc["policy"] = {}
    doc["events"] = []
    assert run(doc) == {
        "invoices": [],
        "subscriptions": [],
        "credit_balance": "0.00",
        "refused": [],
    }
