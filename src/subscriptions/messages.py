"""Customer messages: the order confirmation and the billing notices, localized.

Each message is rendered from a frozen input value into a :class:`Message` (recipients,
subject, plain-text body) in the customer's locale. The texts come from the gettext
catalogs shipped in ``subscriptions/locale`` (English and Italian), compiled with Babel
in memory the first time a language is used; amounts and dates are formatted by Babel
in the same locale, dates on the customer's local calendar. A locale without a catalog
falls back to its language (``it_IT`` uses ``it``) and then to English.

Rendering is pure: it reads no clock and does no I/O other than reading the package's
own catalog files.

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
from collections.abc import Iterable, Sequence
from datetime import datetime, tzinfo
from decimal import Decimal, localcontext
from functools import cache, lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, assert_never

import attrs
from babel.core import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent

from .errors import InvalidInput
from .money import EXACT, check_currency, exact_sum, format_money, round_amount, to_decimal
from .periods import Frequency, ensure_aware, parse_frequency, zone
from .vat import OUT_OF_SCOPE_MENTION, REVERSE_CHARGE_MENTION, TaxTreatment, format_rate

__all__ = [
    "DEFAULT_LOCALE",
    "DOMAIN",
    "Confirmation",
    "ConfirmationItem",
    "ConfirmationLine",
    "ConfirmationTax",
    "Message",
    "PaymentFailure",
    "SubscriptionLapse",
    "TrialExpiry",
    "VatNumberRejection",
    "available_locales",
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


def _recipients(value: Sequence[str]) -> tuple[str, ...]:
    # A bare string is a Sequence[str] too: "a@b.example" would become one
    # recipient per character.
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidInput(f"to={value!r} must be a list of addresses, such as ['a@b.example']")
    recipients = tuple(value)
    if not recipients:
        raise InvalidInput("a message needs at least one recipient")
    for address in recipients:
        if not isinstance(address, str) or not address.strip():
            raise InvalidInput(f"recipient {address!r} must be a non-empty address")
    return recipients


# --- values ----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Message:
    """A rendered message, ready for a notifier: plain text, no signature.

    ``locale`` is the locale the message is written in: the requested one, or
    :data:`DEFAULT_LOCALE` when there is no catalog for it. ``kind`` names the message
    (``"order_confirmation"``, ``"payment_failed"``, ``"subscription_lapsed"``,
    ``"trial_expired"``).
    """

    to: tuple[str, ...] = attrs.field(converter=_recipients)
    subject: str = attrs.field(validator=_check_text)
    text: str = attrs.field(validator=_check_text)
    locale: str = attrs.field(validator=_check_text)
    kind: str = attrs.field(validator=_check_text)


@attrs.frozen(kw_only=True)
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


@attrs.frozen(kw_only=True)
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


@attrs.frozen(kw_only=True)
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


@attrs.frozen(kw_only=True)
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


@attrs.frozen(kw_only=True)
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


@attrs.frozen(kw_only=True)
class SubscriptionLapse:
    """A subscription that ended, at ``ended_at``, because its renewal went unpaid."""

    account_name: str = attrs.field(validator=_check_text)
    locale: str = attrs.field(validator=_check_text)
    timezone: str = attrs.field(validator=_check_timezone)
    product_name: str = attrs.field(validator=_check_text)
    plan_name: str = attrs.field(validator=_check_text)
    ended_at: datetime = attrs.field(validator=_check_aware)


@attrs.frozen(kw_only=True)
class TrialExpiry:
    """A free trial that ended at ``expired_at`` without being converted."""

    account_name: str = attrs.field(validator=_check_text)
    locale: str = attrs.field(validator=_check_text)
    timezone: str = attrs.field(validator=_check_timezone)
    product_name: str = attrs.field(validator=_check_text)
    expired_at: datetime = attrs.field(validator=_check_aware)


@attrs.frozen(kw_only=True)
class VatNumberRejection:
    """A VAT number that the registry (VIES), checked again at ``checked_at``, no longer
    knows: reverse charge stops and VAT is charged from the next invoice on."""

    account_name: str = attrs.field(validator=_check_text)
    locale: str = attrs.field(validator=_check_text)
    timezone: str = attrs.field(validator=_check_timezone)
    vat_number: str = attrs.field(validator=_check_text)
    checked_at: datetime = attrs.field(validator=_check_aware)


# --- catalogs --------------------------------------------------------------------------


def _locale_dir() -> Traversable:
    return resources.files(__package__ or "subscriptions") / "locale"


@cache
def available_locales() -> tuple[str, ...]:
    """The locales that have a catalog, sorted.

    >>> available_locales()
    ('en', 'it')
    """
    found = [
        entry.name
        for entry in _locale_dir().iterdir()
        if entry.is_dir() and (entry / "LC_MESSAGES" / f"{DOMAIN}.po").is_file()
    ]
    return tuple(sorted(found))


@cache
def _translations(language: str) -> gettext.GNUTranslations:
    # The .po source is the only form shipped: compiling it here, with Babel, means
    # there is no .mo file to forget to rebuild after an edit.
    source = _locale_dir() / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with source.open("rb") as fp:
        catalog = read_po(fp, locale=language, domain=DOMAIN, abort_invalid=True)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


@lru_cache(maxsize=256)
def _resolve(requested: str) -> tuple[str, str]:
    """``(formatting locale, catalog)`` for a requested locale such as ``"it-IT"``.

    Formatting follows the requested locale only when its language has a catalog, so
    that an English fallback text never carries, say, German dates.
    """
    try:
        parsed = Locale.parse(requested.strip().replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return DEFAULT_LOCALE, DEFAULT_LOCALE
    catalogs = available_locales()
    for candidate in (str(parsed), parsed.language):
        if candidate in catalogs:
            return str(parsed), candidate
    return DEFAULT_LOCALE, DEFAULT_LOCALE


@attrs.frozen
class _Writer:
    """Texts and formats in one locale and time zone.

    The method names are gettext's, so that ``pybabel extract`` finds the messages.
    """

    translations: gettext.GNUTranslations
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


def _writer(locale: str, timezone: str) -> _Writer:
    formatting, catalog = _resolve(locale)
    return _Writer(_translations(catalog), formatting, zone(timezone))


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


# --- rendering -------------------------------------------------------------------------


def render_confirmation(confirmation: Confirmation, *, to: Sequence[str]) -> Message:
    """The order confirmation email, in the confirmation's locale.

    It greets the account, lists what was bought (plan, seats, billing frequency, next
    billing date), the charges and credits with their periods, the VAT lines with their
    legal mentions, the totals (the credit applied only when there is one), and, for
    each subscription that gained seats, a reminder to assign them to users.
    """
    c = confirmation
    w = _writer(c.locale, c.timezone)
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
    return Message(
        to=to,
        subject=w.gettext("Order {order_id} confirmed", order_id=c.order_id),
        text=_body(out),
        locale=w.locale,
        kind="order_confirmation",
    )


def render_payment_failed(failure: PaymentFailure, *, to: Sequence[str]) -> Message:
    """The notice that a charge was declined: when it is retried, when the
    subscription would end, and a request to update the payment method."""
    f = failure
    w = _writer(f.locale, f.timezone)
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
    return Message(
        to=to,
        subject=w.gettext("Payment failed for your {product} subscription", product=f.product_name),
        text=_body(out),
        locale=w.locale,
        kind="payment_failed",
    )


def render_subscription_lapsed(lapse: SubscriptionLapse, *, to: Sequence[str]) -> Message:
    """The notice that a subscription ended because its renewal went unpaid."""
    s = lapse
    w = _writer(s.locale, s.timezone)
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
    return Message(
        to=to,
        subject=w.gettext("Your {product} subscription has ended", product=s.product_name),
        text=_body(out),
        locale=w.locale,
        kind="subscription_lapsed",
    )


def render_trial_expired(expiry: TrialExpiry, *, to: Sequence[str]) -> Message:
    """The notice that a free trial expired: nothing was charged, and how to subscribe."""
    t = expiry
    w = _writer(t.locale, t.timezone)
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
    return Message(
        to=to,
        subject=w.gettext("Your {product} free trial has expired", product=t.product_name),
        text=_body(out),
        locale=w.locale,
        kind="trial_expired",
    )


def render_vat_number_invalid(rejection: VatNumberRejection, *, to: Sequence[str]) -> Message:
    """The notice that a VAT number was found invalid when checked again: VAT is
    charged from the next invoice on, and how to restore reverse charge."""
    r = rejection
    w = _writer(r.locale, r.timezone)
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
    return Message(
        to=to,
        subject=w.gettext("Your VAT number {number} is not valid", number=r.vat_number),
        text=_body(out),
        locale=w.locale,
        kind="vat_number_invalid",
    )
