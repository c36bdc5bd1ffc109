"""StripeGateway's lookups, refunds, resent charges and ``key_of`` against Stripe's
exact answers (the SDK's HTTP client over httpx.MockTransport): the edges localstripe
cannot be made to show (no ``Idempotent-Replayed`` header, a clock ahead of Stripe's,
long lists, refunds Stripe fails or refuses)."""

from __future__ import annotations

import time
import types
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from moneyed import Money

from subscriptions.center.attempts import send
from subscriptions.errors import GatewayMisconfigured, GatewayUnavailable, IdempotencyKeyReused
from subscriptions.payments import (
    AttemptKind,
    AttemptState,
    PaymentAttempt,
    PaymentResult,
    PaymentStatus,
    RefundRequest,
    with_result,
)
from tests.gateways.test_stripe_gateway import _error, _intent, _request, _stripe

Handler = Callable[[httpx.Request], httpx.Response]
Answer = httpx.Response | Callable[[httpx.Request], httpx.Response]

#: An hour ago: an intent made by the original charge, a day or more before.
OLD = int(time.time()) - 3600


def _routes(table: dict[str, Answer | list[Answer]]) -> Handler:
    """Answers by ``"METHOD /path"``; a list is answered in turn (its last one again).
    A request the table does not name fails the test."""
    calls: dict[str, int] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        route = f"{request.method} {request.url.path}"
        assert route in table, f"unexpected request {route}"
        answers = table[route]
        if isinstance(answers, list):
            seen = calls.get(route, 0)
            calls[route] = seen + 1
            answer = answers[min(seen, len(answers) - 1)]
        else:
            answer = answers
        return answer if isinstance(answer, httpx.Response) else answer(request)

    return handler


def _ok(body: dict[str, Any], *, replayed: bool | None = None) -> httpx.Response:
    headers = {} if replayed is None else {"Idempotent-Replayed": str(replayed).lower()}
    return httpx.Response(200, json=body, headers=headers)


def _page(*items: dict[str, Any], has_more: bool = False, url: str) -> httpx.Response:
    return _ok({"object": "list", "url": url, "data": list(items), "has_more": has_more})


def _intents(*items: dict[str, Any], has_more: bool = False) -> httpx.Response:
    return _page(*items, has_more=has_more, url="/v1/payment_intents")


def _paths(requests: list[httpx.Request]) -> list[str]:
    return [f"{r.method} {r.url.path}" for r in requests]


ORIGINAL = _intent("succeeded", id="pi_orig", created=OLD)


def _fresh(**fields: Any) -> dict[str, Any]:
    """The intent a replay after the idempotency window makes (never confirmed)."""
    return _intent("requires_confirmation", id="pi_fresh", **fields)


# -- lookup after the idempotency window -------------------------------------------------


def test_without_the_replay_header_an_old_confirmed_intent_is_the_original() -> None:
    gateway, mock = _stripe(
        _routes(
            {
                "POST /v1/payment_intents": _ok(ORIGINAL),
                "GET /v1/payment_intents/pi_orig": _ok(ORIGINAL),
            }
        )
    )
    found = gateway.lookup("order:1", request=_request())
    assert found is not None
    assert (found.status, found.charge_id) == (PaymentStatus.SUCCEEDED, "pi_orig")
    assert _paths(mock.requests) == ["POST /v1/payment_intents", "GET /v1/payment_intents/pi_orig"]


def _after_the_window(fresh: dict[str, Any], *pages: httpx.Response) -> Handler:
    return _routes(
        {
            "POST /v1/payment_intents": _ok(fresh),
            "GET /v1/payment_intents/pi_fresh": _ok(fresh),
            "POST /v1/payment_intents/pi_fresh/cancel": _ok({**fresh, "status": "canceled"}),
            "GET /v1/payment_intents": list(pages),
            "GET /v1/payment_intents/pi_orig": _ok(ORIGINAL),
        }
    )


