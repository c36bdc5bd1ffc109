"""A host's own words: catalogs of its own searched before the package's, the locale
fallback through them, and the renderer a host writes its own messages with."""

from __future__ import annotations

import io
import shutil
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import attrs
import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from subscriptions.errors import InvalidInput
from subscriptions.messages import (
    DEFAULT_RENDERER,
    KINDS,
    Confirmation,
    ConfirmationItem,
    GettextRenderer,
    Message,
    Notice,
    PaymentFailure,
    TrialExpiry,
    kind_of,
    render_payment_failed,
    render_trial_expired,
)

#: A host's catalogs: a little German, and one English message said its own way.
HOST = Path(__file__).resolve().parents[1] / "fixtures" / "locale"
VIENNA = ZoneInfo("Europe/Vienna")
TO = ["billing@huber.example"]


def expiry(locale: str) -> TrialExpiry:
    return TrialExpiry(
        account_name="Huber GmbH",
        locale=locale,
        timezone="Europe/Vienna",
        product_name="Remote Support",
        expired_at=datetime(2026, 1, 15, 9, tzinfo=VIENNA),
    )


def failure(locale: str) -> PaymentFailure:
    return PaymentFailure(
        account_name="Huber GmbH",
        locale=locale,
        timezone="Europe/Vienna",
        product_name="Remote Support",
        currency="EUR",
        amount=Decimal("1234.56"),
        failed_at=datetime(2026, 1, 15, 9, tzinfo=VIENNA),
        next_retry_at=datetime(2026, 1, 18, 9, tzinfo=VIENNA),
    )


@pytest.fixture(scope="module")
def host() -> GettextRenderer:
    return GettextRenderer([HOST])


def test_a_host_catalog_adds_german(host: GettextRenderer) -> None:
    assert host.locales == ("de", "en", "it")
    message = host.render(expiry("de"), to=TO)
    assert (message.locale, message.kind) == ("de", "trial_expired")
    assert message.subject == "Ihre kostenlose Testphase von Remote Support ist abgelaufen"
    assert message.text == (
        "Guten Tag Huber GmbH,\n\n"
        "Ihre kostenlose Testphase von Remote Support ist am 15.01.2026 abgelaufen. "
        "Es wurde nichts berechnet.\n"
        # The host's catalog lacks this message: English, the default locale's.
        "To keep using Remote Support, subscribe in the billing center.\n"
    )
    assert message.data == expiry("de")


def test_de_at_falls_back_to_de_and_is_formatted_as_in_austria(host: GettextRenderer) -> None:
    austrian, german = host.render(failure("de_AT"), to=TO), host.render(failure("de-DE"), to=TO)
    assert austrian.locale == "de_AT"
    assert german.locale == "de_DE"
    assert (
        austrian.subject
        == german.subject
        == ("Zahlung für Ihr Abonnement Remote Support fehlgeschlagen")
    )
    assert "Wir konnten €\xa01.234,56 für Ihr Abonnement" in austrian.text
    assert "Wir konnten 1.234,56\xa0€ für Ihr Abonnement" in german.text
    assert host.locale_for("de_AT") == "de_AT"


def test_plural_forms_and_contexts_come_from_the_host_catalog(host: GettextRenderer) -> None:
    vienna = datetime(2026, 1, 15, tzinfo=VIENNA)
    items = [
        ConfirmationItem(
            product_name="Remote Support",
            plan_name="Premium",
            seats=seats,
            seats_added=0,
            frequency="monthly",
            next_billing_at=None,
        )
        for seats in (1, 5)
    ]
    confirmation = Confirmation(
        order_id="O-1",
        invoice_number=None,
        account_name="Huber GmbH",
        locale="de_AT",
        timezone="Europe/Vienna",
        currency="EUR",
        placed_at=vienna,
        items=items,
        lines=[],
        taxes=[],
        subtotal=Decimal(0),
        total=Decimal(0),
        credit_applied=Decimal(0),
        amount_charged=Decimal(0),
    )
    text = host.render(confirmation, to=TO).text
    assert "- Remote Support, Tarif Premium: 1 Lizenz, monatliche Abrechnung." in text
    assert "- Remote Support, Tarif Premium: 5 Lizenzen, monatliche Abrechnung." in text


@pytest.mark.parametrize("locale", ["fr_FR", "xx", "not a locale", "zz-ZZ"])
def test_a_locale_without_a_catalog_is_written_in_english(
    host: GettextRenderer, locale: str
) -> None:
    message = host.render(failure(locale), to=TO)
    assert message.locale == "en"
    # The host's English catalog leaves this one to the package's.
    assert message.subject == "Payment failed for your Remote Support subscription"
    assert "We could not charge €1,234.56 for your Remote Support subscription on Jan 15" in (
        message.text
    )


def test_a_host_catalog_overrides_one_english_message(host: GettextRenderer) -> None:
    message = host.render(expiry("en_GB"), to=TO)
    assert message.subject == "Your Remote Support trial is over"
    # The other messages are the package's, and the package's renderer is untouched.
    assert message.text == render_trial_expired(expiry("en_GB"), to=TO).text
    assert render_trial_expired(expiry("en"), to=TO).subject == (
        "Your Remote Support free trial has expired"
    )
    # Italian has no catalog of the host's: the package's, whole.
    assert host.render(expiry("it"), to=TO) == render_trial_expired(expiry("it"), to=TO)


def test_the_first_directory_wins(tmp_path: Path) -> None:
    first = tmp_path / "first"
    _catalog(first, "en", "Your {product} free trial has expired", "{product}: trial over")
    host = GettextRenderer([first, HOST])
    assert host.render(expiry("en"), to=TO).subject == "Remote Support: trial over"
    assert host.locales == ("de", "en", "it")


