"""The Billing Center: the use cases a vendor's application calls.

:class:`BillingCenter` is the service shell of DESIGN.md section 2: each use case
loads state through a unit of work, calls the pure core, charges through the payment
gateway, persists, and publishes events and messages, all inside transactions that
roll back unless committed. The host picks the adapters and passes them in.

Every use case takes the acting user. Only an account's billing contacts may convert,
change, cancel, pay or manage seats; corporate accounts get quotes but are refused
self-service orders (their orders are placed by the vendor's staff on purchase-order
terms and confirmed by the customer).

Placing an order is idempotent and crash-aware: the order is recorded ``pending``
before the gateway is called, the gateway receives a key derived from the order, and
an order whose outcome is unknown is resolved by :meth:`BillingCenter.reconcile`,
which asks the gateway, then completes the order or refunds the charge.
"""

from __future__ import annotations

import functools
import itertools
import os
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal, localcontext
from typing import ParamSpec, TypeVar

import attrs
from moneyed import Money

from ._enum import Choice
from .accounts import (
    Account,
    AccountKind,
    Address,
    VatCheck,
    VatCheckStatus,
    require_billing_contact,
)
from .cart import (
    Cart,
    CartItem,
    PricedCart,
    add_to_cart,
    edit_item,
    price_cart,
    remove_item,
    subscribe_now,
)
from .catalog import Catalog
from .errors import (
    ConcurrencyConflict,
    CorporateSelfServiceRefused,
    GatewayUnavailable,
    IdempotencyKeyReused,
    InvalidInput,
    InvalidTransition,
    InvoiceUnpaid,
    NoSubscription,
    NotFound,
    OrderInProgress,
    PaymentDeclined,
    PaymentFailed,
    QuoteChanged,
    QuoteExpired,
    SubscriptionsError,
    VatCheckFailed,
)
from .lifecycle import (
    BillingContext,
    BillingPolicy,
    Cancel,
    CancelTiming,
    Dunning,
    Event,
    EventKind,
    Reactivate,
    StartTrial,
    Status,
    Subscription,
    Terms,
    TrialEnd,
    advance,
    apply,
    next_due,
)
from .messages import (
    Confirmation,
    ConfirmationItem,
    ConfirmationLine,
    ConfirmationTax,
    Message,
    PaymentFailure,
    SubscriptionLapse,
    TrialExpiry,
    render_confirmation,
    render_payment_failed,
    render_subscription_lapsed,
    render_trial_expired,
)
from .money import EXACT, money_currency
from .orders import (
    InvoiceStatus,
    IssuedInvoice,
    Order,
    OrderState,
    Party,
    Quote,
    Seller,
)
from .periods import Frequency, Period
from .ports import (
    ChargeRequest,
    Clock,
    Notifier,
    OutboxEntry,
    PaymentGateway,
    PaymentResult,
    PaymentStatus,
    RefundRequest,
    Store,
    UnitOfWork,
    VatVerifier,
)
from .pricing import (
    Customer,
    Invoice,
    InvoiceLine,
    InvoiceReason,
    LineKind,
    TaxSetup,
    apply_credit,
)
from .seats import SeatAssignments, assign, reassign, resize, unassign
from .vat import EU_VAT_RATES, RateProvider, TaxTreatment, VatNumber, parse_vat_number

__all__ = [
    "BillRunReport",
    "BillingCenter",
    "Settings",
    "VatUnavailable",
]

_ZERO = Decimal(0)
#: The idempotency record that holds an account's running order.
_ORDER_SLOT = "__order_in_progress__"
_BILLING = frozenset({Status.ACTIVE, Status.PAST_DUE, Status.PENDING_CANCELLATION})


class VatUnavailable(Choice):
    """What to do when the online VAT check cannot be made."""

    #: Charge VAT as for a consumer until the number is confirmed (the default).
    CHARGE_VAT = "charge_vat"
    #: Trust the offline check (format and check digits) meanwhile.
    TRUST_OFFLINE = "trust_offline"
    #: Refuse the number; the customer tries again later.
    REFUSE = "refuse"


@attrs.frozen(kw_only=True)
class Settings:
    """The Billing Center's policies beyond the billing rules."""

    #: How long a self-service quote can be ordered from.
    quote_ttl: timedelta = timedelta(minutes=30)
    #: How long a quote prepared for a corporate account stays valid.
    corporate_quote_ttl: timedelta = timedelta(days=30)
    #: Days after a failed renewal on which the charge is retried; after the last one
    #: the subscription lapses.
    retry_days: tuple[int, ...] = (3, 7, 14)
    #: Accept reverse charge on the offline check alone (no verifier, or unverified).
    trust_offline_vat: bool = False
    vat_unavailable: VatUnavailable = VatUnavailable.CHARGE_VAT
    #: Subscriptions renewed per transaction batch by the bill run.
    batch_size: int = 500
    #: The seller's Article 59c election: home-country VAT for EU consumers.
    micro_seller: bool = False
    #: Orders left pending this long are considered abandoned by reconcile.
    reconcile_after: timedelta = timedelta(minutes=5)

    def __attrs_post_init__(self) -> None:
        if any(b <= a for a, b in zip(self.retry_days, self.retry_days[1:], strict=False)):
            raise InvalidInput("retry_days must be increasing, such as (3, 7, 14)")
        if any(d <= 0 for d in self.retry_days):
            raise InvalidInput("retry_days must be positive numbers of days")
        if self.batch_size < 1:
            raise InvalidInput("batch_size must be at least 1")


@attrs.frozen(kw_only=True)
class BillRunReport:
    """What a bill run did."""

    renewed: int = 0
    charged: int = 0
    failed: int = 0
    retried: int = 0
    recovered: int = 0
    lapsed: int = 0
    canceled: int = 0
    trials_expired: int = 0
    trials_converted: int = 0
    conflicts: int = 0


def _check_key(idempotency_key: object) -> None:
    if not isinstance(idempotency_key, str) or not idempotency_key.strip():
        raise InvalidInput(
            "an idempotency key (a non-empty string) is required: pass one per order the "
            "customer confirms, and the same one to retry it"
        )


def _succeeded(result: PaymentResult | None) -> bool:
    return result is not None and result.status is PaymentStatus.SUCCEEDED


def _new_id(prefix: str) -> str:
    # Time-ordered (nanoseconds, then a per-process counter) with a random tail, so
    # that ids made later sort later, across processes too.
    counter = next(_ID_COUNTER) % 0x10000
    return f"{prefix}_{time.time_ns():016x}{counter:04x}{os.urandom(4).hex()}"


