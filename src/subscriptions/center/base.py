"""What every use case stands on: the Billing Center's settings, the wiring of its ports
(:class:`Center`), and the few helpers all of them share.

A :class:`Center` holds the catalog, the seller, the host's adapters and the
settings; each use case module (:mod:`.accounts`, :mod:`.orders`, :mod:`.billrun`...)
takes one as its first argument. :class:`~subscriptions.center.BillingCenter`, the
facade a host calls, builds one and delegates to those modules.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import random
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from decimal import localcontext
from typing import Concatenate, ParamSpec, Protocol, TypeVar

import attrs

from .. import collection
from .._enum import Choice
from ..accounts import Account, VatCheckStatus
from ..catalog import Catalog
from ..errors import (
    InstantInFuture,
    InvalidInput,
    InvalidTransition,
    NoStaffCheck,
    NoSubscription,
    NotFound,
    NotStaff,
    shown,
)
from ..inputs import callback, identifier, whole_number
from ..messages import Message, MessageData, Notice
from ..money import EXACT
from ..orders import Seller
from ..periods import ensure_aware
from ..ports import (
    Clock,
    Notifier,
    OutboxEntry,
    PaymentGateway,
    Renderer,
    Store,
    UnitOfWork,
    VatVerifier,
)
from ..pricing import Customer, TaxSetup
from ..subscription import BillingContext, BillingPolicy, Event, Subscription
from ..vat import RateProvider, VatNumber, eu_seller_country

__all__ = [
    "COLLISION_TRIES",
    "Center",
    "Settings",
    "VatUnavailable",
    "new_id",
    "notice",
    "owned",
    "use_case",
]

#: How many times a use case tries again after colliding with a concurrent caller
#: (a version conflict) before it reports the collision.
COLLISION_TRIES = 5
#: Where a delivery that failed after a commit is reported.
_log = logging.getLogger("subscriptions")


class VatUnavailable(Choice):
    """What to do when the online VAT check cannot be made."""

    #: Charge VAT as for a consumer until the number is confirmed (the default).
    CHARGE_VAT = "charge_vat"
    #: Trust the offline check (format and check digits) meanwhile.
    TRUST_OFFLINE = "trust_offline"
    #: Refuse the number; the customer tries again later.
    REFUSE = "refuse"


@attrs.frozen(kw_only=True, weakref_slot=False)
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
    #: How old a VAT number's online evidence may grow before
    #: :func:`~subscriptions.center.vat.revalidate_vat_numbers` checks it again.
    vat_recheck_after: timedelta = timedelta(days=90)
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
        if not isinstance(self.vat_recheck_after, timedelta) or self.vat_recheck_after <= timedelta(
            0
        ):
            raise InvalidInput(
                f"vat_recheck_after must be a positive duration, such as timedelta(days=90), "
                f"not {self.vat_recheck_after!r}"
            )


def new_id(prefix: str) -> str:
    """A new record id: ``prefix``, then time-ordered hex (nanoseconds, then a
    per-process counter) with a random tail, so that ids made later sort later,
    across processes too."""
    counter = next(_ID_COUNTER) % 0x10000
    return f"{prefix}_{time.time_ns():016x}{counter:04x}{_RANDOM.getrandbits(32):08x}"


_ID_COUNTER = itertools.count()
#: The random tails of ids: seeded from the system once per process (a fork gets a
#: new seed), not a system call per id.
_RANDOM = random.Random(os.urandom(16))
if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(after_in_child=lambda: _RANDOM.seed(os.urandom(16)))


class _Owned(Protocol):
    """A record that belongs to an account."""

    @property
    def account_id(self) -> str: ...


_O = TypeVar("_O", bound=_Owned)


def owned(record: _O | None, account_id: str, what: str, hint: str) -> _O:
    """``record`` when it is the account's, else :class:`~subscriptions.errors.NotFound`
    naming ``what`` and what to do (``hint``): a record of another account is not
    found either, so an id tells nothing about other customers."""
    if record is None or record.account_id != account_id:
        raise NotFound(f"no {what} for account {account_id!r}; {hint}")
    return record


_P = ParamSpec("_P")
_R = TypeVar("_R")


class _Facade(Protocol):
    """What :func:`use_case` binds to: an object holding the wiring."""

    _center: Center


def use_case(
    function: Callable[Concatenate[Center, _P], _R],
) -> Callable[Concatenate[_Facade, _P], _R]:
    """A method of :class:`~subscriptions.center.BillingCenter` that runs ``function``
    on the facade's wiring, in the exact decimal context: the facade's methods are
    the use cases themselves (their signatures and documentation, once)."""

    @functools.wraps(function)
    def method(self: _Facade, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with localcontext(EXACT):
            return function(self._center, *args, **kwargs)

    return method


class Center:
    """The wiring of the use cases: the catalog, the seller, the host's adapters and the
    settings, with the helpers every use case shares (the time, the account, the
    billing context, events and messages)."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        seller: Seller,
        store: Store,
        gateway: PaymentGateway,
        clock: Clock,
        notifier: Notifier | None,
        renderer: Renderer,
        address_of: Callable[[str], str | None] | None,
        vat_verifier: VatVerifier | None,
        policy: BillingPolicy,
        settings: Settings,
        rates: RateProvider,
        new_id: Callable[[str], str],
        sleep: Callable[[float], None],
        is_staff: Callable[[str], bool] | None = None,
    ) -> None:
        if not callable(getattr(renderer, "render", None)):
            raise InvalidInput(
                f"renderer={renderer!r} has no render(data, *, to) method; pass a "
                "GettextRenderer (subscriptions.messages) or an object that has one"
            )
        if address_of is not None and not callable(address_of):
            raise InvalidInput(
                f"address_of={address_of!r} must be a function from a user id to the "
                "user's address (or None when the user has none)"
            )
        callback(is_staff, what="is_staff")
        self.catalog = catalog
        self.seller = seller
        self.store = store
        self.gateway = gateway
        self.clock = clock
        self.notifier = notifier
        #: Writes each message when it is delivered.
        self.renderer = renderer
        #: A user's address, from their id (``None``: the user ids are the addresses).
        self.address_of = address_of
        self.vat_verifier = vat_verifier
        self.policy = policy
        self.settings = settings
        self.rates = rates
        #: Makes the ids of new records (tests pass a deterministic one).
        self.new_id = new_id
        #: How the bill run waits between retries of a failing gateway (tests pass a
        #: function that does not wait).
        self.sleep = sleep
        #: The host's staff check: whether a user id is one of the vendor's staff.
        self.is_staff = is_staff

    # -- time --------------------------------------------------------------------------

    def now(self) -> datetime:
        """The clock's now, refused (:class:`~subscriptions.errors.InvalidInput`) if
        it is not an aware datetime in the accepted range: a broken clock stops a use
        case before it changes anything."""
        return ensure_aware(self.clock.now(), what="the clock's now")

    def until(self, at: object, *, what: str) -> datetime:
        """The instant a job runs up to: ``at``, or now; never after now (time only
        moves forward)."""
        instant = None if at is None else ensure_aware(at, what=f"the instant {what} runs up to")
        now = self.now()
        if instant is None:
            return now
        if instant > now:
            raise InstantInFuture(instant, now, what=what)
        return instant

    # -- who acts -----------------------------------------------------------------------

    def require_staff(self, staff_user: object, action: str) -> str:
        """``staff_user`` (an identifier) if the host's staff check says it is one of
        the vendor's staff, asked once; else :class:`~subscriptions.errors.NotStaff`
        (:class:`~subscriptions.errors.NoStaffCheck` without a check). A check that
        answers anything but ``True`` or ``False`` is refused: it never grants by
        accident."""
        user = identifier(staff_user, what="staff user id")
        if self.is_staff is None:
            raise NoStaffCheck(user, action)
        answer = self.is_staff(user)
        if answer is not True and answer is not False:
            raise InvalidInput(
                f"the staff check (is_staff) answered {shown(answer)} "
                f"({type(answer).__name__}) for user {user!r}; it must return True or False"
            )
        if not answer:
            raise NotStaff(user, action)
        return user

    # -- accounts and their billing context --------------------------------------------

    def load_account(self, uow: UnitOfWork, account_id: str) -> Account:
        """The stored account, or :class:`~subscriptions.errors.NotFound`; an
        ``account_id`` that is no identifier is refused before any lookup."""
        account = uow.accounts.get(identifier(account_id, what="account id"))
        if account is None:
            raise NotFound(f"no account {account_id!r}; open the account first")
        return account

    def domestic(self, number: VatNumber) -> bool:
        """Whether ``number`` belongs to the seller's own country (a Monaco seller's is
        France), where it never gives reverse charge: its offline check is all it
        needs, and it is never checked online."""
        return number.country == eu_seller_country(self.seller.country)

    def usable_vat_number(self, account: Account) -> VatNumber | None:
        """The account's VAT number if its check lets it be used for reverse charge
        (per :attr:`Settings.trust_offline_vat` and :attr:`Settings.vat_unavailable`).
        A number found ``INVALID`` is never usable: the account is taxed as a consumer.
        A number of the seller's own country needs only its offline check (it is
        charged the seller's VAT either way, and is printed on the documents)."""
        number, check = account.vat_number, account.vat_check
        if number is None or check is None:
            return None
        if check.status is VatCheckStatus.VALID:
            return number
        if check.status is VatCheckStatus.OFFLINE_VALID:
            trusted = self.settings.trust_offline_vat or self.domestic(number)
            return number if trusted else None
        if check.status is VatCheckStatus.UNAVAILABLE:
            trust = self.settings.vat_unavailable is VatUnavailable.TRUST_OFFLINE
            return number if trust else None
        return None

    def shared_context(
        self, account: Account, contexts: dict[tuple[object, ...], BillingContext]
    ) -> BillingContext:
        """:meth:`context`, shared in ``contexts`` by the accounts taxed alike (same
        currency, zone, place and VAT number), with the tax decisions it has made for
        each date: a bill run or a projection over many accounts builds few."""
        key = (
            account.currency,
            account.timezone,
            account.country,
            account.region,
            self.usable_vat_number(account),
        )
        context = contexts.get(key)
        if context is None:
            context = contexts[key] = self.context(account)
        return context

    def context(self, account: Account) -> BillingContext:
        """The billing context of ``account``: its currency, zone and tax setup."""
        if not isinstance(account, Account):
            raise InvalidInput(
                f"the billing context is of an Account, not {type(account).__name__}; pass "
                "one that open_account or account returned"
            )
        tax = TaxSetup(
            seller_country=self.seller.country,
            customer=Customer(
                country=account.country,
                region=account.region,
                vat_number=self.usable_vat_number(account),
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

    # -- subscriptions -----------------------------------------------------------------

    def subscription_id(self, account_id: str) -> Callable[[str], str]:
        """The id of an account's subscription to a product (one per product)."""
        return lambda product: f"sub_{account_id}_{product}"

    def subscriptions_by_product(self, uow: UnitOfWork, account_id: str) -> dict[str, Subscription]:
        return {s.product: s for s in uow.subscriptions.for_account(account_id)}

    def find_subscription(self, uow: UnitOfWork, account_id: str, product: str) -> Subscription:
        """The account's subscription to ``product``, or
        :class:`~subscriptions.errors.NoSubscription`."""
        self.catalog.product(product)
        sub = uow.subscriptions.get(self.subscription_id(account_id)(product))
        if sub is None:
            raise NoSubscription(product, "manage")
        return sub

    def save_subscription(self, uow: UnitOfWork, sub: Subscription) -> None:
        if uow.subscriptions.get(sub.id) is None:
            uow.subscriptions.add(sub)
        else:
            uow.subscriptions.update(sub)

    def catch_up(self, sub: Subscription, at: datetime) -> None:
        """Refuse to act on a subscription whose automatic step is overdue."""
        due = collection.due_at(sub)
        if due is not None and due <= at:
            raise InvalidTransition(
                f"{sub.product!r} has an automatic step due on {due.isoformat()} that has "
                "not been processed; run the bill run (run_renewals) first"
            )

    # -- events and messages -----------------------------------------------------------

    def record(self, uow: UnitOfWork, account_id: str, events: Iterable[Event]) -> None:
        for event in events:
            uow.events.add(account_id, event)

    def post(self, uow: UnitOfWork, notice: Notice | None) -> None:
        """Put ``notice`` in the outbox, in ``uow``: its message is written and sent
        after the commit (:meth:`deliver_outbox`)."""
        if notice is None:
            return
        uow.outbox.add(OutboxEntry(id=self.new_id("msg"), created_at=self.now(), notice=notice))

    def deliver_outbox(self, *, limit: int = 100) -> int:
        """Send the messages waiting in the outbox, oldest first: each one written by
        the renderer to its users' addresses and handed to the notifier. Returns how
        many were sent.

        A message none of whose users has an address (``address_of`` returned
        ``None`` for each) is not sent, and leaves the outbox. A message that cannot
        be written, addressed or sent (the renderer, ``address_of`` or the notifier
        raises) stays, as do those after it, for the next call, and the error is
        raised; the messages sent before it are marked sent.
        """
        whole_number(limit, what="limit", minimum=1, maximum=10_000)
        if self.notifier is None:
            return 0
        sent = 0
        while True:
            with self.store.unit_of_work() as uow:
                entries = uow.outbox.pending(limit)
                if not entries:
                    return sent
                try:
                    for entry in entries:
                        message = self.written(entry)
                        if message is not None:
                            self.notifier.send(message)
                            sent += 1
                        uow.outbox.mark_sent(entry.id, self.now())
                finally:
                    # What was sent is marked sent, even when a later message failed.
                    uow.commit()

    def deliver_after_commit(self) -> None:
        """Send what a use case's commit put in the outbox, as far as it goes. A message
        that cannot be written, addressed or sent (the host's renderer, ``address_of``
        or notifier raised) waits in the outbox for the next :meth:`deliver_outbox`, and
        the failure is logged (logger ``subscriptions``), never raised: the change is
        committed and stands, so the caller must not be told it failed (an order paid
        and reported as an error would be paid again)."""
        try:
            self.deliver_outbox()
        except Exception:
            _log.warning(
                "a message could not be delivered after a commit; it waits in the outbox "
                "for deliver_outbox()",
                exc_info=True,
            )

    def written(self, entry: OutboxEntry) -> Message | None:
        """The message of ``entry`` as the notifier gets it, to the addresses of its
        users; ``None`` when none of them has one."""
        to = self.addresses(entry.users)
        if not to:
            return None
        if entry.notice is None:
            assert entry.message is not None
            return attrs.evolve(entry.message, to=to)
        message = self.renderer.render(entry.notice.data, to=to)
        if not isinstance(message, Message):
            raise InvalidInput(
                f"the renderer {self.renderer!r} returned {message!r}; render() returns "
                "a subscriptions.messages.Message"
            )
        return message

    def addresses(self, users: Iterable[str]) -> tuple[str, ...]:
        """The addresses of ``users`` (user ids), each once, through ``address_of``:
        those it knows none for (``None``) are left out. Without the hook, the ids
        themselves."""
        if self.address_of is None:
            return tuple(users)
        found: dict[str, None] = {}
        for user in users:
            address = self.address_of(user)
            if address is None:
                continue
            if not isinstance(address, str) or not address.strip():
                raise InvalidInput(
                    f"address_of({user!r}) returned {address!r}; return the user's "
                    "address, or None when they have none"
                )
            found[address] = None
        return tuple(found)


def notice(account: Account, data: MessageData) -> Notice:
    """The message of ``data`` to the account's billing contacts."""
    return Notice(to=sorted(account.billing_contacts), data=data)
