"""A database says whether it is a simulation: only a simulation takes the fake gateway
and ``--now``, so that nobody marks a real book's invoices paid with no money moved, or
bills it at a time of their choosing."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import CLI_ACCOUNT, CLI_NOW, cli

from subscriptions.adapters.migrations import LATEST
from subscriptions.adapters.sqlite import SQLiteStore
from subscriptions.cli import DEMO_CATALOG, main


def run(db: Path, *argv: str) -> tuple[int, Any]:
    """``subscriptions --db DB --json ARGV...`` with no clock set."""
    out = io.StringIO()
    try:
        status = main(["--db", str(db), "--json", *argv], stdout=out)
    except SystemExit as exit:
        status = int(exit.code or 0)
    text = out.getvalue()
    return status, json.loads(text) if text.strip() else None


@pytest.fixture
def catalog_file(tmp_path: Path) -> Path:
    path = tmp_path / "catalog.toml"
    path.write_text(DEMO_CATALOG, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _no_gateway_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SUBSCRIPTIONS_GATEWAY", "STRIPE_API_KEY", "STRIPE_API_BASE"):
        monkeypatch.delenv(name, raising=False)


def test_a_simulation_is_created_and_stays_one(tmp_path: Path, capsys: Any) -> None:
    db = tmp_path / "sim.sqlite3"
    assert run(db, "db", "init", "--simulation") == (0, {"simulation": True})
    assert run(db, "db", "init", "--simulation") == (0, {"simulation": True})
    status, _ = run(db, "db", "init")
    assert status == 2
    assert "already a simulation, and stays so" in capsys.readouterr().err


def test_a_real_book_refuses_the_fake_gateway_and_a_hand_set_clock(
    tmp_path: Path, catalog_file: Path, capsys: Any
) -> None:
    db = tmp_path / "real.sqlite3"
    assert run(db, "db", "init") == (0, {"simulation": False})
    assert run(db, "catalog", "load", str(catalog_file))[0] == 0
    status, _ = run(db, "--now", CLI_NOW, "catalog", "show")
    assert status == 2
    assert (
        "--now (or $SUBSCRIPTIONS_NOW) sets the clock by hand, which only a simulation may do"
        in (capsys.readouterr().err)
    )
    status, _ = run(db, "--gateway", "fake", "catalog", "show")
    assert status == 2
    assert "the fake gateway marks invoices paid with no money moved" in capsys.readouterr().err
    # A command that moves no money needs no gateway key.
    status, shown = run(db, "catalog", "show")
    assert status == 0
    assert shown["seller"]["name"]
    # One that does names the setting it needs.
    status, _ = run(db, *CLI_ACCOUNT, "--country", "IT", "--payment-method", "pm_card_visa")
    assert status == 0
    assert run(db, "cart", "add", "acme", "monitoring", "--user", "anna")[0] == 0
    status, quote = run(db, "quote", "acme", "--user", "anna")
    assert status == 0
    status, _ = run(db, "checkout", "acme", quote["id"], "--user", "anna", "--key", "k1")
    assert status == 2
    assert "$STRIPE_API_KEY" in capsys.readouterr().err


def test_a_database_without_a_marker_is_a_real_book(tmp_path: Path, capsys: Any) -> None:
    db = tmp_path / "unmarked.sqlite3"
    SQLiteStore(db).close()  # a host application's book: no marker
    status, _ = run(db, "--now", CLI_NOW, "catalog", "show")
    assert status == 2
    assert "this database is a real book" in capsys.readouterr().err
    status, _ = run(db, "--gateway", "fake", "reconcile")
    assert status == 2


def test_a_book_with_records_never_becomes_a_simulation(tmp_path: Path, capsys: Any) -> None:
    real = tmp_path / "real.sqlite3"
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(DEMO_CATALOG, encoding="utf-8")
    SQLiteStore(real).close()  # made by a host, which then loaded a catalog in it
    assert run(real, "catalog", "load", str(catalog))[0] == 0
    status, _ = run(real, "db", "init", "--simulation")
    assert status == 2
    assert "already holds records, so it is a real book" in capsys.readouterr().err
    status, _ = run(real, "--now", CLI_NOW, "db", "init")
    assert status == 2


def test_an_unknown_gateway_is_refused(tmp_path: Path, monkeypatch: Any, capsys: Any) -> None:
    db = tmp_path / "sim.sqlite3"
    run(db, "db", "init", "--simulation")
    status, _ = run(db, "--gateway", "paypal", "catalog", "show")
    assert status == 2
    assert "'paypal' is not one of 'fake', 'stripe'" in capsys.readouterr().err
    monkeypatch.setenv("SUBSCRIPTIONS_GATEWAY", "paypal")
    status, _ = run(db, "catalog", "show")
    assert status == 2
    assert "unknown gateway 'paypal'; choose one of: fake, stripe" in capsys.readouterr().err


def test_the_demo_database_is_a_simulation(tmp_path: Path) -> None:
    db = tmp_path / "demo.sqlite3"
    assert main(["--db", str(db), "demo"], stdout=io.StringIO()) == 0
    status, report = run(db, "--now", "2027-01-02T10:00:00+01:00", "renew")
    assert status == 0
    assert (report["renewed"], report["charged"]) == (1, 1)


def test_vat_numbers_are_checked_again_from_the_command_line(
    tmp_path: Path, catalog_file: Path, vies_standin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUBSCRIPTIONS_VIES_URL", vies_standin.url())
    db = tmp_path / "sim.sqlite3"
    assert cli(db, "catalog", "load", str(catalog_file))[0] == 0
    german = ("--line1", "Unter den Linden 5", "--city", "Berlin", "--postal-code", "10117")
    status, _ = cli(
        db, "account", "create", "--id", "gmbh", "--name", "Müller GmbH", *german,
        "--country", "DE", "--contact", "anna",
    )  # fmt: skip
    assert status == 0
    status, account = cli(db, "account", "vat", "gmbh", "DE136695976", "--user", "anna")
    assert status == 0
    assert account["vat_check"]["status"] == "valid"
    assert account["vat_check"]["consultation_number"]  # the seller's number was sent
    # Not due yet: nothing is sent.
    assert cli(db, "vat", "revalidate")[1]["checked"] == 0
    later = "2027-03-01T09:00:00+01:00"
    status, report = cli(db, "vat", "revalidate", now=later)
    assert status == 0
    assert (report["checked"], report["valid"]) == (1, ["gmbh"])


def test_a_command_never_creates_or_migrates_a_database(tmp_path: Path, capsys: Any) -> None:
    missing = tmp_path / "nothing.sqlite3"
    for argv in (("catalog", "show"), ("accounts",), ("renew", "--dry-run")):
        status, _ = run(missing, *argv)
        assert status == 2
        assert "create one with 'subscriptions db init" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # no database, no gateway journal
    assert run(missing, "db", "status") == (
        0,
        {
            "database": str(missing),
            "version": None,
            "expected": LATEST,
            "state": "missing",
            "simulation": None,
        },
    )
    assert list(tmp_path.iterdir()) == []
    status, refused = run(missing, "db", "migrate")  # migrates; never creates
    assert status == 2
    assert refused["error"]["message"].startswith(f"no database at {missing} to migrate")
    assert list(tmp_path.iterdir()) == []
    assert run(missing, "db", "init", "--simulation")[0] == 0
    assert run(missing, "db", "status")[1]["state"] == "current"
    assert run(missing, "db", "status")[1]["simulation"] is True
    assert run(missing, "db", "migrate")[1]["from"] == LATEST  # already there


def test_an_old_database_is_read_only_after_db_migrate(tmp_path: Path, capsys: Any) -> None:
    import shutil

    old = tmp_path / "old.sqlite3"
    shutil.copyfile(Path(__file__).parents[1] / "fixtures" / "schema1.sqlite3", old)
    before = old.read_bytes()
    status, _ = run(old, "accounts")
    assert status == 2
    assert "run `subscriptions db migrate`" in capsys.readouterr().err
    assert old.read_bytes() == before  # not migrated by a read
    assert run(old, "db", "status")[1]["state"] == "old"
    assert run(old, "db", "migrate")[1]["from"] == 1
    assert run(old, "db", "status")[1]["state"] == "current"
    capsys.readouterr()
    run(old, "accounts")  # past the schema now: what it lacks is a catalog
    assert "no catalog in this database yet" in capsys.readouterr().err


def test_a_simulations_clock_only_moves_forward(tmp_path: Path, catalog_file: Path) -> None:
    db = tmp_path / "sim.sqlite3"
    later, earlier = "2031-03-01T09:00:00+01:00", "2031-02-01T09:00:00+01:00"
    assert run(db, "db", "init", "--simulation")[0] == 0
    assert run(db, "--now", later, "catalog", "load", str(catalog_file))[0] == 0
    status, refused = run(db, "--now", earlier, "accounts")
    assert status == 2
    assert refused["error"]["message"].startswith(
        "this simulation's clock is at 2031-03-01T09:00:00+01:00, and time only moves forward"
    )
    # Without --now, a command acts at the simulation's instant, not the real clock's.
    argv = ["account", "create", "--id", "acme", "--name", "ACME", "--line1", "Via Po 2",
            "--city", "Torino", "--postal-code", "10123", "--country", "IT",
            "--contact", "anna"]  # fmt: skip
    assert run(db, *argv)[0] == 0
    (opened,) = run(db, "events", "acme")[1]
    assert opened["at"] == "2031-03-01T08:00:00+00:00"
    # A command that fails moves nothing.
    status, _ = run(db, "--now", "2032-01-01T00:00:00+01:00", "account", "show", "nobody")
    assert status == 2
    assert run(db, "--now", "2031-06-01T00:00:00+02:00", "accounts")[0] == 0
    assert run(db, "--now", "2031-05-01T00:00:00+02:00", "accounts")[0] == 2