_ID_COUNTER = itertools.count()


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _exact_decimals(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run a use case in the library's exact decimal context, whatever context the
    host's thread has set: amounts must not depend on it (nor may Babel's formatting,
    which rounds in the thread's context)."""

    @functools.wraps(method)
    def in_exact_context(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with localcontext(EXACT):
            return method(*args, **kwargs)

    return in_exact_context


class BillingCenter:
    """The self-service Billing Center over pluggable storage and payments.

    >>> from datetime import datetime, timezone
    >>> from subscriptions.memory import FakeGateway, InMemoryNotifier, InMemoryStore, ManualClock
    >>> from subscriptions.catalog import Catalog, Plan, Price, Product
    >>> catalog = Catalog(products=[Product(id="app", name="App", trial_days=14, plans=[
    ...     Plan(id="basic", name="Basic", rank=1,
    ...          prices=[Price(currency="EUR", frequency="monthly", amount="10.00")])])])
    >>> seller = Seller(name="Vendor S.r.l.", vat_number="IT00743110157", address=Address(
    ...     line1="Via Roma 1", city="Milano", postal_code="20121", country="IT"))
    >>> center = BillingCenter(catalog=catalog, seller=seller, store=InMemoryStore(),
    ...     gateway=FakeGateway(), clock=ManualClock(datetime(2026, 1, 5, tzinfo=timezone.utc)),
    ...     notifier=InMemoryNotifier())
    >>> account = center.open_account(name="Rossi S.p.A.", address=Address(
    ...     line1="Via Po 2", city="Torino", postal_code="10123", country="IT"),
    ...     timezone="Europe/Rome", locale="it_IT", currency="EUR",
    ...     billing_contacts=["anna"], payment_method="tok_visa")
    >>> cart = center.subscribe_now(account.id, "anna", "app", seats=3)
    >>> quote = center.quote(account.id, "anna")
    >>> quote.amount_due
    Decimal('36.60')
    >>> order = center.place_order(account.id, "anna", quote.id, idempotency_key="k1")
    >>> order.state.value
    'succeeded'
    """

    def __init__(
        self,
        *,
        catalog: Catalog,
        seller: Seller,
        store: Store,
        gateway: PaymentGateway,
        clock: Clock,
        notifier: Notifier | None = None,
        vat_verifier: VatVerifier | None = None,
        policy: BillingPolicy = BillingPolicy(),
        settings: Settings = Settings(),
        rates: RateProvider = EU_VAT_RATES,
        new_id: Callable[[str], str] = _new_id,
    ) -> None:
        self.catalog = catalog
        self.seller = seller
        self.store = store
        self.gateway = gateway
        self.clock = clock
        self.notifier = notifier
        self.vat_verifier = vat_verifier
        self.policy = policy
        self.settings = settings
        self.rates = rates
        self._new_id = new_id

    # -- helpers -----------------------------------------------------------------------

    def _now(self) -> datetime:
        now = self.clock.now()
        if now.tzinfo is None or now.utcoffset() is None:
            raise InvalidInput("the clock returned a naive datetime; it must be time-zone aware")
        return now

    def _account(self, uow: UnitOfWork, account_id: str) -> Account:
        account = uow.accounts.get(account_id)
        if account is None:
            raise NotFound(f"no account {account_id!r}; open the account first")
        return account

    def _usable_vat_number(self, account: Account) -> VatNumber | None:
        number, check = account.vat_number, account.vat_check
        if number is None or check is None:
            return None
        if check.status is VatCheckStatus.VALID:
            return number
        if check.status is VatCheckStatus.OFFLINE_VALID:
            return number if self.settings.trust_offline_vat else None
        if check.status is VatCheckStatus.UNAVAILABLE:
            trust = self.settings.vat_unavailable is VatUnavailable.TRUST_OFFLINE
            return number if trust else None
        return None

    @_exact_decimals
    def context(self, account: Account) -> BillingContext:
        """The billing context of ``account``: its currency, zone and tax setup."""
        tax = TaxSetup(
            seller_country=self.seller.country,
            customer=Customer(
                country=account.country,
                region=account.region,
                vat_number=self._usable_vat_number(account),
            ),
            rates=self.rates,
            micro_seller=self.settings.micro_seller,
        )
        return BillingContext(
            catalog=self.catalog,
            currency=account.currency,
            tz=account.timezone,
            policy=self.policy,
            tax=tax,
        )

    def _subscription_id(self, account_id: str) -> Callable[[str], str]:
        return lambda product: f"sub_{account_id}_{product}"

    def _subscriptions_by_product(
        self, uow: UnitOfWork, account_id: str
    ) -> dict[str, Subscription]:
        return {s.product: s for s in uow.subscriptions.for_account(account_id)}

    def _find_subscription(self, uow: UnitOfWork, account_id: str, product: str) -> Subscription:
        self.catalog.product(product)
        sub = uow.subscriptions.get(self._subscription_id(account_id)(product))
        if sub is None:
            raise NoSubscription(product, "manage")
        return sub

    def _save_subscription(self, uow: UnitOfWork, sub: Subscription) -> None:
        if uow.subscriptions.get(sub.id) is None:
            uow.subscriptions.add(sub)
        else:
            uow.subscriptions.update(sub)

    def _record(self, uow: UnitOfWork, account_id: str, events: Iterable[Event]) -> None:
        for event in events:
            uow.events.add(account_id, event)

    def _post(self, uow: UnitOfWork, message: Message | None) -> None:
        if message is None or not message.to:
            return
        uow.outbox.add(OutboxEntry(id=self._new_id("msg"), created_at=self._now(), message=message))

    def _catch_up(self, sub: Subscription, at: datetime) -> None:
        due = next_due(sub)
        if due is not None and due <= at:
            raise InvalidTransition(
                f"{sub.product!r} has an automatic step due on {due.isoformat()} that has "
                "not been processed; run the bill run (run_renewals) first"
            )

    @_exact_decimals
    def deliver_outbox(self, *, limit: int = 100) -> int:
        """Send the messages waiting in the outbox through the notifier; returns how
        many were sent. A message whose sending fails stays for the next call."""
        if self.notifier is None:
            return 0
        sent = 0
        while True:
            with self.store.unit_of_work() as uow:
                entries = uow.outbox.pending(limit)
                if not entries:
                    return sent
                for entry in entries:
                    self.notifier.send(entry.message)
                    uow.outbox.mark_sent(entry.id, self._now())
                    sent += 1
                uow.commit()

    # -- accounts ----------------------------------------------------------------------

    @_exact_decimals
    def open_account(
        self,
        *,
        name: str,
        address: Address,
        timezone: str,
        locale: str,
        currency: str,
        billing_contacts: Sequence[str],
        kind: AccountKind = AccountKind.SELF_SERVICE,
        payment_method: str | None = None,
        account_id: str | None = None,
    ) -> Account:
        """Open a customer account."""
        account = Account(
            id=account_id or self._new_id("acct"),
            name=name,
            address=address,
            timezone=timezone,
            locale=locale,
            currency=currency,
            billing_contacts=frozenset(billing_contacts),
            kind=kind,
            payment_method=payment_method,
        )
        self._check_currency_offered(account.currency)
        with self.store.unit_of_work() as uow:
            uow.accounts.add(account)
            self._record(uow, account.id, [Event(kind=EventKind.ACCOUNT_OPENED, at=self._now())])
            uow.commit()
        return account

    def _check_currency_offered(self, currency: str) -> None:
        offered = any(
            price.currency == currency
            for product in self.catalog.products
            for plan in product.plans
            for price in plan.prices
        )
        if not offered:
            raise InvalidInput(
                f"the catalog has no prices in {currency}; open the account in a currency "
                "the catalog offers"
            )

    @_exact_decimals
    def account(self, account_id: str) -> Account:
        with self.store.unit_of_work() as uow:
            return self._account(uow, account_id)

    def _update_account(
        self, account_id: str, user: str, action: str, change: Callable[[Account], Account]
    ) -> Account:
        with self.store.unit_of_work() as uow:
            account = self._account(uow, account_id)
            require_billing_contact(account, user, action)
            updated = attrs.evolve(change(account), version=account.version + 1)
            uow.accounts.update(updated)
            self._record(
                uow,
                account_id,
                [Event(kind=EventKind.ACCOUNT_UPDATED, at=self._now(), detail=action)],
            )
            uow.commit()
        return updated

    @_exact_decimals
    def update_payment_method(self, account_id: str, user: str, token: str) -> Account:
        """Replace the account's payment method (a gateway token, never a card number)."""
        if not isinstance(token, str) or not token.strip():
            raise InvalidInput("the payment method must be a gateway token such as 'tok_visa'")
        return self._update_account(
            account_id,
            user,
            "replace the payment method",
            lambda a: attrs.evolve(a, payment_method=token),
        )

    @_exact_decimals
    def set_billing_contacts(self, account_id: str, user: str, contacts: Sequence[str]) -> Account:
        return self._update_account(
            account_id,
            user,
            "change the billing contacts",
            lambda a: attrs.evolve(a, billing_contacts=frozenset(contacts)),
        )

    @_exact_decimals
    def set_vat_number(self, account_id: str, user: str, number: str | None) -> Account:
        """Enter (or clear, with ``None``) the account's VAT number.

        The number is checked offline (format, check digits, the customer's country),
        then online when a verifier is plugged in; the evidence is kept. An invalid
        number is refused and the account stays as it was. Quotes made before must be
        made again: they pinned the old tax treatment.
        """
        with self.store.unit_of_work() as uow:
            account = self._account(uow, account_id)
            require_billing_contact(account, user, "set the VAT number")
        if number is None:
            vat_number, check = None, None
        else:
            vat_number = parse_vat_number(number, country=account.country)
            now = self._now()
            if self.vat_verifier is None:
                check = VatCheck(
                    number=str(vat_number), status=VatCheckStatus.OFFLINE_VALID, checked_at=now
                )
            else:
                check = self.vat_verifier.verify(vat_number, at=now)
                if check.status is VatCheckStatus.INVALID:
                    raise VatCheckFailed(
                        str(vat_number),
                        "the VIES registry does not know it; check the number with the "
                        "customer, or leave it empty to be taxed as a consumer",
                    )
                if (
                    check.status is VatCheckStatus.UNAVAILABLE
                    and self.settings.vat_unavailable is VatUnavailable.REFUSE
                ):
                    raise VatCheckFailed(
                        str(vat_number),
                        "the VIES registry cannot be reached right now; try again later",
                    )
        return self._update_account(
            account_id,
            user,
            "set the VAT number",
            lambda a: attrs.evolve(a, vat_number=vat_number, vat_check=check),
        )

    @_exact_decimals
    def events(self, account_id: str) -> list[Event]:
        with self.store.unit_of_work() as uow:
            self._account(uow, account_id)
            return uow.events.for_account(account_id)

    @_exact_decimals
    def subscriptions(self, account_id: str) -> list[Subscription]:
        with self.store.unit_of_work() as uow:
            self._account(uow, account_id)
            return uow.subscriptions.for_account(account_id)

    # -- trials ------------------------------------------------------------------------

    @_exact_decimals
    def start_trial(
        self,
        account_id: str,
        user: str,
        product: str,
        *,
        plan: str | None = None,
        seats: int = 1,
        frequency: Frequency | str | None = None,
    ) -> Subscription:
        """Start a free trial of ``product`` (corporate accounts may trial too)."""
        terms = self._terms(product, plan, seats, frequency)
        with self.store.unit_of_work() as uow:
            account = self._account(uow, account_id)
            existing = uow.subscriptions.get(self._subscription_id(account_id)(product))
            outcome = apply(
                existing,
                StartTrial(terms=terms),
                at=self._now(),
                context=self.context(account),
                subscription_id=self._subscription_id(account_id)(product),
                account_id=account_id,
            )
            uow.subscriptions.add(outcome.subscription)
            self._record(uow, account_id, outcome.events)
            uow.commit()
        return outcome.subscription

    def _terms(
        self,
        product: str,
        plan: str | None,
        seats: int,
        frequency: Frequency | str | None,
        currency: str | None = None,
    ) -> Terms:
        offering = self.catalog.product(product)
        if plan is None:
            plan = min(offering.plans, key=lambda p: p.rank).id
        chosen = offering.plan(plan)
        if frequency is None:
            options = [
                price.frequency
                for price in chosen.prices
                if currency is None or price.currency == currency
            ]
            frequency = Frequency.MONTHLY if Frequency.MONTHLY in options else options[0]
        return Terms(product=product, plan=plan, seats=seats, frequency=frequency)

    @_exact_decimals
    def expire_trials(self, at: datetime | None = None) -> int:
        """Expire every trial whose end is due at ``at`` (default: now). Nothing is
        ever charged. Under the ``convert`` trial policy trials are converted, and
        charged, by :meth:`run_renewals` instead."""
        if self.policy.trial_end is TrialEnd.CONVERT:
            return 0
        at = at or self._now()
        expired = 0
        after: str | None = None
        while True:
            with self.store.unit_of_work() as uow:
                ids = uow.subscriptions.due(at, limit=self.settings.batch_size, after=after)
            if not ids:
                return expired
            after = ids[-1]
            for sub_id in ids:
                with self.store.unit_of_work() as uow:
                    sub = uow.subscriptions.get(sub_id)
                    if sub is None or sub.status is not Status.TRIALING:
                        continue
                    due = next_due(sub)
                    if due is None or due > at or sub.account_id is None:
                        continue
                    account = self._account(uow, sub.account_id)
                    outcome = advance(sub, context=self.context(account))
                    uow.subscriptions.update(outcome.subscription)
                    self._record(uow, account.id, outcome.events)
                    self._post(uow, self._trial_expired_message(account, sub, due))
                    uow.commit()
                    expired += 1
            self.deliver_outbox()

    def _trial_expired_message(self, account: Account, sub: Subscription, at: datetime) -> Message:
        return render_trial_expired(
            TrialExpiry(
                account_name=account.name,
                locale=account.locale,
                timezone=account.timezone,
                product_name=self.catalog.product(sub.product).name,
                expired_at=at,
            ),
            to=sorted(account.billing_contacts),
        )

    # -- cart --------------------------------------------------------------------------

    @_exact_decimals
    def cart(self, account_id: str) -> Cart:
        with self.store.unit_of_work() as uow:
            self._account(uow, account_id)
            return uow.carts.get(account_id) or Cart(account_id=account_id)

    def _edit_cart(self, account_id: str, user: str, edit: Callable[[Cart], Cart]) -> Cart:
        with self.store.unit_of_work() as uow:
            account = self._account(uow, account_id)
            require_billing_contact(account, user, "edit the cart")
            cart = uow.carts.get(account_id) or Cart(account_id=account_id)
            edited = edit(cart)
            for item in edited.items:
                # Refuse at once what no quote could price: an unknown plan, or a
                # frequency the plan is not offered at in the account's currency.
                self.catalog.plan(item.product, item.plan).price(item.frequency, account.currency)
            uow.carts.put(edited)
            uow.commit()
        return edited

    def _default_item(
        self,
        account_id: str,
        product: str,
        plan: str | None,
        seats: int | None,
        frequency: Frequency | str | None,
    ) -> CartItem:
        with self.store.unit_of_work() as uow:
            account = self._account(uow, account_id)
            existing = uow.subscriptions.get(self._subscription_id(account_id)(product))
        base = existing.terms if existing is not None else None
        terms = self._terms(
            product,
            plan if plan is not None else (base.plan if base else None),
            seats if seats is not None else (base.seats if base else 1),
            frequency if frequency is not None else (base.frequency if base else None),
            account.currency,
        )
        return CartItem(
            product=terms.product, plan=terms.plan, seats=terms.seats, frequency=terms.frequency
        )

    @_exact_decimals
    def subscribe_now(
        self,
        account_id: str,
        user: str,
        product: str,
        *,
        plan: str | None = None,
        seats: int | None = None,
        frequency: Frequency | str | None = None,
    ) -> Cart:
        """Press "Subscribe now" on a product: the cart must be empty. Plan, seats and
        frequency default to the trial's (or current subscription's) terms."""
        item = self._default_item(account_id, product, plan, seats, frequency)
        return self._edit_cart(account_id, user, lambda cart: subscribe_now(cart, item))

    @_exact_decimals
    def add_to_cart(
        self,
        account_id: str,
        user: str,
        product: str,
        *,
        plan: str | None = None,
        seats: int | None = None,
        frequency: Frequency | str | None = None,
    ) -> Cart:
        """Press "Add to cart": another product in the same order."""
        item = self._default_item(account_id, product, plan, seats, frequency)
        return self._edit_cart(account_id, user, lambda cart: add_to_cart(cart, item))

    @_exact_decimals
    def edit_cart_item(
        self,
        account_id: str,
        user: str,
        product: str,
        *,
        plan: str | None = None,
        seats: int | None = None,
        frequency: Frequency | str | None = None,
    ) -> Cart:
        """Change an item's plan level, seats or billing frequency."""
        if plan is not None:
            self.catalog.plan(product, plan)
        return self._edit_cart(
            account_id,
            user,
            lambda cart: edit_item(cart, product, plan=plan, seats=seats, frequency=frequency),
        )

    @_exact_decimals
    def remove_cart_item(self, account_id: str, user: str, product: str) -> Cart:
        return self._edit_cart(account_id, user, lambda cart: remove_item(cart, product))

    # -- quotes ------------------------------------------------------------------------

    def _price(
        self,
        uow: UnitOfWork,
        account: Account,
        cart_items: Sequence[CartItem],
        at: datetime,
        ttl: timedelta,
    ) -> PricedCart:
        subs = self._subscriptions_by_product(uow, account.id)
        for item in cart_items:
            sub = subs.get(item.product)
            if sub is not None:
                self._catch_up(sub, at)
                if sub.status is Status.PAST_DUE and sub.dunning is not None:
                    unpaid = uow.invoices.get(sub.dunning.invoice_id)
                    raise InvoiceUnpaid(
                        item.product, unpaid.number if unpaid else sub.dunning.invoice_id
                    )
        return price_cart(
            account,
            Cart(account_id=account.id, items=tuple(cart_items)),
            subs,
            at=at,
            context=self.context(account),
            subscription_id=self._subscription_id(account.id),
            ttl=ttl,
        )

    @_exact_decimals
    def quote(self, account_id: str, user: str) -> Quote:
        """Price the account's cart: lines, credits, VAT per rate, total, amount due
        after the credit balance, and each subscription's next billing date.

        The quote pins the instant, prices, tax treatment and subscription versions;
        it expires after ``Settings.quote_ttl`` (``corporate_quote_ttl`` for corporate
        accounts). Reducing seats below those assigned is refused here already.
        """
        with self.store.unit_of_work() as uow:
            account = self._account(uow, account_id)
            require_billing_contact(account, user, "request a quote")
            return self._make_quote(uow, account, prepared_by=user)

    @_exact_decimals
    def staff_quote(self, staff_user: str, account_id: str) -> Quote:
        """The vendor's staff prepare a quote for an account (corporate ones included)."""
        with self.store.unit_of_work() as uow:
            account = self._account(uow, account_id)
            return self._make_quote(uow, account, prepared_by=f"staff:{staff_user}")

    def _make_quote(self, uow: UnitOfWork, account: Account, *, prepared_by: str) -> Quote:
        cart = uow.carts.get(account.id) or Cart(account_id=account.id)
        ttl = self.settings.corporate_quote_ttl if account.corporate else self.settings.quote_ttl
        priced = self._price(uow, account, cart.items, self._now(), ttl)
        self._check_seat_reductions(uow, priced)
        usable = self._usable_vat_number(account)
        quote = Quote(
            id=self._new_id("quo"),
            account_id=account.id,
            created_at=priced.at,
            expires_at=priced.expires_at,
            currency=account.currency,
            cart=cart.items,
            items=priced.items,
            invoice=priced.invoice,
            credit_applied=priced.credit_applied,
            amount_due=priced.amount_due,
            vat_number=None if usable is None else str(usable),
            reverse_charge=any(
                line.tax is not None and line.tax.treatment is TaxTreatment.REVERSE_CHARGE
                for line in (priced.invoice.lines if priced.invoice else ())
            ),
            prepared_by=prepared_by,
        )
        uow.quotes.add(quote)
        uow.commit()
        return quote

    def _check_seat_reductions(self, uow: UnitOfWork, priced: PricedCart) -> None:
        for item in priced.items:
            seats = uow.seats.get(item.subscription_id)
            if seats is not None:
                resize(seats, item.terms.seats)

    # -- orders ------------------------------------------------------------------------

    @_exact_decimals
    def place_order(
        self,
        account_id: str,
        user: str,
        quote_id: str,
        *,
        idempotency_key: str,
        payment_method: str | None = None,
    ) -> Order:
        """Place the order the customer confirmed in quote ``quote_id``.

        Idempotent: the same key returns the same order and charges once. Returns the
        order in state ``succeeded``, ``requires_action`` (3-D Secure: call
        :meth:`confirm_payment` once the customer has authenticated) or ``unknown``
        (the gateway did not answer: :meth:`reconcile` resolves it). A declined
        payment raises :class:`PaymentDeclined` and changes nothing but the order's
        record; a quote whose pinned state changed raises :class:`QuoteChanged`.
        """
        _check_key(idempotency_key)
        now = self._now()
        with self.store.unit_of_work() as uow:
            account = self._account(uow, account_id)
            require_billing_contact(account, user, "place orders")
            if account.corporate:
                raise CorporateSelfServiceRefused(f"account {account.name!r}")
            order = self._known_order(uow, account_id, idempotency_key, quote_id)
            if order is None:
                quote = self._valid_quote(uow, account, quote_id, now)
                token = payment_method or account.payment_method
                if quote.amount_due > 0 and token is None:
                    raise InvalidInput(
                        "the order has an amount due and the account has no payment method; "
                        "pass a payment-method token or add one to the account"
                    )
                self._claim_order_slot(uow, account_id, now)
                order = self._record_order(
                    uow,
                    quote,
                    idempotency_key,
                    now,
                    state=OrderState.PENDING,
                    placed_by=user,
                    payment_method=token,
                )
                # One order at a time per account: a concurrent order conflicts on
                # this slot before anything is charged.
                uow.idempotency.put(account_id, _ORDER_SLOT, order.id)
                uow.commit()
        return self._drive(order)

    def _known_order(
        self, uow: UnitOfWork, account_id: str, idempotency_key: str, quote_id: str
    ) -> Order | None:
        """The order already placed with this key, if any (for the same quote only)."""
        known = uow.idempotency.get(account_id, idempotency_key)
        if known is None:
            return None
        order = uow.orders.get(known)
        assert order is not None
        if order.quote_id != quote_id:
            raise IdempotencyKeyReused(idempotency_key, f"order {order.id!r}")
        return order

    def _record_order(
        self,
        uow: UnitOfWork,
        quote: Quote,
        idempotency_key: str,
        now: datetime,
        *,
        state: OrderState,
        placed_by: str,
        payment_method: str | None = None,
        purchase_order: str | None = None,
        due_days: int | None = None,
    ) -> Order:
        """Record a new order of ``quote`` under its idempotency key."""
        order = Order(
            id=self._new_id("ord"),
            account_id=quote.account_id,
            quote_id=quote.id,
            idempotency_key=idempotency_key,
            state=state,
            amount_due=quote.amount_due,
            currency=quote.currency,
            placed_by=placed_by,
            created_at=now,
            updated_at=now,
            payment_method=payment_method,
            purchase_order=purchase_order,
            due_days=due_days,
        )
        uow.orders.add(order)
        uow.idempotency.put(quote.account_id, idempotency_key, order.id)
        self._record(
            uow, quote.account_id, [Event(kind=EventKind.ORDER_PLACED, at=now, detail=order.id)]
        )
        return order

    def _claim_order_slot(self, uow: UnitOfWork, account_id: str, now: datetime) -> None:
        """Refuse if another order of the account is still running; free a stale slot."""
        other_id = uow.idempotency.get(account_id, _ORDER_SLOT)
        if other_id is None:
            return
        other = uow.orders.get(other_id)
        if other is not None and not other.state.final:
            quote = uow.quotes.get(other.quote_id)
            if quote is not None and now < quote.expires_at:
                raise OrderInProgress(account_id, other_id)
        uow.idempotency.delete(account_id, _ORDER_SLOT)

    def _valid_quote(
        self, uow: UnitOfWork, account: Account, quote_id: str, now: datetime
    ) -> Quote:
        quote = uow.quotes.get(quote_id)
        if quote is None or quote.account_id != account.id:
            raise NotFound(f"no quote {quote_id!r} for account {account.id!r}; ask for a quote")
        if now >= quote.expires_at:
            raise QuoteExpired(quote_id, f"it expired at {quote.expires_at.isoformat()}")
        self._reprice(uow, account, quote)
        return quote

    def _reprice(self, uow: UnitOfWork, account: Account, quote: Quote) -> PricedCart:
        """Price the quote's cart again at its pinned instant; refuse if anything differs."""
        usable = self._usable_vat_number(account)
        if (None if usable is None else str(usable)) != quote.vat_number:
            raise QuoteChanged(quote.id, "the VAT number or its check changed")
        for pinned in quote.items:
            current = uow.subscriptions.get(pinned.subscription_id)
            version = None if current is None else current.version
            if version != pinned.pinned_version:
                raise QuoteChanged(
                    quote.id, f"the subscription to {pinned.product!r} changed since"
                )
        try:
            priced = self._price(
                uow, account, quote.cart, quote.created_at, quote.expires_at - quote.created_at
            )
        except QuoteChanged:
            raise
        except SubscriptionsError as exc:
            raise QuoteChanged(quote.id, f"it cannot be priced any more ({exc})") from exc
        if priced.invoice != quote.invoice or priced.amount_due != quote.amount_due:
            raise QuoteChanged(
                quote.id, "prices, taxes or the credit balance changed since it was made"
            )
        return priced

    def _drive(self, order: Order) -> Order:
        """Take an order recorded in the store as far as it can go now."""
        if order.state is OrderState.PENDING:
            if order.amount_due <= 0:
                return self._complete(order, charge=None)
            return self._charge_order(order)
        if order.state is OrderState.UNKNOWN:
            return self._resolve(order)
        if order.state is OrderState.FAILED:
            raise self._failure(order)
        return order

    def _charge_key(self, order: Order) -> str:
        return f"order:{order.id}"

    def _charge_order(self, order: Order) -> Order:
        assert order.payment_method is not None
        request = ChargeRequest(
            idempotency_key=self._charge_key(order),
            amount=Money(order.amount_due, money_currency(order.currency)),
            payment_method=order.payment_method,
            description=f"Order {order.id}",
        )
        try:
            result = self.gateway.charge(request)
        except GatewayUnavailable:
            return self._set_state(order, OrderState.UNKNOWN)
        return self._after_charge(order, result)

    def _after_charge(self, order: Order, result: PaymentResult) -> Order:
        if result.status is PaymentStatus.SUCCEEDED:
            return self._complete(order, charge=result)
        if result.status is PaymentStatus.REQUIRES_ACTION:
            return self._set_state(
                order,
                OrderState.REQUIRES_ACTION,
                charge_id=result.charge_id,
                next_action=result.next_action,
            )
        if result.status is PaymentStatus.TRANSIENT_ERROR:
            failed = self._set_state(
                order,
                OrderState.FAILED,
                failure_code="transient_error",
                failure_message=result.message or "the payment gateway failed",
            )
            raise self._failure(failed)
        failed = self._set_state(
            order,
            OrderState.FAILED,
            charge_id=result.charge_id,
            failure_code=result.decline_code or "declined",
            failure_message=result.message or "the payment was declined",
        )
        raise self._failure(failed)

    def _failure(self, order: Order) -> PaymentFailed:
        code = order.failure_code
        if code == "transient_error":
            return PaymentFailed(
                f"order {order.id!r} failed: {order.failure_message}; nothing was charged and "
                "nothing changed: place the order again with a new idempotency key",
                order_id=order.id,
                code=code,
            )
        if code == "quote_changed":
            return PaymentFailed(
                f"order {order.id!r} could not be completed: {order.failure_message}; any "
                "charge was refunded: ask for a new quote",
                order_id=order.id,
                code=code,
            )
        return PaymentDeclined(
            f"the payment for order {order.id!r} was declined ({code}: "
            f"{order.failure_message}); nothing changed: use another payment method and "
            "place the order again with a new idempotency key",
            order_id=order.id,
            code=code,
        )

    def _set_state(self, order: Order, state: OrderState, **changes: object) -> Order:
        with self.store.unit_of_work() as uow:
            current = uow.orders.get(order.id)
            assert current is not None
            if current.state.final:
                return current
            updated = attrs.evolve(
                current,
                state=state,
                updated_at=self._now(),
                version=current.version + 1,
                **changes,  # type: ignore[arg-type]
            )
            uow.orders.update(updated)
            if state is OrderState.FAILED:
                self._release(uow, order)
                self._record(
                    uow,
                    order.account_id,
                    [
                        Event(
                            kind=EventKind.ORDER_FAILED,
                            at=self._now(),
                            detail=f"{order.id}: {changes.get('failure_code')}",
                        )
                    ],
                )
            uow.commit()
        return updated

    def _release(self, uow: UnitOfWork, order: Order) -> None:
        """Free the account's order slot held by ``order``."""
        if uow.idempotency.get(order.account_id, _ORDER_SLOT) == order.id:
            uow.idempotency.delete(order.account_id, _ORDER_SLOT)

    @_exact_decimals
    def confirm_payment(self, account_id: str, user: str, order_id: str) -> Order:
        """Resume an order waiting for 3-D Secure, once the customer has authenticated."""
        with self.store.unit_of_work() as uow:
            account = self._account(uow, account_id)
            require_billing_contact(account, user, "pay")
            order = uow.orders.get(order_id)
            if order is None or order.account_id != account_id:
                raise NotFound(
                    f"no order {order_id!r} for account {account_id!r}; use the id that "
                    "place_order returned for this account"
                )
        if order.state is not OrderState.REQUIRES_ACTION:
            return self._drive(order)
        result = self.gateway.lookup(self._charge_key(order))
        if result is None:
            failed = self._set_state(
                order,
                OrderState.FAILED,
                failure_code="no_charge",
                failure_message="the gateway has no record of the charge",
            )
            raise self._failure(failed)
        if result.status is PaymentStatus.REQUIRES_ACTION:
            return order
        return self._after_charge(order, result)

    def _complete(self, order: Order, *, charge: PaymentResult | None) -> Order:
        """Commit what the order bought; refund the charge if that is not possible."""
        try:
            return self._commit_order(order, charge)
        except SubscriptionsError as exc:
            refund_id = None
            if charge is not None and charge.charge_id is not None:
                refund = self.gateway.refund(
                    RefundRequest(
                        idempotency_key=f"refund:{order.id}",
                        charge_id=charge.charge_id,
                        amount=Money(order.amount_due, money_currency(order.currency)),
                        reason="the order could not be completed",
                    )
                )
                refund_id = refund.charge_id
            failed = self._set_state(
                order,
                OrderState.FAILED,
                charge_id=None if charge is None else charge.charge_id,
                refund_id=refund_id,
                failure_code="quote_changed",
                failure_message=str(exc),
            )
            raise self._failure(failed) from exc

    def _commit_order(self, order: Order, charge: PaymentResult | None) -> Order:
        now = self._now()
        with self.store.unit_of_work() as uow:
            current = uow.orders.get(order.id)
            assert current is not None
            if current.state is OrderState.SUCCEEDED:
                return current
            account = self._account(uow, order.account_id)
            quote = uow.quotes.get(order.quote_id)
            assert quote is not None
            if now >= quote.expires_at and charge is not None:
                # Completing later than the quote allows (a slow 3-D Secure, a
                # reconcile): the quote's terms no longer hold.
                raise QuoteExpired(quote.id, f"it expired at {quote.expires_at.isoformat()}")
            priced = self._reprice(uow, account, quote)
            invoice = self._persist_purchase(uow, account, priced, order, due_at=None)
            updated = attrs.evolve(
                current,
                state=OrderState.SUCCEEDED,
                charge_id=None if charge is None else charge.charge_id,
                invoice_id=None if invoice is None else invoice.id,
                next_action=None,
                updated_at=now,
                version=current.version + 1,
            )
            uow.orders.update(updated)
            self._post(uow, self._confirmation(account, quote, priced, updated, invoice))
            uow.commit()
        self.deliver_outbox()
        return updated

    def _persist_purchase(
        self,
        uow: UnitOfWork,
        account: Account,
        priced: PricedCart,
        order: Order,
        *,
        due_at: datetime | None,
    ) -> IssuedInvoice | None:
        """Save the subscriptions, seats, invoice, balance and cart of a purchase."""
        for item, outcome in zip(priced.items, priced.outcomes, strict=True):
            self._save_subscription(uow, outcome.subscription)
            seats = uow.seats.get(item.subscription_id)
            if seats is None:
                uow.seats.put(SeatAssignments(subscription_id=item.subscription_id, seats=0))
                seats = uow.seats.get(item.subscription_id)
                assert seats is not None
            if seats.seats != outcome.subscription.terms.seats and not item.scheduled:
                uow.seats.put(resize(seats, outcome.subscription.terms.seats))
            self._record(uow, account.id, outcome.events)
        invoice = None
        balance = account.credit_balance
        if priced.invoice is not None:
            settled, balance = apply_credit(priced.invoice, account.credit_balance)
            invoice = self._issue(
                uow,
                account,
                settled,
                order_id=order.id,
                status=InvoiceStatus.OPEN if due_at is not None else None,
                due_at=due_at,
            )
        # A card that paid is kept for the renewals when the account had none.
        payment_method = account.payment_method or (
            order.payment_method if order.charge_id or order.amount_due > 0 else None
        )
        if balance != account.credit_balance or payment_method != account.payment_method:
            uow.accounts.update(
                attrs.evolve(
                    account,
                    credit_balance=balance,
                    payment_method=payment_method,
                    version=account.version + 1,
                )
            )
        self._release(uow, order)
        cart = uow.carts.get(account.id)
        if cart is not None and cart.items:
            uow.carts.put(attrs.evolve(cart, items=(), version=cart.version + 1))
        return invoice

    def _issue(
        self,
        uow: UnitOfWork,
        account: Account,
        invoice: Invoice,
        *,
        order_id: str | None,
        status: InvoiceStatus | None = None,
        due_at: datetime | None = None,
        corrects: tuple[str, ...] = (),
    ) -> IssuedInvoice:
        """Number and store an invoice in this transaction (gapless per series)."""
        if not corrects and any(line.kind is LineKind.CREDIT for line in invoice.lines):
            corrects = self._corrected(uow, account.id, invoice.lines)
        series = self.seller.series
        sequence = uow.invoices.next_number(series)
        if status is None:
            if invoice.total <= 0 or invoice.amount_due == 0:
                status = InvoiceStatus.SETTLED if invoice.total <= 0 else InvoiceStatus.PAID
            else:
                status = InvoiceStatus.PAID
        issued = IssuedInvoice(
            id=self._new_id("inv"),
            number=f"{series}-{sequence:06d}",
            series=series,
            sequence=sequence,
            account_id=account.id,
            order_id=order_id,
            seller=self.seller.party,
            customer=Party(
                name=account.name,
                address=account.address,
                vat_number=None if account.vat_number is None else str(account.vat_number),
            ),
            issued_at=invoice.issued_at,
            reason=invoice.reason,
            currency=invoice.currency,
            lines=invoice.lines,
            subtotal=invoice.subtotal,
            taxes=invoice.taxes,
            total=invoice.total,
            credit_applied=invoice.credit_applied,
            amount_due=invoice.amount_due,
            mentions=invoice.mentions,
            corrects=corrects,
            due_at=due_at,
            status=status,
        )
        uow.invoices.add(issued)
        self._record(
            uow,
            account.id,
            [Event(kind=EventKind.INVOICE_ISSUED, at=invoice.issued_at, detail=issued.number)],
        )
        return issued

    def _corrected(
        self, uow: UnitOfWork, account_id: str, lines: Sequence[InvoiceLine]
    ) -> tuple[str, ...]:
        """The numbers of the invoices whose charges these credit lines reverse."""
        credits = [line for line in lines if line.kind is LineKind.CREDIT]
        found: dict[str, None] = {}
        for issued in reversed(uow.invoices.for_account(account_id)):
            for charge in issued.lines:
                if charge.kind is not LineKind.CHARGE:
                    continue
                for credit in credits:
                    if (
                        charge.subscription_id == credit.subscription_id
                        and charge.period.end == credit.period.end
                        and charge.period.start <= credit.period.start
                    ):
                        found[issued.number] = None
            if len(found) >= len(credits):
                break
        return tuple(found)

    def _confirmation(
        self,
        account: Account,
        quote: Quote,
        priced: PricedCart,
        order: Order,
        invoice: IssuedInvoice | None,
    ) -> Message:
        names = {p.id: p for p in self.catalog.products}

        def plan_name(product: str, plan: str) -> str:
            return names[product].plan(plan).name

        items = tuple(
            ConfirmationItem(
                product_name=names[item.product].name,
                plan_name=plan_name(item.product, item.terms.plan),
                seats=item.terms.seats,
                seats_added=0 if item.scheduled else item.seats_added,
                frequency=item.terms.frequency,
                next_billing_at=item.next_billing_at,
            )
            for item in priced.items
        )
        lines: tuple[InvoiceLine, ...] = () if priced.invoice is None else priced.invoice.lines
        total = _ZERO if priced.invoice is None else priced.invoice.total
        credit = _ZERO if total < 0 else priced.credit_applied
        confirmation = Confirmation(
            order_id=order.id,
            invoice_number=None if invoice is None else invoice.number,
            account_name=account.name,
            locale=account.locale,
            timezone=account.timezone,
            currency=account.currency,
            placed_at=quote.created_at,
            items=items,
            lines=tuple(
                ConfirmationLine(
                    kind=line.kind.value,
                    product_name=names[line.product].name,
                    plan_name=plan_name(line.product, line.plan),
                    seats=line.seats,
                    period_start=line.period.start,
                    period_end=line.period.end,
                    amount=line.amount,
                )
                for line in lines
            ),
            taxes=tuple(
                ConfirmationTax(
                    rate=tax.rate,
                    treatment=tax.treatment,
                    base=tax.base,
                    amount=tax.amount,
                    mention=tax.mention,
                )
                for tax in (priced.invoice.taxes if priced.invoice else ())
            ),
            subtotal=_ZERO if priced.invoice is None else priced.invoice.subtotal,
            total=total,
            credit_applied=credit,
            amount_charged=_ZERO if total < 0 else priced.amount_due,
        )
        return render_confirmation(confirmation, to=sorted(account.billing_contacts))

    @_exact_decimals
    def order(self, account_id: str, user: str, order_id: str) -> Order:
        with self.store.unit_of_work() as uow:
            account = self._account(uow, account_id)
            require_billing_contact(account, user, "see orders")
            order = uow.orders.get(order_id)
            if order is None or order.account_id != account_id:
                raise NotFound(
                    f"no order {order_id!r} for account {account_id!r}; use the id that "
                    "place_order returned for this account"
                )
            return order

    # -- corporate orders --------------------------------------------------------------

    @_exact_decimals
    def staff_place_corporate_order(
        self,
        staff_user: str,
        account_id: str,
        quote_id: str,
        *,
        purchase_order: str,
        due_days: int = 30,
        idempotency_key: str,
    ) -> Order:
        """The vendor's staff place a corporate account's order on purchase-order
        terms: no card; an invoice due in ``due_days`` once the customer confirms."""
        _check_key(idempotency_key)
        if isinstance(due_days, bool) or not isinstance(due_days, int) or due_days < 0:
            raise InvalidInput(f"due_days {due_days!r} must be a whole number of days >= 0")
        if not isinstance(purchase_order, str) or not purchase_order.strip():
            raise InvalidInput("a corporate order needs the customer's purchase-order number")
        now = self._now()
        with self.store.unit_of_work() as uow:
            account = self._account(uow, account_id)
            if not account.corporate:
                raise InvalidTransition(
                    f"account {account.name!r} is self-service; its billing contacts order "
                    "themselves with place_order"
                )
            existing = self._known_order(uow, account_id, idempotency_key, quote_id)
            if existing is not None:
                return existing
            quote = self._valid_quote(uow, account, quote_id, now)
            order = self._record_order(
                uow,
                quote,
                idempotency_key,
                now,
                state=OrderState.AWAITING_CONFIRMATION,
                placed_by=f"staff:{staff_user}",
                purchase_order=purchase_order,
                due_days=due_days,
            )
            uow.commit()
        return order

    @_exact_decimals
    def confirm_corporate_order(self, account_id: str, user: str, order_id: str) -> Order:
        """The customer's billing contact confirms the quote of a purchase-order order;
        the order completes and its invoice is issued, due in the agreed days."""
        now = self._now()
        with self.store.unit_of_work() as uow:
            account = self._account(uow, account_id)
            require_billing_contact(account, user, "confirm orders")
            order = uow.orders.get(order_id)
            if order is None or order.account_id != account_id:
                raise NotFound(
                    f"no order {order_id!r} for account {account_id!r}; use the id that "
                    "place_order returned for this account"
                )
            if order.state is OrderState.SUCCEEDED:
                return order
            if order.state is not OrderState.AWAITING_CONFIRMATION:
                raise InvalidTransition(
                    f"order {order_id!r} is {order.state.value}, not a purchase order waiting "
                    "for confirmation; only orders placed by the vendor's staff are confirmed"
                )
            quote = uow.quotes.get(order.quote_id)
            assert quote is not None
            if now >= quote.expires_at:
                raise QuoteExpired(quote.id, f"it expired at {quote.expires_at.isoformat()}")
            priced = self._reprice(uow, account, quote)
            due_at = now + timedelta(days=order.due_days or 0)
            invoice = self._persist_purchase(uow, account, priced, order, due_at=due_at)
            updated = attrs.evolve(
                order,
                state=OrderState.SUCCEEDED,
                invoice_id=None if invoice is None else invoice.id,
                updated_at=now,
                version=order.version + 1,
            )
            uow.orders.update(updated)
            self._post(uow, self._confirmation(account, quote, priced, updated, invoice))
            uow.commit()
        self.deliver_outbox()
        return updated

    # -- reconcile ---------------------------------------------------------------------

    @_exact_decimals
    def reconcile(self, order_id: str | None = None) -> list[Order]:
        """Resolve orders left ``pending``, ``unknown`` or ``requires_action``.

        For each, the gateway is asked by the order's idempotency key: nothing
        charged -> the order fails; charged -> the order is completed, or the charge
        refunded when it cannot be (the quote expired, the subscription moved on).
        ``pending`` orders younger than ``Settings.reconcile_after`` are left alone
        (their request may still be running); an order still waiting for 3-D Secure
        is failed as abandoned once its quote has expired. One order's trouble never
        stops the others from being resolved.
        """
        with self.store.unit_of_work() as uow:
            ids = [order_id] if order_id is not None else uow.orders.unresolved()
            orders = [o for i in ids if (o := uow.orders.get(i)) is not None]
        results = []
        now = self._now()
        for order in orders:
            if order.state is OrderState.PENDING and (
                order_id is None and now - order.updated_at < self.settings.reconcile_after
            ):
                continue
            if order.state not in (
                OrderState.PENDING,
                OrderState.UNKNOWN,
                OrderState.REQUIRES_ACTION,
            ):
                results.append(order)
                continue
            try:
                results.append(self._resolve(order))
            except SubscriptionsError:
                with self.store.unit_of_work() as uow:
                    final = uow.orders.get(order.id)
                    assert final is not None
                results.append(final)
        return results

    def _resolve(self, order: Order) -> Order:
        if order.amount_due <= 0:
            return self._complete(order, charge=None)
        result = self.gateway.lookup(self._charge_key(order))
        if result is None:
            return self._set_state(
                order,
                OrderState.FAILED,
                failure_code="not_charged",
                failure_message="the payment never reached the gateway; nothing was charged",
            )
        if result.status is PaymentStatus.SUCCEEDED:
            try:
                return self._complete(order, charge=result)
            except PaymentFailed:
                with self.store.unit_of_work() as uow:
                    final = uow.orders.get(order.id)
                    assert final is not None
                return final
        if result.status is PaymentStatus.REQUIRES_ACTION:
            with self.store.unit_of_work() as uow:
                quote = uow.quotes.get(order.quote_id)
            if quote is not None and self._now() >= quote.expires_at:
                return self._set_state(
                    order,
                    OrderState.FAILED,
                    failure_code="abandoned",
                    failure_message="the customer never completed 3-D Secure; nothing was charged",
                )
            return order
        return self._after_charge(order, result)

    # -- seats -------------------------------------------------------------------------

    def _seats_for(
        self, uow: UnitOfWork, account: Account, product: str
    ) -> tuple[Subscription, SeatAssignments]:
        sub = self._find_subscription(uow, account.id, product)
        if sub.status not in _BILLING:
            raise NoSubscription(product, "manage seats of")
        seats = uow.seats.get(sub.id) or SeatAssignments(
            subscription_id=sub.id, seats=sub.terms.seats
        )
        return sub, seats

    def _change_seats(
        self,
        account_id: str,
        user: str,
        product: str,
        change: Callable[[SeatAssignments], SeatAssignments],
        kind: EventKind,
        detail: str,
    ) -> SeatAssignments:
        with self.store.unit_of_work() as uow:
            account = self._account(uow, account_id)
            require_billing_contact(account, user, "manage seats")
            sub, seats = self._seats_for(uow, account, product)
            updated = change(seats)
            uow.seats.put(updated)
            self._record(
                uow,
                account_id,
                [
                    Event(
                        kind=kind,
                        at=self._now(),
                        subscription_id=sub.id,
                        product=product,
                        detail=detail,
                    )
                ],
            )
            uow.commit()
        return updated

    @_exact_decimals
    def assign_seats(
        self, account_id: str, user: str, product: str, user_ids: Sequence[str]
    ) -> SeatAssignments:
        """Give seats of ``product`` to these users (all or nothing)."""
        return self._change_seats(
            account_id,
            user,
            product,
            lambda seats: assign(seats, user_ids),
            EventKind.SEATS_ASSIGNED,
            ", ".join(user_ids) if not isinstance(user_ids, str) else user_ids,
        )

    @_exact_decimals
    def unassign_seats(
        self, account_id: str, user: str, product: str, user_ids: Sequence[str]
    ) -> SeatAssignments:
        return self._change_seats(
            account_id,
            user,
            product,
            lambda seats: unassign(seats, user_ids),
            EventKind.SEATS_UNASSIGNED,
            ", ".join(user_ids) if not isinstance(user_ids, str) else user_ids,
        )

    @_exact_decimals
    def reassign_seat(
        self, account_id: str, user: str, product: str, from_user: str, to_user: str
    ) -> SeatAssignments:
        return self._change_seats(
            account_id,
            user,
            product,
            lambda seats: reassign(seats, from_user, to_user),
            EventKind.SEATS_ASSIGNED,
            f"{from_user} -> {to_user}",
        )

    @_exact_decimals
    def release_seats(
        self, account_id: str, user: str, product: str, user_ids: Sequence[str]
    ) -> SeatAssignments:
        """Release seats before ordering fewer (the same as unassigning them)."""
        return self.unassign_seats(account_id, user, product, user_ids)

    @_exact_decimals
    def seats(self, account_id: str, user: str, product: str) -> SeatAssignments:
        """Who holds which seat of ``product``."""
        with self.store.unit_of_work() as uow:
            account = self._account(uow, account_id)
            require_billing_contact(account, user, "see seat assignments")
            return self._seats_for(uow, account, product)[1]

    # -- cancel, reactivate ------------------------------------------------------------

    @_exact_decimals
    def cancel(
        self,
        account_id: str,
        user: str,
        product: str,
        *,
        timing: CancelTiming | str = CancelTiming.END_OF_TERM,
    ) -> Subscription:
        """Cancel at the end of the term (default), or immediately with a credit for
        the unused time (added to the credit balance, not refunded)."""
        timing = CancelTiming(timing) if isinstance(timing, str) else timing
        with self.store.unit_of_work() as uow:
            account = self._account(uow, account_id)
            require_billing_contact(account, user, "cancel subscriptions")
            if account.corporate:
                raise CorporateSelfServiceRefused(f"account {account.name!r}")
            sub = self._find_subscription(uow, account_id, product)
            now = self._now()
            if sub.status is Status.PAST_DUE and sub.dunning is not None:
                # Its last period was never paid: it ends where the paid one did, the
                # unpaid invoice is voided, and no credit is due.
                lapsed = self._lapse(uow, account, sub, now)
                uow.commit()
                self.deliver_outbox()
                return lapsed
            self._catch_up(sub, now)
            outcome = apply(sub, Cancel(timing=timing), at=now, context=self.context(account))
            if outcome.subscription is sub:
                return sub  # already set to cancel at the end of its term
            uow.subscriptions.update(outcome.subscription)
            self._record(uow, account_id, outcome.events)
            if outcome.invoice is not None:
                settled, balance = apply_credit(outcome.invoice, account.credit_balance)
                self._issue(uow, account, settled, order_id=None)
                uow.accounts.update(
                    attrs.evolve(account, credit_balance=balance, version=account.version + 1)
                )
            uow.commit()
        return outcome.subscription

    @_exact_decimals
    def reactivate(self, account_id: str, user: str, product: str) -> Subscription:
        """Undo a cancellation scheduled for the end of the term."""
        with self.store.unit_of_work() as uow:
            account = self._account(uow, account_id)
            require_billing_contact(account, user, "reactivate subscriptions")
            if account.corporate:
                raise CorporateSelfServiceRefused(f"account {account.name!r}")
            sub = self._find_subscription(uow, account_id, product)
            now = self._now()
            self._catch_up(sub, now)
            outcome = apply(sub, Reactivate(), at=now, context=self.context(account))
            uow.subscriptions.update(outcome.subscription)
            self._record(uow, account_id, outcome.events)
            uow.commit()
        return outcome.subscription

    # -- invoices ----------------------------------------------------------------------

    @_exact_decimals
    def pay_invoice(
        self, account_id: str, user: str, invoice_id: str, *, idempotency_key: str
    ) -> IssuedInvoice:
        """Pay an open invoice now with the account's payment method (after updating
        it, typically): a past-due subscription becomes active again. Idempotent per
        key; a declined payment raises :class:`PaymentDeclined` and changes nothing."""
        _check_key(idempotency_key)
        with self.store.unit_of_work() as uow:
            account = self._account(uow, account_id)
            require_billing_contact(account, user, "pay invoices")
            invoice = uow.invoices.get(invoice_id)
            if invoice is None or invoice.account_id != account_id:
                raise NotFound(
                    f"no invoice {invoice_id!r} for account {account_id!r}; list the "
                    "account's invoices to find its id"
                )
            if invoice.status is not InvoiceStatus.OPEN or invoice.amount_due <= 0:
                raise InvalidTransition(
                    f"invoice {invoice.number} is {invoice.status.value}; there is nothing to pay"
                )
            if account.payment_method is None:
                raise InvalidInput(
                    "the account has no payment method; add one with update_payment_method"
                )
            subs = [
                s
                for s in uow.subscriptions.for_account(account_id)
                if s.dunning is not None and s.dunning.invoice_id == invoice_id
            ]
        result = self.gateway.charge(
            ChargeRequest(
                idempotency_key=f"invoice:{invoice.id}:pay:{idempotency_key}",
                amount=Money(invoice.amount_due, money_currency(invoice.currency)),
                payment_method=account.payment_method,
                description=f"Invoice {invoice.number}",
            )
        )
        if result.status is not PaymentStatus.SUCCEEDED:
            raise PaymentDeclined(
                f"the payment of invoice {invoice.number} did not go through "
                f"({result.decline_code or result.status.value}: {result.message}); nothing "
                "changed: update the payment method and try again",
                order_id=None,
                code=result.decline_code or result.status.value,
            )
        now = self._now()
        with self.store.unit_of_work() as uow:
            stored = uow.invoices.get(invoice_id)
            assert stored is not None
            if stored.status is not InvoiceStatus.OPEN:
                return stored
            paid = uow.invoices.set_status(stored, InvoiceStatus.PAID)
            for sub in subs:
                current = uow.subscriptions.get(sub.id)
                if current is not None and current.status is Status.PAST_DUE:
                    uow.subscriptions.update(
                        attrs.evolve(
                            current, status=Status.ACTIVE, dunning=None, version=current.version + 1
                        )
                    )
                    self._record(
                        uow,
                        account_id,
                        [
                            Event(
                                kind=EventKind.SUBSCRIPTION_RECOVERED,
                                at=now,
                                subscription_id=sub.id,
                                product=sub.product,
                            )
                        ],
                    )
            self._record(
                uow,
                account_id,
                [Event(kind=EventKind.PAYMENT_SUCCEEDED, at=now, detail=invoice.number)],
            )
            uow.commit()
        return paid

    @_exact_decimals
    def invoices(self, account_id: str, user: str) -> list[IssuedInvoice]:
        """The account's invoices and credit notes, in number order."""
        with self.store.unit_of_work() as uow:
            account = self._account(uow, account_id)
            require_billing_contact(account, user, "see invoices")
            return uow.invoices.for_account(account_id)

    @_exact_decimals
    def invoice(self, account_id: str, user: str, invoice_id: str) -> IssuedInvoice:
        with self.store.unit_of_work() as uow:
            account = self._account(uow, account_id)
            require_billing_contact(account, user, "see invoices")
            invoice = uow.invoices.get(invoice_id)
            if invoice is None or invoice.account_id != account_id:
                raise NotFound(
                    f"no invoice {invoice_id!r} for account {account_id!r}; list the "
                    "account's invoices to find its id"
                )
            return invoice

    # -- bill run ----------------------------------------------------------------------

    @_exact_decimals
    def run_renewals(
        self, at: datetime | None = None, *, progress: Callable[[int], None] | None = None
    ) -> BillRunReport:
        """Renew every subscription due at ``at`` (default: now), in batches.

        For each due subscription: trials end (expire, or convert and charge),
        end-of-term cancellations take effect, renewals are invoiced with the credit
        balance applied and charged off-session; a failed charge makes the
        subscription ``past_due`` and is retried on ``Settings.retry_days`` before the
        subscription lapses (canceled at the end of its paid period, the unpaid
        invoice voided by a credit note). Each batch of ``Settings.batch_size`` is
        renewed in one transaction, charged, and its results recorded in another, so
        memory stays bounded and a crash loses nothing committed before it.
        """
        at = at or self._now()
        report = BillRunReport()
        done = 0
        while True:
            # A pass over everything due; a subscription with several periods due
            # (a late bill run) comes back in the next pass.
            processed = 0
            after: str | None = None
            while True:
                with self.store.unit_of_work() as uow:
                    ids = uow.subscriptions.due(at, limit=self.settings.batch_size, after=after)
                if not ids:
                    break
                after = ids[-1]
                try:
                    report, singles = self._bill_batch(ids, at, report)
                except ConcurrencyConflict:
                    # Someone else changed one of them meanwhile: nothing of the batch
                    # was kept; take them one at a time.
                    singles = ids
                for sub_id in singles:
                    report = self._bill(sub_id, at, report)
                processed += len(ids)
                done += len(ids)
                if progress is not None:
                    progress(done)
                self.deliver_outbox()
            if processed == 0:
                return report

    def _bill_batch(
        self, ids: Sequence[str], at: datetime, report: BillRunReport
    ) -> tuple[BillRunReport, list[str]]:
        """Renew a batch in one transaction, then charge, then record the results in
        another. Returns the report and the ids left to the one-at-a-time path
        (retries and lapses of past-due subscriptions)."""
        singles: list[str] = []
        counts: dict[str, int] = {}
        to_collect: list[tuple[Subscription, Account, IssuedInvoice, datetime]] = []
        with self.store.unit_of_work() as uow:
            subs = uow.subscriptions.get_many(ids)
            accounts = uow.accounts.get_many(
                sorted({s.account_id for s in subs.values() if s.account_id is not None})
            )
            # Accounts taxed alike (same currency, zone, place and VAT number) share a
            # context, and with it the tax decisions it has made for each date.
            contexts: dict[tuple[object, ...], BillingContext] = {}
            for sub_id in ids:
                sub = subs.get(sub_id)
                if sub is None or sub.account_id is None or sub.account_id not in accounts:
                    continue
                if sub.status is Status.PAST_DUE:
                    singles.append(sub_id)
                    continue
                due = next_due(sub)
                if due is None or due > at:
                    continue
                account = accounts[sub.account_id]
                key = (
                    account.currency,
                    account.timezone,
                    account.country,
                    account.region,
                    self._usable_vat_number(account),
                )
                context = contexts.get(key)
                if context is None:
                    context = contexts[key] = self.context(account)
                kind, account, new, invoice = self._renew_one(uow, account, sub, due, context)
                accounts[account.id] = account
                counts[kind] = counts.get(kind, 0) + 1
                if invoice is not None and invoice.amount_due > 0:
                    to_collect.append((new, account, invoice, due))
            uow.commit()
        results = [(item, self._charge_invoice(item[1], item[2], attempt=1)) for item in to_collect]
        if results:
            with self.store.unit_of_work() as uow:
                failed = [item for item, result in results if not _succeeded(result)]
                subs_now = uow.subscriptions.get_many([item[0].id for item in failed])
                for (sub, account, invoice, due), result in results:
                    if _succeeded(result):
                        # Just issued by this batch: mark it paid without reading it
                        # back (the versioned update still refuses a concurrent change).
                        uow.invoices.set_status(invoice, InvoiceStatus.PAID)
                        counts["charged"] = counts.get("charged", 0) + 1
                        continue
                    self._record_collection(
                        uow,
                        sub,
                        account,
                        invoice,
                        attempt=1,
                        failed_at=due,
                        result=result,
                        loaded=(subs_now.get(sub.id), invoice),
                    )
                    counts["failed"] = counts.get("failed", 0) + 1
                uow.commit()
        for counter, n in counts.items():
            report = attrs.evolve(report, **{counter: getattr(report, counter) + n})
        return report, singles

    def _renew_one(
        self,
        uow: UnitOfWork,
        account: Account,
        sub: Subscription,
        due: datetime,
        context: BillingContext,
    ) -> tuple[str, Account, Subscription, IssuedInvoice | None]:
        """Apply the step due for ``sub`` inside ``uow``; returns what it was, the
        account as updated, the new subscription state and the invoice issued."""
        was = sub.status
        outcome = advance(sub, context=context)
        new = outcome.subscription
        self._record(uow, account.id, outcome.events)
        uow.subscriptions.update(new)
        if outcome.invoice is None:
            if was is Status.TRIALING:
                self._post(uow, self._trial_expired_message(account, sub, due))
                return "trials_expired", account, new, None
            return "canceled", account, new, None
        settled, balance = apply_credit(outcome.invoice, account.credit_balance)
        invoice = self._issue(
            uow,
            account,
            settled,
            order_id=None,
            status=InvoiceStatus.OPEN if settled.amount_due > 0 else None,
        )
        if balance != account.credit_balance:
            account = attrs.evolve(account, credit_balance=balance, version=account.version + 1)
            uow.accounts.update(account)
        self._sync_seats(uow, new, sub)
        kind = "trials_converted" if was is Status.TRIALING else "renewed"
        return kind, account, new, invoice

    def _bill(self, sub_id: str, at: datetime, report: BillRunReport) -> BillRunReport:
        """Process everything due for one subscription up to ``at``."""
        for _ in range(10_000):
            try:
                step = self._bill_step(sub_id, at)
            except ConcurrencyConflict:
                return attrs.evolve(report, conflicts=report.conflicts + 1)
            if step is None:
                return report
            for counter in step.split("+"):
                report = attrs.evolve(report, **{counter: getattr(report, counter) + 1})
        raise InvalidTransition(
            f"subscription {sub_id!r} still has steps due after 10,000 renewals; check its "
            "anchor and frequency"
        )

    def _bill_step(self, sub_id: str, at: datetime) -> str | None:
        with self.store.unit_of_work() as uow:
            sub = uow.subscriptions.get(sub_id)
            if sub is None or sub.account_id is None:
                return None
            account = self._account(uow, sub.account_id)
            context = self.context(account)
            due = next_due(sub)
            retry = None if sub.dunning is None else sub.dunning.next_retry_at
            if (
                sub.status is Status.PAST_DUE
                and retry is not None
                and retry <= at
                and (due is None or retry < due)
            ):
                # A retry comes before the end of the unpaid period.
                uow.rollback()
                return self._retry(sub, account, at)
            if due is None or due > at:
                return None
            if sub.status is Status.PAST_DUE:
                self._lapse(uow, account, sub, due)
                uow.commit()
                return "lapsed"
            kind, account, new, invoice = self._renew_one(uow, account, sub, due, context)
            uow.commit()
        if invoice is not None and invoice.amount_due > 0:
            paid = self._collect(new, account, invoice, attempt=1, failed_at=due)
            return f"{kind}+{'charged' if paid else 'failed'}"
        return kind

    def _sync_seats(self, uow: UnitOfWork, sub: Subscription, before: Subscription) -> None:
        if sub.terms.seats == before.terms.seats:
            return
        seats = uow.seats.get(sub.id)
        if seats is not None and seats.seats != sub.terms.seats and sub.status in _BILLING:
            # A scheduled reduction: the most recently assigned users are released.
            released = seats.users[sub.terms.seats :]
            uow.seats.put(resize(seats, sub.terms.seats, release=released))

    def _charge_invoice(
        self, account: Account, invoice: IssuedInvoice, *, attempt: int
    ) -> PaymentResult | None:
        """Charge an open invoice off-session; None when it could not be tried."""
        token = account.payment_method
        if token is None:
            return None
        try:
            return self.gateway.charge(
                ChargeRequest(
                    idempotency_key=f"invoice:{invoice.id}:{attempt}",
                    amount=Money(invoice.amount_due, money_currency(invoice.currency)),
                    payment_method=token,
                    description=f"Invoice {invoice.number}",
                    off_session=True,
                )
            )
        except GatewayUnavailable:
            return None

    def _collect(
        self,
        sub: Subscription,
        account: Account,
        invoice: IssuedInvoice,
        *,
        attempt: int,
        failed_at: datetime,
    ) -> bool:
        """Charge an open invoice off-session; on failure, schedule the next retry."""
        result = self._charge_invoice(account, invoice, attempt=attempt)
        with self.store.unit_of_work() as uow:
            paid = self._record_collection(
                uow, sub, account, invoice, attempt=attempt, failed_at=failed_at, result=result
            )
            uow.commit()
        return paid

    def _record_collection(
        self,
        uow: UnitOfWork,
        sub: Subscription,
        account: Account,
        invoice: IssuedInvoice,
        *,
        attempt: int,
        failed_at: datetime,
        result: PaymentResult | None,
        loaded: tuple[Subscription | None, IssuedInvoice | None] | None = None,
    ) -> bool:
        """Record a collection attempt: the invoice paid, or the next retry scheduled.

        ``loaded`` passes the subscription and invoice already read in this unit of
        work (a batch reads them all at once)."""
        token = account.payment_method
        paid = result is not None and result.status is PaymentStatus.SUCCEEDED
        now = self._now()
        if loaded is None:
            current, stored = uow.subscriptions.get(sub.id), uow.invoices.get(invoice.id)
        else:
            current, stored = loaded
        assert current is not None
        assert stored is not None
        if paid:
            uow.invoices.set_status(stored, InvoiceStatus.PAID)
            if current.status is Status.PAST_DUE:
                uow.subscriptions.update(
                    attrs.evolve(
                        current,
                        status=Status.ACTIVE,
                        dunning=None,
                        version=current.version + 1,
                    )
                )
                self._record(
                    uow,
                    account.id,
                    [
                        Event(
                            kind=EventKind.SUBSCRIPTION_RECOVERED,
                            at=now,
                            subscription_id=sub.id,
                            product=sub.product,
                        )
                    ],
                )
            return True
        retry_days = self.settings.retry_days
        next_retry = (
            failed_at + timedelta(days=retry_days[attempt - 1])
            if attempt <= len(retry_days)
            else None
        )
        dunning = Dunning(
            invoice_id=invoice.id,
            failed_at=failed_at,
            attempts=attempt,
            next_retry_at=next_retry,
        )
        uow.subscriptions.update(
            attrs.evolve(
                current, status=Status.PAST_DUE, dunning=dunning, version=current.version + 1
            )
        )
        reason = (
            "no payment method"
            if token is None
            else ("gateway unavailable" if result is None else (result.decline_code or "declined"))
        )
        self._record(
            uow,
            account.id,
            [
                Event(
                    kind=EventKind.PAYMENT_FAILED,
                    at=now,
                    subscription_id=sub.id,
                    product=sub.product,
                    detail=f"{invoice.number}: {reason}",
                ),
                Event(
                    kind=EventKind.SUBSCRIPTION_PAST_DUE,
                    at=now,
                    subscription_id=sub.id,
                    product=sub.product,
                ),
            ],
        )
        if next_retry is None:
            # The last retry failed: the subscription lapses, and says so itself.
            return False
        self._post(
            uow,
            render_payment_failed(
                PaymentFailure(
                    account_name=account.name,
                    locale=account.locale,
                    timezone=account.timezone,
                    product_name=self.catalog.product(sub.product).name,
                    currency=invoice.currency,
                    amount=invoice.amount_due,
                    failed_at=now,
                    next_retry_at=next_retry,
                    ends_at=failed_at + timedelta(days=retry_days[-1]) if retry_days else None,
                ),
                to=sorted(account.billing_contacts),
            ),
        )
        return False

    def _retry(self, sub: Subscription, account: Account, at: datetime) -> str:
        assert sub.dunning is not None
        dunning = sub.dunning
        with self.store.unit_of_work() as uow:
            invoice = uow.invoices.get(dunning.invoice_id)
        assert invoice is not None
        attempt = dunning.attempts + 1
        if self._collect(sub, account, invoice, attempt=attempt, failed_at=dunning.failed_at):
            return "retried+recovered"
        with self.store.unit_of_work() as uow:
            current = uow.subscriptions.get(sub.id)
            assert current is not None
            if current.dunning is not None and current.dunning.next_retry_at is None:
                self._lapse(uow, account, current, at)
                uow.commit()
                return "retried+lapsed"
        return "retried"

    def _lapse(
        self, uow: UnitOfWork, account: Account, sub: Subscription, at: datetime
    ) -> Subscription:
        """End an unpaid subscription at the end of its paid period; void the unpaid
        invoice with a credit note (the credit balance it used comes back)."""
        assert sub.dunning is not None
        ended_at = sub.dunning.failed_at
        invoice = uow.invoices.get(sub.dunning.invoice_id)
        assert invoice is not None
        fresh = self._account(uow, account.id)
        if invoice.status is InvoiceStatus.OPEN:
            uow.invoices.set_status(invoice, InvoiceStatus.VOID)
            reversal = Invoice(
                currency=invoice.currency,
                issued_at=at,
                reason=InvoiceReason.CANCEL,
                lines=tuple(
                    attrs.evolve(
                        line, kind=LineKind.CREDIT, listed=-line.listed, amount=-line.amount
                    )
                    for line in invoice.lines
                ),
                subtotal=-invoice.subtotal,
                taxes=tuple(attrs.evolve(t, base=-t.base, amount=-t.amount) for t in invoice.taxes),
                total=-invoice.total,
            )
            self._issue(
                uow,
                fresh,
                reversal,
                order_id=None,
                status=InvoiceStatus.SETTLED,
                corrects=(invoice.number,),
            )
            if invoice.credit_applied > 0:
                uow.accounts.update(
                    attrs.evolve(
                        fresh,
                        credit_balance=fresh.credit_balance + invoice.credit_applied,
                        version=fresh.version + 1,
                    )
                )
        lapsed = attrs.evolve(
            sub,
            status=Status.CANCELED,
            period=None
            if sub.period is None or sub.period.start >= ended_at
            else Period(sub.period.start, ended_at),
            open_charges=(),
            canceled_at=ended_at,
            scheduled=None,
            dunning=None,
            version=sub.version + 1,
        )
        uow.subscriptions.update(lapsed)
        self._post_lapse(uow, account, sub, at, ended_at)
        return lapsed

    def _post_lapse(
        self,
        uow: UnitOfWork,
        account: Account,
        sub: Subscription,
        at: datetime,
        ended_at: datetime,
    ) -> None:
        self._record(
            uow,
            account.id,
            [
                Event(
                    kind=EventKind.SUBSCRIPTION_LAPSED,
                    at=at,
                    subscription_id=sub.id,
                    product=sub.product,
                )
            ],
        )
        self._post(
            uow,
            render_subscription_lapsed(
                SubscriptionLapse(
                    account_name=account.name,
                    locale=account.locale,
                    timezone=account.timezone,
                    product_name=self.catalog.product(sub.product).name,
                    plan_name=self.catalog.plan(sub.product, sub.terms.plan).name,
                    ended_at=ended_at,
                ),
                to=sorted(account.billing_contacts),
            ),
        )
