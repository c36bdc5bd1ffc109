"""Customer messages: the order confirmation and the notices, in English and Italian."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file
from babel.messages.pofile import read_po

import subscriptions.messages
from subscriptions.errors import FloatRefused, InvalidInput, NaiveDatetime
from subscriptions.messages import (
    DOMAIN,
    Confirmation,
    ConfirmationItem,
    ConfirmationLine,
    ConfirmationTax,
    Message,
    PaymentFailure,
    SubscriptionLapse,
    TrialExpiry,
    VatNumberRejection,
    available_locales,
    render_confirmation,
    render_payment_failed,
    render_subscription_lapsed,
    render_trial_expired,
    render_vat_number_invalid,
)
from subscriptions.periods import Frequency
from subscriptions.vat import OUT_OF_SCOPE_MENTION, REVERSE_CHARGE_MENTION, TaxTreatment

ROME = ZoneInfo("Europe/Rome")
TO = ["billing@rossi.example"]


def rome(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ROME)


def item(
    *,
    product: str = "Remote Support",
    plan: str = "Premium",
    seats: int = 5,
    seats_added: int = 2,
    frequency: Frequency = Frequency.MONTHLY,
    next_billing_at: datetime | None = None,
) -> ConfirmationItem:
    return ConfirmationItem(
        product_name=product,
        plan_name=plan,
        seats=seats,
        seats_added=seats_added,
        frequency=frequency,
        next_billing_at=rome(2026, 12, 26) if next_billing_at is None else next_billing_at,
    )


def confirmation(locale: str = "it_IT", **changes: Any) -> Confirmation:
    """An order: an upgrade of Remote Support (a charge, a credit for the old plan) taxed
    at 22%, plus a new Remote Access subscription reverse charged."""
    base = Confirmation(
        order_id="ORD-42",
        invoice_number="2026/0042",
        account_name="Rossi S.r.l.",
        locale=locale,
        timezone="Europe/Rome",
        currency="EUR",
        placed_at=rome(2026, 11, 26, 9, 30),
        items=(
            item(),
            item(
                product="Remote Access",
                plan="Standard",
                seats=1,
                seats_added=1,
                frequency=Frequency.ANNUAL,
                next_billing_at=rome(2027, 11, 26),
            ),
        ),
        lines=(
            ConfirmationLine(
                kind="charge",
                product_name="Remote Support",
                plan_name="Premium",
                seats=5,
                period_start=rome(2026, 11, 26),
                period_end=rome(2026, 12, 26),
                amount=Decimal("1000.00"),
            ),
            ConfirmationLine(
                kind="credit",
                product_name="Remote Support",
                plan_name="Standard",
                seats=3,
                period_start=rome(2026, 11, 26),
                period_end=rome(2026, 12, 8),
                amount=Decimal("-100.00"),
            ),
            ConfirmationLine(
                kind="charge",
                product_name="Remote Access",
                plan_name="Standard",
                seats=1,
                period_start=rome(2026, 11, 26),
                period_end=rome(2027, 11, 26),
                amount=Decimal("334.56"),
            ),
        ),
        taxes=(
            ConfirmationTax(
                rate=Decimal("22"),
                treatment=TaxTreatment.STANDARD,
                base=Decimal("900.00"),
                amount=Decimal("198.00"),
                mention=None,
            ),
            ConfirmationTax(
                rate=Decimal("0"),
                treatment=TaxTreatment.REVERSE_CHARGE,
                base=Decimal("334.56"),
                amount=Decimal("0.00"),
                mention=REVERSE_CHARGE_MENTION,
            ),
        ),
        subtotal=Decimal("1234.56"),
        total=Decimal("1432.56"),
        credit_applied=Decimal("198.00"),
        amount_charged=Decimal("1234.56"),
    )
    return attrs.evolve(base, **changes)


def no_credit(c: Confirmation) -> Confirmation:
    return attrs.evolve(c, credit_applied=Decimal(0), amount_charged=c.total)


# --- the confirmation, whole -----------------------------------------------------------

ITALIAN = """\
Gentile Rossi S.r.l.,

grazie per il vostro ordine ORD-42, effettuato in data 26 nov 2026.
Fattura: 2026/0042

