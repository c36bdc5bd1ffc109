"""EU VAT: the dated rate table, VAT numbers, territories and the place-of-supply rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from subscriptions.errors import (
    FloatRefused,
    InvalidInput,
    InvalidVatNumber,
    NoRateForDate,
    SellerOutsideEU,
    UnknownTerritory,
)
from subscriptions.vat import (
    EU_MEMBER_STATES,
    EU_STANDARD_RATES,
    EU_VAT_RATES,
    OUT_OF_SCOPE_MENTION,
    REVERSE_CHARGE_MENTION,
    TERRITORIES_OUTSIDE_EU_VAT,
    VAT_PREFIXES,
    DatedRateTable,
    TaxDecision,
    TaxTreatment,
    VatNumber,
    VatRate,
    decide_tax,
    format_rate,
    in_eu_vat_area,
    normalize_country,
    normalize_location,
    parse_vat_number,
    vat_number_or_none,
)

D = Decimal

# --- The rate table -------------------------------------------------------------------

RATES_2024_01_01 = {
    "AT": "20", "BE": "21", "BG": "20", "CY": "19", "CZ": "21", "DE": "19", "DK": "25",
    "EE": "22", "ES": "21", "FI": "24", "FR": "20", "GR": "24", "HR": "25", "HU": "27",
    "IE": "23", "IT": "22", "LT": "21", "LU": "17", "LV": "21", "MT": "18", "NL": "21",
    "PL": "23", "PT": "23", "RO": "19", "SE": "25", "SI": "22", "SK": "20",
}  # fmt: skip
RATES_2026_11_27 = {
    **RATES_2024_01_01,
    "EE": "24",
    "FI": "25.5",
    "RO": "21",
    "SK": "23",
}


def test_the_member_states_are_the_27() -> None:
    assert len(EU_MEMBER_STATES) == 27
    assert set(RATES_2024_01_01) == EU_MEMBER_STATES
    assert "GR" in EU_MEMBER_STATES
    assert "EL" not in EU_MEMBER_STATES
    assert "GB" not in EU_MEMBER_STATES


@pytest.mark.parametrize("country", sorted(EU_MEMBER_STATES))
def test_every_member_state_has_its_rate_on_2024_01_01(country: str) -> None:
    assert EU_VAT_RATES.standard_rate(country, date(2024, 1, 1)) == D(RATES_2024_01_01[country])


@pytest.mark.parametrize("country", sorted(EU_MEMBER_STATES))
def test_every_member_state_has_its_rate_on_2026_11_27(country: str) -> None:
    assert EU_VAT_RATES.standard_rate(country, date(2026, 11, 27)) == D(RATES_2026_11_27[country])


@pytest.mark.parametrize(
    ("country", "day_before", "rate_before", "first_day", "rate_after"),
    [
        ("FI", date(2024, 8, 31), "24", date(2024, 9, 1), "25.5"),
        ("SK", date(2024, 12, 31), "20", date(2025, 1, 1), "23"),
        ("EE", date(2025, 6, 30), "22", date(2025, 7, 1), "24"),
        ("RO", date(2025, 7, 31), "19", date(2025, 8, 1), "21"),
    ],
)
def test_a_change_applies_from_its_first_day(
    country: str, day_before: date, rate_before: str, first_day: date, rate_after: str
) -> None:
    assert day_before + timedelta(days=1) == first_day
    assert EU_VAT_RATES.standard_rate(country, day_before) == D(rate_before)
    assert EU_VAT_RATES.standard_rate(country, first_day) == D(rate_after)


@pytest.mark.parametrize(
    ("country", "first_day", "rate"),
    [
        # Rates whose start falls just before 2024, or on it: the day before is unknown.
        ("EE", date(2024, 1, 1), "22"),
        ("LU", date(2024, 1, 1), "17"),
        ("DE", date(2021, 1, 1), "19"),
        ("IE", date(2021, 3, 1), "23"),
        ("GR", date(2016, 6, 1), "24"),
        ("IT", date(2013, 10, 1), "22"),
        ("CY", date(2014, 1, 13), "19"),
        ("BG", date(2024, 1, 1), "20"),
    ],
)
def test_before_the_first_entry_there_is_no_rate(country: str, first_day: date, rate: str) -> None:
    assert EU_VAT_RATES.standard_rate(country, first_day) == D(rate)
    with pytest.raises(NoRateForDate) as caught:
        EU_VAT_RATES.standard_rate(country, first_day - timedelta(days=1))
    assert caught.value.country == country
    assert caught.value.on == first_day - timedelta(days=1)
    assert isinstance(caught.value, LookupError)


def test_germany_does_not_pretend_to_know_the_temporary_16_percent() -> None:
    with pytest.raises(NoRateForDate):
        EU_VAT_RATES.standard_rate("DE", date(2020, 12, 31))


@pytest.mark.parametrize(
    ("region", "on", "rate"),
    [
        ("PT-20", date(2021, 7, 1), "16"),
        ("PT-20", date(2026, 11, 27), "16"),
        ("pt-20", date(2026, 11, 27), "16"),
        ("PT-30", date(2012, 4, 1), "22"),
        ("PT-30", date(2026, 11, 27), "22"),
        ("PT-11", date(2026, 11, 27), "23"),
        (None, date(2026, 11, 27), "23"),
    ],
)
def test_portuguese_regions_have_their_own_rates(region: str | None, on: date, rate: str) -> None:
    assert EU_VAT_RATES.standard_rate("PT", on, region=region) == D(rate)


def test_a_region_with_its_own_entries_does_not_fall_back_before_them() -> None:
    with pytest.raises(NoRateForDate) as caught:
        EU_VAT_RATES.standard_rate("PT", date(2021, 6, 30), region="PT-20")
    assert caught.value.country == "PT-20"
    assert EU_VAT_RATES.standard_rate("PT", date(2021, 6, 30)) == D("23")


def test_a_region_of_a_country_without_regional_rates_takes_the_country_rate() -> None:
    assert EU_VAT_RATES.standard_rate("IT", date(2026, 1, 1), region="IT-MI") == D("22")
    assert EU_VAT_RATES.standard_rate("IT", date(2026, 1, 1), region="Lombardia") == D("22")


def test_an_unknown_country_is_a_clear_input_error_not_a_date_error() -> None:
    with pytest.raises(InvalidInput, match=r"no VAT rate for country 'US'.*covers AT, BE"):
        EU_VAT_RATES.standard_rate("US", date(2026, 1, 1))
    with pytest.raises(InvalidInput, match="no VAT rate for country 'EL'"):
        EU_VAT_RATES.standard_rate("EL", date(2026, 1, 1))


def test_lookup_accepts_lower_case_country() -> None:
    assert EU_VAT_RATES.standard_rate("it", date(2026, 1, 1)) == D("22")


def test_lookup_refuses_a_datetime() -> None:
    with pytest.raises(InvalidInput, match="local date"):
        EU_VAT_RATES.standard_rate("IT", datetime(2026, 1, 1, tzinfo=UTC))


def test_every_entry_cites_its_source_and_is_a_member_state() -> None:
    for entry in EU_STANDARD_RATES:
        assert entry.country in EU_MEMBER_STATES
        assert "TEDB" in entry.source
        assert D(0) < entry.rate <= D(100)
    keys = [(e.country, e.region, e.effective_from) for e in EU_STANDARD_RATES]
    assert len(keys) == len(set(keys))
    regions = {e.region for e in EU_STANDARD_RATES if e.region is not None}
    assert regions == {"PT-20", "PT-30"}


def test_unverified_start_dates_say_so() -> None:
    for entry in EU_STANDARD_RATES:
        if entry.effective_from == date(2024, 1, 1) and entry.country not in ("EE", "LU"):
            assert "not verified" in entry.source


def _naive_lookup(country: str, on: date) -> Decimal:
    candidates = [e for e in EU_STANDARD_RATES if e.country == country and e.region is None]
    return max(
        (e for e in candidates if e.effective_from <= on), key=lambda e: e.effective_from
    ).rate


@given(
    country=st.sampled_from(sorted(EU_MEMBER_STATES)),
    on=st.dates(min_value=date(2024, 1, 1), max_value=date(2100, 12, 31)),
)
def test_lookup_agrees_with_a_naive_search(country: str, on: date) -> None:
    assert EU_VAT_RATES.standard_rate(country, on) == _naive_lookup(country, on)


# --- Building rates and tables --------------------------------------------------------


def _entry(**changes: object) -> VatRate:
    fields: dict[str, object] = {
        "country": "IT",
        "rate": D("22"),
        "effective_from": date(2013, 10, 1),
        "source": "DPR 633/1972 art. 16",
    }
    fields.update(changes)
    return VatRate(**fields)  # type: ignore[arg-type]


def test_a_rate_accepts_decimal_int_and_string() -> None:
    assert _entry(rate="25.5").rate == D("25.5")
    assert _entry(rate=0).rate == D(0)
    assert _entry(rate=100).rate == D(100)


@pytest.mark.parametrize("rate", [D("-0.1"), D("100.01"), D("NaN"), D("Infinity"), "x", True])
def test_a_rate_out_of_range_or_not_a_number_is_refused(rate: object) -> None:
    with pytest.raises(InvalidInput):
        _entry(rate=rate)


def test_a_float_rate_is_refused() -> None:
    with pytest.raises(FloatRefused):
        _entry(rate=22.0)


@pytest.mark.parametrize(
    "changes",
    [
        {"country": "it"},
        {"country": "ITA"},
        {"country": "EL "},
        {"effective_from": datetime(2013, 10, 1, tzinfo=UTC)},
        {"effective_from": "2013-10-01"},
        {"source": " "},
        {"region": "ES-CN"},
        {"region": ""},
        {"region": " IT-MI"},
    ],
)
def test_a_malformed_rate_entry_is_refused(changes: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        _entry(**changes)


def test_rates_are_frozen_values() -> None:
    entry = _entry()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        entry.rate = D("1")  # type: ignore[misc]
    assert entry == _entry()
    assert hash(entry) == hash(_entry())


def test_a_table_refuses_two_entries_for_the_same_start() -> None:
    with pytest.raises(InvalidInput, match=r"two VAT rates for IT from 2013-10-01 \(22 and 21\)"):
        DatedRateTable([_entry(), _entry(rate="21")])


def test_a_table_refuses_two_regional_entries_for_the_same_start() -> None:
    azores = _entry(country="PT", region="PT-20", rate="16", effective_from=date(2021, 7, 1))
    with pytest.raises(InvalidInput, match=r"PT \(PT-20\)"):
        DatedRateTable([azores, attrs.evolve(azores, rate=D("18"))])


def test_the_same_start_in_a_country_and_its_region_is_fine() -> None:
    mainland = _entry(country="PT", rate="23", effective_from=date(2021, 7, 1))
    azores = attrs.evolve(mainland, region="PT-20", rate=D("16"))
    table = DatedRateTable([mainland, azores])
    assert table.standard_rate("PT", date(2021, 7, 1), region="PT-20") == D("16")


def test_a_table_refuses_anything_but_rates() -> None:
    with pytest.raises(InvalidInput, match="is not a VatRate"):
        DatedRateTable([_entry(), ("IT", "22")])  # type: ignore[list-item]


def test_a_table_takes_entries_in_any_order_and_from_any_iterable() -> None:
    old = _entry(rate="21", effective_from=date(2011, 9, 17))
    table = DatedRateTable(entry for entry in [_entry(), old])
    assert table.standard_rate("IT", date(2013, 9, 30)) == D("21")
    assert table.standard_rate("IT", date(2013, 10, 1)) == D("22")
    assert table.rates == (_entry(), old)


def test_an_empty_table_covers_nothing() -> None:
    with pytest.raises(InvalidInput, match="no VAT rate for country 'IT'"):
        DatedRateTable([]).standard_rate("IT", date(2026, 1, 1))


def test_tables_are_values() -> None:
    assert DatedRateTable(EU_STANDARD_RATES) == EU_VAT_RATES
    assert hash(DatedRateTable(EU_STANDARD_RATES)) == hash(EU_VAT_RATES)
    assert "_index" not in repr(DatedRateTable([_entry()]))


# --- format_rate ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "text"),
    [
        (D("22"), "22"),
        (D("25.5"), "25.5"),
        (D("25.50"), "25.5"),
        (D("0"), "0"),
        (D("0.00"), "0"),
        (D("-0"), "0"),
        (D("2E+1"), "20"),
        (D("20").normalize(), "20"),
        (D("100.000"), "100"),
        (D("1E-3"), "0.001"),
        (D("5.5"), "5.5"),
        (20, "20"),
    ],
)
def test_format_rate_writes_plain_decimals(rate: Decimal, text: str) -> None:
    assert format_rate(rate) == text


def test_format_rate_refuses_floats_and_non_numbers() -> None:
    with pytest.raises(FloatRefused):
        format_rate(22.0)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        format_rate(D("NaN"))
    with pytest.raises(InvalidInput):
        format_rate("22")  # type: ignore[arg-type]


# --- VAT numbers ----------------------------------------------------------------------

# Real numbers that pass python-stdnum, most from its own test data.
VALID_NUMBERS = [
    ("ATU 57194903", "AT", "ATU57194903"),
    ("BE 0402 918 402", "BE", "BE0402918402"),
    ("BE697449992", "BE", "BE0697449992"),
    ("BG 175074752", "BG", "BG175074752"),
    ("CY 10246672X", "CY", "CY10246672X"),
    ("CZ 25123891", "CZ", "CZ25123891"),
    ("DE 136 695 976", "DE", "DE136695976"),
    ("DK 13 20 24 35", "DK", "DK13202435"),
    ("EE 100 931 558", "EE", "EE100931558"),
    ("EL 094012834", "GR", "EL094012834"),
    ("ES A-28184661", "ES", "ESA28184661"),
    ("ES X-5253868-R", "ES", "ESX5253868R"),
    ("FI 2094606-3", "FI", "FI20946063"),
    ("FR 61 954 506 077", "FR", "FR61954506077"),
    ("HR 33392005961", "HR", "HR33392005961"),
    ("HU 10672101", "HU", "HU10672101"),
    ("IE 6433435F", "IE", "IE6433435F"),
    ("IE8D79739I", "IE", "IE8D79739I"),
    ("IT00743110157", "IT", "IT00743110157"),
    ("LT 119511515", "LT", "LT119511515"),
    ("LU 10059929", "LU", "LU10059929"),
    ("LV 40003189718", "LV", "LV40003189718"),
    ("MT 17025737", "MT", "MT17025737"),
    ("NL 806753742B01", "NL", "NL806753742B01"),
    ("PL 584-030-44-72", "PL", "PL5840304472"),
    ("PT 500 019 720", "PT", "PT500019720"),
    ("RO 18779508", "RO", "RO18779508"),
    ("SE 556058115801", "SE", "SE556058115801"),
    ("SI 26808498", "SI", "SI26808498"),
    ("SK 2022193459", "SK", "SK2022193459"),
    ("XI 980 7806 84", "XI", "XI980780684"),
]


@pytest.mark.parametrize(("text", "country", "compact"), VALID_NUMBERS)
def test_real_numbers_of_every_member_state_parse(text: str, country: str, compact: str) -> None:
    number = parse_vat_number(text)
    assert number.number == compact
    assert str(number) == compact
    assert number.country == country
    assert number.prefix == compact[:2]
    assert VAT_PREFIXES[number.prefix] == country
    assert number.national_number == compact[2:]


def test_the_valid_numbers_cover_every_member_state() -> None:
    assert {country for _, country, _ in VALID_NUMBERS} == EU_MEMBER_STATES | {"XI"}


@pytest.mark.parametrize(("text", "country", "compact"), VALID_NUMBERS)
def test_a_number_belongs_to_its_own_country(text: str, country: str, compact: str) -> None:
    customer = "GB" if country == "XI" else country
    assert parse_vat_number(text, country=customer).number == compact


@pytest.mark.parametrize(
    "text",
    [
        "DE136695976",
        "DE 136 695 976",
        "de136695976",
        "De 136695976",
        "DE-136.695.976",
        "DE 136-695-976",
        " DE136695976 ",
        "DE/136/695/976",
        "ＤＥ１３６６９５９７６",  # full-width, as some keyboards type it
        "DE\u00a0136\u00a0695\u00a0976",
    ],
)
def test_any_common_spelling_is_accepted(text: str) -> None:
    assert parse_vat_number(text, country="DE") == VatNumber(
        country="DE", prefix="DE", number="DE136695976"
    )


@pytest.mark.parametrize(
    ("text", "country", "compact"),
    [
        ("136695976", "DE", "DE136695976"),
        ("136 695 976", "de", "DE136695976"),
        ("094012834", "GR", "EL094012834"),
        ("61 954 506 077", "MC", "FR61954506077"),
        ("U57194903", "AT", "ATU57194903"),
        ("A28184661", "ES", "ESA28184661"),
        ("980780684", "XI", "XI980780684"),
    ],
)
def test_a_number_without_prefix_takes_the_customer_countrys(
    text: str, country: str, compact: str
) -> None:
    assert parse_vat_number(text, country=country).number == compact


@pytest.mark.parametrize("text", ["GR094012834", "GR 094 012 834", "gr-094012834"])
def test_greek_numbers_written_gr_become_el(text: str) -> None:
    for country in (None, "GR", "EL", "gr"):
        number = parse_vat_number(text, country=country)
        assert number == VatNumber(country="GR", prefix="EL", number="EL094012834")


def test_a_french_number_may_start_with_two_letters_of_its_own() -> None:
    assert parse_vat_number("AB954506077", country="FR").number == "FRAB954506077"
    # HU is also Hungary's prefix: for a French customer the French reading wins.
    assert parse_vat_number("HU954506077", country="FR").number == "FRHU954506077"
    with pytest.raises(InvalidVatNumber) as caught:
        parse_vat_number("AB954506077")
    assert caught.value.reason == "unsupported"


def test_monaco_customers_hold_french_numbers() -> None:
    assert parse_vat_number("FR61954506077", country="MC").country == "FR"


def test_northern_ireland_numbers_belong_to_uk_customers() -> None:
    assert parse_vat_number("XI980780684", country="GB").country == "XI"
    assert parse_vat_number("XI980780684", country="XI").country == "XI"


@pytest.mark.parametrize(
    "text",
    [
        "ATU 143 43 102",
        "BE 0406.139.583",
        "BG 131 172 009",
        "CY 10246672F",
        "CZ 25557481",
        "DE 136 695 977",
        "DK 11 96 56 58",
        "EE 100 941 558",
        "EL 094013834",
        "ES 54362415K",
        "FR 04409414264",
        "IE 4731823H",
        "LV 40003189715",
        "SK 1078449164",
    ],
)
def test_a_wrong_check_digit_is_a_checksum_error(text: str) -> None:
    with pytest.raises(InvalidVatNumber) as caught:
        parse_vat_number(text)
    assert caught.value.reason == "checksum"
    assert caught.value.number == text
    assert "mistyped" in str(caught.value)


@pytest.mark.parametrize(
    "text", ["ATU 151592092", "DE 13669597", "DE 1366959761", "FR000076090", "SE 55643359201"]
)
def test_a_wrong_length_is_a_length_error(text: str) -> None:
    with pytest.raises(InvalidVatNumber) as caught:
        parse_vat_number(text)
    assert caught.value.reason == "length"


@pytest.mark.parametrize(
    "text", ["DE 246X595 415", "DE 011125440", "NL 001241643801", "IT 00687129980", "CZ 95123891"]
)
def test_a_malformed_number_is_a_format_error(text: str) -> None:
    with pytest.raises(InvalidVatNumber) as caught:
        parse_vat_number(text)
    assert caught.value.reason == "format"


@pytest.mark.parametrize(
    ("text", "country", "belongs_to", "customer_in"),
    [
        ("ATU57194903", "DE", "Austria (AT)", "Germany (DE)"),
        ("EL094012834", "CY", "Greece (GR)", "Cyprus (CY)"),
        ("XI980780684", "DE", "Northern Ireland (XI)", "Germany (DE)"),
        ("FR61954506077", "BE", "France (FR)", "Belgium (BE)"),
        ("DE136695976", "US", "Germany (DE)", "US"),
        ("DE136695976", "MC", "Germany (DE)", "Monaco (MC)"),
        ("IT00743110157", "GB", "Italy (IT)", "the United Kingdom (GB)"),
    ],
)
def test_a_number_of_another_country_is_refused(
    text: str, country: str, belongs_to: str, customer_in: str
) -> None:
    with pytest.raises(InvalidVatNumber) as caught:
        parse_vat_number(text, country=country)
    assert caught.value.reason == "country"
    message = str(caught.value)
    assert f"belongs to {belongs_to}, but the customer is in {customer_in}" in message
    assert "correct the customer's country" in message


@pytest.mark.parametrize(
    ("text", "country"),
    [
        ("GB980780684", None),
        ("GB 980 7806 84", "GB"),
        ("CHE-116.281.710 MWST", "CH"),
        ("CHE-116.281.710", None),
        ("EU372000041", None),
        ("NO 974760673 MVA", "NO"),
        ("US123456789", "US"),
        ("136695976", "US"),
    ],
)
def test_a_number_that_is_not_an_eu_number_is_unsupported(text: str, country: str | None) -> None:
    with pytest.raises(InvalidVatNumber) as caught:
        parse_vat_number(text, country=country)
    assert caught.value.reason == "unsupported"
    assert "taxed as a consumer" in str(caught.value)


def test_a_number_without_prefix_and_without_country_cannot_be_read() -> None:
    with pytest.raises(InvalidVatNumber) as caught:
        parse_vat_number("136695976")
    assert caught.value.reason == "format"
    assert "two-letter prefix" in str(caught.value)


@pytest.mark.parametrize("text", ["", "   ", "-./"])
def test_an_empty_number_is_a_format_error(text: str) -> None:
    with pytest.raises(InvalidVatNumber) as caught:
        parse_vat_number(text, country="DE")
    assert caught.value.reason == "format"


@pytest.mark.parametrize(
    ("text", "country"),
    [
        ("DE 136 695 977", None),
        ("DE 13669597", None),
        ("DE 246X595 415", None),
        ("ATU57194903", "DE"),
        ("GB980780684", None),
        ("136695976", None),
        ("", "DE"),
    ],
)
def test_every_vat_number_error_says_what_to_do(text: str, country: str | None) -> None:
    with pytest.raises(InvalidVatNumber) as caught:
        parse_vat_number(text, country=country)
    error = caught.value
    assert isinstance(error, InvalidInput)
    assert isinstance(error, ValueError)
    message = str(error)
    assert message.startswith(f"VAT number {text!r} is not valid: ")
    assert "consumer" in message or "correct the customer's country" in message


def test_a_number_that_is_not_text_is_refused() -> None:
    with pytest.raises(InvalidInput):
        parse_vat_number(136695976)  # type: ignore[arg-type]


def test_a_malformed_customer_country_is_refused() -> None:
    with pytest.raises(InvalidInput, match="alpha-2"):
        parse_vat_number("DE136695976", country="DEU")


def test_vat_number_or_none_turns_bad_numbers_into_none() -> None:
    assert vat_number_or_none(None, country="DE") is None
    assert vat_number_or_none("", country="DE") is None
    assert vat_number_or_none("  ", country="DE") is None
    assert vat_number_or_none("DE 136 695 977", country="DE") is None
    assert vat_number_or_none("ATU57194903", country="DE") is None
    assert vat_number_or_none("GB980780684", country="GB") is None
    assert vat_number_or_none("DE 136 695 976", country="DE") == parse_vat_number("DE136695976")
    assert vat_number_or_none("DE 136 695 976", country=None) == parse_vat_number("DE136695976")


def test_vat_number_or_none_still_refuses_a_malformed_country() -> None:
    with pytest.raises(InvalidInput):
        vat_number_or_none("DE136695976", country="Germany")
    with pytest.raises(InvalidInput):
        vat_number_or_none(None, country="Germany")


def test_vat_numbers_are_frozen_values_with_a_constructor_repr() -> None:
    number = parse_vat_number("DE 136 695 976")
    assert repr(number) == "VatNumber(country='DE', prefix='DE', number='DE136695976')"
    assert number == VatNumber(country="DE", prefix="DE", number="DE136695976")
    assert len({number, parse_vat_number("de136695976")}) == 1
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        number.number = "DE1"  # type: ignore[misc]


@pytest.mark.parametrize(
    "fields",
    [
        {"country": "GB", "prefix": "GB", "number": "GB980780684"},
        {"country": "GR", "prefix": "GR", "number": "GR094012834"},
        {"country": "DE", "prefix": "DE", "number": "136695976"},
        {"country": "DE", "prefix": "DE", "number": "DE"},
        {"country": "DE", "prefix": "DE", "number": "DE 136695976"},
        {"country": "ES", "prefix": "ES", "number": "ESa28184661"},
        {"country": "AT", "prefix": "DE", "number": "DE136695976"},
        {"country": "de", "prefix": "DE", "number": "DE136695976"},
        {"country": "GR", "prefix": "EL", "number": 94012834},
    ],
)
def test_a_vat_number_value_checks_its_shape(fields: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        VatNumber(**fields)  # type: ignore[arg-type]


def test_the_vat_prefixes() -> None:
    assert VAT_PREFIXES["EL"] == "GR"
    assert VAT_PREFIXES["XI"] == "XI"
    assert "GR" not in VAT_PREFIXES
    assert set(VAT_PREFIXES.values()) == EU_MEMBER_STATES | {"XI"}


# --- Countries and territories --------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "normal"), [("it", "IT"), (" de ", "DE"), ("EL", "GR"), ("el", "GR"), ("UK", "GB")]
)
def test_country_codes_are_normalized(code: str, normal: str) -> None:
    assert normalize_country(code) == normal


@pytest.mark.parametrize("code", ["", "I", "ITA", "1T", "I-", "Ελ", "Italy", None, 39])
def test_anything_but_two_letters_is_not_a_country(code: object) -> None:
    with pytest.raises(InvalidInput):
        normalize_country(code)  # type: ignore[arg-type]


TERRITORY_CODES = [
    (territory.country, code)
    for territory in TERRITORIES_OUTSIDE_EU_VAT
    for code in territory.codes
]


def test_every_listed_iso_region_is_there() -> None:
    assert {code for _, code in TERRITORY_CODES} == {
        "ES-CN", "ES-GC", "ES-TF", "ES-CE", "ES-ML", "FI-01", "GR-69",
        "FR-971", "FR-GP", "FR-972", "FR-MQ", "FR-973", "FR-GF", "FR-974", "FR-RE",
        "FR-976", "FR-YT", "FR-MF",
    }  # fmt: skip


@pytest.mark.parametrize(("country", "code"), TERRITORY_CODES)
def test_every_iso_region_outside_the_vat_area_is_recognised(country: str, code: str) -> None:
    assert normalize_location(country, code) == (country, code)
    assert normalize_location(country.lower(), code.lower()) == (country, code)
    assert not in_eu_vat_area(country, code)
    assert in_eu_vat_area(country)


@pytest.mark.parametrize(
    ("country", "name", "region"),
    [
        ("ES", "Canary Islands", "ES-CN"),
        ("ES", "canarias", "ES-CN"),
        ("ES", "Islas Canarias", "ES-CN"),
        ("ES", "Ceuta", "ES-CE"),
        ("ES", "MELILLA", "ES-ML"),
        ("FI", "Åland", "FI-01"),
        ("FI", "Aland", "FI-01"),
        ("FI", "aland islands", "FI-01"),
        ("FI", "Ahvenanmaa", "FI-01"),
        ("GR", "Mount Athos", "GR-69"),
        ("GR", "Agion Oros", "GR-69"),
        ("GR", "Άγιον Όρος", "GR-69"),
        ("EL", "mount-athos", "GR-69"),
        ("IT", "Livigno", "Livigno"),
        ("IT", "LIVIGNO ", "Livigno"),
        ("IT", "Campione d'Italia", "Campione d'Italia"),
        ("IT", "Campione d’Italia", "Campione d'Italia"),
        ("IT", "campione ditalia", "Campione d'Italia"),
        ("IT", "Italian waters of Lake Lugano", "Italian waters of Lake Lugano"),
        ("IT", "Lake Lugano", "Italian waters of Lake Lugano"),
        ("DE", "Büsingen am Hochrhein", "Büsingen am Hochrhein"),
        ("DE", "Busingen", "Büsingen am Hochrhein"),
        ("DE", "Buesingen", "Büsingen am Hochrhein"),
        ("DE", "busingen-am-hochrhein", "Büsingen am Hochrhein"),
        ("DE", "Heligoland", "Heligoland"),
        ("DE", "Helgoland", "Heligoland"),
        ("FR", "Guadeloupe", "FR-971"),
        ("FR", "Martinique", "FR-972"),
        ("FR", "French Guiana", "FR-973"),
        ("FR", "Guyane", "FR-973"),
        ("FR", "Réunion", "FR-974"),
        ("FR", "La Reunion", "FR-974"),
        ("FR", "Mayotte", "FR-976"),
        ("FR", "Saint-Martin", "FR-MF"),
        ("FR", "saint martin", "FR-MF"),
        ("MC", "Guadeloupe", "FR-971"),
    ],
)
def test_territories_are_recognised_by_name(country: str, name: str, region: str) -> None:
    tax_country = "FR" if country == "MC" else normalize_country(country)
    assert normalize_location(country, name) == (tax_country, region)
    assert not in_eu_vat_area(country, name)


@pytest.mark.parametrize(
    ("country", "region", "message"),
    [
        ("IT", "ES-CN", r"region 'ES-CN' is in Spain \(ES\), but the customer's country is Italy"),
        ("DE", "fr-971", r"region 'fr-971' is in France \(FR\), but the customer's country"),
        ("FR", "MC-CO", r"is in Monaco \(MC\), but the customer's country is France"),
        ("US", "IT-MI", r"is in Italy \(IT\), but the customer's country is US"),
        ("IT", "Canary Islands", r"Canary Islands is in Spain \(ES\), but the customer's"),
        ("AT", "Büsingen", r"Büsingen am Hochrhein is in Germany \(DE\), but the customer's"),
        ("CH", "Campione d'Italia", r"Campione d'Italia is in Italy \(IT\)"),
        ("ES", "Åland", r"Åland is in Finland \(FI\)"),
    ],
)
def test_a_region_of_another_country_is_an_unknown_territory(
    country: str, region: str, message: str
) -> None:
    with pytest.raises(UnknownTerritory, match=message) as caught:
        normalize_location(country, region)
    assert isinstance(caught.value, InvalidInput)
    assert "correct the country or the region" in str(caught.value)


def test_monaco_counts_as_france() -> None:
    assert normalize_location("MC") == ("FR", None)
    assert normalize_location("mc", "MC-CO") == ("FR", "MC-CO")
    assert normalize_location("MC", "FR-75") == ("FR", "FR-75")
    assert in_eu_vat_area("MC")


@pytest.mark.parametrize(
    ("country", "region", "expected"),
    [
        ("IT", "IT-MI", ("IT", "IT-MI")),
        ("IT", "it-mi", ("IT", "IT-MI")),
        ("IT", "Lombardia", ("IT", "Lombardia")),
        ("DE", "Bayern", ("DE", "Bayern")),
        ("PT", "PT-20", ("PT", "PT-20")),
        ("ES", "ES-PM", ("ES", "ES-PM")),
        ("IT", "", ("IT", None)),
        ("IT", "  ", ("IT", None)),
        ("IT", None, ("IT", None)),
        ("EL", None, ("GR", None)),
    ],
)
def test_other_regions_are_not_special(
    country: str, region: str | None, expected: tuple[str, str | None]
) -> None:
    assert normalize_location(country, region) == expected
    assert in_eu_vat_area(country, region)


def test_a_region_must_be_text() -> None:
    with pytest.raises(InvalidInput):
        normalize_location("IT", 20)  # type: ignore[arg-type]


@pytest.mark.parametrize("country", ["US", "CH", "GB", "XI", "NO", "SM", "VA", "GP", "AX", "IC"])
def test_countries_outside_the_27_are_outside_the_vat_area(country: str) -> None:
    assert not in_eu_vat_area(country)


# --- Place of supply ------------------------------------------------------------------

ON = date(2026, 3, 2)
DE_NUMBER = parse_vat_number("DE 136 695 976")
IT_NUMBER = parse_vat_number("IT00743110157")
AT_NUMBER = parse_vat_number("ATU57194903")
EL_NUMBER = parse_vat_number("EL 094012834")
FR_NUMBER = parse_vat_number("FR 61 954 506 077")
PT_NUMBER = parse_vat_number("PT 500 019 720")
XI_NUMBER = parse_vat_number("XI 980 7806 84")


def _standard(rate: str, country: str) -> TaxDecision:
    return TaxDecision(
        treatment=TaxTreatment.STANDARD, rate=D(rate), rate_country=country, mention=None
    )


REVERSE_CHARGE_DE = TaxDecision(
    treatment=TaxTreatment.REVERSE_CHARGE,
    rate=D(0),
    rate_country="DE",
    mention=REVERSE_CHARGE_MENTION,
)
OUT_OF_SCOPE = TaxDecision(
    treatment=TaxTreatment.OUT_OF_SCOPE, rate=D(0), rate_country=None, mention=OUT_OF_SCOPE_MENTION
)


@pytest.mark.parametrize("seller", ["US", "GB", "CH", "XI", "NO", "SM"])
def test_a_seller_outside_the_eu_is_refused(seller: str) -> None:
    with pytest.raises(SellerOutsideEU) as caught:
        decide_tax(seller_country=seller, customer_country="IT", vat_number=None, on=ON)
    assert caught.value.country == seller
    assert "plug in your own tax rules" in str(caught.value)


def test_a_seller_country_must_be_a_code() -> None:
    with pytest.raises(InvalidInput):
        decide_tax(seller_country="Italy", customer_country="IT", vat_number=None, on=ON)


def test_a_monaco_seller_sells_as_a_french_one() -> None:
    decision = decide_tax(seller_country="MC", customer_country="FR", vat_number=None, on=ON)
    assert decision == _standard("20", "FR")


@pytest.mark.parametrize(
    ("country", "region", "number"),
    [
        ("US", None, None),
        ("CH", None, None),
        ("GB", None, None),
        ("GB", None, XI_NUMBER),
        ("XI", None, XI_NUMBER),
        ("NO", None, None),
        ("ES", "ES-CN", None),
        ("ES", "Canarias", None),
        ("ES", "ES-TF", None),
        ("ES", "Ceuta", None),
        ("FI", "FI-01", None),
        ("GR", "GR-69", EL_NUMBER),
        ("IT", "Livigno", None),
        ("IT", "Campione d'Italia", IT_NUMBER),
        ("DE", "Büsingen", DE_NUMBER),
        ("DE", "Helgoland", None),
        ("FR", "FR-974", FR_NUMBER),
        ("FR", "Mayotte", None),
        ("MC", "Saint-Martin", None),
        ("GP", None, None),
    ],
)
def test_customers_outside_the_vat_area_are_out_of_scope(
    country: str, region: str | None, number: VatNumber | None
) -> None:
    for seller in ("IT", "DE", "FR", "ES", "FI"):
        decision = decide_tax(
            seller_country=seller,
            customer_country=country,
            customer_region=region,
            vat_number=number,
            on=ON,
        )
        assert decision == OUT_OF_SCOPE


def test_out_of_scope_needs_no_rate_even_before_the_table() -> None:
    decision = decide_tax(
        seller_country="IT", customer_country="US", vat_number=None, on=date(1999, 1, 1)
    )
    assert decision == OUT_OF_SCOPE


@pytest.mark.parametrize("number", [None, IT_NUMBER])
def test_a_domestic_customer_pays_the_sellers_rate_with_or_without_a_number(
    number: VatNumber | None,
) -> None:
    decision = decide_tax(seller_country="IT", customer_country="IT", vat_number=number, on=ON)
    assert decision == _standard("22", "IT")


def test_a_domestic_micro_seller_charges_its_rate_too() -> None:
    decision = decide_tax(
        seller_country="IT", customer_country="it", vat_number=None, on=ON, micro_seller=True
    )
    assert decision == _standard("22", "IT")


@pytest.mark.parametrize(
    ("region", "rate"),
    [("PT-20", "16"), ("pt-20", "16"), ("PT-30", "22"), ("PT-11", "23"), (None, "23")],
)
@pytest.mark.parametrize("number", [None, PT_NUMBER])
def test_a_domestic_customer_in_a_region_pays_the_regions_rate(
    region: str | None, rate: str, number: VatNumber | None
) -> None:
    decision = decide_tax(
        seller_country="PT",
        customer_country="PT",
        customer_region=region,
        vat_number=number,
        on=ON,
    )
    assert decision == _standard(rate, "PT")


def test_a_business_in_another_member_state_is_reverse_charged() -> None:
    decision = decide_tax(seller_country="IT", customer_country="DE", vat_number=DE_NUMBER, on=ON)
    assert decision == REVERSE_CHARGE_DE
    assert format_rate(decision.rate) == "0"


def test_reverse_charge_needs_no_rate_even_before_the_table() -> None:
    decision = decide_tax(
        seller_country="IT", customer_country="DE", vat_number=DE_NUMBER, on=date(1999, 1, 1)
    )
    assert decision == REVERSE_CHARGE_DE


def test_a_greek_business_with_an_el_number_is_reverse_charged() -> None:
    decision = decide_tax(seller_country="IT", customer_country="GR", vat_number=EL_NUMBER, on=ON)
    assert decision.treatment is TaxTreatment.REVERSE_CHARGE
    assert decision.rate_country == "GR"


def test_a_monaco_business_with_a_french_number_is_reverse_charged() -> None:
    decision = decide_tax(seller_country="IT", customer_country="MC", vat_number=FR_NUMBER, on=ON)
    assert decision.treatment is TaxTreatment.REVERSE_CHARGE
    assert decision.rate_country == "FR"


def test_a_micro_seller_still_reverse_charges_businesses() -> None:
    decision = decide_tax(
        seller_country="IT", customer_country="DE", vat_number=DE_NUMBER, on=ON, micro_seller=True
    )
    assert decision == REVERSE_CHARGE_DE


def test_a_number_of_another_country_does_not_give_reverse_charge() -> None:
    decision = decide_tax(seller_country="IT", customer_country="DE", vat_number=AT_NUMBER, on=ON)
    assert decision == _standard("19", "DE")


def test_a_northern_ireland_number_never_gives_reverse_charge() -> None:
    # Even if a caller judged it valid for a customer inside the EU.
    decision = decide_tax(seller_country="IT", customer_country="DE", vat_number=XI_NUMBER, on=ON)
    assert decision == _standard("19", "DE")


@pytest.mark.parametrize(
    ("customer", "rate"),
    [("FR", "20"), ("DE", "19"), ("HU", "27"), ("LU", "17"), ("FI", "25.5"), ("GR", "24")],
)
def test_a_consumer_in_another_member_state_pays_that_states_rate(customer: str, rate: str) -> None:
    decision = decide_tax(seller_country="IT", customer_country=customer, vat_number=None, on=ON)
    assert decision == _standard(rate, customer)


def test_a_consumer_rate_follows_the_date_of_the_charge() -> None:
    def finnish(on: date) -> Decimal:
        return decide_tax(seller_country="IT", customer_country="FI", vat_number=None, on=on).rate

    assert finnish(date(2024, 8, 31)) == D("24")
    assert finnish(date(2024, 9, 1)) == D("25.5")


@pytest.mark.parametrize(("region", "rate"), [("PT-20", "16"), ("Madeira", "23"), ("PT-30", "22")])
def test_a_consumer_in_a_region_pays_the_regions_rate(region: str, rate: str) -> None:
    # "Madeira" is a free-text region, not the ISO code, so the mainland rate applies.
    decision = decide_tax(
        seller_country="IT",
        customer_country="PT",
        customer_region=region,
        vat_number=None,
        on=ON,
    )
    assert decision == _standard(rate, "PT")


def test_a_monaco_consumer_pays_the_french_rate() -> None:
    decision = decide_tax(seller_country="IT", customer_country="MC", vat_number=None, on=ON)
    assert decision == _standard("20", "FR")
    domestic = decide_tax(seller_country="FR", customer_country="MC", vat_number=None, on=ON)
    assert domestic == _standard("20", "FR")


@pytest.mark.parametrize("number", [None, AT_NUMBER, XI_NUMBER])
def test_a_micro_seller_charges_its_home_rate_to_consumers(number: VatNumber | None) -> None:
    decision = decide_tax(
        seller_country="IT", customer_country="DE", vat_number=number, on=ON, micro_seller=True
    )
    assert decision == _standard("22", "IT")


def test_a_micro_seller_in_finland_follows_its_own_rate_change() -> None:
    def rate(on: date) -> Decimal:
        return decide_tax(
            seller_country="FI", customer_country="SE", vat_number=None, on=on, micro_seller=True
        ).rate

    assert (rate(date(2024, 8, 31)), rate(date(2024, 9, 1))) == (D("24"), D("25.5"))


def test_a_rate_missing_for_the_date_is_not_guessed() -> None:
    with pytest.raises(NoRateForDate):
        decide_tax(seller_country="IT", customer_country="EE", vat_number=None, on=date(2023, 6, 1))


def test_decide_tax_refuses_a_datetime() -> None:
    with pytest.raises(InvalidInput, match="local date"):
        decide_tax(
            seller_country="IT",
            customer_country="IT",
            vat_number=None,
            on=datetime(2026, 3, 2, tzinfo=UTC),
        )


def test_decide_tax_refuses_a_vat_number_as_text() -> None:
    with pytest.raises(InvalidInput, match="parse_vat_number"):
        decide_tax(
            seller_country="IT",
            customer_country="DE",
            vat_number="DE136695976",  # type: ignore[arg-type]
            on=ON,
        )


def test_decide_tax_refuses_a_region_of_another_country() -> None:
    with pytest.raises(UnknownTerritory):
        decide_tax(
            seller_country="IT",
            customer_country="IT",
            customer_region="Canarias",
            vat_number=None,
            on=ON,
        )


class FlatRates:
    """A host's own rate provider: one rate everywhere, and a record of what it was asked."""

    def __init__(self, rate: str) -> None:
        self.rate = D(rate)
        self.asked: list[tuple[str, date, str | None]] = []

    def standard_rate(self, country: str, on: date, *, region: str | None = None) -> Decimal:
        self.asked.append((country, on, region))
        return self.rate


