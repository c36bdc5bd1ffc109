"""Size limits of the source: no module over 800 logical lines, no class over 400, no
function over 80.

A logical line is one Python statement or clause header (one ``NEWLINE`` token of the
tokenizer): a call spread over five physical lines counts once; docstrings, comments
and blank lines do not count. A class or function counts everything inside it, nested
definitions included.

Usage: ``python tools/sizes.py [--top N] [PATH ...]`` (default: ``src``). Exit status 1
when a limit is broken outside the exemptions below, listing each breach with what to do.
"""

from __future__ import annotations

import argparse
import ast
import io
import sys
import tokenize
from collections.abc import Iterator, Sequence
from pathlib import Path

LIMITS = {"module": 800, "class": 400, "function": 80}

#: Data tables and message templates, exempt from the limits by path (relative to the
#: repository), each with its reason.
EXEMPT: dict[str, str] = {
    "src/subscriptions/messages.py": "message templates: the customer notices' texts",
}

_Unit = tuple[str, str, int, int]  # kind, name, first line, logical lines


def _logical_lines(source: str) -> list[int]:
    """The line of each logical line's end (each ``NEWLINE`` token)."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return [tok.start[0] for tok in tokens if tok.type == tokenize.NEWLINE]


def _docstring_lines(tree: ast.AST) -> set[int]:
    """The lines where docstring statements end (their ``NEWLINE``)."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                end = body[0].end_lineno
                assert end is not None
                found.add(end)
    return found


def measure(path: Path, name: str | None = None) -> Iterator[_Unit]:
    """The module, and every class and function in it, with its logical lines (named
    by ``name``, the path by default)."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path))
    docstrings = _docstring_lines(tree)
    ends = [line for line in _logical_lines(source) if line not in docstrings]

    def count(first: int, last: int) -> int:
        return sum(1 for line in ends if first <= line <= last)

    label = name or str(path)
    yield "module", label, 1, len(ends)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            kind = "class" if isinstance(node, ast.ClassDef) else "function"
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            assert node.end_lineno is not None
            yield (
                kind,
                f"{path}:{node.lineno} {node.name}",
                node.lineno,
                count(first, node.end_lineno),
            )


def _files(paths: Sequence[str]) -> Iterator[Path]:
    for name in paths:
        path = Path(name)
        if path.is_dir():
            yield from sorted(path.rglob("*.py"))
        else:
            yield path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=["src"])
    parser.add_argument("--top", type=int, default=0, help="also list the N largest of each kind")
    args = parser.parse_args(argv)
    root = Path(__file__).resolve().parent.parent
    units: list[_Unit] = []
    for path in _files(args.paths):
        resolved = path.resolve()
        named = resolved.relative_to(root) if resolved.is_relative_to(root) else resolved
        if named.as_posix() in EXEMPT:
            continue
        units.extend(measure(resolved, named.as_posix()))
    if args.top:
        for kind in LIMITS:
            mine = sorted((u for u in units if u[0] == kind), key=lambda u: -u[3])
            print(f"largest {kind}s:")
            for _, name, _, size in mine[: args.top]:
                print(f"  {size:5d}  {name}")
    breaches = [u for u in units if u[3] > LIMITS[u[0]]]
    for kind, name, _, size in breaches:
        print(
            f"{name}: {kind} of {size} logical lines, over the limit of {LIMITS[kind]}; "
            f"split it by responsibility (or, for a data table or message template, list "
            f"its path in EXEMPT in tools/sizes.py with the reason)",
            file=sys.stderr,
        )
    return 1 if breaches else 0


if __name__ == "__main__":
    sys.exit(main())
