"""A host's own words, end to end: its catalogs and its renderer write the messages the
Billing Center delivers, when it delivers them, to the addresses its hook gives."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Sequence
from datetime import timedelta
from html import escape
from pathlib import Path

import attrs
import pytest
from conftest import CONTACT, GERMANY, START
from tests.contract import records as r

from subscriptions.adapters.fakes import FakeGateway, InMemoryNotifier, ManualClock
from subscriptions.adapters.memory import InMemoryStore
from subscriptions.adapters.notifiers import DirectoryNotifier
from subscriptions.adapters.sqlite import SQLiteStore
from subscriptions.catalog import Catalog
from subscriptions.center import BillingCenter
from subscriptions.errors import InvalidInput
from subscriptions.messages import (
    DEFAULT_RENDERER,
    Confirmation,
    GettextRenderer,
    Message,
    MessageData,
    Notice,
    TrialExpiry,
)
from subscriptions.orders import Seller
from subscriptions.ports import OutboxEntry, Store

HOST = Path(__file__).resolve().parents[1] / "fixtures" / "locale"


class HtmlRenderer:
    """A host's renderer: its own HTML for the order confirmation, from the record;
    the library's text (and every other message) as the library writes it."""

    def __init__(self) -> None:
        self.written: list[MessageData] = []

    def render(self, data: MessageData, *, to: Sequence[str]) -> Message:
        self.written.append(data)
        message = DEFAULT_RENDERER.render(data, to=to)
        if not isinstance(data, Confirmation):
            return message
        rows = "".join(
            f"<tr><td>{escape(line.product_name)}</td><td>{line.amount}</td></tr>"
            for line in data.lines
        )
        html = (
            f"<h1>Order {escape(data.order_id)}</h1><table>{rows}</table>"
            f"<p>Total: {data.total} {data.currency}</p>"
        )
        return attrs.evolve(message, html=html)


class Wiring:
    """What a test's Billing Centers are built over."""

    def __init__(self, catalog: Catalog, seller: Seller, store: Store) -> None:
        self.catalog, self.seller, self.store = catalog, seller, store
        self.clock, self.gateway, self.notifier = ManualClock(START), FakeGateway(), None

    def center(self, **wiring: object) -> BillingCenter:
        wiring.setdefault("notifier", InMemoryNotifier())
        return BillingCenter(
            catalog=self.catalog,
            seller=self.seller,
            store=self.store,
            gateway=self.gateway,
            clock=self.clock,
            **wiring,  # type: ignore[arg-type]
        )


@pytest.fixture
def wiring(catalog: Catalog, seller: Seller) -> Wiring:
    return Wiring(catalog, seller, InMemoryStore())


def sent(center: BillingCenter) -> list[Message]:
    notifier = center.notifier
    assert isinstance(notifier, InMemoryNotifier)
    return notifier.sent


def austrian(center: BillingCenter, contacts: Sequence[str] = (CONTACT,)) -> str:
    return center.open_account(
        name="Huber GmbH",
        address=attrs.evolve(GERMANY, country="AT", city="Wien", postal_code="1010"),
        timezone="Europe/Vienna",
        locale="de_AT",
        currency="EUR",
        billing_contacts=list(contacts),
        payment_method="tok_visa",
    ).id


def pending(store: Store) -> list[OutboxEntry]:
    with store.unit_of_work() as uow:
        return uow.outbox.pending(100)


def test_a_german_host_catalog_writes_an_austrian_customers_notice(wiring: Wiring) -> None:
    center = wiring.center(renderer=GettextRenderer([HOST]))
    account_id = austrian(center)
    center.start_trial(account_id, CONTACT, "remote-support")
    wiring.clock.advance(timedelta(days=15))
    assert center.expire_trials() == 1
    (message,) = sent(center)
    assert (message.kind, message.locale) == ("trial_expired", "de_AT")
    assert message.subject == "Ihre kostenlose Testphase von Remote Support ist abgelaufen"
    assert message.text.startswith("Guten Tag Huber GmbH,\n\nIhre kostenlose Testphase")
    assert isinstance(message.data, TrialExpiry)
    assert message.data.account_name == "Huber GmbH"


