"""The ``subscriptions`` command line: simulate, examples, and its error exits."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from subscriptions.cli import main
from subscriptions.scenario import run

SCENARIOS = Path(__file__).parent.parent / "scenarios"
SCRIPT = Path(sys.executable).parent / "subscriptions"


def scenario(name: str) -> dict[str, Any]:
    return json.loads((SCENARIOS / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture
def story_file(tmp_path: Path) -> Path:
    path = tmp_path / "trial_then_upgrade.json"
    path.write_text(json.dumps(scenario("trial_subscribe_upgrade_realign")), encoding="utf-8")
    return path


def invoke(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main(list(argv), stdout=out)
    return status, out.getvalue()


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert err.endswith("\n")
    return lines[0]


# -- simulate ---------------------------------------------------------------------------


def test_simulate_prints_the_run_as_json(
    story_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out = invoke("simulate", str(story_file))
    assert status == 0
    assert json.loads(out) == run(json.loads(story_file.read_text(encoding="utf-8")))
    assert capsys.readouterr().err == ""


def test_simulate_json_has_amounts_as_strings(story_file: Path) -> None:
    _, out = invoke("simulate", str(story_file), "--format", "json")
    result = json.loads(out)
    first = result["invoices"][0]
    assert first["total"] == "183.00"
    assert first["lines"][0]["amount"] == "150.00"
    assert result["credit_balance"] == "0.00"


def test_simulate_table(story_file: Path) -> None:
    status, out = invoke("simulate", str(story_file), "--format", "table")
    assert status == 0
    assert "Invoice 1" in out
    assert "183.00" in out
    assert "357.29" in out  # the upgrade's total
    assert "Subscriptions:" in out
    assert "remote-support: active, premium x8 monthly" in out
    assert "Credit balance: 0.00" in out


def test_simulate_table_shows_credit_notes_and_refusals(tmp_path: Path) -> None:
    path = tmp_path / "refused.json"
    path.write_text(json.dumps(scenario("bad_actions_refused")), encoding="utf-8")
    status, out = invoke("simulate", str(path), "--format", "table")
    assert status == 0
    assert out.count("Refused event") == 4
    path.write_text(json.dumps(scenario("chargebee_downgrade_keep_anchor_credit")))
    _, out = invoke("simulate", str(path), "--format", "table")
    assert "Credit note 2" in out
    assert "credit applied" in out


def test_refused_actions_still_exit_zero(tmp_path: Path) -> None:
    path = tmp_path / "refused.json"
    path.write_text(json.dumps(scenario("bad_actions_refused")), encoding="utf-8")
    status, out = invoke("simulate", str(path))
    assert status == 0
    assert [r["event"] for r in json.loads(out)["refused"]] == [0, 1, 2, 4]


def test_simulate_reads_standard_input(story_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(story_file.read_text(encoding="utf-8")))
    status, out = invoke("simulate", "-")
    assert status == 0
    assert json.loads(out)["invoices"][0]["number"] == 1


# -- bundled examples -------------------------------------------------------------------


def test_examples_lists_the_bundled_scenarios() -> None:
    status, out = invoke("examples")
    assert status == 0
    names = [line.split("\t")[0] for line in out.splitlines()]
    assert "trial_then_upgrade" in names
    assert names == sorted(names)
    for line in out.splitlines():
        _name, count = line.split("\t")
        assert count.endswith((" event", " events"))


def test_every_listed_example_runs() -> None:
    _, out = invoke("examples")
    for line in out.splitlines():
        name = line.split("\t")[0]
        status, result = invoke("simulate", "--example", name)
        assert status == 0, name
        assert json.loads(result)["invoices"], name


def test_the_bundled_example_is_the_trial_then_upgrade_story() -> None:
    status, out = invoke("simulate", "--example", "trial_then_upgrade")
    assert status == 0
    result = json.loads(out)
    assert result["invoices"][0]["reason"] == "subscribe"
    assert result["invoices"][0]["total"] == "183.00"
    _, table = invoke("simulate", "--example", "trial_then_upgrade", "--format", "table")
    assert table.startswith("Invoice 1")


# -- errors: exit 2 with exactly one line on stderr ------------------------------------


def test_unknown_example(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = invoke("simulate", "--example", "no-such-example")
    assert status == 2
    assert out == ""
    line = one_error_line(capsys.readouterr().err)
    assert "no-such-example" in line
    assert "trial_then_upgrade" in line  # the message says what exists


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere.json"
    status, out = invoke("simulate", str(missing))
    assert status == 2
    assert out == ""
    assert "nowhere.json" in one_error_line(capsys.readouterr().err)


def test_a_directory_is_not_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _ = invoke("simulate", str(tmp_path))
    assert status == 2
    one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("text", ["{", "", "not json", '{"format": 1,}', "[1, 2"])
def test_invalid_json(text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.json"
    path.write_text(text, encoding="utf-8")
    status, out = invoke("simulate", str(path))
    assert status == 2
    assert out == ""
    line = one_error_line(capsys.readouterr().err)
    assert "broken.json" in line
    assert "JSON" in line


@pytest.mark.parametrize(
    ("change", "place"),
    [
        (lambda d: d.pop("until"), "until"),
        (lambda d: d.update(currency="EURO"), "currency"),
        (lambda d: d["seller"].update(country="US"), "seller.country"),
        (lambda d: d["events"][1].update(at="2026-01-12T10:00:00"), "events[1].at"),
        (lambda d: d["events"][1].update(seat=5), "events[1]"),
        (
            lambda d: d["catalog"]["products"][0]["plans"][0]["prices"].update(monthly=30),
            "prices.monthly",
        ),
        (lambda d: d.update(policy={"proration": "hourly"}), "policy.proration"),
    ],
    ids=["missing-until", "currency", "seller", "naive", "unknown-key", "price-number", "policy"],
)
def test_invalid_document(
    change: Any, place: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = scenario("trial_subscribe_upgrade_realign")
    change(doc)
    path = tmp_path / "invalid.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    status, out = invoke("simulate", str(path))
    assert status == 2
    assert out == ""
    line = one_error_line(capsys.readouterr().err)
    assert place in line


def test_a_multi_line_message_is_folded_into_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = scenario("trial_subscribe_upgrade_realign")
    doc["timezone"] = "Mars/\nOlympus"
    path = tmp_path / "invalid.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    status, _ = invoke("simulate", str(path))
    assert status == 2
    one_error_line(capsys.readouterr().err)


# -- the installed console script --------------------------------------------------------


def test_the_console_script(story_file: Path, tmp_path: Path) -> None:
    assert SCRIPT.exists(), f"console script not installed at {SCRIPT}"
    done = subprocess.run(
        [str(SCRIPT), "simulate", str(story_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert json.loads(done.stdout) == run(json.loads(story_file.read_text(encoding="utf-8")))

    doc = scenario("trial_subscribe_upgrade_realign")
    doc["events"].reverse()
    invalid = tmp_path / "invalid.json"
    invalid.write_text(json.dumps(doc), encoding="utf-8")
    failed = subprocess.run(
        [str(SCRIPT), "simulate", str(invalid)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert failed.returncode == 2
    assert failed.stdout == ""
    assert len(failed.stderr.splitlines()) == 1, failed.stderr
    assert "events[1].at" in failed.stderr


def test_usage_errors_are_one_line_with_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    from subscriptions.cli import main as cli_main

    for argv in (["frobnicate"], ["cart", "add", "acct", "app", "--user", "u", "--seats", "x"]):
        assert cli_main(argv, stdout=io.StringIO()) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        assert "--help" in err
