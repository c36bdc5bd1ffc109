"""A subscription and what its lifecycle is made of: statuses, terms, policies, the
billing context, events and actions.

These are the records the transitions (:mod:`subscriptions.transitions`) take and
return: frozen values, compared by value. The lifecycle's states::

    trialing --(trial end, policy expire)--> expired
    trialing --(subscribe, or trial end with policy convert)--> active
    active --(cancel at term end)--> pending_cancellation --(period end)--> canceled
    pending_cancellation --(reactivate)--> active
    active/pending_cancellation --(cancel immediately)--> canceled
    expired/canceled --(subscribe)--> active
    active --(renewal declined)--> past_due --(paid)--> active
    past_due --(last retry declined, or cancel)--> canceled (at the end of the paid period)

The collection of an unpaid renewal (``past_due``, its retry schedule, recovery and
the lapse) is in :mod:`subscriptions.collection`.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Any

import attrs
from moneyed import Currency, Money

from ._enum import Choice
from ._records import quick_init
from .catalog import Catalog
from .errors import InvalidInput
from .money import Rounding, check_currency, minor_digits, money_currency, quantum
from .periods import Frequency, LocalDays, Period, parse_frequency, zone
from .pricing import Invoice, InvoiceLine, TaxRounding, TaxSetup
from .proration import CreditBasis, DayCount, Granularity, ProrationPolicy
from .seats import seat_count
from .vat import TaxDecision

__all__ = [
    "BILLING",
    "BillingContext",
    "BillingPolicy",
    "Cancel",
    "CancelTiming",
    "Change",
    "ChangeKind",
    "ChangePolicy",
    "ChangeTiming",
    "Dunning",
    "Event",
    "EventKind",
    "Outcome",
    "Reactivate",
    "StartTrial",
    "Status",
    "Subscribe",
    "Subscription",
    "Terms",
    "TrialEnd",
]


class Status(Choice):
    TRIALING = "trialing"
    EXPIRED = "expired"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    PENDING_CANCELLATION = "pending_cancellation"
    CANCELED = "canceled"


#: The statuses of a subscription that bills: it has a paid (or being collected) period
#: running and renews at its end.
BILLING = frozenset({Status.ACTIVE, Status.PAST_DUE, Status.PENDING_CANCELLATION})


class ChangeTiming(Choice):
    REALIGN = "realign"
    KEEP_ANCHOR = "keep_anchor"
    END_OF_TERM = "end_of_term"


class ChangeKind(Choice):
    UPGRADE = "upgrade"
    DOWNGRADE = "downgrade"


class TrialEnd(Choice):
    EXPIRE = "expire"
    CONVERT = "convert"


class CancelTiming(Choice):
    END_OF_TERM = "end_of_term"
    IMMEDIATE = "immediate"


def _currency(value: object) -> str:
    return check_currency(value)


@attrs.frozen(kw_only=True, weakref_slot=False)
class Terms:
    """What a subscription bills: a plan of a product, a seat count, a frequency."""

    product: str
    plan: str
    seats: int = attrs.field(converter=seat_count)
    frequency: Frequency = attrs.field(converter=parse_frequency)


@attrs.frozen(kw_only=True, weakref_slot=False)
class ChangePolicy:
    """When plan changes take effect, per kind of change.

    >>> ChangePolicy(downgrade=ChangeTiming.END_OF_TERM).timing(ChangeKind.DOWNGRADE)
    <ChangeTiming.END_OF_TERM: 'end_of_term'>
    """

    upgrade: ChangeTiming = ChangeTiming.REALIGN
    downgrade: ChangeTiming = ChangeTiming.REALIGN

    @classmethod
    def uniform(cls, timing: ChangeTiming) -> ChangePolicy:
        return cls(upgrade=timing, downgrade=timing)

    def timing(self, kind: ChangeKind) -> ChangeTiming:
        return self.upgrade if kind is ChangeKind.UPGRADE else self.downgrade


@attrs.frozen(kw_only=True, weakref_slot=False)
class BillingPolicy:
    """Every policy choice of the billing rules, each with its default."""

    proration: ProrationPolicy = ProrationPolicy()
    plan_change: ChangePolicy = ChangePolicy()
    trial_end: TrialEnd = TrialEnd.EXPIRE
    prices_include_tax: bool = False
    tax_rounding: TaxRounding = TaxRounding.INVOICE


def _zone(value: object) -> tzinfo:
    return zone(value)  # type: ignore[arg-type]


@attrs.frozen(kw_only=True, weakref_slot=False)
class BillingContext:
    """What the rules need besides the state: catalog, currency, zone, policies, tax.

    ``tax`` is ``None`` when no tax is computed (no seller configured).
    """

    catalog: Catalog
    currency: str = attrs.field(converter=_currency)
    tz: tzinfo = attrs.field(converter=_zone)
    policy: BillingPolicy = BillingPolicy()
    tax: TaxSetup | None = None
    #: The local days of period bounds (see :class:`~subscriptions.periods.LocalDays`):
    #: an explicit cache in the context's zone, the context's own unless one is passed
    #: (a context in another zone is built anew, with a cache of its zone).
    days: LocalDays = attrs.field(
        default=attrs.Factory(lambda self: LocalDays(self.tz), takes_self=True),
        repr=False,
        eq=False,
    )
    #: the py-moneyed currency of ``currency`` (results are built as ``Money``)
    money_currency: Currency = attrs.field(init=False, repr=False, eq=False)
    # Derived once from the policy and currency (immutable): what the plan-change
    # engine's fast paths branch on.
    #: the currency's minor digits
    digits: int = attrs.field(init=False, repr=False, eq=False)
    #: the currency's minor unit, as a ``Decimal`` quantum
    minor_unit: Decimal = attrs.field(init=False, repr=False, eq=False)
    #: the proration rounding, as a ``decimal`` module rounding mode
    decimal_rounding: str = attrs.field(init=False, repr=False, eq=False)
    #: the proration rounding itself
    rounding: Rounding = attrs.field(init=False, repr=False, eq=False)
    #: proration by whole days, counted as they are (``day_actual``) or as 30 a month
    day_actual: bool = attrs.field(init=False, repr=False, eq=False)
    fixed_30: bool = attrs.field(init=False, repr=False, eq=False)
    credits_by_price: bool = attrs.field(init=False, repr=False, eq=False)
    #: tax-exclusive prices with the tax rounded once per invoice
    tax_added_per_invoice: bool = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        if self.days.tz is not self.tz and str(self.days.tz) != str(self.tz):
            raise InvalidInput(
                f"the local-days cache is in {self.days.tz}, the context in {self.tz}; "
                "pass a LocalDays of the context's zone"
            )

    @money_currency.default
    def _money_currency(self) -> Currency:
        return money_currency(self.currency)

    @digits.default
    def _minor_digits(self) -> int:
        return minor_digits(self.currency)

    @minor_unit.default
    def _minor_unit(self) -> Decimal:
        return quantum(self.currency)

    @decimal_rounding.default
    def _rounding_mode(self) -> str:
        return self.policy.proration.rounding.decimal_mode

    @rounding.default
    def _proration_rounding(self) -> Rounding:
        return self.policy.proration.rounding

    @day_actual.default
    def _counts_actual_days(self) -> bool:
        proration = self.policy.proration
        return proration.granularity is Granularity.DAY and proration.day_count is DayCount.ACTUAL

    @fixed_30.default
    def _counts_fixed_30(self) -> bool:
        proration = self.policy.proration
        return proration.granularity is Granularity.DAY and proration.day_count is DayCount.FIXED_30

    @credits_by_price.default
    def _credits_priced(self) -> bool:
        return self.policy.proration.credit is CreditBasis.PRICE

    @tax_added_per_invoice.default
    def _tax_per_invoice(self) -> bool:
        policy = self.policy
        return not policy.prices_include_tax and policy.tax_rounding is TaxRounding.INVOICE

    def offer(self, product: str, plan: str, frequency: Frequency) -> tuple[Decimal, int]:
        """(per-seat price, plan rank) of a plan at ``frequency``, or a clear NotFound."""
        return self.catalog.offer(product, plan, frequency, self.currency)

    def unit_price(self, terms: Terms) -> Decimal:
        """The catalog's per-seat price for ``terms``, or a clear NotFound error."""
        price, _ = self.catalog.offer(terms.product, terms.plan, terms.frequency, self.currency)
        return price

    def check(self, terms: Terms) -> Terms:
        self.unit_price(terms)
        return terms

    def tax_at(self, instant: datetime) -> TaxDecision | None:
        return None if self.tax is None else self.tax.decide_at(instant, self.tz)