@pytest.mark.parametrize("replayed", [False, None], ids=["header-false", "no-header"])
def test_a_fresh_replay_is_canceled_and_the_original_found(replayed: bool | None) -> None:
    fresh = _fresh(created=int(time.time()) + 1)
    handler = _after_the_window(fresh, _intents(fresh, ORIGINAL))
    if replayed is not None:
        inner = handler

        def handler(request: httpx.Request) -> httpx.Response:
            answer = inner(request)
            if request.url.path == "/v1/payment_intents" and request.method == "POST":
                answer.headers["Idempotent-Replayed"] = "false"
            return answer

    gateway, mock = _stripe(handler)
    found = gateway.lookup("order:1", request=_request())
    assert found is not None
    assert (found.status, found.charge_id) == (PaymentStatus.SUCCEEDED, "pi_orig")
    assert "POST /v1/payment_intents/pi_fresh/cancel" in _paths(mock.requests)
    listed = next(r for r in mock.requests if _paths([r]) == ["GET /v1/payment_intents"])
    assert listed.url.params["customer"] == "cus_1"


def test_a_host_clock_ahead_of_stripes_does_not_take_a_fresh_intent_for_the_original() -> None:
    # No header, and the fresh intent's creation time (Stripe's clock) is before the
    # lookup began (the host's clock, 10 s ahead): only its state tells it apart.
    fresh = _fresh(created=int(time.time()))
    gateway, mock = _stripe(
        _after_the_window(fresh, _intents(fresh, ORIGINAL)),
        now=lambda: datetime.now(UTC) + timedelta(seconds=10),
    )
    found = gateway.lookup("order:1", request=_request())
    assert found is not None
    assert (found.status, found.charge_id) == (PaymentStatus.SUCCEEDED, "pi_orig")
    assert "POST /v1/payment_intents/pi_fresh/cancel" in _paths(mock.requests)


def test_the_search_follows_has_more_to_the_original() -> None:
    others = [
        _intent("succeeded", id=f"pi_other{n}", metadata={"idempotency_key": f"o:{n}"})
        for n in range(3)
    ]
    fresh = _fresh()
    gateway, mock = _stripe(
        _after_the_window(
            fresh,
            _intents(fresh, *others[:2], has_more=True),
            _intents(others[2], ORIGINAL),
        ),
        page_size=3,
    )
    found = gateway.lookup("order:1", request=_request())
    assert found is not None
    assert found.charge_id == "pi_orig"
    lists = [r for r in mock.requests if _paths([r]) == ["GET /v1/payment_intents"]]
    assert [r.url.params.get("starting_after") for r in lists] == [None, "pi_other1"]
    assert {r.url.params["limit"] for r in lists} == {"3"}


def test_a_search_through_every_page_that_finds_nothing_is_not_charged() -> None:
    fresh = _fresh()
    gateway, mock = _stripe(_after_the_window(fresh, _intents(fresh)))
    assert gateway.lookup("order:1", request=_request()) is None
    assert "POST /v1/payment_intents/pi_fresh/cancel" in _paths(mock.requests)


def test_a_search_stopped_by_max_pages_is_unknown_never_not_charged() -> None:
    fresh = _fresh()
    other = _intent("succeeded", id="pi_other", metadata={"idempotency_key": "o:1"})
    gateway, mock = _stripe(
        _after_the_window(fresh, _intents(fresh, other, has_more=True)), max_pages=3
    )
    with pytest.raises(GatewayUnavailable, match="3 pages"):
        gateway.lookup("order:1", request=_request())
    lists = [r for r in mock.requests if _paths([r]) == ["GET /v1/payment_intents"]]
    assert len(lists) == 3


def test_a_refund_search_stopped_by_max_pages_is_unknown() -> None:
    other = {
        "id": "re_other",
        "object": "refund",
        "status": "succeeded",
        "amount": 100,
        "currency": "eur",
        "payment_intent": "pi_1",
        "metadata": {"idempotency_key": "refund:other"},
    }
    gateway, _ = _stripe(
        _routes(
            {
                "GET /v1/refunds": _page(other, has_more=True, url="/v1/refunds"),
                "GET /v1/payment_intents": _intents(),
            }
        ),
        max_pages=2,
    )
    with pytest.raises(GatewayUnavailable):
        gateway.lookup("refund:order:1", request=_refund())
    with pytest.raises(GatewayUnavailable):
        gateway.lookup("refund:order:1")


