"""Customer messages: the order confirmation and the billing notices, localized.

Each message is written from a frozen record (a :class:`Confirmation`, a
:class:`PaymentFailure`...: :data:`MessageData`) into a :class:`Message` (recipients,
subject, plain-text body, the record itself) in the customer's locale. The texts come
from gettext catalogs: the package's own, in ``subscriptions/locale`` (English and
Italian), and any the host adds (:class:`GettextRenderer`), searched first, which can
add a language or change a text of one. A catalog is compiled with Babel in memory the
first time it is used; amounts and dates are formatted by Babel in the same locale,
dates on the customer's local calendar. A locale falls back to its language (``de_AT``
uses ``de``) and then to :data:`DEFAULT_LOCALE`, English.

The use cases post a :class:`Notice` (whom to write to, and the record); the Billing
Center writes the message when it delivers it, with its renderer (a
:class:`~subscriptions.ports.Renderer`: this module's :class:`GettextRenderer` unless
the host gives its own, which may add HTML).

Rendering is pure: it reads no clock and does no I/O other than reading the catalog
files.

>>> from datetime import datetime
>>> from zoneinfo import ZoneInfo
>>> expiry = TrialExpiry(
...     account_name="Rossi S.r.l.", locale="it_IT", timezone="Europe/Rome",
...     product_name="Remote Support",
...     expired_at=datetime(2026, 11, 26, tzinfo=ZoneInfo("Europe/Rome")),
... )
>>> message = render_trial_expired(expiry, to=["billing@rossi.example"])
>>> message.subject
'La prova gratuita di Remote Support è scaduta'
>>> print(message.text)
Gentile Rossi S.r.l.,
<BLANKLINE>
la prova gratuita di Remote Support è scaduta in data 26 nov 2026. Non è stato addebitato alcun importo.
Per continuare a usare Remote Support, potete sottoscrivere un abbonamento nel centro di fatturazione.
<BLANKLINE>
"""  # noqa: E501

from __future__ import annotations

import gettext
import io
import os
import re
import string
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, tzinfo
from decimal import Decimal, localcontext
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeAlias, assert_never

import attrs
from babel.core import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.messages.catalog import Catalog as BabelCatalog
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import PoFileError, read_po
from babel.numbers import format_decimal, format_percent

from .errors import InvalidInput
from .money import EXACT, check_currency, exact_sum, format_money, round_amount, to_decimal
from .periods import Frequency, ensure_aware, parse_frequency, zone
from .vat import OUT_OF_SCOPE_MENTION, REVERSE_CHARGE_MENTION, TaxTreatment, format_rate

__all__ = [
    "DEFAULT_LOCALE",
    "DEFAULT_RENDERER",
    "DOMAIN",
    "KINDS",
    "Confirmation",
    "ConfirmationItem",
    "ConfirmationLine",
    "ConfirmationTax",
    "GettextRenderer",
    "Message",
    "MessageData",
    "Notice",
    "PaymentFailure",
    "SubscriptionLapse",
    "TrialExpiry",
    "VatNumberRejection",
    "available_locales",
    "kind_of",
    "render_confirmation",
    "render_payment_failed",
    "render_subscription_lapsed",
    "render_trial_expired",
    "render_vat_number_invalid",
]

#: The gettext domain: catalogs live in ``locale/<language>/LC_MESSAGES/subscriptions.po``.
DOMAIN = "subscriptions"
#: The locale used when the requested one has no catalog.
DEFAULT_LOCALE = "en"


# --- validators ------------------------------------------------------------------------


