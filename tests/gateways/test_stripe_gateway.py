"""StripeGateway against Stripe's exact answers (through the SDK's injectable HTTP
client over httpx.MockTransport), its amounts, and its webhook parsing."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from decimal import Decimal, localcontext
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import stripe
from moneyed import Money

from subscriptions.adapters.stripe import CardSetup, StripeGateway
from subscriptions.adapters.stripe_amounts import from_minor, to_minor
from subscriptions.errors import (
    AmountNotRepresentable,
    GatewayMisconfigured,
    GatewayUnavailable,
    IdempotencyKeyReused,
    InvalidGatewayEvent,
)
from subscriptions.payments import ChargeRequest, GatewayEventKind, PaymentStatus
from tests.gateways.stripe_support import MockStripe, client_for

BASE = "https://api.stripe.test"


def _intent(status: str = "succeeded", **fields: Any) -> dict[str, Any]:
    return {
        "id": "pi_1",
        "object": "payment_intent",
        "amount": 2445,
        "amount_received": 2445 if status == "succeeded" else 0,
        "currency": "eur",
        "status": status,
        "customer": "cus_1",
        "payment_method": "pm_1",
        "client_secret": "pi_1_secret_x",
        "metadata": {"idempotency_key": "order:1"},
        "created": int(time.time()),
        **fields,
    }


def _stripe(
    handler: Callable[[httpx.Request], httpx.Response], **kw: Any
) -> tuple[StripeGateway, MockStripe]:
    mock = MockStripe(handler)
    return StripeGateway(client_for(mock, BASE, retries=kw.pop("retries", 0)), **kw), mock


def _request(**fields: Any) -> ChargeRequest:
    values: dict[str, Any] = {
        "idempotency_key": "order:1",
        "amount": Money(Decimal("24.45"), "EUR"),
        "payment_method": "cus_1/pm_1",
        "description": "Order 1",
        "account_id": "acct_1",
    } | fields
    return ChargeRequest(**values)


def _confirming(status: int, body: dict[str, Any]) -> Callable[[httpx.Request], httpx.Response]:
    """Creation works; the confirmation answers ``status`` and ``body``."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/confirm"):
            return httpx.Response(status, json=body)
        if request.url.path.endswith("/cancel"):
            return httpx.Response(200, json=_intent("canceled"))
        return httpx.Response(200, json=_intent("requires_confirmation"))

    return handler


def _error(kind: str, code: str | None = None, **fields: Any) -> dict[str, Any]:
    return {"error": {"type": kind, "code": code, "message": f"{code or kind} (test)", **fields}}


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (
            402,
            _error("card_error", "card_declined", decline_code="insufficient_funds"),
            "insufficient_funds",
        ),
        (402, _error("card_error", "expired_card"), "expired_card"),
        (
            400,
            _error("invalid_request_error", "amount_too_small", param="amount"),
            "amount_too_small",
        ),
        (
            400,
            _error("invalid_request_error", "resource_missing", param="payment_method"),
            "resource_missing",
        ),
        (
            400,
            _error("invalid_request_error", "payment_method_unexpected_state"),
            "payment_method_unexpected_state",
        ),
    ],
)
def test_the_customers_problems_are_declines(status: int, body: dict[str, Any], code: str) -> None:
    gateway, _ = _stripe(_confirming(status, body))
    result = gateway.charge(_request())
    assert (result.status, result.decline_code) == (PaymentStatus.DECLINED, code)


def test_off_session_authentication_is_declined_and_its_intent_canceled() -> None:
    body = _error(
        "card_error",
        "authentication_required",
        decline_code="authentication_required",
        payment_intent=_intent("requires_payment_method"),
    )
    gateway, mock = _stripe(_confirming(402, body))
    result = gateway.charge(_request(off_session=True))
    assert (result.status, result.decline_code) == (
        PaymentStatus.DECLINED,
        "authentication_required",
    )
    assert mock.requests[-1].url.path == "/v1/payment_intents/pi_1/cancel"
    confirm = parse_qs(mock.requests[1].content.decode())
    assert confirm["off_session"] == ["true"]


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (429, _error("invalid_request_error", "rate_limit")),
        (429, _error("invalid_request_error", "lock_timeout")),
    ],
)
def test_rate_limits_are_transient(status: int, body: dict[str, Any]) -> None:
    gateway, _ = _stripe(_confirming(status, body))
    assert gateway.charge(_request()).status is PaymentStatus.TRANSIENT_ERROR


