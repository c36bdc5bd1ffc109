"""The Billing Center's use cases, one module per group, behind the
:class:`BillingCenter` facade.

Each module holds the use cases of one group, over the ports, calling the pure core for
every decision; each takes the wiring (:class:`~.base.Center`) as its first argument:

* :mod:`.base`: the settings, the wiring of the ports and the helpers every use case
  shares;
* :mod:`.accounts`: opening an account, its payment method, contacts and VAT number;
* :mod:`.trials`: starting free trials and expiring them;
* :mod:`.quotes`: the cart, and quotes priced from it and checked again at payment;
* :mod:`.orders`: placing and resuming orders;
* :mod:`.corporate`: purchase-order orders placed by staff, confirmed by the customer;
* :mod:`.seats`: assigning seats to users;
* :mod:`.subscriptions`: cancelling and reactivating;
* :mod:`.invoices`: paying an open invoice on session, confirming a 3-D Secure payment;
* :mod:`.issuing`: numbering and dating documents in their series;
* :mod:`.attempts`: sending a payment attempt and recording its outcome, the one
  path every charge and refund takes;
* :mod:`.refunds`: the refund of a charge that cannot be kept, on record;
* :mod:`.purchase`: completing what an order bought (or failing it), in one unit of
  work;
* :mod:`.reconcile`: resolving every attempt left in flight;
* :mod:`.gateway_events`: a gateway's webhooks, applied from the gateway's own state;
* :mod:`.billrun`: renewals, retries and lapses, in batches;
* :mod:`.projections`: what a bill run would do, projected from the book, and the
  forecast of the whole book over the coming months, writing nothing;
* :mod:`.vat`: VAT numbers checked again when their evidence is old, a job of its own;
* :mod:`.catalog`: a new catalog checked against what the book uses;
* :mod:`.facade`: :class:`BillingCenter`, the one object a host calls.
"""

from .base import Center, Settings, VatUnavailable
from .billrun import BillRunReport
from .catalog import check_catalog_change
from .facade import BillingCenter
from .gateway_events import EventOutcome, GatewayEventApplied
from .projections import RenewalPreview, forecast
from .reconcile import ReconcileReport, Review
from .vat import VatRecheckReport

__all__ = [
    "BillRunReport",
    "BillingCenter",
    "Center",
    "EventOutcome",
    "GatewayEventApplied",
    "ReconcileReport",
    "RenewalPreview",
    "Review",
    "Settings",
    "VatRecheckReport",
    "VatUnavailable",
    "check_catalog_change",
    "forecast",
]
