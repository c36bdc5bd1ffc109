"""Every refusal of the Billing Center: the error's type, a message that says what to
do, and stored state and charges exactly as they were before the attempt."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest
from conftest import (
    CONTACT,
    DE_VAT,
    IT_VAT,
    OTHER_USER,
    CenterFactory,
    Snapshot,
    account_fields,
    open_account,
    take_snapshot,
)
from moneyed import Money

from subscriptions.accounts import Account, AccountKind, VatCheckStatus
from subscriptions.adapters.fakes import FakeGateway, FakeVatVerifier, ManualClock
from subscriptions.center import BillingCenter, Settings, VatUnavailable
from subscriptions.errors import (
    ActionRefused,
    CartItemExists,
    CartNotEmpty,
    CorporateSelfServiceRefused,
    EmptyCart,
    IdempotencyKeyReused,
    InvalidInput,
    InvalidSeatCount,
    InvalidTransition,
    InvalidVatNumber,
    NoSubscription,
    NotEnoughSeats,
    NotFound,
    NotInCart,
    NotPermitted,
    PaymentDeclined,
    PriceNotOffered,
    QuoteChanged,
    QuoteExpired,
    SeatAlreadyAssigned,
    SeatNotAssigned,
    SeatsInUse,
    SubscriptionsError,
    UnknownPlan,
    UnknownProduct,
    VatCheckFailed,
)
from subscriptions.orders import InvoiceStatus, OrderState
from subscriptions.subscription import EventKind, Status
from subscriptions.vat import TaxTreatment


@attrs.frozen
class Customer:
    """A self-service customer mid-way through the journey."""

    account: Account
    order_id: str
    quote_id: str

    @property
    def id(self) -> str:
        return self.account.id


@pytest.fixture
def customer(center: BillingCenter) -> Customer:
    """An Italian account paying Remote Support (Standard, 3 seats, monthly), two seats
    assigned, Monitoring in its cart and quoted."""
    account = open_account(center)
    center.subscribe_now(account.id, CONTACT, "remote-support", seats=3)
    order = center.place_order(
        account.id, CONTACT, center.quote(account.id, CONTACT).id, idempotency_key="first"
    )
    center.assign_seats(account.id, CONTACT, "remote-support", ["giulia", "marco"])
    center.subscribe_now(account.id, CONTACT, "monitoring", seats=2)
    quote = center.quote(account.id, CONTACT)
    return Customer(account=center.account(account.id), order_id=order.id, quote_id=quote.id)


@pytest.fixture
def refused(
    center: BillingCenter, gateway: FakeGateway
) -> Callable[..., Iterator[SubscriptionsError]]:
    """``with refused(account_id, ErrorType, "what to do"):`` checks that the block
    raises that error, with that advice in its message, and changes nothing stored and
    charges nothing."""
    from contextlib import contextmanager

    @contextmanager
    def check(
        account_id: str, error: type[SubscriptionsError], advice: str
    ) -> Iterator[SubscriptionsError]:
        before = take_snapshot(center, gateway, account_id)
        with pytest.raises(error) as info:
            yield info  # type: ignore[misc]
        assert advice in str(info.value), str(info.value)
        after = take_snapshot(center, gateway, account_id)
        assert after == before

    return check  # type: ignore[return-value]


# -- bad input in the cart ---------------------------------------------------------------


def test_unknown_product(center: BillingCenter, customer: Customer, refused: Any) -> None:
    for attempt in (
        lambda: center.add_to_cart(customer.id, CONTACT, "teleport"),
        lambda: center.edit_cart_item(customer.id, CONTACT, "teleport", plan="gold"),
        lambda: center.start_trial(customer.id, CONTACT, "teleport"),
        lambda: center.seats(customer.id, CONTACT, "teleport"),
        lambda: center.cancel(customer.id, CONTACT, "teleport"),
    ):
        with refused(customer.id, UnknownProduct, "the catalog offers remote-support, monitoring"):
            attempt()
    center.remove_cart_item(customer.id, CONTACT, "monitoring")
    with refused(customer.id, UnknownProduct, "the catalog offers"):
        center.subscribe_now(customer.id, CONTACT, "teleport")


def test_unknown_plan(center: BillingCenter, customer: Customer, refused: Any) -> None:
    with refused(customer.id, UnknownPlan, "choose one of basic"):
        center.edit_cart_item(customer.id, CONTACT, "monitoring", plan="premium")
    with refused(customer.id, UnknownPlan, "choose one of standard, premium"):
        center.start_trial(customer.id, CONTACT, "remote-support", plan="gold")
    center.remove_cart_item(customer.id, CONTACT, "monitoring")
    with refused(customer.id, UnknownPlan, "choose one of basic"):
        center.subscribe_now(customer.id, CONTACT, "monitoring", plan="gold")
    center.subscribe_now(customer.id, CONTACT, "monitoring")
    with refused(customer.id, UnknownPlan, "choose one of standard, premium"):
        center.add_to_cart(customer.id, CONTACT, "remote-support", plan="gold")


@pytest.mark.parametrize("seats", [0, -1, -100, True, False, 2.0, "3", Decimal(2)])
def test_bad_seat_counts(
    center: BillingCenter, customer: Customer, refused: Any, seats: object
) -> None:
    with refused(customer.id, InvalidSeatCount, "buy from 1 to"):
        center.edit_cart_item(customer.id, CONTACT, "monitoring", seats=seats)  # type: ignore[arg-type]
    with refused(customer.id, InvalidSeatCount, "buy from 1 to"):
        center.add_to_cart(customer.id, CONTACT, "remote-support", seats=seats)  # type: ignore[arg-type]
    with refused(customer.id, InvalidSeatCount, "buy from 1 to"):
        center.start_trial(customer.id, CONTACT, "monitoring", seats=seats)  # type: ignore[arg-type]
    center.remove_cart_item(customer.id, CONTACT, "monitoring")
    with refused(customer.id, InvalidSeatCount, "buy from 1 to"):
        center.subscribe_now(customer.id, CONTACT, "monitoring", seats=seats)  # type: ignore[arg-type]


def test_unknown_billing_frequency(center: BillingCenter, customer: Customer, refused: Any) -> None:
    with refused(customer.id, InvalidInput, "use one of 'monthly'"):
        center.edit_cart_item(customer.id, CONTACT, "monitoring", frequency="weekly")
    with refused(customer.id, InvalidInput, "use one of 'monthly'"):
        center.add_to_cart(customer.id, CONTACT, "remote-support", frequency="fortnightly")


def test_a_frequency_the_plan_does_not_offer_is_refused_in_the_cart(
    center: BillingCenter, customer: Customer, refused: Any
) -> None:
    """Like an unknown plan, a billing frequency the plan has no price for is refused
    when it is put in the cart, not left there to fail every later quote."""
    with refused(customer.id, PriceNotOffered, "it is offered"):
        center.edit_cart_item(customer.id, CONTACT, "monitoring", frequency="quarterly")
    with refused(customer.id, PriceNotOffered, "it is offered"):
        center.add_to_cart(customer.id, CONTACT, "remote-support", frequency="quarterly")


def test_cart_edits_refused(center: BillingCenter, customer: Customer, refused: Any) -> None:
    with refused(customer.id, CartNotEmpty, "add 'remote-support' to the cart instead"):
        center.subscribe_now(customer.id, CONTACT, "remote-support")
    with refused(customer.id, CartItemExists, "edit that item instead"):
        center.add_to_cart(customer.id, CONTACT, "monitoring")
    with refused(customer.id, NotInCart, "add it first"):
        center.edit_cart_item(customer.id, CONTACT, "remote-support", seats=4)
    with refused(customer.id, NotInCart, "add it first"):
        center.remove_cart_item(customer.id, CONTACT, "remote-support")
    with refused(customer.id, InvalidInput, "name a plan, a seat count, a frequency or the"):
        center.edit_cart_item(customer.id, CONTACT, "monitoring")
    center.remove_cart_item(customer.id, CONTACT, "monitoring")
    with refused(customer.id, EmptyCart, "add a product"):
        center.quote(customer.id, CONTACT)
    with refused(customer.id, NotFound, "open the account first"):
        center.subscribe_now("acct_missing", CONTACT, "monitoring")


def test_subscribing_again_to_an_active_subscription_means_changing_it(
    center: BillingCenter, customer: Customer, refused: Any
) -> None:
    with refused(customer.id, InvalidTransition, "subscribe instead"):
        center.start_trial(customer.id, CONTACT, "remote-support")
    # The cart changes the subscription rather than subscribing again; an unchanged
    # item is refused at the quote with a clear message.
    center.add_to_cart(customer.id, CONTACT, "remote-support")
    with refused(customer.id, InvalidTransition, "name a different plan, seat count or frequency"):
        center.quote(customer.id, CONTACT)


# -- who may act -------------------------------------------------------------------------


CONTACT_ONLY: dict[str, Callable[[BillingCenter, Customer, str], object]] = {
    "subscribe_now": lambda c, x, u: c.subscribe_now(x.id, u, "remote-support"),
    "add_to_cart": lambda c, x, u: c.add_to_cart(x.id, u, "remote-support", seats=5),
    "edit_cart_item": lambda c, x, u: c.edit_cart_item(x.id, u, "monitoring", seats=9),
    "remove_cart_item": lambda c, x, u: c.remove_cart_item(x.id, u, "monitoring"),
    "quote": lambda c, x, u: c.quote(x.id, u),
    "place_order": lambda c, x, u: c.place_order(x.id, u, x.quote_id, idempotency_key="evil"),
    "confirm_payment": lambda c, x, u: c.confirm_payment(x.id, u, x.order_id),
    "order": lambda c, x, u: c.order(x.id, u, x.order_id),
    "assign_seats": lambda c, x, u: c.assign_seats(x.id, u, "remote-support", [u]),
    "unassign_seats": lambda c, x, u: c.unassign_seats(x.id, u, "remote-support", ["giulia"]),
    "reassign_seat": lambda c, x, u: c.reassign_seat(x.id, u, "remote-support", "giulia", u),
    "release_seats": lambda c, x, u: c.release_seats(x.id, u, "remote-support", ["marco"]),
    "seats": lambda c, x, u: c.seats(x.id, u, "remote-support"),
    "cancel_end_of_term": lambda c, x, u: c.cancel(x.id, u, "remote-support"),
    "cancel_immediately": lambda c, x, u: c.cancel(x.id, u, "remote-support", timing="immediate"),
    "reactivate": lambda c, x, u: c.reactivate(x.id, u, "remote-support"),
    "invoices": lambda c, x, u: c.invoices(x.id, u),
    "invoice": lambda c, x, u: c.invoice(x.id, u, c.invoices(x.id, CONTACT)[0].id),
    "set_vat_number": lambda c, x, u: c.set_vat_number(x.id, u, IT_VAT),
    "clear_vat_number": lambda c, x, u: c.set_vat_number(x.id, u, None),
    "update_payment_method": lambda c, x, u: c.update_payment_method(x.id, u, "tok_mallory"),
    "set_billing_contacts": lambda c, x, u: c.set_billing_contacts(x.id, u, [u]),
    "confirm_corporate_order": lambda c, x, u: c.confirm_corporate_order(x.id, u, x.order_id),
}


@pytest.mark.parametrize("use_case", sorted(CONTACT_ONLY))
@pytest.mark.parametrize("user", [OTHER_USER, "ANNA"])
def test_only_billing_contacts_may_act(
    center: BillingCenter, customer: Customer, refused: Any, use_case: str, user: str
) -> None:
    with refused(customer.id, NotPermitted, "ask a billing contact") as info:
        CONTACT_ONLY[use_case](center, customer, user)
    assert repr(user) in str(info.value)


def test_a_non_contact_may_not_confirm_a_payment_waiting_for_3ds(
    center: BillingCenter, gateway: FakeGateway, refused: Any
) -> None:
    account = open_account(center, payment_method="tok_3ds")
    center.subscribe_now(account.id, CONTACT, "monitoring")
    order = center.place_order(
        account.id, CONTACT, center.quote(account.id, CONTACT).id, idempotency_key="k"
    )
    assert order.charge_id is not None
    gateway.complete_action(order.charge_id)
    with refused(account.id, NotPermitted, "ask a billing contact"):
        center.confirm_payment(account.id, OTHER_USER, order.id)
    assert center.order(account.id, CONTACT, order.id).state is OrderState.REQUIRES_ACTION


# -- corporate accounts ------------------------------------------------------------------


def test_a_corporate_account_is_refused_self_service_but_gets_a_purchase_order(
    center: BillingCenter, clock: ManualClock, gateway: FakeGateway, refused: Any
) -> None:
    account = open_account(center, kind=AccountKind.CORPORATE, payment_method="tok_visa")
    center.subscribe_now(account.id, CONTACT, "remote-support", seats=25, frequency="annual")
    quote = center.quote(account.id, CONTACT)
    assert quote.amount_due == Money("9150.00", "EUR")
    assert quote.expires_at - quote.created_at == Settings().corporate_quote_ttl

    with refused(account.id, CorporateSelfServiceRefused, "contact your account representative"):
        center.place_order(account.id, CONTACT, quote.id, idempotency_key="self")
    with refused(account.id, CorporateSelfServiceRefused, "account representative"):
        center.place_order(
            account.id, CONTACT, quote.id, idempotency_key="self", payment_method="tok_visa"
        )

    # The vendor's staff prepare a quote and place the order on purchase-order terms.
    staff_quote = center.staff_quote("sam", account.id)
    assert staff_quote.amount_due == quote.amount_due
    with refused(account.id, InvalidInput, "purchase-order number"):
        center.staff_place_corporate_order(
            "sam", account.id, staff_quote.id, purchase_order=" ", idempotency_key="po"
        )
    with refused(account.id, InvalidInput, "idempotency key"):
        center.staff_place_corporate_order(
            "sam", account.id, staff_quote.id, purchase_order="PO-1", idempotency_key=" "
        )
    with refused(account.id, InvalidInput, "out of range; pass 0 to 3650"):
        center.staff_place_corporate_order(
            "sam",
            account.id,
            staff_quote.id,
            purchase_order="PO-1",
            due_days=-1,
            idempotency_key="po",
        )
    order = center.staff_place_corporate_order(
        "sam", account.id, staff_quote.id, purchase_order="PO-1", due_days=45, idempotency_key="po"
    )
    assert order.state is OrderState.AWAITING_CONFIRMATION
    assert center.subscriptions(account.id) == []
    # Placing it again with the same key returns the same order.
    assert (
        center.staff_place_corporate_order(
            "sam",
            account.id,
            staff_quote.id,
            purchase_order="PO-1",
            due_days=45,
            idempotency_key="po",
        )
        == order
    )
    with refused(account.id, NotPermitted, "ask a billing contact"):
        center.confirm_corporate_order(account.id, OTHER_USER, order.id)

    clock.advance(days=2)
    confirmed = center.confirm_corporate_order(account.id, CONTACT, order.id)
    assert confirmed.state is OrderState.SUCCEEDED
    (invoice,) = center.invoices(account.id, CONTACT)
    assert invoice.status is InvoiceStatus.OPEN
    assert invoice.due_at == clock.now() + timedelta(days=45)
    assert invoice.amount_due == Decimal("9150.00")
    assert invoice.order_id == order.id
    assert gateway.requests == []
    assert gateway.net_charged("EUR") == 0
    (sub,) = center.subscriptions(account.id)
    assert sub.status is Status.ACTIVE
    assert center.seats(account.id, CONTACT, "remote-support").seats == 25
    # Confirming twice does not issue a second invoice.
    assert center.confirm_corporate_order(account.id, CONTACT, order.id) == confirmed
    assert len(center.invoices(account.id, CONTACT)) == 1

    # Self-service changes stay refused.
    with refused(account.id, CorporateSelfServiceRefused, "account representative"):
        center.cancel(account.id, CONTACT, "remote-support")
    with refused(account.id, CorporateSelfServiceRefused, "account representative"):
        center.reactivate(account.id, CONTACT, "remote-support")


def test_staff_orders_are_for_corporate_accounts_only(
    center: BillingCenter, customer: Customer, refused: Any
) -> None:
    quote = center.staff_quote("sam", customer.id)
    with refused(customer.id, InvalidTransition, "place their own orders (place_order"):
        center.staff_place_corporate_order(
            "sam", customer.id, quote.id, purchase_order="PO-1", idempotency_key="po"
        )


# -- VAT numbers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "reason", "advice"),
    [
        ("IT02114460964", "checksum", "check the number"),
        (DE_VAT, "country", "ask for the customer's VAT number in Italy"),
        ("XX123456", "unsupported", "leave it empty"),
        ("", "format", ""),
    ],
)
def test_an_invalid_vat_number_offline(
    center: BillingCenter,
    customer: Customer,
    refused: Any,
    number: str,
    reason: str,
    advice: str,
) -> None:
    with refused(customer.id, InvalidVatNumber, advice) as info:
        center.set_vat_number(customer.id, CONTACT, number)
    assert info.value.reason == reason


def test_vies_says_the_number_is_invalid(make_center: CenterFactory, refused: Any) -> None:
    verifier = FakeVatVerifier([])
    center = make_center(verifier=verifier)
    german = open_account(center, country="DE")
    with refused(german.id, VatCheckFailed, "check the number with the customer"):
        center.set_vat_number(german.id, CONTACT, DE_VAT)
    assert verifier.checked == [DE_VAT]


def test_vies_unavailable_refused_by_policy(make_center: CenterFactory, refused: Any) -> None:
    center = make_center(
        verifier=FakeVatVerifier(unavailable=True),
        settings=Settings(vat_unavailable=VatUnavailable.REFUSE),
    )
    german = open_account(center, country="DE")
    with refused(german.id, VatCheckFailed, "try again later"):
        center.set_vat_number(german.id, CONTACT, DE_VAT)


def test_a_number_of_the_sellers_country_is_not_checked_online(
    make_center: CenterFactory, customer: Customer
) -> None:
    # VIES would refuse it (it knows no number) or be down: neither matters for a
    # domestic business, which is charged the seller's VAT all the same.
    for verifier in (FakeVatVerifier([]), FakeVatVerifier(unavailable=True)):
        center = make_center(
            verifier=verifier, settings=Settings(vat_unavailable=VatUnavailable.REFUSE)
        )
        updated = center.set_vat_number(customer.id, CONTACT, IT_VAT)
        assert verifier.checked == []
        assert updated.vat_check is not None
        assert updated.vat_check.status is VatCheckStatus.OFFLINE_VALID
        quote = center.quote(customer.id, CONTACT)
        assert quote.vat_number == IT_VAT
        assert not quote.reverse_charge
        assert quote.invoice is not None
        assert [(t.rate, t.treatment) for t in quote.invoice.taxes] == [
            (Decimal("22"), TaxTreatment.STANDARD)
        ]


@pytest.mark.parametrize(
    ("policy", "treatment"),
    [
        (VatUnavailable.CHARGE_VAT, TaxTreatment.STANDARD),
        (VatUnavailable.TRUST_OFFLINE, TaxTreatment.REVERSE_CHARGE),
    ],
)
def test_vies_unavailable_for_a_german_business(
    make_center: CenterFactory, policy: VatUnavailable, treatment: TaxTreatment
) -> None:
    center = make_center(
        verifier=FakeVatVerifier(unavailable=True), settings=Settings(vat_unavailable=policy)
    )
    account = open_account(center, country="DE")
    center.subscribe_now(account.id, CONTACT, "monitoring")
    updated = center.set_vat_number(account.id, CONTACT, DE_VAT)
    assert updated.vat_check is not None
    assert updated.vat_check.status is VatCheckStatus.UNAVAILABLE
    quote = center.quote(account.id, CONTACT)
    assert quote.invoice is not None
    (tax,) = quote.invoice.taxes
    assert tax.treatment is treatment
    assert quote.reverse_charge is (treatment is TaxTreatment.REVERSE_CHARGE)


def test_an_unverified_german_number_is_taxed_at_the_german_rate(
    make_center: CenterFactory,
) -> None:
    center = make_center(verifier=FakeVatVerifier(unavailable=True))
    account = open_account(center, country="DE")
    center.subscribe_now(account.id, CONTACT, "monitoring")
    center.set_vat_number(account.id, CONTACT, DE_VAT)
    quote = center.quote(account.id, CONTACT)
    assert quote.invoice is not None
    assert [(t.rate, t.treatment) for t in quote.invoice.taxes] == [
        (Decimal("19"), TaxTreatment.STANDARD)
    ]


# -- payments ----------------------------------------------------------------------------


def test_a_declined_card(
    center: BillingCenter, gateway: FakeGateway, customer: Customer, snapshot: Any
) -> None:
    # Also change the running subscription in the same order.
    center.add_to_cart(customer.id, CONTACT, "remote-support", plan="premium", seats=4)
    quote = center.quote(customer.id, CONTACT)
    before: Snapshot = snapshot(customer.id)
    with pytest.raises(PaymentDeclined) as info:
        center.place_order(
            customer.id, CONTACT, quote.id, idempotency_key="k", payment_method="tok_declined"
        )
    assert "use another payment method" in str(info.value)
    assert "new idempotency key" in str(info.value)
    assert info.value.order_id is not None
    order = center.order(customer.id, CONTACT, info.value.order_id)
    assert order.state is OrderState.FAILED
    assert order.failure_code == "card_declined"
    after: Snapshot = snapshot(customer.id)
    assert after.subscriptions == before.subscriptions
    assert after.seats == before.seats
    assert after.cart == before.cart
    assert after.invoices == before.invoices
    assert account_fields(after.account) == account_fields(before.account)
    assert after.net_charged == before.net_charged
    assert [e.kind for e in after.events[len(before.events) :]] == [
        EventKind.ORDER_PLACED,
        EventKind.ORDER_FAILED,
    ]
    # The same key again: the same failure, no second charge attempt.
    requests = len(gateway.charge_requests)
    with pytest.raises(PaymentDeclined) as again:
        center.place_order(
            customer.id, CONTACT, quote.id, idempotency_key="k", payment_method="tok_declined"
        )
    assert again.value.order_id == order.id
    assert len(gateway.charge_requests) == requests
    # A new key with the stored card: the quote still holds.
    placed = center.place_order(customer.id, CONTACT, quote.id, idempotency_key="k2")
    assert placed.state is OrderState.SUCCEEDED


def test_a_declined_card_is_not_saved_as_the_accounts_payment_method(
    center: BillingCenter, snapshot: Any
) -> None:
    """A declined payment "changes nothing but the order's record" (place_order's
    docstring; the error says "nothing changed"): the declined token must not become
    the card that renewals are charged to."""
    account = open_account(center, payment_method=None)
    center.subscribe_now(account.id, CONTACT, "monitoring")
    quote = center.quote(account.id, CONTACT)
    before: Snapshot = snapshot(account.id)
    with pytest.raises(PaymentDeclined, match="nothing changed"):
        center.place_order(
            account.id, CONTACT, quote.id, idempotency_key="k", payment_method="tok_declined"
        )
    after: Snapshot = snapshot(account.id)
    assert after.account.payment_method is None
    assert account_fields(after.account) == account_fields(before.account)


def test_a_declined_order_leaves_the_account_record_exactly_as_it_was(
    center: BillingCenter, customer: Customer, snapshot: Any
) -> None:
    """place_order: "A declined payment raises PaymentDeclined and changes nothing but
    the order's record"; the issue checks "that stored state and charges are exactly as
    before". Taking and releasing the account's order slot rewrites the account record
    (its version moves on), so a host comparing account() before and after sees a
    change."""
    before: Snapshot = snapshot(customer.id)
    with pytest.raises(PaymentDeclined):
        center.place_order(
            customer.id,
            CONTACT,
            customer.quote_id,
            idempotency_key="k",
            payment_method="tok_declined",
        )
    after: Snapshot = snapshot(customer.id)
    assert after.account == before.account


def test_no_payment_method_with_an_amount_due(center: BillingCenter, refused: Any) -> None:
    account = open_account(center, payment_method=None)
    center.subscribe_now(account.id, CONTACT, "monitoring")
    quote = center.quote(account.id, CONTACT)
    with refused(account.id, InvalidInput, "pass a payment-method token"):
        center.place_order(account.id, CONTACT, quote.id, idempotency_key="k")
    with refused(account.id, InvalidInput, "idempotency key"):
        center.place_order(account.id, CONTACT, quote.id, idempotency_key=" ")
    with refused(account.id, InvalidInput, "payment method"):
        center.update_payment_method(account.id, CONTACT, "")


def test_a_retried_order(
    center: BillingCenter, gateway: FakeGateway, customer: Customer, refused: Any
) -> None:
    first = center.place_order(customer.id, CONTACT, customer.quote_id, idempotency_key="k")
    assert first.state is OrderState.SUCCEEDED
    charged = gateway.net_charged("EUR")
    for _ in range(3):
        assert (
            center.place_order(customer.id, CONTACT, customer.quote_id, idempotency_key="k")
            == first
        )
    keys = [r.idempotency_key for r in gateway.charge_requests]
    assert keys.count(f"order:{first.id}") == 1
    assert gateway.net_charged("EUR") == charged
    assert len(center.invoices(customer.id, CONTACT)) == 2

    center.subscribe_now(customer.id, CONTACT, "monitoring", seats=5)
    other = center.quote(customer.id, CONTACT)
    with refused(customer.id, IdempotencyKeyReused, "use a new key for a new order"):
        center.place_order(customer.id, CONTACT, other.id, idempotency_key="k")
    # The key of the fixture's first order, on another quote, too.
    with refused(customer.id, IdempotencyKeyReused, "use a new key"):
        center.place_order(customer.id, CONTACT, other.id, idempotency_key="first")


def test_a_quote_of_another_account(
    center: BillingCenter, customer: Customer, refused: Any
) -> None:
    other = open_account(center)
    center.subscribe_now(other.id, CONTACT, "monitoring")
    with refused(other.id, NotFound, "ask for a quote"):
        center.place_order(other.id, CONTACT, customer.quote_id, idempotency_key="k")
    with refused(other.id, NotFound, "no order"):
        center.order(other.id, CONTACT, customer.order_id)


# -- seats -------------------------------------------------------------------------------


def test_a_seat_assigned_twice(center: BillingCenter, customer: Customer, refused: Any) -> None:
    with refused(customer.id, SeatAlreadyAssigned, "a user needs only one") as info:
        center.assign_seats(customer.id, CONTACT, "remote-support", ["giulia"])
    assert info.value.user_id == "giulia"
    with refused(customer.id, SeatAlreadyAssigned, "a user needs only one"):
        center.assign_seats(customer.id, CONTACT, "remote-support", ["luca", "luca"])
    with refused(customer.id, SeatAlreadyAssigned, "a user needs only one"):
        center.reassign_seat(customer.id, CONTACT, "remote-support", "giulia", "marco")
    with refused(customer.id, SeatNotAssigned, "list the assignments"):
        center.unassign_seats(customer.id, CONTACT, "remote-support", ["luca"])
    with refused(customer.id, InvalidInput, "list of user ids"):
        center.assign_seats(customer.id, CONTACT, "remote-support", "luca")
    with refused(customer.id, InvalidInput, "at least one user"):
        center.assign_seats(customer.id, CONTACT, "remote-support", [])
    with refused(customer.id, InvalidInput, "user id is empty"):
        center.assign_seats(customer.id, CONTACT, "remote-support", [""])


def test_assigning_beyond_the_seats_bought(
    center: BillingCenter, customer: Customer, refused: Any
) -> None:
    with refused(customer.id, NotEnoughSeats, "2 of 3 seats are in use") as info:
        center.assign_seats(customer.id, CONTACT, "remote-support", ["luca", "sara"])
    error = info.value
    assert (error.seats, error.seats_in_use, error.requested) == (3, 2, 2)
    assert "buy more seats or unassign someone" in str(error)
    # All or nothing: one more fits.
    assert center.assign_seats(customer.id, CONTACT, "remote-support", ["luca"]).available == 0
    with refused(customer.id, NotEnoughSeats, "3 of 3 seats are in use"):
        center.assign_seats(customer.id, CONTACT, "remote-support", ["sara"])


def test_seats_of_a_product_not_subscribed(
    center: BillingCenter, customer: Customer, refused: Any
) -> None:
    with refused(customer.id, NoSubscription, "subscribe first"):
        center.assign_seats(customer.id, CONTACT, "monitoring", ["giulia"])


def test_reducing_seats_below_those_assigned(
    center: BillingCenter, customer: Customer, refused: Any
) -> None:
    # Refused as it enters the cart, by each way in.
    with refused(customer.id, SeatsInUse, "release the seats of 1 user(s) first") as info:
        center.add_to_cart(customer.id, CONTACT, "remote-support", seats=1)
    error = info.value
    assert (error.seats, error.seats_in_use, error.must_release) == (1, 2, 1)
    assert "or name them with the change" in str(error)
    center.add_to_cart(customer.id, CONTACT, "remote-support", seats=2)
    with refused(customer.id, SeatsInUse, "release the seats of 1 user(s) first"):
        center.edit_cart_item(customer.id, CONTACT, "remote-support", seats=1)
    center.remove_cart_item(customer.id, CONTACT, "monitoring")
    center.remove_cart_item(customer.id, CONTACT, "remote-support")
    with refused(customer.id, SeatsInUse, "release the seats of 1 user(s) first"):
        center.subscribe_now(customer.id, CONTACT, "remote-support", seats=1)
    # Releasing the seat first makes the reduction possible.
    center.release_seats(customer.id, CONTACT, "remote-support", ["marco"])
    center.subscribe_now(customer.id, CONTACT, "remote-support", seats=1)
    quote = center.quote(customer.id, CONTACT)
    order = center.place_order(customer.id, CONTACT, quote.id, idempotency_key="fewer")
    assert order.state is OrderState.SUCCEEDED
    seats = center.seats(customer.id, CONTACT, "remote-support")
    assert (seats.seats, seats.users) == (1, ("giulia",))


# -- stale quotes ------------------------------------------------------------------------


def test_an_expired_quote(
    center: BillingCenter, clock: ManualClock, customer: Customer, refused: Any
) -> None:
    clock.advance(Settings().quote_ttl - timedelta(seconds=1))
    still = center.quote(customer.id, CONTACT)  # a fresh one, for later
    clock.advance(seconds=1)  # the fixture's quote expires exactly now
    with refused(customer.id, QuoteExpired, "ask for a new quote"):
        center.place_order(customer.id, CONTACT, customer.quote_id, idempotency_key="k")
    clock.advance(Settings().quote_ttl - timedelta(seconds=2))
    assert center.place_order(customer.id, CONTACT, still.id, idempotency_key="k2").state is (
        OrderState.SUCCEEDED
    )


def test_a_quote_expires_after_the_configured_ttl(
    make_center: CenterFactory, clock: ManualClock, refused: Any
) -> None:
    center = make_center(settings=Settings(quote_ttl=timedelta(minutes=2)))
    account = open_account(center)
    center.subscribe_now(account.id, CONTACT, "monitoring")
    quote = center.quote(account.id, CONTACT)
    assert quote.expires_at == clock.now() + timedelta(minutes=2)
    clock.advance(minutes=3)
    with refused(account.id, QuoteExpired, "new quote"):
        center.place_order(account.id, CONTACT, quote.id, idempotency_key="k")


def test_a_quote_made_stale_by_another_order(
    center: BillingCenter, customer: Customer, refused: Any
) -> None:
    center.remove_cart_item(customer.id, CONTACT, "monitoring")
    center.subscribe_now(customer.id, CONTACT, "remote-support", seats=5)
    five = center.quote(customer.id, CONTACT)
    center.edit_cart_item(customer.id, CONTACT, "remote-support", seats=4)
    four = center.quote(customer.id, CONTACT)
    center.place_order(customer.id, CONTACT, four.id, idempotency_key="four")
    with refused(customer.id, QuoteChanged, "ask for a new quote") as info:
        center.place_order(customer.id, CONTACT, five.id, idempotency_key="five")
    assert "remote-support" in str(info.value)


def test_a_quote_made_stale_by_a_cancellation(
    center: BillingCenter, customer: Customer, refused: Any
) -> None:
    """DESIGN.md, Orders: "if anything it pinned has changed, the order is refused
    (QuoteChanged) and the customer reviews a new quote". The cancellation changed the
    pinned version; the refusal must be QuoteChanged, not the InvalidTransition of
    re-pricing a change on a subscription set to cancel."""
    center.remove_cart_item(customer.id, CONTACT, "monitoring")
    center.subscribe_now(customer.id, CONTACT, "remote-support", plan="premium")
    quote = center.quote(customer.id, CONTACT)
    center.cancel(customer.id, CONTACT, "remote-support")
    with refused(customer.id, QuoteChanged, "review it before ordering"):
        center.place_order(customer.id, CONTACT, quote.id, idempotency_key="k")


def test_a_quote_made_stale_by_a_cancellation_undone(
    center: BillingCenter, customer: Customer, refused: Any
) -> None:
    center.remove_cart_item(customer.id, CONTACT, "monitoring")
    center.subscribe_now(customer.id, CONTACT, "remote-support", plan="premium")
    quote = center.quote(customer.id, CONTACT)
    center.cancel(customer.id, CONTACT, "remote-support")
    center.reactivate(customer.id, CONTACT, "remote-support")
    with refused(customer.id, QuoteChanged, "the subscription to 'remote-support' changed"):
        center.place_order(customer.id, CONTACT, quote.id, idempotency_key="k")


def test_a_quote_made_stale_by_a_trial_started_since(
    center: BillingCenter, clock: ManualClock, refused: Any
) -> None:
    """A quote for a new subscription, then a trial of that product started before the
    order: the order is refused as a changed quote (not with an internal error about
    periods or trials)."""
    account = open_account(center)
    center.subscribe_now(account.id, CONTACT, "remote-support")
    quote = center.quote(account.id, CONTACT)
    clock.advance(minutes=1)
    center.start_trial(account.id, CONTACT, "remote-support")
    with refused(account.id, QuoteChanged, "ask for a new quote"):
        center.place_order(account.id, CONTACT, quote.id, idempotency_key="k")


def test_a_quote_made_stale_by_a_new_vat_number(
    make_center: CenterFactory, customer: Customer, refused: Any
) -> None:
    center = make_center(verifier=FakeVatVerifier([IT_VAT]))
    center.set_vat_number(customer.id, CONTACT, IT_VAT)
    with refused(customer.id, QuoteChanged, "the VAT number or its check changed"):
        center.place_order(customer.id, CONTACT, customer.quote_id, idempotency_key="k")


def test_a_quote_made_stale_by_a_new_credit_balance(
    center: BillingCenter, customer: Customer, refused: Any
) -> None:
    center.cancel(customer.id, CONTACT, "remote-support", timing="immediate")
    assert center.account(customer.id).credit_balance > 0
    with refused(customer.id, QuoteChanged, "new quote"):
        center.place_order(customer.id, CONTACT, customer.quote_id, idempotency_key="k")


def test_refusals_are_action_refused_or_value_errors() -> None:
    """The documented error tree: refusals a host shows to people."""
    for error in (
        CartNotEmpty,
        CartItemExists,
        EmptyCart,
        NotInCart,
        NotEnoughSeats,
        SeatAlreadyAssigned,
        SeatsInUse,
        CorporateSelfServiceRefused,
        NotPermitted,
    ):
        assert issubclass(error, ActionRefused)
    for error in (InvalidSeatCount, InvalidVatNumber, VatCheckFailed, IdempotencyKeyReused):
        assert issubclass(error, ValueError)