def test_an_intent_confirmed_while_the_lookup_cancels_it_is_charged() -> None:
    # The lookup reads an unconfirmed intent and cancels it; meanwhile a late
    # confirmation charged it, so Stripe refuses the cancel: it is charged.
    waiting = _intent("requires_confirmation", created=OLD)
    gateway, _ = _stripe(
        _routes(
            {
                "POST /v1/payment_intents": _ok(waiting, replayed=True),
                "GET /v1/payment_intents/pi_1": [_ok(waiting), _ok(_intent("succeeded"))],
                "POST /v1/payment_intents/pi_1/cancel": httpx.Response(
                    400, json=_error("invalid_request_error", "payment_intent_unexpected_state")
                ),
            }
        )
    )
    found = gateway.lookup("order:1", request=_request())
    assert found is not None
    assert found.status is PaymentStatus.SUCCEEDED


def test_an_unconfirmed_intent_that_cannot_be_canceled_is_unknown() -> None:
    waiting = _intent("requires_confirmation", created=OLD)

    def cancel(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    gateway, _ = _stripe(
        _routes(
            {
                "POST /v1/payment_intents": _ok(waiting, replayed=True),
                "GET /v1/payment_intents/pi_1": _ok(waiting),
                "POST /v1/payment_intents/pi_1/cancel": cancel,
            }
        )
    )
    with pytest.raises(GatewayUnavailable):
        gateway.lookup("order:1", request=_request())


# -- a charge resent after its intent moved on -------------------------------------------


_UNEXPECTED = httpx.Response(
    400, json=_error("invalid_request_error", "payment_intent_unexpected_state")
)


@pytest.mark.parametrize(
    ("now", "expected", "code"),
    [
        (_intent("succeeded"), PaymentStatus.SUCCEEDED, None),
        (_intent("canceled"), PaymentStatus.DECLINED, "payment_intent_canceled"),
        (
            _intent("requires_payment_method", last_payment_error={"code": "card_declined"}),
            PaymentStatus.DECLINED,
            "card_declined",
        ),
    ],
    ids=["succeeded", "canceled", "declined"],
)
def test_a_confirm_refused_as_unexpected_answers_the_intents_real_state(
    now: dict[str, Any], expected: PaymentStatus, code: str | None
) -> None:
    gateway, mock = _stripe(
        _routes(
            {
                "POST /v1/payment_intents": _ok(_intent("requires_confirmation"), replayed=True),
                "POST /v1/payment_intents/pi_1/confirm": _UNEXPECTED,
                "GET /v1/payment_intents/pi_1": _ok(now),
            }
        )
    )
    result = gateway.charge(_request())
    assert (result.status, result.charge_id, result.decline_code) == (expected, "pi_1", code)
    assert _paths(mock.requests).count("POST /v1/payment_intents/pi_1/confirm") == 1


def test_a_confirm_refused_as_unexpected_then_stripe_silent_is_unknown() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    gateway, _ = _stripe(
        _routes(
            {
                "POST /v1/payment_intents": _ok(_intent("requires_confirmation"), replayed=True),
                "POST /v1/payment_intents/pi_1/confirm": _UNEXPECTED,
                "GET /v1/payment_intents/pi_1": down,
            }
        )
    )
    with pytest.raises(GatewayUnavailable):
        gateway.charge(_request())


def test_an_off_session_decline_whose_cancel_is_lost_is_still_declined() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    body = _error(
        "card_error",
        "authentication_required",
        decline_code="authentication_required",
        payment_intent=_intent("requires_payment_method"),
    )
    gateway, _ = _stripe(
        _routes(
            {
                "POST /v1/payment_intents": _ok(_intent("requires_confirmation")),
                "POST /v1/payment_intents/pi_1/confirm": httpx.Response(402, json=body),
                "POST /v1/payment_intents/pi_1/cancel": down,
            }
        )
    )
    result = gateway.charge(_request(off_session=True))
    assert (result.status, result.decline_code) == (
        PaymentStatus.DECLINED,
        "authentication_required",
    )


# -- refunds -----------------------------------------------------------------------------


def _refund(**fields: Any) -> RefundRequest:
    values: dict[str, Any] = {
        "idempotency_key": "refund:order:1",
        "charge_id": "pi_1",
        "amount": Money(Decimal("10.00"), "EUR"),
        "reason": "goodwill",
    } | fields
    return RefundRequest(**values)


def _refund_body(status: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": "re_1",
        "object": "refund",
        "status": status,
        "amount": 1000,
        "currency": "eur",
        "payment_intent": "pi_1",
        "metadata": {"idempotency_key": "refund:order:1"},
        **fields,
    }


def _refund_attempt() -> PaymentAttempt:
    at = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    return PaymentAttempt(
        kind=AttemptKind.REFUND,
        account_id="acct_1",
        number=1,
        idempotency_key="refund:order:1",
        amount=Decimal("10.00"),
        currency="EUR",
        state=AttemptState.PENDING,
        created_at=at,
        updated_at=at,
        lease_until=at + timedelta(minutes=5),
        description="goodwill",
        refund_of="order:1",
        charge_id="pi_1",
    )


def _recorded(gateway: Any) -> tuple[PaymentResult | None, PaymentAttempt | None]:
    """What the Billing Center makes of the refund: ``send``'s result, and the attempt
    it records from it (``None`` when the outcome is unknown)."""
    attempt = _refund_attempt()
    result = send(types.SimpleNamespace(gateway=gateway), attempt)  # type: ignore[arg-type]
    if result is None:
        return None, None
    return result, with_result(attempt, result, at=attempt.updated_at)


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (
            400,
            _error("invalid_request_error", "charge_already_refunded", param="payment_intent"),
            "charge_already_refunded",
        ),
        (
            400,
            _error("invalid_request_error", "amount_too_large", param="amount"),
            "amount_too_large",
        ),
        (
            # Stripe's message for a refund over what is left, as some answers give it:
            # no code, the amount named as the parameter.
            400,
            {
                "error": {
                    "type": "invalid_request_error",
                    "param": "amount",
                    "message": "Refund amount (€30.00) is greater than unrefunded amount "
                    "on charge (€20.00)",
                }
            },
            "amount",
        ),
        (
            400,
            _error("invalid_request_error", "charge_disputed", param="payment_intent"),
            "charge_disputed",
        ),
    ],
    ids=["already-refunded", "amount-too-large", "over-the-rest-no-code", "disputed"],
)
def test_refunds_stripe_refuses_are_failed_refunds(
    status: int, body: dict[str, Any], code: str
) -> None:
    gateway, mock = _stripe(_routes({"POST /v1/refunds": httpx.Response(status, json=body)}))
    result = gateway.refund(_refund())
    assert result.status is PaymentStatus.DECLINED
    assert code in str(result.decline_code)
    assert mock.requests[0].headers["Idempotency-Key"] == "refund:order:1"
    sent = parse_qs(mock.requests[0].content.decode())
    assert (sent["payment_intent"], sent["amount"]) == (["pi_1"], ["1000"])
    _, attempt = _recorded(gateway)
    assert attempt is not None
    assert attempt.state is AttemptState.FAILED
    assert code in str(attempt.decline_code)


