"""The command line's commands up to checkout: the catalog, accounts and their VAT
numbers, trials, the cart, its quote and its order, seats."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from ..accounts import Account, AccountKind, Address
from ..catalog import Catalog
from ..center import check_catalog_change
from ..documents import catalog_to_dict, seller_and_catalog_from_dict, seller_to_dict
from ..money import shown_amount
from ..orders import Order, OrderState, Seller
from .env import Env, emit, instant, read_structured
from .output import Shown, Table, jsonable, shown_action, table

__all__ = [
    "account_create",
    "account_payment",
    "account_show",
    "account_vat",
    "cart",
    "catalog_load",
    "catalog_show",
    "checkout",
    "quote",
    "seats",
    "subscriptions_table",
    "totals_text",
    "trial_start",
    "trials_expire",
    "vat_revalidate",
]


# -- the catalog ---------------------------------------------------------------------


def catalog_load(env: Env) -> None:
    seller, catalog = seller_and_catalog_from_dict(read_structured(env.args.file))
    check_catalog_change(env.store, catalog, at=env.clock.now())
    env.saved.put_all({"catalog": catalog_to_dict(catalog), "seller": seller_to_dict(seller)})
    emit(
        env,
        {"seller": seller_to_dict(seller), **catalog_to_dict(catalog)},
        lambda: _catalog_text(catalog, seller),
    )


def catalog_show(env: Env) -> None:
    center = env.center()
    # The file's shape: what it prints, `catalog load` reads back.
    emit(
        env,
        {"seller": seller_to_dict(center.seller), **catalog_to_dict(center.catalog)},
        lambda: _catalog_text(center.catalog, center.seller),
    )


def _catalog_text(catalog: Catalog, seller: Seller) -> Shown:
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
    headers = ("product", "name", "trial days", "plan", "rank", "frequency", "price")
    return [f"Seller: {seller.name} ({seller.country})\n", table(rows, headers)]


# -- accounts ------------------------------------------------------------------------


def _account_text(account: Account) -> Table:
    rows = [
        ("id", account.id),
        ("name", account.name),
        ("kind", account.kind.value),
        ("address", ", ".join(account.address.lines())),
        ("region", account.address.region or "-"),
        ("time zone", account.timezone),
        ("locale", account.locale),
        ("currency", account.currency),
        ("billing contacts", ", ".join(sorted(account.billing_contacts))),
        ("payment method", account.payment_method or "-"),
        ("VAT number", str(account.vat_number) if account.vat_number else "-"),
        ("credit balance", shown_amount(account.credit_balance, account.currency)),
    ]
    return table(rows, ("field", "value"))


def account_create(env: Env) -> None:
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
        billing_contacts=list(a.contact),
        kind=AccountKind.CORPORATE if a.corporate else AccountKind.SELF_SERVICE,
        payment_method=a.payment_method,
    )
    emit(env, account, lambda: _account_text(account), zone=ZoneInfo(account.timezone))


def account_show(env: Env) -> None:
    center = env.center()
    account = center.account(env.args.account)
    subs = center.subscriptions(account.id)

    zone = ZoneInfo(account.timezone)

    def human() -> Shown:
        if not subs:
            return _account_text(account)
        return [_account_text(account), "\n", subscriptions_table(subs, zone)]

    emit(env, {"account": account, "subscriptions": subs}, human, zone=zone)


def subscriptions_table(subs: Sequence[Any], zone: ZoneInfo) -> str | Table:
    """Subscriptions, one a line, with the local date their period (or trial) ends."""
    if not subs:
        return "No subscriptions.\n"

    def ends(sub: Any) -> object:
        until = sub.period.end if sub.period else (sub.trial.end if sub.trial else None)
        return "-" if until is None else until.astimezone(zone).date()

    rows = [
        (
            s.product,
            s.terms.plan,
            s.terms.seats,
            s.terms.frequency.value,
            s.status.value,
            ends(s),
        )
        for s in subs
    ]
    return table(rows, ("product", "plan", "seats", "frequency", "status", "period ends"))


def account_vat(env: Env) -> None:
    number = None if env.args.number in ("", "none") else env.args.number
    account = env.center().set_vat_number(env.args.account, env.args.user, number)
    emit(env, account, lambda: _account_text(account), zone=ZoneInfo(account.timezone))


def account_payment(env: Env) -> None:
    account = env.center().update_payment_method(env.args.account, env.args.user, env.args.token)
    emit(env, account, lambda: _account_text(account), zone=ZoneInfo(account.timezone))


def vat_revalidate(env: Env) -> None:
    """Check again the VAT numbers checked too long ago (a job of its own)."""
    report = env.center().revalidate_vat_numbers(limit=env.args.limit)

    def human() -> Shown:
        rows: list[tuple[object, ...]] = [(a, "invalid", "-") for a in report.invalid]
        rows += [(a, "unavailable", code) for a, code in report.unavailable]
        rows += [(a, "skipped", why) for a, why in report.skipped]
        head = (
            f"checked {report.checked}: {len(report.valid)} still valid, {len(report.invalid)} "
            f"invalid, {len(report.unavailable)} unavailable, {len(report.skipped)} skipped\n"
        )
        return [head, table(rows, ("account", "outcome", "why"))] if rows else head

    emit(env, report, human)


# -- trials ------------------------------------------------------------------------


def trial_start(env: Env) -> None:
    a = env.args
    sub = env.center().start_trial(
        a.account,
        a.user,
        a.product,
        plan=a.plan,
        seats=1 if a.seats is None else a.seats,
        frequency=a.frequency,
    )
    zone = ZoneInfo(env.center().account(a.account).timezone)
    emit(env, sub, lambda: subscriptions_table([sub], zone), zone=zone)


def trials_expire(env: Env) -> None:
    at = instant(env.args.at, option="--at") if env.args.at else None
    count = env.center().expire_trials(at, stop=env.signals.stop)
    emit(env, {"expired": count}, lambda: f"Expired {count} trial(s).\n")


# -- the cart, its quote and its order -----------------------------------------------


def _cart_text(cart: Any) -> Shown:
    if not cart.items:
        return "The cart is empty.\n"
    rows: list[tuple[object, ...]] = [
        (i.product, i.plan, i.seats, i.frequency.value) for i in cart.items
    ]
    headers: tuple[str, ...] = ("product", "plan", "seats", "frequency")
    if any(i.release for i in cart.items):
        rows = [
            (*row, ", ".join(i.release) or "-") for row, i in zip(rows, cart.items, strict=True)
        ]
        headers = (*headers, "releases")
    return table(rows, headers)


def cart(env: Env) -> None:
    a = env.args
    center = env.center()
    if a.action == "show":
        held = center.cart(a.account)
    elif a.action == "remove":
        held = center.remove_cart_item(a.account, a.user, a.product)
    else:
        terms = {"plan": a.plan, "seats": a.seats, "frequency": a.frequency}
        if a.action == "edit":
            release = [] if a.no_release else (list(a.release) or None)
            held = center.edit_cart_item(a.account, a.user, a.product, **terms, release=release)
        else:
            operation = {"subscribe-now": center.subscribe_now, "add": center.add_to_cart}
            held = operation[a.action](
                a.account, a.user, a.product, **terms, release=list(a.release)
            )
    emit(env, held, lambda: _cart_text(held))


def _quote_text(quote: Any, zone: ZoneInfo) -> Shown:
    """The quote as a table, its dates in the account's time zone."""
    currency = quote.currency

    def money(value: Decimal) -> str:
        return shown_amount(value, currency)

    def local(moment: datetime) -> str:
        return moment.astimezone(zone).isoformat(timespec="minutes")

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
    shown: list[str | Table] = [
        f"Quote {quote.id} (valid until {local(quote.expires_at)})\n",
        table(lines, ("kind", "item", "seats", "frequency", "period", "amount")),
    ]
    text = totals_text(
        currency,
        subtotal=None if quote.invoice is None else quote.invoice.subtotal,
        taxes=() if quote.invoice is None else quote.invoice.taxes,
        total=None if quote.invoice is None else quote.invoice.total,
        credit=quote.credit_applied.amount,
        due=quote.amount_due.amount,
    )
    for item in quote.items:
        if item.next_billing_at is not None:
            text += f"{item.product}: next billing date {local(item.next_billing_at)}\n"
        if item.release:
            text += f"{item.product}: the order releases the seats of {', '.join(item.release)}\n"
    return [*shown, text]


