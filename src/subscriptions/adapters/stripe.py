"""The Stripe payment gateway: :class:`StripeGateway`, cards only, on the official SDK.

Built for the API version the installed SDK pins (``stripe.api_version``, for stripe
16.x ``2026-10-28.endive``). The host builds the ``stripe.StripeClient`` (its API key,
``max_network_retries``, an HTTP client) and passes it in; nothing here reads the
environment.

Every charge is two requests under keys derived from the attempt's idempotency key:
the PaymentIntent is created *unconfirmed* under the key itself (with the key and the
account in its metadata), then confirmed under ``"<key>:confirm"``. Creating moves no
money, so :meth:`StripeGateway.lookup` can replay the creation with the same key and
parameters to find the intent again: within Stripe's 24-hour idempotency window the
replay returns the very intent (``Idempotent-Replayed: true``); after it, the replay
makes a fresh one, which is canceled, and the customer's recent intents are searched
for the key in their metadata (a search cut off by ``max_pages`` is unknown, never
"not charged"). An intent never confirmed is canceled and reported as not charged, so
a late confirmation can never charge it; one Stripe will not cancel because it was
confirmed meanwhile is reported as it now is. A confirmation Stripe refuses because
the intent moved on (``payment_intent_unexpected_state``) answers the intent's state.

Payment methods are strings: a PaymentMethod id or test token (``pm_...``) from the
host's card form, for a first on-session payment, or ``"cus_123/pm_456"``, a card
saved on a Stripe customer, for later ones (off session). A first payment with a plain
method creates the customer and saves the card: its succeeded result carries
``payment_method="cus_123/pm_456"``.

Amounts go in Stripe's minor units by Stripe's own currency table
(:mod:`subscriptions.adapters.stripe_amounts`); an amount that does not fit is
refused before any request.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import attrs
import stripe
from stripe.params import (
    PaymentIntentConfirmParams,
    PaymentIntentCreateParams,
    PaymentIntentListParams,
    RefundCreateParams,
    RefundListParams,
    SetupIntentCreateParams,
)

from ..errors import (
    CardSetupIncomplete,
    GatewayMisconfigured,
    GatewayUnavailable,
    IdempotencyKeyReused,
    InvalidGatewayEvent,
)
from ..payments import (
    ChargeRequest,
    GatewayEvent,
    GatewayEventKind,
    PaymentResult,
    PaymentStatus,
    RefundRequest,
)
from .stripe_amounts import from_minor, to_minor

__all__ = [
    "API_KEY_SETTING",
    "CardSetup",
    "StripeGateway",
    "saved_method",
    "split_method",
]

#: What a host sets its Stripe secret key in, named by the errors that say to fix it.
API_KEY_SETTING = "the Stripe API key (STRIPE_API_KEY)"

_NEVER_CONFIRMED = frozenset({"requires_payment_method", "requires_confirmation"})
#: Card errors of a request (400/404) that are the customer's problem: declined.
_CUSTOMER_CODES = frozenset(
    {
        "amount_too_small",
        "payment_method_unexpected_state",
        "payment_method_missing",
        "card_declined",
        "expired_card",
        "incorrect_cvc",
    }
)
#: Refusals of a refund (the charge, not the set-up): a failed refund.
_REFUND_REFUSALS = frozenset(
    {"charge_already_refunded", "charge_disputed", "amount_too_large", "resource_missing"}
)
_TRANSIENT_CODES = frozenset({"lock_timeout", "rate_limit"})
_METHOD_PARAMS = frozenset({"payment_method", "source", "customer"})


# -- payment methods ---------------------------------------------------------------------


def split_method(method: str) -> tuple[str | None, str]:
    """``(customer, payment method)`` of a payment-method string: ``"cus_X/pm_Y"`` or
    a plain ``"pm_Y"`` (no customer)."""
    customer, slash, pm = method.partition("/")
    if not slash:
        return None, method
    return customer, pm


def saved_method(customer: str, payment_method: str) -> str:
    """The string naming a card saved on a Stripe customer."""
    return f"{customer}/{payment_method}"


@attrs.frozen(kw_only=True, weakref_slot=False)
class CardSetup:
    """A card setup started for an account: the host's card page confirms it in the
    browser with ``client_secret`` (never logged, not in the repr), then asks
    :meth:`StripeGateway.saved_card` for the saved card."""

    setup_intent_id: str
    customer_id: str
    client_secret: str = attrs.field(repr=False)


# -- reading Stripe's answers -----------------------------------------------------------


def _data(obj: Any) -> dict[str, Any]:
    """A Stripe object's fields as plain data (missing ones are just absent)."""
    if isinstance(obj, stripe.StripeObject):
        data: dict[str, Any] = obj.to_dict()
        return data
    return dict(obj) if isinstance(obj, Mapping) else {}


