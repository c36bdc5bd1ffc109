"""The command line's commands for the rest of the customer's life: listing and showing
accounts, subscriptions, orders, invoices and events; cancelling and reactivating;
paying an invoice and confirming a 3-D Secure payment; billing contacts; the vendor's
staff and their corporate orders.

Each command is a handler over the command's :class:`~.env.Env`, named in
:data:`HANDLERS`; :mod:`.app` gives each its words on the command line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from ..adapters.fakes import FakeGateway
from ..inputs import identifier
from ..money import shown_amount
from ..orders import Order
from ..subscription import Event
from .book import show_order, subscriptions_table, totals_text
from .env import Env, UsageError, emit
from .output import Shown, jsonable, table
from .settings import STAFF_KEY, staff_in, staff_of

__all__ = ["HANDLERS"]

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
    accounts: list[Any] = []
    after = a.after
    while len(accounts) < a.limit:  # pages of the book, until the page asked for is full
        page = env.center().accounts(after=after, limit=a.limit)
        accounts += [x for x in page if not a.kind or x.kind.value in a.kind]
        if len(page) < a.limit:
            break
        after = page[-1].id
    accounts = accounts[: a.limit]
    rows = [
        (x.id, x.name, x.kind.value, x.country, x.currency, ", ".join(sorted(x.billing_contacts)))
        for x in accounts
    ]
    headers = ("account", "name", "kind", "country", "currency", "billing contacts")
    emit(env, accounts, lambda: table(rows, headers) if rows else "No accounts.\n")


def _subscriptions(env: Env) -> None:
    subs = env.center().subscriptions(env.args.account)
    if env.args.status:
        subs = [s for s in subs if s.status.value in env.args.status]
    zone = _zone(env, env.args.account)
    emit(env, subs, lambda: subscriptions_table(subs, zone), zone=zone)


def _subscription_show(env: Env) -> None:
    a = env.args
    subs = env.center().subscriptions(a.account)
    sub = next((s for s in subs if s.product == a.product), None)
    if sub is None:
        raise UsageError(
            f"account {a.account!r} has no subscription to {a.product!r}; "
            f"'subscriptions subscriptions {a.account}' lists what it has"
        )
    zone = _zone(env, a.account)
    rows = [
        ("product", sub.product),
        ("status", sub.status.value),
        ("plan", sub.terms.plan),
        ("seats", sub.terms.seats),
        ("frequency", sub.terms.frequency.value),
        ("period", _span(sub.period, zone)),
        ("trial", _span(sub.trial, zone)),
        ("billing anchor", _local(sub.anchor, zone)),
        ("scheduled change", _scheduled(sub)),
        ("unpaid", _dunning(sub, zone)),
    ]
    emit(env, sub, lambda: table(rows, ("field", "value")), zone=zone)


def _span(span: Any, zone: ZoneInfo) -> str:
    if span is None:
        return "-"
    return f"{span.start.astimezone(zone).date()} .. {span.end.astimezone(zone).date()}"


def _local(moment: Any, zone: ZoneInfo) -> str:
    return "-" if moment is None else moment.astimezone(zone).isoformat(timespec="minutes")


def _scheduled(sub: Any) -> str:
    terms = sub.scheduled
    if terms is None:
        return "-"
    return f"{terms.plan} x{terms.seats} {terms.frequency.value}, at the end of the period"


def _dunning(sub: Any, zone: ZoneInfo) -> str:
    dunning = sub.dunning
    if dunning is None:
        return "-"
    retry = "no more retries"
    if dunning.next_retry_at is not None:
        retry = f"next retry {_local(dunning.next_retry_at, zone)}"
    return f"{dunning.attempts} failed attempt(s), {retry}"


def _orders(env: Env) -> None:
    a = env.args
    orders = env.center().orders(a.account, a.user)
    if a.state:
        orders = [o for o in orders if o.state.value in a.state]
    zone = _zone(env, a.account)
    rows = [
        (
            o.id,
            o.state.value,
            o.created_at.astimezone(zone).date(),
            f"{shown_amount(o.amount_due.amount, o.currency)} {o.currency}",
            o.purchase_order or "-",
            o.failure_code or "-",
        )
        for o in orders
    ]
    headers = ("order", "state", "placed", "amount due", "purchase order", "failure")
    emit(env, orders, lambda: table(rows, headers) if rows else "No orders.\n", zone=zone)


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
    show_order(env, env.center().order(a.account, a.user, a.order))


def _invoice_text(invoice: Any, zone: ZoneInfo) -> Shown:
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
    text = totals_text(
        invoice.currency,
        subtotal=invoice.subtotal,
        taxes=invoice.taxes,
        total=invoice.total,
        credit=invoice.credit_applied,
        due=invoice.amount_due,
    )
    return [head, table(rows, ("kind", "item", "seats", "period", "amount")), text]


def _invoice_id(env: Env, given: str) -> str:
    """The id of the account's invoice whose id or number (``INV-000001``, as
    ``invoices`` lists it) is ``given``; anything else as given (an order's id, or an
    id the Billing Center then refuses as unknown)."""
    if given.startswith(("inv_", "ord_")):
        return given
    listed = env.center().invoices(env.args.account, env.args.user)
    return next((i.id for i in listed if given in (i.id, i.number)), given)


def _invoice_show(env: Env) -> None:
    a = env.args
    invoice = env.center().invoice(a.account, a.user, _invoice_id(env, a.invoice))
    zone = _zone(env, a.account)
    emit(env, invoice, lambda: _invoice_text(invoice, zone), zone=zone)


def _invoice_pay(env: Env) -> None:
    a = env.args
    invoice = env.center().pay_invoice(
        a.account, a.user, _invoice_id(env, a.invoice), idempotency_key=a.key
    )
    _said(env, invoice, f"Invoice {invoice.number}: {invoice.status.value}")


def _confirm(env: Env) -> None:
    """After the customer's 3-D Secure: the order or invoice payment, as it now stands."""
    a = env.args
    done = env.center().confirm_payment(a.account, a.user, _invoice_id(env, a.payment))
    if isinstance(done, Order):
        show_order(env, done)
    else:
        _said(env, done, f"Invoice {done.number}: {done.status.value}")


