"""The command line's billing jobs: an account's invoices, the bill run (and its dry
run), and reconcile."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from ..documents import catalog_from_dict
from ..money import shown_amount
from ..outlook import Forecast, ForecastDifference, compare_forecasts
from .env import Env, emit, instant, read_structured
from .output import Shown, Table, table

_ZERO = Decimal(0)

__all__ = ["forecast", "invoices", "reconcile", "renew"]


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


def forecast(env: Env) -> None:
    """What the book would invoice over the next months, under the database's catalog
    and, with ``--catalog``, a candidate's, with the difference."""
    center = env.center()
    now = env.clock.now()  # both forecasts are made at one instant
    today = center.forecast(env.args.months, at=now)
    if env.args.catalog is None:
        emit(env, {"forecast": _forecast_json(today)}, lambda: _forecast_text(today))
        return
    # The candidate's seller, if the file has one, is not used: the book's is.
    written = read_structured(env.args.catalog)
    written.pop("seller", None)
    candidate_catalog = catalog_from_dict(written)
    candidate = center.forecast(env.args.months, catalog=candidate_catalog, at=now)
    change = compare_forecasts(today, candidate)
    document = {
        "forecast": _forecast_json(today),
        "candidate": _forecast_json(candidate),
        "difference": {
            "lines": [
                {
                    "month": c.month,
                    "product": c.product,
                    "plan": c.plan,
                    "currency": c.currency,
                    "net": shown_amount(c.net, c.currency),
                    "vat": shown_amount(c.vat, c.currency),
                    "total": shown_amount(c.total, c.currency),
                }
                for c in change.lines
            ],
            "totals": _totals_json(change.totals),
        },
    }
    emit(env, document, lambda: _difference_text(change))


def _totals_json(totals: dict[str, Any]) -> dict[str, Any]:
    return {
        code: {
            "invoices": t.invoices,
            "net": shown_amount(t.net, code),
            "vat": shown_amount(t.vat, code),
            "total": shown_amount(t.total, code),
        }
        for code, t in totals.items()
    }


def _forecast_json(result: Forecast) -> dict[str, Any]:
    """A forecast as JSON: its lines with their totals, its totals per currency."""
    return {
        "start": result.start.astimezone(ZoneInfo(result.zone)).isoformat(),
        "end": result.end.astimezone(ZoneInfo(result.zone)).isoformat(),
        "zone": result.zone,
        "lines": [
            {
                "month": line.month,
                "product": line.product,
                "plan": line.plan,
                "currency": line.currency,
                "invoices": line.invoices,
                "net": shown_amount(line.net, line.currency),
                "vat": shown_amount(line.vat, line.currency),
                "total": shown_amount(line.total, line.currency),
            }
            for line in result.lines
        ],
        "totals": _totals_json(result.totals),
        "unpriced": [attrs.asdict(u) for u in result.unpriced],
        "collecting": result.collecting,
    }


def _forecast_text(result: Forecast) -> Shown:
    rows = [
        (
            line.month,
            line.product,
            line.plan,
            line.invoices,
            f"{shown_amount(line.net, line.currency)} {line.currency}",
            shown_amount(line.vat, line.currency),
            shown_amount(line.total, line.currency),
        )
        for line in result.lines
    ]
    headers = ("month", "product", "plan", "invoices", "net", "VAT", "total")
    shown: list[str | Table] = [
        f"Forecast from {result.start.date()} to {result.end.date()} (months in {result.zone})\n",
        table(rows, headers),
    ]
    shown.append(_totals_text(result.totals, "total"))
    if result.collecting:
        shown.append(_collecting_text(result))
    if result.unpriced:
        shown.append(_unpriced_text(result))
    return shown


def _collecting_text(result: Forecast) -> str:
    return (
        f"{result.collecting} subscription(s) being collected (an unpaid renewal): not "
        "forecast beyond it\n"
    )


def _totals_text(totals: dict[str, Any], what: str) -> str:
    return "".join(
        f"{what} {code}: {t.invoices} invoice(s), net {shown_amount(t.net, code)}, "
        f"VAT {shown_amount(t.vat, code)}, total {shown_amount(t.total, code)}\n"
        for code, t in totals.items()
    )


def _unpriced_text(result: Forecast) -> str:
    return f"Not billable under this catalog ({len(result.unpriced)}):\n" + "".join(
        f"  {u.subscription_id} ({u.product}/{u.plan}): {u.reason}\n" for u in result.unpriced
    )


def _difference_text(change: ForecastDifference) -> Shown:
    rows = [
        (
            c.month,
            c.product,
            c.plan,
            shown_amount(_ZERO if c.base is None else c.base.net, c.currency),
            shown_amount(_ZERO if c.candidate is None else c.candidate.net, c.currency),
            f"{_signed(c.net, c.currency)} {c.currency}",
            _signed(c.vat, c.currency),
        )
        for c in change.lines
    ]
    headers = ("month", "product", "plan", "net today", "net candidate", "net change",
               "VAT change")  # fmt: skip
    shown: list[str | Table] = [
        f"Candidate catalog against today's, from {_local_date(change.base.start, change.base)} "
        f"to {_local_date(change.base.end, change.base)} (months in {change.base.zone})\n",
        table(rows, headers) if rows else "No difference.\n",
        _totals_text(change.base.totals, "today"),
        _totals_text(change.candidate.totals, "candidate"),
        _totals_text(change.totals, "change"),
    ]
    if change.candidate.unpriced:
        shown.append(_unpriced_text(change.candidate))
    return shown


def _local_date(moment: Any, result: Forecast) -> object:
    return moment.astimezone(ZoneInfo(result.zone)).date()


def _signed(amount: Decimal, currency: str) -> str:
    shown = shown_amount(amount, currency)
    return shown if amount < 0 else f"+{shown}"
