"""StripeGateway against localstripe (through the recording proxy) where Stripe alone
behaves so: a lookup after the 24-hour idempotency window, a charge resent after its
intent moved on, and saving a card with a SetupIntent."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import attrs
import pytest
from moneyed import Money

from subscriptions.adapters.stripe import CardSetup, StripeGateway
from subscriptions.errors import CardSetupIncomplete, GatewayUnavailable
from subscriptions.payments import ChargeRequest, PaymentStatus
from tests.gateways.stripe_support import LocalStripeProxy, Recorded, Server, client_for

VISA = "4242424242424242"
THREE_DS = "4000002500003155"


@attrs.define
class Stripe:
    gateway: StripeGateway
    proxy: LocalStripeProxy
    server: Server
    charges_before: int

    def succeeded_charges(self) -> int:
        return self.server.succeeded_charges() - self.charges_before

    def intents_of(self, key: str) -> list[dict[str, Any]]:
        """Every intent at localstripe made under ``key`` (its metadata)."""
        listed = self.server.get("/v1/payment_intents?limit=10000")["data"]
        return [i for i in listed if (i.get("metadata") or {}).get("idempotency_key") == key]


@pytest.fixture
def stripe(localstripe_url: str) -> Iterator[Stripe]:
    proxy = LocalStripeProxy(localstripe_url)
    server = Server(localstripe_url)
    gateway = StripeGateway(client_for(proxy, localstripe_url), return_url="https://shop.test/paid")
    yield Stripe(gateway, proxy, server, server.succeeded_charges())
    proxy.close()


def _charge(method: str, **fields: Any) -> ChargeRequest:
    return ChargeRequest(
        idempotency_key=f"order:{uuid.uuid4().hex}",
        amount=Money(Decimal("24.45"), "EUR"),
        payment_method=method,
        description="Order 1",
        account_id="acct_1",
        **fields,
    )


def _creating(seen: Recorded) -> bool:
    return seen.method == "POST" and seen.path == "/v1/payment_intents"


def _confirming(seen: Recorded) -> bool:
    return seen.path.endswith("/confirm")


# -- after the idempotency window --------------------------------------------------------


@pytest.mark.parametrize("first_payment", [False, True], ids=["saved-card", "first-payment"])
def test_after_the_window_a_lookup_finds_the_original_and_cancels_its_replay(
    stripe: Stripe, first_payment: bool
) -> None:
    request = _charge("pm_card_visa" if first_payment else stripe.server.saved_card(VISA))
    charged = stripe.gateway.charge(request)
    assert charged.status is PaymentStatus.SUCCEEDED
    stripe.proxy.forget_keys()
    found = stripe.gateway.lookup(request.idempotency_key, request=request)
    assert found is not None
    assert (found.status, found.charge_id) == (PaymentStatus.SUCCEEDED, charged.charge_id)
    assert found.amount == request.amount
    intents = stripe.intents_of(request.idempotency_key)
    assert {i["id"]: i["status"] for i in intents} == {
        **{i["id"]: "canceled" for i in intents if i["id"] != charged.charge_id},
        charged.charge_id: "succeeded",
    }
    assert len(intents) == 2  # the original and the replay's fresh one, canceled
    assert stripe.succeeded_charges() == 1


def test_after_the_window_an_original_never_confirmed_is_canceled_not_charged(
    stripe: Stripe,
) -> None:
    request = _charge(stripe.server.saved_card(VISA))
    stripe.proxy.lose = _creating
    with pytest.raises(GatewayUnavailable):
        stripe.gateway.charge(request)
    stripe.proxy.lose = None
    [original] = stripe.intents_of(request.idempotency_key)
    assert original["status"] == "requires_confirmation"
    stripe.proxy.forget_keys()
    assert stripe.gateway.lookup(request.idempotency_key, request=request) is None
    intents = stripe.intents_of(request.idempotency_key)
    assert len(intents) == 2
    assert {i["status"] for i in intents} == {"canceled"}
    assert stripe.succeeded_charges() == 0


# -- a charge resent after its intent moved on -------------------------------------------


def test_a_charge_resent_after_a_lost_confirm_is_the_same_charge(stripe: Stripe) -> None:
    request = _charge(stripe.server.saved_card(VISA), off_session=True)
    stripe.proxy.lose = _confirming
    with pytest.raises(GatewayUnavailable):
        stripe.gateway.charge(request)
    stripe.proxy.lose = None
    again = stripe.gateway.charge(request)  # Stripe replays the confirmation
    assert again.status is PaymentStatus.SUCCEEDED
    # Stripe kept no answer for the confirmation: it is refused as unexpected now.
    stripe.proxy.forget_keys(f"{request.idempotency_key}:confirm")
    resent = stripe.gateway.charge(request)
    assert (resent.status, resent.charge_id) == (PaymentStatus.SUCCEEDED, again.charge_id)
    refused = stripe.proxy.sent("POST", f"/v1/payment_intents/{again.charge_id}/confirm")
    assert len(refused) == 3
    assert stripe.succeeded_charges() == 1
    assert len(stripe.intents_of(request.idempotency_key)) == 1


def test_a_charge_resent_after_a_lookup_canceled_it_is_not_charged(stripe: Stripe) -> None:
    request = _charge(stripe.server.saved_card(VISA), off_session=True)
    stripe.proxy.lose = _creating
    with pytest.raises(GatewayUnavailable):
        stripe.gateway.charge(request)
    stripe.proxy.lose = None
    assert stripe.gateway.lookup(request.idempotency_key, request=request) is None
    resent = stripe.gateway.charge(request)
    assert (resent.status, resent.decline_code) == (
        PaymentStatus.DECLINED,
        "payment_intent_canceled",
    )
    [intent] = stripe.intents_of(request.idempotency_key)
    assert (intent["id"], intent["status"]) == (resent.charge_id, "canceled")
    assert stripe.succeeded_charges() == 0


# -- saving a card -----------------------------------------------------------------------


def _confirm_setup(server: Server, setup: CardSetup, number: str) -> str:
    """Play the customer's card page confirming the setup; the PaymentMethod."""
    method = server.card(number)
    server.post(
        f"/v1/setup_intents/{setup.setup_intent_id}/confirm",
        {"payment_method": method, "client_secret": setup.client_secret},
    )
    return method


