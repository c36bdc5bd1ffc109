"""VAT numbers checked again: a job of its own, never part of a bill run.

A VAT number's online evidence ages: a business can be deregistered after it gave its
number. :func:`revalidate_vat_numbers` pages through the accounts and checks again,
with the Billing Center's verifier, every number of another country than the seller's
whose evidence is older than :attr:`Settings.vat_recheck_after
<subscriptions.center.Settings.vat_recheck_after>`, and every number whose last check
could not be made (``UNAVAILABLE``), whatever its age.

* ``VALID``: the new evidence replaces the old (a fresh consultation number);
* ``INVALID``: the account keeps the number with the ``INVALID`` evidence, so it is taxed
  as a consumer from the next invoice on (a quote made before is refused as changed);
  a ``vat_number_invalid`` event is recorded and the billing contacts get a message;
* ``UNAVAILABLE``: nothing is written; the last evidence stays (a ``VALID`` check is
  never replaced by a failed one), and the report lists the number with the error.

The registry is asked outside any transaction (a slow answer holds no lock); each
account is then written in a short transaction of its own, and only if it did not
change meanwhile: an account changed by someone else (a new VAT number, a concurrent
update) is skipped and reported, never overwritten. A number found ``INVALID`` before
is not checked again: the customer enters it again (:func:`~.accounts.set_vat_number`)
once the registration is fixed.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from .._records import revised
from ..accounts import Account, VatCheck, VatCheckStatus
from ..errors import ConcurrencyConflict, InvalidInput
from ..inputs import whole_number
from ..messages import Notice, VatNumberRejection
from ..ports import VatVerifier
from ..subscription import Event, EventKind
from .base import Center, notice

__all__ = ["VatRecheckReport", "due_for_recheck", "revalidate_vat_numbers"]


@attrs.frozen(kw_only=True, weakref_slot=False)
class VatRecheckReport:
    """What a re-validation did, with the account ids of each outcome.

    ``checked``: how many numbers were sent to the registry; ``valid``: confirmed
    again; ``invalid``: found not registered (reverse charge stopped);
    ``unavailable``: (account id, error code) of checks that could not be made (the
    last evidence kept); ``skipped``: (account id, why) of accounts that changed while
    their number was being checked.
    """

    checked: int = 0
    valid: tuple[str, ...] = ()
    invalid: tuple[str, ...] = ()
    unavailable: tuple[tuple[str, str], ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()


def due_for_recheck(center: Center, account: Account, at: datetime) -> bool:
    """Whether ``account``'s VAT number is to be checked again at ``at``."""
    number, check = account.vat_number, account.vat_check
    if number is None or check is None or center.domestic(number):
        return False
    if check.status is VatCheckStatus.INVALID:
        return False
    if check.status is VatCheckStatus.UNAVAILABLE:
        return True
    return check.checked_at <= at - center.settings.vat_recheck_after


def revalidate_vat_numbers(center: Center, *, limit: int | None = None) -> VatRecheckReport:
    """Check again the VAT numbers whose evidence is due (see the module), a page of
    accounts at a time, each account in its own transaction; at most ``limit``
    numbers in this run (``None``: all that are due), for a registry that limits how
    often it is asked. Refused (:class:`~subscriptions.errors.InvalidInput`) when the
    Billing Center has no VAT verifier. The messages to billing contacts go through
    the outbox and are delivered at the end."""
    verifier = center.vat_verifier
    if verifier is None:
        raise InvalidInput(
            "the Billing Center has no VAT verifier, so no VAT number can be checked "
            "again; build it with vat_verifier=ViesVerifier(requester=<your VAT number>) "
            "from subscriptions.adapters.vies (the command line has one on a real book "
            "only: a simulation checks VAT numbers offline)"
        )
    if limit is not None:
        whole_number(limit, what="limit", minimum=1, maximum=10_000_000)
    tally: dict[str, list[str]] = {"valid": [], "invalid": []}
    unavailable: list[tuple[str, str]] = []
    skipped: list[tuple[str, str]] = []
    checked = 0
    after: str | None = None
    while limit is None or checked < limit:
        with center.store.unit_of_work() as uow:
            page = uow.accounts.page(after=after, limit=center.settings.batch_size)
        if not page:
            break
        after = page[-1].id
        for account in page:
            if limit is not None and checked >= limit:
                break
            if not due_for_recheck(center, account, center.now()):
                continue
            check = _verify(verifier, account, center.now())
            checked += 1
            if check.status is VatCheckStatus.UNAVAILABLE:
                unavailable.append((account.id, check.error or "UNAVAILABLE"))
                continue
            why = _record(center, account, check)
            if why is not None:
                skipped.append((account.id, why))
            else:
                tally[check.status.value].append(account.id)
    center.deliver_after_commit()
    return VatRecheckReport(
        checked=checked,
        valid=tuple(tally["valid"]),
        invalid=tuple(tally["invalid"]),
        unavailable=tuple(unavailable),
        skipped=tuple(skipped),
    )


def _verify(verifier: VatVerifier, account: Account, at: datetime) -> VatCheck:
    assert account.vat_number is not None
    check = verifier.verify(account.vat_number, at=at)
    if check.status is VatCheckStatus.OFFLINE_VALID:
        # A verifier that answers without asking anyone has confirmed nothing.
        return VatCheck(
            number=str(account.vat_number),
            status=VatCheckStatus.UNAVAILABLE,
            checked_at=at,
            error="NOT_CHECKED_ONLINE",
        )
    return check


def _record(center: Center, seen: Account, check: VatCheck) -> str | None:
    """Keep ``check`` on the account as it was ``seen``, in a transaction of its own;
    why it was skipped, or None."""
    try:
        with center.store.unit_of_work() as uow:
            account = uow.accounts.get(seen.id)
            if account is None:
                return "the account no longer exists"
            if account.version != seen.version or account.vat_number != seen.vat_number:
                return "the account changed while its VAT number was checked"
            updated = revised(account, vat_check=check)
            uow.accounts.update(updated)
            if check.status is VatCheckStatus.INVALID:
                event = Event(kind=EventKind.VAT_NUMBER_INVALID, at=center.now(), note=check.number)
                center.post(uow, _invalid_message(updated, check))
            else:
                event = Event(
                    kind=EventKind.ACCOUNT_UPDATED,
                    at=center.now(),
                    note="VAT number checked again: still valid",
                )
            center.record(uow, account.id, [event])
            uow.commit()
    except ConcurrencyConflict:
        return "the account changed while its VAT number was checked"
    return None


def _invalid_message(account: Account, check: VatCheck) -> Notice:
    return notice(
        account,
        VatNumberRejection(
            account_name=account.name,
            locale=account.locale,
            timezone=account.timezone,
            vat_number=check.number,
            checked_at=check.checked_at,
        ),
    )