def _header(obj: stripe.StripeObject, name: str) -> str | None:
    response = obj.last_response
    if response is None:
        return None
    for key, value in response.headers.items():
        if key.lower() == name.lower():
            return str(value)
    return None


def _id(value: Any) -> str | None:
    """An expandable field's id (Stripe gives an id or the expanded object)."""
    if isinstance(value, Mapping):
        found = value.get("id")
        return None if found is None else str(found)
    return None if value is None else str(value)


def _decline(error: Mapping[str, Any] | None) -> tuple[str, str | None]:
    error = error or {}
    code = error.get("decline_code") or error.get("code") or "card_declined"
    return str(code), error.get("message")


def _intent_result(intent: Mapping[str, Any], *, saves_card: bool = False) -> PaymentResult | None:
    """What an intent's state means for the port; ``None`` for one never confirmed or
    canceled before charging (nothing was charged)."""
    status = intent.get("status")
    intent_id = str(intent["id"])
    currency = str(intent["currency"])
    if status == "succeeded":
        return _succeeded(intent, saves_card=saves_card)
    if status == "requires_action":
        return PaymentResult(
            status=PaymentStatus.REQUIRES_ACTION,
            charge_id=intent_id,
            amount=from_minor(int(intent["amount"]), currency),
            next_action=_next_action(intent),
        )
    error = intent.get("last_payment_error")
    if status in ("requires_payment_method", "canceled") and error:
        code, message = _decline(error)
        return PaymentResult(
            status=PaymentStatus.DECLINED, charge_id=intent_id, decline_code=code, message=message
        )
    if status in _NEVER_CONFIRMED or status == "canceled":
        return None
    raise GatewayUnavailable(
        f"Stripe is still processing payment {intent_id} (status {status!r}); the outcome "
        "is not known yet: look it up again later"
    )


def _succeeded(intent: Mapping[str, Any], *, saves_card: bool) -> PaymentResult:
    currency = str(intent["currency"])
    captured = int(intent.get("amount_received") or intent["amount"])
    charge = intent.get("latest_charge")
    refunded = int(charge.get("amount_refunded") or 0) if isinstance(charge, Mapping) else 0
    customer, method = _id(intent.get("customer")), _id(intent.get("payment_method"))
    saved = saves_card or intent.get("setup_future_usage") == "off_session"
    return PaymentResult(
        status=PaymentStatus.REFUNDED if refunded >= captured else PaymentStatus.SUCCEEDED,
        charge_id=str(intent["id"]),
        amount=from_minor(captured, currency),
        amount_refunded=from_minor(refunded, currency) if refunded else None,
        payment_method=(saved_method(customer, method) if saved and customer and method else None),
    )


def _next_action(intent: Mapping[str, Any]) -> str | None:
    action = intent.get("next_action") or {}
    redirect = action.get("redirect_to_url") if isinstance(action, Mapping) else None
    if isinstance(redirect, Mapping) and redirect.get("url"):
        return str(redirect["url"])
    secret = intent.get("client_secret")
    return None if secret is None else str(secret)


