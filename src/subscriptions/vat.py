"""EU VAT for electronically supplied services sold by an EU seller.

Everything here is pure: no I/O, no clock, no network. Dates are arguments (the local
date of the charge), rates come from a :class:`RateProvider`, and a VAT number reaches
:func:`decide_tax` already judged valid by the caller (offline, or online through a VIES
check done elsewhere).

The rules, in the order :func:`decide_tax` applies them:

1. A seller outside the EU is refused (:class:`~subscriptions.errors.SellerOutsideEU`):
   these rules are EU VAT for an EU seller. Monaco counts as France.
2. A customer outside the 27 member states, or in a territory outside the EU VAT area
   (the Canary Islands, Ceuta, Melilla, Åland, Mount Athos, Livigno, Campione d'Italia,
   the Italian waters of Lake Lugano, Büsingen, Heligoland, the French overseas
   departments, Saint-Martin), is out of scope: 0%, no EU VAT (Articles 6, 44 and 58 of
   Council Directive 2006/112/EC). Monaco counts as France.
3. A customer in the seller's own country pays the seller's rate, with or without a VAT
   number (the rate of the customer's region where it has its own, such as the Azores).
4. A business customer in another member state, whose VAT number belongs to that state,
   is reverse charged: 0%, and the invoice carries the reverse-charge mention (Articles
   44 and 196). A Northern Ireland (``XI``) number never gives reverse charge on
   services: XI numbers exist for goods only.
5. Anyone else in another member state (a consumer, or a business without a valid
   number) pays that state's rate (the OSS rule of Article 58), unless the seller is a
   micro-seller under the EUR 10,000 threshold of Article 59c, who may charge its home
   rate.

Rates are ``Decimal`` percentages (``Decimal("22")``, ``Decimal("25.5")``) looked up in
a dated table, so that a change of rate applies from its first day:

>>> from datetime import date
>>> EU_VAT_RATES.standard_rate("FI", date(2024, 8, 31))
Decimal('24')
>>> EU_VAT_RATES.standard_rate("FI", date(2024, 9, 1))
Decimal('25.5')
>>> decision = decide_tax(
...     seller_country="IT",
...     customer_country="DE",
...     vat_number=parse_vat_number("DE 136 695 976"),
...     on=date(2026, 3, 2),
... )
>>> decision.treatment, format_rate(decision.rate)
(<TaxTreatment.REVERSE_CHARGE: 'reverse_charge'>, '0')
"""

from __future__ import annotations

import functools
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

import attrs
from babel import Locale
from stdnum.eu import vat as _stdnum_vat
from stdnum.exceptions import (
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidLength,
    ValidationError,
)

from subscriptions.errors import (
    FloatRefused,
    InvalidInput,
    InvalidVatNumber,
    NoRateForDate,
    SellerOutsideEU,
    UnknownTerritory,
)

from ._enum import Choice

__all__ = [
    "EU_MEMBER_STATES",
    "EU_STANDARD_RATES",
    "EU_VAT_RATES",
    "OUT_OF_SCOPE_MENTION",
    "REVERSE_CHARGE_MENTION",
    "TERRITORIES_OUTSIDE_EU_VAT",
    "VAT_PREFIXES",
    "DatedRateTable",
    "RateProvider",
    "TaxDecision",
    "TaxTreatment",
    "Territory",
    "VatNumber",
    "VatRate",
    "decide_tax",
    "eu_seller_country",
    "format_rate",
    "in_eu_vat_area",
    "normalize_country",
    "normalize_location",
    "parse_vat_number",
    "vat_number_or_none",
]


class TaxTreatment(Choice):
    """How a supply is taxed; the value is the name used in scenario output."""

    STANDARD = "standard"
    REVERSE_CHARGE = "reverse_charge"
    OUT_OF_SCOPE = "out_of_scope"


EU_MEMBER_STATES: frozenset[str] = frozenset(
    {
        "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
        "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
    }
)  # fmt: skip
"""The 27 member states as ISO 3166-1 alpha-2 codes (Greece is ``GR``, not ``EL``)."""

VAT_PREFIXES: Mapping[str, str] = {
    **{country: country for country in EU_MEMBER_STATES if country != "GR"},
    "EL": "GR",
    "XI": "XI",
}
"""VAT number prefix -> the country it belongs to (``EL`` is Greece, ``XI`` Northern
Ireland, whose numbers only serve for goods)."""

REVERSE_CHARGE_MENTION = (
    "Reverse charge: VAT to be accounted for by the recipient, "
    "Article 196 of Council Directive 2006/112/EC"
)
OUT_OF_SCOPE_MENTION = (
    "Not subject to EU VAT: place of supply outside the EU VAT area "
    "(Articles 44 and 58 of Council Directive 2006/112/EC)"
)

_COUNTRY_NAMES: Mapping[str, str] = {
    "AT": "Austria", "BE": "Belgium", "BG": "Bulgaria", "CY": "Cyprus", "CZ": "Czechia",
    "DE": "Germany", "DK": "Denmark", "EE": "Estonia", "ES": "Spain", "FI": "Finland",
    "FR": "France", "GR": "Greece", "HR": "Croatia", "HU": "Hungary", "IE": "Ireland",
    "IT": "Italy", "LT": "Lithuania", "LU": "Luxembourg", "LV": "Latvia", "MT": "Malta",
    "NL": "the Netherlands", "PL": "Poland", "PT": "Portugal", "RO": "Romania",
    "SE": "Sweden", "SI": "Slovenia", "SK": "Slovakia", "XI": "Northern Ireland",
    "GB": "the United Kingdom", "MC": "Monaco",
}  # fmt: skip

