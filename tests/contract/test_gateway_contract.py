"""One suite for every payment gateway adapter: the FakeGateway (the port's reference
behaviour) and the StripeGateway over localstripe (through the recording proxy).

Each test gets the gateway and its ``World``: the payment methods that pay, decline
and need 3-D Secure, and how to finish 3-D Secure, lose answers and count charges.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import attrs
import pytest
from moneyed import Money

from subscriptions.adapters.fakes import FakeGateway
from subscriptions.adapters.stripe import StripeGateway
from subscriptions.errors import GatewayUnavailable
from subscriptions.payments import ChargeRequest, PaymentStatus, RefundRequest
from subscriptions.ports import PaymentGateway
from tests.gateways.stripe_support import LocalStripeProxy, Server, client_for


@attrs.define
class World:
    gateway: PaymentGateway
    pays: str
    declines: str
    three_ds: Callable[[], str]
    three_ds_saved: Callable[[], str]
    complete_action: Callable[[str], None]
    lose_charges: Callable[[bool], None]
    unreachable: Callable[[], PaymentGateway]
    succeeded_charges: Callable[[], int]
    #: HTTP clients to close after the test.
    clients: list[LocalStripeProxy] = attrs.field(factory=list)


def _fake() -> World:
    gateway = FakeGateway()

    def lose(on: bool) -> None:
        gateway.lose_responses = on

    def unreachable() -> PaymentGateway:
        down = FakeGateway()
        down.unavailable = True
        return down

    return World(
        gateway=gateway,
        pays="tok_visa",
        declines="tok_declined",
        three_ds=lambda: "tok_3ds",
        three_ds_saved=lambda: "tok_3ds",
        complete_action=gateway.complete_action,
        lose_charges=lose,
        unreachable=unreachable,
        succeeded_charges=lambda: len(gateway.succeeded_charges()),
    )


def _stripe(url: str) -> World:
    proxy = LocalStripeProxy(url)
    clients = [proxy]
    server = Server(url)
    gateway = StripeGateway(client_for(proxy, url), return_url="https://shop.test/paid")
    before = server.succeeded_charges()

    def lose(on: bool) -> None:
        proxy.lose = (lambda seen: seen.path.endswith("/confirm")) if on else None

    def unreachable() -> PaymentGateway:
        closed = "http://127.0.0.1:9"  # discard port: nothing listens
        clients.append(LocalStripeProxy(closed))
        return StripeGateway(client_for(clients[-1], closed))

    return World(
        gateway=gateway,
        pays="pm_card_visa",
        declines="pm_card_chargeCustomerFail",
        three_ds=lambda: server.card("4000002500003155"),
        three_ds_saved=lambda: server.saved_card("4000002500003155"),
        complete_action=server.authenticate,
        lose_charges=lose,
        unreachable=unreachable,
        succeeded_charges=lambda: server.succeeded_charges() - before,
        clients=clients,
    )


@pytest.fixture(params=["fake", "stripe"])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    if request.param == "fake":
        yield _fake()
        return
    made = _stripe(request.getfixturevalue("localstripe_url"))
    yield made
    for client in made.clients:
        client.close()


def _charge(method: str, amount: str = "24.45", **fields: Any) -> ChargeRequest:
    return ChargeRequest(
        idempotency_key=f"order:{uuid.uuid4().hex}",
        amount=Money(Decimal(amount), "EUR"),
        payment_method=method,
        description="Order 1",
        account_id="acct_1",
        **fields,
    )


def test_a_charge_succeeds_and_is_found_by_its_key(world: World) -> None:
    request = _charge(world.pays)
    result = world.gateway.charge(request)
    assert result.status is PaymentStatus.SUCCEEDED
    assert result.amount == Money(Decimal("24.45"), "EUR")
    found = world.gateway.lookup(request.idempotency_key, request=request)
    assert found is not None
    assert (found.status, found.charge_id) == (PaymentStatus.SUCCEEDED, result.charge_id)
    assert world.succeeded_charges() == 1


def test_the_same_key_again_charges_once(world: World) -> None:
    request = _charge(world.pays)
    first = world.gateway.charge(request)
    again = world.gateway.charge(request)
    assert again.status is PaymentStatus.SUCCEEDED
    assert again.charge_id == first.charge_id
    assert world.succeeded_charges() == 1


def test_a_decline_is_declined_and_stays_so(world: World) -> None:
    request = _charge(world.declines)
    result = world.gateway.charge(request)
    assert result.status is PaymentStatus.DECLINED
    assert result.decline_code
    found = world.gateway.lookup(request.idempotency_key, request=request)
    assert found is not None
    assert found.status is PaymentStatus.DECLINED
    assert world.succeeded_charges() == 0


def test_3ds_on_session_waits_for_the_customer_then_succeeds(world: World) -> None:
    request = _charge(world.three_ds())
    result = world.gateway.charge(request)
    assert result.status is PaymentStatus.REQUIRES_ACTION
    assert result.next_action
    assert result.charge_id
    waiting = world.gateway.lookup(request.idempotency_key, request=request)
    assert waiting is not None
    assert waiting.status is PaymentStatus.REQUIRES_ACTION
    world.complete_action(result.charge_id)
    done = world.gateway.lookup(request.idempotency_key, request=request)
    assert done is not None
    assert (done.status, done.charge_id) == (PaymentStatus.SUCCEEDED, result.charge_id)


def test_off_session_authentication_is_declined(world: World) -> None:
    request = _charge(world.three_ds_saved(), off_session=True)
    result = world.gateway.charge(request)
    assert (result.status, result.decline_code) == (
        PaymentStatus.DECLINED,
        "authentication_required",
    )
    found = world.gateway.lookup(request.idempotency_key, request=request)
    assert found is not None
    assert (found.status, found.decline_code) == (PaymentStatus.DECLINED, "authentication_required")
    assert world.succeeded_charges() == 0


def test_refunds_in_part_then_in_full(world: World) -> None:
    charge = _charge(world.pays, "30.00")
    charged = world.gateway.charge(charge)
    assert charged.charge_id is not None
    part = RefundRequest(
        idempotency_key=f"refund:{charge.idempotency_key}",
        charge_id=charged.charge_id,
        amount=Money(Decimal("10.00"), "EUR"),
        reason="goodwill",
    )
    refunded = world.gateway.refund(part)
    assert (refunded.status, refunded.amount) == (PaymentStatus.REFUNDED, part.amount)
    now = world.gateway.lookup(charge.idempotency_key, request=charge)
    assert now is not None
    assert now.status is PaymentStatus.SUCCEEDED
    assert now.amount_refunded == Money(Decimal("10.00"), "EUR")
    found = world.gateway.lookup(part.idempotency_key, request=part)
    assert found is not None
    assert found.status is PaymentStatus.REFUNDED
    rest = attrs.evolve(
        part, idempotency_key=f"{part.idempotency_key}:2", amount=Money(Decimal("20.00"), "EUR")
    )
    assert world.gateway.refund(rest).status is PaymentStatus.REFUNDED
    done = world.gateway.lookup(charge.idempotency_key, request=charge)
    assert done is not None
    assert done.status is PaymentStatus.REFUNDED
    assert done.amount_refunded == Money(Decimal("30.00"), "EUR")


def test_a_lost_answer_is_unknown_and_the_charge_is_found(world: World) -> None:
    request = _charge(world.pays)
    world.lose_charges(True)
    with pytest.raises(GatewayUnavailable):
        world.gateway.charge(request)
    world.lose_charges(False)
    found = world.gateway.lookup(request.idempotency_key, request=request)
    assert found is not None
    assert found.status is PaymentStatus.SUCCEEDED
    assert world.succeeded_charges() == 1


def test_a_key_never_sent_is_not_charged(world: World) -> None:
    request = _charge(world.pays)
    assert world.gateway.lookup(request.idempotency_key, request=request) is None
    assert world.gateway.lookup(request.idempotency_key) is None
    assert world.succeeded_charges() == 0


def test_a_gateway_out_of_reach_is_unavailable(world: World) -> None:
    down = world.unreachable()
    request = _charge(world.pays)
    with pytest.raises(GatewayUnavailable):
        down.charge(request)
    with pytest.raises(GatewayUnavailable):
        down.lookup(request.idempotency_key, request=request)
