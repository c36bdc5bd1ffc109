"""subscriptions: the billing engine behind a SaaS self-service billing center.

The pure core (money, catalog, billing dates, proration, VAT, lifecycle transitions,
cart, seats) needs no I/O; :class:`BillingCenter` runs the use cases over pluggable
storage and payment ports. Adapters with optional dependencies are imported by path:
``from subscriptions.adapters.postgres import PostgresStore``.
"""

from importlib.metadata import PackageNotFoundError, version

from .accounts import Account, AccountKind, Address, VatCheck, VatCheckStatus
from .adapters.fakes import FakeGateway, FakeVatVerifier, InMemoryNotifier, ManualClock
from .adapters.memory import InMemoryStore
from .cart import Cart, CartItem
from .catalog import Catalog, Plan, Price, Product
from .center import BillingCenter, BillRunReport, ReconcileReport, Review, Settings, VatUnavailable
from .errors import (
    ActionRefused,
    ConcurrencyConflict,
    CorporateSelfServiceRefused,
    DatabaseConflict,
    GatewayUnavailable,
    InstantInFuture,
    InvalidInput,
    NotFound,
    NotPermitted,
    PaymentActionRequired,
    PaymentDeclined,
    PaymentFailed,
    PaymentInProgress,
    PaymentNotRecorded,
    QuoteChanged,
    QuoteExpired,
    StorageError,
    SubscriptionsError,
)
from .money import Rounding, allocate, round_amount, to_money
from .orders import InvoiceStatus, IssuedInvoice, Order, OrderState, Quote, Seller
from .payments import AttemptKind, AttemptState, PaymentAttempt
from .periods import Frequency, Period
from .preview import Preview, quote
from .pricing import Customer, Invoice, InvoiceLine, TaxRounding, TaxSetup, build_invoice
from .proration import CreditBasis, DayCount, Granularity, ProrationPolicy
from .seats import SeatAssignments
from .subscription import (
    BillingContext,
    BillingPolicy,
    Cancel,
    CancelTiming,
    Change,
    ChangeKind,
    ChangePolicy,
    ChangeTiming,
    Reactivate,
    StartTrial,
    Status,
    Subscribe,
    Subscription,
    Terms,
    TrialEnd,
)
from .transitions import advance, apply, next_due
from .vat import TaxTreatment, VatNumber, parse_vat_number

try:
    __version__ = version("subscriptions")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "Account",
    "AccountKind",
    "ActionRefused",
    "Address",
    "AttemptKind",
    "AttemptState",
    "BillRunReport",
    "BillingCenter",
    "BillingContext",
    "BillingPolicy",
    "Cancel",
    "CancelTiming",
    "Cart",
    "CartItem",
    "Catalog",
    "Change",
    "ChangeKind",
    "ChangePolicy",
    "ChangeTiming",
    "ConcurrencyConflict",
    "CorporateSelfServiceRefused",
    "CreditBasis",
    "Customer",
    "DatabaseConflict",
    "DayCount",
    "FakeGateway",
    "FakeVatVerifier",
    "Frequency",
    "GatewayUnavailable",
    "Granularity",
    "InMemoryNotifier",
    "InMemoryStore",
    "InstantInFuture",
    "InvalidInput",
    "Invoice",
    "InvoiceLine",
    "InvoiceStatus",
    "IssuedInvoice",
    "ManualClock",
    "NotFound",
    "NotPermitted",
    "Order",
    "OrderState",
    "PaymentActionRequired",
    "PaymentAttempt",
    "PaymentDeclined",
    "PaymentFailed",
    "PaymentInProgress",
    "PaymentNotRecorded",
    "Period",
    "Plan",
    "Preview",
    "Price",
    "Product",
    "ProrationPolicy",
    "Quote",
    "QuoteChanged",
    "QuoteExpired",
    "Reactivate",
    "ReconcileReport",
    "Review",
    "Rounding",
    "SeatAssignments",
    "Seller",
    "Settings",
    "StartTrial",
    "Status",
    "StorageError",
    "Subscribe",
    "Subscription",
    "SubscriptionsError",
    "TaxRounding",
    "TaxSetup",
    "TaxTreatment",
    "Terms",
    "TrialEnd",
    "VatCheck",
    "VatCheckStatus",
    "VatNumber",
    "VatUnavailable",
    "__version__",
    "advance",
    "allocate",
    "apply",
    "build_invoice",
    "next_due",
    "parse_vat_number",
    "quote",
    "round_amount",
    "to_money",
]
