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
terms and confirmed by the customer). Who is staff, the host says: ``is_staff``, a
function of a user id that answers ``True`` for the vendor's staff, asked once by each
of the staff's use cases; without one, no user is staff and those use cases are
refused (:class:`~subscriptions.errors.NoStaffCheck`).

Every charge and refund is an attempt on record (:mod:`subscriptions.payments`):
committed before the gateway is called, its outcome committed after; an attempt whose
outcome is unknown is resolved by :meth:`BillingCenter.reconcile`, which asks the
gateway by the attempt's key. Time only moves forward: no use case acts at an instant
after the clock's now.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable

from ..catalog import Catalog
from ..messages import DEFAULT_RENDERER
from ..orders import Seller
from ..ports import Clock, Notifier, PaymentGateway, Renderer, Store, VatVerifier
from ..subscription import BillingPolicy
from ..vat import EU_VAT_RATES, RateProvider
from . import (
    accounts as _accounts,
)
from . import (
    billrun as _billrun,
)
from . import (
    catalog as _catalog,
)
from . import (
    corporate as _corporate,
)
from . import (
    gateway_events as _gateway_events,
)
from . import (
    invoices as _invoices,
)
from . import (
    orders as _orders,
)
from . import (
    projections as _projections,
)
from . import (
    quotes as _quotes,
)
from . import (
    reconcile as _reconcile,
)
from . import (
    seats as _seats,
)
from . import (
    subscriptions as _subscriptions,
)
from . import (
    trials as _trials,
)
from . import (
    vat as _vat,
)
from .base import Center, Settings, new_id, use_case

__all__ = ["BillingCenter"]


class BillingCenter:
    """The self-service Billing Center over pluggable storage and payments.

    The messages the use cases post (to an account's billing contacts, user ids) are
    written when they are delivered, by ``renderer`` (the library's own
    :data:`~subscriptions.messages.DEFAULT_RENDERER` unless the host gives a
    :class:`~subscriptions.ports.Renderer` of its own, such as a
    :class:`~subscriptions.messages.GettextRenderer` with its catalogs), to the
    addresses ``address_of`` gives for the users (``None`` for a user without one;
    without the hook, the user ids are the addresses), and sent by ``notifier``.

    >>> from datetime import datetime, timezone
    >>> from subscriptions.adapters.fakes import FakeGateway, InMemoryNotifier, ManualClock
    >>> from subscriptions.adapters.memory import InMemoryStore
    >>> from subscriptions.accounts import Address
    >>> from subscriptions.orders import Seller
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
    Money('36.60', 'EUR')
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
        renderer: Renderer = DEFAULT_RENDERER,
        address_of: Callable[[str], str | None] | None = None,
        vat_verifier: VatVerifier | None = None,
        policy: BillingPolicy = BillingPolicy(),
        settings: Settings = Settings(),
        rates: RateProvider = EU_VAT_RATES,
        new_id: Callable[[str], str] = new_id,
        sleep: Callable[[float], None] = time.sleep,
        is_staff: Callable[[str], bool] | None = None,
    ) -> None:
        self._center = Center(
            catalog=catalog,
            seller=seller,
            store=store,
            gateway=gateway,
            clock=clock,
            notifier=notifier,
            renderer=renderer,
            address_of=address_of,
            vat_verifier=vat_verifier,
            policy=policy,
            settings=settings,
            rates=rates,
            new_id=new_id,
            sleep=sleep,
            is_staff=is_staff,
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
    def renderer(self) -> Renderer:
        return self._center.renderer

    @property
    def address_of(self) -> Callable[[str], str | None] | None:
        return self._center.address_of

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

    @property
    def is_staff(self) -> Callable[[str], bool] | None:
        return self._center.is_staff

    # -- the wiring --------------------------------------------------------------------

    context = use_case(Center.context)
    check_catalog = use_case(_catalog.check_catalog)
    deliver_outbox = use_case(Center.deliver_outbox)

    # -- accounts ----------------------------------------------------------------------

    open_account = use_case(_accounts.open_account)
    account = use_case(_accounts.show_account)
    accounts = use_case(_accounts.list_accounts)
    update_payment_method = use_case(_accounts.update_payment_method)
    set_billing_contacts = use_case(_accounts.set_billing_contacts)
    set_vat_number = use_case(_accounts.set_vat_number)
    events = use_case(_accounts.list_events)
    subscriptions = use_case(_accounts.list_subscriptions)

    # -- trials ------------------------------------------------------------------------

    start_trial = use_case(_trials.start_trial)
    expire_trials = use_case(_trials.expire_trials)

    # -- cart and quotes ---------------------------------------------------------------

    cart = use_case(_quotes.show_cart)
    subscribe_now = use_case(_quotes.subscribe_now)
    add_to_cart = use_case(_quotes.add_to_cart)
    edit_cart_item = use_case(_quotes.edit_cart_item)
    remove_cart_item = use_case(_quotes.remove_cart_item)
    quote = use_case(_quotes.quote)
    staff_quote = use_case(_quotes.staff_quote)

    # -- orders ------------------------------------------------------------------------

    place_order = use_case(_orders.place_order)
    confirm_payment = use_case(_invoices.confirm_payment)
    order = use_case(_orders.show_order)
    orders = use_case(_orders.list_orders)

    # -- corporate orders --------------------------------------------------------------

    staff_place_corporate_order = use_case(_corporate.staff_place_corporate_order)
    confirm_corporate_order = use_case(_corporate.confirm_corporate_order)

    # -- reconcile ---------------------------------------------------------------------

    reconcile = use_case(_reconcile.reconcile)
    resolve_payment = use_case(_reconcile.resolve)
    payment_review = use_case(_reconcile.review)
    apply_gateway_event = use_case(_gateway_events.apply_gateway_event)

    # -- seats -------------------------------------------------------------------------

    assign_seats = use_case(_seats.assign_seats)
    unassign_seats = use_case(_seats.unassign_seats)
    reassign_seat = use_case(_seats.reassign_seat)
    release_seats = use_case(_seats.release_seats)
    seats = use_case(_seats.show_seats)

    # -- cancel, reactivate ------------------------------------------------------------

    cancel = use_case(_subscriptions.cancel)
    reactivate = use_case(_subscriptions.reactivate)

    # -- invoices and payments ---------------------------------------------------------

    pay_invoice = use_case(_invoices.pay_invoice)
    invoices = use_case(_invoices.list_invoices)
    invoice = use_case(_invoices.show_invoice)

    # -- bill run ----------------------------------------------------------------------

    run_renewals = use_case(_billrun.run_renewals)
    count_due = use_case(_billrun.count_due)
    preview_renewals = use_case(_projections.preview_renewals)
    forecast = use_case(_projections.forecast_book)

    # -- VAT numbers checked again (a job of its own, never in the bill run) -----------

    revalidate_vat_numbers = use_case(_vat.revalidate_vat_numbers)


for _name, _method in list(vars(BillingCenter).items()):
    if callable(_method) and not _name.startswith("_") and hasattr(_method, "__wrapped__"):
        # Named and signed as the facade's methods, for help() and tracebacks.
        _method.__name__ = _name
        _method.__qualname__ = f"BillingCenter.{_name}"
        _signature = inspect.signature(_method)
        _first, *_rest = _signature.parameters.values()
        _method.__signature__ = _signature.replace(
            parameters=[_first.replace(name="self", annotation="BillingCenter"), *_rest]
        )
del _name, _method, _signature, _first, _rest