# ISO 3166/MA keeps EL and UK "exceptionally reserved" for Greece and the United
# Kingdom; accepting them avoids silently treating a Greek customer as non-EU.
_COUNTRY_ALIASES: Mapping[str, str] = {"EL": "GR", "UK": "GB"}

_WHAT_TO_DO = (
    "check the number on its VAT registration certificate, or leave it out (a "
    "customer without one is taxed as a consumer)"
)


def _country_label(country: str) -> str:
    name = _COUNTRY_NAMES.get(country)
    return f"{name} ({country})" if name else country


# --- Countries and territories --------------------------------------------------------


def normalize_country(code: str) -> str:
    """Return an ISO 3166-1 alpha-2 country code in upper case.

    Lower case is accepted; ``EL`` and ``UK`` (reserved by ISO for Greece and the
    United Kingdom) become ``GR`` and ``GB``. Anything else than two letters is refused.

    >>> normalize_country("it")
    'IT'
    >>> normalize_country("EL")
    'GR'
    """
    if not isinstance(code, str):
        raise InvalidInput(
            f"country {code!r} is not a string; pass an ISO 3166-1 alpha-2 code such as 'IT'"
        )
    text = code.strip()
    if len(text) != 2 or not (text.isascii() and text.isalpha()):
        raise InvalidInput(
            f"country {code!r} is not an ISO 3166-1 alpha-2 code; "
            "pass two letters such as 'IT', 'DE' or 'US'"
        )
    upper = _COUNTRY_ALIASES.get(text.upper(), text.upper())
    if upper not in _known_countries():
        raise InvalidInput(
            f"country {code!r} is not an ISO 3166-1 alpha-2 code; check for a typo "
            "(for example 'DE' for Germany, 'GR' for Greece, 'GB' for the United Kingdom)"
        )
    return upper


@functools.lru_cache(maxsize=1)
def _known_countries() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes as Babel's CLDR data knows them, plus ``XI``
    (Northern Ireland, as used for VAT), without CLDR's groupings such as ``EU``."""
    territories = Locale("en").territories
    codes = {
        code for code in territories if isinstance(code, str) and len(code) == 2 and code.isalpha()
    }
    return frozenset(codes - {"EU", "EZ", "QO", "UN", "ZZ"} | {"XI"})


@attrs.frozen(kw_only=True, weakref_slot=False)
class Territory:
    """A part of a member state that is outside the EU VAT area (Article 6 of the VAT
    Directive), or treated as such for electronically supplied services.

    ``codes`` are the ISO 3166-2 codes that name it (empty where ISO has none), ``names``
    the spellings recognised in a customer's region (matched ignoring case, accents and
    punctuation). The canonical region is the first code, or ``name`` when there is none.
    """

    country: str
    name: str
    codes: tuple[str, ...] = ()
    names: tuple[str, ...] = ()

    @property
    def region(self) -> str:
        """The canonical region value that :func:`normalize_location` returns."""
        return self.codes[0] if self.codes else self.name


TERRITORIES_OUTSIDE_EU_VAT: tuple[Territory, ...] = (
    Territory(
        country="ES",
        name="Canary Islands",
        codes=("ES-CN", "ES-GC", "ES-TF"),
        names=("Canary Islands", "Canarias", "Islas Canarias", "Canaries"),
    ),
    Territory(country="ES", name="Ceuta", codes=("ES-CE",), names=("Ceuta",)),
    Territory(country="ES", name="Melilla", codes=("ES-ML",), names=("Melilla",)),
    Territory(
        country="FI",
        name="Åland",
        codes=("FI-01",),
        names=("Åland", "Åland Islands", "Ahvenanmaa", "Ahvenanmaan maakunta"),
    ),
    Territory(
        country="GR",
        name="Mount Athos",
        codes=("GR-69",),
        names=("Mount Athos", "Athos", "Agion Oros", "Agio Oros", "Ayion Oros", "Άγιον Όρος"),
    ),
    Territory(country="IT", name="Livigno", names=("Livigno",)),
    Territory(country="IT", name="Campione d'Italia", names=("Campione d'Italia", "Campione")),
    Territory(
        country="IT",
        name="Italian waters of Lake Lugano",
        names=("Italian waters of Lake Lugano", "Lake Lugano", "Lago di Lugano", "Ceresio"),
    ),
    Territory(
        country="DE",
        name="Büsingen am Hochrhein",
        names=("Büsingen am Hochrhein", "Büsingen", "Buesingen", "Buesingen am Hochrhein"),
    ),
    Territory(country="DE", name="Heligoland", names=("Heligoland", "Helgoland")),
    Territory(country="FR", name="Guadeloupe", codes=("FR-971", "FR-GP"), names=("Guadeloupe",)),
    Territory(country="FR", name="Martinique", codes=("FR-972", "FR-MQ"), names=("Martinique",)),
    Territory(
        country="FR",
        name="French Guiana",
        codes=("FR-973", "FR-GF"),
        names=("French Guiana", "Guyane", "Guyane française"),
    ),
    Territory(
        country="FR", name="Réunion", codes=("FR-974", "FR-RE"), names=("Réunion", "La Réunion")
    ),
    Territory(country="FR", name="Mayotte", codes=("FR-976", "FR-YT"), names=("Mayotte",)),
    Territory(
        country="FR",
        name="Saint-Martin",
        codes=("FR-MF",),
        names=("Saint-Martin", "Saint Martin", "St Martin", "Collectivité de Saint-Martin"),
    ),
)
"""Territories of member states outside the EU VAT area, recognised from a region."""


