"""ViesVerifier against a local stand-in of the VIES REST service (never the internet)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from conftest import ViesStandin

from subscriptions.accounts import VatCheck, VatCheckStatus
from subscriptions.adapters.vies import VIES_URL, ViesVerifier
from subscriptions.errors import InvalidInput, InvalidVatNumber, NaiveDatetime
from subscriptions.vat import parse_vat_number

AT = datetime(2026, 11, 2, 9, 30, tzinfo=ZoneInfo("Europe/Rome"))
SELLER = "IT00743110157"
DE = parse_vat_number("DE136695976")
AT_NUMBER = parse_vat_number("ATU57194903")


def check(
    standin: ViesStandin, number: str, route: str = "rest-api", **options: object
) -> VatCheck:
    with ViesVerifier(url=standin.url(route), **options) as verifier:  # type: ignore[arg-type]
        return verifier.verify(parse_vat_number(number), at=AT)


def test_valid_with_name_and_address_and_consultation_number(vies_standin: ViesStandin) -> None:
    got = check(vies_standin, "ATU57194903", requester=SELLER)
    assert got.status is VatCheckStatus.VALID
    assert got.number == "ATU57194903"
    assert got.checked_at == AT
    assert got.registered_name == "HUBER GMBH"
    assert got.registered_address == "RING 1\n1010 WIEN"
    assert got.consultation_number is not None
    assert got.consultation_number.startswith("WAPI")
    assert got.error is None


def test_valid_without_requester_has_no_consultation_number(vies_standin: ViesStandin) -> None:
    got = check(vies_standin, "ATU57194903")
    assert got.status is VatCheckStatus.VALID
    assert got.consultation_number is None


def test_dashes_and_blanks_mean_not_given(vies_standin: ViesStandin) -> None:
    dashes = check(vies_standin, "DE136695976", requester=SELLER)
    assert dashes.status is VatCheckStatus.VALID
    assert (dashes.registered_name, dashes.registered_address) == (None, None)
    blank = check(vies_standin, "FR40303265045")
    assert (blank.registered_name, blank.registered_address) == (None, None)


def test_greek_number_goes_to_vies_as_el(vies_standin: ViesStandin) -> None:
    number = parse_vat_number("GR094012834")
    assert ViesVerifier(url=vies_standin.url()).request_body(number) == {
        "countryCode": "EL",
        "vatNumber": "094012834",
    }
    got = check(vies_standin, "GR094012834")
    assert got.status is VatCheckStatus.VALID
    assert got.number == "EL094012834"
    assert got.registered_name == "ALPHA AE"


def test_request_body_carries_the_requester_split_by_prefix() -> None:
    with ViesVerifier(requester="EL094012834") as verifier:
        assert verifier.request_body(DE) == {
            "countryCode": "DE",
            "vatNumber": "136695976",
            "requesterMemberStateCode": "EL",
            "requesterNumber": "094012834",
        }


def test_not_registered_is_invalid(vies_standin: ViesStandin) -> None:
    got = check(vies_standin, "IT02114460963", requester=SELLER)
    assert got.status is VatCheckStatus.INVALID
    assert (got.consultation_number, got.registered_name, got.error) == (None, None, None)


def test_unregistered_requester_is_unavailable_with_its_code(vies_standin: ViesStandin) -> None:
    got = check(vies_standin, "ATU57194903", requester="IT02114460963")
    assert got.status is VatCheckStatus.UNAVAILABLE
    assert got.error == "INVALID_REQUESTER_INFO"


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("INVALID_INPUT", 400),
        ("INVALID_REQUESTER_INFO", 400),
        ("SERVICE_UNAVAILABLE", 500),
        ("MS_UNAVAILABLE", 200),
        ("MS_UNAVAILABLE", 500),
        ("TIMEOUT", 200),
        ("MS_MAX_CONCURRENT_REQ", 200),
        ("MS_MAX_CONCURRENT_REQ", 429),
        ("GLOBAL_MAX_CONCURRENT_REQ", 500),
        ("VAT_BLOCKED", 400),
        ("IP_BLOCKED", 403),
    ],
)
def test_every_vies_error_is_unavailable_with_its_code(
    vies_standin: ViesStandin, code: str, status: int
) -> None:
    got = check(vies_standin, "DE136695976", f"error/{code}/{status}", requester=SELLER)
    assert got.status is VatCheckStatus.UNAVAILABLE
    assert got.error == code
    assert got.checked_at == AT


@pytest.mark.parametrize(
    ("route", "code"),
    [
        ("status/500", "HTTP_500"),
        ("status/503", "HTTP_503"),
        ("status/404", "HTTP_404"),
        ("garbage", "UNREADABLE_ANSWER"),
        ("shape/list", "UNREADABLE_ANSWER"),
        ("shape/no-valid", "UNREADABLE_ANSWER"),
        ("shape/no-wrappers", "UNKNOWN_ERROR"),
    ],
)
def test_broken_answers_are_unavailable(vies_standin: ViesStandin, route: str, code: str) -> None:
    got = check(vies_standin, "DE136695976", route)
    assert (got.status, got.error) == (VatCheckStatus.UNAVAILABLE, code)


def test_a_slow_answer_is_a_client_timeout(vies_standin: ViesStandin) -> None:
    got = check(vies_standin, "DE136695976", "slow/3", timeout=0.3)
    assert (got.status, got.error) == (VatCheckStatus.UNAVAILABLE, "CLIENT_TIMEOUT")


def test_an_answer_within_the_timeout_is_read(vies_standin: ViesStandin) -> None:
    got = check(vies_standin, "DE136695976", "slow/0.1", timeout=5)
    assert got.status is VatCheckStatus.VALID


def test_nobody_listening_is_a_connection_failure() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with ViesVerifier(url=f"http://127.0.0.1:{port}/check-vat-number", timeout=2) as verifier:
        got = verifier.verify(DE, at=AT)
    assert (got.status, got.error) == (VatCheckStatus.UNAVAILABLE, "CONNECTION_FAILED")


def test_a_host_client_is_used_and_left_open(vies_standin: ViesStandin) -> None:
    with httpx.Client() as client:
        verifier = ViesVerifier(url=vies_standin.url(), client=client)
        verifier.close()
        assert not client.is_closed
        assert verifier.verify(AT_NUMBER, at=AT).status is VatCheckStatus.VALID


def test_its_own_client_is_closed() -> None:
    verifier = ViesVerifier()
    assert verifier.url == VIES_URL
    verifier.close()
    assert verifier._client.is_closed


def test_bad_configuration_is_refused_with_what_to_do() -> None:
    with pytest.raises(InvalidVatNumber):
        ViesVerifier(requester="IT00743110158")
    with pytest.raises(InvalidInput, match="seller's own VAT number"):
        ViesVerifier(requester=123)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="http"):
        ViesVerifier(url="ftp://vies.example")
    for timeout in (0, -1, float("nan"), True, "10"):
        with pytest.raises(InvalidInput, match="positive number of seconds"):
            ViesVerifier(timeout=timeout)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match=r"httpx\.Client"):
        ViesVerifier(client=object())  # type: ignore[arg-type]


def test_bad_arguments_to_verify_are_refused() -> None:
    with ViesVerifier(url="http://127.0.0.1:9/check-vat-number") as verifier:
        with pytest.raises(InvalidInput, match="parse_vat_number"):
            verifier.verify("DE136695976", at=AT)  # type: ignore[arg-type]
        with pytest.raises(NaiveDatetime):
            verifier.verify(DE, at=datetime(2026, 11, 2, 9, 30))
        assert verifier.verify(DE, at=datetime(2026, 11, 2, tzinfo=UTC)).error == (
            "CONNECTION_FAILED"
        )