def test_without_a_host_catalog_the_austrian_customer_reads_english(wiring: Wiring) -> None:
    center = wiring.center()
    assert center.renderer is DEFAULT_RENDERER
    account_id = austrian(center)
    center.start_trial(account_id, CONTACT, "remote-support")
    wiring.clock.advance(timedelta(days=15))
    center.expire_trials()
    (message,) = sent(center)
    assert (message.locale, message.subject) == ("en", "Your Remote Support free trial has expired")


def test_an_html_renderer_gets_the_order_and_the_notifier_its_html(
    wiring: Wiring, tmp_path: Path
) -> None:
    renderer = HtmlRenderer()
    center = wiring.center(renderer=renderer, notifier=DirectoryNotifier(tmp_path))
    account_id = austrian(center)
    center.subscribe_now(account_id, CONTACT, "remote-support", seats=2)
    quote = center.quote(account_id, CONTACT)
    order = center.place_order(account_id, CONTACT, quote.id, idempotency_key="k1")
    (confirmation,) = renderer.written
    assert isinstance(confirmation, Confirmation)
    assert (confirmation.order_id, confirmation.account_name) == (order.id, "Huber GmbH")
    assert confirmation.total == quote.total.amount
    (path,) = tmp_path.glob("*.eml")
    assert path.name == "000001-order_confirmation.eml"
    mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert mail["To"] == CONTACT
    assert mail.get_content_type() == "multipart/alternative"
    text, html = mail.iter_parts()
    assert text.get_content_type() == "text/plain"
    assert text.get_content().startswith("Hello Huber GmbH,")
    assert html.get_content_type() == "text/html"
    assert f"<h1>Order {order.id}</h1>" in html.get_content()


def test_without_html_the_email_is_plain_text(wiring: Wiring, tmp_path: Path) -> None:
    center = wiring.center(notifier=DirectoryNotifier(tmp_path))
    account_id = austrian(center)
    center.subscribe_now(account_id, CONTACT, "remote-support")
    quote = center.quote(account_id, CONTACT)
    center.place_order(account_id, CONTACT, quote.id, idempotency_key="k1")
    (path,) = tmp_path.glob("*.eml")
    mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert mail.get_content_type() == "text/plain"


def test_the_users_addresses_come_from_the_hook(wiring: Wiring) -> None:
    book = {"anna": "anna@huber.example", "bruno": "billing@huber.example"}
    book["carla"] = book["bruno"]  # a shared mailbox gets the message once
    center = wiring.center(address_of=book.get)
    account_id = austrian(center, contacts=["anna", "bruno", "carla", "dario"])
    center.subscribe_now(account_id, "anna", "remote-support")
    quote = center.quote(account_id, "anna")
    center.place_order(account_id, "anna", quote.id, idempotency_key="k1")
    (message,) = sent(center)
    # dario has no address: he gets no message.
    assert message.to == ("anna@huber.example", "billing@huber.example")
    assert center.address_of == book.get


def test_a_message_none_of_whose_users_has_an_address_is_not_sent(wiring: Wiring) -> None:
    center = wiring.center(address_of=lambda user: None)
    account_id = austrian(center)
    center.start_trial(account_id, CONTACT, "remote-support")
    wiring.clock.advance(timedelta(days=15))
    assert center.expire_trials() == 1
    assert sent(center) == []
    assert pending(wiring.store) == []


def _notices(store: Store, *entries: OutboxEntry) -> None:
    with store.unit_of_work() as uow:
        for entry in entries:
            uow.outbox.add(entry)
        uow.commit()


class Failing:
    """A renderer whose trial_expired template fails while ``broken``."""

    def __init__(self) -> None:
        self.broken = True

    def render(self, data: MessageData, *, to: Sequence[str]) -> Message:
        if self.broken and isinstance(data, TrialExpiry):
            raise RuntimeError("the template of trial_expired has a typo")
        return DEFAULT_RENDERER.render(data, to=to)


def test_a_message_that_cannot_be_written_waits_and_those_before_it_are_not_sent_again(
    wiring: Wiring,
) -> None:
    account = r.german_account()
    first, last, broken = r.notices(account)[1:4]
    _notices(
        wiring.store,
        *(
            OutboxEntry(id=f"m-{n}", created_at=START + timedelta(minutes=n), notice=notice)
            for n, notice in enumerate([first, broken, last])
        ),
    )
    renderer = Failing()
    center = wiring.center(renderer=renderer)
    with pytest.raises(RuntimeError, match="typo"):
        center.deliver_outbox()
    assert [m.kind for m in sent(center)] == ["payment_failed"]
    assert [e.id for e in pending(wiring.store)] == ["m-1", "m-2"]
    renderer.broken = False
    assert center.deliver_outbox() == 2
    assert [m.kind for m in sent(center)] == [
        "payment_failed",
        "trial_expired",
        "subscription_lapsed",
    ]
    assert pending(wiring.store) == []


