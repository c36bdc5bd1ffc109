"""Conventions a script can rely on: global options anywhere on the line, errors as
JSON with ``--json``, amounts with exactly their currency's digits, instants in the
account's offset, local dates in tables, and no password printed."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import CLI_ACCOUNT, CLI_NOW, cli

from subscriptions.cli import DEMO_CATALOG, hoisted, main
from subscriptions.cli.output import redacted_url
from subscriptions.money import shown_amount


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        status = main(list(argv), stdout=out)
    except SystemExit as exit:
        status = int(exit.code or 0)
    return status, out.getvalue()


@pytest.fixture
def book(tmp_path: Path) -> Path:
    """A simulation with the demo catalog and ACME (Rome, paying with tok_visa)."""
    db = tmp_path / "book.sqlite3"
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(DEMO_CATALOG, encoding="utf-8")
    assert cli(db, "catalog", "load", str(catalog))[0] == 0
    assert cli(db, *CLI_ACCOUNT, "--country", "IT", "--payment-method", "tok_visa")[0] == 0
    return db


def test_global_options_go_anywhere_on_the_line(book: Path) -> None:
    status, text = run("account", "show", "acme", "--json", "--db", str(book), "--now", CLI_NOW)
    assert status == 0
    assert json.loads(text)["account"]["id"] == "acme"
    status, text = run(f"--db={book}", "account", "show", "acme", f"--now={CLI_NOW}", "--json")
    assert status == 0
    assert json.loads(text)["account"]["name"] == "ACME S.r.l."


def test_hoisting_leaves_everything_after_a_double_dash() -> None:
    assert hoisted(["simulate", "--", "--json"]) == ["simulate", "--", "--json"]
    assert hoisted(["--json", "renew"]) == ["--json", "renew"]


@pytest.mark.parametrize(
    ("argv", "kind", "words"),
    [
        (("account", "show", "nobody"), "NotFound", "no account 'nobody'"),
        (("account", "show"), "UsageError", "Missing argument 'ACCOUNT'"),
        (
            ("renew", "--until", "tomorrow"),
            "UsageError",
            "--until 'tomorrow' is not an ISO 8601 instant",
        ),
        (("frobnicate",), "UsageError", "No such command 'frobnicate'"),
    ],
)
def test_errors_are_json_on_stdout_with_status_2(
    book: Path, argv: tuple[str, ...], kind: str, words: str, capsys: Any
) -> None:
    status, text = run("--db", str(book), "--now", CLI_NOW, *argv, "--json")
    assert status == 2
    document = json.loads(text)
    assert set(document) == {"error"}
    assert document["error"]["type"] == kind
    assert words in document["error"]["message"]
    assert "error:" in capsys.readouterr().err  # and the one line on stderr, as ever


def test_amounts_have_their_currencys_digits_and_instants_the_accounts_offset(
    book: Path,
) -> None:
    assert cli(book, "cart", "subscribe-now", "acme", "remote-support", "--user", "anna")[0] == 0
    status, quote = cli(book, "quote", "acme", "--user", "anna")
    assert status == 0
    assert quote["credit_applied"] == "0.00"
    assert quote["amount_due"] == "36.60"
    assert quote["invoice"]["subtotal"] == "30.00"
    assert quote["expires_at"].endswith("+01:00")  # Rome in November
    status, order = cli(book, "checkout", "acme", quote["id"], "--user", "anna", "--key", "k1")
    assert status == 0
    assert order["invoice_number"] == "INV-000001"
    assert order["created_at"].endswith("+01:00")
    status, shown = cli(book, "catalog", "show")
    prices = shown["products"][0]["plans"][0]["prices"]
    assert prices["monthly"] == "30.00"


def test_a_quote_table_shows_local_dates(book: Path) -> None:
    cli(book, "cart", "subscribe-now", "acme", "remote-support", "--user", "anna")
    status, text = run("--db", str(book), "--now", CLI_NOW, "quote", "acme", "--user", "anna")
    assert status == 0
    assert "valid until 2026-11-02T09:30+01:00" in text
    assert "2026-11-02 .. 2026-12-02" in text
    assert ".000" not in text  # no microseconds


def test_amounts_are_never_rounded_away() -> None:
    from decimal import Decimal

    assert shown_amount(Decimal("12.3456"), "EUR") == "12.3456"
    assert shown_amount(Decimal("5.1"), "KWD") == "5.100"


def test_a_database_password_is_never_printed() -> None:
    url = "postgresql://billing:hunter2@127.0.0.1:5432/book"
    assert "hunter2" not in redacted_url(url)
    assert redacted_url("postgresql://127.0.0.1/book") == "postgresql://127.0.0.1/book"


def test_a_global_option_at_the_end_without_its_value_is_named(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, text = run("accounts", "--json", "--db")
    assert status == 2
    assert json.loads(text)["error"]["message"].startswith("option --db needs a value")
    assert "option --db needs a value" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("db", "said"),
    [("", "--db is empty"), ("mysql://u:secret@h/x", "mysql://u:***@h/x is not a database")],
)
def test_a_database_the_command_line_cannot_open_is_refused(
    db: str, said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    status, text = run("--db", db, "--json", "accounts")
    assert status == 2
    assert said in json.loads(text)["error"]["message"]
    assert list(tmp_path.iterdir()) == []


def test_examples_and_demo_print_json_too(tmp_path: Path) -> None:
    status, text = run("examples", "--json")
    assert status == 0
    assert {"name": "trial_then_upgrade", "events": 3} in json.loads(text)
    status, text = run("demo", "--json", "--db", str(tmp_path / "demo.sqlite3"))
    assert status == 0
    demo = json.loads(text)
    assert demo["order"]["state"] == "succeeded"
    assert demo["invoice_number"] == "INV-000001"
    assert demo["confirmation"]["subject"]
    assert len(demo["story"]) == 8
