"""The ``subscriptions`` command line: an operator's Billing Center over a database.

The database is chosen by ``--db`` or the ``SUBSCRIPTIONS_DB`` environment variable:
a SQLite file (the default, ``subscriptions.sqlite3`` in the current folder) or a
``postgresql://`` URL. Payments go through the fake gateway, whose test tokens
(``tok_visa``, ``tok_declined``, ``tok_3ds``...) and records live in a journal file
beside the database. Output is a human-readable table, or JSON with ``--json``;
errors are one line on stderr with exit status 2.

``subscriptions demo`` runs the brief's journey end to end on a fresh SQLite file and
prints the Italian order confirmation; ``subscriptions simulate FILE.json`` replays a
scenario document.

``--now`` sets the clock of the whole command (a simulation); no job runs past it.
Ctrl-C (SIGINT) or SIGTERM asks the command to stop at its next safe point (a bill
run: after the charge being sent, with every outcome recorded); it then prints one
line and exits with 130 (SIGINT) or 143 (SIGTERM). A second signal stops it at once;
whatever it left in flight is resolved by ``subscriptions reconcile``. When the reader
of its output goes away (``subscriptions ... | head -1``), the command ends quietly
with 141, the status a shell reports for a command killed by SIGPIPE.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import tempfile
import tomllib
import typing
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import attrs

from .. import __version__
from ..accounts import Account, AccountKind, Address
from ..adapters.fakes import FakeGateway, InMemoryNotifier, ManualClock
from ..catalog import Catalog
from ..center import BillingCenter, check_catalog_change
from ..documents import (
    catalog_to_dict,
    seller_and_catalog_from_dict,
    seller_to_dict,
)
from ..errors import DatabaseMissing, SubscriptionsError
from ..messages import Message
from ..orders import Seller
from ..periods import Frequency
from ..scenario import run
from . import commands as _more
from . import wiring
from .env import DEFAULT_DB, UsageError, open_store, sqlite_path
from .env import Env as _Env
from .env import Interrupted as _Interrupted
from .env import Signals as _Signals
from .env import emit as _emit
from .env import exit_status as _exit_status
from .env import instant as _instant
from .env import read_structured as _read_structured
from .env import signal_name as _signal_name
from .output import error_document, jsonable, redacted_url, shown_amount, table
from .settings import CliSettings

__all__ = ["main", "open_store"]

EXIT_OK = 0
EXIT_INVALID = 2
#: 128 + SIGPIPE (13 on every POSIX system), as for a command the signal killed.
EXIT_BROKEN_PIPE = 128 + 13


def _account_text(account: Account) -> str:
    rows = [
        ("id", account.id),
        ("name", account.name),
        ("kind", account.kind.value),
        ("address", ", ".join(account.address.lines())),
        ("time zone", account.timezone),
        ("locale", account.locale),
        ("currency", account.currency),
        ("billing contacts", ", ".join(sorted(account.billing_contacts))),
        ("payment method", account.payment_method or "-"),
        ("VAT number", str(account.vat_number) if account.vat_number else "-"),
        ("credit balance", shown_amount(account.credit_balance, account.currency)),
    ]
    return table(rows, ("field", "value"))


# -- commands ------------------------------------------------------------------------


def _cmd_db_init(env: _Env) -> None:
    """Create the tables (opening the store did) and mark what the database is."""
    if env.args.now is not None and not env.args.simulation:
        raise UsageError("--now sets the clock by hand, which only a simulation may do")
    with env.store.unit_of_work() as uow:
        has_records = bool(uow.subscriptions.page(limit=1) or uow.quotes.page(limit=1))
    has_records = has_records or env.saved.get("catalog") is not None
    try:
        book = wiring.init_book(
            env.saved,
            simulation=env.args.simulation,
            at=env.clock.now(),
            has_records=has_records,
        )
    except wiring.WiringError as exc:
        raise UsageError(str(exc)) from None
    what = "a simulation" if book.simulation else "a real book"
    _emit(env, {"simulation": book.simulation}, lambda: f"{redacted_url(env.url)}: {what}\n")


def _cmd_catalog_load(env: _Env) -> None:
    seller, catalog = seller_and_catalog_from_dict(_read_structured(env.args.file))
    check_catalog_change(env.store, catalog, at=env.clock.now())
    env.saved.put_all({"catalog": catalog_to_dict(catalog), "seller": seller_to_dict(seller)})
    _emit(
        env,
        {"seller": seller_to_dict(seller), **catalog_to_dict(catalog)},
        lambda: _catalog_text(catalog, seller),
    )


def _catalog_text(catalog: Catalog, seller: Seller | None = None) -> str:
    rows = [
        (
            p.id,
            p.name,
            p.trial_days or "-",
            plan.id,
            plan.rank,
            price.frequency.value,
            f"{shown_amount(price.amount, price.currency)} {price.currency}",
        )
        for p in catalog.products
        for plan in p.plans
        for price in plan.prices
    ]
    head = f"Seller: {seller.name} ({seller.country})\n" if seller else ""
    return head + table(
        rows, ("product", "name", "trial days", "plan", "rank", "frequency", "price")
    )


def _cmd_catalog_show(env: _Env) -> None:
    center = env.center()
    # The file's shape: what it prints, `catalog load` reads back.
    _emit(
        env,
        {"seller": seller_to_dict(center.seller), **catalog_to_dict(center.catalog)},
        lambda: _catalog_text(center.catalog, center.seller),
    )


def _cmd_account_create(env: _Env) -> None:
    a = env.args
    account = env.center().open_account(
        account_id=a.id,
        name=a.name,
        address=Address(
            line1=a.line1,
            city=a.city,
            postal_code=a.postal_code,
            country=a.country,
            region=a.region,
        ),
        timezone=a.timezone,
        locale=a.locale,
        currency=a.currency,
        billing_contacts=a.contact,
        kind=AccountKind.CORPORATE if a.corporate else AccountKind.SELF_SERVICE,
        payment_method=a.payment_method,
    )
    _emit(env, account, lambda: _account_text(account))


def _cmd_account_show(env: _Env) -> None:
    center = env.center()
    account = center.account(env.args.account)
    subs = center.subscriptions(account.id)

    def human() -> str:
        text = _account_text(account)
        if subs:
            text += "\n" + _subs_table(subs)
        return text

    _emit(env, {"account": account, "subscriptions": subs}, human)


def _subs_table(subs: Sequence[Any]) -> str:
    rows = [
        (
            s.product,
            s.status.value,
            s.terms.plan,
            s.terms.seats,
            s.terms.frequency.value,
            s.period.end.isoformat() if s.period else (s.trial.end.isoformat() if s.trial else "-"),
        )
        for s in subs
    ]
    return table(rows, ("product", "status", "plan", "seats", "frequency", "next date"))


def _cmd_account_vat(env: _Env) -> None:
    number = None if env.args.number in ("", "none") else env.args.number
    account = env.center().set_vat_number(env.args.account, env.args.user, number)
    _emit(env, account, lambda: _account_text(account))


def _cmd_account_payment(env: _Env) -> None:
    account = env.center().update_payment_method(env.args.account, env.args.user, env.args.token)
    _emit(env, account, lambda: _account_text(account))


def _cmd_vat_revalidate(env: _Env) -> None:
    """Check again the VAT numbers checked too long ago (a job of its own)."""
    report = env.center().revalidate_vat_numbers(limit=env.args.limit)

    def human() -> str:
        rows: list[tuple[object, ...]] = [(a, "invalid", "-") for a in report.invalid]
        rows += [(a, "unavailable", code) for a, code in report.unavailable]
        rows += [(a, "skipped", why) for a, why in report.skipped]
        head = (
            f"checked {report.checked}: {len(report.valid)} still valid, {len(report.invalid)} "
            f"invalid, {len(report.unavailable)} unavailable, {len(report.skipped)} skipped"
        )
        return head if not rows else f"{head}\n{table(rows, ('account', 'outcome', 'why'))}"

    _emit(env, report, human)


def _cmd_trial_start(env: _Env) -> None:
    a = env.args
    sub = env.center().start_trial(
        a.account,
        a.user,
        a.product,
        plan=a.plan,
        seats=1 if a.seats is None else a.seats,
        frequency=a.frequency,
    )
    _emit(env, sub, lambda: _subs_table([sub]))


def _cmd_trials_expire(env: _Env) -> None:
    at = _instant(env.args.at) if env.args.at else None
    count = env.center().expire_trials(at, stop=env.signals.stop)
    _emit(env, {"expired": count}, lambda: f"Expired {count} trial(s).\n")


def _cart_text(cart: Any) -> str:
    if not cart.items:
        return "The cart is empty.\n"
    rows = [(i.product, i.plan, i.seats, i.frequency.value) for i in cart.items]
    return table(rows, ("product", "plan", "seats", "frequency"))


def _cmd_cart(env: _Env) -> None:
    a = env.args
    center = env.center()
    if a.cart_command == "show":
        cart = center.cart(a.account)
    elif a.cart_command == "remove":
        cart = center.remove_cart_item(a.account, a.user, a.product)
    else:
        operation = {
            "subscribe-now": center.subscribe_now,
            "add": center.add_to_cart,
            "edit": center.edit_cart_item,
        }[a.cart_command]
        cart = operation(
            a.account, a.user, a.product, plan=a.plan, seats=a.seats, frequency=a.frequency
        )
    _emit(env, cart, lambda: _cart_text(cart))


def _quote_text(quote: Any, zone: ZoneInfo) -> str:
    """The quote as a table, its dates in the account's time zone."""
    currency = quote.currency

    def money(value: Decimal) -> str:
        return shown_amount(value, currency)

    def local(instant: datetime) -> str:
        return instant.astimezone(zone).isoformat(timespec="minutes")

    lines: list[tuple[object, ...]] = []
    if quote.invoice is not None:
        for line in quote.invoice.lines:
            start, end = (line.period.start.astimezone(zone), line.period.end.astimezone(zone))
            lines.append(
                (
                    line.kind.value,
                    f"{line.product}/{line.plan}",
                    line.seats,
                    line.frequency.value,
                    f"{start.date()} .. {end.date()}",
                    money(line.amount),
                )
            )
    text = f"Quote {quote.id} (valid until {local(quote.expires_at)})\n"
    text += table(lines, ("kind", "item", "seats", "frequency", "period", "amount"))
    if quote.invoice is not None:
        text += f"subtotal {money(quote.invoice.subtotal)}\n"
        for tax in quote.invoice.taxes:
            text += (
                f"VAT {tax.rate}% {tax.treatment.value} on {money(tax.base)}: {money(tax.amount)}\n"
            )
        text += f"total {money(quote.invoice.total)}\n"
    text += f"credit applied {money(quote.credit_applied.amount)}\n"
    text += f"amount due {money(quote.amount_due.amount)} {currency}\n"
    for item in quote.items:
        if item.next_billing_at is not None:
            text += f"{item.product}: next billing date {local(item.next_billing_at)}\n"
    return text