def _raising(exc: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


@pytest.mark.parametrize(
    "handler",
    [
        _confirming(500, _error("api_error")),
        _confirming(503, _error("api_error")),
        _raising(httpx.ConnectError("refused")),
        _raising(httpx.ReadTimeout("slow")),
        _confirming(200, _intent("processing")),
    ],
    ids=["500", "503", "connection", "timeout", "processing"],
)
def test_no_answer_is_unknown(handler: Callable[[httpx.Request], httpx.Response]) -> None:
    gateway, _ = _stripe(handler)
    with pytest.raises(GatewayUnavailable):
        gateway.charge(_request())


def test_a_key_reused_with_other_parameters_is_refused() -> None:
    gateway, _ = _stripe(_confirming(400, _error("idempotency_error")))
    with pytest.raises(IdempotencyKeyReused):
        gateway.charge(_request())


@pytest.mark.parametrize(
    ("status", "body", "setting"),
    [
        (401, _error("invalid_request_error"), "STRIPE_API_KEY"),
        (403, _error("invalid_request_error"), "STRIPE_API_KEY"),
        (400, _error("invalid_request_error", "url_invalid", param="return_url"), "return_url"),
        (400, _error("invalid_request_error", "parameter_unknown", param="foo"), "'foo'"),
    ],
)
def test_set_up_errors_name_the_setting(status: int, body: dict[str, Any], setting: str) -> None:
    gateway, _ = _stripe(_confirming(status, body))
    with pytest.raises(GatewayMisconfigured) as caught:
        gateway.charge(_request())
    assert setting in caught.value.setting


def test_sdk_retries_reuse_the_key() -> None:
    answers = iter(
        [httpx.Response(500, json=_error("api_error")), httpx.Response(200, json=_intent())]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/confirm"):
            return next(answers)
        return httpx.Response(200, json=_intent("requires_confirmation"))

    gateway, mock = _stripe(handler, retries=2)
    assert gateway.charge(_request()).status is PaymentStatus.SUCCEEDED
    confirms = [r for r in mock.requests if r.url.path.endswith("/confirm")]
    assert len(confirms) == 2
    assert {r.headers["Idempotency-Key"] for r in confirms} == {"order:1:confirm"}
    create = mock.requests[0]
    assert create.headers["Idempotency-Key"] == "order:1"
    sent = parse_qs(create.content.decode())
    assert sent["metadata[idempotency_key]"] == ["order:1"]
    assert sent["metadata[account_id]"] == ["acct_1"]


def test_a_first_payment_saves_the_card_on_a_new_customer() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/customers":
            return httpx.Response(200, json={"id": "cus_new", "object": "customer"})
        if request.url.path.endswith("/confirm"):
            return httpx.Response(
                200, json=_intent(customer="cus_new", setup_future_usage="off_session")
            )
        return httpx.Response(200, json=_intent("requires_confirmation"))

    gateway, mock = _stripe(handler, return_url="https://shop.test/back")
    result = gateway.charge(_request(payment_method="pm_card_visa"))
    assert result.payment_method == "cus_new/pm_1"
    assert mock.requests[0].headers["Idempotency-Key"] == "order:1:customer"
    created = parse_qs(mock.requests[1].content.decode())
    assert created["customer"] == ["cus_new"]
    assert created["setup_future_usage"] == ["off_session"]
    assert parse_qs(mock.requests[2].content.decode())["return_url"] == ["https://shop.test/back"]


def test_a_plain_method_off_session_is_declined_without_a_call() -> None:
    gateway, mock = _stripe(_confirming(200, _intent()))
    result = gateway.charge(_request(payment_method="pm_card_visa", off_session=True))
    assert (result.status, result.decline_code) == (
        PaymentStatus.DECLINED,
        "payment_method_missing",
    )
    assert mock.requests == []


def test_3ds_gives_the_redirect_or_the_secret_and_repr_hides_it() -> None:
    redirect = {"type": "redirect_to_url", "redirect_to_url": {"url": "https://bank.test/3ds"}}
    gateway, _ = _stripe(_confirming(200, _intent("requires_action", next_action=redirect)))
    assert gateway.charge(_request()).next_action == "https://bank.test/3ds"
    gateway, _ = _stripe(
        _confirming(200, _intent("requires_action", next_action={"type": "use_stripe_sdk"}))
    )
    assert gateway.charge(_request()).next_action == "pi_1_secret_x"
    assert "secret" not in repr(
        CardSetup(setup_intent_id="seti_1", customer_id="cus_1", client_secret="s3cr3t")
    )


# -- amounts -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("24.45", "EUR", 2445),
        ("1234.56", "EUR", 123456),
        ("500", "JPY", 500),
        ("1", "XOF", 1),
        ("5.120", "KWD", 5120),
        ("12", "ISK", 1200),
        ("3000", "UGX", 300000),
        ("10", "HUF", 1000),
        ("10", "TWD", 1000),
    ],
)
def test_amounts_in_minor_units_in_any_host_context(amount: str, currency: str, minor: int) -> None:
    with localcontext() as context:
        context.prec = 3
        assert to_minor(Money(Decimal(amount), currency)) == (minor, currency.lower())
        assert from_minor(minor, currency) == Money(Decimal(amount), currency)