def _check_text(_: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{attribute.name} {value!r} must be a non-empty string")


def _check_optional_text(_: object, attribute: attrs.Attribute[str | None], value: object) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise InvalidInput(f"{attribute.name} {value!r} must be None or a non-empty string")


def _check_timezone(_: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str):
        raise InvalidInput(f"{attribute.name} {value!r} must be an IANA name such as 'Europe/Rome'")
    zone(value)


def _check_aware(_: object, attribute: attrs.Attribute[datetime], value: object) -> None:
    ensure_aware(value, what=attribute.name, in_range=False)


def _check_optional_aware(
    _: object, attribute: attrs.Attribute[datetime | None], value: object
) -> None:
    if value is not None:
        ensure_aware(value, what=attribute.name, in_range=False)


def _check_count(_: object, attribute: attrs.Attribute[int], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{attribute.name} {value!r} must be a whole number >= 0")


def _check_currency(_: object, attribute: attrs.Attribute[str], value: object) -> None:
    check_currency(value)


def _amount(value: object) -> Decimal:
    return to_decimal(value)


def _rate(value: object) -> Decimal:
    rate = to_decimal(value, what="VAT rate")
    if not Decimal(0) <= rate <= Decimal(100):
        raise InvalidInput(f"VAT rate {rate} is out of range; a rate is a percentage from 0 to 100")
    return rate


def _members(kind: type) -> Any:
    return attrs.validators.deep_iterable(attrs.validators.instance_of(kind))


def _tuple_of_items(value: Iterable[ConfirmationItem]) -> tuple[ConfirmationItem, ...]:
    return tuple(value)


def _tuple_of_lines(value: Iterable[ConfirmationLine]) -> tuple[ConfirmationLine, ...]:
    return tuple(value)


def _tuple_of_taxes(value: Iterable[ConfirmationTax]) -> tuple[ConfirmationTax, ...]:
    return tuple(value)


def _check_rounded(amount: Decimal, currency: str, what: str) -> None:
    if round_amount(amount, currency) != amount:
        raise InvalidInput(
            f"{what} {amount} has more digits than {currency}'s minor unit; "
            "pass the amounts as they were billed"
        )


def _recipient_list(
    value: object, *, of: str, noun: str, nouns: str, example: str
) -> tuple[str, ...]:
    # A bare string is a Sequence[str] too: "a@b.example" would become one
    # recipient per character.
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidInput(f"to={value!r} must be a list of {nouns}, such as [{example!r}]")
    recipients = tuple(value)
    if not recipients:
        raise InvalidInput(f"a {of} needs at least one recipient")
    for recipient in recipients:
        if not isinstance(recipient, str) or not recipient.strip():
            raise InvalidInput(f"recipient {recipient!r} must be a non-empty {noun}")
    return recipients


def _recipients(value: Sequence[str]) -> tuple[str, ...]:
    return _recipient_list(
        value, of="message", noun="address", nouns="addresses", example="a@b.example"
    )


def _users(value: Sequence[str]) -> tuple[str, ...]:
    return _recipient_list(value, of="notice", noun="user id", nouns="user ids", example="anna")


def _check_data(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) not in KINDS:
        raise InvalidInput(
            f"{attribute.name} {value!r} must be one of {', '.join(cls.__name__ for cls in KINDS)}"
        )


def _check_optional_data(
    instance: object, attribute: attrs.Attribute[MessageData | None], value: object
) -> None:
    if value is not None:
        _check_data(instance, attribute, value)


# --- values ----------------------------------------------------------------------------


@attrs.frozen(kw_only=True, weakref_slot=False)
class Message:
    """A written message, ready for a notifier: a subject, a plain-text body, and an HTML
    one when the renderer wrote one.

    ``to`` holds the recipients as the renderer was given them. The Billing Center
    posts a message to the account's billing contacts, which are user ids, and gives
    the notifier their addresses: what the host's ``address_of`` hook returns for each
    (:class:`~subscriptions.center.BillingCenter`), or the user ids themselves when
    there is no hook (a host whose user ids are email addresses needs none).

    ``locale`` is the locale the message is written in: the requested one, or
    :data:`DEFAULT_LOCALE` when there is no catalog for its language. ``kind`` names
    the message (``"order_confirmation"``, ``"payment_failed"``,
    ``"subscription_lapsed"``, ``"trial_expired"``, ``"vat_number_invalid"``), and
    ``data`` holds the record it was written from (a :class:`Confirmation`, a
    :class:`PaymentFailure`...), so that a notifier can lay out a message of its own;
    ``None`` for a message that an earlier version of the library stored written.
    """

    to: tuple[str, ...] = attrs.field(converter=_recipients)
    subject: str = attrs.field(validator=_check_text)
    text: str = attrs.field(validator=_check_text)
    locale: str = attrs.field(validator=_check_text)
    kind: str = attrs.field(validator=_check_text)
    html: str | None = attrs.field(default=None, validator=_check_optional_text)
    data: MessageData | None = attrs.field(default=None, validator=_check_optional_data)


@attrs.frozen(kw_only=True, weakref_slot=False)
class ConfirmationItem:
    """A subscription the order created or changed, as it stands after the order.

    ``seats`` is the seat count after the order; ``seats_added`` the seats the order
    added, which the customer still has to assign to users. ``next_billing_at`` is the
    subscription's next billing date (``None`` when it does not renew).
    """

    product_name: str = attrs.field(validator=_check_text)
    plan_name: str = attrs.field(validator=_check_text)
    seats: int = attrs.field(validator=_check_count)
    seats_added: int = attrs.field(validator=_check_count)
    frequency: Frequency = attrs.field(converter=parse_frequency)
    next_billing_at: datetime | None = attrs.field(validator=_check_optional_aware)

    def __attrs_post_init__(self) -> None:
        if self.seats_added > self.seats:
            raise InvalidInput(
                f"seats_added {self.seats_added} exceeds the {self.seats} seats of "
                f"{self.product_name}; seats is the count after the order"
            )


_LINE_KINDS = ("charge", "credit")


@attrs.frozen(kw_only=True, weakref_slot=False)
class ConfirmationLine:
    """A priced line of the order: a charge (``amount >= 0``) or a credit (``<= 0``)
    for the half-open period ``[period_start, period_end)``."""

    kind: str = attrs.field(validator=attrs.validators.in_(_LINE_KINDS))
    product_name: str = attrs.field(validator=_check_text)
    plan_name: str = attrs.field(validator=_check_text)
    seats: int = attrs.field(validator=_check_count)
    period_start: datetime = attrs.field(validator=_check_aware)
    period_end: datetime = attrs.field(validator=_check_aware)
    amount: Decimal = attrs.field(converter=_amount)

    def __attrs_post_init__(self) -> None:
        if not self.period_start < self.period_end:
            raise InvalidInput(
                f"period_end {self.period_end.isoformat()} must be after period_start "
                f"{self.period_start.isoformat()}"
            )
        if self.kind == "charge" and self.amount < 0:
            raise InvalidInput(f"a charge of {self.amount} is negative; use kind='credit'")
        if self.kind == "credit" and self.amount > 0:
            raise InvalidInput(
                f"a credit of {self.amount} is positive; give credits as negative amounts"
            )


@attrs.frozen(kw_only=True, weakref_slot=False)
class ConfirmationTax:
    """One VAT line of the order: ``rate`` is a percentage (``Decimal("22")``).

    ``mention`` is the legal mention the tax decision carries
    (:data:`~subscriptions.vat.REVERSE_CHARGE_MENTION`...). The library's own mentions
    are translated, and one is always shown for reverse charge and out-of-scope
    supplies; any other mention is shown as given.
    """

    rate: Decimal = attrs.field(converter=_rate)
    treatment: TaxTreatment = attrs.field(validator=attrs.validators.instance_of(TaxTreatment))
    base: Decimal = attrs.field(converter=_amount)
    amount: Decimal = attrs.field(converter=_amount)
    mention: str | None = attrs.field(validator=_check_optional_text)


@attrs.frozen(kw_only=True, weakref_slot=False)
class Confirmation:
    """Everything the order confirmation shows, taken from the placed order.

    The amounts must add up as on the invoice: the lines to ``subtotal``, the subtotal
    and the taxes to ``total``; of a positive total, ``credit_applied`` came from the
    account's credit balance and ``amount_charged`` from the payment method. A negative
    total is credited to the balance, and nothing is applied or charged. An order on a
    purchase order charges nothing: ``due_at`` is when its invoice is due, and
    ``amount_charged`` is then the amount due by that date.
    """

    order_id: str = attrs.field(validator=_check_text)
    invoice_number: str | None = attrs.field(validator=_check_optional_text)
    account_name: str = attrs.field(validator=_check_text)
    locale: str = attrs.field(validator=_check_text)
    timezone: str = attrs.field(validator=_check_timezone)
    currency: str = attrs.field(validator=_check_currency)
    placed_at: datetime = attrs.field(validator=_check_aware)
    items: tuple[ConfirmationItem, ...] = attrs.field(
        converter=_tuple_of_items, validator=_members(ConfirmationItem)
    )
    lines: tuple[ConfirmationLine, ...] = attrs.field(
        converter=_tuple_of_lines, validator=_members(ConfirmationLine)
    )
    taxes: tuple[ConfirmationTax, ...] = attrs.field(
        converter=_tuple_of_taxes, validator=_members(ConfirmationTax)
    )
    subtotal: Decimal = attrs.field(converter=_amount)
    total: Decimal = attrs.field(converter=_amount)
    credit_applied: Decimal = attrs.field(converter=_amount)
    amount_charged: Decimal = attrs.field(converter=_amount)
    due_at: datetime | None = attrs.field(default=None, validator=_check_optional_aware)

    def __attrs_post_init__(self) -> None:
        currency = self.currency
        for line in self.lines:
            _check_rounded(line.amount, currency, "line amount")
        for tax in self.taxes:
            _check_rounded(tax.base, currency, "tax base")
            _check_rounded(tax.amount, currency, "tax amount")
        for name in ("subtotal", "total", "credit_applied", "amount_charged"):
            _check_rounded(getattr(self, name), currency, name)
        lines = exact_sum(line.amount for line in self.lines)
        if EXACT.compare(lines, self.subtotal) != 0:
            raise InvalidInput(f"the lines add up to {lines}, not to the subtotal {self.subtotal}")
        taxed = EXACT.add(self.subtotal, exact_sum(tax.amount for tax in self.taxes))
        if EXACT.compare(taxed, self.total) != 0:
            raise InvalidInput(
                f"subtotal {self.subtotal} plus taxes is {taxed}, not the total {self.total}"
            )
        if self.credit_applied < 0 or self.amount_charged < 0:
            raise InvalidInput(
                "credit_applied and amount_charged must not be negative, got "
                f"{self.credit_applied} and {self.amount_charged}"
            )
        if self.total < 0:
            if self.credit_applied or self.amount_charged:
                raise InvalidInput(
                    f"a negative total {self.total} is credited to the balance; "
                    "credit_applied and amount_charged must be 0"
                )
        elif EXACT.add(self.credit_applied, self.amount_charged) != self.total:
            raise InvalidInput(
                f"credit_applied {self.credit_applied} plus amount_charged "
                f"{self.amount_charged} must equal the total {self.total}"
            )


@attrs.frozen(kw_only=True, weakref_slot=False)
class PaymentFailure:
    """A charge that the payment provider declined.

    ``next_retry_at`` is when it will be tried again (``None``: no more retries);
    ``ends_at`` is when the subscription lapses if it is never paid;
    ``authenticate`` says the bank wants the customer to confirm the payment (3-D
    Secure), which they can only do by paying in the billing center.
    """

    account_name: str = attrs.field(validator=_check_text)
    locale: str = attrs.field(validator=_check_text)
    timezone: str = attrs.field(validator=_check_timezone)
    product_name: str = attrs.field(validator=_check_text)
    currency: str = attrs.field(validator=_check_currency)
    amount: Decimal = attrs.field(converter=_amount)
    failed_at: datetime = attrs.field(validator=_check_aware)
    next_retry_at: datetime | None = attrs.field(default=None, validator=_check_optional_aware)
    ends_at: datetime | None = attrs.field(default=None, validator=_check_optional_aware)
    authenticate: bool = False

    def __attrs_post_init__(self) -> None:
        _check_rounded(self.amount, self.currency, "amount")


@attrs.frozen(kw_only=True, weakref_slot=False)
class SubscriptionLapse:
    """A subscription that ended, at ``ended_at``, because its renewal went unpaid."""

    account_name: str = attrs.field(validator=_check_text)
    locale: str = attrs.field(validator=_check_text)
    timezone: str = attrs.field(validator=_check_timezone)
    product_name: str = attrs.field(validator=_check_text)
    plan_name: str = attrs.field(validator=_check_text)
    ended_at: datetime = attrs.field(validator=_check_aware)


@attrs.frozen(kw_only=True, weakref_slot=False)
class TrialExpiry:
    """A free trial that ended at ``expired_at`` without being converted."""

    account_name: str = attrs.field(validator=_check_text)
    locale: str = attrs.field(validator=_check_text)
    timezone: str = attrs.field(validator=_check_timezone)
    product_name: str = attrs.field(validator=_check_text)
    expired_at: datetime = attrs.field(validator=_check_aware)


@attrs.frozen(kw_only=True, weakref_slot=False)
class VatNumberRejection:
    """A VAT number that the registry (VIES), checked again at ``checked_at``, no longer
    knows: reverse charge stops and VAT is charged from the next invoice on."""

    account_name: str = attrs.field(validator=_check_text)
    locale: str = attrs.field(validator=_check_text)
    timezone: str = attrs.field(validator=_check_timezone)
    vat_number: str = attrs.field(validator=_check_text)
    checked_at: datetime = attrs.field(validator=_check_aware)


#: What a message is written from: one of the records above.
MessageData: TypeAlias = (
    Confirmation | PaymentFailure | SubscriptionLapse | TrialExpiry | VatNumberRejection
)

#: The kind of message each record is written as (:attr:`Message.kind`).
KINDS: Mapping[type, str] = MappingProxyType(
    {
        Confirmation: "order_confirmation",
        PaymentFailure: "payment_failed",
        SubscriptionLapse: "subscription_lapsed",
        TrialExpiry: "trial_expired",
        VatNumberRejection: "vat_number_invalid",
    }
)


def kind_of(data: MessageData) -> str:
    """The kind of message ``data`` is written as.

    >>> from datetime import UTC
    >>> kind_of(TrialExpiry(account_name="Rossi S.r.l.", locale="it", timezone="UTC",
    ...     product_name="App", expired_at=datetime(2026, 1, 1, tzinfo=UTC)))
    'trial_expired'
    """
    kind = KINDS.get(type(data))
    if kind is None:
        raise InvalidInput(
            f"cannot write a message from a {type(data).__name__}; give one of "
            f"{', '.join(cls.__name__ for cls in KINDS)}"
        )
    return kind


@attrs.frozen(kw_only=True, weakref_slot=False)
class Notice:
    """A message before it is written: whom it is for (``to``: user ids, the account's
    billing contacts) and the record it is written from.

    The use cases put notices in the outbox, in the transaction of the change they tell
    of; delivering one (:meth:`BillingCenter.deliver_outbox
    <subscriptions.center.BillingCenter.deliver_outbox>`) resolves the users'
    addresses, writes the :class:`Message` with the Billing Center's renderer and
    hands it to the notifier. A template or an address book that fails then leaves
    the notice waiting, and never undoes the change.
    """

    to: tuple[str, ...] = attrs.field(converter=_users)
    data: MessageData = attrs.field(validator=_check_data)

    @property
    def kind(self) -> str:
        """What the message will be (:attr:`Message.kind`)."""
        return kind_of(self.data)

    @property
    def locale(self) -> str:
        """The locale asked for: the customer's, as the record holds it."""
        return self.data.locale


# --- catalogs --------------------------------------------------------------------------

#: The files a catalog directory may hold for a locale, the first found being read:
#: the ``.po`` source (compiled in memory), or a ``.mo`` compiled from it.
_CATALOG_FILES = (f"{DOMAIN}.po", f"{DOMAIN}.mo")


def _package_catalogs() -> Traversable:
    return resources.files(__package__ or "subscriptions") / "locale"


def _catalog_files(directory: Traversable) -> dict[str, Traversable]:
    """The catalog of each locale in ``directory`` (``<locale>/LC_MESSAGES/
    subscriptions.po``), by the locale's name as Babel writes it (``de_AT``); a
    subdirectory without one of this domain (another application's) is passed over."""
    found: dict[str, Traversable] = {}
    for entry in sorted(directory.iterdir(), key=lambda e: e.name):
        if not entry.is_dir():
            continue
        sources = [entry / "LC_MESSAGES" / name for name in _CATALOG_FILES]
        source = next((candidate for candidate in sources if candidate.is_file()), None)
        if source is None:
            continue
        try:
            name = str(Locale.parse(entry.name.replace("-", "_")))
        except (UnknownLocaleError, ValueError) as exc:
            raise InvalidInput(
                f"catalog {str(source)!r} is in {entry.name!r}, which is not a locale; "
                "name its directory after one, such as 'de' or 'de_AT'"
            ) from exc
        found[name] = source
    return found


def _fields(template: str, where: str) -> set[str]:
    """The placeholders of a ``str.format`` template (``{name}`` gives ``name``)."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise InvalidInput(
            f"{where}: {template!r} is not a valid template ({exc}); write a brace that "
            "is not a placeholder twice, as '{{' or '}}'"
        ) from exc
    return {re.split(r"[.\[]", field)[0] for _, field, _, _ in parsed if field is not None}


def _check_placeholders(catalog: BabelCatalog, where: str) -> None:
    """Refuse a translation that uses a placeholder its message does not have: the
    message would fail when it is written, not when the catalog is read."""
    for message in catalog:
        if not message.id or not message.string or message.fuzzy:
            continue
        ids = (message.id,) if isinstance(message.id, str) else tuple(message.id)
        forms = (message.string,) if isinstance(message.string, str) else message.string
        try:
            allowed = set().union(*(_fields(text, where) for text in ids))
        except InvalidInput:
            continue  # not a message of the library's, whose ids are all templates
        for form in forms:
            unknown = _fields(form, where) - allowed if form else set()
            if unknown:
                used = ", ".join(f"{{{name}}}" for name in sorted(unknown))
                has = ", ".join(f"{{{name}}}" for name in sorted(allowed))
                fix = f"use only {has}" if has else "it has none"
                raise InvalidInput(
                    f"{where}: the translation of {ids[0]!r} uses {used}, which the "
                    f"message does not have; {fix}"
                )


def _compile(source: Traversable, locale: str) -> bytes:
    """The catalog in ``source``, checked and compiled (``.mo`` bytes)."""
    # The package ships only the .po source: compiling it here, with Babel, means there
    # is no .mo file to forget to rebuild after an edit.
    where = f"catalog {str(source)!r}"
    try:
        with source.open("rb") as fp:
            if source.name.endswith(".po"):
                catalog = read_po(fp, locale=locale, domain=DOMAIN, abort_invalid=True)
            else:
                catalog = read_mo(fp)
    except (PoFileError, OSError, ValueError, KeyError) as exc:
        raise InvalidInput(f"{where} cannot be read: {exc}") from exc
    _check_placeholders(catalog, where)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    return buffer.getvalue()


class GettextRenderer:
    """Writes messages with the library's templates, its texts taken from gettext
    catalogs: the renderer of a :class:`~subscriptions.center.BillingCenter` given
    none (see :class:`~subscriptions.ports.Renderer`), and what
    :func:`render_confirmation` and the other ``render_*`` functions call.

    ``catalogs`` are the host's directories of catalogs, laid out as the package's
    (``<directory>/<locale>/LC_MESSAGES/subscriptions.po``, or a ``.mo`` compiled
    from it), searched in order before the package's own. A host adds a language
    with a catalog of its own, and changes a text of a language the package has with
    a catalog holding just that message: a text that one catalog lacks comes from the
    next, through the locale asked for (``de_AT``), its language (``de``), then
    :data:`DEFAULT_LOCALE`.

    >>> renderer = GettextRenderer()
    >>> renderer.locales
    ('en', 'it')
    >>> renderer.locale_for("it-CH"), renderer.locale_for("de_AT")
    ('it_CH', 'en')

    The host's catalogs are read when the renderer is made, and refused then
    (:class:`~subscriptions.errors.InvalidInput`): a directory that is missing or
    holds no catalog, a catalog that does not parse, a translation that uses a
    placeholder its message does not have. The package's are read on first use.
    Both are kept, compiled, for the life of the renderer.
    """

    def __init__(self, catalogs: Iterable[str | os.PathLike[str]] = ()) -> None:
        if isinstance(catalogs, str | os.PathLike):
            raise InvalidInput(
                f"catalogs={str(catalogs)!r} must be a list of directories, such as ['locale']"
            )
        self.catalogs: tuple[Path, ...] = tuple(Path(directory) for directory in catalogs)
        self._host = tuple(self._read(directory) for directory in self.catalogs)
        self._package: dict[str, Traversable] | None = None
        self._compiled: dict[str, bytes] = {}
        self._chains: dict[tuple[str, ...], gettext.NullTranslations] = {}
        self._resolved: dict[str, tuple[str, tuple[str, ...]]] = {}

    def __repr__(self) -> str:
        return f"GettextRenderer(catalogs={[str(d) for d in self.catalogs]!r})"

    @staticmethod
    def _read(directory: Path) -> dict[str, bytes]:
        if not directory.is_dir():
            raise InvalidInput(
                f"catalog directory {str(directory)!r} is not a directory; give one laid "
                f"out as <directory>/<locale>/LC_MESSAGES/{DOMAIN}.po"
            )
        files = _catalog_files(directory)
        if not files:
            raise InvalidInput(
                f"catalog directory {str(directory)!r} holds no catalog of {DOMAIN!r}: "
                f"a German one is {str(directory / 'de' / 'LC_MESSAGES' / (DOMAIN + '.po'))!r}"
            )
        return {locale: _compile(source, locale) for locale, source in files.items()}

    def _package_files(self) -> dict[str, Traversable]:
        if self._package is None:
            self._package = _catalog_files(_package_catalogs())
        return self._package

    @property
    def locales(self) -> tuple[str, ...]:
        """The locales that have a catalog, the host's or the package's, sorted."""
        found = set(self._package_files())
        for host in self._host:
            found.update(host)
        return tuple(sorted(found))

    def locale_for(self, requested: str) -> str:
        """The locale a message asked for in ``requested`` is written in
        (:attr:`Message.locale`): the requested one when it or its language has a
        catalog, else :data:`DEFAULT_LOCALE`."""
        locale, _ = self._resolve(requested)
        return locale

    def render(self, data: MessageData, *, to: Sequence[str]) -> Message:
        """The message written from ``data``, in its locale and time zone, to ``to``."""
        kind = kind_of(data)
        w = self._writer(data.locale, data.timezone)
        subject, text = _TEMPLATES[type(data)](w, data)
        return Message(to=to, subject=subject, text=text, locale=w.locale, kind=kind, data=data)

    def _writer(self, locale: str, timezone: str) -> _Writer:
        formatting, languages = self._resolve(locale)
        return _Writer(self._translations(languages), formatting, zone(timezone))

    def _resolve(self, requested: str) -> tuple[str, tuple[str, ...]]:
        """``(formatting locale, the locales of the catalogs searched, in order)``
        for a requested locale such as ``"de-AT"``.

        Formatting follows the requested locale only when it or its language has a
        catalog, so that an English fallback text never carries, say, German dates.
        """
        known = self._resolved.get(requested)
        if known is not None:
            return known
        if len(self._resolved) >= 256:  # accounts' locales: a handful, but bounded
            self._resolved.clear()
        resolved: tuple[str, tuple[str, ...]] = (DEFAULT_LOCALE, (DEFAULT_LOCALE,))
        try:
            parsed = Locale.parse(requested.strip().replace("-", "_"))
        except (UnknownLocaleError, ValueError, TypeError):
            parsed = None
        if parsed is not None:
            locales = self.locales
            found = [name for name in (str(parsed), parsed.language) if name in locales]
            if found:
                resolved = (str(parsed), tuple(dict.fromkeys([*found, DEFAULT_LOCALE])))
        self._resolved[requested] = resolved
        return resolved

    def _translations(self, locales: tuple[str, ...]) -> gettext.NullTranslations:
        """One chain of translations over every catalog of ``locales``, in order (each
        chain its own objects: a fallback, once added, is shared by whoever holds it)."""
        chain = self._chains.get(locales)
        if chain is None:
            chain = gettext.NullTranslations()
            first = True
            for compiled in self._sources(locales):
                translations = gettext.GNUTranslations(io.BytesIO(compiled))
                if first:
                    chain, first = translations, False
                else:
                    chain.add_fallback(translations)
            self._chains[locales] = chain
        return chain

    def _sources(self, locales: tuple[str, ...]) -> Iterator[bytes]:
        package = self._package_files()
        for locale in locales:
            yield from (host[locale] for host in self._host if locale in host)
            if locale in package:
                compiled = self._compiled.get(locale)
                if compiled is None:
                    compiled = self._compiled[locale] = _compile(package[locale], locale)
                yield compiled


def available_locales() -> tuple[str, ...]:
    """The locales the package has a catalog for, sorted.

    >>> available_locales()
    ('en', 'it')
    """
    return DEFAULT_RENDERER.locales


@attrs.frozen(weakref_slot=False)
class _Writer:
    """Texts and formats in one locale and time zone.

    The method names are gettext's, so that ``pybabel extract`` finds the messages.
    """

    translations: gettext.NullTranslations
    locale: str
    tz: tzinfo

    def gettext(self, message: str, /, **values: str) -> str:
        return self.translations.gettext(message).format(**values)

    def ngettext(self, singular: str, plural: str, n: int, /, **values: str) -> str:
        return self.translations.ngettext(singular, plural, n).format(**values)

    def pgettext(self, context: str, message: str, /) -> str:
        return self.translations.pgettext(context, message)

    def date(self, instant: datetime) -> str:
        local = instant.astimezone(self.tz).date()
        return str(format_date(local, format="medium", locale=self.locale))

    def money(self, amount: Decimal, currency: str) -> str:
        return format_money(amount, currency, self.locale)

    def number(self, n: int) -> str:
        # Babel computes in the thread's decimal context: give it ours, not the host's.
        with localcontext(EXACT):
            return str(format_decimal(n, locale=self.locale))

    def rate(self, rate: Decimal) -> str:
        # As written in the rate table: 25.5% stays 25.5%, not 26%.
        fraction = Decimal(format_rate(rate)).scaleb(-2, EXACT)
        with localcontext(EXACT):
            return str(format_percent(fraction, locale=self.locale, decimal_quantization=False))


def _greeting(w: _Writer, name: str) -> str:
    # TRANSLATORS: {name} is the customer's account name, often a company.
    return w.gettext("Hello {name},", name=name)


def _seats(w: _Writer, seats: int) -> str:
    return w.ngettext("{count} seat", "{count} seats", seats, count=w.number(seats))


def _frequency(w: _Writer, frequency: Frequency) -> str:
    match frequency:
        case Frequency.MONTHLY:
            return w.pgettext("billing frequency", "monthly")
        case Frequency.QUARTERLY:
            return w.pgettext("billing frequency", "quarterly")
        case Frequency.SEMIANNUAL:
            return w.pgettext("billing frequency", "semiannual")
        case Frequency.ANNUAL:
            return w.pgettext("billing frequency", "annual")
        case Frequency.BIENNIAL:
            return w.pgettext("billing frequency", "biennial")
        case _:  # pragma: no cover - every member is handled above
            assert_never(frequency)


def _mention(w: _Writer, tax: ConfirmationTax) -> str | None:
    if tax.treatment is TaxTreatment.REVERSE_CHARGE and tax.mention in (
        None,
        REVERSE_CHARGE_MENTION,
    ):
        # TRANSLATORS: the legal reverse-charge mention (Article 226(11a) of the VAT
        # Directive asks for the words "Reverse charge" in the official language).
        return w.gettext(
            "Reverse charge: VAT to be accounted for by the recipient, "
            "Article 196 of Council Directive 2006/112/EC"
        )
    if tax.treatment is TaxTreatment.OUT_OF_SCOPE and tax.mention in (
        None,
        OUT_OF_SCOPE_MENTION,
    ):
        return w.gettext(
            "Not subject to EU VAT: place of supply outside the EU VAT area "
            "(Articles 44 and 58 of Council Directive 2006/112/EC)"
        )
    return tax.mention


def _item(w: _Writer, item: ConfirmationItem) -> str:
    # TRANSLATORS: {seats} is a seat count ("5 seats"), {frequency} a billing
    # frequency ("monthly", context "billing frequency").
    text = w.gettext(
        "{product}, {plan} plan: {seats}, {frequency} billing.",
        product=item.product_name,
        plan=item.plan_name,
        seats=_seats(w, item.seats),
        frequency=_frequency(w, item.frequency),
    )
    if item.next_billing_at is not None:
        text += " " + w.gettext("Next billing date: {date}.", date=w.date(item.next_billing_at))
    return text


def _line(w: _Writer, line: ConfirmationLine, currency: str) -> str:
    values = {
        "product": line.product_name,
        "plan": line.plan_name,
        "seats": _seats(w, line.seats),
        "start": w.date(line.period_start),
        "end": w.date(line.period_end),
        "amount": w.money(line.amount, currency),
    }
    if line.kind == "credit":
        return w.gettext(
            "Credit for unused time: {product}, {plan} plan, {seats}, {start} – {end}: {amount}",
            **values,
        )
    return w.gettext("{product}, {plan} plan, {seats}, {start} – {end}: {amount}", **values)


def _seat_reminder(w: _Writer, item: ConfirmationItem) -> str:
    return w.ngettext(
        "You added {count} seat to your {product} subscription. "
        "Assign it to a user in the billing center.",
        "You added {count} seats to your {product} subscription. "
        "Assign them to your users in the billing center.",
        item.seats_added,
        count=w.number(item.seats_added),
        product=item.product_name,
    )


def _body(lines: Iterable[str]) -> str:
    return "\n".join(lines) + "\n"


# --- templates -------------------------------------------------------------------------


def _confirmation(w: _Writer, c: Confirmation) -> tuple[str, str]:
    out = [
        _greeting(w, c.account_name),
        "",
        w.gettext(
            "Thank you for your order {order_id}, placed on {date}.",
            order_id=c.order_id,
            date=w.date(c.placed_at),
        ),
    ]
    if c.invoice_number is not None:
        out.append(w.gettext("Invoice: {number}", number=c.invoice_number))
    if c.items:
        out += ["", w.gettext("Your purchase")]
        out += [f"- {_item(w, item)}" for item in c.items]
    if c.lines:
        out += ["", w.gettext("Charges and credits")]
        out += [f"- {_line(w, line, c.currency)}" for line in c.lines]
    out += ["", w.gettext("Subtotal: {amount}", amount=w.money(c.subtotal, c.currency))]
    for tax in c.taxes:
        out.append(
            w.gettext(
                "VAT {rate} on {base}: {amount}",
                rate=w.rate(tax.rate),
                base=w.money(tax.base, c.currency),
                amount=w.money(tax.amount, c.currency),
            )
        )
        mention = _mention(w, tax)
        if mention is not None:
            out.append(f"  {mention}")
    out.append(w.gettext("Total: {amount}", amount=w.money(c.total, c.currency)))
    if c.credit_applied > 0:
        out.append(
            w.gettext("Credit applied: {amount}", amount=w.money(-c.credit_applied, c.currency))
        )
    if c.total < 0:
        out.append(
            w.gettext(
                "Credit added to your account balance: {amount}",
                amount=w.money(-c.total, c.currency),
            )
        )
    elif c.due_at is not None:
        out.append(
            w.gettext(
                "Amount due by {date}: {amount}",
                date=w.date(c.due_at),
                amount=w.money(c.amount_charged, c.currency),
            )
        )
    else:
        out.append(
            w.gettext("Amount charged: {amount}", amount=w.money(c.amount_charged, c.currency))
        )
    added = [item for item in c.items if item.seats_added > 0]
    if added:
        out += ["", w.gettext("New seats to assign")]
        out += [f"- {_seat_reminder(w, item)}" for item in added]
    return w.gettext("Order {order_id} confirmed", order_id=c.order_id), _body(out)


def _payment_failed(w: _Writer, f: PaymentFailure) -> tuple[str, str]:
    out = [
        _greeting(w, f.account_name),
        "",
        w.gettext(
            "We could not charge {amount} for your {product} subscription on {date}.",
            amount=w.money(f.amount, f.currency),
            product=f.product_name,
            date=w.date(f.failed_at),
        ),
    ]
    if f.next_retry_at is not None:
        out.append(w.gettext("We will try again on {date}.", date=w.date(f.next_retry_at)))
    if f.ends_at is not None:
        out.append(
            w.gettext(
                "If the payment cannot be collected, your subscription will end on {date}.",
                date=w.date(f.ends_at),
            )
        )
    if f.authenticate:
        out.append(
            w.gettext(
                "Your bank asks you to confirm this payment: please pay the invoice in the "
                "billing center, where you can confirm it."
            )
        )
    else:
        out.append(w.gettext("Please update your payment method in the billing center."))
    subject = w.gettext("Payment failed for your {product} subscription", product=f.product_name)
    return subject, _body(out)


def _subscription_lapsed(w: _Writer, s: SubscriptionLapse) -> tuple[str, str]:
    out = [
        _greeting(w, s.account_name),
        "",
        w.gettext(
            "Your {product} subscription ({plan} plan) ended on {date} because its renewal "
            "could not be charged.",
            product=s.product_name,
            plan=s.plan_name,
            date=w.date(s.ended_at),
        ),
        w.gettext(
            "To keep using {product}, subscribe again in the billing center.",
            product=s.product_name,
        ),
    ]
    return w.gettext("Your {product} subscription has ended", product=s.product_name), _body(out)


def _trial_expired(w: _Writer, t: TrialExpiry) -> tuple[str, str]:
    out = [
        _greeting(w, t.account_name),
        "",
        w.gettext(
            "Your free trial of {product} expired on {date}. Nothing has been charged.",
            product=t.product_name,
            date=w.date(t.expired_at),
        ),
        w.gettext(
            "To keep using {product}, subscribe in the billing center.",
            product=t.product_name,
        ),
    ]
    return w.gettext("Your {product} free trial has expired", product=t.product_name), _body(out)


def _vat_number_invalid(w: _Writer, r: VatNumberRejection) -> tuple[str, str]:
    out = [
        _greeting(w, r.account_name),
        "",
        w.gettext(
            "On {date} the EU VAT registry (VIES) reported that your VAT number {number} "
            "is not valid.",
            date=w.date(r.checked_at),
            number=r.vat_number,
        ),
        w.gettext(
            "From your next invoice on, VAT will be charged: the reverse charge no longer applies."
        ),
        w.gettext(
            "If the number is correct, please check its registration with your tax "
            "office, then enter it again in the billing center."
        ),
    ]
    return w.gettext("Your VAT number {number} is not valid", number=r.vat_number), _body(out)


#: The template of each record: its subject and text, in the writer's locale.
_TEMPLATES: Mapping[type, Callable[[_Writer, Any], tuple[str, str]]] = MappingProxyType(
    {
        Confirmation: _confirmation,
        PaymentFailure: _payment_failed,
        SubscriptionLapse: _subscription_lapsed,
        TrialExpiry: _trial_expired,
        VatNumberRejection: _vat_number_invalid,
    }
)

#: The renderer of the package's own catalogs, shared: the one a Billing Center given
#: none uses, and the ``render_*`` functions'.
DEFAULT_RENDERER = GettextRenderer()


# --- rendering -------------------------------------------------------------------------


def render_confirmation(confirmation: Confirmation, *, to: Sequence[str]) -> Message:
    """The order confirmation email, in the confirmation's locale.

    It greets the account, lists what was bought (plan, seats, billing frequency, next
    billing date), the charges and credits with their periods, the VAT lines with their
    legal mentions, the totals (the credit applied only when there is one), and, for
    each subscription that gained seats, a reminder to assign them to users.
    """
    return DEFAULT_RENDERER.render(confirmation, to=to)


def render_payment_failed(failure: PaymentFailure, *, to: Sequence[str]) -> Message:
    """The notice that a charge was declined: when it is retried, when the
    subscription would end, and a request to update the payment method."""
    return DEFAULT_RENDERER.render(failure, to=to)


def render_subscription_lapsed(lapse: SubscriptionLapse, *, to: Sequence[str]) -> Message:
    """The notice that a subscription ended because its renewal went unpaid."""
    return DEFAULT_RENDERER.render(lapse, to=to)


def render_trial_expired(expiry: TrialExpiry, *, to: Sequence[str]) -> Message:
    """The notice that a free trial expired: nothing was charged, and how to subscribe."""
    return DEFAULT_RENDERER.render(expiry, to=to)


def render_vat_number_invalid(rejection: VatNumberRejection, *, to: Sequence[str]) -> Message:
    """The notice that a VAT number was found invalid when checked again: VAT is
    charged from the next invoice on, and how to restore reverse charge."""
    return DEFAULT_RENDERER.render(rejection, to=to)
