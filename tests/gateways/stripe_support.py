"""Stripe in the tests: localstripe as a subprocess, a recording proxy in front of it,
and an HTTP client over ``httpx.MockTransport`` that answers with Stripe's own shapes.

:class:`LocalStripeProxy` is the SDK's HTTP client (``stripe.HTTPClient``): it records
every request the SDK makes (method, path, parameters, Idempotency-Key), checks the
real parameters were sent, then bridges what localstripe 1.15.10 does not model:

* idempotency keys: the same key with the same parameters replays the stored answer
  with ``Idempotent-Replayed: true``; with other parameters it is Stripe's 400
  ``idempotency_error``;
* parameters it refuses (``description``, ``setup_future_usage``, ``return_url``,
  ``off_session`` on confirm) are stripped, and ``allowed_payment_method_types`` (this
  API version's name) is sent as ``payment_method_types``;
* :meth:`LocalStripeProxy.forget_keys` plays Stripe's 24-hour idempotency window
  passing (the stored answers are forgotten);
* list filters (``customer``, ``created``, ``limit``, newest first) are applied here;
* a card decline is given Stripe's ``card_error`` shape (``decline_code``, the intent);
* a confirmation of an intent that is no longer waiting for one (confirmed already,
  canceled) gives Stripe's 400 ``payment_intent_unexpected_state`` with the intent
  (localstripe answers a bare 400 "Bad request");
* off session, a card that needs 3-D Secure gives Stripe's 402
  ``authentication_required`` (localstripe answers ``requires_action``), and the
  intent reads as Stripe shows it afterwards (``last_payment_error``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from importlib.metadata import version
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import attrs
import httpx
import pytest
import stripe

LOCALSTRIPE_VERSION = "1.15.10"
API_KEY = "sk_test_localstripe"
SKIP_MESSAGE = (
    "localstripe could not be started; install the test extra "
    "(pip install -e '.[stripe,test]') to run the Stripe gateway tests"
)

#: Parameters localstripe refuses though Stripe takes them: checked sent, then stripped.
_UNMODELLED = {
    "/v1/payment_intents": ("description", "setup_future_usage"),
    "confirm": ("return_url", "off_session"),
    "/v1/refunds": ("reason",),
}
_RENAMED = {"allowed_payment_method_types": "payment_method_types"}
_LIST_FILTERS = ("customer", "created", "limit", "starting_after")


@attrs.define
class Recorded:
    method: str
    path: str
    params: dict[str, str]
    idempotency_key: str | None


def start_localstripe() -> tuple[subprocess.Popen[str], str]:
    """Start the launcher; its process and base URL (raises if it does not listen)."""
    assert version("localstripe") == LOCALSTRIPE_VERSION, "the proxy is written for 1.15.10"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.gateways.localstripe_server"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("port="):
        stop(process)
        raise RuntimeError(f"localstripe did not start (it said {line!r})")
    url = f"http://127.0.0.1:{line.removeprefix('port=')}"
    for _ in range(100):
        try:
            httpx.get(f"{url}/v1/customers", headers=_auth(), timeout=1)
            return process, url
        except httpx.TransportError:
            time.sleep(0.05)
    stop(process)
    raise RuntimeError("localstripe did not answer")


def stop(process: subprocess.Popen[str]) -> None:
    if process.stdout is not None:
        process.stdout.close()
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def localstripe_or_skip() -> Iterator[str]:
    """The session's localstripe; skipped when it cannot start, failing on CI."""
    try:
        process, url = start_localstripe()
    except (RuntimeError, OSError, AssertionError) as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{SKIP_MESSAGE} ({exc}); on CI these tests must run", pytrace=False)
        pytest.skip(f"{SKIP_MESSAGE} ({exc})")
    try:
        yield url
    finally:
        stop(process)


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEY}"}


