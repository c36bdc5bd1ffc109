"""The command line's commands for the rest of the customer's life: listing and showing
accounts, subscriptions, orders, invoices and events; cancelling and reactivating;
paying an invoice and confirming a 3-D Secure payment; billing contacts; the vendor's
corporate orders.

Each command is a handler over the command's :class:`~.env.Env` and a parser that
:func:`add` hangs under the command line's.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from ..adapters.fakes import FakeGateway
from ..orders import Order
from ..subscription import Event
from .env import Env, UsageError, emit
from .output import jsonable, shown_amount, table

__all__ = ["HANDLERS", "add"]

Handler = Callable[[Env], None]


def _zone(env: Env, account_id: str) -> ZoneInfo:
    return ZoneInfo(env.center().account(account_id).timezone)


def _said(env: Env, value: Any, line: str) -> None:
    """Print ``value`` (JSON, its instants in the command's account's offset), or the
    one ``line`` that says what became of it."""
    emit(env, value, lambda: line + "\n", zone=_zone(env, env.args.account))


# -- accounts and what they hold ---------------------------------------------------------


def _accounts(env: Env) -> None:
    a = env.args
    accounts = env.center().accounts(after=a.after, limit=a.limit)
    rows = [
        (x.id, x.name, x.kind.value, x.country, x.currency, ", ".join(sorted(x.billing_contacts)))
        for x in accounts
    ]
    headers = ("account", "name", "kind", "country", "currency", "billing contacts")
    emit(env, accounts, lambda: table(rows, headers) if rows else "No accounts.\n")


def _subscriptions(env: Env) -> None:
    a = env.args
    center = env.center()
    subs = center.subscriptions(a.account)
    zone = _zone(env, a.account)
    rows = [
        (
            s.product,
            s.terms.plan,
            s.terms.seats,
            s.terms.frequency.value,
            s.status.value,
            "-" if s.period is None else s.period.end.astimezone(zone).date(),
        )
        for s in subs
    ]
    headers = ("product", "plan", "seats", "frequency", "status", "renews")
    emit(env, subs, lambda: table(rows, headers) if rows else "No subscriptions.\n", zone=zone)


def _contacts(env: Env) -> None:
    a = env.args
    account = env.center().set_billing_contacts(a.account, a.user, a.contact)
    emit(
        env,
        account,
        lambda: "Billing contacts: " + ", ".join(sorted(account.billing_contacts)) + "\n",
    )


def _event_row(event: Event, zone: ZoneInfo) -> tuple[object, ...]:
    detail = [
        f"{name}={value}"
        for name, value in (
            ("product", event.product),
            ("order", event.order_id),
            ("invoice", event.invoice_number),
            ("payment", event.payment_key),
            ("code", event.failure_code),
        )
        if value
    ]
    if event.user_ids:
        detail.append("users=" + ",".join(event.user_ids))
    if event.note:
        detail.append(event.note)
    return (
        event.at.astimezone(zone).isoformat(timespec="seconds"),
        event.kind.value,
        " ".join(detail),
    )


def _events(env: Env) -> None:
    """The account's events; with ``--follow``, new ones as they come (one JSON
    object per line with ``--json``), until interrupted."""
    a = env.args
    center = env.center()
    zone = _zone(env, a.account)
    if not a.follow:
        events = center.events(a.account)
        rows = [_event_row(e, zone) for e in events]
        emit(env, events, lambda: table(rows, ("at", "event", "detail")), zone=zone)
        return
    seen = 0
    while not env.signals.stop():
        events = center.events(a.account)
        for event in events[seen:]:
            if env.args.json:
                env.out.write(json.dumps(jsonable(event, zone=zone), ensure_ascii=False) + "\n")
            else:
                env.out.write("  ".join(str(c) for c in _event_row(event, zone)) + "\n")
        seen = len(events)
        env.out.flush()
        time.sleep(a.interval)


# -- subscriptions ---------------------------------------------------------------------


def _cancel(env: Env) -> None:
    a = env.args
    sub = env.center().cancel(a.account, a.user, a.product, timing=a.timing)
    _said(env, sub, f"{sub.product}: {sub.status.value}")


def _reactivate(env: Env) -> None:
    a = env.args
    sub = env.center().reactivate(a.account, a.user, a.product)
    _said(env, sub, f"{sub.product}: {sub.status.value}, renews as before")


# -- orders, invoices, payments ----------------------------------------------------------


def _order(env: Env) -> None:
    a = env.args
    order = env.center().order(a.account, a.user, a.order)
    zone = _zone(env, a.account)
    rows = [
        ("order", order.id),
        ("state", order.state.value),
        ("amount due", f"{shown_amount(order.amount_due.amount, order.currency)} {order.currency}"),
        ("invoice", order.invoice_id or "-"),
        ("failure", order.failure_code or "-"),
    ]
    emit(env, order, lambda: table(rows, ("field", "value")), zone=zone)


def _invoice_text(invoice: Any, zone: ZoneInfo) -> str:
    head = (
        f"{invoice.document} {invoice.number} ({invoice.status.value}), issued "
        f"{invoice.issued_at.astimezone(zone).date()}\n"
    )
    rows = [
        (
            line.kind.value,
            f"{line.product}/{line.plan}",
            line.seats,
            f"{line.period.start.astimezone(zone).date()} .. "
            f"{line.period.end.astimezone(zone).date()}",
            shown_amount(line.amount, invoice.currency),
        )
        for line in invoice.lines
    ]
    text = head + table(rows, ("kind", "item", "seats", "period", "amount"))
    text += f"total {shown_amount(invoice.total, invoice.currency)} {invoice.currency}\n"
    text += f"amount due {shown_amount(invoice.amount_due, invoice.currency)}\n"
    return text


def _invoice_show(env: Env) -> None:
    a = env.args
    invoice = env.center().invoice(a.account, a.user, a.invoice)
    zone = _zone(env, a.account)
    emit(env, invoice, lambda: _invoice_text(invoice, zone), zone=zone)


def _invoice_pay(env: Env) -> None:
    a = env.args
    invoice = env.center().pay_invoice(a.account, a.user, a.invoice, idempotency_key=a.key)
    _said(env, invoice, f"Invoice {invoice.number}: {invoice.status.value}")


def _confirm(env: Env) -> None:
    """After the customer's 3-D Secure: the order or invoice payment, as it now stands."""
    a = env.args
    done = env.center().confirm_payment(a.account, a.user, a.payment)
    if isinstance(done, Order):
        _said(env, done, f"Order {done.id}: {done.state.value}")
    else:
        _said(env, done, f"Invoice {done.number}: {done.status.value}")


