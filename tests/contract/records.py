"""Realistic records of every stored type, built with the real domain code.

The contract suite stores and reads these back; ``tests/fixtures/make_schema1.py``
writes them into the schema-1 SQLite fixture. Everything is deterministic: fixed
instants, fixed ids.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from subscriptions.accounts import Account, AccountKind, Address, VatCheck, VatCheckStatus
from subscriptions.adapters import codec
from subscriptions.cart import Cart, CartItem, price_cart
from subscriptions.catalog import Catalog, Plan, Price, Product
from subscriptions.messages import (
    Confirmation,
    ConfirmationItem,
    ConfirmationLine,
    ConfirmationTax,
    Notice,
    PaymentFailure,
    SubscriptionLapse,
    TrialExpiry,
    VatNumberRejection,
    render_payment_failed,
)
from subscriptions.money import to_money
from subscriptions.orders import (
    Draft,
    InvoiceStatus,
    IssuedInvoice,
    Order,
    OrderState,
    Party,
    Quote,
    Seller,
    issued_documents,
)
from subscriptions.periods import Frequency
from subscriptions.ports import OutboxEntry
from subscriptions.pricing import Customer, Invoice, TaxSetup
from subscriptions.seats import SeatAssignments, assign
from subscriptions.subscription import (
    BillingContext,
    Change,
    Dunning,
    Event,
    StartTrial,
    Status,
    Subscribe,
    Subscription,
    Terms,
)
from subscriptions.transitions import apply
from subscriptions.vat import REVERSE_CHARGE_MENTION, TaxTreatment, parse_vat_number

ROME = ZoneInfo("Europe/Rome")
BERLIN = ZoneInfo("Europe/Berlin")
#: 1 November 2026, 09:00 in Rome.
START = datetime(2026, 11, 1, 9, 0, tzinfo=ROME)

SELLER = Party(
    name="Vendor S.r.l.",
    address=Address(line1="Via Roma 1", city="Milano", postal_code="20121", country="IT"),
    vat_number="IT00743110157",
)


def catalog() -> Catalog:
    def prices(monthly: str, annual: str) -> list[Price]:
        return [
            Price(currency="EUR", frequency="monthly", amount=monthly),
            Price(currency="EUR", frequency="annual", amount=annual),
        ]

    return Catalog(
        products=[
            Product(
                id="remote-support",
                name="Remote Support",
                trial_days=14,
                plans=[
                    Plan(id="standard", name="Standard", rank=1, prices=prices("30.00", "300.00")),
                    Plan(id="premium", name="Premium", rank=2, prices=prices("50.00", "500.00")),
                ],
            ),
            Product(
                id="monitoring",
                name="Monitoring",
                trial_days=30,
                plans=[Plan(id="basic", name="Basic", rank=1, prices=prices("10.00", "100.00"))],
            ),
        ]
    )


def italian_account(account_id: str = "acc-it") -> Account:
    return Account(
        id=account_id,
        name="Rossi S.r.l.",
        address=Address(
            line1="Via Po 2", line2="Scala B", city="Torino", postal_code="10123", country="IT"
        ),
        timezone="Europe/Rome",
        locale="it_IT",
        currency="EUR",
        billing_contacts=["anna", "bruno"],
        payment_method="tok_visa",
        credit_balance=Decimal("12.50"),
    )


def german_account(account_id: str = "acc-de") -> Account:
    """A business customer in another member state with a VAT number checked online."""
    number = parse_vat_number("DE136695976")
    return Account(
        id=account_id,
        name="Müller GmbH",
        address=Address(
            line1="Unter den Linden 5", city="Berlin", postal_code="10117", country="DE"
        ),
        timezone="Europe/Berlin",
        locale="de_DE",
        currency="EUR",
        billing_contacts=["jonas"],
        kind=AccountKind.CORPORATE,
        vat_number=number,
        vat_check=VatCheck(
            number=str(number),
            status=VatCheckStatus.VALID,
            checked_at=datetime(2026, 10, 30, 16, 45, 12, 250_000, tzinfo=BERLIN),
            consultation_number="WAPI000000000001",
            registered_name="MÜLLER GMBH",
        ),
        version=3,
    )


def austrian_account_unchecked(account_id: str = "acc-at") -> Account:
    """A business customer whose VAT number could not be checked online: the
    registry's error code is kept with the evidence."""
    number = parse_vat_number("ATU57194903")
    return Account(
        id=account_id,
        name="Huber GmbH",
        address=Address(line1="Ring 1", city="Wien", postal_code="1010", country="AT"),
        timezone="Europe/Vienna",
        locale="de_AT",
        currency="EUR",
        billing_contacts=["lena"],
        vat_number=number,
        vat_check=VatCheck(
            number=str(number),
            status=VatCheckStatus.UNAVAILABLE,
            checked_at=datetime(2026, 11, 2, 8, 0, tzinfo=UTC),
            error="MS_UNAVAILABLE",
        ),
        version=1,
    )