def _name_key(text: str) -> str:
    """Fold case, accents and punctuation away: ``"Campione d'Italia"`` -> ``"campioneditalia"``."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(
        char for char in decomposed.casefold() if char.isalnum() and not unicodedata.combining(char)
    )


_TERRITORY_BY_NAME: Mapping[str, Territory] = {
    _name_key(name): territory
    for territory in TERRITORIES_OUTSIDE_EU_VAT
    for name in (territory.name, *territory.names)
}
_OUTSIDE_REGIONS: frozenset[tuple[str, str]] = frozenset(
    {(t.country, code) for t in TERRITORIES_OUTSIDE_EU_VAT for code in t.codes}
    | {(t.country, t.name) for t in TERRITORIES_OUTSIDE_EU_VAT}
)
_ISO_REGION = re.compile(r"([A-Z]{2})-([A-Z0-9]{1,3})")
# Monaco is inside the French VAT area (Article 7 of the VAT Directive).
_TAX_COUNTRY: Mapping[str, str] = {"MC": "FR"}


def normalize_location(country: str, region: str | None = None) -> tuple[str, str | None]:
    """Return ``(tax_country, region)`` for a customer's country and optional region.

    The tax country is the ISO code after Monaco becomes France. The region comes back
    in a canonical form: an ISO 3166-2 code in upper case, or, for a territory outside
    the EU VAT area written by name, its ISO code where one exists and its English name
    otherwise. A region of another country raises
    :class:`~subscriptions.errors.UnknownTerritory`; a region that is neither (say
    ``"IT-MI"`` or ``"Lombardia"``) comes back as given, and is not special.

    >>> normalize_location("es", "canarias")
    ('ES', 'ES-CN')
    >>> normalize_location("IT", "Campione d’Italia")
    ('IT', "Campione d'Italia")
    >>> normalize_location("MC")
    ('FR', None)
    >>> normalize_location("it", "it-mi")
    ('IT', 'IT-MI')
    """
    given = normalize_country(country)
    tax_country = _TAX_COUNTRY.get(given, given)
    if region is None:
        return tax_country, None
    if not isinstance(region, str):
        raise InvalidInput(
            f"region {region!r} is not a string; pass an ISO 3166-2 code such as 'ES-CN'"
        )
    text = region.strip()
    if not text:
        return tax_country, None
    iso = _ISO_REGION.fullmatch(text.upper())
    if iso is not None:
        owner = _COUNTRY_ALIASES.get(iso.group(1), iso.group(1))
        if owner not in (given, tax_country):
            raise UnknownTerritory(
                f"region {region!r} is in {_country_label(owner)}, but the customer's country "
                f"is {_country_label(given)}; correct the country or the region"
            )
        return tax_country, text.upper()
    territory = _TERRITORY_BY_NAME.get(_name_key(text))
    if territory is None:
        return tax_country, text
    if territory.country != tax_country:
        raise UnknownTerritory(
            f"{territory.name} is in {_country_label(territory.country)}, but the customer's "
            f"country is {_country_label(given)}; correct the country or the region"
        )
    return tax_country, territory.region


def in_eu_vat_area(country: str, region: str | None = None) -> bool:
    """Whether a customer at this place is inside the EU VAT area.

    >>> in_eu_vat_area("ES"), in_eu_vat_area("ES", "ES-TF"), in_eu_vat_area("MC")
    (True, False, True)
    >>> in_eu_vat_area("CH"), in_eu_vat_area("DE", "Helgoland")
    (False, False)
    """
    tax_country, canonical = normalize_location(country, region)
    return _in_area(tax_country, canonical)


def _in_area(tax_country: str, canonical_region: str | None) -> bool:
    if tax_country not in EU_MEMBER_STATES:
        return False
    return canonical_region is None or (tax_country, canonical_region) not in _OUTSIDE_REGIONS


# --- Rates ----------------------------------------------------------------------------


def _to_rate(value: Decimal | int | str) -> Decimal:
    if isinstance(value, float):
        raise FloatRefused(value, what="VAT rate")
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise InvalidInput(f"VAT rate {value!r} is not a number; pass a Decimal such as '22'")
    try:
        rate = Decimal(value)
    except ArithmeticError:
        raise InvalidInput(
            f"VAT rate {value!r} is not a number; pass a Decimal such as '22'"
        ) from None
    if not rate.is_finite() or not Decimal(0) <= rate <= Decimal(100):
        raise InvalidInput(
            f"VAT rate {value!r} is out of range; a rate is a percentage from 0 to 100, "
            "such as Decimal('22') for 22%"
        )
    return rate


def _check_country_code(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not (isinstance(value, str) and len(value) == 2 and value.isascii() and value.isupper()):
        raise InvalidInput(
            f"{attribute.name} {value!r} is not an upper-case ISO 3166-1 alpha-2 code; "
            "pass two capital letters such as 'DE'"
        )


def _check_plain_date(_: object, attribute: attrs.Attribute[date], value: date) -> None:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise InvalidInput(
            f"{attribute.name} {value!r} is not a date; pass a datetime.date such as "
            "date(2025, 1, 1)"
        )


def _check_source(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(
            "a VAT rate needs a source: name the law or the official announcement it comes from"
        )


def _check_rate_region(instance: VatRate, _: attrs.Attribute[str | None], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise InvalidInput(
            f"region {value!r} of a VAT rate must be a non-empty region code such as 'PT-20'"
        )
    iso = _ISO_REGION.fullmatch(value)
    if iso is not None and iso.group(1) != instance.country:
        raise InvalidInput(
            f"region {value!r} is not in {instance.country}; a regional rate belongs to the "
            "country of its region"
        )


@attrs.frozen(kw_only=True, weakref_slot=False)
class VatRate:
    """The standard VAT rate of a country (or of one of its regions) from a start date.

    A rate stays in force until the next entry for the same country and region.

    >>> VatRate(country="EE", rate=Decimal("24"), effective_from=date(2025, 7, 1),
    ...         source="Estonia: Security Tax Act")
    VatRate(country='EE', rate=Decimal('24'), effective_from=datetime.date(2025, 7, 1), source='Estonia: Security Tax Act', region=None)
    """  # noqa: E501

    country: str = attrs.field(validator=_check_country_code)
    rate: Decimal = attrs.field(converter=_to_rate)
    effective_from: date = attrs.field(validator=_check_plain_date)
    source: str = attrs.field(validator=_check_source)
    region: str | None = attrs.field(default=None, validator=_check_rate_region)


class RateProvider(Protocol):
    """Where :func:`decide_tax` takes its rates: any object with this one method.

    Hosts with their own tax data (a tax engine, a database table) implement it; the
    built-in :data:`EU_VAT_RATES` is one.
    """

    def standard_rate(self, country: str, on: date, *, region: str | None = None) -> Decimal:
        """The standard rate in force in ``country`` (and ``region``) on local date ``on``."""
        ...


_TEDB = "EC, VAT rates in the EU / Taxes in Europe Database (TEDB)"
_START_NOT_VERIFIED = "start date of this rate not verified, table starts at 2024-01-01"


def _rate(country: str, rate: str, start: date, source: str, region: str | None = None) -> VatRate:
    return VatRate(
        country=country,
        rate=Decimal(rate),
        effective_from=start,
        source=f"{source}; {_TEDB}",
        region=region,
    )


EU_STANDARD_RATES: tuple[VatRate, ...] = (
    _rate("AT", "20", date(1984, 1, 1), "Austria: UStG 1994 § 10(1), 20% since 1984"),
    _rate("BE", "21", date(1996, 1, 1), "Belgium: VAT Code art. 37 and Royal Decree No 20"),
    _rate("BG", "20", date(2024, 1, 1), f"Bulgaria: VAT Act (ZDDS) art. 66; {_START_NOT_VERIFIED}"),
    _rate("CY", "19", date(2014, 1, 13), "Cyprus: VAT Law 95(I)/2000, 19% from 2014-01-13"),
    _rate("CZ", "21", date(2013, 1, 1), "Czechia: Act No 235/2004 Coll. § 47, 21% from 2013"),
    _rate(
        "DE",
        "19",
        date(2021, 1, 1),
        "Germany: UStG § 12(1), 19% again from 2021-01-01 after the temporary 16% of "
        "2020-07-01 to 2020-12-31",
    ),
    _rate("DK", "25", date(1992, 1, 1), "Denmark: Momsloven § 33, 25% since 1992"),
    _rate("EE", "22", date(2024, 1, 1), "Estonia: VAT Act § 15(1) as amended in 2023"),
    _rate(
        "EE",
        "24",
        date(2025, 7, 1),
        "Estonia: Security Tax Act (2024), made permanent by the 2025 amendment; "
        "Estonian Tax and Customs Board",
    ),
    _rate(
        "ES",
        "21",
        date(2012, 9, 1),
        "Spain: Ley 37/1992 art. 90 as amended by Real Decreto-ley 20/2012",
    ),
    _rate("FI", "24", date(2013, 1, 1), "Finland: Arvonlisäverolaki 1501/1993 § 84"),
    _rate(
        "FI",
        "25.5",
        date(2024, 9, 1),
        "Finland: amendment of Arvonlisäverolaki § 84; Finnish Tax Administration, "
        "'The general VAT rate is 25.5% as of 1 September 2024'",
    ),
    _rate("FR", "20", date(2014, 1, 1), "France: Code général des impôts art. 278"),
    _rate(
        "GR",
        "24",
        date(2016, 6, 1),
        "Greece: VAT Code art. 21 as amended in May 2016; circular POL 1061/2016",
    ),
    _rate("HR", "25", date(2012, 3, 1), "Croatia: VAT Act (Zakon o PDV-u) art. 38"),
    _rate("HU", "27", date(2012, 1, 1), "Hungary: Act CXXVII of 2007 on VAT § 82(1)"),
    _rate(
        "IE",
        "23",
        date(2021, 3, 1),
        "Ireland: VAT Consolidation Act 2010 s. 46(1)(a), 23% again from 2021-03-01 after "
        "the temporary 21% of 2020-09-01 to 2021-02-28",
    ),
    _rate("IT", "22", date(2013, 10, 1), "Italy: DPR 633/1972 art. 16"),
    _rate("LT", "21", date(2009, 9, 1), "Lithuania: VAT Law No IX-751 art. 19(1)"),
    _rate(
        "LU",
        "17",
        date(2024, 1, 1),
        "Luxembourg: VAT Law of 12 February 1979 art. 39, 17% again from 2024-01-01 after "
        "the temporary 16% of 2023 (Law of 26 October 2022); AED circular 812-1",
    ),
    _rate("LV", "21", date(2012, 7, 1), "Latvia: VAT Law art. 41"),
    _rate("MT", "18", date(2004, 1, 1), "Malta: VAT Act (Cap. 406), 18% since 2004"),
    _rate("NL", "21", date(2012, 10, 1), "Netherlands: Wet OB 1968 art. 9(1)"),
    _rate("PL", "23", date(2011, 1, 1), "Poland: VAT Act of 11 March 2004, 23% since 2011"),
    _rate("PT", "23", date(2011, 1, 1), "Portugal: Código do IVA art. 18(1)(c)"),
    _rate(
        "PT",
        "16",
        date(2021, 7, 1),
        "Portugal, Azores: Regional Legislative Decree 15-A/2021/A (2021 regional budget)",
        region="PT-20",
    ),
    _rate(
        "PT",
        "22",
        date(2012, 4, 1),
        "Portugal, Madeira: Law Proposal 48/XII, 22% from 2012-04-01",
        region="PT-30",
    ),
    _rate("RO", "19", date(2017, 1, 1), "Romania: Fiscal Code (Law 227/2015) art. 291(1)"),
    _rate(
        "RO",
        "21",
        date(2025, 8, 1),
        "Romania: Law 141/2025 (Monitorul Oficial 699 of 2025-07-25) amending Fiscal Code "
        "art. 291(1)",
    ),
    _rate("SE", "25", date(1990, 7, 1), "Sweden: Mervärdesskattelag (2023:200), 25% since 1990"),
    _rate(
        "SI",
        "22",
        date(2013, 7, 1),
        "Slovenia: ZDDV-1 art. 41 as amended (Official Gazette 46/2013)",
    ),
    _rate("SK", "20", date(2011, 1, 1), "Slovakia: Act No 222/2004 Coll. § 27"),
    _rate(
        "SK",
        "23",
        date(2025, 1, 1),
        "Slovakia: amendment of Act No 222/2004 Coll. § 27 (2025 consolidation package, "
        "passed 2024-10-03)",
    ),
)
"""The standard rates of the 27 member states (and of Portugal's autonomous regions
``PT-20`` Azores and ``PT-30`` Madeira), each from the day it took effect.