def _cmd_quote(env: _Env) -> None:
    center = env.center()
    quote = center.quote(env.args.account, env.args.user)
    zone = ZoneInfo(center.account(env.args.account).timezone)
    _emit(env, quote, lambda: _quote_text(quote, zone), zone=zone)


def _cmd_checkout(env: _Env) -> None:
    a = env.args
    center = env.center()
    order = center.place_order(
        a.account, a.user, a.quote, idempotency_key=a.key, payment_method=a.token
    )
    zone = ZoneInfo(center.account(a.account).timezone)
    number = None
    if order.invoice_id is not None:
        number = center.invoice(a.account, a.user, order.invoice_id).number
    document = {**jsonable(order, zone=zone), "invoice_number": number}
    _emit(
        env,
        document,
        lambda: table(
            [
                (
                    order.id,
                    order.state.value,
                    f"{shown_amount(order.amount_due.amount, order.currency)} {order.currency}",
                    number or "-",
                )
            ],
            ("order", "state", "amount due", "invoice"),
        ),
    )


def _cmd_seats(env: _Env) -> None:
    a = env.args
    center = env.center()
    if a.seats_command == "assign":
        seats = center.assign_seats(a.account, a.user, a.product, a.users)
    elif a.seats_command == "unassign":
        seats = center.unassign_seats(a.account, a.user, a.product, a.users)
    elif a.seats_command == "release":
        seats = center.release_seats(a.account, a.user, a.product, a.users)
    elif a.seats_command == "reassign":
        seats = center.reassign_seat(a.account, a.user, a.product, a.from_user, a.to_user)
    else:
        seats = center.seats(a.account, a.user, a.product)

    def human() -> str:
        rows = [(i + 1, u) for i, u in enumerate(seats.users)]
        return f"{seats.in_use} of {seats.seats} seats assigned\n" + (
            table(rows, ("seat", "user")) if rows else ""
        )

    _emit(env, seats, human)


