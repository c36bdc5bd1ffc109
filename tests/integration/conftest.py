"""Fixtures for the Billing Center tests: a two-product catalog, an Italian seller, a
manual clock, the fake gateway and notifier, and a factory of Billing Centers over one
in-memory store (optionally with a VAT verifier, settings or billing policy)."""

from __future__ import annotations

import io
import json
import os
import selectors
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from decimal import ROUND_FLOOR, Context, Decimal, localcontext
from pathlib import Path
from typing import Any, NoReturn, Protocol
from zoneinfo import ZoneInfo

import attrs
import pytest

from subscriptions.accounts import Account, AccountKind, Address
from subscriptions.adapters.fakes import FakeGateway, FakeVatVerifier, InMemoryNotifier, ManualClock
from subscriptions.adapters.memory import InMemoryStore
from subscriptions.catalog import Catalog, Plan, Price, Product
from subscriptions.center import BillingCenter, Settings
from subscriptions.errors import SubscriptionsError
from subscriptions.orders import OrderState, Seller
from subscriptions.subscription import BillingPolicy

ROME = ZoneInfo("Europe/Rome")
BERLIN = ZoneInfo("Europe/Berlin")
#: 1 November 2026, 09:00 in Rome: where every test's clock starts.
START = datetime(2026, 11, 1, 9, 0, tzinfo=ROME)

#: Valid VAT numbers (format and check digits) for the customers.
IT_VAT = "IT02114460963"
DE_VAT = "DE136695976"
SELLER_VAT = "IT00743110157"

CONTACT = "anna"
OTHER_USER = "mallory"
#: The vendor's staff, as the Billing Centers' staff check knows them.
STAFF = frozenset({"sam"})


def is_staff(user: str) -> bool:
    """The host's staff check of the Billing Centers: :data:`STAFF`, asked each time
    (a test that counts the questions wraps it)."""
    return user in STAFF


def _prices(monthly: str, annual: str) -> list[Price]:
    return [
        Price(currency="EUR", frequency="monthly", amount=monthly),
        Price(currency="EUR", frequency="annual", amount=annual),
    ]


@pytest.fixture
def catalog() -> Catalog:
    return Catalog(
        products=[
            Product(
                id="remote-support",
                name="Remote Support",
                trial_days=14,
                plans=[
                    Plan(id="standard", name="Standard", rank=1, prices=_prices("30.00", "300.00")),
                    Plan(id="premium", name="Premium", rank=2, prices=_prices("50.00", "500.00")),
                ],
            ),
            Product(
                id="monitoring",
                name="Monitoring",
                trial_days=30,
                plans=[Plan(id="basic", name="Basic", rank=1, prices=_prices("10.00", "100.00"))],
            ),
        ]
    )


