"""The Billing Center journey on the Stripe gateway, over SQLite and PostgreSQL, against
localstripe (through the recording proxy): an order that saves the card, a renewal
charged off session on it, 3-D Secure then ``confirm_payment``, a decline, a lost
answer then ``reconcile``, a webhook resolving an attempt in flight, the same webhook
twice and out of order. At the end every succeeded charge at "Stripe" is exactly one
completed order or paid invoice, for the same amount."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import attrs
import httpx
import pytest

from subscriptions.accounts import Address
from subscriptions.adapters.fakes import InMemoryNotifier, ManualClock
from subscriptions.adapters.sqlite import SQLiteStore
from subscriptions.adapters.stripe import StripeGateway
from subscriptions.center import BillingCenter, EventOutcome, Settings
from subscriptions.errors import PaymentDeclined
from subscriptions.orders import InvoiceStatus, OrderState
from subscriptions.ports import Store
from tests.gateways.book import CATALOG, SELLER
from tests.gateways.stripe_support import LocalStripeProxy, Server, client_for, signed_event

ROME = ZoneInfo("Europe/Rome")
START = datetime(2026, 11, 2, 9, 0, tzinfo=ROME)
SECRET = "whsec_journey"
CONTACT = "anna"
#: Test cards of localstripe: one that pays, one that needs 3-D Secure.
PAYS = "4242424242424242"
THREE_DS = "4000002500003155"


@attrs.define
class Journey:
    center: BillingCenter
    gateway: StripeGateway
    proxy: LocalStripeProxy
    server: Server
    clock: ManualClock
    accounts: list[str] = attrs.field(factory=list)

    def open(self, name: str, card: str) -> str:
        account = self.center.open_account(
            # Unique in the session's one localstripe, where every test's charges stay.
            account_id=f"{name}-{uuid.uuid4().hex[:8]}",
            name=f"{name} S.r.l.",
            address=Address(line1="Via Po 2", city="Torino", postal_code="10123", country="IT"),
            timezone="Europe/Rome",
            locale="it_IT",
            currency="EUR",
            billing_contacts=[CONTACT],
            payment_method=card,
        )
        self.accounts.append(account.id)
        return account.id

    def order(self, account_id: str, key: str) -> Any:
        self.center.subscribe_now(account_id, CONTACT, "monitoring")
        quote = self.center.quote(account_id, CONTACT)
        return self.center.place_order(account_id, CONTACT, quote.id, idempotency_key=key)

    def intent_of(self, key: str) -> dict[str, Any]:
        """The PaymentIntent made under ``key``, as localstripe holds it now."""
        intents = self.server.get("/v1/payment_intents?limit=1000")["data"]
        (intent,) = [i for i in intents if (i.get("metadata") or {}).get("idempotency_key") == key]
        return self.server.intent(intent["id"])

    def webhook(self, kind: str, obj: dict[str, Any], event_id: str) -> EventOutcome:
        """Deliver a signed Stripe event, as the host's endpoint would receive it."""
        payload, signature = signed_event(event_id, kind, obj, SECRET)
        event = self.gateway.parse_event(payload, signature, SECRET)
        assert event is not None
        return self.center.apply_gateway_event(event).outcome


