"""The command line's money: a checkout whose answer is lost, reconcile and its report,
the bill run that never runs ahead of the clock, and invoices that show their tax
point."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from conftest import CLI_ACCOUNT, CLI_NOW, cli

from subscriptions.cli import DEMO_CATALOG, main


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "billing.sqlite3"
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(DEMO_CATALOG, encoding="utf-8")
    assert cli(path, "catalog", "load", str(catalog))[0] == 0
    status, _ = cli(path, *CLI_ACCOUNT, "--country", "IT")
    assert status == 0
    return path


def test_a_lost_checkout_answer_is_resolved_by_reconcile(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(db, "cart", "subscribe-now", "acme", "remote-support", "--user", "anna")[0] == 0
    status, quote = cli(db, "quote", "acme", "--user", "anna")
    assert status == 0
    status, order = cli(
        db,
        "checkout",
        "acme",
        quote["id"],
        "--user",
        "anna",
        "--key",
        "k",
        "--token",
        "tok_timeout",
    )
    assert status == 0
    assert order["state"] == "unknown"
    # Another process may not take the attempt over before its lease ends.
    status, report = cli(db, "reconcile")
    assert (status, report["waiting"], report["resolved"]) == (0, 1, [])
    status, report = cli(db, "reconcile", now="2026-11-02T09:06:00+01:00")
    assert status == 0
    assert [a["state"] for a in report["resolved"]] == ["succeeded"]
    assert [o["state"] for o in report["orders"]] == ["succeeded"]
    status, review = cli(db, "reconcile", "--report", now="2026-11-02T09:06:00+01:00")
    assert status == 0
    assert review == {"needs_review": [], "failed_refunds": [], "in_flight": 0}
    status, invoices = cli(
        db, "invoices", "acme", "--user", "anna", now="2026-11-02T09:06:00+01:00"
    )
    assert status == 0
    (invoice,) = invoices
    assert invoice["status"] == "paid"
    # Issued when reconcile completed the order; its VAT was due when it was paid.
    assert invoice["tax_point"] == "2026-11-02T09:00:00+01:00"
    assert invoice["issued_at"].startswith("2026-11-02T")


def test_the_bill_run_never_runs_past_the_clock(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _ = cli(db, "renew", "--until", "2026-12-31T00:00:00+01:00")
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "after the clock's now" in err[0]
    assert cli(db, "trials", "expire", "--at", "2027-01-01T00:00:00+01:00")[0] == 2
    assert "after the clock's now" in capsys.readouterr().err
    status, report = cli(db, "renew", "--until", CLI_NOW)
    assert status == 0
    assert report["renewed"] == 0


def test_the_invoices_table_shows_a_tax_point_that_differs_from_the_issue(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Paid two minutes before midnight, its answer lost; reconcile completes it after
    midnight: issued on the 3rd, its VAT chargeable on the 2nd, which the invoice shows."""
    paid = "2026-11-02T23:58:00+01:00"
    cli(db, "cart", "subscribe-now", "acme", "remote-support", "--user", "anna", now=paid)
    _, quote = cli(db, "quote", "acme", "--user", "anna", now=paid)
    cli(
        db,
        "checkout",
        "acme",
        quote["id"],
        "--user",
        "anna",
        "--key",
        "k",
        "--token",
        "tok_timeout",
        now=paid,
    )
    after = "2026-11-03T00:05:00+01:00"
    status, report = cli(db, "reconcile", now=after)
    assert status == 0
    assert [o["state"] for o in report["orders"]] == ["succeeded"]
    out = io.StringIO()
    assert (
        main(["--db", str(db), "--now", after, "invoices", "acme", "--user", "anna"], stdout=out)
        == 0
    )
    header, _, row = out.getvalue().splitlines()
    assert "tax point" in header
    assert "2026-11-03" in row  # issued
    assert "2026-11-02" in row  # the tax point
