"""Bad input at the command line: every kind is refused with one line and exit status 2,
and every table of the database (and the gateway's journal) is as it was."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import CLI_ACCOUNT, cli

from subscriptions.cli import DEMO_CATALOG


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with an account, a paid subscription with an assigned seat, a cart
    item and an open quote."""
    folder = tmp_path_factory.mktemp("book")
    db = folder / "billing.sqlite3"
    catalog = folder / "catalog.toml"
    catalog.write_text(DEMO_CATALOG, encoding="utf-8")
    assert cli(db, "catalog", "load", str(catalog))[0] == 0
    assert cli(db, *CLI_ACCOUNT, "--country", "IT")[0] == 0
    subscribe = ("cart", "subscribe-now", "acme", "remote-support", "--user", "anna")
    assert cli(db, *subscribe, "--seats", "3")[0] == 0
    status, quote = cli(db, "quote", "acme", "--user", "anna")
    assert status == 0
    checkout = ("checkout", "acme", quote["id"], "--user", "anna", "--key", "order-1")
    assert cli(db, *checkout, "--token", "tok_visa")[0] == 0
    assert cli(db, "seats", "assign", "acme", "remote-support", "marco", "--user", "anna")[0] == 0
    assert cli(db, "cart", "add", "acme", "monitoring", "--user", "anna")[0] == 0
    assert cli(db, "quote", "acme", "--user", "anna")[0] == 0
    return db


def _contents(db: Path) -> dict[str, Any]:
    connection = sqlite3.connect(db)
    try:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        state = {t: connection.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables}
    finally:
        connection.close()
    journal = db.with_name(db.name + ".gateway.jsonl")
    state["journal"] = journal.read_bytes() if journal.exists() else b""
    return state


A = ("acme",)
U = ("--user", "anna")
BAD: list[tuple[str, ...]] = [
    # accounts
    ("account", "show", "nobody"),
    ("account", "show", ""),
    ("account", "show", "a b"),
    ("account", "show", "x" * 65),
    (*CLI_ACCOUNT[:3], "acme", *CLI_ACCOUNT[4:], "--country", "IT"),  # exists already
    (*CLI_ACCOUNT, "--country", "XX"),
    (*CLI_ACCOUNT, "--country", "IT", "--currency", "EURO"),
    (*CLI_ACCOUNT, "--country", "IT", "--timezone", "Mars/Base"),
    (*CLI_ACCOUNT[:3], "new one", *CLI_ACCOUNT[4:], "--country", "IT"),
    (*CLI_ACCOUNT[:3], "x" * 100, *CLI_ACCOUNT[4:], "--country", "IT"),
    (*CLI_ACCOUNT[:5], " ", *CLI_ACCOUNT[6:], "--country", "IT"),
    ("account", "vat", *A, "IT00743110158", *U),
    ("account", "vat", *A, "IT02114460963", "--user", "mallory"),
    ("account", "payment-method", *A, "", *U),
    ("account", "payment-method", *A, "tok visa", *U),
    ("account", "payment-method", *A, "tok_visa", "--user", ""),
    # trials
    ("trial", "start", *A, "monitoring", *U, "--seats", "0"),
    ("trial", "start", *A, "monitoring", *U, "--seats", "-3"),
    ("trial", "start", *A, "monitoring", *U, "--seats", "1000001"),
    ("trial", "start", *A, "monitoring", *U, "--seats", "9" * 64),
    ("trial", "start", *A, "monitoring", *U, "--seats", "two"),
    ("trial", "start", *A, "monitoring", *U, "--frequency", "weekly"),
    ("trial", "start", *A, "monitoring", *U, "--plan", "gold"),
    ("trial", "start", *A, "nothing", *U),
    ("trial", "start", *A, "remote-support", *U),  # subscribed already
    ("trial", "start", "nobody", "monitoring", *U),
    # the cart
    ("cart", "add", *A, "monitoring", *U),  # in the cart already
    ("cart", "add", *A, "nothing", *U),
    ("cart", "add", *A, "remote-support", *U, "--seats", "99999999999999999999999"),
    ("cart", "add", *A, "remote-support", *U, "--plan", "gold"),
    ("cart", "edit", *A, "monitoring", *U, "--seats", "0"),
    ("cart", "edit", *A, "monitoring", *U, "--frequency", "daily"),
    ("cart", "edit", *A, "remote-support", *U, "--seats", "2"),  # not in the cart
    ("cart", "remove", *A, "nothing", *U),
    ("cart", "add", *A, "monitoring", "--user", "mallory"),
    ("cart", "show", "nobody"),
    # quotes and checkout
    ("quote", "nobody", *U),
    ("quote", *A, "--user", "mallory"),
    ("checkout", *A, "no-such-quote", *U, "--key", "k-2"),
    ("checkout", *A, "q" * 70, *U, "--key", "k-2"),
    ("checkout", *A, "quote-1", *U, "--key", ""),
    ("checkout", *A, "quote-1", *U, "--key", "a key"),
    ("checkout", *A, "quote-1", *U, "--key", "k" * 300),
    ("checkout", *A, "quote-1", *U, "--key", "k-2", "--token", ""),
    # seats
    ("seats", "assign", *A, "remote-support", "marco", *U),  # assigned already
    ("seats", "assign", *A, "remote-support", "a", "b", "c", *U),  # more than bought
    ("seats", "assign", *A, "remote-support", "bad user", *U),
    ("seats", "assign", *A, "remote-support", "", *U),
    ("seats", "assign", *A, "monitoring", "sara", *U),  # not subscribed
    ("seats", "unassign", *A, "remote-support", "sara", *U),  # not assigned
    ("seats", "list", "nobody", "remote-support"),
    # the bill run and instants
    ("renew", "--until", "2027-01-01T00:00:00+01:00"),  # after now
    ("renew", "--until", "2026-11-01T00:00:00"),  # naive
    ("renew", "--until", "soon"),
    ("trials", "expire", "--until", "9999-12-31T00:00:00+00:00"),
    ("invoices", "nobody"),
    # the catalog
    ("catalog", "load", "/no/such/file.toml"),
    # usage
    ("trial", "start", *A),
    ("cart", "frobnicate", *A),
    ("nothing",),
]


def test_the_cases_are_many_and_distinct() -> None:
    assert len(BAD) >= 60
    assert len(set(BAD)) == len(BAD)


@pytest.mark.parametrize("argv", BAD, ids=[" ".join(a)[:60] for a in BAD])
def test_bad_input_changes_nothing(
    book: Path, argv: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    before = _contents(book)
    capsys.readouterr()
    status, _ = cli(book, *argv)
    err = capsys.readouterr().err
    assert status == 2, err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    assert _contents(book) == before
