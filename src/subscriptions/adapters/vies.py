"""VAT numbers checked online with the EU's VIES service (extra ``vies``: httpx).

:class:`ViesVerifier` is the :class:`~subscriptions.ports.VatVerifier` of production: it
asks the REST API of VIES (``POST .../vies/rest-api/check-vat-number``, a JSON body with
``countryCode``, ``vatNumber``, and the seller's own number as ``requesterMemberStateCode``
and ``requesterNumber``) and keeps the evidence the answer gives:

* ``valid: true`` is ``VALID``, with the registered name and address when the member
  state gives them (VIES writes ``---`` for "not given": kept as ``None``) and the
  consultation number (``requestIdentifier``), which VIES returns only when a requester
  is sent: configure ``requester`` with the seller's own VAT number to get one;
* ``valid: false`` is ``INVALID``: the only answer that says the number is not
  registered;
* anything else is ``UNAVAILABLE``, with a code in :attr:`VatCheck.error
  <subscriptions.accounts.VatCheck.error>` so that the host's policy
  (:attr:`Settings.vat_unavailable <subscriptions.center.Settings.vat_unavailable>`)
  decides and an operator can tell why: the VIES error of an ``actionSucceed: false``
  answer, whatever its HTTP status (``MS_UNAVAILABLE``, ``TIMEOUT``,
  ``SERVICE_UNAVAILABLE``, ``MS_MAX_CONCURRENT_REQ``, ``GLOBAL_MAX_CONCURRENT_REQ``,
  ``INVALID_REQUESTER_INFO``, ``INVALID_INPUT``...), or one of this adapter's own:

  ==========================  ========================================================
  ``CLIENT_TIMEOUT``          no answer within ``timeout`` seconds
  ``CONNECTION_FAILED``       the service could not be reached (DNS, refused, TLS...)
  ``HTTP_<status>``           an error status without a VIES error in its body
  ``UNREADABLE_ANSWER``       a body that is not the JSON VIES writes
  ``UNKNOWN_ERROR``           ``actionSucceed: false`` without an error code
  ==========================  ========================================================

Greece's numbers go to VIES as ``EL`` (their VAT prefix), Northern Ireland's as ``XI``.
A verifier made without ``client`` makes its own :class:`httpx.Client` and closes it in
:meth:`ViesVerifier.close` (or at the end of a ``with`` block); a client passed in is
the host's to close.

>>> verifier = ViesVerifier(requester="IT00743110157", url="https://vies.example/check")
>>> verifier.requester
VatNumber(country='IT', prefix='IT', number='IT00743110157')
>>> verifier.close()
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

import httpx

from ..accounts import VatCheck, VatCheckStatus
from ..errors import InvalidInput
from ..periods import ensure_aware
from ..vat import VatNumber, parse_vat_number
from .closing import ClosedOnExit

__all__ = ["VIES_URL", "ViesVerifier"]

#: The REST endpoint of VIES that checks one number.
VIES_URL = "https://ec.europa.eu/taxation_customs/vies/rest-api/check-vat-number"

#: What VIES writes for a name or address the member state does not give.
_NOT_GIVEN = "---"


def _requester(value: object) -> VatNumber | None:
    if value is None or isinstance(value, VatNumber):
        return value
    if not isinstance(value, str):
        raise InvalidInput(
            f"requester must be the seller's own VAT number (a str or VatNumber) or None, "
            f"not {type(value).__name__}"
        )
    return parse_vat_number(value)


def _url(value: object) -> str:
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        raise InvalidInput(
            f"url {value!r} must be an http(s) address, such as the default {VIES_URL!r}"
        )
    return value


def _timeout(value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise InvalidInput(f"timeout {value!r} must be a positive number of seconds, such as 10")
    return float(value)


def _given(value: object) -> str | None:
    """A name or address as VIES sends it: ``---``, blank or missing is ``None``."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    return None if not text or text == _NOT_GIVEN else text


