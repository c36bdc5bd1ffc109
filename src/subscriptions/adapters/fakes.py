"""Fakes of the outside world: a payment gateway, a VAT-number registry, a notifier and
a clock, complete and scripted, for test suites, notebooks and the command line's demo.

* :class:`FakeGateway`: a payment gateway scripted by documented test tokens or by a
  handler function; it records every request and honours idempotency keys, and with a
  journal file (:mod:`subscriptions.adapters.journal`) its records survive the process.
* :class:`FakeVatVerifier`: a VIES-like registry of valid numbers.
* :class:`InMemoryNotifier` keeps what it was asked to send; :class:`ManualClock` is
  a clock that tests move forward.

Test tokens understood by :class:`FakeGateway`:

==========================  ===========================================================
``tok_visa``                succeeds (as does ``tok_mastercard``, and any token that
                            does not start with ``tok_``, such as a host's own ids)
``tok_declined``            declined (``card_declined``)
``tok_insufficient_funds``  declined (``insufficient_funds``)
``tok_3ds``                 requires customer action (3-D Secure); completes when
                            :meth:`FakeGateway.complete_action` is called
``tok_transient``           transient error every time, nothing charged
``tok_timeout``             charges, then times out (:class:`GatewayUnavailable`)
any other ``tok_...``       declined (``invalid_payment_method``): a mistyped test card
                            is never charged
==========================  ===========================================================

Faults can also be switched on for every call: :attr:`FakeGateway.unavailable`
(nothing reaches the gateway: every call, lookups included, raises
:class:`GatewayUnavailable`) and :attr:`FakeGateway.lose_responses` (charges and
refunds are made, and their answers lost: :class:`GatewayUnavailable`).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
from moneyed import Money

from ..accounts import VatCheck, VatCheckStatus
from ..errors import GatewayUnavailable, IdempotencyKeyReused, InvalidInput
from ..messages import Message
from ..money import EXACT, exact_sum, money_currency
from ..payments import ChargeRequest, PaymentResult, PaymentStatus, RefundRequest
from ..periods import ensure_aware
from ..vat import VatNumber
from .journal import FileJournal

__all__ = ["TEST_TOKENS", "FakeGateway", "FakeVatVerifier", "InMemoryNotifier", "ManualClock"]

# Members read on the renewal's path, bound once (see Choice).
_CHARGED, _TRANSIENT = PaymentStatus.SUCCEEDED, PaymentStatus.TRANSIENT_ERROR


# The fake gateway keeps its records packed in plain tuples of strings, decimals and
# flags (a storage format, like a database row), which the garbage collector stops
# walking once it has seen them: a long run (a benchmark, a notebook's book) keeps
# hundreds of thousands of them.


def _pack_request(request: ChargeRequest) -> tuple[Any, ...]:
    amount = request.amount
    return (
        request.idempotency_key,
        amount.amount,
        amount.currency.code,
        request.payment_method,
        request.description,
        request.off_session,
        request.account_id,
    )


def _unpack_request(packed: tuple[Any, ...]) -> ChargeRequest:
    key, amount, currency, method, description, off_session, account_id = packed
    return ChargeRequest(
        idempotency_key=key,
        amount=Money(amount, money_currency(currency)),
        payment_method=method,
        description=description,
        off_session=off_session,
        account_id=account_id,
    )


def _pack_refund(request: RefundRequest) -> tuple[Any, ...]:
    amount = request.amount
    return (
        request.idempotency_key,
        request.charge_id,
        amount.amount,
        amount.currency.code,
        request.reason,
    )


def _unpack_refund(packed: tuple[Any, ...]) -> RefundRequest:
    key, charge_id, amount, currency, reason = packed
    return RefundRequest(
        idempotency_key=key,
        charge_id=charge_id,
        amount=Money(amount, money_currency(currency)),
        reason=reason,
    )


def _pack_result(result: PaymentResult) -> tuple[Any, ...]:
    amount = result.amount
    return (
        result.status._value_,
        result.charge_id,
        None if amount is None else amount.amount,
        None if amount is None else amount.currency.code,
        result.decline_code,
        result.message,
        result.next_action,
    )


def _unpack_result(packed: tuple[Any, ...]) -> PaymentResult:
    status, charge_id, amount, currency, code, message, action = packed
    return PaymentResult(
        status=PaymentStatus(status),
        charge_id=charge_id,
        amount=None if amount is None else Money(amount, money_currency(currency)),
        decline_code=code,
        message=message,
        next_action=action,
    )


def _status(packed: tuple[Any, ...]) -> str:
    """The status of a packed result."""
    status: str = packed[0]
    return status


def _charge_id(packed: tuple[Any, ...]) -> str | None:
    """The charge id of a packed result."""
    charge_id: str | None = packed[1]
    return charge_id


def _amount(packed: tuple[Any, ...]) -> tuple[Decimal, str]:
    """The amount and currency of a packed charge request."""
    return packed[1], packed[2]


def _listed(packed: tuple[Any, ...], at: int) -> list[Any]:
    """A packed record as JSON data: its decimal (at index ``at``, or None) as text."""
    fields = list(packed)
    if fields[at] is not None:
        fields[at] = str(fields[at])
    return fields


def _tupled(fields: list[Any], at: int) -> tuple[Any, ...]:
    """The packed record :func:`_listed` wrote."""
    packed = list(fields)
    if packed[at] is not None:
        packed[at] = Decimal(packed[at])
    return tuple(packed)


_SUCCEEDED = PaymentStatus.SUCCEEDED.value
_NONE = Decimal(0)


#: The test cards :class:`FakeGateway` knows (see the module's table).
TEST_TOKENS = (
    "tok_visa",
    "tok_mastercard",
    "tok_declined",
    "tok_insufficient_funds",
    "tok_3ds",
    "tok_transient",
    "tok_timeout",
)

_DECLINES: Mapping[str, tuple[str, str]] = {
    "tok_declined": ("card_declined", "the card was declined"),
    "tok_insufficient_funds": ("insufficient_funds", "the card has insufficient funds"),
}

Handler = Callable[[ChargeRequest], PaymentResult]


def _money_json(value: Money | None) -> dict[str, str] | None:
    if value is None:
        return None
    return {"amount": str(value.amount), "currency": str(value.currency.code)}


def _result_json(result: PaymentResult) -> dict[str, Any]:
    return {
        "status": result.status.value,
        "charge_id": result.charge_id,
        "amount": _money_json(result.amount),
        "decline_code": result.decline_code,
        "message": result.message,
        "next_action": result.next_action,
    }


def _request_json(request: ChargeRequest) -> dict[str, Any]:
    return {
        "idempotency_key": request.idempotency_key,
        "amount": _money_json(request.amount),
        "payment_method": request.payment_method,
        "description": request.description,
        "off_session": request.off_session,
        "account_id": request.account_id,
    }


def _packed_request(data: Mapping[str, Any]) -> tuple[Any, ...]:
    """:func:`_pack_request` of the request :func:`_request_json` wrote."""
    amount = data["amount"]
    return (
        data["idempotency_key"],
        Decimal(amount["amount"]),
        amount["currency"],
        data["payment_method"],
        data["description"],
        data["off_session"],
        data.get("account_id"),
    )


def _packed_result(data: Mapping[str, Any]) -> tuple[Any, ...]:
    """:func:`_pack_result` of the result :func:`_result_json` wrote."""
    amount = data["amount"]
    return (
        data["status"],
        data["charge_id"],
        None if amount is None else Decimal(amount["amount"]),
        None if amount is None else amount["currency"],
        data["decline_code"],
        data["message"],
        data["next_action"],
    )


class FakeGateway:
    """A scripted payment gateway (see the module documentation for its test tokens).

    ``handler``, when given, decides every charge instead of the tokens. It records
    every request in :attr:`requests` and honours idempotency keys: the same key
    returns the recorded result and never charges again; the same key with another
    amount or payment method is refused with :class:`IdempotencyKeyReused`.

    ``journal``, a file path, makes its records survive the process: every charge,
    refund and completed action is appended to the file (under a file lock), and
    every call first reads what other processes appended since its last call (the
    first call reads the whole file; a gateway that is never called never reads it).
    Crash and race tests use it as the gateway's own durable memory, as a real
    provider has one.

    :meth:`lookup` tells what it knows of a key, as a real provider's API does: a
    charge's result now (``refunded`` once refunded in full, with
    ``amount_refunded``), a refund's result, or ``None`` for a key it never got.
    """

    #: When true, no call reaches the gateway: each raises GatewayUnavailable and
    #: nothing is charged, refunded or looked up.
    unavailable: bool = False
    #: When true, charges and refunds are made but their answers are lost: each call
    #: raises GatewayUnavailable after the gateway has acted.
    lose_responses: bool = False

    def __init__(
        self, handler: Handler | None = None, *, journal: str | os.PathLike[str] | None = None
    ) -> None:
        self._handler = handler
        self._lock = threading.Lock()
        #: Charges by key: the packed request, the packed result, how much was refunded.
        self._requests: dict[str, tuple[Any, ...]] = {}
        self._results: dict[str, tuple[Any, ...]] = {}
        self._refunded: dict[str, Decimal] = {}
        self._refunds: dict[str, tuple[Any, ...]] = {}
        self._count = 0
        self._journal = None if journal is None else FileJournal(journal)
        #: Every request received, packed: ("charge" | "refund", fields).
        self._log: list[tuple[str, tuple[Any, ...]]] = []

    @property
    def requests(self) -> list[ChargeRequest | RefundRequest]:
        """Every request this gateway received, in order."""
        return [
            _unpack_request(fields) if kind == "charge" else _unpack_refund(fields)
            for kind, fields in self._log
        ]

    def _locked(self) -> contextlib.AbstractContextManager[Any]:
        """The thread lock; with a journal, also its file lock and the journal read up
        to date."""
        return self._lock if self._journal is None else self._journaled()

    @contextlib.contextmanager
    def _journaled(self) -> Iterator[None]:
        assert self._journal is not None
        with self._lock, self._journal.session(self._replay, self):
            yield

    def _append(self, record: dict[str, Any]) -> None:
        if self._journal is not None:
            self._journal.append(record)

    def _replay(self, record: Mapping[str, Any]) -> None:
        # The records were written by a gateway from checked values: packed straight
        # from their JSON, with no request or result built (a journal of 20,000
        # charges is read at the first call of every process that opens it).
        op = record["op"]
        if op == "charge":
            key = record["key"]
            self._requests[key] = _packed_request(record["request"])
            self._results[key] = _packed_result(record["result"])
            self._count += 1
        elif op == "update":
            self._results[record["key"]] = _packed_result(record["result"])
        elif op == "refund":
            key = record["charge_key"]
            self._refunded[key] = EXACT.add(
                self._refunded.get(key, _NONE), Decimal(record["amount"])
            )
            self._refunds[record["key"]] = _packed_result(record["result"])

    def dump(self) -> dict[str, Any]:
        """What the journal's records add up to (its checkpoint), as JSON data."""
        return {
            "requests": {k: _listed(v, 1) for k, v in self._requests.items()},
            "results": {k: _listed(v, 2) for k, v in self._results.items()},
            "refunded": {k: str(v) for k, v in self._refunded.items()},
            "refunds": {k: _listed(v, 2) for k, v in self._refunds.items()},
            "count": self._count,
        }

    def load(self, state: Mapping[str, Any]) -> None:
        """Take a :meth:`dump` as the journal's records up to its checkpoint (all of it,
        or nothing if it is not one)."""
        requests = {k: _tupled(v, 1) for k, v in state["requests"].items()}
        results = {k: _tupled(v, 2) for k, v in state["results"].items()}
        refunded = {k: Decimal(v) for k, v in state["refunded"].items()}
        refunds = {k: _tupled(v, 2) for k, v in state["refunds"].items()}
        count = state["count"]
        if not isinstance(count, int) or set(results) != set(requests):
            raise ValueError("not a checkpoint of this gateway")
        self._requests, self._results = requests, results
        self._refunded, self._refunds, self._count = refunded, refunds, count

    def _store(
        self, request: ChargeRequest, result: PaymentResult, packed: tuple[Any, ...]
    ) -> None:
        key = request.idempotency_key
        self._requests[key] = packed
        self._results[key] = _pack_result(result)
        if self._journal is not None:
            self._append(
                {
                    "op": "charge",
                    "key": key,
                    "request": _request_json(request),
                    "result": _result_json(result),
                }
            )

    def key_of(self, charge_id: str) -> str | None:
        """The key the charge ``charge_id`` was made under, or ``None``."""
        self._reachable()
        with self._locked():
            return self._key_of(charge_id)

    def _key_of(self, charge_id: str) -> str | None:
        for key, result in self._results.items():
            if _charge_id(result) == charge_id:
                return key
        return None

    def _new_charge_id(self) -> str:
        self._count += 1
        suffix = "" if self._journal is None else f"_{os.getpid()}"
        return f"ch_{self._count}{suffix}"

    def _reachable(self) -> None:
        if self.unavailable:
            raise GatewayUnavailable(
                "the payment gateway cannot be reached; nothing was sent: try again later"
            )

    def _answer(self, result: PaymentResult) -> PaymentResult:
        if self.lose_responses:
            raise GatewayUnavailable(
                "the payment gateway did not answer; the request may have gone through: "
                "look it up by its key"
            )
        return result

    def charge(self, request: ChargeRequest) -> PaymentResult:
        self._reachable()
        return self._answer(self._charge(request))

    def _charge(self, request: ChargeRequest) -> PaymentResult:
        with self._locked():
            packed = _pack_request(request)
            self._log.append(("charge", packed))
            known = self._requests.get(request.idempotency_key)
            if known is not None:
                before = _unpack_request(known)
                # Same amount and payment method: the same charge.
                if (before.amount, before.payment_method) != (
                    request.amount,
                    request.payment_method,
                ):
                    raise IdempotencyKeyReused(
                        request.idempotency_key,
                        f"a charge of {before.amount.amount} {before.amount.currency.code}",
                    )
                return _unpack_result(self._results[request.idempotency_key])
            if request.payment_method == "tok_timeout":
                self._store(request, self._succeed(request), packed)
                raise GatewayUnavailable(
                    "the payment gateway timed out; the charge may have gone through: "
                    "reconcile the order to find out"
                )
            result = self._decide(request)
            if result.status is not _TRANSIENT:
                self._store(request, result, packed)
            return result

    def _succeed(self, request: ChargeRequest) -> PaymentResult:
        return PaymentResult(
            status=_CHARGED,
            charge_id=self._new_charge_id(),
            amount=request.amount,
        )

    def _decide(self, request: ChargeRequest) -> PaymentResult:
        if self._handler is not None:
            return self._handler(request)
        token = request.payment_method
        if token in _DECLINES:
            code, message = _DECLINES[token]
            return PaymentResult(
                status=PaymentStatus.DECLINED,
                charge_id=self._new_charge_id(),
                decline_code=code,
                message=message,
            )
        if token == "tok_3ds":
            if request.off_session:
                return PaymentResult(
                    status=PaymentStatus.DECLINED,
                    charge_id=self._new_charge_id(),
                    decline_code="authentication_required",
                    message="the bank requires the customer to authenticate the payment",
                )
            charge_id = self._new_charge_id()
            return PaymentResult(
                status=PaymentStatus.REQUIRES_ACTION,
                charge_id=charge_id,
                amount=request.amount,
                next_action=f"https://3ds.example.test/authenticate/{charge_id}",
            )
        if token == "tok_transient":
            return PaymentResult(
                status=PaymentStatus.TRANSIENT_ERROR,
                message="the gateway is briefly unavailable; nothing was charged",
            )
        if token.startswith("tok_") and token not in TEST_TOKENS:
            return PaymentResult(
                status=PaymentStatus.DECLINED,
                charge_id=self._new_charge_id(),
                decline_code="invalid_payment_method",
                message=f"no test card {token!r}; the fake gateway's are {', '.join(TEST_TOKENS)}",
            )
        return self._succeed(request)

    def complete_action(self, charge_id: str, *, succeed: bool = True) -> None:
        """Play the customer finishing (or failing) 3-D Secure for ``charge_id``."""
        with self._locked():
            key = self._key_of(charge_id)
            if key is None:
                raise InvalidInput(f"no charge {charge_id!r}")
            current = _unpack_result(self._results[key])
            if current.status is not PaymentStatus.REQUIRES_ACTION:
                raise InvalidInput(f"charge {charge_id!r} is not waiting for an action")
            if succeed:
                result = attrs.evolve(current, status=PaymentStatus.SUCCEEDED, next_action=None)
            else:
                result = attrs.evolve(
                    current,
                    status=PaymentStatus.DECLINED,
                    decline_code="authentication_failed",
                    message="the customer did not complete 3-D Secure",
                    next_action=None,
                )
            self._results[key] = _pack_result(result)
            self._append({"op": "update", "key": key, "result": _result_json(result)})

    def refund(self, request: RefundRequest) -> PaymentResult:
        self._reachable()
        return self._answer(self._refund(request))

    def _refund(self, request: RefundRequest) -> PaymentResult:
        with self._locked():
            self._log.append(("refund", _pack_refund(request)))
            known = self._refunds.get(request.idempotency_key)
            if known is not None:
                return _unpack_result(known)
            key = self._key_of(request.charge_id)
            if key is None:
                raise InvalidInput(f"no charge {request.charge_id!r} to refund")
            if _status(self._results[key]) != _SUCCEEDED:
                raise InvalidInput(f"charge {request.charge_id!r} did not succeed")
            captured, _ = _amount(self._requests[key])
            refunded = self._refunded.get(key, _NONE)
            left = EXACT.subtract(captured, refunded)
            if request.amount.amount > left:
                raise InvalidInput(
                    f"cannot refund {request.amount.amount}: only {left} is left on "
                    f"charge {request.charge_id!r}"
                )
            self._refunded[key] = EXACT.add(refunded, request.amount.amount)
            result = PaymentResult(
                status=PaymentStatus.REFUNDED,
                charge_id=request.charge_id,
                amount=request.amount,
            )
            self._refunds[request.idempotency_key] = _pack_result(result)
            self._append(
                {
                    "op": "refund",
                    "key": request.idempotency_key,
                    "charge_key": key,
                    "amount": str(request.amount.amount),
                    "result": _result_json(result),
                }
            )
            return result

    def lookup(
        self, idempotency_key: str, *, request: ChargeRequest | RefundRequest | None = None
    ) -> PaymentResult | None:
        # Its memory is keyed: the request is not needed to find a key.
        self._reachable()
        with self._locked():
            packed = self._results.get(idempotency_key)
            if packed is None:
                refund = self._refunds.get(idempotency_key)
                return None if refund is None else _unpack_result(refund)
            result = _unpack_result(packed)
            refunded = self._refunded.get(idempotency_key, _NONE)
            if refunded > 0 and result.status is PaymentStatus.SUCCEEDED:
                captured, currency = _amount(self._requests[idempotency_key])
                result = attrs.evolve(
                    result,
                    status=PaymentStatus.REFUNDED if refunded >= captured else result.status,
                    amount_refunded=Money(refunded, money_currency(currency)),
                )
            return result

    def net_charged(self, currency: str) -> Decimal:
        """What customers paid in ``currency``: succeeded charges less refunds."""
        with self._locked():
            net = []
            for key, result in self._results.items():
                amount, code = _amount(self._requests[key])
                if _status(result) == _SUCCEEDED and code == currency:
                    net.append(EXACT.subtract(amount, self._refunded.get(key, _NONE)))
            return exact_sum(net)

    def succeeded_charges(self) -> dict[str, ChargeRequest]:
        """Every succeeded charge by idempotency key (across processes with a journal)."""
        with self._locked():
            return {
                key: _unpack_request(self._requests[key])
                for key, result in self._results.items()
                if _status(result) == _SUCCEEDED
            }

    @property
    def charge_requests(self) -> list[ChargeRequest]:
        return [_unpack_request(fields) for kind, fields in self._log if kind == "charge"]