def totals_text(
    currency: str,
    *,
    subtotal: Decimal | None,
    taxes: Sequence[Any],
    total: Decimal | None,
    credit: Decimal,
    due: Decimal,
) -> str:
    """The foot of a quote or an invoice: the subtotal, each VAT line, the total, the
    credit applied and the amount due."""

    def money(value: Decimal) -> str:
        return shown_amount(value, currency)

    text = "" if subtotal is None else f"subtotal {money(subtotal)}\n"
    for tax in taxes:
        text += f"VAT {tax.rate}% {tax.treatment.value} on {money(tax.base)}: {money(tax.amount)}\n"
    if total is not None:
        text += f"total {money(total)}\n"
    return text + f"credit applied {money(credit)}\namount due {money(due)} {currency}\n"


def quote(env: Env) -> None:
    center = env.center()
    priced = center.quote(env.args.account, env.args.user)
    zone = ZoneInfo(center.account(env.args.account).timezone)
    emit(env, priced, lambda: _quote_text(priced, zone), zone=zone)


def checkout(env: Env) -> None:
    a = env.args
    order = env.center().place_order(
        a.account, a.user, a.quote, idempotency_key=a.key, payment_method=a.token
    )
    show_order(env, order)


def show_order(env: Env, order: Order) -> None:
    """Print ``order`` (its invoice by number), and what to do next when it waits."""
    center = env.center()
    zone = ZoneInfo(center.account(order.account_id).timezone)
    number = None
    user = getattr(env.args, "user", None)  # the staff's commands read no invoice
    if order.invoice_id is not None and user is not None:
        number = center.invoice(order.account_id, user, order.invoice_id).number
    document = {**jsonable(order, zone=zone), "invoice_number": number}
    amount = f"{shown_amount(order.amount_due.amount, order.currency)} {order.currency}"
    rows = [
        ("order", order.id),
        ("state", order.state.value),
        ("amount due", amount),
        ("invoice", number or "-"),
    ]
    if order.purchase_order is not None:
        rows.append(("purchase order", f"{order.purchase_order}, due in {order.due_days} days"))
    if order.failure_code is not None:
        rows.append(("failure", f"{order.failure_code}: {order.failure_message or '-'}"))
    shown: list[str | Table] = [table(rows, ("field", "value"))]
    step = _next_step(env, order)
    if step:
        shown.append(step)
    emit(env, document, lambda: shown, zone=zone)


