"""The ``subscriptions`` command line: an operator's Billing Center over a database.

The database is chosen by ``--db`` or the ``SUBSCRIPTIONS_DB`` environment variable:
a SQLite file (the default, ``subscriptions.sqlite3`` in the current folder) or a
``postgresql://`` URL. On a simulation, payments go through the fake gateway, whose
test tokens (``tok_visa``, ``tok_declined``, ``tok_3ds``...) and records live in a
journal file beside the database. Output is a table for people (drawn with rich on a
terminal, plain text in a pipe or a file), or JSON with ``--json``; errors are one
line on stderr with exit status 2 (and, with ``--json``, a JSON document on stdout).

The command line needs its optional dependencies, click and rich: ``pip install
'subscriptions[cli]'``. Without them ``subscriptions`` says so and exits with 2; the
library itself never needs them.

``subscriptions demo`` runs one customer's story end to end on a fresh SQLite file and
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

import contextlib
import importlib.util
import io
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, TextIO

from ..errors import SubscriptionsError
from .env import Env, UsageError, open_store
from .env import Interrupted as _Interrupted
from .env import Signals as _Signals
from .env import exit_status as _exit_status
from .env import signal_name as _signal_name
from .line import GLOBAL_FLAGS, dangling, first_command, hoisted
from .output import error_document
from .replay import DEMO_CATALOG, render_table

if TYPE_CHECKING:
    from .app import Invocation

__all__ = ["DEMO_CATALOG", "EXTRA_ADVICE", "hoisted", "main", "open_store", "render_table"]

EXIT_OK = 0
EXIT_INVALID = 2
#: 128 + SIGPIPE (13 on every POSIX system), as for a command the signal killed.
EXIT_BROKEN_PIPE = 128 + 13

#: What to run when the command line's own dependencies are missing.
EXTRA_ADVICE = "pip install 'subscriptions[cli]'"
_EXTRA = ("click", "rich")


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None) -> int:
    """Run the command line; returns the exit status."""
    if stdout is not None:
        return _main(argv, stdout)
    with _buffered(sys.stdout) as out:
        return _main(argv, out)


@contextmanager
def _buffered(stream: TextIO) -> Iterator[TextIO]:
    """``stream``, with a buffer under it. An unbuffered stdout (``PYTHONUNBUFFERED``,
    ``python -u``) writes only part of a long text to a pipe whose reader has gone, and
    says nothing; a buffered one writes it all, or raises ``BrokenPipeError`` (exit
    status 141)."""
    raw = getattr(stream, "buffer", None)
    if not isinstance(raw, io.RawIOBase):
        yield stream
        return
    wrapped = io.TextIOWrapper(
        io.BufferedWriter(raw), encoding=stream.encoding, errors=stream.errors, line_buffering=True
    )
    try:
        yield wrapped
    finally:
        with contextlib.suppress(OSError, ValueError):
            wrapped.flush()
        with contextlib.suppress(OSError, ValueError):
            wrapped.detach().detach()  # sys.stdout keeps its file, open


def _main(argv: Sequence[str] | None, out: TextIO) -> int:
    missing = [name for name in _EXTRA if importlib.util.find_spec(name) is None]
    if missing:
        sys.stderr.write(
            f"subscriptions: error: the command line needs {' and '.join(missing)}, which "
            f"its optional extra installs: {EXTRA_ADVICE}\n"
        )
        return EXIT_INVALID
    given = list(sys.argv[1:] if argv is None else argv)
    line = hoisted(given)
    as_json = any(item in GLOBAL_FLAGS for item in line[: first_command(line)])
    option = dangling(given)
    if option is not None:
        return _usage_error(
            f"option {option} needs a value; see 'subscriptions --help'", out, as_json
        )
    parsed = _parse(line, out, as_json=as_json)
    if isinstance(parsed, int):
        return parsed
    # A failure is reported once, as the error line below; the connection pool's
    # warnings about its retries would only repeat it.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    signals = _Signals()
    signals.install()
    try:
        try:
            _run(parsed, out, signals)
            out.flush()
        except (UsageError, SubscriptionsError) as exc:
            message = " ".join(str(exc).split())
            if parsed.args.json:
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


def _parse(line: list[str], out: TextIO, *, as_json: bool) -> Invocation | int:
    """The invocation ``line`` asks for, or the exit status when it asks for none:
    0 after ``--help``, ``--version`` or a shell's completion; 2 after a usage error,
    said in one line on stderr (and as JSON on ``out`` with ``--json``)."""
    import click

    from .app import COMPLETE_VAR, PROGRAM, Invocation, root

    try:
        with contextlib.redirect_stdout(out):
            result = root.main(
                args=line,
                prog_name=PROGRAM,
                complete_var=COMPLETE_VAR,
                standalone_mode=False,
            )
    except click.exceptions.NoArgsIsHelpError as exc:
        # A group without its command: its help, on stderr as a usage error is.
        sys.stderr.write(exc.ctx.get_help() + "\n")
        if as_json:
            text = f"{exc.ctx.command_path} needs a command; see '{exc.ctx.command_path} --help'"
            out.write(error_document(UsageError(text), text))
        return EXIT_INVALID
    except click.ClickException as exc:
        where = exc.ctx.command_path if isinstance(exc, click.UsageError) and exc.ctx else PROGRAM
        said = " ".join(exc.format_message().split()).removesuffix(".")
        return _usage_error(f"{said}; see '{where} --help'", out, as_json)
    except click.exceptions.Abort:
        return _exit_status(2)
    if isinstance(result, Invocation):
        return result
    out.flush()
    return result if isinstance(result, int) else EXIT_OK


def _usage_error(text: str, out: TextIO, as_json: bool) -> int:
    """Say ``text`` on stderr (and as JSON on ``out`` with ``--json``): exit status 2."""
    if as_json:
        out.write(error_document(UsageError(text), text))
    sys.stderr.write(f"subscriptions: error: {text}\n")
    return EXIT_INVALID


def _discard_output(out: TextIO) -> None:
    """The reader of ``out`` is gone: what is still buffered goes to the null device,
    so that flushing it at exit raises nothing more."""
    with contextlib.suppress(OSError, ValueError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, out.fileno())
        os.close(null)


def _run(invocation: Invocation, out: TextIO, signals: _Signals) -> None:
    from .show import Terminal

    if invocation.plain is not None:
        invocation.plain(invocation.args, out)
        return
    assert invocation.handler is not None
    env = Env(invocation.args, out, signals, Terminal(out))
    try:
        invocation.handler(env)
        env.ran()
    finally:
        env.close()
