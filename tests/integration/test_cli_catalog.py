"""``subscriptions catalog load``: the one document reader, and a catalog change
checked against what the book uses; a refusal leaves the saved catalog as it was."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import CLI_ACCOUNT, cli

from subscriptions.cli import DEMO_CATALOG


def load(db: Path, tmp_path: Path, text: str, name: str = "catalog.toml") -> int:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return cli(db, "catalog", "load", str(path))[0]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "billing.sqlite3"
    assert load(path, tmp_path, DEMO_CATALOG) == 0
    return path


def _subscribe(db: Path) -> None:
    status, _ = cli(db, *CLI_ACCOUNT, "--country", "IT")
    assert status == 0
    assert cli(db, "trial", "start", "acme", "remote-support", "--user", "anna")[0] == 0


def _saved(db: Path) -> Any:
    return cli(db, "catalog", "show")[1]


def test_what_show_prints_loads_back_unchanged(db: Path, tmp_path: Path) -> None:
    shown = _saved(db)
    assert shown["currency"] == "EUR"
    assert shown["products"][0]["plans"][0]["prices"] == {"monthly": "30.00", "annual": "300.00"}
    assert load(db, tmp_path, json.dumps(shown), name="again.json") == 0
    assert _saved(db) == shown


@pytest.mark.parametrize(
    ("change", "place"),
    [
        (("trial_days = 14", "trial_day = 14"), "products.remote-support.trial_day"),
        (("rank = 2", "rank = 1"), "products.remote-support"),
        (('"IT00743110157"', '"IT00743110158"'), "seller"),
        (('country = "IT"', 'country = "US"'), "seller"),
        (
            (
                'address = { line1 = "Via Roma 1", city = "Milano", postal_code = "20121" }',
                'address = "Via Roma 1"',
            ),
            "seller.address",
        ),
        (('monthly = "30.00"', 'monthly = "1e400"'), "products.remote-support.plans.standard"),
        (('monthly = "30.00"', "monthly = 30"), "products.remote-support.plans.standard"),
    ],
)
def test_a_bad_file_is_refused_with_its_path_and_nothing_changes(
    db: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: tuple[str, str],
    place: str,
) -> None:
    before = _saved(db)
    capsys.readouterr()
    assert change[0] in DEMO_CATALOG
    assert load(db, tmp_path, DEMO_CATALOG.replace(change[0], change[1], 1)) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert place in err
    assert "Traceback" not in err
    assert _saved(db) == before


def test_a_plan_in_use_may_not_go(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _subscribe(db)
    before = _saved(db)
    capsys.readouterr()
    without_standard = DEMO_CATALOG.replace(
        """  [[products.plans]]
  id = "standard"
  name = "Standard"
  rank = 1
  prices = { monthly = "30.00", annual = "300.00" }
""",
        "",
    )
    assert without_standard != DEMO_CATALOG
    assert load(db, tmp_path, without_standard) == 2
    err = capsys.readouterr().err
    assert "remote-support/standard monthly in EUR" in err
    assert "no plan 'standard'" in err
    assert _saved(db) == before
    # A new price is fine: subscribers pay it from their next renewal.
    assert load(db, tmp_path, DEMO_CATALOG.replace('monthly = "30.00"', 'monthly = "32.00"')) == 0
    assert _saved(db)["products"][0]["plans"][0]["prices"]["monthly"] == "32.00"


def test_the_documented_example_loads_as_written(tmp_path: Path) -> None:
    """docs/catalog.md's example is a file `catalog load` takes as it stands."""
    import re

    doc = Path(__file__).resolve().parents[2] / "docs" / "catalog.md"
    (example,) = re.findall(r"```toml\n(.*?)```", doc.read_text(encoding="utf-8"), flags=re.S)
    path = tmp_path / "catalog.toml"
    path.write_text(example, encoding="utf-8")
    db = tmp_path / "book.sqlite3"
    status, loaded = cli(db, "catalog", "load", str(path))
    assert status == 0
    assert loaded["seller"]["name"] == "Remote Tools S.r.l."
    assert [p["id"] for p in loaded["products"]] == ["remote-support"]
    assert cli(db, "catalog", "show") == (0, loaded)
