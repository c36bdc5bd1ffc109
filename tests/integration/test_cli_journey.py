"""The customer's whole life from the terminal, on a simulation: every use case has a
command, 3-D Secure and a corporate order included."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import CLI_ACCOUNT, cli

from subscriptions.cli import DEMO_CATALOG, main

DEC_3 = "2026-12-03T09:00:00+01:00"


@pytest.fixture
def book(tmp_path: Path) -> Path:
    db = tmp_path / "book.sqlite3"
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(DEMO_CATALOG, encoding="utf-8")
    assert cli(db, "catalog", "load", str(catalog))[0] == 0
    assert cli(db, *CLI_ACCOUNT, "--country", "IT", "--payment-method", "tok_visa")[0] == 0
    return db


def ok(db: Path, *argv: str, now: str | None = None) -> Any:
    status, document = cli(db, *argv) if now is None else cli(db, *argv, now=now)
    assert status == 0, (argv, document)
    return document


def test_3d_secure_at_checkout_then_confirm(book: Path) -> None:
    ok(book, "cart", "subscribe-now", "acme", "remote-support", "--user", "anna")
    quote = ok(book, "quote", "acme", "--user", "anna")
    order = ok(
        book, "checkout", "acme", quote["id"], "--user", "anna", "--key", "k1", "--token", "tok_3ds"
    )
    assert order["state"] == "requires_action"
    assert order["next_action"].startswith("https://")  # where the customer goes
    ok(book, "fake", "authenticate", order["charge_id"])
    done = ok(book, "payment", "confirm", "acme", order["id"], "--user", "anna")
    assert done["state"] == "succeeded"
    shown = ok(book, "order", "show", "acme", order["id"], "--user", "anna")
    assert shown["state"] == "succeeded"
    invoice = ok(book, "invoice", "show", "acme", shown["invoice_id"], "--user", "anna")
    assert (invoice["number"], invoice["status"]) == ("INV-000001", "paid")


def test_a_declined_renewal_is_paid_from_the_terminal(book: Path) -> None:
    ok(book, "cart", "subscribe-now", "acme", "monitoring", "--user", "anna")
    quote = ok(book, "quote", "acme", "--user", "anna")
    ok(book, "checkout", "acme", quote["id"], "--user", "anna", "--key", "k1")
    ok(book, "account", "payment-method", "acme", "tok_declined", "--user", "anna")
    report = ok(book, "renew", now=DEC_3)
    assert report["failed"] == 1
    (unpaid,) = [i for i in ok(book, "invoices", "acme", "--user", "anna", now=DEC_3)
                 if i["status"] not in ("paid", "void", "settled")]  # fmt: skip
    ok(book, "account", "payment-method", "acme", "tok_visa", "--user", "anna", now=DEC_3)
    paid = ok(
        book, "invoice", "pay", "acme", unpaid["id"], "--user", "anna", "--key", "p1", now=DEC_3
    )
    assert paid["status"] == "paid"
    (sub,) = ok(book, "subscriptions", "acme", now=DEC_3)
    assert sub["status"] == "active"
    kinds = [e["kind"] for e in ok(book, "events", "acme", now=DEC_3)]
    assert "subscription_past_due" in kinds
    assert "subscription_recovered" in kinds


def test_cancel_and_reactivate(book: Path) -> None:
    ok(book, "cart", "subscribe-now", "acme", "monitoring", "--user", "anna")
    quote = ok(book, "quote", "acme", "--user", "anna")
    ok(book, "checkout", "acme", quote["id"], "--user", "anna", "--key", "k1")
    canceled = ok(book, "subscription", "cancel", "acme", "monitoring", "--user", "anna")
    assert canceled["status"] == "pending_cancellation"  # until the end of the paid period
    again = ok(book, "subscription", "reactivate", "acme", "monitoring", "--user", "anna")
    assert again["status"] == "active"
    now = ok(
        book, "subscription", "cancel", "acme", "monitoring", "--user", "anna",
        "--timing", "immediate",
    )  # fmt: skip
    assert now["status"] == "canceled"


def test_a_corporate_order_placed_by_staff_and_confirmed_by_the_customer(book: Path) -> None:
    create = list(CLI_ACCOUNT)
    create[create.index("acme")] = "bigco"
    ok(book, *create, "--country", "IT", "--corporate")
    ok(book, "cart", "add", "bigco", "remote-support", "--user", "anna", "--seats", "20")
    assert ok(book, "staff", "add", "sales@vendor") == {"staff": ["sales@vendor"]}
    quote = ok(book, "corporate", "quote", "bigco", "--staff", "sales@vendor")
    order = ok(
        book, "corporate", "order", "bigco", quote["id"], "--staff", "sales@vendor",
        "--purchase-order", "PO-2026-117", "--due-days", "60", "--key", "po-1",
    )  # fmt: skip
    assert order["state"] == "awaiting_confirmation"
    done = ok(book, "corporate", "confirm", "bigco", order["id"], "--user", "anna")
    assert done["state"] == "succeeded"
    (invoice,) = ok(book, "invoices", "bigco", "--user", "anna")
    assert invoice["status"] == "open"  # due on the purchase order's terms


def test_the_staff_of_a_database_are_named_on_the_command_line(book: Path) -> None:
    create = list(CLI_ACCOUNT)
    create[create.index("acme")] = "bigco"
    ok(book, *create, "--country", "IT", "--corporate")
    ok(book, "cart", "add", "bigco", "remote-support", "--user", "anna", "--seats", "20")

    def refused(*argv: str, kind: str = "UsageError") -> str:
        status, document = cli(book, *argv)
        assert status == 2, document
        assert document["error"]["type"] == kind, document
        message: str = document["error"]["message"]
        return message

    # None named yet: no one is staff, and the error says how to name them.
    assert ok(book, "staff", "list") == {"staff": []}
    message = refused("corporate", "quote", "bigco", "--staff", "sam", kind="NotStaff")
    assert "user 'sam' is not one of the vendor's staff" in message
    assert "subscriptions staff add sam" in message
    assert ok(book, "staff", "add", "sam", "tom") == {"staff": ["sam", "tom"]}
    quote = ok(book, "corporate", "quote", "bigco", "--staff", "sam")
    assert quote["prepared_by"] == "staff:sam"
    # All or none, and nothing changed by a mistake.
    assert "already on the staff: sam" in refused("staff", "add", "ann", "sam")
    assert "not on the staff: zed" in refused("staff", "remove", "tom", "zed")
    assert "contains whitespace" in refused("staff", "add", "a b", kind="InvalidInput")
    assert ok(book, "staff", "list") == {"staff": ["sam", "tom"]}
    assert ok(book, "staff", "remove", "sam") == {"staff": ["tom"]}
    assert "'sam'" in refused(
        "corporate", "order", "bigco", quote["id"], "--staff", "sam",
        "--purchase-order", "PO-1", "--key", "po-1", kind="NotStaff",
    )  # fmt: skip
    assert ok(book, "orders", "bigco", "--user", "anna") == []
    order = ok(
        book, "corporate", "order", "bigco", quote["id"], "--staff", "tom",
        "--purchase-order", "PO-1", "--key", "po-1",
    )  # fmt: skip
    assert order["placed_by"] == "staff:tom"
    status, _ = cli(book, "staff", "add")
    assert status == 2  # name at least one


def test_the_staff_list_in_words(book: Path) -> None:
    from subscriptions.cli import main

    def words(*argv: str) -> str:
        out = io.StringIO()
        assert main(["--db", str(book), *argv], stdout=out) == 0
        return out.getvalue()

    assert words("staff", "list") == "No staff yet: 'subscriptions staff add USER' names them.\n"
    assert words("staff", "add", "sam") == "staff\n-----\nsam\n"


def test_accounts_contacts_seats_and_events(book: Path) -> None:
    accounts = ok(book, "accounts")
    assert [a["id"] for a in accounts] == ["acme"]
    assert ok(book, "accounts", "--after", "acme") == []
    account = ok(book, "contacts", "acme", "--user", "anna", "--contact", "anna", "--contact", "bo")
    assert account["billing_contacts"] == ["anna", "bo"]
    ok(book, "cart", "subscribe-now", "acme", "remote-support", "--user", "anna", "--seats", "2")
    quote = ok(book, "quote", "acme", "--user", "anna")
    ok(book, "checkout", "acme", quote["id"], "--user", "anna", "--key", "k1")
    ok(book, "seats", "assign", "acme", "remote-support", "ann", "ben", "--user", "bo")
    moved = ok(book, "seats", "reassign", "acme", "remote-support", "ben", "cy", "--user", "bo")
    assert moved["users"] == ["ann", "cy"]
    freed = ok(book, "seats", "release", "acme", "remote-support", "cy", "--user", "bo")
    assert freed["users"] == ["ann"]
    events = ok(book, "events", "acme")
    assert events[0]["kind"] == "account_opened"
    assert events[0]["at"].endswith("+01:00")


def test_fewer_seats_name_the_users_to_release(book: Path) -> None:
    ok(book, "cart", "subscribe-now", "acme", "remote-support", "--user", "anna", "--seats", "4")
    quote = ok(book, "quote", "acme", "--user", "anna")
    ok(book, "checkout", "acme", quote["id"], "--user", "anna", "--key", "k1")
    ok(book, "seats", "assign", "acme", "remote-support", "ann", "ben", "cy", "--user", "anna")
    add = ("cart", "add", "acme", "remote-support", "--user", "anna", "--seats", "1")
    status, document = cli(book, *add)
    assert status == 2
    assert document["error"]["type"] == "SeatsInUse"
    assert "--release USER" in document["error"]["message"]
    assert ok(book, "cart", "show", "acme")["items"] == []  # nothing entered the cart
    status, document = cli(book, *add, "--release", "ben", "--release", "zed")
    assert (status, document["error"]["type"]) == (2, "SeatNotAssigned")
    cart = ok(book, *add, "--release", "ben", "--release", "cy")
    assert cart["items"][0]["release"] == ["ben", "cy"]
    edit = ("cart", "edit", "acme", "remote-support", "--user", "anna")
    assert cli(book, *edit, "--no-release")[1]["error"]["type"] == "SeatsInUse"
    status, _ = cli(book, *edit, "--no-release", "--release", "ben")
    assert status == 2
    kept = ok(book, *edit, "--plan", "premium")
    assert kept["items"][0]["release"] == ["ben", "cy"]
    cart = ok(book, *edit, "--seats", "2", "--release", "cy")
    assert cart["items"][0]["release"] == ["cy"]
    quote = ok(book, "quote", "acme", "--user", "anna")
    assert quote["items"][0]["release"] == ["cy"]
    ok(book, "checkout", "acme", quote["id"], "--user", "anna", "--key", "k2")
    seats = ok(book, "seats", "list", "acme", "remote-support", "--user", "anna")
    assert (seats["seats"], seats["users"]) == (2, ["ann", "ben"])


def test_the_cart_and_the_quote_say_who_the_order_releases(book: Path) -> None:
    def words(*argv: str) -> str:
        out = io.StringIO()
        assert (
            main(["--db", str(book), "--now", "2026-11-02T09:00:00+01:00", *argv], stdout=out) == 0
        )
        return out.getvalue()

    ok(book, "cart", "subscribe-now", "acme", "remote-support", "--user", "anna", "--seats", "3")
    quote = ok(book, "quote", "acme", "--user", "anna")
    ok(book, "checkout", "acme", quote["id"], "--user", "anna", "--key", "k1")
    ok(book, "seats", "assign", "acme", "remote-support", "ann", "ben", "--user", "anna")
    shown = words(
        "cart", "add", "acme", "remote-support", "--user", "anna", "--seats", "1",
        "--release", "ben",
    )  # fmt: skip
    assert shown.splitlines()[0].split() == ["product", "plan", "seats", "frequency", "releases"]
    assert shown.splitlines()[2].split()[-1] == "ben"
    quoted = words("quote", "acme", "--user", "anna")
    assert "remote-support: the order releases the seats of ben\n" in quoted


def test_events_follow_prints_one_json_object_per_line(book: Path) -> None:
    from subscriptions.cli import env as cli_env

    out = io.StringIO()
    calls = iter([False, True])
    original = cli_env.Signals.stop
    cli_env.Signals.stop = lambda self: next(calls)  # type: ignore[method-assign]
    try:
        status = main(
            ["--db", str(book), "--json", "events", "acme", "--follow", "--interval", "0"],
            stdout=out,
        )
    finally:
        cli_env.Signals.stop = original  # type: ignore[method-assign]
    assert status == 0
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["kind"] for line in lines] == ["account_opened"]


def test_messages_go_where_the_operator_says_and_only_there(
    book: Path, tmp_path: Path, capsys: Any
) -> None:
    ok(book, "cart", "subscribe-now", "acme", "monitoring", "--user", "anna")
    quote = ok(book, "quote", "acme", "--user", "anna")
    out = io.StringIO()
    argv = ["--db", str(book), "--now", "2026-11-02T09:00:00+01:00", "--json"]
    assert main([*argv, "checkout", "acme", quote["id"], "--user", "anna", "--key", "k1"],
                stdout=out) == 0  # fmt: skip
    json.loads(out.getvalue())  # nothing but the order on stdout
    folder = tmp_path / "outbox"
    assert not folder.exists()  # no destination: the confirmation waits, unsent
    status, sent = cli(book, "messages", "deliver", "--messages", str(folder))
    assert (status, sent) == (0, {"sent": 1})
    (mail,) = folder.iterdir()
    assert mail.name == "000001-order_confirmation.eml"
    text = mail.read_text(encoding="utf-8")
    assert "To: anna" in text
    assert "Subject: Order" in text
    assert cli(book, "messages", "deliver", "--messages", str(folder)) == (0, {"sent": 0})
    capsys.readouterr()
    ok(book, "cart", "subscribe-now", "acme", "remote-support", "--user", "anna")
    quote = ok(book, "quote", "acme", "--user", "anna")
    order = ok(book, "checkout", "acme", quote["id"], "--user", "anna", "--key", "k2",
               "--messages", "stderr")  # fmt: skip
    assert order["state"] == "succeeded"  # stdout: the order's JSON alone
    assert "Subject: Order" in capsys.readouterr().err
    status, _ = cli(book, "messages", "deliver")
    assert status == 2
    assert "give --messages DIR" in capsys.readouterr().err


def test_renew_dry_run_shows_what_a_run_would_invoice_and_writes_nothing(book: Path) -> None:
    ok(book, "cart", "subscribe-now", "acme", "monitoring", "--user", "anna")
    quote = ok(book, "quote", "acme", "--user", "anna")
    ok(book, "checkout", "acme", quote["id"], "--user", "anna", "--key", "k1")
    invoices = ok(book, "invoices", "acme", "--user", "anna")
    preview = ok(book, "renew", "--dry-run", "--until", "2027-01-15T00:00:00+01:00")
    assert [(s["kind"], s["amount_due"]) for s in preview["steps"]] == [
        ("renewal", "12.20"),
        ("renewal", "12.20"),
    ]
    assert preview["charged"] == {"EUR": "24.40"}
    assert ok(book, "invoices", "acme", "--user", "anna") == invoices
    out = io.StringIO()
    argv = ["--db", str(book), "--now", "2026-11-02T09:00:00+01:00", "renew", "--dry-run"]
    assert main([*argv, "--until", "2026-12-31T00:00:00+01:00"], stdout=out) == 0
    text = out.getvalue()
    assert "2026-12-02" in text
    assert "total to charge: 12.20 EUR" in text
    assert "nothing was written" in text


def test_people_get_one_line_saying_what_became_of_it(book: Path) -> None:
    ok(book, "cart", "subscribe-now", "acme", "monitoring", "--user", "anna")
    quote = ok(book, "quote", "acme", "--user", "anna")
    order = ok(book, "checkout", "acme", quote["id"], "--user", "anna", "--key", "k1")

    def said(*argv: str) -> str:
        out = io.StringIO()
        line = ["--db", str(book), "--now", "2026-11-02T09:00:00+01:00", *argv]
        assert main(line, stdout=out) == 0
        return out.getvalue()

    cancel = ("subscription", "cancel", "acme", "monitoring", "--user", "anna")
    assert said(*cancel) == "monitoring: pending_cancellation\n"
    again = ("subscription", "reactivate", "acme", "monitoring", "--user", "anna")
    assert said(*again) == "monitoring: active, renews as before\n"
    shown = said("order", "show", "acme", order["id"], "--user", "anna")
    assert "succeeded" in shown
    assert "12.20 EUR" in shown


def _text(db: Path, *argv: str) -> str:
    out = io.StringIO()
    status = main(["--db", str(db), "--now", "2026-11-02T09:00:00+01:00", *argv], stdout=out)
    assert status == 0, out.getvalue()
    return out.getvalue()


def test_a_3d_secure_checkout_says_in_words_how_to_finish_it(book: Path) -> None:
    ok(book, "cart", "subscribe-now", "acme", "monitoring", "--user", "anna")
    quote = ok(book, "quote", "acme", "--user", "anna")
    text = _text(book, "checkout", "acme", quote["id"], "--user", "anna", "--key", "k1",
                 "--token", "tok_3ds")  # fmt: skip
    (order_id,) = set(re.findall(r"ord_\w+", text))
    order = ok(book, "order", "show", "acme", order_id, "--user", "anna")
    assert order["state"] == "requires_action"
    assert f"authenticate the payment: {order['next_action']}" in text
    assert f"'subscriptions fake authenticate {order['charge_id']}'" in text
    assert f"Then: subscriptions payment confirm acme {order['id']} --user anna" in text


def test_an_invoice_is_named_by_its_number_or_its_id(book: Path) -> None:
    ok(book, "cart", "subscribe-now", "acme", "monitoring", "--user", "anna")
    quote = ok(book, "quote", "acme", "--user", "anna")
    order = ok(book, "checkout", "acme", quote["id"], "--user", "anna", "--key", "k1")
    by_id = ok(book, "invoice", "show", "acme", order["invoice_id"], "--user", "anna")
    by_number = ok(book, "invoice", "show", "acme", "INV-000001", "--user", "anna")
    assert by_id == by_number
    text = _text(book, "invoice", "show", "acme", "INV-000001", "--user", "anna")
    assert "VAT 22% standard on 10.00: 2.20\ntotal 12.20\n" in text
    status, error = cli(book, "invoice", "show", "acme", "INV-000009", "--user", "anna")
    assert status == 2
    assert error["error"]["type"] == "NotFound"


def test_orders_subscriptions_and_invoices_are_listed_and_filtered(book: Path) -> None:
    ok(book, "cart", "subscribe-now", "acme", "monitoring", "--user", "anna")
    quote = ok(book, "quote", "acme", "--user", "anna")
    first = ok(book, "checkout", "acme", quote["id"], "--user", "anna", "--key", "k1")
    ok(book, "cart", "subscribe-now", "acme", "remote-support", "--user", "anna")
    quote = ok(book, "quote", "acme", "--user", "anna")
    second = ok(book, "checkout", "acme", quote["id"], "--user", "anna", "--key", "k2",
                "--token", "tok_3ds")  # fmt: skip
    orders = ok(book, "orders", "acme", "--user", "anna")
    assert [o["id"] for o in orders] == [first["id"], second["id"]]
    waiting = ok(book, "orders", "acme", "--user", "anna", "--state", "requires_action")
    assert [o["id"] for o in waiting] == [second["id"]]
    both = ok(book, "orders", "acme", "--user", "anna", "--state", "requires_action",
              "--state", "succeeded")  # fmt: skip
    assert len(both) == 2
    assert ok(book, "subscriptions", "acme", "--status", "canceled") == []
    (active,) = ok(book, "subscriptions", "acme", "--status", "active")
    assert active["terms"]["product"] == "monitoring"
    shown = ok(book, "subscription", "show", "acme", "monitoring")
    assert shown == active
    text = _text(book, "subscription", "show", "acme", "monitoring")
    assert "period            2026-11-02 .. 2026-12-02" in text
    status, error = cli(book, "subscription", "show", "acme", "remote-support")
    assert status == 2
    assert "no subscription to 'remote-support'" in error["error"]["message"]
    assert [i["number"] for i in ok(book, "invoices", "acme", "--user", "anna", "--status",
                                    "paid")] == ["INV-000001"]  # fmt: skip
    assert ok(book, "invoices", "acme", "--user", "anna", "--status", "void") == []
    status, error = cli(book, "orders", "acme", "--user", "anna", "--state", "lost")
    assert status == 2
    assert "'lost' is not one of" in error["error"]["message"]
    status, error = cli(book, "orders", "acme", "--user", "mallory")
    assert status == 2


def test_accounts_are_paged_and_filtered_by_kind(book: Path) -> None:
    for name in ("bigco", "corpa", "corpb"):
        create = list(CLI_ACCOUNT)
        create[create.index("acme")] = name
        ok(book, *create, "--country", "IT", "--corporate")
    everyone = [a["id"] for a in ok(book, "accounts")]
    assert everyone == ["acme", "bigco", "corpa", "corpb"]
    page = ok(book, "accounts", "--kind", "corporate", "--limit", "2")
    assert [a["id"] for a in page] == ["bigco", "corpa"]
    page = ok(book, "accounts", "--kind", "corporate", "--limit", "2", "--after", "corpa")
    assert [a["id"] for a in page] == ["corpb"]
    assert [a["id"] for a in ok(book, "accounts", "--kind", "self_service")] == ["acme"]


def test_a_mistyped_test_card_is_declined_never_charged(book: Path) -> None:
    ok(book, "cart", "subscribe-now", "acme", "monitoring", "--user", "anna")
    quote = ok(book, "quote", "acme", "--user", "anna")
    status, error = cli(book, "checkout", "acme", quote["id"], "--user", "anna", "--key", "k1",
                        "--token", "tok_vsia")  # fmt: skip
    assert status == 2
    assert error["error"]["type"] == "PaymentDeclined"
    assert "no test card 'tok_vsia'" in error["error"]["message"]
    assert "tok_visa" in error["error"]["message"]
    (order,) = ok(book, "orders", "acme", "--user", "anna")
    assert (order["state"], order["failure_code"]) == ("failed", "invalid_payment_method")
    assert ok(book, "invoices", "acme", "--user", "anna") == []


def test_the_book_is_forecast_under_a_candidate_catalog(book: Path, tmp_path: Path) -> None:
    ok(book, "cart", "subscribe-now", "acme", "monitoring", "--user", "anna", "--seats", "2")
    quote = ok(book, "quote", "acme", "--user", "anna")
    ok(book, "checkout", "acme", quote["id"], "--user", "anna", "--key", "k1")
    before = ok(book, "invoices", "acme", "--user", "anna")
    today = ok(book, "forecast", "--months", "3")["forecast"]
    assert [(x["month"], x["net"], x["vat"]) for x in today["lines"]] == [
        ("2026-12", "20.00", "4.40"), ("2027-01", "20.00", "4.40"),
    ]  # fmt: skip
    assert today["totals"] == {"EUR": {"invoices": 2, "net": "40.00", "vat": "8.80",
                                       "total": "48.80"}}  # fmt: skip
    candidate = tmp_path / "candidate.toml"
    candidate.write_text(DEMO_CATALOG.replace('"10.00"', '"12.50"'), encoding="utf-8")
    both = ok(book, "forecast", "--months", "3", "--catalog", str(candidate))
    assert both["difference"]["totals"]["EUR"] == {
        "invoices": 0, "net": "10.00", "vat": "2.20", "total": "12.20",
    }  # fmt: skip
    assert ok(book, "invoices", "acme", "--user", "anna") == before  # nothing written
    text = _text(book, "forecast", "--months", "3", "--catalog", str(candidate))
    assert "2026-12  monitoring  basic  20.00      25.00          +5.00 EUR   +1.10" in text
    products_only = tmp_path / "products.json"
    document = ok(book, "catalog", "show")
    del document["seller"]
    products_only.write_text(json.dumps(document), encoding="utf-8")
    same = ok(book, "forecast", "--months", "3", "--catalog", str(products_only))
    assert same["difference"]["lines"] == []
    status, error = cli(book, "forecast", "--months", "0")
    assert status == 2
    assert "'--months'" in error["error"]["message"]