# -- VAT, messages, time -------------------------------------------------------------


class FakeVatVerifier:
    """A VIES-like registry: the numbers it knows are valid, others are not.

    ``unavailable=True`` plays a registry that cannot be reached (its checks carry
    the error code ``SERVICE_UNAVAILABLE``); the attributes may be changed between
    calls, to play a number that stops being valid or a registry that comes back.
    """

    def __init__(
        self, valid: Iterable[str] = (), *, unavailable: bool = False, name: str | None = None
    ) -> None:
        self.valid = set(valid)
        self.unavailable = unavailable
        self.name = name
        self.checked: list[str] = []
        self._ids = itertools.count(1)

    def verify(self, number: VatNumber, *, at: datetime) -> VatCheck:
        self.checked.append(str(number))
        if self.unavailable:
            return VatCheck(
                number=str(number),
                status=VatCheckStatus.UNAVAILABLE,
                checked_at=at,
                error="SERVICE_UNAVAILABLE",
            )
        if str(number) in self.valid:
            return VatCheck(
                number=str(number),
                status=VatCheckStatus.VALID,
                checked_at=at,
                consultation_number=f"WAPI{next(self._ids):012d}",
                registered_name=self.name,
            )
        return VatCheck(number=str(number), status=VatCheckStatus.INVALID, checked_at=at)


class InMemoryNotifier:
    """Keeps every message it is asked to send, in order."""

    def __init__(self) -> None:
        self.sent: list[Message] = []

    def send(self, message: Message) -> None:
        self.sent.append(message)


class ManualClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime) -> None:
        self._now = ensure_aware(start, what="clock start")

    def now(self) -> datetime:
        return self._now

    def set(self, instant: datetime) -> None:
        instant = ensure_aware(instant, what="clock time")
        if instant < self._now:
            raise InvalidInput("a clock never goes back; set a later instant")
        self._now = instant

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        step = delta if delta is not None else timedelta(**kwargs)
        if step < timedelta(0):
            raise InvalidInput("a clock never goes back; advance by a positive duration")
        self._now = self._now + step
        return self._now