def _refund_result(refund: Mapping[str, Any]) -> PaymentResult:
    status = refund.get("status")
    charge_id = _id(refund.get("payment_intent")) or _id(refund.get("charge"))
    amount = from_minor(int(refund["amount"]), str(refund["currency"]))
    if status == "succeeded":
        return PaymentResult(status=PaymentStatus.REFUNDED, charge_id=charge_id, amount=amount)
    if status in ("failed", "canceled"):
        return PaymentResult(
            status=PaymentStatus.DECLINED,
            charge_id=charge_id,
            decline_code=str(refund.get("failure_reason") or f"refund_{status}"),
            message=f"Stripe reports refund {refund['id']} {status}",
        )
    raise GatewayUnavailable(
        f"refund {refund['id']} is {status!r} at Stripe; its outcome is not known yet: "
        "look it up again later"
    )


# -- errors ----------------------------------------------------------------------------


def _error_data(exc: stripe.StripeError) -> dict[str, Any]:
    body = exc.json_body
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        return dict(body["error"])
    return {}


def _misconfigured(exc: stripe.StripeError, data: Mapping[str, Any]) -> NoReturn:
    if isinstance(exc, stripe.AuthenticationError):
        raise GatewayMisconfigured(
            f"Stripe refused the API key ({exc.user_message})", setting=API_KEY_SETTING
        ) from exc
    if isinstance(exc, stripe.PermissionError):
        raise GatewayMisconfigured(
            f"the Stripe API key may not do this ({exc.user_message})",
            setting=f"{API_KEY_SETTING}: a restricted key needs write access to "
            "PaymentIntents, SetupIntents, Customers and Refunds",
        ) from exc
    param = data.get("param")
    setting = (
        "the gateway's return_url"
        if param == "return_url"
        else f"the StripeGateway's settings (Stripe refused parameter {param!r})"
        if param
        else "the StripeGateway's settings"
    )
    raise GatewayMisconfigured(
        f"Stripe refused the request as invalid ({data.get('code') or 'invalid_request'}: "
        f"{exc.user_message})",
        setting=setting,
    ) from exc


def _translate(exc: stripe.StripeError, *, key: str, charge_id: str | None = None) -> PaymentResult:
    """A Stripe error as the port's answer (declined, transient) or error."""
    data = _error_data(exc)
    code = data.get("code")
    if isinstance(exc, stripe.IdempotencyError):
        raise IdempotencyKeyReused(key, "another Stripe request (other parameters)") from exc
    if isinstance(exc, stripe.RateLimitError) or code in _TRANSIENT_CODES:
        return PaymentResult(
            status=PaymentStatus.TRANSIENT_ERROR,
            message=f"Stripe is busy ({code or 'rate_limit'}); nothing was charged: try "
            "again later with the same key",
        )
    intent = data.get("payment_intent")
    charge_id = _id(intent) or charge_id
    if isinstance(exc, stripe.CardError):
        decline, message = _decline(data)
        return PaymentResult(
            status=PaymentStatus.DECLINED,
            charge_id=charge_id,
            decline_code=decline,
            message=message,
        )
    if isinstance(exc, stripe.InvalidRequestError) and (
        code in _CUSTOMER_CODES
        or (code == "resource_missing" and data.get("param") in _METHOD_PARAMS)
    ):
        return PaymentResult(
            status=PaymentStatus.DECLINED,
            charge_id=charge_id,
            decline_code=str(code),
            message=data.get("message"),
        )
    if isinstance(
        exc, stripe.AuthenticationError | stripe.PermissionError | stripe.InvalidRequestError
    ):
        _misconfigured(exc, data)
    raise GatewayUnavailable(
        f"Stripe did not give an answer ({type(exc).__name__}: {exc.user_message}); the "
        "charge or refund may have gone through: look it up by its key"
    ) from exc


