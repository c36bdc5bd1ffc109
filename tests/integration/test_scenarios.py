"""Every scenario in tests/scenarios replays to its expected output."""

from __future__ import annotations

import json
from decimal import ROUND_FLOOR, Context, localcontext
from pathlib import Path

import pytest
from tests.scenario_compare import differences

from subscriptions.scenario import run

SCENARIOS = Path(__file__).parent.parent / "scenarios"
CASES = sorted(p.name.removesuffix(".expected.json") for p in SCENARIOS.glob("*.expected.json"))


def test_the_shared_examples_are_all_here() -> None:
    shared = {
        "bad_actions_refused",
        "corporate_self_service_refused",
        "halfway_upgrade_by_second",
        "month_end_anchor",
        "tax_inclusive_annual",
        "trial_expires_unpaid",
        "trial_subscribe_upgrade_realign",
        "vat_oss_fr_consumer",
        "vat_out_of_scope_us",
        "vat_reverse_charge_de_business",
    }
    assert shared <= set(CASES)


@pytest.mark.parametrize("name", CASES)
def test_scenario(name: str) -> None:
    doc = json.loads((SCENARIOS / f"{name}.json").read_text(encoding="utf-8"))
    expected = json.loads((SCENARIOS / f"{name}.expected.json").read_text(encoding="utf-8"))
    problems = differences(expected, run(doc))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", CASES)
def test_scenario_ignores_the_callers_decimal_context(name: str) -> None:
    # A host may have set a narrow decimal context for its own reasons: three digits,
    # rounding down. Every sum and product of the library names its own exact context.
    doc = json.loads((SCENARIOS / f"{name}.json").read_text(encoding="utf-8"))
    expected = json.loads((SCENARIOS / f"{name}.expected.json").read_text(encoding="utf-8"))
    with localcontext(Context(prec=3, rounding=ROUND_FLOOR)):
        result = run(doc)
    problems = differences(expected, result)
    assert not problems, "\n".join(problems)