def _flat(data: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(data, Mapping):
        return [p for k, v in data.items() for p in _flat(v, f"{prefix}[{k}]" if prefix else k)]
    if isinstance(data, list):
        return [p for i, v in enumerate(data) for p in _flat(v, f"{prefix}[{i}]")]
    return [(prefix, str(data).lower() if isinstance(data, bool) else str(data))]


class LocalStripeProxy(stripe.HTTPClient):
    """The SDK's HTTP client, recording and bridging to localstripe (module docs)."""

    name = "localstripe-proxy"

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url
        self.requests: list[Recorded] = []
        #: While set, a request matching it is made and its answer lost.
        self.lose: Callable[[Recorded], bool] | None = None
        self._http = httpx.Client(timeout=10)
        self._answers: dict[str, tuple[tuple[str, tuple[tuple[str, str], ...]], Any]] = {}
        self._auth_required: set[str] = set()

    def _sleep_time_seconds(self, num_retries: int) -> float:
        return 0.0

    def close(self) -> None:
        self._http.close()

    def forget_keys(self, *keys: str) -> None:
        """Stripe's 24 h window has passed: the answers stored by Idempotency-Key are
        forgotten (all of them, or only ``keys``: a request Stripe kept no answer
        for), so that the same key makes a new object again."""
        for key in keys or list(self._answers):
            del self._answers[key]

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[str, int, Mapping[str, str]]:
        parts = urlsplit(url)
        params = dict(parse_qsl(post_data or parts.query, keep_blank_values=True))
        key = (headers or {}).get("Idempotency-Key")
        seen = Recorded(method.upper(), parts.path, params, key)
        self.requests.append(seen)
        if key and seen.method == "POST":
            fingerprint = (seen.path, tuple(sorted(params.items())))
            if key in self._answers:
                before, (body, status, answer_headers) = self._answers[key]
                if before != fingerprint:
                    return _error(
                        400,
                        "idempotency_error",
                        "Keys for idempotent requests "
                        "can only be used with the same parameters they were first "
                        "used with.",
                    )
                return body, status, {**answer_headers, "Idempotent-Replayed": "true"}
            answer = self._forward(seen)
            self._answers[key] = (fingerprint, answer)
        else:
            answer = self._forward(seen)
        if self.lose is not None and self.lose(seen):
            raise stripe.APIConnectionError("the answer was lost (test)", should_retry=False)
        return answer

    def _send(self, method: str, path: str, params: list[tuple[str, str]]) -> httpx.Response:
        try:
            if method == "GET":
                return self._http.get(self.base_url + path, params=params, headers=_auth())
            return self._http.post(
                self.base_url + path,
                content=urlencode(params),
                headers={**_auth(), "Content-Type": "application/x-www-form-urlencoded"},
            )
        except httpx.TransportError as exc:
            raise stripe.APIConnectionError(
                f"cannot reach Stripe ({exc})", should_retry=True
            ) from exc

    def _forward(self, seen: Recorded) -> tuple[str, int, Mapping[str, str]]:
        params = dict(seen.params)
        kind = "confirm" if seen.path.endswith("/confirm") else seen.path
        for name in _UNMODELLED.get(kind, ()):
            params.pop(name, None)
        off_session = seen.params.get("off_session") == "true"
        renamed = [
            (_RENAMED.get(k.split("[")[0], k.split("[")[0]) + k[len(k.split("[")[0]) :], v)
            for k, v in params.items()
        ]
        if seen.method == "GET" and seen.path in ("/v1/payment_intents", "/v1/refunds"):
            return self._list(seen.path, dict(renamed))
        response = self._send(seen.method, seen.path, renamed)
        data = response.json()
        status = response.status_code
        if status == 402 and "error" in data:
            data = self._card_error(data, seen.path)
        if status == 400 and kind == "confirm" and seen.path.startswith("/v1/payment_intents/"):
            data = self._unexpected_state(seen.path.split("/")[3]) or data
        if off_session and data.get("status") == "requires_action":
            self._auth_required.add(data["id"])
            data, status = (
                self._card_error(
                    {
                        "error": {
                            "code": "authentication_required",
                            "message": "This transaction requires authentication.",
                        }
                    },
                    seen.path,
                ),
                402,
            )
        return json.dumps(self._patched(data)), status, {"Request-Id": "req_proxy"}

    def _card_error(self, data: dict[str, Any], path: str) -> dict[str, Any]:
        error = dict(data["error"])
        error["type"] = "card_error"
        error.setdefault(
            "decline_code",
            "generic_decline" if error.get("code") == "card_declined" else error.get("code"),
        )
        if path.startswith("/v1/payment_intents/"):
            intent_id = path.split("/")[3]
            error["payment_intent"] = self._send(
                "GET", f"/v1/payment_intents/{intent_id}", []
            ).json()
        return {"error": error}

    def _unexpected_state(self, intent_id: str) -> dict[str, Any] | None:
        """Stripe's refusal to confirm an intent that moved on; ``None`` for one still
        waiting for its confirmation (localstripe refused it for another reason)."""
        intent = self._send("GET", f"/v1/payment_intents/{intent_id}", []).json()
        if intent.get("status") == "requires_confirmation":
            return None
        return {
            "error": {
                "type": "invalid_request_error",
                "code": "payment_intent_unexpected_state",
                "message": "You cannot confirm this PaymentIntent because it has a status "
                f"of {intent.get('status')}.",
                "payment_intent": intent,
            }
        }

    def _patched(self, data: Any) -> Any:
        """localstripe's objects as Stripe shows them (an intent that needed
        authentication off session)."""
        if isinstance(data, list):
            return [self._patched(item) for item in data]
        if not isinstance(data, dict):
            return data
        data = {k: self._patched(v) for k, v in data.items()}
        if data.get("object") == "payment_intent" and data.get("id") in self._auth_required:
            data["last_payment_error"] = {
                "code": "authentication_required",
                "decline_code": "authentication_required",
                "type": "card_error",
            }
            data["next_action"] = None
            if data.get("status") == "requires_action":
                data["status"] = "requires_payment_method"
        return data

    def _list(self, path: str, params: dict[str, str]) -> tuple[str, int, Mapping[str, str]]:
        upstream = [(k, v) for k, v in params.items() if k.split("[")[0] not in _LIST_FILTERS]
        upstream.append(("limit", "10000"))
        items = self._send("GET", path, upstream).json()["data"]
        items.reverse()  # newest first, as Stripe lists
        items.sort(key=lambda item: -int(item["created"]))
        if "customer" in params:
            items = [i for i in items if i.get("customer") == params["customer"]]
        for bound, test in (
            ("gte", int.__ge__),
            ("gt", int.__gt__),
            ("lte", int.__le__),
            ("lt", int.__lt__),
        ):
            if f"created[{bound}]" in params:
                items = [
                    i for i in items if test(int(i["created"]), int(params[f"created[{bound}]"]))
                ]
        if "starting_after" in params:
            ids = [i["id"] for i in items]
            items = items[ids.index(params["starting_after"]) + 1 :]
        limit = int(params.get("limit", "10"))
        page = {
            "object": "list",
            "url": path,
            "data": items[:limit],
            "has_more": len(items) > limit,
        }
        return json.dumps(self._patched(page)), 200, {"Request-Id": "req_proxy"}

    # -- what tests check --------------------------------------------------------

    def sent(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]


def _error(status: int, kind: str, message: str, **fields: str) -> tuple[str, int, dict[str, str]]:
    return json.dumps({"error": {"type": kind, "message": message, **fields}}), status, {}


def signed_event(event_id: str, kind: str, obj: Mapping[str, Any], secret: str) -> tuple[str, str]:
    """A Stripe event of ``kind`` about ``obj``, and its ``Stripe-Signature`` header
    under ``secret``, as Stripe delivers a webhook."""
    event = {"id": event_id, "object": "event", "type": kind, "data": {"object": obj}}
    payload = json.dumps({**event, "created": int(time.time())})
    stamp = int(time.time())
    mac = hmac.new(secret.encode(), f"{stamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return payload, f"t={stamp},v1={mac}"


def client_for(
    http_client: stripe.HTTPClient, base_url: str, *, retries: int = 0
) -> stripe.StripeClient:
    return stripe.StripeClient(
        API_KEY,
        http_client=http_client,
        base_addresses={"api": base_url},
        max_network_retries=retries,
    )


class Server:
    """Direct calls to localstripe (as the customer's browser or a test makes them)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def post(self, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        response = httpx.post(self.base_url + path, data=dict(_flat(params)), headers=_auth())
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def get(self, path: str) -> dict[str, Any]:
        response = httpx.get(self.base_url + path, headers=_auth())
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def card(self, number: str) -> str:
        """A PaymentMethod for the card ``number``."""
        card = {"number": number, "exp_month": "12", "exp_year": "2030", "cvc": "123"}
        return str(self.post("/v1/payment_methods", {"type": "card", "card": card})["id"])

    def saved_card(self, number: str) -> str:
        """A card saved on a new customer, as ``"cus/pm"``."""
        customer = self.post("/v1/customers", {})["id"]
        method = self.card(number)
        self.post(f"/v1/payment_methods/{method}/attach", {"customer": customer})
        return f"{customer}/{method}"

    def authenticate(self, intent_id: str, *, succeed: bool = True) -> None:
        """Play the customer finishing 3-D Secure for the intent."""
        secret = self.get(f"/v1/payment_intents/{intent_id}")["client_secret"]
        self.post(
            f"/v1/payment_intents/{intent_id}/_authenticate",
            {"client_secret": secret, "success": "true" if succeed else "false"},
        )

    def succeeded_charges(self, intent_id: str | None = None) -> int:
        charges = self.get("/v1/charges?limit=10000")["data"]
        return sum(
            1
            for c in charges
            if c["status"] == "succeeded"
            and (intent_id is None or c["payment_intent"] == intent_id)
        )

    def intent(self, intent_id: str) -> dict[str, Any]:
        return self.get(f"/v1/payment_intents/{intent_id}")


class MockStripe(stripe.HTTPClient):
    """The SDK's HTTP client over ``httpx.MockTransport``: ``handler`` answers each
    request (a response, or raises an httpx error); every request is kept."""

    name = "mock"

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        super().__init__()
        self.requests: list[httpx.Request] = []

        def record(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return handler(request)

        self._http = httpx.Client(transport=httpx.MockTransport(record))

    def _sleep_time_seconds(self, num_retries: int) -> float:
        return 0.0

    def close(self) -> None:
        self._http.close()

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[bytes, int, Mapping[str, str]]:
        try:
            response = self._http.request(method, url, headers=headers, content=post_data)
        except httpx.TimeoutException as exc:
            raise stripe.APIConnectionError("timed out (test)", should_retry=True) from exc
        except httpx.TransportError as exc:
            raise stripe.APIConnectionError("connection failed (test)", should_retry=True) from exc
        return response.content, response.status_code, response.headers