def _error_code(body: object) -> str | None:
    """The first VIES error code of an ``actionSucceed: false`` answer, if any."""
    if not isinstance(body, dict) or body.get("actionSucceed") is not False:
        return None
    wrappers = body.get("errorWrappers")
    if isinstance(wrappers, list):
        for wrapper in wrappers:
            if isinstance(wrapper, dict) and isinstance(wrapper.get("error"), str):
                code: str = wrapper["error"].strip()
                if code:
                    return code
    return "UNKNOWN_ERROR"


class ViesVerifier(ClosedOnExit):
    """A :class:`~subscriptions.ports.VatVerifier` over the VIES REST API.

    ``requester`` is the seller's own VAT number (sent so that VIES returns a
    consultation number); ``url`` the service's endpoint (a test stand-in, a proxy);
    ``client`` an :class:`httpx.Client` of the host's (proxies, retries, certificates),
    else one is made with ``timeout`` seconds per request.
    """

    def __init__(
        self,
        *,
        requester: str | VatNumber | None = None,
        url: str = VIES_URL,
        client: httpx.Client | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.requester = _requester(requester)
        self.url = _url(url)
        self.timeout = _timeout(timeout)
        if client is not None and not isinstance(client, httpx.Client):
            raise InvalidInput(
                f"client must be an httpx.Client or None, not {type(client).__name__}"
            )
        self._owns_client = client is None
        self._client = httpx.Client(timeout=self.timeout) if client is None else client

    def close(self) -> None:
        """Close the HTTP client this verifier made (a client passed in stays open)."""
        if self._owns_client:
            self._client.close()

    def request_body(self, number: VatNumber) -> dict[str, str]:
        """The JSON body sent for ``number``."""
        body = {"countryCode": number.prefix, "vatNumber": number.national_number}
        if self.requester is not None:
            body["requesterMemberStateCode"] = self.requester.prefix
            body["requesterNumber"] = self.requester.national_number
        return body

    def verify(self, number: VatNumber, *, at: datetime) -> VatCheck:
        """Check ``number`` with VIES; ``at`` (aware) is recorded as when it was checked.
        Never raises for the service's or the network's failures: they are an
        ``UNAVAILABLE`` check with its error code."""
        if not isinstance(number, VatNumber):
            raise InvalidInput(
                f"verify takes a VatNumber, not {type(number).__name__}; read one with "
                "subscriptions.vat.parse_vat_number"
            )
        at = ensure_aware(at, what="the instant of the VAT check")
        try:
            response = self._client.post(
                self.url,
                json=self.request_body(number),
                headers={"Accept": "application/json"},
                timeout=self.timeout,
            )
        except httpx.TimeoutException:
            return self._unavailable(number, at, "CLIENT_TIMEOUT")
        except httpx.TransportError:
            return self._unavailable(number, at, "CONNECTION_FAILED")
        return self._read(number, at, response)

    def _read(self, number: VatNumber, at: datetime, response: httpx.Response) -> VatCheck:
        try:
            body: Any = json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            body = None
        code = _error_code(body)
        if code is not None:
            return self._unavailable(number, at, code)
        if response.is_error:
            return self._unavailable(number, at, f"HTTP_{response.status_code}")
        if not isinstance(body, dict) or not isinstance(body.get("valid"), bool):
            return self._unavailable(number, at, "UNREADABLE_ANSWER")
        user_error = body.get("userError")
        if isinstance(user_error, str) and user_error not in ("", "VALID", "INVALID"):
            # The per-country endpoint's way of saying the member state did not answer.
            return self._unavailable(number, at, user_error)
        if not body["valid"]:
            return VatCheck(number=str(number), status=VatCheckStatus.INVALID, checked_at=at)
        return VatCheck(
            number=str(number),
            status=VatCheckStatus.VALID,
            checked_at=at,
            consultation_number=_given(body.get("requestIdentifier")),
            registered_name=_given(body.get("name")),
            registered_address=_given(body.get("address")),
        )

    def _unavailable(self, number: VatNumber, at: datetime, code: str) -> VatCheck:
        return VatCheck(
            number=str(number), status=VatCheckStatus.UNAVAILABLE, checked_at=at, error=code
        )
