"""Every error the library raises, under one root.

Each error carries structured attributes for programs and a message for people that
says what was wrong and what to do instead. Errors about bad input also subclass
``ValueError`` (or ``TypeError``), so a caller that only knows the builtins still
catches them.

::

    SubscriptionsError
    ├── InvalidInput (ValueError)
    │   ├── FloatRefused (TypeError)
    │   ├── NaiveDatetime
    │   ├── UnknownCurrency
    │   ├── CurrencyMismatch
    │   ├── CatalogError
    │   │   └── CatalogInUse
    │   ├── InvalidVatNumber
    │   ├── UnknownTerritory
    │   ├── DocumentError
    │   │   └── ScenarioError
    │   ├── CodecError
    │   ├── InstantInFuture
    │   ├── AmountNotRepresentable
    │   └── InvalidGatewayEvent
    ├── NotFound (LookupError)
    │   ├── UnknownProduct
    │   ├── UnknownPlan
    │   └── PriceNotOffered
    ├── ActionRefused
    │   ├── InvalidSeatCount (ValueError)
    │   ├── AlreadySubscribed
    │   ├── NoSubscription
    │   ├── TrialAlreadyUsed
    │   ├── CorporateSelfServiceRefused
    │   ├── NotPermitted
    │   │   └── NotStaff
    │   │       └── NoStaffCheck
    │   ├── InvalidTransition
    │   ├── InvoiceUnpaid
    │   ├── CartNotEmpty
    │   ├── CartItemExists
    │   ├── NotInCart
    │   ├── EmptyCart
    │   ├── NotEnoughSeats
    │   ├── SeatAlreadyAssigned
    │   ├── SeatNotAssigned
    │   ├── SeatsInUse
    │   ├── CardSetupIncomplete
    │   └── ReadOnlySnapshot
    ├── TaxRuleError
    │   ├── SellerOutsideEU (ValueError)
    │   └── NoRateForDate (LookupError)
    ├── ConcurrencyConflict
    │   ├── DatabaseConflict
    │   ├── DuplicateRecord (also InvalidInput)
    │   ├── OrderInProgress
    │   └── PaymentInProgress
    ├── StorageError
    │   ├── JournalError
    │   ├── SchemaNotCurrent
    │   │   └── DatabaseMissing
    │   └── SchemaTooNew
    ├── QuoteChanged
    │   └── QuoteExpired
    ├── IdempotencyKeyReused (ValueError)
    ├── PaymentFailed
    │   ├── PaymentDeclined
    │   └── PaymentActionRequired
    ├── GatewayUnavailable
    ├── GatewayMisconfigured
    ├── VatCheckFailed (ValueError)
    └── PaymentNotRecorded
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any


class SubscriptionsError(Exception):
    """The root of every error raised by ``subscriptions``."""


def shown(value: object) -> str:
    """``repr(value)``, cut short: a message never carries a whole huge input (and an
    int too long for ``repr`` still gets its refusal)."""
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 80 else f"{text[:60]}...({len(text)} characters)"


class InvalidInput(SubscriptionsError, ValueError):
    """A value given to the library is malformed or out of range."""


class FloatRefused(InvalidInput, TypeError):
    """A ``float`` was given where an exact amount is needed.

    Binary floats cannot represent most decimal amounts (``0.1 + 0.2 != 0.3``), so
    money never accepts them.
    """

    def __init__(self, value: float, *, what: str = "amount") -> None:
        self.value = value
        super().__init__(
            f"{what} {value!r} is a float; pass a decimal.Decimal or a string such as "
            f"'{value}' instead, so that no cent is lost to binary rounding"
        )


class NaiveDatetime(InvalidInput):
    """A datetime without a time zone was given."""

    def __init__(self, value: Any, *, what: str = "instant") -> None:
        self.value = value
        super().__init__(
            f"{what} {value!r} has no time zone; pass an aware datetime, for example "
            "datetime(2026, 1, 5, tzinfo=ZoneInfo('Europe/Rome'))"
        )


class UnknownCurrency(InvalidInput):
    """A currency code that ISO 4217 does not define."""

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(
            f"unknown currency {code!r}; use an ISO 4217 code such as 'EUR', 'USD' or 'JPY'"
        )


class CurrencyMismatch(InvalidInput):
    """Two amounts in different currencies were combined."""

    def __init__(self, left: str, right: str) -> None:
        self.left = left
        self.right = right
        super().__init__(
            f"cannot combine {left} with {right}; convert one amount first, or keep "
            "each currency on its own invoice"
        )


class CatalogError(InvalidInput):
    """The product catalog is inconsistent (duplicate ids, missing or negative prices)."""


class CatalogInUse(CatalogError):
    """A new catalog would take away what the book still uses: a product, plan,
    frequency or currency of a subscription, a scheduled change, an open cart or an
    unexpired quote. ``uses`` lists each as text (``"subscription s-1: remote-support
    premium monthly EUR"``); nothing was changed."""

    def __init__(self, uses: tuple[str, ...], *, shown: int = 5) -> None:
        self.uses = uses
        listed = "; ".join(uses[:shown])
        more = f" and {len(uses) - shown} more" if len(uses) > shown else ""
        super().__init__(
            f"the new catalog no longer offers what {len(uses)} record(s) use: "
            f"{listed}{more}; keep those offers in the catalog (a price may change, "
            "an offer in use may not go), or end the subscriptions, empty the carts "
            "and let the quotes expire first"
        )


class InvalidVatNumber(InvalidInput):
    """A VAT number failed the offline check.

    ``reason`` is one of ``"format"``, ``"length"``, ``"checksum"``, ``"country"``
    (it belongs to another country than the customer's) or ``"unsupported"`` (not an
    EU VAT number).
    """

    def __init__(self, number: str, *, reason: str, detail: str) -> None:
        self.number = number
        self.reason = reason
        super().__init__(f"VAT number {number!r} is not valid: {detail}")


class UnknownTerritory(InvalidInput):
    """A customer region that does not belong to the customer's country."""


class DocumentError(InvalidInput):
    """A document (a catalog, a seller, a scenario) is malformed at ``path``: a key
    that is not in the format, a value of the wrong type, or a value the domain
    refuses. Nothing of it was used. ``path`` names the place with dots
    (``products.remote-support.trial_days``; a list item without an id by its index,
    ``products[0]``), ``problem`` says what is wrong there."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path else problem)


class ScenarioError(DocumentError):
    """A scenario document is invalid; nothing of it was run."""


class CodecError(InvalidInput):
    """A document does not decode into the class asked for (a missing or malformed
    field), or a class has a field type the codec does not know."""


class InstantInFuture(InvalidInput):
    """A use case was asked to act at an instant after its clock's now: time only
    moves forward (no renewal is charged, no trial ended, ahead of time)."""

    def __init__(self, at: datetime, now: datetime, *, what: str) -> None:
        self.at = at
        self.now = now
        super().__init__(
            f"{what} at {at.isoformat()} is after the clock's now ({now.isoformat()}); "
            "nothing is done ahead of time: leave the instant out (it defaults to now) or "
            "give one that has passed"
        )


class NotFound(SubscriptionsError, LookupError):
    """Something named by id does not exist."""


class UnknownProduct(NotFound):
    def __init__(self, product_id: str, *, known: tuple[str, ...] = ()) -> None:
        self.product_id = product_id
        hint = f"; the catalog offers {', '.join(known)}" if known else ""
        super().__init__(f"no product {product_id!r} in the catalog{hint}")


class UnknownPlan(NotFound):
    def __init__(self, product_id: str, plan_id: str, *, known: tuple[str, ...] = ()) -> None:
        self.product_id = product_id
        self.plan_id = plan_id
        hint = f"; choose one of {', '.join(known)}" if known else ""
        super().__init__(f"product {product_id!r} has no plan {plan_id!r}{hint}")


class PriceNotOffered(NotFound):
    """The plan has no price for that billing frequency (or currency)."""

    def __init__(self, plan_id: str, what: str, *, known: tuple[str, ...] = ()) -> None:
        self.plan_id = plan_id
        self.what = what
        hint = f"; it is offered {', '.join(known)}" if known else ""
        super().__init__(f"plan {plan_id!r} is not offered {what}{hint}")


class ActionRefused(SubscriptionsError):
    """A well-formed action that cannot be done in the current state."""


class InvalidSeatCount(ActionRefused, ValueError):
    """A seat count that is not a whole number from 1 to
    :data:`~subscriptions.seats.MAX_SEATS`."""

    def __init__(self, seats: object, *, maximum: int) -> None:
        self.seats = seats
        self.maximum = maximum
        super().__init__(
            f"seat count {shown(seats)} is not allowed; buy from 1 to {maximum:,} seats "
            "(a whole number)"
        )


class AlreadySubscribed(ActionRefused):
    def __init__(self, product_id: str, status: str) -> None:
        self.product_id = product_id
        self.status = status
        super().__init__(
            f"{product_id!r} already has a subscription ({status}); change it instead of "
            "subscribing again"
        )


class NoSubscription(ActionRefused):
    def __init__(self, product_id: str, action: str) -> None:
        self.product_id = product_id
        self.action = action
        super().__init__(
            f"cannot {action} {product_id!r}: there is no active subscription; subscribe first"
        )


class TrialAlreadyUsed(ActionRefused):
    def __init__(self, product_id: str) -> None:
        self.product_id = product_id
        super().__init__(f"a trial of {product_id!r} was already used; subscribe to keep using it")


class CorporateSelfServiceRefused(ActionRefused):
    def __init__(self, account: str = "this account") -> None:
        self.account = account
        super().__init__(
            f"{account} is a corporate account and cannot order through self-service; "
            "contact your account representative, who can prepare a quote and place the "
            "order on purchase-order terms"
        )


class NotPermitted(ActionRefused):
    """The acting user may not do this (only billing contacts may buy or manage)."""


class NotStaff(NotPermitted):
    """A use case of the vendor's staff (a corporate quote, a purchase-order order)
    called by a user whom the host's staff check (``BillingCenter(is_staff=...)``)
    does not accept. ``user_id`` is that user, ``action`` what was refused."""

    def __init__(self, user_id: str, action: str) -> None:
        self.user_id = user_id
        self.action = action
        super().__init__(
            f"user {user_id!r} is not one of the vendor's staff and cannot {action}; ask "
            "a staff member to do it, or have the host's staff check (is_staff) accept "
            f"the user (on the command line: subscriptions staff add {user_id})"
        )


class NoStaffCheck(NotStaff):
    """A use case of the vendor's staff on a Billing Center built without a staff
    check: with no ``is_staff`` predicate, no user is staff, and nothing is done."""

    def __init__(self, user_id: str, action: str) -> None:
        super().__init__(user_id, action)
        self.args = (
            f"user {user_id!r} cannot {action}: this Billing Center has no staff check, so "
            "no user is staff; build it with is_staff=, a function that says whether a "
            "user id is one of your staff (BillingCenter(..., is_staff=lambda user: user "
            "in STAFF))",
        )


class InvalidTransition(ActionRefused):
    """The subscription's state does not allow this action."""


class TaxRuleError(SubscriptionsError):
    """The built-in tax rules cannot decide."""


class SellerOutsideEU(TaxRuleError, ValueError):
    def __init__(self, country: str) -> None:
        self.country = country
        super().__init__(
            f"seller country {country!r} is not an EU member state; the built-in rules are "
            "EU VAT for an EU seller: plug in your own tax rules for other sellers"
        )


class NoRateForDate(TaxRuleError, LookupError):
    def __init__(self, country: str, on: date) -> None:
        self.country = country
        self.on = on
        super().__init__(
            f"no VAT rate for {country} on {on.isoformat()}: the rate table starts later; "
            "pass a rate provider whose table covers that date"
        )


class ConcurrencyConflict(SubscriptionsError):
    """Someone else changed the record first; reload and try again."""

    def __init__(self, what: str, record_id: str, *, expected: int, found: int | None) -> None:
        self.what = what
        self.record_id = record_id
        self.expected = expected
        self.found = found
        state = "was removed" if found is None else f"is now at version {found}"
        super().__init__(
            f"{what} {record_id!r} changed while this request was working on version "
            f"{expected} (it {state}); reload it and try again"
        )


class StorageError(SubscriptionsError):
    """The database failed: it cannot be reached or opened, the disk is full, the
    schema is newer than this library, or it refused a write for another reason than
    a conflict. The transaction was rolled back; nothing of it was kept."""


class JournalError(StorageError):
    """A journal file (:class:`~subscriptions.adapters.journal.FileJournal`, the fake
    gateway's durable memory) cannot be used: it cannot be opened or written, or a
    line of it other than the last is not a record. ``path`` is the file, ``line``
    the number of the bad line (from 1) or ``None``."""

    def __init__(self, path: str, problem: str, remedy: str, *, line: int | None = None) -> None:
        self.path = path
        self.line = line
        where = path if line is None else f"{path}, line {line}"
        super().__init__(f"journal {where}: {problem}; {remedy}")


#: What to do about a database that is missing or behind the library's schema.
_MIGRATE_HINT = "run `subscriptions db migrate` (or open the store with migrate=True)"


class SchemaNotCurrent(StorageError):
    """A store opened with ``migrate=False`` found the database behind the schema this
    library uses: it has no tables of ours (``found`` is 0: the database is empty, or
    another application's) or an older version of them. Nothing was created or
    changed; migrating it (``subscriptions db migrate``) brings it to ``expected``.
    ``where`` names the database as the message does.
    """

    def __init__(self, where: str, *, found: int, expected: int) -> None:
        self.where = where
        self.found = found
        self.expected = expected
        if found == 0:
            state = "has no tables of subscriptions (it is empty, or another application's)"
        else:
            state = f"is at schema version {found}, and this library needs version {expected}"
        super().__init__(f"{where} {state}; {_MIGRATE_HINT} to migrate it")


class DatabaseMissing(SchemaNotCurrent):
    """A store opened with ``migrate=False`` found no database at all: no SQLite file
    at the path, no PostgreSQL schema of the name given. None was created.
    ``problem`` says what is missing."""

    def __init__(self, where: str, *, expected: int, problem: str) -> None:
        super().__init__(where, found=0, expected=expected)
        self.problem = problem
        self.args = (
            f"{problem}; create it with `subscriptions db init` (or open the store with "
            "migrate=True)",
        )


class SchemaTooNew(StorageError):
    """The database is at a schema version newer than this library knows (a newer
    release of subscriptions migrated it): no store of this release opens it, whatever
    its ``migrate=``. Upgrade the library."""

    def __init__(self, where: str, *, found: int, expected: int) -> None:
        self.where = where
        self.found = found
        self.expected = expected
        super().__init__(
            f"{where} is at schema version {found}, newer than this library knows "
            f"({expected}); upgrade subscriptions to open it"
        )


class DatabaseConflict(ConcurrencyConflict):
    """The database refused the transaction because of a concurrent one: a lock held
    longer than the store's timeout, a deadlock it broke, a serialization failure.
    Nothing was changed; try again."""

    def __init__(self, detail: str) -> None:
        super().__init__("database", "", expected=0, found=None)
        self.detail = detail
        self.args = (
            f"the database refused this transaction because of a concurrent one "
            f"({detail}); nothing was changed: try again",
        )


class DuplicateRecord(ConcurrencyConflict, InvalidInput):
    """``add`` of a record whose id (or unique number) is already stored.

    A :class:`~subscriptions.errors.ConcurrencyConflict` (another request may have
    added it at the same moment) and an :class:`~subscriptions.errors.InvalidInput`
    (as the in-memory store reports a duplicate it can see), so either ``except``
    catches it.
    """

    def __init__(self, what: str, record_id: str, *, hint: str = "") -> None:
        super().__init__(what, record_id, expected=0, found=0)
        self.args = (
            f"{what} {record_id!r} already exists{hint} (another request may have added "
            "it at the same time); use the existing one, or choose another id",
        )


class QuoteChanged(SubscriptionsError):
    """Something the quote pinned has changed; the customer must review a new quote."""

    def __init__(self, quote_id: str, reason: str) -> None:
        self.quote_id = quote_id
        self.reason = reason
        super().__init__(
            f"quote {quote_id!r} is no longer valid: {reason}; ask for a new quote and "
            "review it before ordering"
        )


class QuoteExpired(QuoteChanged):
    pass


class IdempotencyKeyReused(SubscriptionsError, ValueError):
    def __init__(self, key: str, detail: str) -> None:
        self.key = key
        super().__init__(
            f"idempotency key {key!r} was already used for {detail}; use a new key for a "
            "new order, or the same key only to retry the same order"
        )


class PaymentFailed(SubscriptionsError):
    """The payment did not go through; nothing was changed."""

    def __init__(self, message: str, *, order_id: str | None, code: str | None) -> None:
        self.order_id = order_id
        self.code = code
        super().__init__(message)


class PaymentDeclined(PaymentFailed):
    pass


class PaymentActionRequired(PaymentFailed):
    """The customer must complete an action (3-D Secure) before the order completes."""

    def __init__(self, message: str, *, order_id: str | None, next_action: str | None) -> None:
        self.next_action = next_action
        super().__init__(message, order_id=order_id, code="requires_action")


class GatewayUnavailable(SubscriptionsError):
    """The payment gateway did not answer in time; the outcome is unknown."""


class GatewayMisconfigured(SubscriptionsError):
    """The payment gateway refused the request as set up (a wrong API key, a request
    it calls invalid): nothing was charged. ``setting`` names what the host must fix;
    a bill run stops rather than put the book into dunning."""

    def __init__(self, message: str, *, setting: str) -> None:
        self.setting = setting
        super().__init__(f"{message}; fix {setting}, then run the job again")


class AmountNotRepresentable(InvalidInput):
    """An amount the payment gateway cannot take in its currency (Stripe sends minor
    units, and some currencies only whole units or tens of them); nothing was sent."""

    def __init__(self, amount: str, currency: str, *, problem: str, fix: str) -> None:
        self.amount = amount
        self.currency = currency
        self.problem = problem
        super().__init__(f"cannot charge or refund {amount} {currency}: {problem}; {fix}")


class InvalidGatewayEvent(InvalidInput):
    """A gateway notification (a webhook) that cannot be trusted or read: its signature
    does not match the secret, it is too old, or it is not the provider's format.
    Answer it with an error status and record nothing of it."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(
            f"the gateway event was refused: {reason}; check that the webhook secret is "
            "the endpoint's signing secret and that the body is passed unchanged"
        )


class CardSetupIncomplete(ActionRefused):
    """A card setup (a Stripe SetupIntent) that has not saved a card (yet)."""

    def __init__(self, setup_id: str, status: str) -> None:
        self.setup_id = setup_id
        self.status = status
        super().__init__(
            f"card setup {setup_id!r} has not saved a card (its status is {status!r}); "
            "let the customer finish it on the card page, or start a new one"
        )


class VatCheckFailed(SubscriptionsError, ValueError):
    """The online VAT check refused the number, or could not be made and policy says so."""

    def __init__(self, number: str, reason: str) -> None:
        self.number = number
        self.reason = reason
        super().__init__(f"VAT number {number!r} could not be accepted: {reason}")


class OrderInProgress(ConcurrencyConflict):
    """Another order is being placed for the same account."""

    def __init__(self, account_id: str, order_id: str) -> None:
        self.what = "account"
        self.record_id = account_id
        self.expected = 0
        self.found = None
        self.order_id = order_id
        SubscriptionsError.__init__(
            self,
            f"order {order_id!r} is being placed for account {account_id!r}; wait for it to "
            "finish (or its quote to expire), then ask for a new quote",
        )


class PaymentInProgress(ConcurrencyConflict):
    """Another payment of the same order, invoice or refund is in flight; this one was
    not sent."""

    def __init__(self, target: str, idempotency_key: str | None = None) -> None:
        self.what = "payment"
        self.record_id = target
        self.expected = 0
        self.found = None
        self.target = target
        self.idempotency_key = idempotency_key
        known = f" (key {idempotency_key!r})" if idempotency_key else ""
        SubscriptionsError.__init__(
            self,
            f"a payment of {target} is already in flight{known}; nothing more was charged: "
            "wait for its outcome (reconcile resolves one the gateway never answered), "
            "then look at the invoice or order again before paying",
        )


class PaymentNotRecorded(SubscriptionsError):
    """A payment was sent (or may have been), and its outcome could not be recorded:
    the storage failed. Nothing is lost: the attempt stays on record, in flight, and
    :meth:`~subscriptions.BillingCenter.reconcile` (or a retry with the same
    idempotency key) records what the gateway did."""

    def __init__(self, idempotency_key: str, *, cause: BaseException) -> None:
        self.idempotency_key = idempotency_key
        self.cause = cause
        super().__init__(
            f"the payment under key {idempotency_key!r} was sent but its outcome could not "
            f"be recorded ({cause}); no money is lost and none will be taken twice: run "
            "reconcile, or retry with the same idempotency key, once the database works "
            "again; do not pay again with a new key"
        )


class InvoiceUnpaid(ActionRefused):
    """A subscription with an unpaid renewal cannot be changed until it is paid."""

    def __init__(self, product: str, invoice_number: str) -> None:
        self.product = product
        self.invoice_number = invoice_number
        super().__init__(
            f"{product!r} has an unpaid invoice ({invoice_number}); update the payment "
            "method and pay it (pay_invoice) before changing the subscription, or cancel it"
        )


class CartNotEmpty(ActionRefused):
    def __init__(self, product: str) -> None:
        self.product = product
        super().__init__(
            f"the cart already holds items; add {product!r} to the cart instead of "
            "subscribing to it on its own"
        )


class CartItemExists(ActionRefused):
    def __init__(self, product: str) -> None:
        self.product = product
        super().__init__(
            f"{product!r} is already in the cart; edit that item instead of adding it again"
        )


class NotInCart(ActionRefused):
    def __init__(self, product: str) -> None:
        self.product = product
        super().__init__(f"{product!r} is not in the cart; add it first")


class EmptyCart(ActionRefused):
    def __init__(self) -> None:
        super().__init__("the cart is empty; add a product before asking for a quote")


class NotEnoughSeats(ActionRefused):
    def __init__(self, subscription_id: str, *, seats: int, in_use: int, requested: int) -> None:
        self.subscription_id = subscription_id
        self.seats = seats
        self.seats_in_use = in_use
        self.requested = requested
        noun = "seat" if requested == 1 else "seats"
        super().__init__(
            f"cannot assign {requested} more {noun} to subscription {subscription_id!r}: "
            f"{in_use} of {seats} seats are in use; buy more seats or unassign someone first"
        )


class SeatAlreadyAssigned(ActionRefused):
    def __init__(self, subscription_id: str, user_id: str) -> None:
        self.subscription_id = subscription_id
        self.user_id = user_id
        super().__init__(
            f"user {user_id!r} already holds a seat of subscription {subscription_id!r}; "
            "a user needs only one"
        )


class SeatNotAssigned(ActionRefused):
    def __init__(self, subscription_id: str, user_id: str) -> None:
        self.subscription_id = subscription_id
        self.user_id = user_id
        super().__init__(
            f"user {user_id!r} holds no seat of subscription {subscription_id!r}; list the "
            "assignments to see who does"
        )


class SeatsInUse(ActionRefused):
    """Reducing seats below the number assigned, without naming enough users to
    release. ``seats_in_use`` users hold a seat, the change releases ``released`` of
    them, and ``must_release`` more must go for ``seats`` to be enough."""

    def __init__(
        self, subscription_id: str, *, seats: int, in_use: int, release: int, released: int = 0
    ) -> None:
        self.subscription_id = subscription_id
        self.seats = seats
        self.seats_in_use = in_use
        self.released = released
        self.must_release = release
        noun = "seat" if seats == 1 else "seats"
        named = f" and the change releases {released}" if released else ""
        more = " more" if released else ""
        super().__init__(
            f"cannot reduce subscription {subscription_id!r} to {seats} {noun}: {in_use} "
            f"are assigned{named}; release the seats of {release}{more} user(s) first "
            "(release_seats; on the command line, seats release), or name them with the "
            "change (release=[...] in add_to_cart or edit_cart_item; on the command line, "
            "cart add or cart edit with --release USER)"
        )


class ReadOnlySnapshot(ActionRefused):
    """A write (or a claim, which holds what it reads) asked of a snapshot, the
    read-only unit of work of ``Store.snapshot()``. ``operation`` names what was
    asked; nothing was written and the snapshot stays open for reading."""

    def __init__(self, operation: str) -> None:
        self.operation = operation
        super().__init__(
            f"{operation} is a write, and this unit of work is a read-only snapshot "
            "(store.snapshot()); write in a unit of work of store.unit_of_work() instead"
        )