def test_a_card_saved_by_a_setup_is_charged_off_session(stripe: Stripe) -> None:
    key = f"card:{uuid.uuid4().hex}"
    setup = stripe.gateway.start_card_setup("acct_1", idempotency_key=key)
    assert setup.client_secret.startswith(setup.setup_intent_id)
    assert setup.client_secret not in repr(setup)
    assert stripe.gateway.start_card_setup("acct_1", idempotency_key=key) == setup
    created = stripe.server.get(f"/v1/setup_intents/{setup.setup_intent_id}")
    assert (created["customer"], created["usage"]) == (setup.customer_id, "off_session")
    with pytest.raises(CardSetupIncomplete) as caught:
        stripe.gateway.saved_card(setup.setup_intent_id)
    assert caught.value.status == "requires_payment_method"
    method = _confirm_setup(stripe.server, setup, VISA)
    saved = stripe.gateway.saved_card(setup.setup_intent_id)
    assert saved == f"{setup.customer_id}/{method}"
    renewal = stripe.gateway.charge(_charge(saved, off_session=True))
    assert renewal.status is PaymentStatus.SUCCEEDED
    assert stripe.server.intent(str(renewal.charge_id))["customer"] == setup.customer_id
    assert stripe.succeeded_charges() == 1


def test_a_setup_for_a_known_customer_and_one_waiting_for_3ds(stripe: Stripe) -> None:
    customer = stripe.server.post("/v1/customers", {})["id"]
    setup = stripe.gateway.start_card_setup(
        "acct_1", idempotency_key=f"card:{uuid.uuid4().hex}", customer_id=customer
    )
    assert setup.customer_id == customer
    assert stripe.proxy.sent("POST", "/v1/customers") == []
    _confirm_setup(stripe.server, setup, THREE_DS)
    with pytest.raises(CardSetupIncomplete) as caught:
        stripe.gateway.saved_card(setup.setup_intent_id)
    assert caught.value.status == "requires_action"
