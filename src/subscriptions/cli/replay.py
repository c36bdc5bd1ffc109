"""The command line's commands without a database of their own: ``simulate`` (a
scenario document replayed), ``examples`` (the bundled ones) and ``demo`` (one
customer's story end to end on a new SQLite file)."""

from __future__ import annotations

import json
import sys
import tempfile
import tomllib
from decimal import Decimal
from importlib import resources
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from ..accounts import Address
from ..adapters.fakes import FakeGateway, InMemoryNotifier, ManualClock
from ..center import BillingCenter
from ..documents import catalog_to_dict, seller_and_catalog_from_dict, seller_to_dict
from ..messages import Message
from ..money import shown_amount
from ..scenario import run
from . import wiring
from .env import UsageError, instant
from .output import jsonable
from .settings import CliSettings

__all__ = ["DEMO_CATALOG", "demo", "examples", "render_table", "simulate"]


def examples(args: SimpleNamespace, out: TextIO) -> None:
    """List the bundled example scenarios, with their number of events."""
    listed = [
        {"name": name, "events": len(json.loads(text).get("events", []))}
        for name, text in _examples().items()
    ]
    if args.json:
        out.write(json.dumps(listed, indent=2) + "\n")
        return
    for example in listed:
        count = example["events"]
        out.write(f"{example['name']}\t{count} event{'' if count == 1 else 's'}\n")


def simulate(env_args: SimpleNamespace, out: TextIO) -> None:
    doc = _read_scenario(env_args)
    result = run(doc)
    if env_args.format == "table" and not env_args.json:
        out.write(render_table(result))
    else:
        out.write(json.dumps(result, indent=2, ensure_ascii=False) + "\n")


def _examples() -> dict[str, str]:
    folder = resources.files("subscriptions") / "examples"
    return {
        entry.name.removesuffix(".json"): entry.read_text(encoding="utf-8")
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".json")
    }