# -- the gateway -----------------------------------------------------------------------


class StripeGateway:
    """The :class:`~subscriptions.ports.PaymentGateway` port on Stripe (see the module
    documentation for how charges are made and found again).

    ``return_url`` is where Stripe sends a customer back after a redirect for 3-D
    Secure (given when confirming on session). ``lookup_horizon`` bounds the search of
    recent intents and refunds after the idempotency window; ``now`` is the clock it
    is measured with.
    """

    def __init__(
        self,
        client: stripe.StripeClient,
        *,
        return_url: str | None = None,
        lookup_horizon: timedelta = timedelta(days=45),
        now: Callable[[], datetime] | None = None,
        page_size: int = 100,
        max_pages: int = 20,
    ) -> None:
        self._client = client
        self._return_url = return_url
        self._horizon = lookup_horizon
        self._now = now or (lambda: datetime.now(UTC))
        self._page_size = page_size
        self._max_pages = max_pages

    def __repr__(self) -> str:
        return f"StripeGateway(return_url={self._return_url!r})"

    # -- charging ------------------------------------------------------------------

    def _params(
        self, request: ChargeRequest, customer: str | None, method: str
    ) -> PaymentIntentCreateParams:
        """The creation's parameters: rebuilt the same from the same request."""
        amount, currency = to_minor(request.amount)
        metadata = {"idempotency_key": request.idempotency_key}
        if request.account_id is not None:
            metadata["account_id"] = request.account_id
        params: PaymentIntentCreateParams = {
            "amount": amount,
            "currency": currency,
            "payment_method": method,
            "allowed_payment_method_types": ["card"],
            "description": request.description,
            "metadata": metadata,
        }
        if customer is not None:
            params["customer"] = customer
        if _saves_card(request):
            params["setup_future_usage"] = "off_session"
        return params

    def _customer(self, request: ChargeRequest) -> tuple[str | None, bool]:
        """The customer a charge is made for, and whether the call that gave it was a
        replay: the one in the method string, or (first payment) one created for the
        account under a key derived from the attempt's."""
        customer, _ = split_method(request.payment_method)
        if customer is not None or not _saves_card(request):
            return customer, True
        metadata = {} if request.account_id is None else {"account_id": request.account_id}
        created = self._client.v1.customers.create(
            params={"metadata": metadata},
            options={"idempotency_key": f"{request.idempotency_key}:customer"},
        )
        return str(created.id), (_header(created, "Idempotent-Replayed") or "").lower() == "true"

    def charge(self, request: ChargeRequest) -> PaymentResult:
        key = request.idempotency_key
        customer, method = split_method(request.payment_method)
        to_minor(request.amount)
        if request.off_session and customer is None:
            return _no_saved_card()
        intent_id = None
        try:
            customer, _ = self._customer(request)
            created = self._client.v1.payment_intents.create(
                params=self._params(request, customer, method),
                options={"idempotency_key": key},
            )
            intent_id = str(created.id)
            return self._confirm(request, intent_id)
        except stripe.StripeError as exc:
            return self._after_error(exc, request, intent_id)

    def _confirm(self, request: ChargeRequest, intent_id: str) -> PaymentResult:
        params: PaymentIntentConfirmParams = {"expand": ["latest_charge"]}
        if request.off_session:
            params["off_session"] = True
        elif self._return_url is not None:
            params["return_url"] = self._return_url
        confirmed = self._client.v1.payment_intents.confirm(
            intent_id,
            params=params,
            options={"idempotency_key": f"{request.idempotency_key}:confirm"},
        )
        result = _intent_result(_data(confirmed), saves_card=_saves_card(request))
        if result is None:
            raise GatewayUnavailable(
                f"Stripe left payment {intent_id} unconfirmed; look it up by its key"
            )
        return result

    def _after_error(
        self, exc: stripe.StripeError, request: ChargeRequest, intent_id: str | None
    ) -> PaymentResult:
        code = _error_data(exc).get("code")
        if code == "payment_intent_unexpected_state" and intent_id is not None:
            # The intent was resolved already (canceled by a lookup, or confirmed
            # under another confirmation): its state is the answer, never a new charge.
            return self._moved_on(intent_id)
        result = _translate(exc, key=request.idempotency_key, charge_id=intent_id)
        if code == "authentication_required" and result.charge_id is not None:
            # Off session, nobody can authenticate: cancel it so that nothing later
            # completes it, and decline (the customer must pay on session). A cancel
            # that gets no answer changes nothing: the intent stays declined (its
            # last_payment_error), and only this key's confirmation, replayed, could
            # confirm it again.
            with contextlib.suppress(stripe.StripeError):
                self._cancel(result.charge_id)
        return result

    def _moved_on(self, intent_id: str) -> PaymentResult:
        try:
            current = _intent_result(self._retrieve(intent_id))
        except stripe.StripeError as exc:
            raise GatewayUnavailable(
                f"Stripe refused to confirm payment {intent_id} again and could not be "
                "asked for its state; look it up by its key"
            ) from exc
        return current or PaymentResult(
            status=PaymentStatus.DECLINED,
            charge_id=intent_id,
            decline_code="payment_intent_canceled",
            message="this key's charge was canceled as not charged; charge again with a new key",
        )

    def _retrieve(self, intent_id: str) -> dict[str, Any]:
        return _data(
            self._client.v1.payment_intents.retrieve(
                intent_id, params={"expand": ["latest_charge"]}
            )
        )

    def _cancel(self, intent_id: str) -> dict[str, Any]:
        """Cancel an intent; its state afterwards. One Stripe refuses to cancel (it
        moved on meanwhile: canceled, or confirmed late) is read again instead."""
        try:
            return _data(self._client.v1.payment_intents.cancel(intent_id))
        except stripe.InvalidRequestError:
            return self._retrieve(intent_id)

    # -- refunding -----------------------------------------------------------------

    def refund(self, request: RefundRequest) -> PaymentResult:
        amount, _ = to_minor(request.amount)
        params: RefundCreateParams = {
            "payment_intent": request.charge_id,
            "amount": amount,
            "metadata": {"idempotency_key": request.idempotency_key, "reason": request.reason},
        }
        try:
            refund = self._client.v1.refunds.create(
                params=params,
                options={"idempotency_key": request.idempotency_key},
            )
        except stripe.InvalidRequestError as exc:
            data = _error_data(exc)
            # Stripe refuses a refund over what is left of the charge with
            # amount_too_large, or (some answers) with no code, naming the amount.
            if data.get("code") in _REFUND_REFUSALS or data.get("param") == "amount":
                return PaymentResult(
                    status=PaymentStatus.DECLINED,
                    charge_id=request.charge_id,
                    decline_code=str(data.get("code") or "refund_amount_refused"),
                    message=data.get("message"),
                )
            return _translate(exc, key=request.idempotency_key, charge_id=request.charge_id)
        except stripe.StripeError as exc:
            return _translate(exc, key=request.idempotency_key, charge_id=request.charge_id)
        return _refund_result(_data(refund))

    # -- looking up ----------------------------------------------------------------

    def lookup(
        self, idempotency_key: str, *, request: ChargeRequest | RefundRequest | None = None
    ) -> PaymentResult | None:
        try:
            if isinstance(request, RefundRequest):
                found = self._find_refund(idempotency_key, request.charge_id)
                return None if found is None else _refund_result(found)
            if isinstance(request, ChargeRequest):
                return self._lookup_charge(request)
            intent = self._find_intent(idempotency_key, customer=None, skip=None)
            if intent is not None:
                return self._state(intent, saves_card=False)
            refund = self._find_refund(idempotency_key, None)
            return None if refund is None else _refund_result(refund)
        except stripe.StripeError as exc:
            result = _translate(exc, key=idempotency_key)
            raise GatewayUnavailable(
                f"Stripe could not be asked about key {idempotency_key!r} "
                f"({result.message}); ask again later"
            ) from exc

    def key_of(self, charge_id: str) -> str | None:
        """The idempotency key the PaymentIntent ``charge_id`` was made under (its
        metadata), or ``None`` for an intent the library did not make."""
        try:
            intent = self._retrieve(charge_id)
        except stripe.InvalidRequestError as exc:
            if _error_data(exc).get("code") == "resource_missing":
                return None
            result = _translate(exc, key=charge_id)
            raise GatewayUnavailable(
                f"Stripe could not be asked about {charge_id!r} ({result.message})"
            ) from exc
        except stripe.StripeError as exc:
            result = _translate(exc, key=charge_id)
            raise GatewayUnavailable(
                f"Stripe could not be asked about {charge_id!r} ({result.message}); ask again later"
            ) from exc
        key = (intent.get("metadata") or {}).get("idempotency_key")
        return key if isinstance(key, str) and key else None

    def _lookup_charge(self, request: ChargeRequest) -> PaymentResult | None:
        key = request.idempotency_key
        customer, method = split_method(request.payment_method)
        if request.off_session and customer is None:
            return None  # such a charge is declined before any request
        customer, customer_replayed = self._customer(request)
        replay = self._client.v1.payment_intents.create(
            params=self._params(request, customer, method),
            options={"idempotency_key": key},
        )
        intent = self._retrieve(str(replay.id))
        saves = _saves_card(request)
        if _confirmed(intent) or (_replayed(replay) and customer_replayed):
            # A creation never confirms: an intent confirmed is the original.
            return self._state(intent, saves_card=saves)
        # Not known to be the original (a fresh intent, the original being older than
        # the idempotency window, or the original never confirmed): canceled, so that
        # it can never be charged, unless it was confirmed meanwhile (the original).
        late = self._state(intent, saves_card=saves)
        if late is not None:
            return late
        original = self._find_intent(key, customer=customer, skip=str(intent["id"]))
        if original is None and not customer_replayed:
            original = self._find_intent(key, customer=None, skip=str(intent["id"]))
        return None if original is None else self._state(original, saves_card=saves)

    def _state(self, intent: Mapping[str, Any], *, saves_card: bool) -> PaymentResult | None:
        """The intent's result; one never confirmed is canceled first (so that it can
        never be charged later) and reported as not charged, unless Stripe refuses the
        cancel because it was confirmed meanwhile: then its new state is the answer."""
        if not _confirmed(intent):
            intent = self._cancel(str(intent["id"]))
            if not _confirmed(intent):
                raise GatewayUnavailable(
                    f"Stripe would not cancel payment {intent['id']}, never confirmed "
                    f"(status {intent.get('status')!r}); look it up again later"
                )
        return _intent_result(intent, saves_card=saves_card)

    def _exhausted(self, what: str) -> GatewayUnavailable:
        """The error of a search stopped before the end: never "not charged"."""
        return GatewayUnavailable(
            f"Stripe's {what} were not looked through to the end ({self._max_pages} pages "
            f"of {self._page_size}); whether this key was charged is unknown: look it up "
            "again later, or give the StripeGateway a larger max_pages"
        )

    def _since(self) -> int:
        return int((self._now() - self._horizon).timestamp())

    def _find_intent(
        self, key: str, *, customer: str | None, skip: str | None
    ) -> dict[str, Any] | None:
        """The recent intent (of ``customer``, if given) whose metadata names ``key``."""
        params: PaymentIntentListParams = {
            "created": {"gte": self._since()},
            "limit": self._page_size,
        }
        if customer is not None:
            params["customer"] = customer
        for _ in range(self._max_pages):
            page = self._client.v1.payment_intents.list(params=params)
            items = [_data(item) for item in page.data]
            for item in items:
                if (
                    item.get("id") != skip
                    and (item.get("metadata") or {}).get("idempotency_key") == key
                ):
                    return self._retrieve(str(item["id"]))
            if not page.has_more:
                return None
            if not items:  # more, says Stripe, but nothing to start after
                raise self._exhausted("recent payment intents")
            params["starting_after"] = items[-1]["id"]
        raise self._exhausted("recent payment intents")

    def _find_refund(self, key: str, charge_id: str | None) -> dict[str, Any] | None:
        """The refund (of the intent ``charge_id``, if given) whose metadata names ``key``."""
        params: RefundListParams = {"limit": self._page_size}
        if charge_id is not None:
            params["payment_intent"] = charge_id
        else:
            params["created"] = {"gte": self._since()}
        for _ in range(self._max_pages):
            page = self._client.v1.refunds.list(params=params)
            items = [_data(item) for item in page.data]
            for item in items:
                if (item.get("metadata") or {}).get("idempotency_key") == key:
                    return item
            if not page.has_more:
                return None
            if not items:  # more, says Stripe, but nothing to start after
                raise self._exhausted("refunds")
            params["starting_after"] = items[-1]["id"]
        raise self._exhausted("refunds")

    # -- saving cards --------------------------------------------------------------

    def start_card_setup(
        self, account_id: str, *, idempotency_key: str, customer_id: str | None = None
    ) -> CardSetup:
        """Start saving a card for ``account_id`` (on the customer ``customer_id``, or a
        new one), for off-session charges; the host's page confirms it."""
        try:
            if customer_id is None:
                customer = self._client.v1.customers.create(
                    params={"metadata": {"account_id": account_id}},
                    options={"idempotency_key": f"{idempotency_key}:customer"},
                )
                customer_id = str(customer.id)
            setup_params: SetupIntentCreateParams = {
                "customer": customer_id,
                "usage": "off_session",
                "allowed_payment_method_types": ["card"],
                "metadata": {"account_id": account_id},
            }
            setup = self._client.v1.setup_intents.create(
                params=setup_params, options={"idempotency_key": idempotency_key}
            )
        except stripe.StripeError as exc:
            _setup_error(exc, key=idempotency_key)
        return CardSetup(
            setup_intent_id=str(setup.id),
            customer_id=customer_id,
            client_secret=str(setup.client_secret),
        )

    def saved_card(self, setup_intent_id: str) -> str:
        """The ``"cus_123/pm_456"`` string of the card a succeeded setup saved."""
        try:
            setup = _data(self._client.v1.setup_intents.retrieve(setup_intent_id))
        except stripe.StripeError as exc:
            _setup_error(exc, key=setup_intent_id)
        customer, method = _id(setup.get("customer")), _id(setup.get("payment_method"))
        if setup.get("status") != "succeeded" or customer is None or method is None:
            raise CardSetupIncomplete(setup_intent_id, str(setup.get("status")))
        return saved_method(customer, method)

    # -- notifications -------------------------------------------------------------

    @staticmethod
    def parse_event(
        payload: bytes | str, signature_header: str, secret: str, *, tolerance: int = 300
    ) -> GatewayEvent | None:
        """A Stripe webhook, its signature verified, in the port's terms; ``None`` for
        an event the library does not act on."""
        text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
        try:
            stripe.WebhookSignature.verify_header(text, signature_header, secret, tolerance)
            event = json.loads(text)
            kind = _event_kind(event["type"], event["data"]["object"])
            if kind is None:
                return None
            return _event(event, kind)
        except stripe.SignatureVerificationError as exc:
            raise InvalidGatewayEvent(f"its signature does not verify ({exc})") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidGatewayEvent(f"it is not a Stripe event ({exc!r})") from None