def _cmd_invoices(env: _Env) -> None:
    center = env.center()
    invoices = center.invoices(env.args.account, env.args.user)
    zone = ZoneInfo(center.account(env.args.account).timezone)

    def tax_point(invoice: Any) -> str:
        # Shown where it differs from the issue date (VAT Directive art. 226(7)).
        point = invoice.tax_point
        if (
            point is None
            or point.astimezone(zone).date() == invoice.issued_at.astimezone(zone).date()
        ):
            return ""
        return str(point.astimezone(zone).date())

    rows = [
        (
            i.number,
            i.document,
            i.reason.value,
            i.issued_at.astimezone(zone).date(),
            tax_point(i),
            shown_amount(i.total, i.currency),
            shown_amount(i.amount_due, i.currency),
            i.status.value,
        )
        for i in invoices
    ]
    headers = ("number", "document", "reason", "issued", "tax point", "total", "due", "status")
    _emit(env, invoices, lambda: table(rows, headers), zone=zone)


def _preview_text(preview: Any) -> str:
    rows = [
        (
            s.account_id,
            s.product,
            s.plan,
            s.kind.value,
            s.at.astimezone(ZoneInfo(s.timezone)).date(),
            f"{shown_amount(s.amount_due, s.currency)} {s.currency}",
        )
        for s in preview.steps
    ]
    text = table(rows, ("account", "product", "plan", "step", "due", "to charge"))
    for currency, amount in sorted(preview.charged.items()):
        text += f"total to charge: {shown_amount(amount, currency)} {currency}\n"
    return text + "(a dry run: nothing was written, charged or sent)\n"