For each country the first entry is the rate in force on 2024-01-01, dated from when it
took effect (2024-01-01 where that date could not be verified, as its source says); later
entries are every change since, up to the last review (November 2026). Dates before a
country's first entry raise :class:`~subscriptions.errors.NoRateForDate`."""


def _to_rate_tuple(rates: Iterable[VatRate]) -> tuple[VatRate, ...]:
    entries = tuple(rates)
    for entry in entries:
        if not isinstance(entry, VatRate):
            raise InvalidInput(
                f"{entry!r} is not a VatRate; build each entry with VatRate(country=..., "
                "rate=..., effective_from=..., source=...)"
            )
    return entries


_Series = tuple[tuple[date, ...], tuple[Decimal, ...]]


@attrs.frozen(weakref_slot=False)
class DatedRateTable:
    """A :class:`RateProvider` over a sequence of :class:`VatRate` entries.

    The rate on a date is the entry with the latest ``effective_from`` on or before it,
    for that country and region. A region without entries of its own takes its
    country's rate; a region that has entries uses only them. A date before the first
    entry raises :class:`~subscriptions.errors.NoRateForDate`; a country without any
    entry raises :class:`~subscriptions.errors.InvalidInput` (it is missing from the
    table, not from history).

    >>> table = DatedRateTable([
    ...     VatRate(country="PT", rate=Decimal("23"), effective_from=date(2011, 1, 1),
    ...             source="CIVA art. 18"),
    ...     VatRate(country="PT", region="PT-20", rate=Decimal("16"),
    ...             effective_from=date(2021, 7, 1), source="DLR 15-A/2021/A"),
    ... ])
    >>> table.standard_rate("PT", date(2026, 1, 1), region="PT-20")
    Decimal('16')
    >>> table.standard_rate("PT", date(2026, 1, 1), region="PT-11")
    Decimal('23')
    """

    rates: tuple[VatRate, ...] = attrs.field(converter=_to_rate_tuple)
    _index: Mapping[tuple[str, str | None], _Series] = attrs.field(
        init=False, repr=False, eq=False, hash=False
    )

    def __attrs_post_init__(self) -> None:
        grouped: dict[tuple[str, str | None], dict[date, VatRate]] = {}
        for entry in self.rates:
            series = grouped.setdefault((entry.country, entry.region), {})
            clash = series.get(entry.effective_from)
            if clash is not None:
                where = entry.country + (f" ({entry.region})" if entry.region else "")
                raise InvalidInput(
                    f"two VAT rates for {where} from {entry.effective_from.isoformat()} "
                    f"({format_rate(clash.rate)} and {format_rate(entry.rate)}); keep one "
                    "entry per country, region and start date"
                )
            series[entry.effective_from] = entry
        index: dict[tuple[str, str | None], _Series] = {}
        for key, series in grouped.items():
            starts = tuple(sorted(series))
            index[key] = (starts, tuple(series[start].rate for start in starts))
        object.__setattr__(self, "_index", index)

    def standard_rate(self, country: str, on: date, *, region: str | None = None) -> Decimal:
        """The standard rate in force in ``country`` (and ``region``) on local date ``on``."""
        if isinstance(on, datetime) or not isinstance(on, date):
            raise InvalidInput(
                f"{on!r} is not a date; VAT rates are looked up on the local date of the "
                "charge, for example instant.astimezone(zone).date()"
            )
        country = country.upper()
        if region is not None:
            region = region.upper() if _ISO_REGION.fullmatch(region.upper()) else region
            series = self._index.get((country, region))
            if series is not None:
                return _rate_on(series, on, region)
        series = self._index.get((country, None))
        if series is None:
            known = sorted({key[0] for key in self._index})
            raise InvalidInput(
                f"this rate table has no VAT rate for country {country!r}"
                + (f" (it covers {', '.join(known)})" if known else "")
                + "; pass a rate provider that covers it"
            )
        return _rate_on(series, on, country)