Il vostro acquisto
- Remote Support, piano Premium: 5 licenze, fatturazione mensile. Prossima data di fatturazione: 26 dic 2026.
- Remote Access, piano Standard: 1 licenza, fatturazione annuale. Prossima data di fatturazione: 26 nov 2027.

Addebiti e accrediti
- Remote Support, piano Premium, 5 licenze, 26 nov 2026 – 26 dic 2026: 1.000,00\xa0€
- Accredito per il periodo non utilizzato: Remote Support, piano Standard, 3 licenze, 26 nov 2026 – 8 dic 2026: -100,00\xa0€
- Remote Access, piano Standard, 1 licenza, 26 nov 2026 – 26 nov 2027: 334,56\xa0€

Subtotale: 1.234,56\xa0€
IVA 22% su 900,00\xa0€: 198,00\xa0€
IVA 0% su 334,56\xa0€: 0,00\xa0€
  Inversione contabile: IVA da assolvere a cura del destinatario, articolo 196 della direttiva 2006/112/CE del Consiglio
Totale: 1.432,56\xa0€
Credito utilizzato: -198,00\xa0€
Importo addebitato: 1.234,56\xa0€

Nuove licenze da assegnare
- Avete aggiunto 2 licenze all'abbonamento Remote Support: assegnatele ai vostri utenti nel centro di fatturazione.
- Avete aggiunto 1 licenza all'abbonamento Remote Access: assegnatela a un utente nel centro di fatturazione.
"""  # noqa: E501

ENGLISH = """\
Hello Rossi S.r.l.,

Thank you for your order ORD-42, placed on Nov 26, 2026.
Invoice: 2026/0042

Your purchase
- Remote Support, Premium plan: 5 seats, monthly billing. Next billing date: Dec 26, 2026.
- Remote Access, Standard plan: 1 seat, annual billing. Next billing date: Nov 26, 2027.

Charges and credits
- Remote Support, Premium plan, 5 seats, Nov 26, 2026 – Dec 26, 2026: €1,000.00
- Credit for unused time: Remote Support, Standard plan, 3 seats, Nov 26, 2026 – Dec 8, 2026: -€100.00
- Remote Access, Standard plan, 1 seat, Nov 26, 2026 – Nov 26, 2027: €334.56

Subtotal: €1,234.56
VAT 22% on €900.00: €198.00
VAT 0% on €334.56: €0.00
  Reverse charge: VAT to be accounted for by the recipient, Article 196 of Council Directive 2006/112/EC
Total: €1,432.56
Credit applied: -€198.00
Amount charged: €1,234.56