def _cmd_renew(env: _Env) -> None:
    until = _instant(env.args.until) if env.args.until else None
    if env.args.dry_run:
        preview = env.center().preview_renewals(until)
        _emit(env, preview, lambda: _preview_text(preview))
        return
    show = sys.stderr.isatty() and not env.args.json

    def progress(done: int) -> None:
        if show:
            sys.stderr.write(f"\rRenewing: {done} subscription(s) processed")
            sys.stderr.flush()

    report = env.center().run_renewals(until, progress=progress, stop=env.signals.stop)
    if show:
        sys.stderr.write("\n")

    def human() -> str:
        rows = [
            (f.name, getattr(report, f.name))
            for f in attrs.fields(type(report))
            if f.name not in ("errors", "stopped")
        ]
        text = table(rows, ("step", "count"))
        for sub_id, error in report.errors:
            text += f"skipped {sub_id}: {error}\n"
        if report.stopped:
            text += f"stopped early: {report.stopped}\n"
        return text

    _emit(env, report, human)


def _attempt_rows(attempts: Sequence[Any]) -> list[tuple[object, ...]]:
    return [
        (
            a.idempotency_key,
            a.kind.value,
            a.state.value,
            f"{shown_amount(a.amount, a.currency)} {a.currency}",
            a.decline_code or "-",
            a.updated_at.isoformat(),
        )
        for a in attempts
    ]


_ATTEMPT_HEADERS = ("key", "kind", "state", "amount", "code", "updated")


def _cmd_reconcile(env: _Env) -> None:
    center = env.center()
    if env.args.report:
        review = center.payment_review()

        def listing() -> str:
            text = f"{review.in_flight} payment(s) in flight\n"
            text += f"\nNeeds review ({len(review.needs_review)}):\n"
            if review.needs_review:
                text += table(_attempt_rows(review.needs_review), _ATTEMPT_HEADERS)
            text += f"\nFailed refunds ({len(review.failed_refunds)}):\n"
            if review.failed_refunds:
                text += table(_attempt_rows(review.failed_refunds), _ATTEMPT_HEADERS)
            return text

        _emit(env, review, listing)
        return
    report = center.reconcile(stop=env.signals.stop)

    def human() -> str:
        text = f"Resolved {len(report.resolved)} payment(s).\n"
        if report.resolved:
            text += table(_attempt_rows(report.resolved), _ATTEMPT_HEADERS)
        if report.orders:
            rows = [(o.id, o.state.value, o.failure_code or "-") for o in report.orders]
            text += table(rows, ("order", "state", "outcome"))
        text += (
            f"{report.waiting} left to the process that holds them, "
            f"{report.unknown} the gateway could not tell about, "
            f"{len(report.needs_review)} now needing review\n"
        )
        for what, error in report.errors:
            text += f"failed {what}: {error}\n"
        return text

    _emit(env, report, human)


def _cmd_simulate(env_args: argparse.Namespace, out: TextIO) -> None:
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


def _read_scenario(args: argparse.Namespace) -> Any:
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


# -- the demo ------------------------------------------------------------------------

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


def _cmd_demo(args: argparse.Namespace, out: TextIO) -> None:
    """The brief's journey, end to end, on a fresh SQLite file."""
    from ..adapters.sqlite import SQLiteStore

    if args.db:
        db = Path(args.db)
        if db.exists():
            raise UsageError(f"{db} already exists; the demo needs a fresh SQLite file")
    else:
        db = Path(tempfile.mkdtemp(prefix="subscriptions-demo-")) / "demo.sqlite3"
    store = SQLiteStore(db)
    try:
        clock = ManualClock(_instant("2026-11-02T09:30:00+01:00"))
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
        say = _narrator(out)
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
        out.write("\n" + _message_text(message))
        out.write(f"\nDatabase: {db}\n")
    finally:
        store.close()


def _narrator(out: TextIO) -> Callable[[str], None]:
    def say(text: str) -> None:
        out.write(f"- {text}\n")

    return say


def _message_text(message: Message) -> str:
    return f"To: {', '.join(message.to)}\nSubject: {message.subject}\n\n{message.text}\n"


# -- parser --------------------------------------------------------------------------