def _rate_on(series: _Series, on: date, where: str) -> Decimal:
    starts, rates = series
    position = bisect_right(starts, on) - 1
    if position < 0:
        raise NoRateForDate(where, on)
    return rates[position]


EU_VAT_RATES = DatedRateTable(EU_STANDARD_RATES)
"""The built-in :class:`RateProvider`: :data:`EU_STANDARD_RATES` as a table."""


def format_rate(rate: Decimal) -> str:
    """Write a rate as a plain decimal, without exponent or trailing zeros.

    >>> format_rate(Decimal("22")), format_rate(Decimal("25.50")), format_rate(Decimal("0.00"))
    ('22', '25.5', '0')
    >>> format_rate(Decimal("2E+1"))
    '20'
    """
    if isinstance(rate, float):
        raise FloatRefused(rate, what="VAT rate")
    if isinstance(rate, bool) or not isinstance(rate, Decimal | int):
        raise InvalidInput(f"VAT rate {rate!r} is not a Decimal; pass one such as Decimal('22')")
    value = Decimal(rate)
    if not value.is_finite():
        raise InvalidInput(f"VAT rate {rate!r} is not a finite number")
    # format(..., "f") never uses an exponent and needs no decimal context, unlike
    # normalize(), which also turns Decimal("20") into "2E+1".
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "0") else text