def test_a_message_an_earlier_version_stored_written_is_delivered_as_written(
    wiring: Wiring,
) -> None:
    account = r.german_account()
    written = r.written_outbox_entry(account, "m-old", START)
    _notices(wiring.store, written)
    center = wiring.center(address_of=lambda user: f"{user}@mueller.example")
    assert center.deliver_outbox() == 1
    (message,) = sent(center)
    assert message == attrs.evolve(written.message, to=("jonas@mueller.example",))
    assert message.data is None


def test_the_notices_survive_a_real_store_and_are_written_by_whoever_delivers(
    catalog: Catalog, seller: Seller, tmp_path: Path
) -> None:
    with SQLiteStore(tmp_path / "book.sqlite3") as store:
        wiring = Wiring(catalog, seller, store)
        # The web process posts; it sends nothing (no notifier).
        web = wiring.center(notifier=None)
        account_id = austrian(web)
        web.subscribe_now(account_id, CONTACT, "remote-support", seats=3)
        quote = web.quote(account_id, CONTACT)
        order = web.place_order(account_id, CONTACT, quote.id, idempotency_key="k1")
        (entry,) = pending(store)
        assert entry.notice is not None
        assert entry.notice.to == (CONTACT,)
        # A worker delivers, with the host's templates.
        renderer = HtmlRenderer()
        worker = wiring.center(renderer=renderer, address_of=lambda user: f"{user}@huber.example")
        assert worker.deliver_outbox() == 1
        (message,) = sent(worker)
        assert message.to == ("anna@huber.example",)
        assert message.data == entry.notice.data
        assert isinstance(message.data, Confirmation)
        assert message.data.order_id == order.id
        assert message.html is not None
        assert order.id in message.html


def test_the_renderer_and_the_address_book_are_checked(wiring: Wiring) -> None:
    with pytest.raises(InvalidInput, match="has no render"):
        wiring.center(renderer=object())
    with pytest.raises(InvalidInput, match=r"address_of='anna@x\.example' must be a function"):
        wiring.center(address_of="anna@x.example")
    account = r.german_account()
    _notices(wiring.store, r.outbox_entry(account, "m-1", START))
    center = wiring.center(address_of=lambda user: "")
    with pytest.raises(InvalidInput, match=r"address_of\('jonas'\) returned ''"):
        center.deliver_outbox()

    class Careless:
        def render(self, data: MessageData, *, to: Sequence[str]) -> str:
            return "hello"

    center = wiring.center(renderer=Careless())
    with pytest.raises(InvalidInput, match="returned 'hello'; render"):
        center.deliver_outbox()
    assert [e.id for e in pending(wiring.store)] == ["m-1"]
    assert Notice(to=["jonas"], data=r.payment_failure(account)) == pending(wiring.store)[0].notice


class BrokenNotifier(InMemoryNotifier):
    """A notifier whose mail server is down while ``down``."""

    down = True

    def send(self, message: Message) -> None:
        if self.down:
            raise ConnectionError("the mail server refused the connection")
        super().send(message)


def test_a_delivery_that_fails_after_a_paid_order_never_fails_the_order(
    wiring: Wiring, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = BrokenNotifier()
    center = wiring.center(notifier=notifier)
    account = austrian(center)
    center.subscribe_now(account, CONTACT, "remote-support")
    quote = center.quote(account, CONTACT)
    with caplog.at_level("WARNING", logger="subscriptions"):
        order = center.place_order(account, CONTACT, quote.id, idempotency_key="k1")
    assert order.state.value == "succeeded"  # paid, and told so
    assert "waits in the outbox" in caplog.text
    assert [e.notice.data.order_id for e in pending(wiring.store) if e.notice] == [order.id]
    with pytest.raises(ConnectionError):
        center.deliver_outbox()  # the job says what is wrong
    notifier.down = False
    assert center.deliver_outbox() == 1
    assert [m.kind for m in notifier.sent] == ["order_confirmation"]
