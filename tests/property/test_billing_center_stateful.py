"""Random sequences of Billing Center use cases against the in-memory adapters.

A Hypothesis state machine plays customers and their billing contacts: trials, cart
edits (valid and invalid plans, seats and frequencies), quotes, orders paid with cards
that work, decline, need 3-D Secure or fail transiently, retried orders, seats, cancel
and reactivate, VAT numbers, new cards, and time passing with bill runs. The library's
documented errors (``SubscriptionsError``) are allowed refusals; after every step the
invariants of the issue must hold:

* seats assigned never exceed the seats bought;
* what customers were charged (net of refunds) equals the amount due of the paid
  invoices (invoice totals less the credit balance they used);
* a retried order never charges twice;
* a declined (or failed) order changes nothing but its own record;
* invoice numbers run 1..n without gaps; credit balances are never negative.
"""

from __future__ import annotations

import itertools
import sys
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import attrs
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from subscriptions.accounts import Address
from subscriptions.adapters.fakes import FakeGateway, FakeVatVerifier, InMemoryNotifier, ManualClock
from subscriptions.adapters.memory import InMemoryStore
from subscriptions.catalog import Catalog, Plan, Price, Product
from subscriptions.center import BillingCenter
from subscriptions.errors import PaymentFailed, SubscriptionsError
from subscriptions.orders import InvoiceStatus, Order, OrderState, Seller
from subscriptions.subscription import CancelTiming, Status

ROME = ZoneInfo("Europe/Rome")
CONTACT = "anna"
IT_VAT = "IT02114460963"
DE_VAT = "DE136695976"
BILLING = (Status.ACTIVE, Status.PAST_DUE, Status.PENDING_CANCELLATION)


def _prices(monthly: str, annual: str) -> list[Price]:
    return [
        Price(currency="EUR", frequency="monthly", amount=monthly),
        Price(currency="EUR", frequency="annual", amount=annual),
    ]


CATALOG = Catalog(
    products=[
        Product(
            id="remote-support",
            name="Remote Support",
            trial_days=14,
            plans=[
                Plan(id="standard", name="Standard", rank=1, prices=_prices("30.00", "300.00")),
                Plan(id="premium", name="Premium", rank=2, prices=_prices("50.00", "500.00")),
            ],
        ),
        Product(
            id="monitoring",
            name="Monitoring",
            trial_days=30,
            plans=[Plan(id="basic", name="Basic", rank=1, prices=_prices("10.00", "100.00"))],
        ),
    ]
)
SELLER = Seller(
    name="Vendor S.r.l.",
    vat_number="IT00743110157",
    address=Address(line1="Via Roma 1", city="Milano", postal_code="20121", country="IT"),
)
ADDRESSES = {
    "IT": Address(line1="Via Po 2", city="Torino", postal_code="10123", country="IT"),
    "DE": Address(line1="Unter den Linden 5", city="Berlin", postal_code="10117", country="DE"),
}

# Mostly valid input, with invalid values mixed in (unknown product or plan, bad seat
# counts, a frequency the plans do not offer, an unknown one, a non-contact acting).
products = st.sampled_from(["remote-support"] * 4 + ["monitoring"] * 3 + ["teleport"])
plans = st.sampled_from([None] * 4 + ["standard", "premium", "basic", "gold"])
seat_counts = st.sampled_from([None, None, 1, 2, 3, 4, 5, 0, -1, True])
frequencies = st.sampled_from(
    [None] * 3 + ["monthly"] * 2 + ["annual"] * 2 + ["quarterly", "weekly"]
)
tokens = st.sampled_from(["tok_visa"] * 3 + ["tok_declined", "tok_3ds", "tok_transient"])
users = st.lists(
    st.sampled_from(["u1", "u2", "u3", "u4", "u5", "u6", "u7"]), min_size=1, max_size=3
)
actors = st.sampled_from([CONTACT] * 5 + ["mallory"])


class BillingCenterMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock(datetime(2026, 11, 1, 9, 0, tzinfo=ROME))
        self.gateway = FakeGateway()
        self.store = InMemoryStore()
        self.center = BillingCenter(
            catalog=CATALOG,
            seller=SELLER,
            store=self.store,
            gateway=self.gateway,
            clock=self.clock,
            notifier=InMemoryNotifier(),
            vat_verifier=FakeVatVerifier([IT_VAT, DE_VAT]),
        )
        self.accounts = []
        for n, country in enumerate(("IT", "DE")):
            account = self.center.open_account(
                name=f"Customer {n}",
                address=ADDRESSES[country],
                timezone="Europe/Rome" if country == "IT" else "Europe/Berlin",
                locale="it_IT" if country == "IT" else "de_DE",
                currency="EUR",
                billing_contacts=[CONTACT],
                payment_method="tok_visa",
                account_id=f"acct{n}",
            )
            self.accounts.append(account.id)
        self.quotes: list[tuple[str, str]] = []
        #: (account, customer key) -> (quote id, order id)
        self.orders: dict[tuple[str, str], tuple[str, str]] = {}
        self.keys = itertools.count(1)

    # -- helpers ---------------------------------------------------------------------

    def attempt(self, call: Any) -> Any:
        """Run a use case; a documented refusal is an allowed outcome."""
        caller = sys._getframe(1).f_code.co_name
        try:
            result = call()
        except SubscriptionsError as error:
            event(f"{caller} refused: {type(error).__name__}")
            return None
        event(f"{caller} done")
        return result

    def snapshot(self, account_id: str) -> tuple[Any, ...]:
        center = self.center
        subs = center.subscriptions(account_id)
        seats = {}
        for sub in subs:
            if sub.status in BILLING:
                seats[sub.product] = center.seats(account_id, CONTACT, sub.product)
        account = center.account(account_id)
        # Optimistic-concurrency bookkeeping is not the account's state: the version
        # and the order slot (held by an order waiting for 3-D Secure or the gateway).
        bookkeeping: dict[str, Any] = {"version": 0}
        if hasattr(account, "order_in_progress"):
            bookkeeping["order_in_progress"] = None
        return (
            attrs.evolve(account, **bookkeeping),
            subs,
            seats,
            center.cart(account_id),
            center.invoices(account_id, CONTACT),
        )

    def remember(self, account_id: str, key: str, quote_id: str, order: Order | str) -> None:
        order_id = order if isinstance(order, str) else order.id
        known = self.orders.get((account_id, key))
        assert known is None or known == (quote_id, order_id), "one key, one order"
        self.orders[(account_id, key)] = (quote_id, order_id)

    # -- rules -----------------------------------------------------------------------

    @rule(account=st.integers(0, 1), product=products, user=actors, seats=seat_counts)
    def start_trial(self, account: int, product: str, user: str, seats: int | None) -> None:
        self.attempt(
            lambda: self.center.start_trial(
                self.accounts[account], user, product, seats=1 if seats is None else seats
            )
        )

    @rule(
        account=st.integers(0, 1),
        product=products,
        plan=plans,
        seats=seat_counts,
        frequency=frequencies,
        user=actors,
        add=st.booleans(),
    )
    def put_in_cart(
        self,
        account: int,
        product: str,
        plan: str | None,
        seats: int | None,
        frequency: str | None,
        user: str,
        add: bool,
    ) -> None:
        use = self.center.add_to_cart if add else self.center.subscribe_now
        self.attempt(
            lambda: use(
                self.accounts[account], user, product, plan=plan, seats=seats, frequency=frequency
            )
        )

    @rule(
        account=st.integers(0, 1),
        product=products,
        plan=plans,
        seats=seat_counts,
        frequency=frequencies,
    )
    def edit_cart(
        self,
        account: int,
        product: str,
        plan: str | None,
        seats: int | None,
        frequency: str | None,
    ) -> None:
        self.attempt(
            lambda: self.center.edit_cart_item(
                self.accounts[account],
                CONTACT,
                product,
                plan=plan,
                seats=seats,
                frequency=frequency,
            )
        )

    @rule(account=st.integers(0, 1), product=products)
    def remove_from_cart(self, account: int, product: str) -> None:
        self.attempt(lambda: self.center.remove_cart_item(self.accounts[account], CONTACT, product))

    @rule(account=st.integers(0, 1), user=actors)
    def quote(self, account: int, user: str) -> None:
        quote = self.attempt(lambda: self.center.quote(self.accounts[account], user))
        if quote is not None:
            self.quotes.append((self.accounts[account], quote.id))

    @precondition(lambda self: self.quotes)
    @rule(data=st.data(), token=tokens, pass_token=st.booleans())
    def place_order(self, data: st.DataObject, token: str, pass_token: bool) -> None:
        account_id, quote_id = data.draw(st.sampled_from(self.quotes))
        self.order(account_id, quote_id, token, pass_token)

    @rule(
        account=st.integers(0, 1),
        item=st.sampled_from(
            [
                ("remote-support", "standard"),
                ("remote-support", "premium"),
                ("monitoring", "basic"),
            ]
        ),
        seats=st.integers(1, 5),
        frequency=st.sampled_from(["monthly", "annual"]),
        token=tokens,
        pass_token=st.booleans(),
    )
    def checkout(
        self,
        account: int,
        item: tuple[str, str],
        seats: int,
        frequency: str,
        token: str,
        pass_token: bool,
    ) -> None:
        """Put a product in the cart (or change it there), review the quote and order."""
        account_id = self.accounts[account]
        product, plan = item
        cart = self.center.cart(account_id)
        if product in cart:
            edit = self.center.edit_cart_item
            self.attempt(
                lambda: edit(
                    account_id, CONTACT, product, plan=plan, seats=seats, frequency=frequency
                )
            )
        else:
            add = self.center.add_to_cart if cart.items else self.center.subscribe_now
            self.attempt(
                lambda: add(
                    account_id, CONTACT, product, plan=plan, seats=seats, frequency=frequency
                )
            )
        quote = self.attempt(lambda: self.center.quote(account_id, CONTACT))
        if quote is not None:
            self.quotes.append((account_id, quote.id))
            self.order(account_id, quote.id, token, pass_token)

    def order(self, account_id: str, quote_id: str, token: str, pass_token: bool) -> None:
        key = f"key-{next(self.keys)}"
        before = self.snapshot(account_id)
        charged = self.gateway.net_charged("EUR")
        if not pass_token:
            self.center.update_payment_method(account_id, CONTACT, token)
            before = self.snapshot(account_id)
        try:
            order = self.center.place_order(
                account_id,
                CONTACT,
                quote_id,
                idempotency_key=key,
                payment_method=token if pass_token else None,
            )
        except PaymentFailed as failure:
            event(f"place_order failed: {failure.code}")
            self.failed_order(account_id, key, quote_id, failure.order_id, before, charged)
        except SubscriptionsError as error:
            event(f"place_order refused: {type(error).__name__}")
            assert self.snapshot(account_id) == before
            assert self.gateway.net_charged("EUR") == charged
        else:
            event(f"place_order {order.state.value}")
            self.remember(account_id, key, quote_id, order)
            if order.state is not OrderState.SUCCEEDED:
                assert self.snapshot(account_id) == before

    def failed_order(
        self,
        account_id: str,
        key: str,
        quote_id: str,
        order_id: str | None,
        before: tuple[Any, ...],
        charged: Decimal,
    ) -> None:
        """A declined or failed order changes nothing but its own record."""
        assert order_id is not None
        self.remember(account_id, key, quote_id, order_id)
        assert self.snapshot(account_id) == before
        assert self.gateway.net_charged("EUR") == charged
        assert self.center.order(account_id, CONTACT, order_id).state is OrderState.FAILED

    @precondition(lambda self: self.orders)
    @rule(data=st.data())
    def retry_order(self, data: st.DataObject) -> None:
        (account_id, key), (quote_id, order_id) = data.draw(
            st.sampled_from(sorted(self.orders.items()))
        )
        requests = len(self.gateway.charge_requests)
        charged = self.gateway.net_charged("EUR")
        returned: str | None = None
        try:
            returned = self.center.place_order(
                account_id, CONTACT, quote_id, idempotency_key=key
            ).id
        except PaymentFailed as failure:
            returned = failure.order_id
        except SubscriptionsError:
            returned = order_id  # refused (a quote gone stale): no new order either
        assert returned == order_id, "the same key, the same order"
        sent = self.gateway.charge_requests[requests:]
        # A retry may send the order's own attempt again (the gateway answers a known
        # key with what it did): never another key, never more money.
        assert all(r.idempotency_key == f"order:{order_id}" for r in sent)
        assert self.gateway.net_charged("EUR") <= charged, "a retry never charges again"

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), succeed=st.booleans())
    def confirm_payment(self, data: st.DataObject, succeed: bool) -> None:
        """The customer completes (or fails) 3-D Secure, then the order is resumed; an
        order in any other state is simply confirmed again."""
        known = [(account_id, order_id) for (account_id, _), (_, order_id) in self.orders.items()]
        waiting = [
            (account_id, order_id)
            for account_id, order_id in known
            if self.center.order(account_id, CONTACT, order_id).state is OrderState.REQUIRES_ACTION
        ]
        account_id, order_id = data.draw(st.sampled_from(sorted(waiting or known)))
        order = self.center.order(account_id, CONTACT, order_id)
        if order.state is OrderState.REQUIRES_ACTION:
            assert order.charge_id is not None
            self.gateway.complete_action(order.charge_id, succeed=succeed)
        before = self.snapshot(account_id)
        try:
            confirmed = self.center.confirm_payment(account_id, CONTACT, order_id)
        except PaymentFailed:
            assert self.center.order(account_id, CONTACT, order_id).state is OrderState.FAILED
            after = self.snapshot(account_id)
            assert after[1:] == before[1:]
        except SubscriptionsError:
            pass
        else:
            event(f"confirm_payment {order.state.value} -> {confirmed.state.value}")
            if order.state is OrderState.REQUIRES_ACTION and succeed:
                assert confirmed.state is OrderState.SUCCEEDED

    @rule(account=st.integers(0, 1), product=products, who=users, user=actors)
    def assign_seats(self, account: int, product: str, who: list[str], user: str) -> None:
        self.attempt(lambda: self.center.assign_seats(self.accounts[account], user, product, who))

    @rule(account=st.integers(0, 1), product=products, who=users)
    def unassign_seats(self, account: int, product: str, who: list[str]) -> None:
        self.attempt(
            lambda: self.center.unassign_seats(self.accounts[account], CONTACT, product, who)
        )

    @rule(
        account=st.integers(0, 1),
        product=products,
        timing=st.sampled_from(CancelTiming),
        user=actors,
    )
    def cancel(self, account: int, product: str, timing: CancelTiming, user: str) -> None:
        self.attempt(
            lambda: self.center.cancel(self.accounts[account], user, product, timing=timing)
        )

    @rule(account=st.integers(0, 1), product=products)
    def reactivate(self, account: int, product: str) -> None:
        self.attempt(lambda: self.center.reactivate(self.accounts[account], CONTACT, product))

    @rule(
        account=st.integers(0, 1),
        number=st.sampled_from([IT_VAT, DE_VAT, None, "IT02114460964", "DE000000000"]),
    )
    def set_vat_number(self, account: int, number: str | None) -> None:
        self.attempt(lambda: self.center.set_vat_number(self.accounts[account], CONTACT, number))

    @rule(account=st.integers(0, 1), token=st.sampled_from(["tok_visa", "tok_declined"]))
    def update_payment_method(self, account: int, token: str) -> None:
        self.center.update_payment_method(self.accounts[account], CONTACT, token)

    @rule(days=st.integers(0, 40), hours=st.integers(0, 23))
    def time_passes(self, days: int, hours: int) -> None:
        self.clock.advance(timedelta(days=days, hours=hours))
        report = self.center.run_renewals()
        for name, count in attrs.asdict(report).items():
            if count:
                event(f"bill run: {name}")

    @rule()
    def reconcile(self) -> None:
        report = self.center.reconcile()
        for order in report.orders:
            assert order.state not in (OrderState.PENDING, OrderState.UNKNOWN)
        for attempt in report.resolved:
            assert not attempt.in_flight

    # -- invariants --------------------------------------------------------------------

    @invariant()
    def seats_assigned_never_exceed_seats_bought(self) -> None:
        for account_id in self.accounts:
            for sub in self.center.subscriptions(account_id):
                if sub.status in BILLING:
                    seats = self.center.seats(account_id, CONTACT, sub.product)
                    assert seats.in_use <= seats.seats
                    assert seats.in_use <= sub.terms.seats

    @invariant()
    def charged_equals_what_paid_invoices_were_due(self) -> None:
        paid = sum(
            (
                invoice.amount_due
                for account_id in self.accounts
                for invoice in self.center.invoices(account_id, CONTACT)
                if invoice.status is InvoiceStatus.PAID
            ),
            Decimal(0),
        )
        assert self.gateway.net_charged("EUR") == paid

    @invariant()
    def an_order_is_charged_at_most_once(self) -> None:
        order_ids = [order_id for (_, order_id) in self.orders.values()]
        assert len(order_ids) == len(set(order_ids))
        charged = self.gateway.succeeded_charges()
        for order_id in order_ids:
            # One key per order, the attempt's: whatever was sent again, the gateway
            # charged it once at most.
            keys = {
                r.idempotency_key
                for r in self.gateway.charge_requests
                if order_id in r.idempotency_key
            }
            assert keys <= {f"order:{order_id}"}
            assert sum(1 for key in charged if order_id in key) <= 1

    @invariant()
    def invoice_numbers_are_gapless(self) -> None:
        sequences = sorted(
            invoice.sequence
            for account_id in self.accounts
            for invoice in self.center.invoices(account_id, CONTACT)
        )
        assert sequences == list(range(1, len(sequences) + 1))

    @invariant()
    def credit_balances_are_never_negative(self) -> None:
        for account_id in self.accounts:
            assert self.center.account(account_id).credit_balance >= 0


BillingCenterMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestBillingCenterStateful = BillingCenterMachine.TestCase
