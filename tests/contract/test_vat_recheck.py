"""VAT numbers checked again over every store: the evidence, events and messages that
revalidate_vat_numbers writes read back, and a change made meanwhile through another
store on the same database is skipped, never overwritten."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import attrs

from subscriptions.accounts import VatCheck, VatCheckStatus
from subscriptions.adapters.fakes import FakeGateway, FakeVatVerifier, InMemoryNotifier, ManualClock
from subscriptions.center import BillingCenter
from subscriptions.orders import Seller
from subscriptions.subscription import EventKind
from subscriptions.vat import VatNumber

from . import records as r
from .conftest import StoreFactory

#: Four months after the German account's evidence (2026-10-30): due again.
LATER = r.START + timedelta(days=120)


def center_over(store: Any, verifier: Any, notifier: InMemoryNotifier) -> BillingCenter:
    return BillingCenter(
        catalog=r.catalog(),
        seller=Seller(name=r.SELLER.name, address=r.SELLER.address, vat_number="IT00743110157"),
        store=store,
        gateway=FakeGateway(),
        clock=ManualClock(LATER),
        notifier=notifier,
        vat_verifier=verifier,
    )


def add_accounts(store: Any, *accounts: Any) -> None:
    with store.unit_of_work() as uow:
        for account in accounts:
            uow.accounts.add(account)
        uow.commit()


def test_recheck_results_are_stored(open_store: StoreFactory) -> None:
    store = open_store()
    add_accounts(
        store,
        r.german_account("acc-de-gone"),
        r.german_account("acc-de-ok"),
        r.austrian_account_unchecked(),
        r.italian_account(),
    )
    verifier = FakeVatVerifier(["ATU57194903"])
    notifier = InMemoryNotifier()
    report = center_over(store, verifier, notifier).revalidate_vat_numbers()
    # The German number is unknown to this registry: both German accounts lose it.
    assert report.valid == ("acc-at",)
    assert report.invalid == ("acc-de-gone", "acc-de-ok")
    fresh = open_store()
    with fresh.unit_of_work() as uow:
        at = uow.accounts.get("acc-at")
        gone = uow.accounts.get("acc-de-gone")
        events = uow.events.for_account("acc-de-gone")
    assert at.vat_check.status is VatCheckStatus.VALID
    assert at.vat_check.error is None
    assert at.vat_check.consultation_number is not None
    assert at.version == 2
    assert gone.vat_check == VatCheck(
        number="DE136695976", status=VatCheckStatus.INVALID, checked_at=LATER
    )
    assert str(gone.vat_number) == "DE136695976"
    assert (events[-1].kind, events[-1].note) == (EventKind.VAT_NUMBER_INVALID, "DE136695976")
    assert sorted(m.kind for m in notifier.sent) == ["vat_number_invalid"] * 2
    assert {m.to for m in notifier.sent} == {("jonas",)}


class _MeanwhileVerifier:
    """Answers VALID, after another process changed the account on the same database."""

    def __init__(self, other: Any) -> None:
        self.other = other

    def verify(self, number: VatNumber, *, at: datetime) -> VatCheck:
        with self.other.unit_of_work() as uow:
            account = uow.accounts.get("acc-de")
            uow.accounts.update(
                attrs.evolve(account, payment_method="tok_new", version=account.version + 1)
            )
            uow.commit()
        return VatCheck(number=str(number), status=VatCheckStatus.VALID, checked_at=at)


def test_a_change_through_another_store_is_skipped(open_store: StoreFactory) -> None:
    store, other = open_store(), open_store()
    original = r.german_account()
    add_accounts(store, original)
    report = center_over(
        store, _MeanwhileVerifier(other), InMemoryNotifier()
    ).revalidate_vat_numbers()
    assert report.skipped == (("acc-de", "the account changed while its VAT number was checked"),)
    with open_store().unit_of_work() as uow:
        stored = uow.accounts.get("acc-de")
    assert stored.payment_method == "tok_new"
    assert stored.vat_check == original.vat_check
    assert stored.version == original.version + 1