def context(account: Account) -> BillingContext:
    customer = Customer(
        country=account.country, region=account.region, vat_number=account.vat_number
    )
    return BillingContext(
        catalog=catalog(),
        currency=account.currency,
        tz=account.timezone,
        tax=TaxSetup(seller_country="IT", customer=customer),
    )


def subscribed(account: Account, product: str = "remote-support") -> tuple[Subscription, Invoice]:
    """An active subscription after a mid-period upgrade: open charges with a tax
    decision, and the invoice of the upgrade (a credit line and a charge line)."""
    ctx = context(account)
    terms = Terms(product=product, plan="standard", seats=3, frequency="monthly")
    if product == "monitoring":
        terms = Terms(product=product, plan="basic", seats=2, frequency="annual")
    first = apply(
        None,
        Subscribe(terms=terms),
        at=START,
        context=ctx,
        subscription_id=f"{account.id}:{product}",
        account_id=account.id,
    )
    upgrade = apply(
        first.subscription,
        Change(seats=5),
        at=START + timedelta(days=10, hours=3, minutes=17, seconds=41),
        context=ctx,
    )
    assert upgrade.invoice is not None
    return upgrade.subscription, upgrade.invoice


def trialing(account: Account) -> Subscription:
    outcome = apply(
        None,
        StartTrial(terms=Terms(product="monitoring", plan="basic", seats=1, frequency="monthly")),
        at=START,
        context=context(account),
        subscription_id=f"{account.id}:monitoring",
        account_id=account.id,
    )
    return outcome.subscription


def past_due(account: Account, subscription_id: str) -> Subscription:
    """A renewal that could not be charged: due again when its retry comes."""
    subscription, _ = subscribed(account)
    assert subscription.period is not None
    failed = subscription.period.end
    return attrs.evolve(
        subscription,
        id=subscription_id,
        status=Status.PAST_DUE,
        dunning=Dunning(
            invoice_id="inv-dunned",
            failed_at=failed,
            attempts=1,
            next_retry_at=failed + timedelta(days=3),
        ),
        version=subscription.version + 1,
    )


def events(account: Account) -> list[Event]:
    ctx = context(account)
    first = apply(
        None,
        Subscribe(
            terms=Terms(product="remote-support", plan="standard", seats=3, frequency="monthly")
        ),
        at=START,
        context=ctx,
        subscription_id=f"{account.id}:remote-support",
        account_id=account.id,
    )
    upgrade = apply(
        first.subscription, Change(plan="premium"), at=START + timedelta(days=2), context=ctx
    )
    return [*first.events, *upgrade.events]


def cart(account: Account) -> Cart:
    return Cart(
        account_id=account.id,
        items=(
            CartItem(product="remote-support", plan="premium", seats=4, frequency="annual"),
            CartItem(product="monitoring", plan="basic", seats=2, frequency="monthly"),
        ),
        version=1,
    )


def releasing_cart(account: Account) -> Cart:
    """A cart whose change names the users to release."""
    item = CartItem(
        product="remote-support", plan="standard", seats=1, frequency="monthly", release=["ada"]
    )
    return Cart(account_id=account.id, items=(item,), version=1)