@quick_init
@attrs.frozen(kw_only=True, weakref_slot=False)
class Dunning:
    """The collection of a subscription's unpaid renewal invoice.

    ``failed_at`` is where the unpaid period starts: the end of the paid one, where a
    lapse ends the subscription. ``attempts`` counts the declined attempts (0: none
    was declined yet, the invoice is only due again); ``next_retry_at`` is when the
    next attempt is due, ``None`` while one is in flight. See
    :mod:`subscriptions.collection`.
    """

    invoice_id: str
    failed_at: datetime
    attempts: int
    next_retry_at: datetime | None


@quick_init
@attrs.frozen(kw_only=True, weakref_slot=False)
class Subscription:
    """The state of one product's subscription for an account.

    ``open_charges`` are the charge lines of the current period that have not been
    credited: a change or an immediate cancellation credits their unused part.
    ``billing_day`` is the day of the month the anchor bills on when it was chosen
    (calendar billing); ``None`` means the anchor's own day.
    """

    id: str
    terms: Terms
    status: Status
    trial: Period | None = None
    anchor: datetime | None = None
    billing_day: int | None = None
    period_index: int = 0
    period: Period | None = None
    open_charges: tuple[InvoiceLine, ...] = ()
    scheduled: Terms | None = None
    canceled_at: datetime | None = None
    account_id: str | None = None
    dunning: Dunning | None = None
    version: int = 0

    @property
    def product(self) -> str:
        return self.terms.product