class _Help(argparse.HelpFormatter):
    """Help that shows each option's default, when it has one worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if default not in (None, False, argparse.SUPPRESS) and "default" not in text:
            text += f" (default: {default})"
        return text


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr, with exit status 2, like every other error
    (and, with ``--json``, as JSON on stdout too)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Help)
        super().__init__(*args, **kwargs)

    #: Where a usage error is also written as JSON (``--json``), while main runs.
    json_out: typing.ClassVar[TextIO | None] = None

    def error(self, message: str) -> typing.NoReturn:
        text = f"{message}; see '{self.prog} --help'"
        if _Parser.json_out is not None:
            _Parser.json_out.write(error_document(UsageError(text), text))
        sys.stderr.write(f"{self.prog}: error: {text}\n")
        raise SystemExit(EXIT_INVALID)


#: The options every command takes, anywhere on the line: those with a value, and flags.
_GLOBAL_VALUES = ("--db", "--now", "--gateway", "--messages")
_GLOBAL_FLAGS = ("--json",)


def hoisted(argv: Sequence[str]) -> list[str]:
    """``argv`` with the global options moved before the command, so that they may be
    written anywhere (``subscriptions invoices acme --json``). After ``--`` nothing
    moves.

    >>> hoisted(["invoices", "acme", "--json", "--db", "b.sqlite3", "--user", "anna"])
    ['--json', '--db', 'b.sqlite3', 'invoices', 'acme', '--user', 'anna']
    >>> hoisted(["renew", "--now=2027-01-01T00:00:00+01:00"])
    ['--now=2027-01-01T00:00:00+01:00', 'renew']
    """
    front: list[str] = []
    rest: list[str] = []
    items = list(argv)
    i = 0
    while i < len(items):
        item = items[i]
        if item == "--":
            rest.extend(items[i:])
            break
        name = item.split("=", 1)[0]
        if item in _GLOBAL_FLAGS or (name in _GLOBAL_VALUES and "=" in item):
            front.append(item)
        elif item in _GLOBAL_VALUES and i + 1 < len(items):
            front.extend(items[i : i + 2])
            i += 1
        else:
            rest.append(item)
        i += 1
    return front + rest


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="subscriptions",
        description="The billing engine's command line: a Billing Center over a database, "
        "scenario replays and a demo.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--db",
        help=f"SQLite file or postgresql:// URL (default: $SUBSCRIPTIONS_DB or {DEFAULT_DB})",
    )
    parser.add_argument("--json", action="store_true", help="print JSON for machines")
    parser.add_argument(
        "--now",
        help="act as if it were this instant (ISO 8601 with offset); a simulation only",
    )
    parser.add_argument(
        "--messages",
        metavar="DEST",
        help="where the customers' messages go: a folder (one .eml file each) or 'stderr'; "
        "default: $SUBSCRIPTIONS_MESSAGES, else nowhere (they wait, unsent, in the outbox)",
    )
    parser.add_argument(
        "--gateway",
        choices=wiring.GATEWAYS,
        help="the payment gateway: fake (a simulation only) or stripe (key in "
        "$STRIPE_API_KEY); default: $SUBSCRIPTIONS_GATEWAY, else fake on a simulation "
        "and stripe on a real book",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _replay_commands(commands)
    _db_commands(commands)
    _account_commands(commands)
    _vat_commands(commands)
    _trial_commands(commands)
    _cart_commands(commands)
    _billing_commands(commands)
    _more.add(commands)
    return parser


def _terms(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--plan", help="the plan's id (default: the product's lowest plan)")
    sub.add_argument("--seats", type=int, help="how many seats (users) to pay for")
    sub.add_argument(
        "--frequency",
        choices=[f.value for f in Frequency],
        help="how often it is billed (default: monthly, or the subscription's own)",
    )


def _replay_commands(commands: argparse._SubParsersAction[_Parser]) -> None:
    """simulate, examples, demo, catalog."""
    simulate = commands.add_parser("simulate", help="replay a scenario file and print its invoices")
    source = simulate.add_mutually_exclusive_group(required=True)
    source.add_argument("file", nargs="?", help="scenario JSON file ('-' reads stdin)")
    source.add_argument("--example", metavar="NAME", help="run a bundled example instead")
    simulate.add_argument("--format", choices=["json", "table"], default="json", help="the output")

    commands.add_parser("examples", help="list the bundled example scenarios")
    demo = commands.add_parser(
        "demo", help="run a customer's story end to end on a new SQLite file"
    )
    demo.set_defaults(demo=True)

    catalog = commands.add_parser("catalog", help="load or show the catalog and seller")
    catalog_cmds = catalog.add_subparsers(dest="catalog_command", required=True)
    load = catalog_cmds.add_parser(
        "load",
        help="load a TOML or JSON catalog file",
        description="Check a catalog file (its seller, products, plans and prices; the "
        "format is in docs/catalog.md) and make it the database's catalog. A catalog that "
        "no longer offers what a subscription, a scheduled change, a cart or an unexpired "
        "quote uses is refused, naming them.",
    )
    load.add_argument("file", help="the file: .toml is read as TOML, anything else as JSON")
    catalog_cmds.add_parser(
        "show", help="show the catalog and seller (--json: in the shape load reads)"
    )


def _db_commands(commands: argparse._SubParsersAction[_Parser]) -> None:
    db = commands.add_parser("db", help="create a database: a real book or a simulation")
    db_cmds = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    init = db_cmds.add_parser(
        "init", help="create the tables, and mark the database a real book or a simulation"
    )
    init.add_argument(
        "--simulation",
        action="store_true",
        help="a simulation: the fake gateway and --now are allowed (never on a real book)",
    )
    db_cmds.add_parser(
        "migrate", help="create the database if missing and migrate its tables forward"
    )
    db_cmds.add_parser("status", help="the database's schema version, changing nothing")


def _schema(url: str) -> Any:
    """The adapter module of the database at ``url`` (its ``schema_version`` and
    ``migrate_schema``), and the address it takes."""
    if url.startswith(("postgresql://", "postgres://")):
        from ..adapters import postgres

        return postgres, url
    from ..adapters import sqlite

    return sqlite, sqlite_path(url)


def _cmd_db_admin(args: argparse.Namespace, out: TextIO) -> None:
    """``db migrate`` and ``db status``: over the database itself, no store opened."""
    from ..adapters.migrations import LATEST

    url = args.db or os.environ.get("SUBSCRIPTIONS_DB") or DEFAULT_DB
    module, where = _schema(url)
    shown = redacted_url(url)
    if args.db_command == "migrate":
        found, now = module.migrate_schema(where)
        document: dict[str, Any] = {"database": shown, "from": found, "to": now}
        text = (
            f"{shown}: already at schema version {now}\n"
            if found == now
            else f"{shown}: migrated from schema version {found} to {now}\n"
        )
    else:
        try:
            version = module.schema_version(where)
        except DatabaseMissing:
            version = None
        state = (
            "missing"
            if version is None
            else "current"
            if version == LATEST
            else "newer"
            if version > LATEST
            else "old"
        )
        document = {"database": shown, "version": version, "expected": LATEST, "state": state}
        advice = {
            "missing": "create it with 'subscriptions db init [--simulation]'",
            "old": "run 'subscriptions db migrate'",
            "newer": "upgrade subscriptions to use it",
            "current": "ready",
        }[state]
        text = f"{shown}: schema version {version}, this library's {LATEST}: {advice}\n"
    out.write(json.dumps(document, indent=2) + "\n" if args.json else text)


def _account_commands(commands: argparse._SubParsersAction[_Parser]) -> None:
    account = commands.add_parser("account", help="create and show accounts")
    account_cmds = account.add_subparsers(dest="account_command", required=True)
    create = account_cmds.add_parser("create", help="open an account")
    create.add_argument("--id", help="the account's id (default: a new one)")
    create.add_argument("--name", required=True, help="the customer's legal name")
    create.add_argument("--line1", required=True, help="street address")
    create.add_argument("--city", required=True, help="the city")
    create.add_argument("--postal-code", required=True, help="the postal code")
    create.add_argument("--country", required=True, help="ISO 3166-1 alpha-2")
    create.add_argument("--region", help="ISO 3166-2, e.g. ES-CN")
    create.add_argument("--timezone", default="UTC", help="an IANA time zone, e.g. Europe/Rome")
    create.add_argument("--locale", default="en", help="the language of its messages: en, it")
    create.add_argument("--currency", default="EUR", help="ISO 4217 code the account pays in")
    create.add_argument("--contact", action="append", required=True, help="billing contact user id")
    create.add_argument(
        "--corporate",
        action="store_true",
        help="a corporate account: sold to by your staff on purchase orders",
    )
    create.add_argument("--payment-method", help="gateway token, e.g. tok_visa")
    show = account_cmds.add_parser("show", help="show an account and its subscriptions")
    show.add_argument("account", help="the account's id")
    vat = account_cmds.add_parser("vat", help="set (or clear with 'none') the VAT number")
    vat.add_argument("account", help="the account's id")
    vat.add_argument("number", help="the VAT number with its country prefix, or 'none'")
    vat.add_argument("--user", required=True, help="the acting user's id")
    pay = account_cmds.add_parser("payment-method", help="replace the payment method")
    pay.add_argument("account", help="the account's id")
    pay.add_argument(
        "token", help="the payment method: a gateway token, or cus_.../pm_... on Stripe"
    )
    pay.add_argument("--user", required=True, help="the acting user's id")


def _vat_commands(commands: argparse._SubParsersAction[_Parser]) -> None:
    vat = commands.add_parser("vat", help="VAT numbers checked with VIES")
    vat_cmds = vat.add_subparsers(dest="vat_command", required=True, metavar="ACTION")
    revalidate = vat_cmds.add_parser(
        "revalidate",
        help="check again the numbers checked longer ago than 90 days (a job of its own, "
        "never part of a bill run)",
    )
    revalidate.add_argument("--limit", type=int, help="check at most this many accounts")


def _trial_commands(commands: argparse._SubParsersAction[_Parser]) -> None:
    trial = commands.add_parser("trial", help="start a free trial")
    trial_cmds = trial.add_subparsers(dest="trial_command", required=True)
    start = trial_cmds.add_parser("start", help="start a product's free trial")
    start.add_argument("account", help="the account's id")
    start.add_argument("product", help="the product's id")
    start.add_argument("--user", required=True, help="the acting user's id")
    _terms(start)
    trials = commands.add_parser("trials", help="expire due trials")
    trials_cmds = trials.add_subparsers(dest="trials_command", required=True)
    expire = trials_cmds.add_parser("expire", help="expire the trials that ended")
    expire.add_argument("--at", help="ISO instant, not after now (default: now)")


def _cart_commands(commands: argparse._SubParsersAction[_Parser]) -> None:
    """cart, quote, checkout, seats."""
    cart = commands.add_parser("cart", help="manage an account's cart")
    cart_cmds = cart.add_subparsers(dest="cart_command", required=True)
    for name, what in (
        ("subscribe-now", "empty the cart and put one product in it (the 'Subscribe now' button)"),
        ("add", "add a product to the cart"),
        ("edit", "change a product's plan, seats or frequency in the cart"),
    ):
        sub = cart_cmds.add_parser(name, help=what)
        sub.add_argument("account", help="the account's id")
        sub.add_argument("product", help="the product's id")
        sub.add_argument("--user", required=True, help="the acting user's id")
        _terms(sub)
    remove = cart_cmds.add_parser("remove", help="take a product out of the cart")
    remove.add_argument("account", help="the account's id")
    remove.add_argument("product", help="the product's id")
    remove.add_argument("--user", required=True, help="the acting user's id")
    cart_show = cart_cmds.add_parser("show", help="what the cart holds")
    cart_show.add_argument("account", help="the account's id")

    quote = commands.add_parser("quote", help="price the cart")
    quote.add_argument("account", help="the account's id")
    quote.add_argument("--user", required=True, help="the acting user's id")
    checkout = commands.add_parser("checkout", help="place the order of a quote")
    checkout.add_argument("account", help="the account's id")
    checkout.add_argument("quote", help="the quote's id ('quote' prints it)")
    checkout.add_argument("--user", required=True, help="the acting user's id")
    checkout.add_argument(
        "--key", required=True, help="an idempotency key: the same key orders once"
    )
    checkout.add_argument("--token", help="payment token (tok_visa, tok_declined, tok_3ds...)")

    seats = commands.add_parser("seats", help="assign and list seats")
    seats_cmds = seats.add_subparsers(dest="seats_command", required=True)
    for name, what in (
        ("assign", "give seats to users"),
        ("unassign", "take seats back from users"),
        ("release", "free the seats of users before ordering fewer seats"),
    ):
        sub = seats_cmds.add_parser(name, help=what)
        sub.add_argument("account", help="the account's id")
        sub.add_argument("product", help="the product's id")
        sub.add_argument("users", nargs="+", help="the users' ids")
        sub.add_argument("--user", required=True, help="the acting user (a billing contact)")
    move = seats_cmds.add_parser("reassign", help="move a seat from one user to another")
    move.add_argument("account", help="the account's id")
    move.add_argument("product", help="the product's id")
    move.add_argument("from_user", help="the user who gives the seat up")
    move.add_argument("to_user", help="the user who gets it")
    move.add_argument("--user", required=True, help="the acting user (a billing contact)")
    seats_list = seats_cmds.add_parser("list")
    seats_list.add_argument("account", help="the account's id")
    seats_list.add_argument("product", help="the product's id")
    seats_list.add_argument("--user", required=True, help="the acting user's id")


def _billing_commands(commands: argparse._SubParsersAction[_Parser]) -> None:
    """invoices, renew, reconcile."""
    invoices = commands.add_parser("invoices", help="list an account's invoices")
    invoices.add_argument("account", help="the account's id")
    invoices.add_argument("--user", required=True, help="the acting user's id")
    renew = commands.add_parser("renew", help="run renewals up to a date")
    renew.add_argument(
        "--until", help="ISO instant, not after now (default: now); with --dry-run, any"
    )
    renew.add_argument(
        "--dry-run",
        action="store_true",
        help="show what the run would invoice, retry and cancel, writing nothing",
    )
    reconcile = commands.add_parser(
        "reconcile", help="resolve every payment left in flight (orders, renewals, refunds)"
    )
    reconcile.add_argument(
        "--report",
        action="store_true",
        help="only list the payments that need review and the refunds that failed",
    )


_HANDLERS: dict[str, Callable[[_Env], None]] = {
    "db.init": _cmd_db_init,
    "catalog.load": _cmd_catalog_load,
    "catalog.show": _cmd_catalog_show,
    "account.create": _cmd_account_create,
    "account.show": _cmd_account_show,
    "account.vat": _cmd_account_vat,
    "account.payment-method": _cmd_account_payment,
    "vat.revalidate": _cmd_vat_revalidate,
    "trial.start": _cmd_trial_start,
    "trials.expire": _cmd_trials_expire,
    "cart": _cmd_cart,
    "quote": _cmd_quote,
    "checkout": _cmd_checkout,
    "seats": _cmd_seats,
    "invoices": _cmd_invoices,
    "renew": _cmd_renew,
    "reconcile": _cmd_reconcile,
}


_HANDLERS.update(_more.HANDLERS)


def _handler(args: argparse.Namespace) -> Callable[[_Env], None]:
    sub = getattr(args, f"{args.command}_command", None)
    key = f"{args.command}.{sub}" if f"{args.command}.{sub}" in _HANDLERS else args.command
    return _HANDLERS[key]


@contextmanager
def _environment(args: argparse.Namespace, out: TextIO, signals: _Signals) -> Iterator[_Env]:
    env = _Env(args, out, signals)
    try:
        yield env
    finally:
        env.close()


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None) -> int:
    """Run the command line; returns the exit status."""
    out = stdout or sys.stdout
    line = hoisted(sys.argv[1:] if argv is None else argv)
    as_json = any(item in _GLOBAL_FLAGS for item in line[: _first_command(line)])
    _Parser.json_out = out if as_json else None
    try:
        args = _parser().parse_args(line)
    finally:
        _Parser.json_out = None
    # A failure is reported once, as the error line below; the connection pool's
    # warnings about its retries would only repeat it.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    signals = _Signals()
    signals.install()
    try:
        try:
            _run(args, out, signals)
            out.flush()
        except (UsageError, SubscriptionsError) as exc:
            message = " ".join(str(exc).split())
            if args.json:
                out.write(error_document(exc, message))
                out.flush()
            sys.stderr.write(f"subscriptions: error: {message}\n")
            return EXIT_INVALID
    except BrokenPipeError:
        _discard_output(out)
        return EXIT_BROKEN_PIPE
    except _Interrupted as stopped:
        sys.stderr.write(
            f"subscriptions: stopped at once by {_signal_name(stopped.signum)}; anything "
            "left in flight is resolved by 'subscriptions reconcile'\n"
        )
        return _exit_status(stopped.signum)
    finally:
        signals.restore()
    if signals.received is not None:
        sys.stderr.write(
            f"subscriptions: interrupted by {_signal_name(signals.received)}; stopped "
            "cleanly, nothing left half done: run the command again to go on\n"
        )
        return _exit_status(signals.received)
    return EXIT_OK


def _first_command(line: Sequence[str]) -> int:
    """Where the command starts in a hoisted line: after the global options."""
    i = 0
    while i < len(line):
        item = line[i]
        if item in _GLOBAL_FLAGS or (item.split("=", 1)[0] in _GLOBAL_VALUES and "=" in item):
            i += 1
        elif item in _GLOBAL_VALUES:
            i += 2
        else:
            break
    return i


def _discard_output(out: TextIO) -> None:
    """The reader of ``out`` is gone: what is still buffered goes to the null device,
    so that flushing it at exit raises nothing more."""
    with contextlib.suppress(OSError, ValueError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, out.fileno())
        os.close(null)


def _run(args: argparse.Namespace, out: TextIO, signals: _Signals) -> None:
    if args.command == "examples":
        for name, text in _examples().items():
            events = len(json.loads(text).get("events", []))
            out.write(f"{name}\t{events} events\n")
    elif args.command == "simulate":
        _cmd_simulate(args, out)
    elif args.command == "demo":
        _cmd_demo(args, out)
    elif args.command == "db" and args.db_command in ("migrate", "status"):
        _cmd_db_admin(args, out)
    else:
        with _environment(args, out, signals) as env:
            _handler(args)(env)