# -- corporate orders ------------------------------------------------------------------


def _corporate_quote(env: Env) -> None:
    a = env.args
    quote = env.center().staff_quote(a.staff, a.account)
    due = f"{shown_amount(quote.amount_due.amount, quote.currency)} {quote.currency}"
    _said(env, quote, f"Quote {quote.id}: amount due {due}")


def _corporate_order(env: Env) -> None:
    a = env.args
    order = env.center().staff_place_corporate_order(
        a.staff,
        a.account,
        a.quote,
        purchase_order=a.purchase_order,
        due_days=a.due_days,
        idempotency_key=a.key,
    )
    _said(env, order, f"Order {order.id}: {order.state.value}")


def _corporate_confirm(env: Env) -> None:
    a = env.args
    order = env.center().confirm_corporate_order(a.account, a.user, a.order)
    _said(env, order, f"Order {order.id}: {order.state.value}")


# -- the fake gateway's customer (a simulation only) ----------------------------------


def _fake_authenticate(env: Env) -> None:
    """Play the customer finishing (or failing) 3-D Secure at the fake gateway, as a
    bank's page would: then ``payment confirm`` completes the payment."""
    gateway = env.gateway.gateway
    if not isinstance(gateway, FakeGateway):
        raise UsageError(
            "only the fake gateway of a simulation has a pretend customer; on a real book "
            "the customer authenticates on the bank's page"
        )
    gateway.complete_action(env.args.charge, succeed=not env.args.fail)
    outcome = "failed" if env.args.fail else "completed"
    emit(
        env,
        {"charge_id": env.args.charge, "authenticated": not env.args.fail},
        lambda: (
            f"3-D Secure {outcome} for {env.args.charge}; now run 'subscriptions payment confirm'\n"
        ),
    )


def _deliver(env: Env) -> None:
    """Send the messages waiting in the outbox to ``--messages``."""
    if env.notifier is None:
        raise UsageError(
            "no destination for the messages: give --messages DIR (a folder of .eml files) "
            "or --messages stderr"
        )
    sent = 0
    while True:
        batch = env.center().deliver_outbox()
        sent += batch
        if batch == 0:
            break
    emit(env, {"sent": sent}, lambda: f"Sent {sent} message(s).\n")


HANDLERS: dict[str, Handler] = {
    "accounts": _accounts,
    "subscriptions": _subscriptions,
    "contacts": _contacts,
    "events": _events,
    "subscription.cancel": _cancel,
    "subscription.reactivate": _reactivate,
    "order.show": _order,
    "invoice.show": _invoice_show,
    "invoice.pay": _invoice_pay,
    "payment.confirm": _confirm,
    "corporate.quote": _corporate_quote,
    "corporate.order": _corporate_order,
    "corporate.confirm": _corporate_confirm,
    "fake.authenticate": _fake_authenticate,
    "messages.deliver": _deliver,
}


# -- the parsers -------------------------------------------------------------------------