@pytest.fixture
def seller() -> Seller:
    return Seller(
        name="Vendor S.r.l.",
        vat_number=SELLER_VAT,
        address=Address(line1="Via Roma 1", city="Milano", postal_code="20121", country="IT"),
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def notifier() -> InMemoryNotifier:
    return InMemoryNotifier()


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture
def slept() -> list[float]:
    """The pauses the Billing Centers asked for (between retries of a failing
    gateway), made without waiting."""
    return []


class CenterFactory(Protocol):
    def __call__(
        self,
        *,
        verifier: FakeVatVerifier | None = ...,
        settings: Settings | None = ...,
        policy: BillingPolicy = ...,
        is_staff: Callable[[str], bool] | None = ...,
    ) -> BillingCenter: ...


class _CarelessHost:
    """A Billing Center called from a host whose thread has a narrow decimal context
    (three digits, rounding down): every call runs in it, and nothing may change."""

    def __init__(self, center: BillingCenter) -> None:
        self._wrapped = center

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._wrapped, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with localcontext(Context(prec=3, rounding=ROUND_FLOOR)):
                return attr(*args, **kwargs)

        return call


@pytest.fixture(params=["exact", "careless_host"])
def make_center(
    request: pytest.FixtureRequest,
    catalog: Catalog,
    seller: Seller,
    store: InMemoryStore,
    gateway: FakeGateway,
    clock: ManualClock,
    notifier: InMemoryNotifier,
    slept: list[float],
) -> CenterFactory:
    """Billing Centers over the same store, gateway, clock and notifier, whose staff
    are :data:`STAFF` (``is_staff=None``: no staff check); each test runs twice, the
    second time called from a host with a careless decimal context."""

    def factory(
        *,
        verifier: FakeVatVerifier | None = None,
        settings: Settings | None = None,
        policy: BillingPolicy = BillingPolicy(),
        is_staff: Callable[[str], bool] | None = is_staff,
    ) -> BillingCenter:
        center = BillingCenter(
            catalog=catalog,
            seller=seller,
            store=store,
            gateway=gateway,
            clock=clock,
            notifier=notifier,
            vat_verifier=verifier,
            settings=settings or Settings(),
            policy=policy,
            sleep=slept.append,
            is_staff=is_staff,
        )
        if request.param == "careless_host":
            return _CarelessHost(center)  # type: ignore[return-value]
        return center

    return factory


@pytest.fixture
def center(make_center: CenterFactory) -> BillingCenter:
    """A Billing Center without a VAT verifier, with the default settings and policy."""
    return make_center()


ITALY = Address(line1="Via Po 2", city="Torino", postal_code="10123", country="IT")
GERMANY = Address(line1="Unter den Linden 5", city="Berlin", postal_code="10117", country="DE")


def open_account(
    center: BillingCenter,
    *,
    country: str = "IT",
    kind: AccountKind = AccountKind.SELF_SERVICE,
    payment_method: str | None = "tok_visa",
    account_id: str | None = None,
    name: str | None = None,
) -> Account:
    """An Italian (``country="IT"``) or German (``"DE"``) customer account whose only
    billing contact is :data:`CONTACT`."""
    italian = country == "IT"
    return center.open_account(
        name=name or ("Rossi S.r.l." if italian else "Müller GmbH"),
        address=ITALY if italian else GERMANY,
        timezone="Europe/Rome" if italian else "Europe/Berlin",
        locale="it_IT" if italian else "de_DE",
        currency="EUR",
        billing_contacts=[CONTACT],
        kind=kind,
        payment_method=payment_method,
        account_id=account_id,
    )


@pytest.fixture
def open_customer(center: BillingCenter) -> Callable[..., Account]:
    """Open a customer account on :func:`center` (see :func:`open_account`)."""
    return lambda **kwargs: open_account(center, **kwargs)


def account_fields(account: Account) -> Account:
    """The account as its owner sees it: without the bookkeeping of optimistic
    concurrency (``version``) and of the order slot (``order_in_progress``)."""
    bookkeeping: dict[str, Any] = {"version": 0}
    if hasattr(account, "order_in_progress"):
        bookkeeping["order_in_progress"] = None
    return attrs.evolve(account, **bookkeeping)


@attrs.frozen
class Snapshot:
    """Everything a refusal must leave exactly as it was."""

    account: Account
    subscriptions: Any
    cart: Any
    invoices: Any
    seats: Any
    events: Any
    charge_requests: Any
    net_charged: Decimal
    requests: int


def take_snapshot(
    center: BillingCenter, gateway: FakeGateway, account_id: str, user: str = CONTACT
) -> Snapshot:
    """The account's stored records, read through the public API, and the charges."""
    subs = center.subscriptions(account_id)
    seats = {}
    for sub in subs:
        try:
            seats[sub.product] = center.seats(account_id, user, sub.product)
        except SubscriptionsError as exc:
            seats[sub.product] = type(exc).__name__
    return Snapshot(
        account=center.account(account_id),
        subscriptions=subs,
        cart=center.cart(account_id),
        invoices=center.invoices(account_id, user),
        seats=seats,
        events=center.events(account_id),
        charge_requests=list(gateway.charge_requests),
        net_charged=gateway.net_charged("EUR"),
        requests=len(gateway.requests),
    )


@pytest.fixture
def snapshot(center: BillingCenter, gateway: FakeGateway) -> Callable[..., Snapshot]:
    """``snapshot(account_id)``: the account's records and the gateway's charges."""
    return lambda account_id, user=CONTACT: take_snapshot(center, gateway, account_id, user)


#: ``subscriptions account create`` of the Italian account ``acme`` whose billing contact
#: is anna (the country left to the caller: ``"--country", "IT"``).
CLI_ACCOUNT = (
    "account",
    "create",
    "--id",
    "acme",
    "--name",
    "ACME S.r.l.",
    "--line1",
    "Via Po 2",
    "--city",
    "Torino",
    "--postal-code",
    "10123",
    "--timezone",
    "Europe/Rome",
    "--contact",
    "anna",
)

#: The instant the command-line tests run at.
CLI_NOW = "2026-11-02T09:00:00+01:00"


def cli(db: Path, *argv: str, now: str = CLI_NOW) -> tuple[int, Any]:
    """Run ``subscriptions --db DB --now NOW --json ARGV...`` in process: the exit
    status (argparse's usage errors included) and the JSON it printed, or None."""
    from subscriptions.cli import main

    if not db.exists():
        # A new database: a simulation, so that the fake gateway and --now are allowed.
        assert main(["--db", str(db), "db", "init", "--simulation"], stdout=io.StringIO()) == 0
    out = io.StringIO()
    try:
        status = main(["--db", str(db), "--now", now, "--json", *argv], stdout=out)
    except SystemExit as exit:  # argparse's usage errors
        status = int(exit.code or 0)
    text = out.getvalue()
    return status, json.loads(text) if text.strip() else None


# -- the VIES stand-in -------------------------------------------------------------------


@attrs.frozen
class ViesStandin:
    """The local VIES stand-in (:mod:`tests.vies_standin`) running for the session."""

    port: int

    def url(self, route: str = "rest-api") -> str:
        """The check-vat-number endpoint under ``route`` (see the stand-in's routes)."""
        return f"http://127.0.0.1:{self.port}/{route}/check-vat-number"


def _cannot_start(why: str) -> NoReturn:
    message = (
        f"the VIES stand-in could not start: {why}; to run the VIES tests, make "
        "`python -m tests.vies_standin` start from the repository (it prints its port)"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


#: How the stand-in is started: it prints its port on its first line.
VIES_COMMAND = (sys.executable, "-m", "tests.vies_standin")


def start_vies_standin(command: Sequence[str] = VIES_COMMAND) -> Iterator[ViesStandin]:
    """The stand-in started by ``command`` while the generator runs, stopped by its pid
    afterwards; skipped when it cannot start, failing with ``CI=true``."""
    root = Path(__file__).resolve().parents[2]
    try:
        process = subprocess.Popen(
            list(command),
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    except OSError as exc:
        _cannot_start(f"{command[0]!r} cannot be run ({exc})")
    try:
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            ready = selector.select(timeout=20)
        line = process.stdout.readline().strip() if ready else ""
        if not line.isdigit():
            process.kill()
            _, errors = process.communicate(timeout=10)
            _cannot_start(f"it printed {line!r} instead of its port; {errors.strip()[-500:]}")
        yield ViesStandin(port=int(line))
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


@pytest.fixture(scope="session")
def vies_standin() -> Iterator[ViesStandin]:
    """A stand-in for VIES on 127.0.0.1, a subprocess for the whole session, stopped
    by its pid at the end. When it cannot start, the tests that need it are skipped,
    except with ``CI=true``, where they fail."""
    yield from start_vies_standin()


def buy(center: BillingCenter, account_id: str, product: str, **terms: object) -> None:
    """:data:`CONTACT` buys ``product`` for the account ("Subscribe now", quote, order
    paid with the account's card)."""
    center.subscribe_now(account_id, CONTACT, product, **terms)
    quote = center.quote(account_id, CONTACT)
    order = center.place_order(account_id, CONTACT, quote.id, idempotency_key=f"k-{product}")
    assert order.state is OrderState.SUCCEEDED


def book_state(center: BillingCenter) -> tuple[object, ...]:
    """Everything the book holds that a host can read: to check that nothing changed."""
    accounts = center.accounts()
    return (
        accounts,
        [center.events(a.id) for a in accounts],
        [center.invoices(a.id, CONTACT) for a in accounts],
        [center.subscriptions(a.id) for a in accounts],
    )
