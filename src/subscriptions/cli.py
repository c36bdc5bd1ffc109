"""The ``subscriptions`` command line.

``subscriptions simulate FILE.json`` replays a scenario and prints its invoices and
final state as JSON (``--format table`` for people); ``subscriptions simulate
--example brief`` runs one of the examples bundled with the library, and
``subscriptions examples`` lists them. An invalid document prints one line on stderr
and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from importlib import resources
from typing import Any, TextIO

from . import __version__
from .errors import SubscriptionsError
from .scenario import run

__all__ = ["main"]

EXIT_OK = 0
EXIT_INVALID = 2


def _examples() -> dict[str, str]:
    folder = resources.files("subscriptions") / "examples"
    return {
        entry.name.removesuffix(".json"): entry.read_text(encoding="utf-8")
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".json")
    }


class _Invalid(Exception):
    """A one-line error for the user; the command exits with status 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="subscriptions",
        description="Billing engine for SaaS subscriptions: scenarios, quotes and invoices.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    simulate = commands.add_parser(
        "simulate",
        help="replay a scenario file and print its invoices",
        description="Replay a scenario document (format 1) and print every invoice and "
        "the final state.",
    )
    source = simulate.add_mutually_exclusive_group(required=True)
    source.add_argument("file", nargs="?", help="scenario JSON file ('-' reads stdin)")
    source.add_argument("--example", metavar="NAME", help="run a bundled example instead")
    simulate.add_argument(
        "--format", choices=["json", "table"], default="json", help="output format"
    )

    commands.add_parser("examples", help="list the bundled example scenarios")
    return parser


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None) -> int:
    """Run the command line; returns the exit status."""
    out = stdout or sys.stdout
    args = _parser().parse_args(argv)
    try:
        if args.command == "examples":
            for name, text in _examples().items():
                events = len(json.loads(text).get("events", []))
                out.write(f"{name}\t{events} events\n")
            return EXIT_OK
        doc = _read_document(args)
        result = run(doc)
    except (_Invalid, SubscriptionsError) as exc:
        message = " ".join(str(exc).split())
        sys.stderr.write(f"subscriptions: error: {message}\n")
        return EXIT_INVALID
    if args.format == "table":
        out.write(render_table(result))
    else:
        out.write(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return EXIT_OK


def _read_document(args: argparse.Namespace) -> Any:
    if args.example is not None:
        examples = _examples()
        if args.example not in examples:
            raise _Invalid(
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
            raise _Invalid(f"cannot read {args.file}: {exc.strerror}") from None
        name = args.file
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _Invalid(
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
            lines.append(
                f"  {line['kind']:<6} {line['product']}/{line['plan']} {line['frequency']}"
                f" x{line['seats']} @ {line['unit_price']}  {span}  {line['amount']:>12}"
            )
        lines.append(f"  {'subtotal':<60}{invoice['subtotal']:>12}")
        for tax in invoice["taxes"]:
            label = f"VAT {tax['rate']}% {tax['treatment']} on {tax['base']}"
            lines.append(f"  {label:<60}{tax['amount']:>12}")
        lines.append(f"  {'total':<60}{invoice['total']:>12}")
        if invoice["credit_applied"] not in ("0", "0.00", "0.000"):
            lines.append(f"  {'credit applied':<60}{'-' + invoice['credit_applied']:>12}")
        lines.append("")
    if not result["invoices"]:
        lines.append("No invoices.")
        lines.append("")
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


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