New seats to assign
- You added 2 seats to your Remote Support subscription. Assign them to your users in the billing center.
- You added 1 seat to your Remote Access subscription. Assign it to a user in the billing center.
"""  # noqa: E501


def test_italian_confirmation() -> None:
    message = render_confirmation(confirmation("it_IT"), to=TO)
    assert message == Message(
        to=("billing@rossi.example",),
        subject="Conferma dell'ordine ORD-42",
        text=ITALIAN,
        locale="it_IT",
        kind="order_confirmation",
        data=confirmation("it_IT"),
    )


def test_english_confirmation() -> None:
    message = render_confirmation(confirmation("en"), to=TO)
    assert message.subject == "Order ORD-42 confirmed"
    assert message.text == ENGLISH
    assert message.locale == "en"


def test_italian_amounts_and_dates_are_formatted_by_babel() -> None:
    text = render_confirmation(confirmation("it_IT"), to=TO).text
    assert "Importo addebitato: 1.234,56\xa0€\n" in text
    assert "effettuato in data 26 nov 2026." in text


def test_dates_are_local_dates_in_the_confirmation_time_zone() -> None:
    # 23:30 UTC on Nov 25 is already Nov 26 in Rome; in New York it is still Nov 25.
    placed = datetime(2026, 11, 25, 23, 30, tzinfo=UTC)
    in_rome = render_confirmation(confirmation("it_IT", placed_at=placed), to=TO).text
    assert "effettuato in data 26 nov 2026." in in_rome
    in_new_york = confirmation("en_US", placed_at=placed, timezone="America/New_York")
    assert "placed on Nov 25, 2026." in render_confirmation(in_new_york, to=TO).text


def test_locale_variants_format_in_the_variant() -> None:
    british = render_confirmation(confirmation("en_GB"), to=TO)
    assert british.locale == "en_GB"
    assert "placed on 26 Nov 2026." in british.text
    dashed = render_confirmation(confirmation("it-IT"), to=TO)
    assert dashed.locale == "it_IT"
    assert dashed.text == ITALIAN


@pytest.mark.parametrize("locale", ["de_DE", "xx", "zz_ZZ", "not a locale"])
def test_unknown_locale_falls_back_to_english(locale: str) -> None:
    message = render_confirmation(confirmation(locale), to=TO)
    assert message.locale == "en"
    assert message.text == ENGLISH


# --- parts -----------------------------------------------------------------------------


def test_seat_reminder_only_when_seats_were_added() -> None:
    unchanged = confirmation(items=(item(seats_added=0),))
    for locale, heading in (("en", "New seats to assign"), ("it", "Nuove licenze da assegnare")):
        text = render_confirmation(attrs.evolve(unchanged, locale=locale), to=TO).text
        assert heading not in text
        assert "Assign" not in text
        assert "assegna" not in text
    added = render_confirmation(confirmation("en", items=(item(seats_added=3),)), to=TO).text
    assert added.endswith(
        "New seats to assign\n"
        "- You added 3 seats to your Remote Support subscription. "
        "Assign them to your users in the billing center.\n"
    )


@pytest.mark.parametrize(
    ("locale", "seats", "expected"),
    [
        ("en", 0, "0 seats"),
        ("en", 1, "1 seat"),
        ("en", 2, "2 seats"),
        ("en", 1500, "1,500 seats"),
        ("it", 0, "0 licenze"),
        ("it", 1, "1 licenza"),
        ("it", 2, "2 licenze"),
        ("it", 1500, "1.500 licenze"),
        ("it", 1_000_000, "1.000.000 licenze"),
    ],
)
def test_seat_plurals(locale: str, seats: int, expected: str) -> None:
    c = confirmation(locale, items=(item(seats=seats, seats_added=0),))
    text = render_confirmation(c, to=TO).text
    assert f": {expected}, " in text


@pytest.mark.parametrize(
    ("locale", "added", "expected"),
    [
        ("en", 1, "You added 1 seat to your Remote Support subscription. Assign it to a user"),
        ("en", 2, "You added 2 seats to your Remote Support subscription. Assign them to"),
        ("it", 1, "Avete aggiunto 1 licenza all'abbonamento Remote Support: assegnatela a un"),
        ("it", 2, "Avete aggiunto 2 licenze all'abbonamento Remote Support: assegnatele ai"),
    ],
)
def test_seat_reminder_plurals(locale: str, added: int, expected: str) -> None:
    c = confirmation(locale, items=(item(seats=5, seats_added=added),))
    assert f"- {expected}" in render_confirmation(c, to=TO).text


@pytest.mark.parametrize(
    ("frequency", "english", "italian"),
    [
        (Frequency.MONTHLY, "monthly", "mensile"),
        (Frequency.QUARTERLY, "quarterly", "trimestrale"),
        (Frequency.SEMIANNUAL, "semiannual", "semestrale"),
        (Frequency.ANNUAL, "annual", "annuale"),
        (Frequency.BIENNIAL, "biennial", "biennale"),
    ],
)
def test_frequency_names(frequency: Frequency, english: str, italian: str) -> None:
    c = confirmation(items=(item(frequency=frequency),))
    assert (
        f"5 seats, {english} billing."
        in render_confirmation(attrs.evolve(c, locale="en"), to=TO).text
    )
    assert f"5 licenze, fatturazione {italian}." in render_confirmation(c, to=TO).text


def test_no_next_billing_date_when_the_subscription_does_not_renew() -> None:
    c = confirmation("en")
    c = attrs.evolve(c, items=(attrs.evolve(c.items[0], next_billing_at=None),))
    text = render_confirmation(c, to=TO).text
    assert "- Remote Support, Premium plan: 5 seats, monthly billing.\n" in text
    assert "Next billing date" not in text


def test_credit_applied_only_when_positive() -> None:
    for locale, label in (("en", "Credit applied"), ("it", "Credito utilizzato")):
        with_credit = confirmation(locale)
        assert f"{label}: " in render_confirmation(with_credit, to=TO).text
        text = render_confirmation(no_credit(with_credit), to=TO).text
        assert label not in text
    assert (
        "Amount charged: €1,432.56\n"
        in render_confirmation(no_credit(confirmation("en")), to=TO).text
    )


def test_a_negative_total_is_credited_to_the_balance() -> None:
    downgrade = confirmation(
        "it",
        items=(item(seats=3, seats_added=0),),
        lines=(
            ConfirmationLine(
                kind="credit",
                product_name="Remote Support",
                plan_name="Premium",
                seats=5,
                period_start=rome(2026, 11, 26),
                period_end=rome(2026, 12, 26),
                amount=Decimal("-1000.00"),
            ),
        ),
        taxes=(
            ConfirmationTax(
                rate=Decimal("22"),
                treatment=TaxTreatment.STANDARD,
                base=Decimal("-1000.00"),
                amount=Decimal("-220.00"),
                mention=None,
            ),
        ),
        subtotal=Decimal("-1000.00"),
        total=Decimal("-1220.00"),
        credit_applied=Decimal(0),
        amount_charged=Decimal(0),
    )
    text = render_confirmation(downgrade, to=TO).text
    assert "Totale: -1.220,00\xa0€\n" in text
    assert "Credito aggiunto al saldo del vostro account: 1.220,00\xa0€\n" in text
    assert "Importo addebitato" not in text
    assert "Credito utilizzato" not in text


def test_out_of_scope_mention_and_custom_mentions() -> None:
    out_of_scope = ConfirmationTax(
        rate=Decimal(0),
        treatment=TaxTreatment.OUT_OF_SCOPE,
        base=Decimal("334.56"),
        amount=Decimal("0.00"),
        mention=OUT_OF_SCOPE_MENTION,
    )
    c = confirmation("it", taxes=(confirmation().taxes[0], out_of_scope))
    assert (
        "IVA 0% su 334,56\xa0€: 0,00\xa0€\n  Operazione non soggetta a IVA nell'UE: luogo della "
        "prestazione al di fuori del territorio IVA dell'Unione (articoli 44 e 58 della "
        "direttiva 2006/112/CE del Consiglio)\n"
    ) in render_confirmation(c, to=TO).text
    assert (
        f"  {OUT_OF_SCOPE_MENTION}\n"
        in render_confirmation(attrs.evolve(c, locale="en"), to=TO).text
    )
    # A host's own mention cannot be translated: it is shown as given.
    custom = attrs.evolve(out_of_scope, mention="Operazione non soggetta, art. 7-ter DPR 633/1972")
    text = render_confirmation(attrs.evolve(c, taxes=(c.taxes[0], custom)), to=TO).text
    assert "  Operazione non soggetta, art. 7-ter DPR 633/1972\n" in text


def test_reverse_charge_mention_even_without_one_given() -> None:
    c = confirmation("it")
    bare = attrs.evolve(c.taxes[1], mention=None)
    text = render_confirmation(attrs.evolve(c, taxes=(c.taxes[0], bare)), to=TO).text
    assert "  Inversione contabile: IVA da assolvere a cura del destinatario, articolo 196" in text


def test_english_mentions_are_the_vat_module_mentions() -> None:
    text = render_confirmation(confirmation("en"), to=TO).text
    assert f"\n  {REVERSE_CHARGE_MENTION}\n" in text


def test_rates_keep_their_decimals() -> None:
    tax = ConfirmationTax(
        rate=Decimal("25.50"),
        treatment=TaxTreatment.STANDARD,
        base=Decimal("900.00"),
        amount=Decimal("198.00"),
        mention=None,
    )
    c = confirmation(taxes=(tax, confirmation().taxes[1]))
    assert "IVA 25,5% su 900,00\xa0€: 198,00\xa0€" in render_confirmation(c, to=TO).text
    english = render_confirmation(attrs.evolve(c, locale="en"), to=TO).text
    assert "VAT 25.5% on €900.00: €198.00" in english


def test_no_invoice_number_no_invoice_line() -> None:
    text = render_confirmation(confirmation("en", invoice_number=None), to=TO).text
    assert "Invoice" not in text


def test_zero_decimal_currency() -> None:
    c = confirmation(
        "en",
        currency="JPY",
        lines=(attrs.evolve(confirmation().lines[0], amount=Decimal(12000)),),
        taxes=(
            ConfirmationTax(
                rate=Decimal(10),
                treatment=TaxTreatment.STANDARD,
                base=Decimal(12000),
                amount=Decimal(1200),
                mention=None,
            ),
        ),
        subtotal=Decimal(12000),
        total=Decimal(13200),
        credit_applied=Decimal(0),
        amount_charged=Decimal(13200),
    )
    assert "Amount charged: ¥13,200\n" in render_confirmation(c, to=TO).text


# --- the notices -----------------------------------------------------------------------


def failure(locale: str, **changes: Any) -> PaymentFailure:
    base = PaymentFailure(
        account_name="Rossi S.r.l.",
        locale=locale,
        timezone="Europe/Rome",
        product_name="Remote Support",
        currency="EUR",
        amount=Decimal("1234.56"),
        failed_at=rome(2026, 11, 26, 3),
        next_retry_at=rome(2026, 11, 29, 3),
        ends_at=rome(2026, 12, 10),
    )
    return attrs.evolve(base, **changes)


def test_payment_failed() -> None:
    message = render_payment_failed(failure("it_IT"), to=TO)
    assert message.kind == "payment_failed"
    assert message.subject == "Pagamento non riuscito per il vostro abbonamento Remote Support"
    assert message.text == (
        "Gentile Rossi S.r.l.,\n"
        "\n"
        "non è stato possibile addebitare 1.234,56\xa0€ per il vostro abbonamento Remote Support "
        "in data 26 nov 2026.\n"
        "Effettueremo un nuovo tentativo in data 29 nov 2026.\n"
        "Se il pagamento non andrà a buon fine, l'abbonamento terminerà in data 10 dic 2026.\n"
        "Vi invitiamo ad aggiornare il metodo di pagamento nel centro di fatturazione.\n"
    )
    english = render_payment_failed(failure("en", next_retry_at=None, ends_at=None), to=TO)
    assert english.subject == "Payment failed for your Remote Support subscription"
    assert english.text == (
        "Hello Rossi S.r.l.,\n"
        "\n"
        "We could not charge €1,234.56 for your Remote Support subscription on Nov 26, 2026.\n"
        "Please update your payment method in the billing center.\n"
    )


def test_subscription_lapsed() -> None:
    lapse = SubscriptionLapse(
        account_name="Rossi S.r.l.",
        locale="it_IT",
        timezone="Europe/Rome",
        product_name="Remote Support",
        plan_name="Premium",
        ended_at=rome(2026, 12, 10),
    )
    message = render_subscription_lapsed(lapse, to=TO)
    assert message.kind == "subscription_lapsed"
    assert message.subject == "Il vostro abbonamento Remote Support è terminato"
    assert message.text == (
        "Gentile Rossi S.r.l.,\n"
        "\n"
        "il vostro abbonamento Remote Support (piano Premium) è terminato in data 10 dic 2026 "
        "perché non è stato possibile addebitare il rinnovo.\n"
        "Per continuare a usare Remote Support, potete sottoscrivere un nuovo abbonamento nel "
        "centro di fatturazione.\n"
    )
    english = render_subscription_lapsed(attrs.evolve(lapse, locale="en"), to=TO)
    assert english.subject == "Your Remote Support subscription has ended"
    assert "Your Remote Support subscription (Premium plan) ended on Dec 10, 2026 because" in (
        english.text
    )


def test_trial_expired() -> None:
    expiry = TrialExpiry(
        account_name="Rossi S.r.l.",
        locale="en",
        timezone="Europe/Rome",
        product_name="Remote Support",
        expired_at=rome(2026, 11, 26),
    )
    message = render_trial_expired(expiry, to=TO)
    assert message.kind == "trial_expired"
    assert message.subject == "Your Remote Support free trial has expired"
    assert message.text == (
        "Hello Rossi S.r.l.,\n"
        "\n"
        "Your free trial of Remote Support expired on Nov 26, 2026. Nothing has been charged.\n"
        "To keep using Remote Support, subscribe in the billing center.\n"
    )
    italian = render_trial_expired(attrs.evolve(expiry, locale="it"), to=TO)
    assert italian.subject == "La prova gratuita di Remote Support è scaduta"
    assert "Non è stato addebitato alcun importo." in italian.text


# --- validation ------------------------------------------------------------------------


def test_recipients() -> None:
    message = render_trial_expired(
        TrialExpiry(
            account_name="A",
            locale="en",
            timezone="UTC",
            product_name="P",
            expired_at=datetime(2026, 1, 1, tzinfo=UTC),
        ),
        to=["a@example.com", "b@example.com"],
    )
    assert message.to == ("a@example.com", "b@example.com")
    with pytest.raises(InvalidInput, match="list of addresses"):
        render_confirmation(confirmation(), to="billing@rossi.example")
    with pytest.raises(InvalidInput, match="at least one recipient"):
        render_confirmation(confirmation(), to=[])
    with pytest.raises(InvalidInput, match="non-empty address"):
        render_confirmation(confirmation(), to=[""])


def test_amounts_must_add_up() -> None:
    with pytest.raises(InvalidInput, match=r"the lines add up to 1234\.56, not to the subtotal"):
        confirmation(subtotal=Decimal("1234.57"))
    with pytest.raises(InvalidInput, match=r"plus taxes is 1432\.56, not the total"):
        confirmation(total=Decimal("1432.00"), amount_charged=Decimal("1234.00"))
    with pytest.raises(InvalidInput, match="must equal the total"):
        confirmation(amount_charged=Decimal("1000.00"))
    with pytest.raises(InvalidInput, match="must not be negative"):
        confirmation(credit_applied=Decimal("-1.00"), amount_charged=Decimal("1433.56"))
    with pytest.raises(InvalidInput, match="more digits than EUR's minor unit"):
        confirmation(subtotal=Decimal("1234.565"))
    # Trailing zeros are the same amount.
    assert confirmation(subtotal=Decimal("1234.560")).subtotal == Decimal("1234.56")


def test_values_refuse_bad_input() -> None:
    with pytest.raises(NaiveDatetime):
        confirmation(placed_at=datetime(2026, 11, 26))
    with pytest.raises(FloatRefused):
        confirmation(subtotal=1234.56)
    with pytest.raises(InvalidInput, match="unknown time zone"):
        confirmation(timezone="Europe/Atlantis")
    with pytest.raises(InvalidInput):
        confirmation(currency="XYZ")
    with pytest.raises(InvalidInput, match="seats_added 3 exceeds the 2 seats"):
        item(seats=2, seats_added=3)
    with pytest.raises(InvalidInput, match="whole number"):
        item(seats=-1, seats_added=0)
    with pytest.raises(InvalidInput, match="unknown billing frequency"):
        ConfirmationItem(
            product_name="P",
            plan_name="S",
            seats=1,
            seats_added=0,
            frequency="weekly",
            next_billing_at=None,
        )
    line = confirmation().lines[1]
    with pytest.raises(InvalidInput, match="give credits as negative amounts"):
        attrs.evolve(line, amount=Decimal("100.00"))
    with pytest.raises(InvalidInput, match="is negative; use kind='credit'"):
        attrs.evolve(line, kind="charge")
    with pytest.raises(ValueError, match="kind"):
        attrs.evolve(line, kind="refund")
    with pytest.raises(InvalidInput, match="must be after period_start"):
        attrs.evolve(line, period_end=line.period_start)
    with pytest.raises(InvalidInput, match="out of range"):
        attrs.evolve(confirmation().taxes[0], rate=Decimal("122"))
    with pytest.raises(InvalidInput, match="non-empty string"):
        confirmation(locale="")


def test_frequency_names_are_accepted() -> None:
    assert item(frequency="annual").frequency is Frequency.ANNUAL  # type: ignore[arg-type]


def rejection(**changes: Any) -> VatNumberRejection:
    fields: dict[str, Any] = {
        "account_name": "Rossi S.r.l.",
        "locale": "it_IT",
        "timezone": "Europe/Rome",
        "vat_number": "DE136695976",
        "checked_at": rome(2027, 2, 28, 23, 30),
    }
    fields.update(changes)
    return VatNumberRejection(**fields)


def test_vat_number_invalid_in_italian_on_the_local_date() -> None:
    # 23:30 in Rome on 28 February is 1 March in Tokyo: the customer's zone decides.
    message = render_vat_number_invalid(rejection(), to=TO)
    assert message.kind == "vat_number_invalid"
    assert message.subject == "Il vostro numero di partita IVA DE136695976 non è valido"
    assert message.text == (
        "Gentile Rossi S.r.l.,\n\n"
        "in data 28 feb 2027 il registro IVA dell'UE (VIES) ha segnalato che il vostro "
        "numero di partita IVA DE136695976 non è valido.\n"
        "Dalla prossima fattura sarà addebitata l'IVA: l'inversione contabile (reverse "
        "charge) non si applica più.\n"
        "Se il numero è corretto, verificatene la registrazione presso il vostro ufficio "
        "delle imposte, quindi inseritelo di nuovo nel centro di fatturazione.\n"
    )
    tokyo = render_vat_number_invalid(rejection(locale="en", timezone="Asia/Tokyo"), to=TO)
    assert tokyo.subject == "Your VAT number DE136695976 is not valid"
    assert "On Mar 1, 2027 the EU VAT registry (VIES) reported" in tokyo.text
    assert "From your next invoice on, VAT will be charged" in tokyo.text


def test_vat_number_rejection_refuses_bad_fields() -> None:
    with pytest.raises(InvalidInput):
        rejection(vat_number=" ")
    with pytest.raises(InvalidInput):
        rejection(checked_at=datetime(2027, 2, 28))


# --- catalogs --------------------------------------------------------------------------

LOCALE_DIR = resources.files("subscriptions") / "locale"


def read_catalog(*parts: str) -> Catalog:
    with (LOCALE_DIR.joinpath(*parts)).open("rb") as fp:
        return read_po(fp)


def keys(catalog: Catalog) -> set[tuple[str | None, str]]:
    return {(m.context, m.id if isinstance(m.id, str) else m.id[0]) for m in catalog if m.id}


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


def test_available_locales_and_shipped_files() -> None:
    assert available_locales() == ("en", "it")
    for language in available_locales():
        assert (LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po").is_file()
    assert (LOCALE_DIR / f"{DOMAIN}.pot").is_file()


def test_template_is_up_to_date_with_the_source() -> None:
    source = Path(subscriptions.messages.__file__)
    extracted = {
        (context, message if isinstance(message, str) else message[0])
        for _, message, _, context in extract_from_file("python", source, DEFAULT_KEYWORDS)
    }
    assert extracted == keys(read_catalog(f"{DOMAIN}.pot")), (
        "the .pot is stale: run pybabel extract as docs/messages.md says"
    )


@pytest.mark.parametrize("language", ["en", "it"])
def test_catalog_translates_every_template_message(language: str) -> None:
    template = read_catalog(f"{DOMAIN}.pot")
    catalog = read_catalog(language, "LC_MESSAGES", f"{DOMAIN}.po")
    assert catalog.num_plurals == 2
    assert catalog.plural_expr == "(n != 1)"
    assert keys(catalog) == keys(template), "run pybabel update as docs/messages.md says"
    for message in template:
        if not message.id:
            continue
        translated = catalog.get(message.id, context=message.context)
        assert translated is not None
        assert not translated.fuzzy, message.id
        if isinstance(message.id, str):
            assert isinstance(translated.string, str)
            assert translated.string.strip(), f"{language}: {message.id!r} is not translated"
            assert placeholders(translated.string) == placeholders(message.id)
        else:
            assert isinstance(translated.string, tuple | list)
            assert len(translated.string) == catalog.num_plurals
            for form in translated.string:
                assert form.strip(), f"{language}: {message.id!r} lacks a plural form"
                assert placeholders(form) == placeholders(message.id[1])