def _next_step(env: Env, order: Order) -> str:
    """What to do about an order that waits: for the customer's 3-D Secure, for the
    gateway's answer, or for the customer's confirmation of a corporate order."""
    account, oid = order.account_id, order.id
    if order.state is OrderState.REQUIRES_ACTION:
        text = f"The customer must authenticate the payment: {shown_action(order.next_action)}\n"
        if env.book.simulation:
            text += (
                f"(a simulation: 'subscriptions fake authenticate {order.charge_id}' plays "
                "the customer at the bank)\n"
            )
        return text + (
            f"Then: subscriptions payment confirm {account} {oid} --user {order.placed_by}\n"
        )
    if order.state in (OrderState.PENDING, OrderState.UNKNOWN):
        return (
            "The gateway has not said what became of the payment; nothing more is charged. "
            "'subscriptions reconcile' asks it (in a few minutes) and completes the order.\n"
        )
    if order.state is OrderState.AWAITING_CONFIRMATION:
        return (
            "Waiting for the customer: subscriptions corporate confirm "
            f"{account} {oid} --user CONTACT\n"
        )
    return ""


# -- seats ---------------------------------------------------------------------------


def seats(env: Env) -> None:
    a = env.args
    center = env.center()
    if a.action == "assign":
        held = center.assign_seats(a.account, a.user, a.product, list(a.users))
    elif a.action == "unassign":
        held = center.unassign_seats(a.account, a.user, a.product, list(a.users))
    elif a.action == "release":
        held = center.release_seats(a.account, a.user, a.product, list(a.users))
    elif a.action == "reassign":
        held = center.reassign_seat(a.account, a.user, a.product, a.from_user, a.to_user)
    else:
        held = center.seats(a.account, a.user, a.product)

    def human() -> Shown:
        head = f"{held.in_use} of {held.seats} seats assigned\n"
        rows = [(i + 1, u) for i, u in enumerate(held.users)]
        return [head, table(rows, ("seat", "user"))] if rows else head

    emit(env, held, human)