# --- VAT numbers ----------------------------------------------------------------------


def _check_vat_prefix(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in VAT_PREFIXES:
        raise InvalidInput(
            f"{value!r} is not an EU VAT number prefix; use one of "
            f"{', '.join(sorted(VAT_PREFIXES))} (EL for Greece, XI for Northern Ireland)"
        )


def _check_vat_number(instance: VatNumber, _: attrs.Attribute[str], value: str) -> None:
    national = value[len(instance.prefix) :] if isinstance(value, str) else ""
    if (
        not national
        or not value.startswith(instance.prefix)
        or not (national.isascii() and national.isalnum())
        or national != national.upper()
    ):
        raise InvalidInput(
            f"VAT number {value!r} is not in compact form; build it with parse_vat_number(), "
            f"which gives the prefix {instance.prefix!r} followed by upper-case letters and "
            "digits only"
        )
    if VAT_PREFIXES[instance.prefix] != instance.country:
        raise InvalidInput(
            f"prefix {instance.prefix!r} belongs to {VAT_PREFIXES[instance.prefix]}, not to "
            f"{instance.country}; build the number with parse_vat_number()"
        )


@attrs.frozen(kw_only=True, weakref_slot=False)
class VatNumber:
    """A VAT identification number in compact form, such as ``DE136695976``.

    ``country`` is the ISO code it belongs to (``GR`` for ``EL`` numbers, ``XI`` for
    Northern Ireland), ``prefix`` its VAT prefix and ``number`` the compact number with
    its prefix. Build one with :func:`parse_vat_number`, which checks the check digits;
    the constructor only checks the shape.

    >>> number = parse_vat_number("el 094 012 834")
    >>> number
    VatNumber(country='GR', prefix='EL', number='EL094012834')
    >>> str(number), number.national_number
    ('EL094012834', '094012834')
    """

    country: str = attrs.field(validator=_check_country_code)
    prefix: str = attrs.field(validator=_check_vat_prefix)
    number: str = attrs.field(validator=_check_vat_number)

    def __str__(self) -> str:
        return self.number

    @property
    def national_number(self) -> str:
        """The number without its prefix, as VIES asks for it."""
        return self.number[len(self.prefix) :]


def _accepted_prefixes(tax_country: str) -> frozenset[str]:
    """The prefixes of numbers a customer in this (tax) country may hold."""
    if tax_country in EU_MEMBER_STATES:
        return frozenset({"EL" if tax_country == "GR" else tax_country})
    if tax_country in ("GB", "XI"):
        return frozenset({"XI"})
    return frozenset()


def _clean(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).upper()
    return "".join(char for char in folded if char.isalnum())


def _validation_failure(text: str, prefix: str, error: ValidationError) -> InvalidVatNumber:
    owner = _country_label(VAT_PREFIXES[prefix])
    if isinstance(error, InvalidLength):
        reason, problem = "length", f"it has the wrong number of characters for {owner}"
    elif isinstance(error, InvalidChecksum):
        reason, problem = "checksum", "its check digits do not match, so it is probably mistyped"
    elif isinstance(error, InvalidFormat | InvalidComponent):
        reason, problem = "format", f"it is not written the way {owner} numbers are"
    else:
        reason, problem = "format", f"it is not a valid {owner} number"
    return InvalidVatNumber(text, reason=reason, detail=f"{problem}; {_WHAT_TO_DO}")


def _validate(text: str, prefix: str, national: str) -> VatNumber:
    try:
        compact = _stdnum_vat.validate(prefix + national)
    except ValidationError as error:
        raise _validation_failure(text, prefix, error) from error
    return VatNumber(country=VAT_PREFIXES[prefix], prefix=prefix, number=compact)


def _read_without_prefix(
    text: str, cleaned: str, accepted: frozenset[str] | None
) -> VatNumber | None:
    if accepted is None or len(accepted) != 1:
        return None
    (home,) = accepted
    try:
        return _validate(text, home, cleaned)
    except InvalidVatNumber:
        return None


def parse_vat_number(text: str, *, country: str | None = None) -> VatNumber:
    """Read a VAT number in any common spelling and check it offline.

    Spaces, dots, dashes and case do not matter. A number without a letter prefix takes
    the prefix of ``country`` (the customer's country: ``GR`` gives ``EL``, Monaco
    ``FR``); ``GR...`` is read as Greece's ``EL...``. The format and check digits are
    checked with python-stdnum. When ``country`` is given the number must belong to it
    (a Monaco customer may hold a French number, a ``GB`` one an ``XI`` number).

    Raises :class:`~subscriptions.errors.InvalidVatNumber` with ``reason`` ``"format"``,
    ``"length"``, ``"checksum"``, ``"country"`` (another country's number) or
    ``"unsupported"`` (not an EU or Northern Ireland number).

    >>> str(parse_vat_number("DE-136.695.976"))
    'DE136695976'
    >>> str(parse_vat_number("094012834", country="GR"))
    'EL094012834'
    >>> parse_vat_number("DE 136 695 976", country="FR")
    Traceback (most recent call last):
      ...
    subscriptions.errors.InvalidVatNumber: VAT number 'DE 136 695 976' is not valid: it belongs to Germany (DE), but the customer is in France (FR); ask for the customer's VAT number in France (FR), or correct the customer's country
    """  # noqa: E501
    if not isinstance(text, str):
        raise InvalidInput(f"VAT number {text!r} is not a string; pass the number as text")
    customer = normalize_country(country) if country is not None else None
    accepted = _accepted_prefixes(_TAX_COUNTRY.get(customer, customer)) if customer else None
    cleaned = _clean(text)
    if not cleaned:
        raise InvalidVatNumber(
            text,
            reason="format",
            detail="it is empty; enter the customer's VAT number, or pass None to tax the "
            "customer as a consumer",
        )
    lead = cleaned[:2]
    if len(cleaned) > 2 and lead.isascii() and lead.isalpha():
        prefix = "EL" if lead == "GR" else lead
        national = cleaned[2:]
        if prefix not in VAT_PREFIXES or (accepted is not None and prefix not in accepted):
            # A French number may start with two letters of its own ("AB954506077"), even
            # letters that look like another prefix ("HU954506077").
            home = _read_without_prefix(text, cleaned, accepted)
            if home is not None:
                return home
        if prefix not in VAT_PREFIXES:
            raise InvalidVatNumber(
                text,
                reason="unsupported",
                detail=f"{lead!r} is not the prefix of an EU VAT number (only EU member "
                "states' numbers and Northern Ireland's XI numbers are accepted); leave it "
                "empty to be taxed as a consumer",
            )
    else:
        if not accepted or len(accepted) != 1:
            where = f"a customer in {_country_label(customer)}" if customer else "this number"
            raise InvalidVatNumber(
                text,
                reason="unsupported" if customer else "format",
                detail=f"it has no country prefix and none can be inferred for {where}; "
                "write it with its two-letter prefix, such as DE136695976, or leave it empty "
                "to be taxed as a consumer",
            )
        (prefix,) = accepted
        national = cleaned
    if customer is not None and accepted is not None and prefix not in accepted:
        owner = VAT_PREFIXES[prefix]
        raise InvalidVatNumber(
            text,
            reason="country",
            detail=f"it belongs to {_country_label(owner)}, but the customer is in "
            f"{_country_label(customer)}; ask for the customer's VAT number in "
            f"{_country_label(customer)}, or correct the customer's country",
        )
    return _validate(text, prefix, national)


def vat_number_or_none(text: str | None, *, country: str | None) -> VatNumber | None:
    """Like :func:`parse_vat_number`, but an empty or invalid number gives ``None``.

    This is how a number counts when there is no one to ask: an invalid number is no
    number, and the customer is taxed as a consumer. A malformed ``country`` still
    raises, since it is an error in the caller's data, not in the customer's number.

    >>> vat_number_or_none("DE 136 695 977", country="DE") is None
    True
    >>> vat_number_or_none(None, country="DE") is None
    True
    >>> vat_number_or_none("de136695976", country="DE")
    VatNumber(country='DE', prefix='DE', number='DE136695976')
    """
    if country is not None:
        normalize_country(country)
    if text is None or not text.strip():
        return None
    try:
        return parse_vat_number(text, country=country)
    except InvalidVatNumber:
        return None


# --- Place of supply ------------------------------------------------------------------


def _check_decision_rate(
    instance: TaxDecision, _: attrs.Attribute[Decimal], value: Decimal
) -> None:
    if instance.treatment is not TaxTreatment.STANDARD and value != 0:
        raise InvalidInput(
            f"a {instance.treatment.value} decision has rate 0, not {format_rate(value)}"
        )


@attrs.frozen(kw_only=True, weakref_slot=False)
class TaxDecision:
    """What :func:`decide_tax` decided: the treatment, the rate (a percentage), the
    country whose rate or rules apply (``None`` when out of scope) and the legal mention
    the invoice must carry (``None`` for standard VAT)."""

    treatment: TaxTreatment = attrs.field(validator=attrs.validators.instance_of(TaxTreatment))
    rate: Decimal = attrs.field(converter=_to_rate, validator=_check_decision_rate)
    rate_country: str | None
    mention: str | None


def eu_seller_country(country: str) -> str:
    """The EU member state whose VAT a seller in ``country`` charges (Monaco's is
    France's), or :class:`~subscriptions.errors.SellerOutsideEU`: the built-in rules
    are those of an EU seller.

    >>> eu_seller_country("mc")
    'FR'
    """
    seller, _ = normalize_location(country)
    if seller not in EU_MEMBER_STATES:
        raise SellerOutsideEU(normalize_country(country))
    return seller


def decide_tax(
    *,
    seller_country: str,
    customer_country: str,
    customer_region: str | None = None,
    vat_number: VatNumber | None,
    on: date,
    rates: RateProvider = EU_VAT_RATES,
    micro_seller: bool = False,
) -> TaxDecision:
    """Decide how an electronically supplied service by an EU seller is taxed.

    ``vat_number`` is the customer's number, already judged valid by the caller (offline
    with :func:`parse_vat_number`, or online); ``None`` means a consumer. ``on`` is the
    local date of the charge, on which the rate is looked up. ``micro_seller`` is the
    seller policy of Article 59c: under EUR 10,000 of cross-border sales to consumers, a
    seller may charge its home rate. See the module documentation for the rules.

    >>> from datetime import date
    >>> decide_tax(seller_country="IT", customer_country="FR", vat_number=None,
    ...            on=date(2026, 3, 2))
    TaxDecision(treatment=<TaxTreatment.STANDARD: 'standard'>, rate=Decimal('20'), rate_country='FR', mention=None)
    >>> decide_tax(seller_country="IT", customer_country="ES", customer_region="ES-CN",
    ...            vat_number=None, on=date(2026, 3, 2)).treatment
    <TaxTreatment.OUT_OF_SCOPE: 'out_of_scope'>
    """  # noqa: E501
    if isinstance(on, datetime) or not isinstance(on, date):
        raise InvalidInput(
            f"on={on!r} is not a date; pass the local date of the charge, for example "
            "instant.astimezone(zone).date()"
        )
    if vat_number is not None and not isinstance(vat_number, VatNumber):
        raise InvalidInput(
            f"vat_number {vat_number!r} is not a VatNumber; read it with parse_vat_number() "
            "or vat_number_or_none()"
        )
    seller = eu_seller_country(seller_country)
    customer, region = normalize_location(customer_country, customer_region)
    if not _in_area(customer, region):
        return TaxDecision(
            treatment=TaxTreatment.OUT_OF_SCOPE,
            rate=Decimal(0),
            rate_country=None,
            mention=OUT_OF_SCOPE_MENTION,
        )
    if customer == seller:
        return TaxDecision(
            treatment=TaxTreatment.STANDARD,
            rate=rates.standard_rate(seller, on, region=region),
            rate_country=seller,
            mention=None,
        )
    if vat_number is not None and vat_number.prefix != "XI" and vat_number.country == customer:
        return TaxDecision(
            treatment=TaxTreatment.REVERSE_CHARGE,
            rate=Decimal(0),
            rate_country=customer,
            mention=REVERSE_CHARGE_MENTION,
        )
    if micro_seller:
        return TaxDecision(
            treatment=TaxTreatment.STANDARD,
            rate=rates.standard_rate(seller, on),
            rate_country=seller,
            mention=None,
        )
    return TaxDecision(
        treatment=TaxTreatment.STANDARD,
        rate=rates.standard_rate(customer, on, region=region),
        rate_country=customer,
        mention=None,
    )
