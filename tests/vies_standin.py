"""A local stand-in for the VIES REST service, for the tests of ``ViesVerifier``.

Run as ``python -m tests.vies_standin``: it binds 127.0.0.1 on a free port, prints the
port on its first line of output and serves until terminated. It answers
``POST .../check-vat-number`` as VIES does:

* ``/rest-api/check-vat-number``: from :data:`REGISTRY` (a number it does not know is
  ``valid: false`` with ``---`` name and address); a consultation number
  (``requestIdentifier``) only when a requester is sent, and ``INVALID_REQUESTER_INFO``
  (HTTP 400) when the requester is not a registered number; ``INVALID_INPUT`` (HTTP 400)
  for a body without the fields, or a country code VIES does not know (``GR``);
* ``/error/<CODE>/<status>/check-vat-number``: ``{"actionSucceed": false,
  "errorWrappers": [{"error": CODE, ...}]}`` with that HTTP status;
* ``/slow/<seconds>/check-vat-number``: a valid answer, that late;
* ``/status/<status>/check-vat-number``: that status with an HTML error page;
* ``/garbage/check-vat-number``: HTTP 200 with a body that is not JSON;
* ``/shape/<name>/check-vat-number``: HTTP 200 JSON of an unexpected shape
  (``list``, ``no-valid``, ``no-wrappers``).
"""

from __future__ import annotations

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: Numbers VIES knows, by country code and national number: (name, address).
REGISTRY: dict[tuple[str, str], tuple[str, str]] = {
    ("DE", "136695976"): ("---", "---"),
    ("AT", "U57194903"): ("HUBER GMBH", "RING 1\n1010 WIEN"),
    ("EL", "094012834"): ("ALPHA AE", "ODOS ERMOU 1\n10563 ATHINA"),
    ("IT", "00743110157"): ("VENDOR S.R.L.", "VIA ROMA 1\n20121 MILANO MI"),
    ("FR", "40303265045"): ("", ""),
}

#: The country codes VIES accepts (EL for Greece, XI for Northern Ireland).
COUNTRY_CODES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "EL",
        "ES",
        "FI",
        "FR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
        "XI",
    ]
)

MESSAGES = {
    "INVALID_INPUT": "The provided CountryCode is invalid or the VAT number is empty",
    "INVALID_REQUESTER_INFO": "The requester info is invalid",
    "MS_UNAVAILABLE": "The Member State service is unavailable, try again later",
}


def error_body(code: str) -> dict[str, Any]:
    return {
        "actionSucceed": False,
        "errorWrappers": [{"error": code, "message": MESSAGES.get(code, code)}],
    }


class Handler(BaseHTTPRequestHandler):
    server_version = "vies-standin"
    counter = 0

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read the answers, not a log."""

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout): nothing to answer

    def _json(self, status: int, data: object) -> None:
        self._send(status, json.dumps(data).encode())

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        parts = [p for p in self.path.split("?")[0].split("/") if p]
        if not parts or parts[-1] != "check-vat-number":
            self._send(404, b"<html><body>Not Found</body></html>", "text/html")
            return
        route = parts[:-1]
        if route[:1] == ["error"] and len(route) == 3:
            self._json(int(route[2]), error_body(route[1]))
        elif route[:1] == ["status"] and len(route) == 2:
            self._send(int(route[1]), b"<html><body>Internal Error</body></html>", "text/html")
        elif route == ["garbage"]:
            self._send(200, b"<html>VIES is under maintenance</html>", "text/html")
        elif route[:1] == ["shape"] and len(route) == 2:
            shapes = {
                "list": [1, 2],
                "no-valid": {"countryCode": "DE", "vatNumber": "136695976"},
                "no-wrappers": {"actionSucceed": False},
            }
            self._json(200, shapes[route[1]])
        else:
            if route[:1] == ["slow"] and len(route) == 2:
                time.sleep(float(route[1]))
            self._check(raw)

    def _check(self, raw: bytes) -> None:
        try:
            body = json.loads(raw)
            country, number = body["countryCode"], body["vatNumber"]
        except (ValueError, KeyError, TypeError):
            self._json(400, error_body("INVALID_INPUT"))
            return
        if country not in COUNTRY_CODES or not number:
            self._json(400, error_body("INVALID_INPUT"))
            return
        requester = (body.get("requesterMemberStateCode"), body.get("requesterNumber"))
        identifier = ""
        if any(requester):
            if requester not in REGISTRY:
                self._json(400, error_body("INVALID_REQUESTER_INFO"))
                return
            Handler.counter += 1
            identifier = f"WAPIAAAAW{Handler.counter:07d}"
        known = REGISTRY.get((country, number))
        name, address = known if known is not None else ("---", "---")
        self._json(
            200,
            {
                "countryCode": country,
                "vatNumber": number,
                "requestDate": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                "valid": known is not None,
                "requestIdentifier": identifier,
                "name": name,
                "address": address,
                "traderName": "---",
                "traderStreet": "---",
                "traderPostalCode": "---",
                "traderCity": "---",
                "traderCompanyType": "---",
                "traderNameMatch": "NOT_PROCESSED",
                "traderStreetMatch": "NOT_PROCESSED",
                "traderPostalCodeMatch": "NOT_PROCESSED",
                "traderCityMatch": "NOT_PROCESSED",
                "traderCompanyTypeMatch": "NOT_PROCESSED",
            },
        )


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    sys.exit(main())