def releasing_quote(account: Account, quote_id: str = "quo-release") -> Quote:
    """:func:`quote`, as if its first item released two users."""
    made = quote(account, quote_id)
    cart = (attrs.evolve(made.cart[0], release=("ada", "grace")), *made.cart[1:])
    items = (attrs.evolve(made.items[0], release=("ada", "grace")), *made.items[1:])
    return attrs.evolve(made, cart=cart, items=items)


def quote(account: Account, quote_id: str = "quo-1") -> Quote:
    """A priced quote of :func:`cart`, reverse-charged for the German account."""
    items = cart(account)
    priced = price_cart(
        account,
        items,
        {},
        at=START,
        context=context(account),
        subscription_id=lambda product: f"{account.id}:{product}",
        ttl=timedelta(minutes=30),
    )
    return Quote(
        id=quote_id,
        account_id=account.id,
        created_at=priced.at,
        expires_at=priced.expires_at,
        currency=account.currency,
        cart=items.items,
        items=priced.items,
        invoice=priced.invoice,
        credit_applied=to_money(priced.credit_applied, account.currency),
        amount_due=to_money(priced.amount_due, account.currency),
        vat_number=None if account.vat_number is None else str(account.vat_number),
        reverse_charge=any(
            line.tax is not None and line.tax.treatment is TaxTreatment.REVERSE_CHARGE
            for line in (priced.invoice.lines if priced.invoice else ())
        ),
        prepared_by="staff:carla",
    )


def order(
    account: Account,
    order_id: str = "ord-1",
    *,
    state: OrderState = OrderState.SUCCEEDED,
    quote_id: str = "quo-1",
    amount_due: Decimal = Decimal("183.00"),
) -> Order:
    return Order(
        id=order_id,
        account_id=account.id,
        quote_id=quote_id,
        idempotency_key=f"key-{order_id}",
        state=state,
        amount_due=to_money(amount_due, "EUR"),
        currency="EUR",
        placed_by="anna",
        created_at=START + timedelta(minutes=5),
        updated_at=START + timedelta(minutes=5, seconds=2, microseconds=123_456),
        payment_method="tok_visa",
        charge_id=None if state is OrderState.PENDING else f"ch_{order_id}",
        purchase_order="PO-2026-117" if account.corporate else None,
        due_days=30 if account.corporate else None,
    )


def first_schema_text(record: Order | Quote) -> str:
    """The JSON text the first schemas stored for ``record``: the amounts of orders and
    quotes as decimal strings (migration 6 made them ``Money`` objects)."""
    doc = codec.encode(record)
    names = ("amount_due",) if isinstance(record, Order) else ("credit_applied", "amount_due")
    for name in names:
        doc[name] = str(getattr(record, name).amount)
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def issued_invoice(
    account: Account,
    invoice: Invoice,
    *,
    invoice_id: str = "inv-1",
    sequence: int = 1,
    series: str = "INV",
    order_id: str | None = "ord-1",
) -> IssuedInvoice:
    seller = Seller(
        name=SELLER.name, address=SELLER.address, vat_number=SELLER.vat_number, series=series
    )
    (issued,) = issued_documents(
        [
            Draft(
                account=account,
                invoice=invoice,
                order_id=order_id,
                due_at=None if not account.corporate else invoice.issued_at + timedelta(days=30),
                status=InvoiceStatus.OPEN if account.corporate else InvoiceStatus.PAID,
            )
        ],
        seller=seller,
        first=sequence,
        issued_at=invoice.issued_at,
        new_id=lambda: invoice_id,
    )
    return issued


def seats(subscription_id: str) -> SeatAssignments:
    return assign(SeatAssignments(subscription_id=subscription_id, seats=5), ["anna", "bruno"])


def payment_failure(account: Account) -> PaymentFailure:
    return PaymentFailure(
        account_name=account.name,
        locale=account.locale,
        timezone=account.timezone,
        product_name="Remote Support",
        currency="EUR",
        amount=Decimal("1234.56"),
        failed_at=START,
        next_retry_at=START + timedelta(days=3),
    )


