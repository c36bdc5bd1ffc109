"""Collecting an issued invoice: its states, the retry schedule of an unpaid renewal,
recovery and lapse, as pure transitions.

An invoice's collection::

    open ──► charging ──► paid
    failed ─┘    ├──► requires_action ──► paid | open | failed
                 ├──► failed   a decline; the next retry is scheduled (past due)
                 └──► open     nothing was charged: due again
    open | failed ──► void     the subscription lapsed; a credit note reverses it

A renewal invoice is collected off-session by the bill run. Its subscription carries
the collection (:class:`~subscriptions.subscription.Dunning`) as long as the invoice is
unpaid: which invoice, where its unpaid period starts, how many attempts were
declined, and when the next one is due (``None`` while one is in flight). A decline
makes the subscription ``past_due``; the retry schedule (``Settings.retry_days``, days
after the first failure, 3, 7 and 14 by default) counts from the instant of each
failed attempt, so a late bill run never sends two retries in a row; after the last
retry the subscription lapses. While past due, a subscription is not renewed: its
next step is the next retry, or the lapse.

:func:`due_at` is the one answer to "when does the bill run next have something to do
for this subscription?"; the stores index it.

>>> from datetime import datetime, timedelta, timezone
>>> retry_gap((3, 7, 14), declines=1), retry_gap((3, 7, 14), declines=2)
(datetime.timedelta(days=3), datetime.timedelta(days=4))
>>> retry_gap((3, 7, 14), declines=4) is None
True
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

import attrs

from ._records import quick_init, revised
from .errors import InvalidTransition
from .orders import COLLECTIBLE, DONE, InvoiceStatus, IssuedInvoice
from .periods import Period
from .pricing import Invoice, InvoiceReason, LineKind
from .subscription import Dunning, Event, EventKind, Status, Subscription, new_event
from .transitions import next_due

__all__ = [
    "Collected",
    "Lapse",
    "action_required",
    "begin",
    "begin_retry",
    "charged",
    "declined",
    "due_at",
    "lapse",
    "retry_gap",
    "uncharged",
    "unpaid_from",
]

# Members read on the renewal's path, bound once (see Choice).
_PAID, _PAYMENT_SUCCEEDED = InvoiceStatus.PAID, EventKind.PAYMENT_SUCCEEDED


def due_at(sub: Subscription) -> datetime | None:
    """When the bill run next has work for ``sub``: collecting its unpaid invoice (the
    next retry, or ``None`` while an attempt is in flight), or else its next automatic
    step (a renewal, a trial's end, an end-of-term cancellation)."""
    dunning = sub.dunning
    if dunning is not None:
        return dunning.next_retry_at
    return next_due(sub)


def retry_gap(retry_days: Sequence[int], *, declines: int) -> timedelta | None:
    """How long after the ``declines``-th failed attempt the next one is made, or
    ``None`` when the schedule is over (the subscription lapses).

    ``retry_days`` are days after the first failure; each retry keeps its distance
    from the one before, counted from when that one actually failed.
    """
    if declines < 1 or declines > len(retry_days):
        return None
    before = retry_days[declines - 2] if declines >= 2 else 0
    return timedelta(days=retry_days[declines - 1] - before)


def _left(retry_days: Sequence[int], *, declines: int) -> timedelta | None:
    """From the ``declines``-th failure to the last retry."""
    if declines < 1 or declines > len(retry_days):
        return None
    before = retry_days[declines - 2] if declines >= 2 else 0
    return timedelta(days=retry_days[-1] - before)


def unpaid_from(invoice: IssuedInvoice, sub: Subscription) -> datetime:
    """Where the unpaid period of ``sub`` starts on ``invoice``: where a lapse ends it."""
    starts = [
        line.period.start
        for line in invoice.lines
        if line.subscription_id == sub.id and line.kind is LineKind.CHARGE
    ]
    if starts:
        return min(starts)
    return sub.period.start if sub.period is not None else invoice.issued_at


@quick_init
@attrs.frozen(kw_only=True, weakref_slot=False)
class Collected:
    """An attempt's outcome applied to the invoice and its subscription.

    ``subscription`` is ``None`` when it does not change. ``retry_at`` is when a
    declined renewal is tried again and ``ends_at`` when it lapses if never paid;
    ``lapses`` says the last retry failed: apply :func:`lapse` next.
    """

    invoice: IssuedInvoice
    subscription: Subscription | None
    events: tuple[Event, ...]
    retry_at: datetime | None = None
    ends_at: datetime | None = None
    lapses: bool = False


def _status(invoice: IssuedInvoice, status: InvoiceStatus) -> IssuedInvoice:
    return invoice if invoice.status is status else invoice.with_status(status)


def _collecting(sub: Subscription | None, invoice: IssuedInvoice) -> bool:
    return sub is not None and sub.dunning is not None and sub.dunning.invoice_id == invoice.id


def _unpaid(invoice: IssuedInvoice, sub: Subscription | None) -> InvoiceStatus:
    """Where an invoice stands when an attempt at it took nothing: failed while its
    subscription is past due for it, open otherwise."""
    past_due = sub is not None and sub.status is Status.PAST_DUE and _collecting(sub, invoice)
    return InvoiceStatus.FAILED if past_due else InvoiceStatus.OPEN


def begin(invoice: IssuedInvoice) -> IssuedInvoice:
    """An attempt to collect ``invoice`` is about to be sent: it is being charged, and
    its ``attempts`` count the new one (whose number that is)."""
    if invoice.status not in COLLECTIBLE:
        raise InvalidTransition(
            f"invoice {invoice.number} is {invoice.status.value}; only an open or failed "
            "invoice can be charged"
        )
    return revised(invoice, status=InvoiceStatus.CHARGING, attempts=invoice.attempts + 1)


def begin_retry(sub: Subscription) -> Subscription:
    """The bill run sends the retry due for ``sub``: nothing more is due until its
    outcome is known."""
    if sub.dunning is None or sub.dunning.next_retry_at is None:
        raise InvalidTransition(f"{sub.product!r} has no retry due")
    return revised(sub, dunning=attrs.evolve(sub.dunning, next_retry_at=None))


def action_required(invoice: IssuedInvoice) -> IssuedInvoice:
    """The payment being made waits for the customer to authenticate."""
    return _status(invoice, InvoiceStatus.REQUIRES_ACTION)


def charged(invoice: IssuedInvoice, sub: Subscription | None, *, at: datetime) -> Collected:
    """The money came in: the invoice is paid, and a subscription being collected for it
    is active again (recovered, if it was past due)."""
    if invoice.status in DONE:
        raise InvalidTransition(
            f"invoice {invoice.number} is already {invoice.status.value}; a second payment "
            "of it is refunded instead"
        )
    events = [Event(kind=_PAYMENT_SUCCEEDED, at=at, invoice_number=invoice.number)]
    changed = None
    if sub is not None and _collecting(sub, invoice):
        changed = revised(
            sub, status=Status.ACTIVE if sub.status is Status.PAST_DUE else sub.status, dunning=None
        )
        if sub.status is Status.PAST_DUE:
            events.append(new_event(EventKind.SUBSCRIPTION_RECOVERED, at, sub))
    return Collected(invoice=_status(invoice, _PAID), subscription=changed, events=tuple(events))


def declined(
    invoice: IssuedInvoice,
    sub: Subscription | None,
    *,
    at: datetime,
    code: str,
    retry_days: Sequence[int],
    scheduled: bool,
) -> Collected:
    """A charge of ``invoice`` was declined at ``at``.

    ``scheduled`` is the bill run's own off-session collection of a renewal: the
    subscription becomes past due and the next retry is scheduled from ``at`` (or, the
    schedule being over, it lapses). A payment the customer tried on session changes
    no schedule: the invoice goes back to where it was.
    """
    failed = Event(
        kind=EventKind.PAYMENT_FAILED,
        at=at,
        subscription_id=None if sub is None else sub.id,
        product=None if sub is None else sub.product,
        invoice_number=invoice.number,
        failure_code=code,
    )
    if not scheduled or sub is None:
        return Collected(
            invoice=_status(invoice, _unpaid(invoice, sub)), subscription=None, events=(failed,)
        )
    if sub.status not in (Status.ACTIVE, Status.PAST_DUE):
        # Nothing left to dun (it ended meanwhile): the invoice stays owed.
        return Collected(
            invoice=_status(invoice, InvoiceStatus.OPEN), subscription=None, events=(failed,)
        )
    before = sub.dunning if _collecting(sub, invoice) else None
    declines = (0 if before is None else before.attempts) + 1
    gap = retry_gap(retry_days, declines=declines)
    left = _left(retry_days, declines=declines)
    dunning = Dunning(
        invoice_id=invoice.id,
        failed_at=before.failed_at if before is not None else unpaid_from(invoice, sub),
        attempts=declines,
        next_retry_at=None if gap is None else at + gap,
    )
    changed = revised(sub, status=Status.PAST_DUE, dunning=dunning)
    events = [failed]
    if sub.status is not Status.PAST_DUE:
        events.append(new_event(EventKind.SUBSCRIPTION_PAST_DUE, at, sub))
    return Collected(
        invoice=_status(invoice, InvoiceStatus.FAILED),
        subscription=changed,
        events=tuple(events),
        retry_at=dunning.next_retry_at,
        ends_at=None if left is None else at + left,
        lapses=gap is None,
    )


def uncharged(
    invoice: IssuedInvoice, sub: Subscription | None, *, at: datetime, scheduled: bool
) -> Collected:
    """Nothing was charged under the attempt (never sent, never seen by the gateway, a
    transient error, 3-D Secure abandoned): the invoice is due again.

    For the bill run's collection of a renewal, the subscription is due again at
    ``at`` if it was never declined, and keeps its retry schedule if it was.
    """
    status = _unpaid(invoice, sub)
    changed = None
    if scheduled and sub is not None and sub.status in (Status.ACTIVE, Status.PAST_DUE):
        if sub.dunning is None:
            dunning = Dunning(
                invoice_id=invoice.id,
                failed_at=unpaid_from(invoice, sub),
                attempts=0,
                next_retry_at=at,
            )
            changed = revised(sub, dunning=dunning)
        elif _collecting(sub, invoice) and sub.dunning.next_retry_at is None:
            changed = revised(sub, dunning=attrs.evolve(sub.dunning, next_retry_at=at))
    return Collected(invoice=_status(invoice, status), subscription=changed, events=())


@attrs.frozen(kw_only=True, weakref_slot=False)
class Lapse:
    """An unpaid subscription ended where its paid period did.

    ``voided`` is the unpaid invoice as voided (``None`` when it was no longer open);
    ``reversal`` the credit note to issue for it, correcting it; ``credit_back`` the
    credit balance it had used, given back to the account.
    """

    subscription: Subscription
    voided: IssuedInvoice | None
    reversal: Invoice | None
    credit_back: Decimal
    events: tuple[Event, ...]


def lapse(sub: Subscription, invoice: IssuedInvoice, *, at: datetime) -> Lapse:
    """End ``sub``, whose collection of ``invoice`` failed for good (or which the
    customer cancels while it is unpaid), at the end of its paid period: no credit is
    due for the unpaid one, and the invoice is voided."""
    if sub.dunning is None or sub.dunning.invoice_id != invoice.id:
        raise InvalidTransition(f"{sub.product!r} is not being collected for {invoice.number}")
    if invoice.status not in COLLECTIBLE:
        raise InvalidTransition(
            f"invoice {invoice.number} is {invoice.status.value}; a subscription lapses only "
            "while its invoice is open (not while a payment of it is in flight)"
        )
    ended_at = sub.dunning.failed_at
    reversal = Invoice(
        currency=invoice.currency,
        issued_at=at,
        reason=InvoiceReason.CANCEL,
        lines=tuple(
            attrs.evolve(line, kind=LineKind.CREDIT, listed=-line.listed, amount=-line.amount)
            for line in invoice.lines
        ),
        subtotal=-invoice.subtotal,
        taxes=tuple(attrs.evolve(t, base=-t.base, amount=-t.amount) for t in invoice.taxes),
        total=-invoice.total,
    )
    lapsed = revised(
        sub,
        status=Status.CANCELED,
        period=None
        if sub.period is None or sub.period.start >= ended_at
        else Period(sub.period.start, ended_at),
        open_charges=(),
        canceled_at=ended_at,
        scheduled=None,
        dunning=None,
    )
    event = new_event(EventKind.SUBSCRIPTION_LAPSED, at, sub)
    return Lapse(
        subscription=lapsed,
        voided=invoice.with_status(InvoiceStatus.VOID),
        reversal=reversal,
        credit_back=invoice.credit_applied,
        events=(event,),
    )
