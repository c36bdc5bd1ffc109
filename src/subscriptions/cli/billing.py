"""The command line's billing jobs: an account's invoices, the bill run (and its dry
run), and reconcile."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from .env import Env, emit, instant
from .output import Shown, Table, shown_amount, table

__all__ = ["invoices", "reconcile", "renew"]


def invoices(env: Env) -> None:
    center = env.center()
    listed = center.invoices(env.args.account, env.args.user)
    if env.args.status:
        listed = [i for i in listed if i.status.value in env.args.status]
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
        for i in listed
    ]
    headers = (
        "number",
        "document",
        "reason",
        "issued",
        "tax point",
        "total",
        "amount due",
        "status",
    )
    emit(env, listed, lambda: table(rows, headers), zone=zone)


def _preview_text(preview: Any) -> Shown:
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
    text = "".join(
        f"total to charge: {shown_amount(amount, currency)} {currency}\n"
        for currency, amount in sorted(preview.charged.items())
    )
    return [
        table(rows, ("account", "product", "plan", "step", "due", "to charge")),
        text + "(a dry run: nothing was written, charged or sent)\n",
    ]


def renew(env: Env) -> None:
    """The bill run up to ``--until`` (with ``--dry-run``, what it would do); on a
    terminal, a progress bar with the number due and the time left."""
    until = instant(env.args.until, option="--until") if env.args.until else None
    center = env.center()
    if env.args.dry_run:
        preview = center.preview_renewals(until)
        emit(env, preview, lambda: _preview_text(preview))
        return
    total = center.count_due(until) if env.screen.shows_progress(env.args.json) else None
    with env.screen.progress("Renewing", total) as progress:
        report = center.run_renewals(until, progress=progress, stop=env.signals.stop)

    def human() -> Shown:
        rows = [
            (f.name, getattr(report, f.name))
            for f in attrs.fields(type(report))
            if f.name not in ("errors", "stopped")
        ]
        text = "".join(f"skipped {sub_id}: {error}\n" for sub_id, error in report.errors)
        if report.stopped:
            text += f"stopped early: {report.stopped}\n"
        return [table(rows, ("step", "count")), text]

    emit(env, report, human)


def _attempts(attempts: Sequence[Any]) -> Table:
    rows = [
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
    return table(rows, ("key", "kind", "state", "amount", "code", "updated"))


def reconcile(env: Env) -> None:
    center = env.center()
    if env.args.report:
        review = center.payment_review()

        def listing() -> Shown:
            shown: list[str | Table] = [
                f"{review.in_flight} payment(s) in flight\n",
                f"\nNeeds review ({len(review.needs_review)}):\n",
            ]
            if review.needs_review:
                shown.append(_attempts(review.needs_review))
            shown.append(f"\nFailed refunds ({len(review.failed_refunds)}):\n")
            if review.failed_refunds:
                shown.append(_attempts(review.failed_refunds))
            return shown

        emit(env, review, listing)
        return
    report = center.reconcile(stop=env.signals.stop)

    def human() -> Shown:
        shown: list[str | Table] = [f"Resolved {len(report.resolved)} payment(s).\n"]
        if report.resolved:
            shown.append(_attempts(report.resolved))
        if report.orders:
            rows = [(o.id, o.state.value, o.failure_code or "-") for o in report.orders]
            shown.append(table(rows, ("order", "state", "outcome")))
        text = (
            f"{report.waiting} still held by a process at work on them, "
            f"{report.unknown} the gateway could not tell about, "
            f"{len(report.needs_review)} now needing review\n"
        )
        text += "".join(f"failed {what}: {error}\n" for what, error in report.errors)
        return [*shown, text]

    emit(env, report, human)