def _setup_error(exc: stripe.StripeError, *, key: str) -> NoReturn:
    """A card setup's error as ours: what a charge would call transient (Stripe busy)
    or declined is not an answer here, so it is unavailable."""
    result = _translate(exc, key=key)
    raise GatewayUnavailable(
        f"Stripe could not handle card setup {key!r} ({result.message}); try again later"
    ) from exc


def _saves_card(request: ChargeRequest) -> bool:
    """Whether a charge saves its card: a first payment, on session, with a plain method."""
    customer, _ = split_method(request.payment_method)
    return customer is None and not request.off_session


def _no_saved_card() -> PaymentResult:
    return PaymentResult(
        status=PaymentStatus.DECLINED,
        decline_code="payment_method_missing",
        message="an off-session charge needs a card saved on a Stripe customer "
        "('cus_123/pm_456'); ask the customer to pay on session",
    )


def _replayed(created: stripe.StripeObject) -> bool:
    """Whether Stripe says a creation was its replay of an earlier one (its
    ``Idempotent-Replayed`` header). Without the header it is not known: the
    creation time cannot tell, as it is Stripe's clock and not the host's."""
    return (_header(created, "Idempotent-Replayed") or "").lower() == "true"


def _confirmed(intent: Mapping[str, Any]) -> bool:
    """Whether an intent was ever confirmed (or canceled): a creation never is."""
    return intent.get("status") not in _NEVER_CONFIRMED or bool(intent.get("last_payment_error"))