@pytest.fixture(params=["sqlite", "postgres"])
def book(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        store: Store = SQLiteStore(tmp_path / "book.sqlite3", timeout=5.0)
    else:
        from subscriptions.adapters.postgres import PostgresStore

        dsn, schema = request.getfixturevalue("pg_schema")
        store = PostgresStore(dsn, schema=schema, max_size=4, timeout=10.0)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def journey(localstripe_url: str, book: Store) -> Iterator[Journey]:
    proxy = LocalStripeProxy(localstripe_url)
    gateway = StripeGateway(client_for(proxy, localstripe_url), return_url="https://shop.test/3ds")
    clock = ManualClock(START)
    center = BillingCenter(
        catalog=CATALOG,
        seller=SELLER,
        store=book,
        gateway=gateway,
        clock=clock,
        notifier=InMemoryNotifier(),
        sleep=lambda _: None,
    )
    try:
        yield Journey(center, gateway, proxy, Server(localstripe_url), clock)
    finally:
        proxy.close()


def _settled(journey: Journey) -> None:
    """Every succeeded charge of the journey's customers is one completed order or one
    paid invoice of the same amount; nothing is left in flight."""
    center = journey.center
    paid: list[Decimal] = []
    intents: set[str] = set()
    for account_id in journey.accounts:
        for invoice in center.invoices(account_id, CONTACT):
            if invoice.status is InvoiceStatus.PAID:
                paid.append(invoice.amount_due)
    charges = journey.server.get("/v1/charges?limit=10000")["data"]
    taken = []
    for charge in charges:
        intent = journey.server.intent(charge["payment_intent"])
        if (intent.get("metadata") or {}).get("account_id") not in journey.accounts:
            continue
        if charge["status"] == "succeeded":
            taken.append(Decimal(charge["amount"]) / 100)
            intents.add(charge["payment_intent"])
    assert sorted(taken) == sorted(paid)
    assert len(intents) == len(taken)  # no intent charged twice
    assert center.payment_review().in_flight == 0


def test_an_order_saves_the_card_and_the_renewal_is_charged_off_session(
    journey: Journey,
) -> None:
    account = journey.open("rossi", journey.server.card(PAYS))
    order = journey.order(account, "order-1")
    assert order.state is OrderState.SUCCEEDED
    saved = journey.center.account(account).payment_method
    assert saved is not None
    assert saved.startswith("cus_")
    assert "/pm_" in saved
    journey.clock.set(START + timedelta(days=31))
    report = journey.center.run_renewals()
    assert (report.renewed, report.charged, report.failed) == (1, 1, 0)
    (confirm,) = [
        r
        for r in journey.proxy.requests
        if r.path.endswith("/confirm") and r.params.get("off_session") == "true"
    ]
    assert confirm.idempotency_key is not None
    assert confirm.idempotency_key.endswith(":confirm")
    _settled(journey)


def test_3d_secure_then_confirm_payment(journey: Journey) -> None:
    account = journey.open("bianchi", journey.server.card(THREE_DS))
    order = journey.order(account, "order-3ds")
    assert order.state is OrderState.REQUIRES_ACTION
    assert order.next_action  # the redirect or the client secret, for the host's page
    assert order.charge_id is not None
    journey.server.authenticate(order.charge_id)
    done = journey.center.confirm_payment(account, CONTACT, order.id)
    assert done.state is OrderState.SUCCEEDED
    _settled(journey)


def test_a_decline_changes_nothing(journey: Journey) -> None:
    account = journey.open("verdi", "pm_card_chargeCustomerFail")
    with pytest.raises(PaymentDeclined):
        journey.order(account, "order-declined")
    assert journey.center.subscriptions(account) == []
    _settled(journey)


def test_a_lost_answer_is_found_by_reconcile(journey: Journey) -> None:
    account = journey.open("neri", journey.server.card(PAYS))
    journey.proxy.lose = lambda seen: seen.path.endswith("/confirm")
    order = journey.order(account, "order-lost")
    journey.proxy.lose = None
    assert order.state is OrderState.UNKNOWN
    journey.clock.advance(Settings().reconcile_after)
    report = journey.center.reconcile()
    assert [o.state for o in report.orders] == [OrderState.SUCCEEDED]
    assert journey.server.succeeded_charges(journey.intent_of(f"order:{order.id}")["id"]) == 1
    _settled(journey)


def test_a_webhook_resolves_an_attempt_in_flight_once_and_in_any_order(
    journey: Journey,
) -> None:
    account = journey.open("gialli", journey.server.card(PAYS))
    journey.proxy.lose = lambda seen: seen.path.endswith("/confirm")
    order = journey.order(account, "order-webhook")
    journey.proxy.lose = None
    assert order.state is OrderState.UNKNOWN
    key = f"order:{order.id}"
    intent = journey.intent_of(key)
    assert intent["status"] == "succeeded"
    assert journey.webhook("payment_intent.succeeded", intent, "evt_ok") is EventOutcome.APPLIED
    assert journey.center.order(account, CONTACT, order.id).state is OrderState.SUCCEEDED
    before = journey.center.events(account)
    # The same delivery again, then an older event of the intent arriving late.
    assert journey.webhook("payment_intent.succeeded", intent, "evt_ok") is (EventOutcome.DUPLICATE)
    stale = {**intent, "status": "requires_action"}
    assert journey.webhook("payment_intent.requires_action", stale, "evt_old") is (
        EventOutcome.APPLIED
    )
    assert journey.center.events(account) == before
    assert journey.center.order(account, CONTACT, order.id).state is OrderState.SUCCEEDED
    # Reconcile afterwards finds nothing to do, and nothing was charged twice.
    journey.clock.advance(Settings().reconcile_after)
    assert journey.center.reconcile().resolved == ()
    _settled(journey)


class _Deliveries(BaseHTTPRequestHandler):
    """Keeps every webhook delivered to it: (payload, Stripe-Signature header)."""

    received: ClassVar[list[tuple[bytes, str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.append((body, self.headers.get("Stripe-Signature", "")))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def endpoint(journey: Journey) -> Iterator[list[tuple[bytes, str]]]:
    """A webhook endpoint on 127.0.0.1 that localstripe delivers its own events to."""
    _Deliveries.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Deliveries)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # localstripe's own configuration endpoint (not Stripe's API): it answers no body.
    httpx.post(
        f"{journey.server.base_url}/_config/webhooks/wh_{uuid.uuid4().hex[:8]}",
        json={
            "url": f"http://127.0.0.1:{server.server_address[1]}/stripe",
            "secret": SECRET,
            "events": ["payment_intent.succeeded", "payment_intent.payment_failed"],
        },
    ).raise_for_status()
    try:
        yield _Deliveries.received
    finally:
        server.shutdown()
        server.server_close()


def test_the_webhook_localstripe_delivers_resolves_a_lost_answer(
    journey: Journey, endpoint: list[tuple[bytes, str]]
) -> None:
    """Not an event built by the test: the one the server itself signs and posts."""
    account = journey.open("viola", journey.server.card(PAYS))
    journey.proxy.lose = lambda seen: seen.path.endswith("/confirm")
    order = journey.order(account, "order-delivered")
    journey.proxy.lose = None
    assert order.state is OrderState.UNKNOWN
    intent_id = journey.intent_of(f"order:{order.id}")["id"]
    deadline = time.monotonic() + 15
    mine: list[tuple[bytes, str]] = []
    while not mine and time.monotonic() < deadline:
        time.sleep(0.1)
        mine = [(p, s) for p, s in endpoint if json.loads(p)["data"]["object"]["id"] == intent_id]
    assert mine, "localstripe delivered no payment_intent.succeeded for the order"
    payload, signature = mine[0]
    event = journey.gateway.parse_event(payload, signature, SECRET)
    assert event is not None
    assert event.idempotency_key == f"order:{order.id}"
    assert journey.center.apply_gateway_event(event).outcome is EventOutcome.APPLIED
    assert journey.center.order(account, CONTACT, order.id).state is OrderState.SUCCEEDED
    assert journey.center.apply_gateway_event(event).outcome is EventOutcome.DUPLICATE
    _settled(journey)
