"""What a person sees: tables drawn by rich and a progress bar on a terminal; plain
text, the same every time, where the output is a pipe or a file.

Colour only ever repeats what the words say (a ``failed`` state is red *and* reads
"failed"); ``NO_COLOR`` set in the environment turns it off, as rich does for every
console. ``TERM=dumb`` gets no styles at all.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table as RichTable
from rich.text import Text

from .output import Shown, Table, plain

__all__ = ["Terminal"]

#: The style of a cell that is one of these words: a state, which the word says.
_STYLES = {
    **dict.fromkeys(("active", "paid", "succeeded", "valid", "trialing"), "green"),
    **dict.fromkeys(("open", "pending", "requires_action", "unknown", "issued"), "yellow"),
    **dict.fromkeys(
        ("failed", "declined", "past_due", "invalid", "canceled", "void", "needs_review"), "red"
    ),
}


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed, or not a file at all
        return False


class Terminal:
    """The command line's :class:`~.env.Screen`: rich on a terminal, plain elsewhere.

    ``force`` draws with rich whatever ``out`` is (a test's buffer)."""

    def __init__(self, out: TextIO, *, err: TextIO | None = None, force: bool = False) -> None:
        self._out = out
        self._err = sys.stderr if err is None else err
        self._rich = force or _is_terminal(out)
        self._console = Console(file=out, highlight=False, force_terminal=force or None)

    def show(self, shown: Shown) -> None:
        if not self._rich:
            self._out.write(plain(shown))
            return
        blocks = [shown] if isinstance(shown, (str, Table)) else list(shown)
        for block in blocks:
            if isinstance(block, Table):
                self._console.print(_drawn(block))
            else:
                self._console.print(Text(block), end="", soft_wrap=True)

    def shows_progress(self, as_json: bool) -> bool:
        return not as_json and _is_terminal(self._err)

    @contextmanager
    def progress(self, what: str, total: int | None) -> Iterator[Callable[[int], None]]:
        if not _is_terminal(self._err):
            yield lambda done: None
            return
        columns = [
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("elapsed"),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
        ]
        console = Console(file=self._err, highlight=False)
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task(what, total=total)

            def advance(done: int) -> None:
                # A late bill run renews some subscriptions more than once (a period
                # each pass): the total grows with what was done.
                grown = None if total is None else max(total, done)
                bar.update(task, completed=done, total=grown)

            yield advance


def _drawn(shown: Table) -> RichTable:
    drawn = RichTable(box=box.SIMPLE_HEAD, header_style="bold", show_edge=False, pad_edge=False)
    for header in shown.headers:
        drawn.add_column(header, overflow="fold")
    for row in shown.rows:
        drawn.add_row(*(Text(cell, style=_STYLES.get(cell, "")) for cell in row))
    return drawn