_INTENT_EVENTS = {
    "payment_intent.succeeded": GatewayEventKind.CHARGE_SUCCEEDED,
    "payment_intent.payment_failed": GatewayEventKind.CHARGE_FAILED,
    "payment_intent.requires_action": GatewayEventKind.REQUIRES_ACTION,
    "charge.refunded": GatewayEventKind.REFUNDED,
    "charge.dispute.created": GatewayEventKind.DISPUTED,
    "refund.failed": GatewayEventKind.REFUND_FAILED,
}


def _event_kind(kind: str, obj: Mapping[str, Any]) -> GatewayEventKind | None:
    if kind in _INTENT_EVENTS:
        return _INTENT_EVENTS[kind]
    if kind in ("refund.created", "refund.updated"):
        status = obj.get("status")
        if status == "succeeded":
            return GatewayEventKind.REFUNDED
        if status in ("failed", "canceled") and kind == "refund.updated":
            return GatewayEventKind.REFUND_FAILED
    return None


def _event(event: Mapping[str, Any], kind: GatewayEventKind) -> GatewayEvent:
    obj: Mapping[str, Any] = event["data"]["object"]
    object_type = obj.get("object")
    metadata = obj.get("metadata") or {}
    currency = obj.get("currency")
    charge_id: str | None
    if object_type == "payment_intent":
        charge_id, minor = str(obj["id"]), obj.get("amount")
        reason = _decline(obj["last_payment_error"])[0] if obj.get("last_payment_error") else None
    elif object_type == "refund":
        charge_id, minor = (
            _id(obj.get("payment_intent")) or _id(obj.get("charge")),
            obj.get("amount"),
        )
        reason = obj.get("failure_reason")
    elif object_type == "dispute":
        charge_id, minor = (
            _id(obj.get("payment_intent")) or _id(obj.get("charge")),
            obj.get("amount"),
        )
        reason = obj.get("reason")
    else:  # a charge
        charge_id = _id(obj.get("payment_intent")) or str(obj["id"])
        minor, reason = obj.get("amount_refunded"), None
    return GatewayEvent(
        id=str(event["id"]),
        kind=kind,
        created_at=datetime.fromtimestamp(int(event["created"]), UTC),
        object_id=str(obj["id"]),
        idempotency_key=metadata.get("idempotency_key"),
        charge_id=charge_id,
        amount=None if minor is None or currency is None else from_minor(int(minor), currency),
        reason=None if reason is None else str(reason),
    )
