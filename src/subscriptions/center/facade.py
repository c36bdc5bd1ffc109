"""The Billing Center: the use cases a vendor's application calls.

:class:`BillingCenter` is the facade of the service shell (DESIGN.md section 2): each use
case loads state through a unit of work, calls the pure core, charges through the payment
gateway, persists, and publishes events and messages, all inside transactions that
roll back unless committed. The host picks the adapters and passes them in. Each use
case lives in a module of :mod:`subscriptions.center`, one per group; the facade
builds their wiring (:class:`~subscriptions.center.base.Center`) and delegates.

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

import time
from collections.abc import Callable, Sequence
from datetime import datetime

from ..accounts import Account, AccountKind, Address
from ..cart import Cart
from ..catalog import Catalog
from ..orders import IssuedInvoice, Order, Quote, Seller
from ..payments import PaymentAttempt
from ..periods import Frequency
from ..ports import Clock, Notifier, PaymentGateway, Store, VatVerifier
from ..seats import SeatAssignments
from ..subscription import BillingContext, BillingPolicy, CancelTiming, Event, Subscription
from ..vat import EU_VAT_RATES, RateProvider
from . import (
    accounts,
    billrun,
    corporate,
    invoices,
    orders,
    quotes,
    reconcile,
    seats,
    subscriptions,
    trials,
)
from .base import Center, Settings, exact_decimals, new_id
from .billrun import BillRunReport
from .reconcile import ReconcileReport, Review

__all__ = ["BillingCenter"]


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
        new_id: Callable[[str], str] = new_id,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._center = Center(
            catalog=catalog,
            seller=seller,
            store=store,
            gateway=gateway,
            clock=clock,
            notifier=notifier,
            vat_verifier=vat_verifier,
            policy=policy,
            settings=settings,
            rates=rates,
            new_id=new_id,
            sleep=sleep,
        )

    # -- what it was built with --------------------------------------------------------

    @property
    def catalog(self) -> Catalog:
        return self._center.catalog

    @property
    def seller(self) -> Seller:
        return self._center.seller

    @property
    def store(self) -> Store:
        return self._center.store

    @property
    def gateway(self) -> PaymentGateway:
        return self._center.gateway

    @property
    def clock(self) -> Clock:
        return self._center.clock

    @property
    def notifier(self) -> Notifier | None:
        return self._center.notifier

    @property
    def vat_verifier(self) -> VatVerifier | None:
        return self._center.vat_verifier

    @property
    def policy(self) -> BillingPolicy:
        return self._center.policy

    @property
    def settings(self) -> Settings:
        return self._center.settings

    @property
    def rates(self) -> RateProvider:
        return self._center.rates

    @exact_decimals
    def context(self, account: Account) -> BillingContext:
        """The billing context of ``account``: its currency, zone and tax setup."""
        return self._center.context(account)

    @exact_decimals
    def deliver_outbox(self, *, limit: int = 100) -> int:
        """Send the messages waiting in the outbox through the notifier; returns how
        many were sent. A message whose sending fails stays for the next call."""
        return self._center.deliver_outbox(limit=limit)

    # -- accounts ----------------------------------------------------------------------

    @exact_decimals
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
        return accounts.open_account(
            self._center,
            name=name,
            address=address,
            timezone=timezone,
            locale=locale,
            currency=currency,
            billing_contacts=billing_contacts,
            kind=kind,
            payment_method=payment_method,
            account_id=account_id,
        )

    @exact_decimals
    def account(self, account_id: str) -> Account:
        return accounts.show_account(self._center, account_id)

    @exact_decimals
    def update_payment_method(self, account_id: str, user: str, token: str) -> Account:
        """Replace the account's payment method (a gateway token, never a card number)."""
        return accounts.update_payment_method(self._center, account_id, user, token)

    @exact_decimals
    def set_billing_contacts(self, account_id: str, user: str, contacts: Sequence[str]) -> Account:
        return accounts.set_billing_contacts(self._center, account_id, user, contacts)

    @exact_decimals
    def set_vat_number(self, account_id: str, user: str, number: str | None) -> Account:
        """Enter (or clear, with ``None``) the account's VAT number.

        The number is checked offline (format, check digits, the customer's country),
        then online when a verifier is plugged in; the evidence is kept. An invalid
        number is refused and the account stays as it was. Quotes made before must be
        made again: they pinned the old tax treatment.
        """
        return accounts.set_vat_number(self._center, account_id, user, number)

    @exact_decimals
    def events(self, account_id: str) -> list[Event]:
        return accounts.list_events(self._center, account_id)

    @exact_decimals
    def subscriptions(self, account_id: str) -> list[Subscription]:
        return accounts.list_subscriptions(self._center, account_id)

    # -- trials ------------------------------------------------------------------------

    @exact_decimals
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
        return trials.start_trial(
            self._center, account_id, user, product, plan=plan, seats=seats, frequency=frequency
        )

    @exact_decimals
    def expire_trials(
        self, at: datetime | None = None, *, stop: Callable[[], bool] | None = None
    ) -> int:
        """Expire every trial whose end is due at ``at`` (default: now; never later
        than now). Nothing is ever charged. Under the ``convert`` trial policy trials
        are converted, and charged, by :meth:`run_renewals` instead. ``stop()``, when
        it says so, ends the job between two trials."""
        return trials.expire_trials(self._center, at, stop=stop)

    # -- cart and quotes ---------------------------------------------------------------

    @exact_decimals
    def cart(self, account_id: str) -> Cart:
        return quotes.show_cart(self._center, account_id)

    @exact_decimals
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
        return quotes.subscribe_now(
            self._center, account_id, user, product, plan=plan, seats=seats, frequency=frequency
        )

    @exact_decimals
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
        return quotes.add_to_cart(
            self._center, account_id, user, product, plan=plan, seats=seats, frequency=frequency
        )

    @exact_decimals
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
        return quotes.edit_cart_item(
            self._center, account_id, user, product, plan=plan, seats=seats, frequency=frequency
        )

    @exact_decimals
    def remove_cart_item(self, account_id: str, user: str, product: str) -> Cart:
        return quotes.remove_cart_item(self._center, account_id, user, product)

    @exact_decimals
    def quote(self, account_id: str, user: str) -> Quote:
        """Price the account's cart: lines, credits, VAT per rate, total, amount due
        after the credit balance, and each subscription's next billing date.

        The quote pins the instant, prices, tax treatment and subscription versions;
        it expires after ``Settings.quote_ttl`` (``corporate_quote_ttl`` for corporate
        accounts). Reducing seats below those assigned is refused here already.
        """
        return quotes.quote(self._center, account_id, user)

    @exact_decimals
    def staff_quote(self, staff_user: str, account_id: str) -> Quote:
        """The vendor's staff prepare a quote for an account (corporate ones included)."""
        return quotes.staff_quote(self._center, staff_user, account_id)

    # -- orders ------------------------------------------------------------------------

    @exact_decimals
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
            self._center,
            account_id,
            user,
            quote_id,
            idempotency_key=idempotency_key,
            payment_method=payment_method,
        )

    @exact_decimals
    def confirm_payment(self, account_id: str, user: str, payment_id: str) -> Order | IssuedInvoice:
        """Complete a payment that waited for 3-D Secure, once the customer has
        authenticated: ``payment_id`` is the order's id (the order is returned) or the
        invoice's id for a payment made with :meth:`pay_invoice` (the invoice is
        returned)."""
        return invoices.confirm_payment(self._center, account_id, user, payment_id)

    @exact_decimals
    def order(self, account_id: str, user: str, order_id: str) -> Order:
        return orders.show_order(self._center, account_id, user, order_id)

    # -- corporate orders --------------------------------------------------------------

    @exact_decimals
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
        return corporate.staff_place_corporate_order(
            self._center,
            staff_user,
            account_id,
            quote_id,
            purchase_order=purchase_order,
            due_days=due_days,
            idempotency_key=idempotency_key,
        )

    @exact_decimals
    def confirm_corporate_order(self, account_id: str, user: str, order_id: str) -> Order:
        """The customer's billing contact confirms the quote of a purchase-order order.

        The order is priced, and its subscriptions start, at the confirmation (the
        billing date moves to the day of the change, as for self-service); if that
        price is not what the quote said (a proration quoted on an earlier day), the
        confirmation is refused with :class:`~subscriptions.errors.QuoteChanged` and
        the staff quote again. The invoice is issued now, due in the agreed days."""
        return corporate.confirm_corporate_order(self._center, account_id, user, order_id)

    # -- reconcile ---------------------------------------------------------------------

    @exact_decimals
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
        return reconcile.reconcile(self._center, order_id, stop=stop)

    @exact_decimals
    def resolve_payment(self, idempotency_key: str) -> PaymentAttempt:
        """Ask the gateway about the payment sent under ``idempotency_key`` and record
        what it says (a gateway's notification of a payment lands here): a charge
        the book had resolved as not charged is recorded too, paid if its invoice is
        still unpaid and refunded otherwise. Returns the attempt as it now stands."""
        return reconcile.resolve(self._center, idempotency_key)

    @exact_decimals
    def payment_review(self) -> Review:
        """What needs a person: payments whose outcome stayed unknown past
        ``Settings.unknown_after``, and refunds the gateway refused (read only)."""
        return reconcile.review(self._center)

    # -- seats -------------------------------------------------------------------------

    @exact_decimals
    def assign_seats(
        self, account_id: str, user: str, product: str, user_ids: Sequence[str]
    ) -> SeatAssignments:
        """Give seats of ``product`` to these users (all or nothing)."""
        return seats.assign_seats(self._center, account_id, user, product, user_ids)

    @exact_decimals
    def unassign_seats(
        self, account_id: str, user: str, product: str, user_ids: Sequence[str]
    ) -> SeatAssignments:
        return seats.unassign_seats(self._center, account_id, user, product, user_ids)

    @exact_decimals
    def reassign_seat(
        self, account_id: str, user: str, product: str, from_user: str, to_user: str
    ) -> SeatAssignments:
        return seats.reassign_seat(self._center, account_id, user, product, from_user, to_user)

    @exact_decimals
    def release_seats(
        self, account_id: str, user: str, product: str, user_ids: Sequence[str]
    ) -> SeatAssignments:
        """Release seats before ordering fewer (the same as unassigning them)."""
        return seats.release_seats(self._center, account_id, user, product, user_ids)

    @exact_decimals
    def seats(self, account_id: str, user: str, product: str) -> SeatAssignments:
        """Who holds which seat of ``product``."""
        return seats.show_seats(self._center, account_id, user, product)

    # -- cancel, reactivate ------------------------------------------------------------

    @exact_decimals
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
        return subscriptions.cancel(self._center, account_id, user, product, timing=timing)

    @exact_decimals
    def reactivate(self, account_id: str, user: str, product: str) -> Subscription:
        """Undo a cancellation scheduled for the end of the term."""
        return subscriptions.reactivate(self._center, account_id, user, product)

    # -- invoices and payments ---------------------------------------------------------

    @exact_decimals
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
            self._center, account_id, user, invoice_id, idempotency_key=idempotency_key
        )

    @exact_decimals
    def invoices(self, account_id: str, user: str) -> list[IssuedInvoice]:
        """The account's invoices and credit notes, in number order."""
        return invoices.list_invoices(self._center, account_id, user)

    @exact_decimals
    def invoice(self, account_id: str, user: str, invoice_id: str) -> IssuedInvoice:
        return invoices.show_invoice(self._center, account_id, user, invoice_id)

    # -- bill run ----------------------------------------------------------------------

    @exact_decimals
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
        return billrun.run_renewals(self._center, at, progress=progress, stop=stop)