class EventKind(Choice):
    TRIAL_STARTED = "trial_started"
    TRIAL_EXPIRED = "trial_expired"
    TRIAL_CONVERTED = "trial_converted"
    SUBSCRIPTION_STARTED = "subscription_started"
    SUBSCRIPTION_CHANGED = "subscription_changed"
    CHANGE_SCHEDULED = "change_scheduled"
    SUBSCRIPTION_RENEWED = "subscription_renewed"
    CANCELLATION_SCHEDULED = "cancellation_scheduled"
    SUBSCRIPTION_CANCELED = "subscription_canceled"
    SUBSCRIPTION_REACTIVATED = "subscription_reactivated"
    SUBSCRIPTION_PAST_DUE = "subscription_past_due"
    SUBSCRIPTION_RECOVERED = "subscription_recovered"
    SUBSCRIPTION_LAPSED = "subscription_lapsed"
    ACCOUNT_OPENED = "account_opened"
    ACCOUNT_UPDATED = "account_updated"
    ORDER_PLACED = "order_placed"
    ORDER_FAILED = "order_failed"
    ORDER_REFUNDED = "order_refunded"
    PAYMENT_FAILED = "payment_failed"
    PAYMENT_SUCCEEDED = "payment_succeeded"
    #: A payment taken twice (or after its invoice was voided) was given back.
    PAYMENT_REFUNDED = "payment_refunded"
    #: The gateway refused a refund: someone must act.
    REFUND_FAILED = "refund_failed"
    #: A payment's outcome stayed unknown past ``Settings.unknown_after``.
    PAYMENT_NEEDS_REVIEW = "payment_needs_review"
    #: The customer's bank disputes a charge (a chargeback): someone must answer it.
    PAYMENT_DISPUTED = "payment_disputed"
    INVOICE_ISSUED = "invoice_issued"
    SEATS_ASSIGNED = "seats_assigned"
    SEATS_UNASSIGNED = "seats_unassigned"
    SEAT_REASSIGNED = "seat_reassigned"
    #: Checked again, the account's VAT number was found not registered: no more
    #: reverse charge.
    VAT_NUMBER_INVALID = "vat_number_invalid"