@pytest.mark.parametrize(
    ("status", "reason", "code"),
    [
        ("failed", "charge_for_pending_refund_disputed", "charge_for_pending_refund_disputed"),
        ("failed", None, "refund_failed"),
        ("canceled", None, "refund_canceled"),
    ],
)
def test_refunds_stripe_answers_failed_or_canceled_are_failed_refunds(
    status: str, reason: str | None, code: str
) -> None:
    body = _refund_body(status, failure_reason=reason)
    gateway, _ = _stripe(_routes({"POST /v1/refunds": _ok(body)}))
    result = gateway.refund(_refund())
    assert (result.status, result.decline_code, result.charge_id) == (
        PaymentStatus.DECLINED,
        code,
        "pi_1",
    )
    _, attempt = _recorded(gateway)
    assert attempt is not None
    assert (attempt.state, attempt.decline_code) == (AttemptState.FAILED, code)


@pytest.mark.parametrize("status", ["pending", "requires_action"])
def test_a_refund_not_settled_yet_is_unknown(status: str) -> None:
    gateway, _ = _stripe(_routes({"POST /v1/refunds": _ok(_refund_body(status))}))
    with pytest.raises(GatewayUnavailable, match="not known yet"):
        gateway.refund(_refund())
    assert _recorded(gateway) == (None, None)


def test_a_refund_made_is_refunded() -> None:
    gateway, _ = _stripe(_routes({"POST /v1/refunds": _ok(_refund_body("succeeded"))}))
    result, attempt = _recorded(gateway)
    assert result is not None
    assert (result.status, result.amount) == (PaymentStatus.REFUNDED, _refund().amount)
    assert attempt is not None
    assert (attempt.state, attempt.captured) == (AttemptState.SUCCEEDED, Decimal("10.00"))


