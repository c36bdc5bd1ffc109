"""The bill run: renewals, trial ends, end-of-term cancellations, retries and lapses,
in batches, every charge an attempt on record.

A run first resolves what earlier runs left in flight (:mod:`.reconcile`), so that a
rerun after a crash heals the book before anything new is charged. Then, batch by
batch:

1. one transaction claims the subscriptions due (on PostgreSQL ``FOR UPDATE SKIP
   LOCKED``, so that concurrent runs take disjoint batches: the row locks end at the
   commit, and the attempts committed with it are the lasting claim), takes each one's
   step, issues the invoices (their numbers taken last, in one statement) and commits
   a payment attempt for each invoice with an amount due;
2. the attempts are sent, off-session; a gateway that fails before charging, or does
   not answer, is asked again with backoff under the same key, and nothing about the
   subscription changes;
3. one transaction records the outcomes: paid, declined (past due, with the next retry
   counted from the failed attempt's instant; or the lapse, after the last retry),
   still unknown (left in flight for reconcile).

A subscription whose step raises is reported by id and the run goes on. ``stop()``,
when it says so, ends the run after the charge being sent: the attempts not sent yet
are resolved as not charged, due again, so nothing is left in flight.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import attrs

from .. import collection, payments
from .._records import revised
from ..accounts import Account
from ..errors import (
    ConcurrencyConflict,
    GatewayMisconfigured,
    NotFound,
    PaymentNotRecorded,
    StorageError,
)
from ..inputs import callback
from ..orders import COLLECTIBLE, Draft, InvoiceStatus, IssuedInvoice
from ..payments import AttemptState, PaymentAttempt, PaymentResult
from ..ports import UnitOfWork
from ..pricing import apply_credit
from ..seats import resize
from ..subscription import BillingContext, Status, Subscription
from ..transitions import advance
from . import attempts, issuing, trials
from .base import Center
from .reconcile import reconcile

__all__ = ["BillRunReport", "count_due", "run_renewals"]

# Members read on the renewal's path, bound once (see Choice).
_CHARGING, _OPEN = InvoiceStatus.CHARGING, InvoiceStatus.OPEN
_TRIALING = Status.TRIALING
_CHARGED, _SUCCEEDED = payments.PaymentStatus.SUCCEEDED, AttemptState.SUCCEEDED

_UNSENT = "the bill run stopped before sending it"
#: How many times the recording transaction is tried when the store fails.
_RECORD_TRIES = 3


@attrs.frozen(kw_only=True, weakref_slot=False)
class BillRunReport:
    """What a bill run did.

    ``resolved``: attempts left in flight by earlier runs, resolved first;
    ``unknown``: charges the gateway did not answer (in flight, for reconcile);
    ``errors``: (subscription id, what went wrong) of subscriptions skipped;
    ``stopped``: why the run ended early, if it did.
    """

    renewed: int = 0
    charged: int = 0
    failed: int = 0
    retried: int = 0
    recovered: int = 0
    lapsed: int = 0
    canceled: int = 0
    trials_expired: int = 0
    trials_converted: int = 0
    conflicts: int = 0
    resolved: int = 0
    unknown: int = 0
    errors: tuple[tuple[str, str], ...] = ()
    stopped: str | None = None


_COUNTS = tuple(f.name for f in attrs.fields(BillRunReport) if f.name not in ("errors", "stopped"))


class _Tally:
    """The report's counts while the run goes (merged per committed transaction)."""

    def __init__(self) -> None:
        self.counts = dict.fromkeys(_COUNTS, 0)
        self.errors: list[tuple[str, str]] = []
        self.stopped: str | None = None
        self.misconfigured: GatewayMisconfigured | None = None

    def add(self, other: _Tally) -> None:
        for name, value in other.counts.items():
            self.counts[name] += value

    def report(self) -> BillRunReport:
        return BillRunReport(**self.counts, errors=tuple(self.errors), stopped=self.stopped)


class _Item:
    """A charge the batch committed: its attempt and what it collects."""

    __slots__ = ("account", "attempt", "invoice", "retry", "sub_id")

    def __init__(
        self,
        attempt: PaymentAttempt,
        invoice: IssuedInvoice,
        account: Account,
        sub_id: str,
        *,
        retry: bool,
    ) -> None:
        self.attempt = attempt
        self.invoice = invoice
        self.account = account
        self.sub_id = sub_id
        self.retry = retry