def test_a_host_can_plug_in_its_own_rates() -> None:
    rates = FlatRates("21.5")
    decision = decide_tax(
        seller_country="IT",
        customer_country="ES",
        customer_region="es-pm",
        vat_number=None,
        on=ON,
        rates=rates,
    )
    assert decision == _standard("21.5", "ES")
    assert rates.asked == [("ES", ON, "ES-PM")]


@given(
    seller=st.sampled_from(sorted(EU_MEMBER_STATES)),
    customer=st.sampled_from(sorted(EU_MEMBER_STATES)),
    on=st.dates(min_value=date(2025, 8, 1), max_value=date(2030, 12, 31)),
    micro_seller=st.booleans(),
)
def test_consumers_pay_the_place_of_supply_rate(
    seller: str, customer: str, on: date, micro_seller: bool
) -> None:
    decision = decide_tax(
        seller_country=seller,
        customer_country=customer,
        vat_number=None,
        on=on,
        micro_seller=micro_seller,
    )
    where = seller if micro_seller or seller == customer else customer
    assert decision == _standard(format_rate(EU_VAT_RATES.standard_rate(where, on)), where)


def test_the_scenario_cases() -> None:
    # The three VAT examples of the scenario suite, as the runner reads them.
    german = vat_number_or_none("DE 136 695 976", country="DE")
    assert (
        decide_tax(seller_country="IT", customer_country="DE", vat_number=german, on=ON)
        == REVERSE_CHARGE_DE
    )
    french = decide_tax(seller_country="IT", customer_country="FR", vat_number=None, on=ON)
    assert (french.treatment.value, format_rate(french.rate)) == ("standard", "20")
    american = decide_tax(seller_country="IT", customer_country="US", vat_number=None, on=ON)
    assert (american.treatment.value, format_rate(american.rate)) == ("out_of_scope", "0")


