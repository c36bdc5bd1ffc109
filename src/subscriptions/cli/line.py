"""The command line as typed: the global options (``--db``, ``--json``, ``--now``,
``--messages``, ``--gateway``) may be written anywhere, and are moved before the
command before it is parsed."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["GLOBAL_FLAGS", "GLOBAL_VALUES", "dangling", "first_command", "hoisted"]

#: The options every command takes, anywhere on the line: those with a value, and flags.
GLOBAL_VALUES = ("--db", "--now", "--gateway", "--messages")
GLOBAL_FLAGS = ("--json",)


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
        if item in GLOBAL_FLAGS or (name in GLOBAL_VALUES and "=" in item):
            front.append(item)
        elif item in GLOBAL_VALUES and i + 1 < len(items):
            front.extend(items[i : i + 2])
            i += 1
        else:
            rest.append(item)
        i += 1
    return front + rest


def first_command(line: Sequence[str]) -> int:
    """Where the command starts in a hoisted line: after the global options.

    >>> first_command(["--json", "--db", "b.sqlite3", "invoices", "acme"])
    3
    """
    i = 0
    while i < len(line):
        item = line[i]
        if item in GLOBAL_FLAGS or (item.split("=", 1)[0] in GLOBAL_VALUES and "=" in item):
            i += 1
        elif item in GLOBAL_VALUES:
            i += 2
        else:
            break
    return i


def dangling(argv: Sequence[str]) -> str | None:
    """The global option that ends the line without its value, if one does: the
    parser would take it for an option of the command.

    >>> dangling(["accounts", "--db"]), dangling(["accounts", "--db", "b.sqlite3"])
    ('--db', None)
    """
    if argv and argv[-1] in GLOBAL_VALUES and "--" not in argv:
        return argv[-1]
    return None