class _Charge:
    """A renewal invoice of the batch to issue, and the subscription it bills."""

    __slots__ = ("account", "charge", "draft", "sub")

    def __init__(self, draft: Draft, sub: Subscription, account: Account, *, charge: bool) -> None:
        self.draft = draft
        self.sub = sub
        self.account = account
        self.charge = charge


@attrs.frozen(weakref_slot=False)
class _Batch:
    items: list[_Item]
    last: str
    claimed: int
    acted: int


def run_renewals(
    center: Center,
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
    the run cleanly after the charge in progress. A gateway that refuses its own
    set-up (:class:`~subscriptions.errors.GatewayMisconfigured`: a wrong API key)
    stops the run with nothing charged and no dunning: what the batch had not sent is
    due again, and the error is raised once that is recorded. See
    :mod:`subscriptions.center.billrun`."""
    callback(progress, what="progress")
    callback(stop, what="stop")
    at = center.until(at, what="a bill run")
    stopping = stop or (lambda: False)
    tally = _Tally()
    healed = reconcile(center, stop=stop)
    tally.counts["resolved"] = len(healed.resolved)
    tally.counts["unknown"] = healed.unknown
    tally.errors.extend(healed.errors)
    skip: set[str] = set()
    # The outcomes of a batch are recorded in the transaction that opens the next one
    # (one commit less per batch); those of the last batch on their own.
    sent: _Sent = []
    try:
        _passes(center, at, stopping, progress, tally, skip, sent)
    finally:
        if sent:
            _close(center, sent, tally, skip)
        center.deliver_after_commit()
    if tally.misconfigured is not None:
        raise tally.misconfigured
    return tally.report()


def count_due(center: Center, at: datetime | None = None) -> int:
    """How many subscriptions are due at ``at`` (default: now; never later than now):
    what a bill run would start with, and the total a progress bar counts towards.
    A subscription with several periods due counts once. Reads only."""
    at = center.until(at, what="a bill run")
    page = center.settings.batch_size
    count, after = 0, None
    while True:
        with center.store.unit_of_work() as uow:
            ids = uow.subscriptions.due(at, limit=page, after=after)
        count += len(ids)
        if len(ids) < page:
            return count
        after = ids[-1]


def _passes(
    center: Center,
    at: datetime,
    stopping: Callable[[], bool],
    progress: Callable[[int], None] | None,
    tally: _Tally,
    skip: set[str],
    sent: _Sent,
) -> None:
    """Batch after batch, pass after pass, until nothing is due (or the run stops);
    ``sent`` holds the charges of the last batch, to record."""
    done = 0
    while True:
        # A pass over everything due; a subscription with several periods due (a late
        # bill run) comes back in the next pass.
        acted = 0
        after: str | None = None
        while True:
            if stopping():
                tally.stopped = "interrupted"
                return
            batch = _open(center, at, after, skip, tally, sent)
            sent.clear()
            if batch is None:
                break
            after = batch.last
            acted += batch.acted
            done += batch.claimed
            if progress is not None:
                progress(done)
            sent.extend(_send(center, batch.items, stopping, tally))
            if tally.stopped is not None:
                return
        center.deliver_after_commit()
        if acted == 0:
            return


# -- 1. the batch's steps, invoices and attempts --------------------------------------

_Sent = list[tuple["_Item", PaymentResult | None, bool]]


def _open(
    center: Center,
    at: datetime,
    after: str | None,
    skip: set[str],
    tally: _Tally,
    sent: _Sent,
) -> _Batch | None:
    """Record what the last batch's charges did, then claim and open the next batch,
    in one transaction; ``None`` when nothing more is due."""
    ids: list[str] = []
    try:
        with center.store.unit_of_work() as uow:
            recorded = _Tally()
            if sent:
                _record_all(center, uow, sent, recorded, skip)
            subs = uow.subscriptions.claim_due(at, limit=center.settings.batch_size, after=after)
            ids = [sub.id for sub in subs]
            delta = _Tally()
            items, acted = _steps(center, uow, subs, at, skip, delta, tally) if subs else ([], 0)
            uow.commit()
        tally.add(recorded)
        tally.add(delta)
        return _Batch(items, ids[-1], len(ids), acted) if ids else None
    except ConcurrencyConflict:
        pass
    except StorageError:
        # Nothing of it was kept: record the outcomes on their own if the store lets
        # us (else they stay in flight, for reconcile), and stop.
        if sent:
            _close(center, sent, tally, skip)
            sent.clear()
        raise
    # Someone changed one of them meanwhile: nothing of the transaction was kept.
    # Record the outcomes on their own, then take the batch one at a time.
    if sent:
        _close(center, sent, tally, skip)
        sent.clear()
    if not ids:
        return _open(center, at, after, skip, tally, [])
    items = []
    acted = 0
    for sub_id in ids:
        if sub_id in skip:
            continue
        try:
            with center.store.unit_of_work() as uow:
                sub = uow.subscriptions.get(sub_id)
                if sub is None:
                    continue
                delta = _Tally()
                mine, count = _steps(center, uow, [sub], at, skip, delta, tally)
                uow.commit()
            tally.add(delta)
            items.extend(mine)
            acted += count
        except ConcurrencyConflict:
            tally.counts["conflicts"] += 1
            skip.add(sub_id)
    return _Batch(items, ids[-1], len(ids), acted)


def _steps(
    center: Center,
    uow: UnitOfWork,
    subs: Sequence[Subscription],
    at: datetime,
    skip: set[str],
    delta: _Tally,
    tally: _Tally,
) -> tuple[list[_Item], int]:
    """Take every due subscription's step in ``uow``; the charges to send."""
    now = center.now()
    accounts = uow.accounts.get_many(
        sorted({s.account_id for s in subs if s.account_id is not None})
    )
    collecting = uow.invoices.get_many(
        [s.dunning.invoice_id for s in subs if s.dunning is not None]
    )
    # Accounts taxed alike (same currency, zone, place and VAT number) share a
    # context, and with it the tax decisions it has made for each date.
    contexts: dict[tuple[object, ...], BillingContext] = {}
    charges: list[_Charge] = []
    items: list[_Item] = []
    acted = 0
    for sub in subs:
        if sub.id in skip or sub.account_id is None:
            continue
        account = accounts.get(sub.account_id)
        due = collection.due_at(sub)
        if account is None or due is None or due > at:
            continue
        try:
            if sub.dunning is not None:
                acting, item = _retry(center, uow, sub, account, collecting, now, delta)
                if not acting:
                    # Being paid by the customer right now: not in this run.
                    skip.add(sub.id)
                    continue
                if item is not None:
                    items.append(item)
            else:
                charge, account = _step(center, uow, sub, account, now, contexts, delta)
                accounts[account.id] = account
                if charge is not None:
                    charges.append(charge)
        except ConcurrencyConflict:
            raise
        except Exception as exc:  # one subscription's trouble never stops the run
            tally.errors.append((sub.id, f"{type(exc).__name__}: {exc}"))
            skip.add(sub.id)
            continue
        acted += 1
    if charges:
        # Everything else first, so that the series is held only for the inserts and
        # the commit.
        uow.flush()
        issued = issuing.issue(center, uow, [c.draft for c in charges])
        for charge, invoice in zip(charges, issued, strict=True):
            item = _collect(center, uow, charge, invoice, now, delta)
            if item is not None:
                items.append(item)
    return items, acted


def _step(
    center: Center,
    uow: UnitOfWork,
    sub: Subscription,
    account: Account,
    now: datetime,
    contexts: dict[tuple[object, ...], BillingContext],
    delta: _Tally,
) -> tuple[_Charge | None, Account]:
    """A subscription's automatic step (renewal, trial end, end-of-term cancellation),
    taken now; the renewal invoice to issue, if any, and the account as updated.
    Everything is decided before anything is written, so a step that raises leaves
    nothing behind."""
    was = sub.status
    outcome = advance(sub, context=center.shared_context(account, contexts), at=now)
    new = outcome.subscription
    if outcome.invoice is None:
        uow.subscriptions.update(new)
        center.record(uow, account.id, outcome.events)
        if was is Status.TRIALING:
            assert sub.trial is not None
            center.post(uow, trials.expired_message(center, account, sub, sub.trial.end))
            delta.counts["trials_expired"] += 1
        else:
            delta.counts["canceled"] += 1
        return None, account
    settled, balance = apply_credit(outcome.invoice, account.credit_balance)
    seats = _resized_seats(uow, new, sub)
    due = settled.amount_due > 0
    chargeable = due and account.payment_method is not None
    draft = Draft(
        account=account,
        invoice=settled,
        status=(_CHARGING if chargeable else _OPEN) if due else None,
        tax_point=now,
        attempts=1 if chargeable else 0,
    )
    uow.subscriptions.update(new)
    center.record(uow, account.id, outcome.events)
    if balance != account.credit_balance:
        account = revised(account, credit_balance=balance)
        uow.accounts.update(account)
    if seats is not None:
        uow.seats.put(seats)
    delta.counts["trials_converted" if was is _TRIALING else "renewed"] += 1
    return _Charge(draft, new, account, charge=due), account


def _resized_seats(uow: UnitOfWork, sub: Subscription, before: Subscription) -> Any:
    """The seat assignments after a renewal that changed the seats (a scheduled
    reduction releases the users assigned last), or ``None``."""
    if sub.terms.seats == before.terms.seats:
        return None
    seats = uow.seats.get(sub.id)
    if seats is None or seats.seats == sub.terms.seats or sub.status is not Status.ACTIVE:
        return None
    return resize(seats, sub.terms.seats, release=seats.users[sub.terms.seats :])


def _collect(
    center: Center,
    uow: UnitOfWork,
    charge: _Charge,
    invoice: IssuedInvoice,
    now: datetime,
    delta: _Tally,
) -> _Item | None:
    """The first attempt at a renewal invoice just issued (or, without a payment
    method, its decline on record)."""
    if not charge.charge:
        return None
    account = charge.account
    if account.payment_method is None:
        _decline_unsent(center, uow, invoice, charge.sub, account, now)
        delta.counts["failed"] += 1
        return None
    attempt = payments.invoice_attempt(
        invoice,
        number=1,
        payment_method=account.payment_method,
        off_session=True,
        at=now,
        lease=center.settings.reconcile_after,
        subscription_id=charge.sub.id,
    )
    uow.attempts.add(attempt)
    return _Item(attempt, invoice, account, charge.sub.id, retry=False)


def _decline_unsent(
    center: Center,
    uow: UnitOfWork,
    invoice: IssuedInvoice,
    sub: Subscription,
    account: Account,
    now: datetime,
) -> bool:
    """No payment method to charge: the collection fails as a decline would, so that
    the contacts are asked to add one and the retry schedule runs. Whether it lapsed."""
    collected = collection.declined(
        invoice,
        sub,
        at=now,
        code="no_payment_method",
        retry_days=center.settings.retry_days,
        scheduled=True,
    )
    attempts._write(center, uow, invoice, collected, account.id)
    if collected.lapses and collected.subscription is not None:
        attempts.lapse_now(center, uow, collected.subscription, collected.invoice, at=now)
        return True
    if collected.subscription is not None:
        center.post(uow, attempts._payment_failed(center, account, collected, now))
    return False


def _retry(
    center: Center,
    uow: UnitOfWork,
    sub: Subscription,
    account: Account,
    collecting: dict[str, IssuedInvoice],
    now: datetime,
    delta: _Tally,
) -> tuple[bool, _Item | None]:
    """The next attempt at a subscription's unpaid invoice: whether one was made (or
    declined for want of a payment method), and the charge to send."""
    assert sub.dunning is not None
    invoice = collecting.get(sub.dunning.invoice_id)
    if invoice is None:
        raise NotFound(f"its unpaid invoice {sub.dunning.invoice_id!r} is not stored")
    if invoice.status not in COLLECTIBLE:
        return False, None
    begun_sub = collection.begin_retry(sub)
    if account.payment_method is None:
        uow.subscriptions.update(begun_sub)
        delta.counts["retried"] += 1
        if _decline_unsent(center, uow, invoice, begun_sub, account, now):
            delta.counts["lapsed"] += 1
        return True, None
    begun = collection.begin(invoice)
    attempt = payments.invoice_attempt(
        invoice,
        number=begun.attempts,
        payment_method=account.payment_method,
        off_session=True,
        at=now,
        lease=center.settings.reconcile_after,
        subscription_id=sub.id,
    )
    uow.invoices.update(begun)
    uow.subscriptions.update(begun_sub)
    uow.attempts.add(attempt)
    delta.counts["retried"] += 1
    return True, _Item(attempt, begun, account, sub.id, retry=True)


# -- 2. sending --------------------------------------------------------------------------


def _send(center: Center, items: Sequence[_Item], stop: Callable[[], bool], tally: _Tally) -> _Sent:
    """Send every attempt of the batch; (item, result, sent). A gateway that does not
    answer even after the retries is taken for down: the rest are not sent."""
    results: _Sent = []
    for item in items:
        if tally.stopped is None and stop():
            tally.stopped = "interrupted"
        if tally.stopped is not None:
            results.append((item, None, False))
            continue
        try:
            result = attempts.send_patiently(center, item.attempt, stop)
        except GatewayMisconfigured as exc:
            # Nothing was charged, and nothing will be until the host fixes the
            # setting: no dunning for it; the run stops (and raises once recorded).
            results.append((item, None, False))
            tally.stopped = f"the payment gateway refused its set-up: {exc}"
            tally.misconfigured = exc
            continue
        results.append((item, result, True))
        if result is None:
            tally.stopped = "the payment gateway does not answer"
    return results


# -- 3. recording ------------------------------------------------------------------------


def _close(
    center: Center,
    results: Sequence[tuple[_Item, PaymentResult | None, bool]],
    tally: _Tally,
    skip: set[str],
) -> None:
    if not results:
        return
    for tried in range(_RECORD_TRIES):
        try:
            delta = _Tally()
            with center.store.unit_of_work() as uow:
                _record_all(center, uow, results, delta, skip)
                uow.commit()
            tally.add(delta)
            return
        except ConcurrencyConflict:
            break
        except StorageError as exc:
            if tried == _RECORD_TRIES - 1:
                first_item, _, _ = results[0]
                first = first_item.attempt
                raise PaymentNotRecorded(first.idempotency_key, cause=exc) from exc
            center.sleep(center.settings.gateway_backoff.total_seconds() * 2**tried)
    # A concurrent change to one of them: record each on its own, reading afresh.
    for item, result, sent in results:
        settled = attempts.record(
            center, item.attempt, result, not_charged=None if sent else _UNSENT
        )
        _count(tally, item, settled, result, sent, skip)


def _record_all(
    center: Center,
    uow: UnitOfWork,
    results: Sequence[tuple[_Item, PaymentResult | None, bool]],
    delta: _Tally,
    skip: set[str],
) -> None:
    at = center.now()
    # Only a subscription whose collection changes is read again: not a renewal paid
    # at the first attempt (most of them).
    wanted = [
        item.sub_id
        for item, result, sent in results
        if item.retry or not sent or result is None or not _paid(result)
    ]
    subs = uow.subscriptions.get_many(wanted) if wanted else {}
    for item, result, sent in results:
        subscription: Any = subs.get(item.sub_id) if item.sub_id in subs else None
        settled = attempts.apply(
            center,
            uow,
            item.attempt,
            result,
            at=at,
            not_charged=None if sent else _UNSENT,
            invoice=item.invoice,
            subscription=subscription,
            account=item.account,
        )
        _count(delta, item, settled, result, sent, skip)


def _paid(result: PaymentResult) -> bool:
    return result.status is _CHARGED


def _count(
    tally: _Tally,
    item: _Item,
    settled: attempts.Settled,
    result: PaymentResult | None,
    sent: bool,
    skip: set[str],
) -> None:
    state = settled.attempt.state
    counts = tally.counts
    if state is _SUCCEEDED:
        if item.retry:
            counts["recovered"] += 1 if settled.recovered else 0
        else:
            counts["charged"] += 1
    elif state is AttemptState.DECLINED:
        if not item.retry:
            counts["failed"] += 1
        if settled.lapsed:
            counts["lapsed"] += 1
    else:
        # Unknown (left for reconcile), or not charged (due again): not again in this
        # run.
        if state in (AttemptState.UNKNOWN, AttemptState.PENDING):
            counts["unknown"] += 1
        skip.add(item.sub_id)
