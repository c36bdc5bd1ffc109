"""The command line's words: every command, its arguments and options, and their
help, on click (declared with :mod:`.parsing`). Parsing a line gives an
:class:`~.parsing.Invocation`, the handler to run and its parameters by name;
:func:`subscriptions.cli.main` runs it.

Help is on every command and sub-command (``-h`` or ``--help``), with each option's
default and choices, and ends with the global options, which may be written anywhere
on the line. ``subscriptions completion bash|zsh|fish`` prints the shell's completion
script.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, TextIO

import click
from click.shell_completion import get_completion_class

from .. import __version__
from ..accounts import AccountKind
from ..orders import InvoiceStatus, OrderState
from ..subscription import Status
from . import billing, book, commands, database, replay, wiring
from .env import DEFAULT_DB
from .parsing import (
    COMPLETE_VAR,
    PROGRAM,
    SETTINGS,
    SHELLS,
    Group,
    Invocation,
    account,
    choice_filter,
    contact,
    group,
    key,
    leaf,
    product,
    terms,
    user,
)

__all__ = ["COMPLETE_VAR", "PROGRAM", "Invocation", "root"]


def _root() -> click.Group:
    cli = Group(
        PROGRAM,
        help="The billing engine's command line: a Billing Center over a database, "
        "scenario replays and a demo.",
        context_settings=SETTINGS,
        params=[
            click.Option(
                ["--db"],
                help=f"a SQLite file or a postgresql:// URL  [default: $SUBSCRIPTIONS_DB, "
                f"else {DEFAULT_DB}]",
            ),
            click.Option(["--json"], is_flag=True, help="print JSON for programs"),
            click.Option(
                ["--now"],
                envvar="SUBSCRIPTIONS_NOW",
                help="act as if it were this instant (ISO 8601 with its offset); a "
                "simulation only  [default: $SUBSCRIPTIONS_NOW, else the real clock]",
            ),
            click.Option(
                ["--messages"],
                metavar="DEST",
                help="where the customers' messages go: a folder (one .eml file each) or "
                "'stderr'  [default: $SUBSCRIPTIONS_MESSAGES, else nowhere: they wait, "
                "unsent, in the outbox]",
            ),
            click.Option(
                ["--gateway"],
                type=click.Choice(wiring.GATEWAYS),
                help="the payment gateway: fake (a simulation only) or stripe (its key in "
                "$STRIPE_API_KEY)  [default: $SUBSCRIPTIONS_GATEWAY, else fake on a "
                "simulation and stripe on a real book]",
            ),
        ],
    )
    click.version_option(__version__, "--version", prog_name=PROGRAM)(cli)
    _replays(cli)
    _databases(cli)
    _accounts(cli)
    _trials(cli)
    _cart(cli)
    _after_checkout(cli)
    _billing(cli)
    _completion(cli)
    return cli


# -- the commands --------------------------------------------------------------------


def _one_source(values: dict[str, Any]) -> None:
    if (values["file"] is None) == (values["example"] is None):
        raise click.UsageError("give a scenario FILE or --example NAME, not both nor neither")


def _replays(cli: click.Group) -> None:
    leaf(
        cli,
        "simulate",
        "Replay a scenario document and print its invoices.",
        [
            click.Argument(["file"], required=False, help="the scenario JSON file ('-': stdin)"),
            click.Option(["--example"], metavar="NAME", help="replay a bundled example instead"),
            click.Option(
                ["--format"],
                type=click.Choice(["json", "table"]),
                default="json",
                help="how to print the result",
            ),
        ],
        plain=replay.simulate,
        check=_one_source,
    )
    leaf(cli, "examples", "List the bundled example scenarios.", [], plain=replay.examples)
    leaf(
        cli,
        "demo",
        "Run one customer's story end to end. On a new SQLite file, with the fake gateway "
        "(no money moves); it prints the order confirmation the customer receives.",
        [],
        plain=replay.demo,
    )
    catalog = group(cli, "catalog", "Load or show the catalog and the seller.")
    leaf(
        catalog,
        "load",
        "Load a catalog file. Its seller, products, plans and prices (the format is in "
        "docs/catalog.md) are checked and become the database's catalog. A catalog that no longer "
        "offers what a subscription, a scheduled change, a cart or an unexpired quote "
        "uses is refused, naming them.",
        [click.Argument(["file"], help="the file: .toml is read as TOML, anything else as JSON")],
        handler=book.catalog_load,
    )
    leaf(
        catalog,
        "show",
        "Show the catalog and the seller (with --json: in the shape 'catalog load' reads).",
        [],
        handler=book.catalog_show,
    )


def _databases(cli: click.Group) -> None:
    db = group(cli, "db", "Create, migrate and inspect the database.")
    leaf(
        db,
        "init",
        "Create the tables, and mark the database a real book or a simulation.",
        [
            click.Option(
                ["--simulation"],
                is_flag=True,
                help="a simulation: the fake gateway and --now are allowed (never on a real book)",
            )
        ],
        handler=database.db_init,
    )
    leaf(
        db,
        "migrate",
        "Migrate the database's tables forward. The database must exist ('db init' creates one).",
        [],
        plain=database.db_admin,
    )
    leaf(
        db,
        "status",
        "The database's schema version, changing nothing.",
        [],
        plain=database.db_admin,
    )


def _accounts(cli: click.Group) -> None:
    leaf(
        cli,
        "accounts",
        "List the accounts, a page at a time, in order of id.",
        [
            click.Option(["--after"], help="list the accounts after this id (the next page)"),
            click.Option(
                ["--limit"], type=click.IntRange(min=1), default=100, help="at most this many"
            ),
            choice_filter("--kind", AccountKind, "show only the accounts of this kind"),
        ],
        handler=commands.HANDLERS["accounts"],
    )
    account_cmds = group(cli, "account", "Open, show and change an account.")
    leaf(
        account_cmds,
        "create",
        "Open an account.",
        [
            click.Option(["--id"], help="the account's id  [default: a new one]"),
            click.Option(["--name"], required=True, help="the customer's legal name"),
            click.Option(["--line1"], required=True, help="the street address"),
            click.Option(["--city"], required=True, help="the city"),
            click.Option(["--postal-code"], required=True, help="the postal code"),
            click.Option(["--country"], required=True, help="ISO 3166-1 alpha-2, e.g. IT"),
            click.Option(
                ["--region"],
                help="ISO 3166-2 where VAT depends on it, e.g. ES-CN (the Canary Islands)",
            ),
            click.Option(["--timezone"], default="UTC", help="an IANA time zone, e.g. Europe/Rome"),
            click.Option(
                ["--locale"],
                default="en",
                help="the language of its messages: en and it are built in (another "
                "falls back to en)",
            ),
            click.Option(["--currency"], default="EUR", help="the ISO 4217 code it pays in"),
            click.Option(
                ["--contact"],
                multiple=True,
                required=True,
                help="a billing contact's user id (repeat the option for more)",
            ),
            click.Option(
                ["--corporate"],
                is_flag=True,
                help="a corporate account: sold to by your staff on purchase orders",
            ),
            click.Option(["--payment-method"], help="a gateway token, e.g. tok_visa"),
        ],
        handler=book.account_create,
    )
    leaf(
        account_cmds,
        "show",
        "Show an account and its subscriptions.",
        [account()],
        handler=book.account_show,
    )
    leaf(
        account_cmds,
        "vat",
        "Set the account's VAT number, or clear it with 'none'. Checked offline, and with "
        "VIES on a real book.",
        [
            account(),
            click.Argument(["number"], help="the VAT number with its country prefix, or 'none'"),
            contact(),
        ],
        handler=book.account_vat,
    )
    leaf(
        account_cmds,
        "payment-method",
        "Replace the account's payment method.",
        [
            account(),
            click.Argument(
                ["token"], help="a gateway token (tok_visa...), or cus_.../pm_... on Stripe"
            ),
            contact(),
        ],
        handler=book.account_payment,
    )
    leaf(
        cli,
        "contacts",
        "Replace an account's billing contacts.",
        [
            account(),
            contact(),
            click.Option(
                ["--contact"],
                multiple=True,
                required=True,
                help="a billing contact's user id (repeat the option for more)",
            ),
        ],
        handler=commands.HANDLERS["contacts"],
    )
    vat = group(cli, "vat", "VAT numbers checked with VIES.")
    leaf(
        vat,
        "revalidate",
        "Check VAT numbers again with VIES. Those checked longer ago than 90 days; a job of "
        "its own, never part of a bill run, on a real book only (a simulation checks "
        "numbers offline).",
        [click.Option(["--limit"], type=click.IntRange(min=1), help="check at most this many")],
        handler=book.vat_revalidate,
    )


def _trials(cli: click.Group) -> None:
    trial = group(cli, "trial", "Start a free trial.")
    leaf(
        trial,
        "start",
        "Start a product's free trial (its length is the product's trial days).",
        [account(), product(), user(), *terms(trial=True)],
        handler=book.trial_start,
    )
    trials = group(cli, "trials", "Expire the free trials that have ended.")
    leaf(
        trials,
        "expire",
        "Expire the free trials that have ended. Nothing is charged; the customer then "
        "subscribes from the cart.",
        [click.Option(["--at"], help="an ISO 8601 instant, not after now  [default: now]")],
        handler=book.trials_expire,
    )


def _release(*, edit: bool = False) -> list[click.Parameter]:
    """Who the order releases: ``--release`` (and, to change an item, ``--no-release``)."""
    kept = "  [default: the item's own]" if edit else ""
    release = click.Option(
        ["--release"],
        metavar="USER",
        multiple=True,
        help="a user whose seat the order releases, for fewer seats than users hold "
        f"(repeat the option for more){kept}",
    )
    if not edit:
        return [release]
    return [
        release,
        click.Option(["--no-release"], is_flag=True, help="the order releases no one"),
    ]


def _one_release(values: dict[str, Any]) -> None:
    if values.get("no_release") and values.get("release"):
        raise click.UsageError("give --release USER or --no-release, not both")


def _cart(cli: click.Group) -> None:
    cart = group(cli, "cart", "What an account is about to order.")
    for name, what in (
        (
            "subscribe-now",
            "Start a cart with one product. The 'Subscribe now' button: the cart must be "
            "empty ('cart add' adds to a cart that is not).",
        ),
        (
            "add",
            "Add a product to the cart. A product already subscribed: a change of terms; "
            "fewer seats than users hold names the users whose seats go (--release).",
        ),
        ("edit", "Change a product's plan, seats, frequency or users to release in the cart."),
    ):
        leaf(
            cart,
            name,
            what,
            [account(), product(), contact(), *terms(), *_release(edit=name == "edit")],
            handler=book.cart,
            check=_one_release,
        )
    leaf(
        cart,
        "remove",
        "Take a product out of the cart.",
        [account(), product(), contact()],
        handler=book.cart,
    )
    leaf(cart, "show", "What the cart holds.", [account()], handler=book.cart)
    leaf(
        cli,
        "quote",
        "Price the cart. The invoice it would make, VAT and credit included, valid for a "
        "while; it prints the QUOTE id that checkout takes.",
        [account(), contact()],
        handler=book.quote,
    )
    leaf(
        cli,
        "checkout",
        "Place the order of a quote and pay it.",
        [
            account(),
            click.Argument(["quote"], help="the quote's id ('quote' prints it)"),
            contact(),
            key("orders"),
            click.Option(
                ["--token"],
                help="the payment method: a gateway token (on the fake gateway tok_visa, "
                "tok_declined, tok_3ds...)  [default: the account's own]",
            ),
        ],
        handler=book.checkout,
    )
    seats = group(cli, "seats", "Give seats to users, and take them back.")
    for name, what in (
        ("assign", "Give seats to users."),
        ("unassign", "Take seats back from users."),
        ("release", "Free the seats of users, before ordering fewer seats (as unassign)."),
    ):
        leaf(
            seats,
            name,
            what,
            [
                account(),
                product(),
                click.Argument(["users"], nargs=-1, required=True, help="the users' ids"),
                contact(),
            ],
            handler=book.seats,
        )
    leaf(
        seats,
        "reassign",
        "Move a seat from one user to another.",
        [
            account(),
            product(),
            click.Argument(["from_user"], metavar="FROM", help="the user who gives the seat up"),
            click.Argument(["to_user"], metavar="TO", help="the user who gets it"),
            contact(),
        ],
        handler=book.seats,
    )
    leaf(
        seats,
        "list",
        "Who holds the product's seats.",
        [account(), product(), contact()],
        handler=book.seats,
    )


def _after_checkout(cli: click.Group) -> None:
    """subscriptions, subscription, order, invoice, payment, corporate, events, fake."""
    handlers = commands.HANDLERS
    leaf(
        cli,
        "subscriptions",
        "List an account's subscriptions.",
        [account(), choice_filter("--status", Status, "show only the subscriptions in this state")],
        handler=handlers["subscriptions"],
    )
    sub = group(cli, "subscription", "Show, cancel or reactivate a subscription.")
    leaf(
        sub,
        "show",
        "A subscription: its terms, period, trial, scheduled change and unpaid renewal.",
        [account(), product()],
        handler=handlers["subscription.show"],
    )
    leaf(
        cli,
        "orders",
        "List an account's orders, oldest first.",
        [
            account(),
            contact(),
            choice_filter("--state", OrderState, "show only the orders in this state"),
        ],
        handler=handlers["orders"],
    )
    leaf(
        sub,
        "cancel",
        "Cancel a subscription at the end of its term, or now.",
        [
            account(),
            product(),
            contact(),
            click.Option(
                ["--timing"],
                type=click.Choice(["end_of_term", "immediate"]),
                default="end_of_term",
                help="end_of_term: at the end of the paid period; immediate: now, with a "
                "credit for the rest",
            ),
        ],
        handler=handlers["subscription.cancel"],
    )
    leaf(
        sub,
        "reactivate",
        "Undo a cancellation at the end of the term.",
        [account(), product(), contact()],
        handler=handlers["subscription.reactivate"],
    )
    order = group(cli, "order", "Show an order's state.")
    leaf(
        order,
        "show",
        "An order's state.",
        [
            account(),
            click.Argument(["order"], help="the order's id (checkout prints it)"),
            contact(),
        ],
        handler=handlers["order.show"],
    )
    invoice = group(cli, "invoice", "Show or pay an invoice.")
    invoice_id = "the invoice's number, as 'invoices ACCOUNT' lists it (or its id)"
    leaf(
        invoice,
        "show",
        "An invoice or credit note, line by line.",
        [account(), click.Argument(["invoice"], help=invoice_id), contact()],
        handler=handlers["invoice.show"],
    )
    leaf(
        invoice,
        "pay",
        "Pay an open or failed invoice now, with the account's payment method.",
        [account(), click.Argument(["invoice"], help=invoice_id), contact(), key("pays")],
        handler=handlers["invoice.pay"],
    )
    payment = group(cli, "payment", "Payments waiting for the customer.")
    leaf(
        payment,
        "confirm",
        "Complete a payment after 3-D Secure. An order's or an invoice's payment that "
        "waited for the customer to authenticate at their bank.",
        [
            account(),
            click.Argument(["payment"], help="the order's id, or the invoice's number (or id)"),
            contact(),
        ],
        handler=handlers["payment.confirm"],
    )
    _corporate(cli)
    leaf(
        cli,
        "events",
        "An account's events, oldest first. With --follow, new ones as they come (one JSON "
        "document per line with --json), until Ctrl-C.",
        [
            account(),
            click.Option(["--follow"], is_flag=True, help="keep printing new events until Ctrl-C"),
            click.Option(
                ["--interval"],
                type=click.FloatRange(min=0),
                default=2.0,
                help="seconds between looks, with --follow",
            ),
        ],
        handler=handlers["events"],
    )
    messages = group(cli, "messages", "The customers' messages waiting to go.")
    leaf(
        messages,
        "deliver",
        "Send the messages waiting in the outbox to --messages.",
        [],
        handler=handlers["messages.deliver"],
    )
    fake = group(cli, "fake", "The fake gateway's pretend customer (a simulation only).")
    leaf(
        fake,
        "authenticate",
        "Finish 3-D Secure for a charge, as the customer would at the bank's page.",
        [
            click.Argument(["charge"], help="the charge's id (the order's charge_id)"),
            click.Option(["--fail"], is_flag=True, help="fail the authentication instead"),
        ],
        handler=handlers["fake.authenticate"],
    )


def _corporate(cli: click.Group) -> None:
    handlers = commands.HANDLERS
    people = group(
        cli,
        "staff",
        "Name the vendor's staff: who may quote and order for corporate accounts.",
    )
    for name, what in (
        ("add", "Make users staff of this database's vendor (all or none)."),
        ("remove", "Take users off the vendor's staff (all or none)."),
    ):
        leaf(
            people,
            name,
            what,
            [click.Argument(["users"], nargs=-1, required=True, help="the users' ids")],
            handler=handlers["staff"],
        )
    leaf(people, "list", "The vendor's staff, by user id.", [], handler=handlers["staff"])
    corporate = group(cli, "corporate", "Orders on purchase orders, placed by your staff.")
    staff = click.Option(
        ["--staff"], required=True, help="the staff member's user id ('staff add' names them)"
    )
    leaf(
        corporate,
        "quote",
        "The staff price a corporate account's cart. The cart is filled by the account's "
        "billing contacts ('cart add ACCOUNT PRODUCT --user CONTACT').",
        [account(), staff],
        handler=handlers["corporate.quote"],
    )
    leaf(
        corporate,
        "order",
        "The staff place the order of a quote, invoiced with payment terms.",
        [
            account(),
            click.Argument(["quote"], help="the quote's id ('corporate quote' prints it)"),
            staff,
            click.Option(["--purchase-order"], required=True, help="the customer's PO number"),
            click.Option(
                ["--due-days"],
                type=int,
                default=30,
                help="the payment terms, in days",
            ),
            key("orders"),
        ],
        handler=handlers["corporate.order"],
    )
    leaf(
        corporate,
        "confirm",
        "The customer confirms a corporate order the staff placed.",
        [account(), click.Argument(["order"], help="the order's id"), contact()],
        handler=handlers["corporate.confirm"],
    )


def _billing(cli: click.Group) -> None:
    leaf(
        cli,
        "invoices",
        "List an account's invoices and credit notes, in number order.",
        [
            account(),
            contact(),
            choice_filter("--status", InvoiceStatus, "show only the documents in this state"),
        ],
        handler=billing.invoices,
    )
    leaf(
        cli,
        "renew",
        "Renew the subscriptions that are due. The bill run up to an instant: renewals, "
        "trial conversions, retries and "
        "lapses, every charge on record before it is sent; on a terminal, a progress bar "
        "with the number due and the time left.",
        [
            click.Option(
                ["--until"],
                help="an ISO 8601 instant, not after now (with --dry-run, any)  [default: now]",
            ),
            click.Option(
                ["--dry-run"],
                is_flag=True,
                help="show what the run would invoice, retry and cancel, writing nothing",
            ),
        ],
        handler=billing.renew,
    )
    leaf(
        cli,
        "forecast",
        "Forecast what the book will invoice. Every subscription over the coming months "
        "(whole months in the seller's time zone, this one included), by month and plan, "
        "net and VAT apart, per currency; with --catalog, under a candidate catalog too, "
        "with the difference. Writes and charges nothing.",
        [
            click.Option(
                ["--months"],
                type=click.IntRange(min=1),
                default=12,
                help="how many months ahead",
            ),
            click.Option(
                ["--catalog"],
                metavar="FILE",
                help="a candidate catalog file (the format of 'catalog load', with or without "
                "its seller, which is not used): forecast under it too, and show what it "
                "changes",
            ),
        ],
        handler=billing.forecast,
    )
    leaf(
        cli,
        "reconcile",
        "Resolve the payments left in flight. Orders, renewals and refunds that a process "
        "left unfinished: each asked of the gateway and recorded.",
        [
            click.Option(
                ["--report"],
                is_flag=True,
                help="only list the payments that need review and the refunds that failed",
            )
        ],
        handler=billing.reconcile,
    )


def _completion(cli: click.Group) -> None:
    def source(args: SimpleNamespace, out: TextIO) -> None:
        complete = get_completion_class(args.shell)
        assert complete is not None  # the choice is one of SHELLS
        out.write(complete(cli, {}, PROGRAM, COMPLETE_VAR).source() + "\n")

    leaf(
        cli,
        "completion",
        "Print the shell's completion script. For bash, in ~/.bashrc: "
        'eval "$(subscriptions completion bash)"; for zsh, in ~/.zshrc: '
        'eval "$(subscriptions completion zsh)"; for fish: subscriptions completion fish '
        "> ~/.config/fish/completions/subscriptions.fish",
        [click.Argument(["shell"], type=click.Choice(SHELLS), metavar="SHELL", help="your shell")],
        plain=source,
    )


#: The command line, built once.
root = _root()