# --- TaxDecision ----------------------------------------------------------------------


@pytest.mark.parametrize("treatment", [TaxTreatment.REVERSE_CHARGE, TaxTreatment.OUT_OF_SCOPE])
def test_a_decision_without_vat_has_rate_zero(treatment: TaxTreatment) -> None:
    with pytest.raises(InvalidInput, match="has rate 0"):
        TaxDecision(treatment=treatment, rate=D("22"), rate_country="IT", mention="x")


def test_a_decision_refuses_a_float_rate_and_a_bad_treatment() -> None:
    with pytest.raises(FloatRefused):
        TaxDecision(
            treatment=TaxTreatment.STANDARD,
            rate=22.0,  # type: ignore[arg-type]
            rate_country="IT",
            mention=None,
        )
    with pytest.raises(TypeError):
        TaxDecision(
            treatment="standard",  # type: ignore[arg-type]
            rate=D("22"),
            rate_country="IT",
            mention=None,
        )


def test_treatment_values_are_the_scenario_names() -> None:
    assert [t.value for t in TaxTreatment] == ["standard", "reverse_charge", "out_of_scope"]


def test_the_mentions_cite_the_directive() -> None:
    assert "Article 196" in REVERSE_CHARGE_MENTION
    assert "2006/112/EC" in REVERSE_CHARGE_MENTION
    assert "2006/112/EC" in OUT_OF_SCOPE_MENTION
