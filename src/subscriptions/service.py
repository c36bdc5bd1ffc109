"""The Billing Center: the use cases a vendor's application calls.

:class:`BillingCenter` is the service shell of DESIGN.md section 2: each use case
loads state through a unit of work, calls the pure core, charges through the payment
gateway, persists, and publishes events and messages, all inside transactions that
roll back unless committed. The host picks the adapters and passes them in. The use
cases that move money live in :mod:`subscriptions.center`; the facade delegates.

Every use case takes the acting user. Only an account's billing contacts may convert,
change, cancel, pay or manage seats; corporate accounts get quotes but are refused
self-service orders (their orders are placed by the vendor's staff on purchase-order
terms and confirmed by the customer).

Every charge and refund is an attempt on record (:mod:`subscriptions.payments`):
committed before the gateway is called, its outcome committed after; an attempt whose
outcome is unknown is resolved by :meth:`BillingCenter.reconcile`, which asks the
gateway by the attempt's key. Time only moves forward: no use case acts at an instant
after the clock's now.
"""

from __future__ import annotations

import functools
import itertools
import os
import random
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from decimal import localcontext
from typing import ParamSpec, TypeVar

import attrs

from . import collection
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
from .center import billrun, invoices, orders, purchase, reconcile
from .center.attempts import lapse_now
from .center.billrun import BillRunReport
from .center.issuing import Draft, corrected, issue
from .center.reconcile import ReconcileReport, Review
from .errors import (
    ConcurrencyConflict,
    CorporateSelfServiceRefused,
    InstantInFuture,
    InvalidInput,
    InvalidTransition,
    InvoiceUnpaid,
    NoSubscription,
    NotFound,
    PaymentInProgress,
    QuoteChanged,
    QuoteExpired,
    StorageError,
    SubscriptionsError,
    VatCheckFailed,
)
from .lifecycle import (
    BillingContext,
    BillingPolicy,
    Cancel,
    CancelTiming,
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
from .messages import Message, TrialExpiry, render_trial_expired
from .money import EXACT
from .orders import COLLECTIBLE, IssuedInvoice, Order, OrderState, Quote, Seller, order_moved
from .payments import PaymentAttempt
from .periods import Frequency, ensure_aware
from .ports import Clock, Notifier, OutboxEntry, PaymentGateway, Store, UnitOfWork, VatVerifier
from .pricing import Customer, LineKind, TaxSetup, apply_credit
from .seats import SeatAssignments, assign, reassign, resize, unassign
from .vat import EU_VAT_RATES, RateProvider, TaxTreatment, VatNumber, parse_vat_number

__all__ = [
    "BillRunReport",
    "BillingCenter",
    "ReconcileReport",
    "Review",
    "Settings",
    "VatUnavailable",
]

_BILLING = frozenset({Status.ACTIVE, Status.PAST_DUE, Status.PENDING_CANCELLATION})


def _same_amounts(priced: PricedCart, quote: Quote, *, exact: bool) -> bool:
    """Whether a cart priced again is what ``quote`` showed: to the last detail when
    priced at the quote's own instant; in every amount (lines, taxes, totals, credit),
    when priced later (its periods then start later)."""
    if exact:
        return priced.invoice == quote.invoice
    mine, theirs = priced.invoice, quote.invoice
    if mine is None or theirs is None:
        return mine is theirs
    return (
        [line.amount for line in mine.lines] == [line.amount for line in theirs.lines]
        and [(t.rate, t.treatment, t.base, t.amount) for t in mine.taxes]
        == [(t.rate, t.treatment, t.base, t.amount) for t in theirs.taxes]
        and (mine.subtotal, mine.total, priced.credit_applied)
        == (theirs.subtotal, theirs.total, quote.credit_applied)
    )


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
    #: Days after a failed renewal on which the charge is retried (each retry keeps its
    #: distance from the one before, counted from when that one failed); after the
    #: last one the subscription lapses.
    retry_days: tuple[int, ...] = (3, 7, 14)
    #: Accept reverse charge on the offline check alone (no verifier, or unverified).
    trust_offline_vat: bool = False
    vat_unavailable: VatUnavailable = VatUnavailable.CHARGE_VAT
    #: Subscriptions renewed per transaction batch by the bill run.
    batch_size: int = 500
    #: The seller's Article 59c election: home-country VAT for EU consumers.
    micro_seller: bool = False
    #: The lease of a payment attempt: how long the process that made it owns it.
    #: Another process (reconcile, the next bill run) asks the gateway about it only
    #: after that.
    reconcile_after: timedelta = timedelta(minutes=5)
    #: How long a payment may stay unknown (the gateway cannot tell) before a person
    #: must review it: no new attempt, no dunning, meanwhile.
    unknown_after: timedelta = timedelta(hours=72)
    #: How long a customer has to complete 3-D Secure for an invoice payment (an
    #: order's own limit is its quote's expiry).
    action_timeout: timedelta = timedelta(minutes=30)
    #: How many times the bill run sends a charge again, under the same key, when the
    #: gateway failed before charging or did not answer.
    gateway_retries: int = 3
    #: The first pause before such a retry; each next one doubles it.
    gateway_backoff: timedelta = timedelta(milliseconds=500)

    def __attrs_post_init__(self) -> None:
        if any(b <= a for a, b in zip(self.retry_days, self.retry_days[1:], strict=False)):
            raise InvalidInput("retry_days must be increasing, such as (3, 7, 14)")
        if any(d <= 0 for d in self.retry_days):
            raise InvalidInput("retry_days must be positive numbers of days")
        if self.batch_size < 1:
            raise InvalidInput("batch_size must be at least 1")
        if self.gateway_retries < 0:
            raise InvalidInput("gateway_retries must be 0 or more")
        for name in ("reconcile_after", "unknown_after", "action_timeout", "gateway_backoff"):
            if getattr(self, name) < timedelta(0):
                raise InvalidInput(f"{name} must be a duration of 0 or more")


def _new_id(prefix: str) -> str:
    # Time-ordered (nanoseconds, then a per-process counter) with a random tail, so
    # that ids made later sort later, across processes too.
    counter = next(_ID_COUNTER) % 0x10000
    return f"{prefix}_{time.time_ns():016x}{counter:04x}{_RANDOM.getrandbits(32):08x}"


_ID_COUNTER = itertools.count()
#: The random tails of ids: seeded from the system once per process (a fork gets a
#: new seed), not a system call per id.
_RANDOM = random.Random(os.urandom(16))
if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(after_in_child=lambda: _RANDOM.seed(os.urandom(16)))


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
    >>> from subscriptions.adapters.fakes import FakeGateway, InMemoryNotifier, ManualClock
    >>> from subscriptions.adapters.memory import InMemoryStore
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
        sleep: Callable[[float], None] = time.sleep,
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
        #: How the bill run waits between retries of a failing gateway (tests pass a
        #: function that does not wait).
        self._sleep = sleep

    # -- helpers -----------------------------------------------------------------------

    def _now(self) -> datetime:
        now = self.clock.now()
        if now.tzinfo is None or now.utcoffset() is None:
            raise InvalidInput("the clock returned a naive datetime; it must be time-zone aware")
        return now

    def _until(self, at: object, *, what: str) -> datetime:
        """The instant a job runs up to: ``at``, or now; never after now (time only
        moves forward)."""
        now = self._now()
        if at is None:
            return now
        if not isinstance(at, datetime):
            raise InvalidInput(
                f"{what} runs up to an aware datetime, not {type(at).__name__} {at!r}; leave "
                "it out to run up to now"
            )
        instant = ensure_aware(at, what=f"the instant {what} runs up to")
        if instant > now:
            raise InstantInFuture(instant, now, what=what)
        return instant

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
        due = collection.due_at(sub)
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
    def expire_trials(
        self, at: datetime | None = None, *, stop: Callable[[], bool] | None = None
    ) -> int:
        """Expire every trial whose end is due at ``at`` (default: now; never later
        than now). Nothing is ever charged. Under the ``convert`` trial policy trials
        are converted, and charged, by :meth:`run_renewals` instead. ``stop()``, when
        it says so, ends the job between two trials."""
        at = self._until(at, what="expiring trials")
        if self.policy.trial_end is TrialEnd.CONVERT:
            return 0
        expired = 0
        after: str | None = None
        while True:
            with self.store.unit_of_work() as uow:
                ids = uow.subscriptions.due(at, limit=self.settings.batch_size, after=after)
            if not ids:
                return expired
            after = ids[-1]
            for sub_id in ids:
                if stop is not None and stop():
                    self.deliver_outbox()
                    return expired
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
                if sub.dunning is not None:
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

        Idempotent: every call with the same key gets the same order, as it stands,
        and it is charged once. The order and its payment attempt are recorded before
        the gateway is called. Returns the order in state ``succeeded``,
        ``requires_action`` (3-D Secure: call :meth:`confirm_payment` once the
        customer has authenticated) or ``unknown`` (the gateway did not answer:
        :meth:`reconcile` resolves it). A declined payment raises
        :class:`~subscriptions.errors.PaymentDeclined` and changes nothing but the
        order's record; a quote whose pinned state changed raises
        :class:`~subscriptions.errors.QuoteChanged`; another order of the account
        still running raises :class:`~subscriptions.errors.OrderInProgress`.
        """
        return orders.place_order(
            self,
            account_id,
            user,
            quote_id,
            idempotency_key=idempotency_key,
            payment_method=payment_method,
        )

    def _valid_quote(
        self, uow: UnitOfWork, account: Account, quote_id: str, now: datetime
    ) -> Quote:
        quote = uow.quotes.get(quote_id)
        if quote is None or quote.account_id != account.id:
            raise NotFound(f"no quote {quote_id!r} for account {account.id!r}; ask for a quote")
        if now >= quote.expires_at:
            raise QuoteExpired(quote_id, f"it expired at {quote.expires_at.isoformat()}")
        self._reprice(uow, account, quote)
        if self._tax_moved(account, quote, now):
            raise QuoteChanged(
                quote.id, "the VAT rate of its charges is not the same on the day it is paid"
            )
        return quote

    def _tax_moved(self, account: Account, quote: Quote, now: datetime) -> bool:
        """Whether the quote's charges would be taxed at another rate on the day they
        are paid (their tax point: a quote made before a rate change, ordered after)."""
        if quote.invoice is None:
            return False
        context = self.context(account)
        paid_on = now.astimezone(context.tz).date()
        if context.tax is None or paid_on == quote.created_at.astimezone(context.tz).date():
            return False
        decision = context.tax.decide(paid_on)
        return any(
            line.tax is not None
            and (line.tax.rate, line.tax.treatment) != (decision.rate, decision.treatment)
            for line in quote.invoice.lines
            if line.kind is LineKind.CHARGE
        )

    def _reprice(
        self, uow: UnitOfWork, account: Account, quote: Quote, *, at: datetime | None = None
    ) -> PricedCart:
        """Price the quote's cart again, at its pinned instant (or ``at``); refuse if
        anything the customer reviewed differs."""
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
        when = quote.created_at if at is None else at
        try:
            priced = self._price(uow, account, quote.cart, when, quote.expires_at - when)
        except (QuoteChanged, ConcurrencyConflict, StorageError):
            # The store's own trouble is not a change of the quote: it propagates.
            raise
        except SubscriptionsError as exc:
            raise QuoteChanged(quote.id, f"it cannot be priced any more ({exc})") from exc
        if priced.amount_due != quote.amount_due or not _same_amounts(
            priced, quote, exact=at is None
        ):
            raise QuoteChanged(
                quote.id,
                "prices, taxes or the credit balance changed since it was made"
                if at is None
                else f"priced on {when.date().isoformat()} it is not what was quoted",
            )
        return priced

    @_exact_decimals
    def confirm_payment(self, account_id: str, user: str, payment_id: str) -> Order | IssuedInvoice:
        """Complete a payment that waited for 3-D Secure, once the customer has
        authenticated: ``payment_id`` is the order's id (the order is returned) or the
        invoice's id for a payment made with :meth:`pay_invoice` (the invoice is
        returned)."""
        with self.store.unit_of_work() as uow:
            self._account(uow, account_id)
            invoice = uow.orders.get(payment_id) is None and uow.invoices.get(payment_id)
        if invoice:
            return invoices.confirm_invoice_payment(self, account_id, user, payment_id)
        return orders.confirm_payment(self, account_id, user, payment_id)

    @_exact_decimals
    def order(self, account_id: str, user: str, order_id: str) -> Order:
        with self.store.unit_of_work() as uow:
            account = self._account(uow, account_id)
            require_billing_contact(account, user, "see orders")
            return orders.find_order(uow, account_id, order_id)

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
        orders.check_key(idempotency_key)
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
            existing = orders.known_order(uow, account_id, idempotency_key, quote_id)
            if existing is not None:
                return existing
            quote = self._valid_quote(uow, account, quote_id, now)
            order = orders.record_order(
                self,
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
        """The customer's billing contact confirms the quote of a purchase-order order.

        The order is priced, and its subscriptions start, at the confirmation (the
        billing date moves to the day of the change, as for self-service); if that
        price is not what the quote said (a proration quoted on an earlier day), the
        confirmation is refused with :class:`~subscriptions.errors.QuoteChanged` and
        the staff quote again. The invoice is issued now, due in the agreed days."""
        now = self._now()
        with self.store.unit_of_work() as uow:
            account = self._account(uow, account_id)
            require_billing_contact(account, user, "confirm orders")
            order = orders.find_order(uow, account_id, order_id)
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
            priced = self._reprice(uow, account, quote, at=now)
            due_at = now + timedelta(days=order.due_days or 0)
            invoice = purchase.persist(
                self, uow, account, priced, order, due_at=due_at, tax_point=now
            )
            updated = order_moved(
                order,
                OrderState.SUCCEEDED,
                at=now,
                invoice_id=None if invoice is None else invoice.id,
            )
            uow.orders.update(updated)
            self._post(uow, purchase.confirmation(self, account, quote, priced, updated, invoice))
            uow.commit()
        self.deliver_outbox()
        return updated

    # -- reconcile ---------------------------------------------------------------------

    @_exact_decimals
    def reconcile(
        self, order_id: str | None = None, *, stop: Callable[[], bool] | None = None
    ) -> ReconcileReport:
        """Resolve every payment attempt left in flight: orders, renewals, retries,
        invoice payments and refunds alike (or only ``order_id``'s).

        Each attempt whose lease (``Settings.reconcile_after``) is over is looked up
        at the gateway by its key: charged means recorded as paid (the order
        completed, the invoice paid), never charged again; not charged means back to
        due, or failed per the retry schedule. An attempt the gateway still cannot
        tell about after ``Settings.unknown_after`` becomes ``needs_review``. A
        concurrent completion is recognised as such and never refunded. One
        attempt's trouble never stops the others. See
        :mod:`subscriptions.center.reconcile`.
        """
        return reconcile.reconcile(self, order_id, stop=stop)

    @_exact_decimals
    def resolve_payment(self, idempotency_key: str) -> PaymentAttempt:
        """Ask the gateway about the payment sent under ``idempotency_key`` and record
        what it says (a gateway's notification of a payment lands here): a charge
        the book had resolved as not charged is recorded too, paid if its invoice is
        still unpaid and refunded otherwise. Returns the attempt as it now stands."""
        return reconcile.resolve(self, idempotency_key)

    @_exact_decimals
    def payment_review(self) -> Review:
        """What needs a person: payments whose outcome stayed unknown past
        ``Settings.unknown_after``, and refunds the gateway refused (read only)."""
        return reconcile.review(self)

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
            if sub.dunning is not None:
                # Its last period was never paid: it ends where the paid one did, the
                # unpaid invoice is voided, and no credit is due.
                unpaid = uow.invoices.get(sub.dunning.invoice_id)
                if unpaid is None:
                    raise NotFound(f"the unpaid invoice of {product!r} is not stored")
                if unpaid.status not in COLLECTIBLE:
                    running = uow.attempts.in_flight(f"invoice:{unpaid.id}")
                    raise PaymentInProgress(
                        f"invoice:{unpaid.id}", None if running is None else running.id
                    )
                lapsed = lapse_now(self, uow, sub, unpaid, at=now)
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
                account = attrs.evolve(account, credit_balance=balance, version=account.version + 1)
                uow.accounts.update(account)
                issue(
                    self,
                    uow,
                    [
                        Draft(
                            account=account,
                            invoice=settled,
                            corrects=corrected(uow, account.id, settled.lines),
                        )
                    ],
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
        """Pay an open (or failed) invoice now, on session, with the account's payment
        method (after updating it, typically): a past-due subscription becomes active
        again. The same key gives the same payment, as it stands; a second payment
        while one is in flight raises
        :class:`~subscriptions.errors.PaymentInProgress` and is never sent. A
        declined payment raises :class:`~subscriptions.errors.PaymentDeclined` and
        changes nothing; 3-D Secure raises
        :class:`~subscriptions.errors.PaymentActionRequired` (call again with the same
        key, or :meth:`confirm_payment`, once the customer has authenticated). The
        invoice is returned paid, or ``charging`` when the gateway did not answer
        (:meth:`reconcile` resolves it)."""
        return invoices.pay_invoice(
            self, account_id, user, invoice_id, idempotency_key=idempotency_key
        )

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
            return invoices.find_invoice(uow, account_id, invoice_id)

    # -- bill run ----------------------------------------------------------------------

    @_exact_decimals
    def run_renewals(
        self,
        at: datetime | None = None,
        *,
        progress: Callable[[int], None] | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> BillRunReport:
        """Renew every subscription due at ``at`` (default: now; never later than
        now), in batches, after resolving what earlier runs left in flight.

        For each due subscription: trials end (expire, or convert and charge),
        end-of-term cancellations take effect, renewals are invoiced (dated now, for
        their past or present periods) with the credit balance applied and charged
        off-session, every charge an attempt on record; a declined charge makes the
        subscription ``past_due`` and is retried on ``Settings.retry_days``, counted
        from each failed attempt, before the subscription lapses (canceled at the end
        of its paid period, the unpaid invoice voided by a credit note). Transient
        gateway failures are retried with backoff and change nothing. A subscription
        that raises is reported in ``BillRunReport.errors`` and the run goes on.
        ``progress(n)`` is called after each batch; ``stop()``, when it says so, ends
        the run cleanly after the charge in progress. See
        :mod:`subscriptions.center.billrun`.
        """
        return billrun.run_renewals(self, at, progress=progress, stop=stop)
