"""Customer accounts at their edges: addresses, contacts, locales, zones, currencies,
credit balances, VAT evidence, and who may act for the account."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest

from subscriptions.accounts import (
    Account,
    AccountKind,
    Address,
    VatCheck,
    VatCheckStatus,
    require_billing_contact,
    require_self_service,
)
from subscriptions.errors import (
    ActionRefused,
    CorporateSelfServiceRefused,
    FloatRefused,
    InvalidInput,
    NaiveDatetime,
    NotPermitted,
    UnknownCurrency,
    UnknownTerritory,
)

ITALY = Address(line1="Via Po 2", city="Torino", postal_code="10123", country="IT")


def account(**changes: Any) -> Account:
    values: dict[str, Any] = {
        "id": "acct",
        "name": "Rossi S.r.l.",
        "address": ITALY,
        "timezone": "Europe/Rome",
        "locale": "it_IT",
        "currency": "EUR",
        "billing_contacts": ["anna"],
    }
    values.update(changes)
    return Account(**values)


# -- addresses ---------------------------------------------------------------------------


def test_an_address_prints_its_lines() -> None:
    assert ITALY.lines() == ("Via Po 2", "10123 Torino", "IT")
    with_line2 = attrs.evolve(ITALY, line2="Scala B")
    assert with_line2.lines() == ("Via Po 2", "Scala B", "10123 Torino", "IT")


@pytest.mark.parametrize("field", ["line1", "city", "postal_code"])
@pytest.mark.parametrize("bad", ["", "   ", None, 5])
def test_an_address_needs_its_lines(field: str, bad: object) -> None:
    values: dict[str, Any] = {"line1": "x", "city": "y", "postal_code": "1", "country": "IT"}
    values[field] = bad
    with pytest.raises(InvalidInput, match=field):
        Address(**values)


def test_an_empty_line2_is_refused() -> None:
    with pytest.raises(InvalidInput, match="line2"):
        Address(line1="x", city="y", postal_code="1", country="IT", line2=" ")


def test_countries_are_normalized_and_checked() -> None:
    assert Address(line1="x", city="y", postal_code="1", country=" de ").country == "DE"
    with pytest.raises(InvalidInput, match="ISO 3166-1"):
        Address(line1="x", city="y", postal_code="1", country="ZZ")


def test_a_region_must_belong_to_the_country() -> None:
    canary = Address(line1="x", city="y", postal_code="1", country="ES", region="ES-CN")
    assert (canary.country, canary.region) == ("ES", "ES-CN")
    with pytest.raises(UnknownTerritory, match="correct the country or the region"):
        Address(line1="x", city="y", postal_code="1", country="IT", region="FR-75")


# -- accounts ----------------------------------------------------------------------------


def test_an_account_with_its_defaults() -> None:
    opened = account()
    assert opened.kind is AccountKind.SELF_SERVICE
    assert not opened.corporate
    assert opened.payment_method is None
    assert opened.vat_number is None
    assert opened.vat_check is None
    assert opened.credit_balance == Decimal(0)
    assert opened.version == 0
    assert opened.billing_contacts == frozenset({"anna"})
    assert (opened.country, opened.region) == ("IT", None)


def test_a_corporate_account() -> None:
    assert account(kind=AccountKind.CORPORATE).corporate


def test_an_account_is_frozen() -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        account().name = "Other"  # type: ignore[misc]


@pytest.mark.parametrize("contacts", [[], (), set()])
def test_an_account_needs_a_billing_contact(contacts: object) -> None:
    with pytest.raises(InvalidInput, match="at least one billing contact"):
        account(billing_contacts=contacts)


def test_billing_contacts_are_a_list_of_ids() -> None:
    with pytest.raises(InvalidInput, match="list of user ids"):
        account(billing_contacts="anna")
    with pytest.raises(InvalidInput, match="user id is empty"):
        account(billing_contacts=["anna", ""])
    with pytest.raises(InvalidInput, match=r"user id None .* is not a string"):
        account(billing_contacts=["anna", None])
    with pytest.raises(InvalidInput, match="whitespace or a control character"):
        account(billing_contacts=["anna", "anna\x00"])
    assert account(billing_contacts=["anna", "anna", "bob"]).billing_contacts == {"anna", "bob"}


@pytest.mark.parametrize("name", ["", "  ", None])
def test_an_account_needs_a_name(name: object) -> None:
    with pytest.raises(InvalidInput, match="name"):
        account(name=name)


@pytest.mark.parametrize("locale", ["xx_YY", "", "not a locale", None])
def test_unknown_locales(locale: object) -> None:
    with pytest.raises(InvalidInput, match="unknown locale"):
        account(locale=locale)


@pytest.mark.parametrize("locale", ["it", "it_IT", "en", "de_DE", "fr_FR"])
def test_known_locales(locale: str) -> None:
    assert account(locale=locale).locale == locale


@pytest.mark.parametrize("zone", ["Europe/Nowhere", "", 5])
def test_unknown_time_zones(zone: object) -> None:
    with pytest.raises(InvalidInput):
        account(timezone=zone)


@pytest.mark.parametrize("currency", ["XYZ", "euro", ""])
def test_unknown_currencies(currency: str) -> None:
    with pytest.raises(UnknownCurrency):
        account(currency=currency)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", Decimal(0)),
        ("12.50", Decimal("12.50")),
        (3, Decimal(3)),
        (Decimal("0.01"), Decimal("0.01")),
    ],
)
def test_credit_balances(value: object, expected: Decimal) -> None:
    assert account(credit_balance=value).credit_balance == expected


def test_a_credit_balance_is_never_negative() -> None:
    with pytest.raises(InvalidInput, match="negative"):
        account(credit_balance="-0.01")


def test_a_credit_balance_is_never_a_float() -> None:
    with pytest.raises(FloatRefused):
        account(credit_balance=1.5)


@pytest.mark.parametrize("value", [True, None, "abc"])
def test_a_credit_balance_is_an_amount(value: object) -> None:
    with pytest.raises(InvalidInput):
        account(credit_balance=value)


# -- VAT evidence ------------------------------------------------------------------------


def test_vat_check_evidence() -> None:
    at = datetime(2026, 11, 26, 10, 0, tzinfo=ZoneInfo("Europe/Rome"))
    check = VatCheck(
        number="IT02114460963",
        status=VatCheckStatus.VALID,
        checked_at=at,
        consultation_number="WAPI000000000001",
    )
    assert check.checked_at == at
    assert account(vat_check=check).vat_check == check


def test_vat_check_needs_an_aware_instant() -> None:
    with pytest.raises(NaiveDatetime):
        VatCheck(
            number="IT02114460963",
            status=VatCheckStatus.VALID,
            checked_at=datetime(2026, 11, 26, 10, 0),
        )


# -- who may act -------------------------------------------------------------------------


def test_a_billing_contact_may_act() -> None:
    require_billing_contact(account(billing_contacts=["anna", "bob"]), "bob", "place orders")


@pytest.mark.parametrize("user", ["", "anna ", "a" * 65, None])
def test_a_user_id_that_is_no_identifier_is_refused(user: object) -> None:
    with pytest.raises(InvalidInput, match="user id"):
        require_billing_contact(account(), user, "place orders")  # type: ignore[arg-type]


@pytest.mark.parametrize("user", ["mallory", "Anna", "ANNA"])
def test_anyone_else_is_refused_with_advice(user: str) -> None:
    with pytest.raises(NotPermitted) as info:
        require_billing_contact(account(), user, "place orders")
    message = str(info.value)
    assert repr(user) in message
    assert "cannot place orders" in message
    assert "ask a billing contact of the account to do it, or to add you as one" in message
    assert isinstance(info.value, ActionRefused)


def test_self_service_wants_a_billing_contact_of_a_self_service_account() -> None:
    require_self_service(account(), "anna", "cancel subscriptions")
    with pytest.raises(NotPermitted, match="cannot cancel subscriptions"):
        require_self_service(account(), "mallory", "cancel subscriptions")
    corporate = account(kind=AccountKind.CORPORATE)
    with pytest.raises(CorporateSelfServiceRefused) as info:
        require_self_service(corporate, "anna", "cancel subscriptions")
    assert info.value.account == "account 'Rossi S.r.l.'"


def test_vat_check_error_code_only_on_an_unavailable_check() -> None:
    at = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    unavailable = VatCheck(
        number="DE136695976", status=VatCheckStatus.UNAVAILABLE, checked_at=at, error="TIMEOUT"
    )
    assert unavailable.error == "TIMEOUT"
    with pytest.raises(InvalidInput, match="only a check that could not be made"):
        VatCheck(number="DE136695976", status=VatCheckStatus.VALID, checked_at=at, error="TIMEOUT")
    with pytest.raises(InvalidInput, match="non-empty code"):
        VatCheck(number="DE136695976", status=VatCheckStatus.UNAVAILABLE, checked_at=at, error=" ")