def outbox_entry(account: Account, entry_id: str, at: datetime) -> OutboxEntry:
    """A notice of a failed payment to the account's billing contacts, as the outbox
    keeps it: written when it is delivered."""
    notice = Notice(to=sorted(account.billing_contacts), data=payment_failure(account))
    return OutboxEntry(id=entry_id, created_at=at, notice=notice)


def notices(account: Account) -> list[Notice]:
    """One notice of every kind the outbox keeps, with every kind of field filled: an
    order confirmation with items, lines, a credit and two VAT lines (in the account's
    zone), a failed 3-D Secure payment, a lapse, an expired trial, a rejected VAT
    number."""
    zone = ZoneInfo(account.timezone)
    at = START.astimezone(zone)
    to = sorted(account.billing_contacts)
    confirmation = Confirmation(
        order_id="ord-1",
        invoice_number="INV-0001",
        account_name=account.name,
        locale=account.locale,
        timezone=account.timezone,
        currency="EUR",
        placed_at=at,
        items=[
            ConfirmationItem(
                product_name="Remote Support",
                plan_name="Premium",
                seats=5,
                seats_added=2,
                frequency=Frequency.ANNUAL,
                next_billing_at=at + timedelta(days=365),
            ),
            ConfirmationItem(
                product_name="Monitoring",
                plan_name="Standard",
                seats=1,
                seats_added=0,
                frequency=Frequency.MONTHLY,
                next_billing_at=None,
            ),
        ],
        lines=[
            ConfirmationLine(
                kind="charge",
                product_name="Remote Support",
                plan_name="Premium",
                seats=5,
                period_start=at,
                period_end=at + timedelta(days=365),
                amount=Decimal("1000.00"),
            ),
            ConfirmationLine(
                kind="credit",
                product_name="Remote Support",
                plan_name="Standard",
                seats=3,
                period_start=at,
                period_end=at + timedelta(days=20),
                amount=Decimal("-100.10"),
            ),
        ],
        taxes=[
            ConfirmationTax(
                rate=Decimal("25.5"),
                treatment=TaxTreatment.STANDARD,
                base=Decimal("500.00"),
                amount=Decimal("127.50"),
                mention=None,
            ),
            ConfirmationTax(
                rate=Decimal("0"),
                treatment=TaxTreatment.REVERSE_CHARGE,
                base=Decimal("399.90"),
                amount=Decimal("0.00"),
                mention=REVERSE_CHARGE_MENTION,
            ),
        ],
        subtotal=Decimal("899.90"),
        total=Decimal("1027.40"),
        credit_applied=Decimal("27.40"),
        amount_charged=Decimal("1000.00"),
        due_at=at + timedelta(days=30),
    )
    common = {
        "account_name": account.name,
        "locale": account.locale,
        "timezone": account.timezone,
    }
    failure = attrs.evolve(
        payment_failure(account), ends_at=at + timedelta(days=14), authenticate=True
    )
    return [
        Notice(to=to, data=confirmation),
        Notice(to=to, data=failure),
        Notice(
            to=to,
            data=SubscriptionLapse(
                **common, product_name="Remote Support", plan_name="Premium", ended_at=at
            ),
        ),
        Notice(to=to, data=TrialExpiry(**common, product_name="Monitoring", expired_at=at)),
        Notice(
            to=to,
            data=VatNumberRejection(**common, vat_number="DE136695976", checked_at=START),
        ),
    ]


def written_outbox_entry(account: Account, entry_id: str, at: datetime) -> OutboxEntry:
    """The same message as the first schemas stored it: written when it was posted, to
    the users' ids, without the record it was written from."""
    message = render_payment_failed(payment_failure(account), to=sorted(account.billing_contacts))
    return OutboxEntry(id=entry_id, created_at=at, message=attrs.evolve(message, data=None))


def unique_ids(prefix: str) -> Iterator[str]:
    n = 0
    while True:
        n += 1
        yield f"{prefix}-{n:04d}"


def number(uow: Any, series: str = "INV", *, at: datetime = START) -> int:
    """The next number of ``series`` taken in ``uow`` (issued at ``at``)."""
    first, _ = uow.invoices.take_numbers(series, 1, now=lambda: at)
    return int(first)