def test_a_compiled_catalog_is_read_too(tmp_path: Path) -> None:
    source = HOST / "de" / "LC_MESSAGES" / "subscriptions.po"
    with source.open("rb") as fp:
        catalog = read_po(fp, locale="de")
    compiled = tmp_path / "de" / "LC_MESSAGES" / "subscriptions.mo"
    compiled.parent.mkdir(parents=True)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    compiled.write_bytes(buffer.getvalue())
    message = GettextRenderer([tmp_path]).render(expiry("de_AT"), to=TO)
    assert message.subject == "Ihre kostenlose Testphase von Remote Support ist abgelaufen"


def test_another_applications_catalogs_beside_it_are_passed_over(tmp_path: Path) -> None:
    shutil.copytree(HOST, tmp_path, dirs_exist_ok=True)
    (tmp_path / "fr" / "LC_MESSAGES").mkdir(parents=True)
    (tmp_path / "fr" / "LC_MESSAGES" / "myapp.po").write_text('msgid ""\nmsgstr ""\n')
    (tmp_path / "README").write_text("the host's catalogs")
    assert GettextRenderer([tmp_path]).locales == ("de", "en", "it")


def _catalog(folder: Path, locale: str, message: str, translation: str) -> Path:
    path = folder / locale / "LC_MESSAGES" / "subscriptions.po"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'msgid ""\nmsgstr ""\n"Language: {locale}\\n"\n\n'
        f'msgid "{message}"\nmsgstr "{translation}"\n',
        encoding="utf-8",
    )
    return path


def test_bad_catalog_directories_are_refused_when_the_renderer_is_made(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="must be a list of directories"):
        GettextRenderer(str(HOST))  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="is not a directory"):
        GettextRenderer([tmp_path / "missing"])
    with pytest.raises(InvalidInput, match=r"holds no catalog of 'subscriptions'.*de/LC_MESSAGES"):
        GettextRenderer([tmp_path])
    _catalog(tmp_path / "bad-name", "Deutsch", "Hello {name},", "Hallo {name},")
    with pytest.raises(InvalidInput, match="in 'Deutsch', which is not a locale"):
        GettextRenderer([tmp_path / "bad-name"])


@pytest.mark.parametrize(
    ("translation", "error"),
    [
        ("Hallo {nme},", r"uses \{nme\}, which the message does not have; use only \{name\}"),
        ("Hallo {name,", "is not a valid template"),
    ],
)
def test_a_translation_that_would_fail_when_written_is_refused(
    tmp_path: Path, translation: str, error: str
) -> None:
    path = _catalog(tmp_path, "de", "Hello {name},", translation)
    with pytest.raises(InvalidInput, match=error) as raised:
        GettextRenderer([tmp_path])
    assert str(path) in str(raised.value)


def test_a_catalog_that_does_not_parse_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "de" / "LC_MESSAGES" / "subscriptions.po"
    path.parent.mkdir(parents=True)
    path.write_text('garbage\nmsgid "Hello {name},"\nmsgstr "Hallo {name},"\n', encoding="utf-8")
    with pytest.raises(InvalidInput, match="cannot be read"):
        GettextRenderer([tmp_path])


def test_a_translation_may_leave_a_placeholder_out(tmp_path: Path) -> None:
    _catalog(tmp_path, "de", "Hello {name},", "Guten Tag,")
    assert GettextRenderer([tmp_path]).render(expiry("de"), to=TO).text.startswith("Guten Tag,\n")


# --- the records and the package's renderer --------------------------------------------


def test_the_render_functions_are_the_default_renderer() -> None:
    assert render_payment_failed(failure("it"), to=TO) == DEFAULT_RENDERER.render(
        failure("it"), to=TO
    )
    assert repr(GettextRenderer([HOST])) == f"GettextRenderer(catalogs=[{str(HOST)!r}])"


def test_each_record_has_its_kind() -> None:
    assert kind_of(failure("en")) == "payment_failed"
    assert sorted(KINDS.values()) == [
        "order_confirmation",
        "payment_failed",
        "subscription_lapsed",
        "trial_expired",
        "vat_number_invalid",
    ]
    with pytest.raises(InvalidInput, match="cannot write a message from a str"):
        kind_of("hello")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="cannot write a message from a str"):
        DEFAULT_RENDERER.render("hello", to=TO)  # type: ignore[arg-type]


def test_a_notice_is_for_users_and_tells_of_a_record() -> None:
    notice = Notice(to=["bruno", "anna"], data=failure("de_AT"))
    assert (notice.to, notice.kind, notice.locale) == (("bruno", "anna"), "payment_failed", "de_AT")
    with pytest.raises(InvalidInput, match="list of user ids"):
        Notice(to="anna", data=failure("en"))
    with pytest.raises(InvalidInput, match="at least one recipient"):
        Notice(to=[], data=failure("en"))
    with pytest.raises(InvalidInput, match="non-empty user id"):
        Notice(to=[" "], data=failure("en"))
    with pytest.raises(InvalidInput, match="data 'text' must be one of Confirmation"):
        Notice(to=["anna"], data="text")  # type: ignore[arg-type]


def test_a_message_may_carry_html_and_its_record() -> None:
    message = render_payment_failed(failure("en"), to=TO)
    assert message.html is None
    assert message.data == failure("en")
    html = attrs.evolve(message, html="<p>Payment failed</p>")
    assert html.html == "<p>Payment failed</p>"
    with pytest.raises(InvalidInput, match="must be None or a non-empty string"):
        attrs.evolve(message, html="")
    with pytest.raises(InvalidInput, match="must be one of Confirmation"):
        Message(to=TO, subject="s", text="t", locale="en", kind="k", data=42)  # type: ignore[arg-type]