def test_a_refund_key_reused_is_a_failed_refund_for_the_center() -> None:
    gateway, _ = _stripe(
        _routes({"POST /v1/refunds": httpx.Response(400, json=_error("idempotency_error"))})
    )
    with pytest.raises(IdempotencyKeyReused):
        gateway.refund(_refund())
    result, attempt = _recorded(gateway)
    assert result is not None
    assert result.decline_code == "refund_refused"
    assert attempt is not None
    assert attempt.state is AttemptState.FAILED


def test_a_refund_refused_for_the_set_up_is_misconfigured_not_failed() -> None:
    gateway, _ = _stripe(
        _routes({"POST /v1/refunds": httpx.Response(401, json=_error("invalid_request_error"))})
    )
    with pytest.raises(GatewayMisconfigured):
        _recorded(gateway)


def test_a_refund_looked_up_that_failed_is_a_failed_refund() -> None:
    other = _refund_body("succeeded", id="re_0", metadata={"idempotency_key": "refund:x"})
    failed = _refund_body("failed", failure_reason="expired_or_canceled_card")
    gateway, mock = _stripe(
        _routes(
            {
                "GET /v1/refunds": _page(other, failed, url="/v1/refunds"),
                "GET /v1/payment_intents": _intents(),
            }
        )
    )
    found = gateway.lookup("refund:order:1", request=_refund())
    assert found is not None
    assert (found.status, found.decline_code) == (
        PaymentStatus.DECLINED,
        "expired_or_canceled_card",
    )
    assert mock.requests[0].url.params["payment_intent"] == "pi_1"
    attempt = _refund_attempt()
    assert with_result(attempt, found, at=attempt.updated_at).state is AttemptState.FAILED
    assert gateway.lookup("refund:order:1") == found


# -- key_of ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "key"),
    [
        (_ok(_intent()), "order:1"),
        (_ok(_intent(metadata={})), None),
        (_ok(_intent(metadata={"account_id": "acct_1"})), None),
        (
            httpx.Response(
                404, json=_error("invalid_request_error", "resource_missing", param="intent")
            ),
            None,
        ),
    ],
    ids=["ours", "no-metadata", "no-key", "missing"],
)
def test_key_of_reads_the_intents_metadata(answer: httpx.Response, key: str | None) -> None:
    gateway, mock = _stripe(_routes({"GET /v1/payment_intents/pi_1": answer}))
    assert gateway.key_of("pi_1") == key
    assert len(mock.requests) == 1


def _connection_refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused")


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (httpx.Response(500, json=_error("api_error")), GatewayUnavailable),
        (_connection_refused, GatewayUnavailable),
        (
            httpx.Response(429, json=_error("invalid_request_error", "rate_limit")),
            GatewayUnavailable,
        ),
        (httpx.Response(401, json=_error("invalid_request_error")), GatewayMisconfigured),
    ],
    ids=["500", "connection", "rate-limit", "401"],
)
def test_key_of_when_stripe_cannot_say(answer: Answer, error: type[Exception]) -> None:
    gateway, _ = _stripe(_routes({"GET /v1/payment_intents/pi_1": answer}))
    with pytest.raises(error):
        gateway.key_of("pi_1")


# -- card setups -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (
            httpx.Response(429, json=_error("invalid_request_error", "rate_limit")),
            GatewayUnavailable,
        ),
        (httpx.Response(500, json=_error("api_error")), GatewayUnavailable),
        (_connection_refused, GatewayUnavailable),
        (httpx.Response(401, json=_error("invalid_request_error")), GatewayMisconfigured),
    ],
    ids=["rate-limit", "500", "connection", "401"],
)
def test_a_card_setup_stripe_cannot_handle_is_one_of_our_errors(
    answer: Answer, error: type[Exception]
) -> None:
    gateway, _ = _stripe(
        _routes({"POST /v1/setup_intents": answer, "GET /v1/setup_intents/seti_1": answer})
    )
    with pytest.raises(error):
        gateway.start_card_setup("acct_1", idempotency_key="card:1", customer_id="cus_1")
    with pytest.raises(error):
        gateway.saved_card("seti_1")
