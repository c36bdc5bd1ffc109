"""The command line refuses bad input as the API does: a seat count of 0, an instant
out of range; and reads currency and country codes in any case."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import CLI_ACCOUNT, cli

from subscriptions.cli import DEMO_CATALOG


def _create(db: Path, *extra: str) -> int:
    return cli(db, *CLI_ACCOUNT, *extra)[0]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "billing.sqlite3"
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(DEMO_CATALOG, encoding="utf-8")
    assert cli(path, "catalog", "load", str(catalog))[0] == 0
    return path


def test_currency_and_country_codes_are_read_in_any_case(db: Path) -> None:
    assert _create(db, "--country", "it", "--currency", "eur") == 0
    status, account = cli(db, "account", "show", "acme")
    assert status == 0
    assert "EUR" in json.dumps(account)
    assert "eur" not in json.dumps(account)


@pytest.mark.parametrize("seats", ["0", "-1", "1000001"])
def test_a_trial_of_a_bad_seat_count_is_refused(
    db: Path, seats: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _create(db, "--country", "IT") == 0
    capsys.readouterr()
    status, _ = cli(
        db, "trial", "start", "acme", "remote-support", "--user", "anna", "--seats", seats
    )
    assert status != 0
    assert "seat count" in capsys.readouterr().err
    status, shown = cli(db, "account", "show", "acme")
    assert status == 0
    assert "remote-support" not in json.dumps(shown)


def test_an_instant_out_of_range_is_refused(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _create(db, "--country", "IT") == 0
    capsys.readouterr()
    status, _ = cli(
        db,
        "trial",
        "start",
        "acme",
        "remote-support",
        "--user",
        "anna",
        now="9999-12-30T09:00:00+00:00",
    )
    assert status != 0
    err = capsys.readouterr().err
    assert "out of range" in err
    assert "Traceback" not in err
