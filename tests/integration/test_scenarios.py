"""Every scenario in tests/scenarios replays to its expected output."""

from __future__ import annotations

import json
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
