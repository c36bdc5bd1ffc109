"""How the command line's words are declared on click: a command whose help ends with
the global options, the one way a command is hung under its group (:func:`leaf`,
whose callback gives the :class:`Invocation` to run), the completion of ids from the
database, and the parameters many commands share. :mod:`.app` declares the commands."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any, TextIO

import attrs
import click

from ..errors import SubscriptionsError
from ..periods import Frequency
from .env import Env, UsageError, database_url, open_store
from .settings import CliSettings

__all__ = [
    "COMPLETE_VAR",
    "PROGRAM",
    "SETTINGS",
    "SHELLS",
    "Command",
    "Group",
    "Invocation",
    "account",
    "choice_filter",
    "contact",
    "group",
    "key",
    "leaf",
    "product",
    "terms",
    "user",
]

PROGRAM = "subscriptions"
#: The environment variable click's shell completion is driven by.
COMPLETE_VAR = "_SUBSCRIPTIONS_COMPLETE"
SHELLS = ("bash", "zsh", "fish")

Handler = Callable[[Env], None]
#: A command that opens no database (``simulate``, ``demo``, ``db status``...).
Plain = Callable[[SimpleNamespace, TextIO], None]


@attrs.frozen(weakref_slot=False)
class Invocation:
    """What a parsed line asks for: ``handler`` over an :class:`~.env.Env`, or
    ``plain`` over the arguments and the output; ``args`` holds the global options,
    the command's parameters, ``command`` (the first word) and ``action`` (the last)."""

    args: SimpleNamespace
    handler: Handler | None = None
    plain: Plain | None = None


SETTINGS: dict[str, Any] = {
    "help_option_names": ["-h", "--help"],
    "show_default": True,
    "max_content_width": 100,
}


def _global_options(ctx: click.Context, formatter: click.HelpFormatter) -> None:
    """The global options, at the end of every command's help but the root's (which
    lists them as its own)."""
    root = ctx.find_root()
    if root is ctx:
        return
    records = [p.get_help_record(root) for p in root.command.params if p.name != "version"]
    with formatter.section("Global options (anywhere on the line)"):
        formatter.write_dl([r for r in records if r is not None])


class Command(click.Command):
    """A command whose help ends with the global options."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        _global_options(ctx, formatter)


class Group(click.Group):
    """A group of commands, its help ending with the global options."""

    command_class = Command
    group_class = type

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        _global_options(ctx, formatter)


def leaf(
    group: click.Group,
    name: str,
    help: str,
    params: Sequence[click.Parameter],
    *,
    handler: Handler | None = None,
    plain: Plain | None = None,
    check: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    def callback(**values: Any) -> Invocation:
        if check is not None:
            check(values)
        ctx = click.get_current_context()
        words = ctx.command_path.split()[1:]
        merged = {**ctx.find_root().params, **values}
        merged = {k: list(v) if isinstance(v, tuple) else v for k, v in merged.items()}
        args = SimpleNamespace(**merged, command=words[0], action=words[-1])
        return Invocation(args=args, handler=handler, plain=plain)

    group.add_command(Command(name, callback=callback, params=list(params), help=help))


def group(parent: click.Group, name: str, help: str) -> click.Group:
    made = Group(name, help=help, context_settings=SETTINGS)
    parent.add_command(made)
    return made


# -- completion of ids from the database ------------------------------------------

#: How many accounts completion reads at most (a big book is not scanned at each Tab).
_COMPLETE_SCAN = 2_000


def _database(ctx: click.Context) -> str:
    return database_url(ctx.find_root().params.get("db"))


def _complete_accounts(ctx: click.Context, param: click.Parameter, typed: str) -> list[str]:
    """The ids of the accounts starting with what is typed, from the database the line
    names (its first accounts only); none when it cannot be read, and nothing created."""
    try:
        store = open_store(_database(ctx), migrate=False)
    except (UsageError, SubscriptionsError, OSError, ImportError):
        return []
    try:
        with store.unit_of_work() as uow:
            accounts = uow.accounts.page(limit=_COMPLETE_SCAN)
    except (SubscriptionsError, OSError):
        return []
    finally:
        store.close()
    return [a.id for a in accounts if a.id.startswith(typed)]


def _complete_products(ctx: click.Context, param: click.Parameter, typed: str) -> list[str]:
    """The ids of the catalog's products starting with what is typed."""
    try:
        catalog = CliSettings(_database(ctx)).get("catalog")
    except (UsageError, SubscriptionsError, OSError, ImportError):
        return []
    ids = [str(p.get("id", "")) for p in (catalog or {}).get("products", []) if isinstance(p, dict)]
    return [i for i in ids if i.startswith(typed)]


# -- the parameters many commands share --------------------------------------------


def account() -> click.Argument:
    return click.Argument(
        ["account"],
        help="the account's id ('subscriptions accounts' lists them)",
        shell_complete=_complete_accounts,
    )


def product() -> click.Argument:
    return click.Argument(
        ["product"],
        help="the product's id ('catalog show' lists them)",
        shell_complete=_complete_products,
    )


def user(what: str = "the acting user's id") -> click.Option:
    return click.Option(["--user"], required=True, help=what)


def contact() -> click.Option:
    return user("the acting user (one of the account's billing contacts)")


def key(what: str) -> click.Option:
    return click.Option(
        ["--key"], required=True, help=f"an idempotency key, any text: the same key {what} once"
    )


def choice_filter(name: str, choices: type[enum.Enum], what: str) -> click.Option:
    return click.Option(
        [name],
        type=click.Choice([c.value for c in choices]),
        multiple=True,
        help=f"{what} (repeat the option for several)",
    )


def terms(*, trial: bool = False) -> list[click.Parameter]:
    """The terms of an item: for a trial, or for a cart (where a product already
    subscribed keeps its own terms unless told)."""
    own = "" if trial else ", or the subscription's own"
    return [
        click.Option(["--plan"], help=f"the plan's id  [default: the product's lowest plan{own}]"),
        click.Option(["--seats"], type=int, help=f"how many seats (users)  [default: 1{own}]"),
        click.Option(
            ["--frequency"],
            type=click.Choice([f.value for f in Frequency]),
            help=f"how often it is billed  [default: monthly{own}]",
        ),
    ]