@quick_init
@attrs.frozen(kw_only=True, weakref_slot=False)
class Event:
    """A state change, as a frozen record with typed fields: each kind fills the ones
    it is about, the others stay empty.

    ========================================  ==========================================
    kind                                      fields
    ========================================  ==========================================
    ``trial_started``                         ``ends_at`` (the trial's end)
    ``cancellation_scheduled``                ``ends_at`` (when it takes effect)
    ``subscription_canceled``                 ``cancel_timing``
    ``subscription_changed``,                 ``change_kind``, ``change_timing``
    ``change_scheduled``
    ``order_placed``                          ``order_id``
    ``order_failed``                          ``order_id``, ``failure_code``
    ``order_refunded``, ``payment_refunded``  ``payment_key`` (the refund's), ``amount``;
                                              a refund made at the gateway outside the
                                              book: the charge's key, and ``note``
    ``refund_failed``                         ``payment_key``, ``note`` (the gateway's)
    ``payment_needs_review``                  ``payment_key``
    ``payment_disputed``                      ``payment_key``, ``amount``,
                                              ``failure_code`` (the dispute's reason)
    ``invoice_issued``, ``payment_succeeded`` ``invoice_number``
    ``payment_failed``                        ``invoice_number``, ``failure_code``
    ``seats_assigned``, ``seats_unassigned``  ``user_ids``; ``order_id`` when an order
                                              released them
    ``seat_reassigned``                       ``user_ids`` (from, to)
    ``account_updated``                       ``note`` (what changed)
    ``vat_number_invalid``                    ``note`` (the VAT number)
    ========================================  ==========================================
    """

    kind: EventKind
    at: datetime
    subscription_id: str | None = None
    product: str | None = None
    order_id: str | None = None
    invoice_number: str | None = None
    #: The idempotency key of the payment attempt it is about.
    payment_key: str | None = None
    amount: Money | None = None
    #: The gateway's decline code, or why the library gave up (``not_charged``...).
    failure_code: str | None = None
    user_ids: tuple[str, ...] = ()
    change_kind: ChangeKind | None = None
    change_timing: ChangeTiming | None = None
    cancel_timing: CancelTiming | None = None
    ends_at: datetime | None = None
    #: Words for people (what an account update changed, a gateway's message);
    #: programs read the typed fields.
    note: str = ""


@quick_init
@attrs.frozen(kw_only=True, weakref_slot=False)
class Outcome:
    """A transition's result: the new state, its invoice (or None) and its events."""

    subscription: Subscription
    invoice: Invoice | None
    events: tuple[Event, ...]


# -- actions -------------------------------------------------------------------------


@attrs.frozen(kw_only=True, weakref_slot=False)
class StartTrial:
    terms: Terms


@attrs.frozen(kw_only=True, weakref_slot=False)
class Subscribe:
    terms: Terms
    billing_day: int | None = None


@attrs.frozen(kw_only=True, weakref_slot=False)
class Change:
    plan: str | None = None
    seats: int | None = None
    frequency: Frequency | None = None
    timing: ChangeTiming | None = None


@attrs.frozen(kw_only=True, weakref_slot=False)
class Cancel:
    timing: CancelTiming = CancelTiming.END_OF_TERM


@attrs.frozen(kw_only=True, weakref_slot=False)
class Reactivate:
    pass


Action = StartTrial | Subscribe | Change | Cancel | Reactivate


def new_event(kind: EventKind, at: datetime, sub: Subscription, **fields: Any) -> Event:
    """An event of ``sub``, with the typed ``fields`` of its kind."""
    return Event(kind=kind, at=at, subscription_id=sub.id, product=sub.product, **fields)