def _read_scenario(args: SimpleNamespace) -> Any:
    if args.example is not None:
        examples = _examples()
        if args.example not in examples:
            raise UsageError(
                f"no bundled example {args.example!r}; choose one of {', '.join(examples)}"
            )
        text, name = examples[args.example], f"example {args.example}"
    elif args.file == "-":
        text, name = sys.stdin.read(), "standard input"
    else:
        try:
            with open(args.file, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise UsageError(f"cannot read {args.file}: {exc.strerror}") from None
        name = args.file
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{name} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None


def render_table(result: dict[str, Any]) -> str:
    """A human-readable rendering of a scenario result."""
    lines: list[str] = []
    for invoice in result["invoices"]:
        title = "Credit note" if invoice["document"] == "credit_note" else "Invoice"
        lines.append(f"{title} {invoice['number']}  {invoice['issued_at']}  ({invoice['reason']})")
        for line in invoice["lines"]:
            span = f"{line['period_start'][:10]} .. {line['period_end'][:10]}"
            item = (
                f"{line['kind']:<6} {line['product']}/{line['plan']} {line['frequency']} "
                f"x{line['seats']} @ {line['unit_price']}"
            )
            lines.append(f"  {item:<58} {span}  {line['amount']:>12}")
        lines.append(f"  {'subtotal':<84}{invoice['subtotal']:>12}")
        for tax in invoice["taxes"]:
            label = f"VAT {tax['rate']}% {tax['treatment']} on {tax['base']}"
            lines.append(f"  {label:<84}{tax['amount']:>12}")
        lines.append(f"  {'total':<84}{invoice['total']:>12}")
        if Decimal(invoice["credit_applied"]) != 0:
            lines.append(f"  {'credit applied':<84}{'-' + invoice['credit_applied']:>12}")
        lines.append("")
    if not result["invoices"]:
        lines.extend(["No invoices.", ""])
    lines.append("Subscriptions:")
    for sub in result["subscriptions"]:
        period = (
            f"{sub['current_period_start'][:10]} .. {sub['current_period_end'][:10]}"
            if sub["current_period_start"]
            else "no paid period"
        )
        lines.append(
            f"  {sub['product']}: {sub['status']}, {sub['plan']} x{sub['seats']} "
            f"{sub['frequency']}, {period}"
        )
    lines.append(f"Credit balance: {result['credit_balance']}")
    for refusal in result["refused"]:
        lines.append(f"Refused event {refusal['event']}: {refusal['error']}: {refusal['message']}")
    return "\n".join(lines) + "\n"


DEMO_CATALOG = """
currency = "EUR"

[seller]
name = "Remote Tools S.r.l."
country = "IT"
vat_number = "IT00743110157"
address = { line1 = "Via Roma 1", city = "Milano", postal_code = "20121" }

[[products]]
id = "remote-support"
name = "Remote Support"
trial_days = 14

  [[products.plans]]
  id = "standard"
  name = "Standard"
  rank = 1
  prices = { monthly = "30.00", annual = "300.00" }

  [[products.plans]]
  id = "premium"
  name = "Premium"
  rank = 2
  prices = { monthly = "50.00", annual = "500.00" }

[[products]]
id = "monitoring"
name = "Monitoring"
trial_days = 30

  [[products.plans]]
  id = "basic"
  name = "Basic"
  rank = 1
  prices = { monthly = "10.00", annual = "100.00" }
"""


def demo(args: SimpleNamespace, out: TextIO) -> None:
    """One customer's story, end to end, on a fresh SQLite file."""
    from ..adapters.sqlite import SQLiteStore

    if args.db:
        db = Path(args.db)
        if db.exists():
            raise UsageError(f"{db} already exists; the demo needs a fresh SQLite file")
    else:
        db = Path(tempfile.mkdtemp(prefix="subscriptions-demo-")) / "demo.sqlite3"
    store = SQLiteStore(db)
    try:
        clock = ManualClock(instant("2026-11-02T09:30:00+01:00"))
        notifier = InMemoryNotifier()
        seller, catalog = seller_and_catalog_from_dict(tomllib.loads(DEMO_CATALOG))
        CliSettings(str(db)).put_all(
            {
                "catalog": catalog_to_dict(catalog),
                "seller": seller_to_dict(seller),
                wiring.BOOK_KEY: {"simulation": True, "created_at": clock.now().isoformat()},
            }
        )
        center = BillingCenter(
            catalog=catalog,
            seller=seller,
            store=store,
            gateway=FakeGateway(journal=f"{db}.gateway.jsonl"),
            clock=clock,
            notifier=notifier,
        )
        story: list[str] = []
        say = story.append
        account = center.open_account(
            name="Studio Rossi S.r.l.",
            address=Address(line1="Via Po 2", city="Torino", postal_code="10123", country="IT"),
            timezone="Europe/Rome",
            locale="it_IT",
            currency="EUR",
            billing_contacts=["giulia@studiorossi.example"],
        )
        contact = "giulia@studiorossi.example"
        say(f"Opened account {account.name} ({account.id}), billing contact {contact}.")
        center.start_trial(account.id, "marco@studiorossi.example", "remote-support")
        say("Marco started a 14-day free trial of Remote Support.")
        clock.advance(days=15)
        expired = center.expire_trials()
        say(f"15 days later the trial expired ({expired} trial), nothing charged.")
        clock.advance(days=3)
        center.subscribe_now(account.id, contact, "remote-support")
        center.edit_cart_item(account.id, contact, "remote-support", plan="premium", seats=5)
        center.add_to_cart(account.id, contact, "monitoring", seats=5, frequency="annual")
        say("Giulia pressed 'Subscribe now', chose Premium with 5 seats, and added Monitoring.")
        quote = center.quote(account.id, contact)
        assert quote.invoice is not None
        net, due = quote.invoice.subtotal, quote.amount_due.amount
        say(
            f"Quote {quote.id}: {shown_amount(net, 'EUR')} EUR before VAT, amount due "
            f"{shown_amount(due, 'EUR')} EUR with Italian VAT at 22%."
        )
        order = center.place_order(
            account.id, contact, quote.id, idempotency_key="demo-order-1", payment_method="tok_visa"
        )
        say(f"Order {order.id}: {order.state.value}; invoice issued.")
        users = [
            "marco@studiorossi.example",
            "sara@studiorossi.example",
            "luca@studiorossi.example",
        ]
        seats = center.assign_seats(account.id, contact, "remote-support", users)
        say(f"Seats assigned: {seats.in_use} of {seats.seats} ({', '.join(seats.users)}).")
        invoice = center.invoices(account.id, contact)[0]
        say(
            f"Invoice {invoice.number}: total {shown_amount(invoice.total, 'EUR')} EUR, status "
            f"{invoice.status.value}."
        )
        message = next(m for m in notifier.sent if m.kind == "order_confirmation")
        if args.json:
            document = {
                "story": story,
                "account_id": account.id,
                "quote_id": quote.id,
                "order": jsonable(order, zone=ZoneInfo(account.timezone)),
                "invoice_number": invoice.number,
                "confirmation": {
                    "to": list(message.to),
                    "subject": message.subject,
                    "text": message.text,
                },
                "database": str(db),
            }
            out.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
            return
        out.write("".join(f"- {line}\n" for line in story))
        out.write("\n" + _message_text(message))
        out.write(f"\nDatabase: {db}\n")
    finally:
        store.close()


def _message_text(message: Message) -> str:
    return f"To: {', '.join(message.to)}\nSubject: {message.subject}\n\n{message.text}\n"