# -- the vendor's staff and their corporate orders ------------------------------------


def _staff(env: Env) -> None:
    """Add users to the vendor's staff, take them off, or list them: one document of
    the command line's settings, changed in one transaction (all or none)."""
    a = env.args
    users = [identifier(u, what="user id") for u in getattr(a, "users", [])]

    def change(doc: dict[str, Any] | None) -> dict[str, Any]:
        staff = set(staff_in(doc))
        if a.action == "add":
            known = sorted(u for u in users if u in staff)
            if known:
                raise UsageError(
                    f"already on the staff: {', '.join(known)}; nothing changed "
                    "('subscriptions staff list' lists the staff)"
                )
            staff.update(users)
        else:
            unknown = sorted(u for u in users if u not in staff)
            if unknown:
                raise UsageError(
                    f"not on the staff: {', '.join(unknown)}; nothing changed "
                    "('subscriptions staff list' lists the staff)"
                )
            staff.difference_update(users)
        return {"users": sorted(staff)}

    if a.action == "list":
        staff = sorted(staff_of(env.saved))
    else:
        staff = env.saved.update(STAFF_KEY, change)["users"]
    rows = [(user,) for user in staff]
    emit(
        env,
        {"staff": staff},
        lambda: (
            table(rows, ("staff",))
            if rows
            else "No staff yet: 'subscriptions staff add USER' names them.\n"
        ),
    )


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
    show_order(env, order)


def _corporate_confirm(env: Env) -> None:
    a = env.args
    order = env.center().confirm_corporate_order(a.account, a.user, a.order)
    show_order(env, order)


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
            f"3-D Secure {outcome} for {env.args.charge}; now run 'subscriptions payment "
            "confirm ACCOUNT ORDER --user CONTACT' (checkout printed it)\n"
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
    "subscription.show": _subscription_show,
    "orders": _orders,
    "contacts": _contacts,
    "events": _events,
    "subscription.cancel": _cancel,
    "subscription.reactivate": _reactivate,
    "order.show": _order,
    "invoice.show": _invoice_show,
    "invoice.pay": _invoice_pay,
    "payment.confirm": _confirm,
    "staff": _staff,
    "corporate.quote": _corporate_quote,
    "corporate.order": _corporate_order,
    "corporate.confirm": _corporate_confirm,
    "fake.authenticate": _fake_authenticate,
    "messages.deliver": _deliver,
}