def _account_and_user(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("account", help="the account's id")
    parser.add_argument("--user", required=True, help="the acting user (a billing contact)")


def add(commands: Any) -> None:
    """Add the commands of this module under ``commands`` (the command line's
    subparsers)."""
    accounts = commands.add_parser("accounts", help="list accounts, a page at a time")
    accounts.add_argument("--after", help="list the accounts after this id (the next page)")
    accounts.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    subs = commands.add_parser("subscriptions", help="list an account's subscriptions")
    subs.add_argument("account", help="the account's id")
    contacts = commands.add_parser("contacts", help="replace an account's billing contacts")
    _account_and_user(contacts)
    contacts.add_argument(
        "--contact", action="append", required=True, help="a billing contact's user id (repeat)"
    )
    events = commands.add_parser("events", help="an account's events (--follow: as they come)")
    events.add_argument("account", help="the account's id")
    events.add_argument("--follow", action="store_true", help="keep printing new events")
    events.add_argument(
        "--interval", type=float, default=2.0, help="seconds between looks with --follow"
    )
    _subscription_parsers(commands)
    _payment_parsers(commands)
    _corporate_parsers(commands)
    messages = commands.add_parser("messages", help="the customers' messages waiting to go")
    message_actions = messages.add_subparsers(
        dest="messages_command", required=True, metavar="ACTION"
    )
    message_actions.add_parser(
        "deliver", help="send the messages waiting in the outbox to --messages"
    )
    fake = commands.add_parser("fake", help="the fake gateway's pretend customer (simulations)")
    fake_actions = fake.add_subparsers(dest="fake_command", required=True, metavar="ACTION")
    auth = fake_actions.add_parser(
        "authenticate", help="finish 3-D Secure for a charge, as the customer at the bank"
    )
    auth.add_argument("charge", help="the charge's id (the order's charge_id)")
    auth.add_argument("--fail", action="store_true", help="fail the authentication instead")


def _subscription_parsers(commands: Any) -> None:
    sub = commands.add_parser("subscription", help="cancel or reactivate a subscription")
    actions = sub.add_subparsers(dest="subscription_command", required=True, metavar="ACTION")
    cancel = actions.add_parser("cancel", help="cancel at the end of the term, or now")
    _account_and_user(cancel)
    cancel.add_argument("product", help="the product's id")
    cancel.add_argument(
        "--timing",
        choices=("end_of_term", "immediate"),
        default="end_of_term",
        help="end_of_term (default): at the end of the paid period; immediate: now, with "
        "a credit for the rest",
    )
    again = actions.add_parser("reactivate", help="undo a cancellation at the end of the term")
    _account_and_user(again)
    again.add_argument("product", help="the product's id")


def _payment_parsers(commands: Any) -> None:
    order = commands.add_parser("order", help="show an order")
    order_actions = order.add_subparsers(dest="order_command", required=True, metavar="ACTION")
    show = order_actions.add_parser("show", help="an order's state")
    _account_and_user(show)
    show.add_argument("order", help="the order's id (checkout prints it)")
    invoice = commands.add_parser("invoice", help="show or pay an invoice")
    actions = invoice.add_subparsers(dest="invoice_command", required=True, metavar="ACTION")
    show_invoice = actions.add_parser("show", help="an invoice or credit note, line by line")
    _account_and_user(show_invoice)
    show_invoice.add_argument("invoice", help="the invoice's id ('invoices ACCOUNT' lists them)")
    pay = actions.add_parser("pay", help="pay an open or failed invoice now")
    _account_and_user(pay)
    pay.add_argument("invoice", help="the invoice's id")
    pay.add_argument("--key", required=True, help="an idempotency key: the same key pays once")
    payment = commands.add_parser("payment", help="confirm a payment after 3-D Secure")
    pay_actions = payment.add_subparsers(dest="payment_command", required=True, metavar="ACTION")
    confirm = pay_actions.add_parser(
        "confirm", help="finish an order or invoice payment once the customer authenticated"
    )
    _account_and_user(confirm)
    confirm.add_argument("payment", help="the order's id, or the invoice's id")


def _corporate_parsers(commands: Any) -> None:
    corporate = commands.add_parser("corporate", help="purchase-order orders (vendor's staff)")
    actions = corporate.add_subparsers(dest="corporate_command", required=True, metavar="ACTION")
    quote = actions.add_parser("quote", help="the staff price an account's cart")
    quote.add_argument("account", help="the account's id")
    quote.add_argument("--staff", required=True, help="the staff member's user id")
    order = actions.add_parser("order", help="the staff place the order of a quote")
    order.add_argument("account", help="the account's id")
    order.add_argument("quote", help="the quote's id ('corporate quote' prints it)")
    order.add_argument("--staff", required=True, help="the staff member's user id")
    order.add_argument("--purchase-order", required=True, help="the customer's PO number")
    order.add_argument("--due-days", type=int, default=30, help="payment terms (default 30)")
    order.add_argument("--key", required=True, help="an idempotency key: the same key orders once")
    confirm = actions.add_parser("confirm", help="the customer confirms a corporate order")
    _account_and_user(confirm)
    confirm.add_argument("order", help="the order's id")