@pytest.mark.parametrize(
    ("amount", "currency"),
    [
        ("24.455", "EUR"),
        ("5.5", "JPY"),
        ("5.125", "KWD"),
        ("12.50", "ISK"),
        ("10.10", "HUF"),
        ("1.50", "TWD"),
        ("100.5", "UGX"),
        ("0", "EUR"),
    ],
)
def test_amounts_stripe_cannot_take_are_refused_before_any_call(amount: str, currency: str) -> None:
    gateway, mock = _stripe(_confirming(200, _intent()))
    with pytest.raises(AmountNotRepresentable) as caught:
        gateway.charge(_request(amount=Money(Decimal(amount), currency)))
    assert currency in str(caught.value)
    assert mock.requests == []


# -- events --------------------------------------------------------------------------

SECRET = "whsec_test"


def _signed(
    event: dict[str, Any], *, at: int | None = None, secret: str = SECRET
) -> tuple[str, str]:
    payload = json.dumps(event)
    stamp = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{stamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return payload, f"t={stamp},v1={mac}"


def _event(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "evt_1",
        "object": "event",
        "type": kind,
        "created": 1790000000,
        "data": {"object": obj},
    }


@pytest.mark.parametrize(
    ("kind", "obj", "expected", "key", "charge_id"),
    [
        (
            "payment_intent.succeeded",
            _intent(),
            GatewayEventKind.CHARGE_SUCCEEDED,
            "order:1",
            "pi_1",
        ),
        (
            "payment_intent.payment_failed",
            _intent("requires_payment_method", last_payment_error={"code": "card_declined"}),
            GatewayEventKind.CHARGE_FAILED,
            "order:1",
            "pi_1",
        ),
        (
            "payment_intent.requires_action",
            _intent("requires_action"),
            GatewayEventKind.REQUIRES_ACTION,
            "order:1",
            "pi_1",
        ),
        (
            "charge.refunded",
            {
                "id": "ch_1",
                "object": "charge",
                "payment_intent": "pi_1",
                "amount_refunded": 1000,
                "currency": "eur",
                "metadata": {},
            },
            GatewayEventKind.REFUNDED,
            None,
            "pi_1",
        ),
        (
            "refund.created",
            {
                "id": "re_1",
                "object": "refund",
                "status": "succeeded",
                "payment_intent": "pi_1",
                "amount": 1000,
                "currency": "eur",
                "metadata": {"idempotency_key": "refund:order:1"},
            },
            GatewayEventKind.REFUNDED,
            "refund:order:1",
            "pi_1",
        ),
        (
            "refund.updated",
            {
                "id": "re_1",
                "object": "refund",
                "status": "failed",
                "payment_intent": "pi_1",
                "amount": 1000,
                "currency": "eur",
                "metadata": {"idempotency_key": "refund:order:1"},
            },
            GatewayEventKind.REFUND_FAILED,
            "refund:order:1",
            "pi_1",
        ),
        (
            "refund.failed",
            {
                "id": "re_1",
                "object": "refund",
                "status": "failed",
                "payment_intent": "pi_1",
                "amount": 1000,
                "currency": "eur",
                "metadata": {},
            },
            GatewayEventKind.REFUND_FAILED,
            None,
            "pi_1",
        ),
        (
            "charge.dispute.created",
            {
                "id": "dp_1",
                "object": "dispute",
                "payment_intent": "pi_1",
                "charge": "ch_1",
                "amount": 2445,
                "currency": "eur",
                "reason": "fraudulent",
                "metadata": {},
            },
            GatewayEventKind.DISPUTED,
            None,
            "pi_1",
        ),
    ],
)
def test_events_are_read_into_the_ports_terms(
    kind: str, obj: dict[str, Any], expected: GatewayEventKind, key: str | None, charge_id: str
) -> None:
    payload, header = _signed(_event(kind, obj))
    event = StripeGateway.parse_event(payload.encode(), header, SECRET)
    assert event is not None
    assert (event.kind, event.idempotency_key, event.charge_id) == (expected, key, charge_id)
    assert "secret" not in repr(event)


def test_events_not_ours_are_none() -> None:
    payload, header = _signed(_event("customer.created", {"id": "cus_1", "object": "customer"}))
    assert StripeGateway.parse_event(payload, header, SECRET) is None


@pytest.mark.parametrize(
    "signed",
    [
        lambda e: _signed(e, secret="whsec_other"),
        lambda e: _signed(e, at=int(time.time()) - 3600),
        lambda e: (_signed(e)[0] + " ", _signed(e)[1]),
    ],
    ids=["other-secret", "old", "altered"],
)
def test_events_that_do_not_verify_are_refused(
    signed: Callable[[dict[str, Any]], tuple[str, str]],
) -> None:
    payload, header = signed(_event("payment_intent.succeeded", _intent()))
    with pytest.raises(InvalidGatewayEvent, match="signature"):
        StripeGateway.parse_event(payload, header, SECRET)


def test_the_sdk_version_is_named() -> None:
    import subscriptions.adapters.stripe as module

    assert module.__doc__ is not None
    assert stripe.api_version in module.__doc__
