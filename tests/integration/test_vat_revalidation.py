"""VAT numbers checked again (revalidate_vat_numbers): a job of its own."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from conftest import CONTACT, DE_VAT, IT_VAT, CenterFactory, ViesStandin, open_account

from subscriptions.accounts import VatCheck, VatCheckStatus
from subscriptions.adapters.fakes import FakeVatVerifier, InMemoryNotifier, ManualClock
from subscriptions.adapters.vies import ViesVerifier
from subscriptions.center import BillingCenter, Settings, VatUnavailable
from subscriptions.errors import InvalidInput, QuoteChanged
from subscriptions.subscription import EventKind
from subscriptions.vat import TaxTreatment, VatNumber


def german_business(center: BillingCenter, account_id: str = "acct-de") -> str:
    """A German business paying Monitoring monthly, its number confirmed by VIES."""
    account = open_account(center, country="DE", account_id=account_id)
    center.subscribe_now(account.id, CONTACT, "monitoring")
    center.set_vat_number(account.id, CONTACT, DE_VAT)
    quote = center.quote(account.id, CONTACT)
    assert quote.reverse_charge
    center.place_order(account.id, CONTACT, quote.id, idempotency_key=f"first-{account_id}")
    return account.id


def evidence(center: BillingCenter, account_id: str) -> VatCheck:
    check = center.account(account_id).vat_check
    assert check is not None
    return check


def treatment(center: BillingCenter, account_id: str) -> tuple[Decimal, TaxTreatment]:
    center.subscribe_now(account_id, CONTACT, "remote-support")
    quote = center.quote(account_id, CONTACT)
    center.remove_cart_item(account_id, CONTACT, "remote-support")
    assert quote.invoice is not None
    (tax,) = quote.invoice.taxes
    return tax.rate, tax.treatment


def test_old_valid_evidence_is_renewed_and_fresh_evidence_left(
    make_center: CenterFactory, clock: ManualClock
) -> None:
    verifier = FakeVatVerifier([DE_VAT])
    center = make_center(verifier=verifier)
    old = german_business(center, "acct-old")
    clock.advance(days=60)
    fresh = german_business(center, "acct-fresh")
    first = evidence(center, old)
    clock.advance(days=31)
    verifier.checked.clear()
    report = center.revalidate_vat_numbers()
    assert (report.checked, report.valid, report.invalid) == (1, (old,), ())
    assert verifier.checked == [DE_VAT]
    renewed = evidence(center, old)
    assert renewed.status is VatCheckStatus.VALID
    assert renewed.checked_at == clock.now() > first.checked_at
    assert renewed.consultation_number != first.consultation_number
    assert evidence(center, fresh).checked_at < clock.now()
    assert center.events(old)[-1].kind is EventKind.ACCOUNT_UPDATED
    assert center.events(old)[-1].note == "VAT number checked again: still valid"


def test_a_number_found_invalid_stops_reverse_charge_with_event_and_message(
    make_center: CenterFactory, clock: ManualClock, notifier: InMemoryNotifier
) -> None:
    verifier = FakeVatVerifier([DE_VAT])
    center = make_center(verifier=verifier)
    account_id = german_business(center)
    center.subscribe_now(account_id, CONTACT, "remote-support")
    stale_quote = center.quote(account_id, CONTACT)
    assert stale_quote.reverse_charge
    clock.advance(days=91)
    verifier.valid.clear()
    sent_before = len(notifier.sent)
    report = center.revalidate_vat_numbers()
    assert (report.checked, report.valid, report.invalid) == (1, (), (account_id,))
    account = center.account(account_id)
    assert str(account.vat_number) == DE_VAT
    assert account.vat_check is not None
    assert account.vat_check.status is VatCheckStatus.INVALID
    assert account.vat_check.checked_at == clock.now()
    last = center.events(account_id)[-1]
    assert (last.kind, last.note, last.at) == (EventKind.VAT_NUMBER_INVALID, DE_VAT, clock.now())
    (message,) = notifier.sent[sent_before:]
    assert message.kind == "vat_number_invalid"
    assert message.to == (CONTACT,)
    assert DE_VAT in message.subject
    assert "VAT will be charged" in message.text
    # From the next invoice on, a consumer in Germany: the German rate (OSS).
    with pytest.raises(QuoteChanged):
        center.place_order(account_id, CONTACT, stale_quote.id, idempotency_key="stale")
    center.remove_cart_item(account_id, CONTACT, "remote-support")
    assert treatment(center, account_id) == (Decimal("19"), TaxTreatment.STANDARD)
    # An invalid number is not checked again: the customer enters it again.
    clock.advance(days=200)
    verifier.valid.add(DE_VAT)
    assert center.revalidate_vat_numbers().checked == 0


@pytest.mark.parametrize("policy", list(VatUnavailable))
def test_an_unavailable_recheck_keeps_the_valid_evidence(
    make_center: CenterFactory, clock: ManualClock, policy: VatUnavailable
) -> None:
    verifier = FakeVatVerifier([DE_VAT])
    center = make_center(verifier=verifier, settings=Settings(vat_unavailable=policy))
    account_id = german_business(center)
    before = center.account(account_id)
    clock.advance(days=120)
    verifier.unavailable = True
    report = center.revalidate_vat_numbers()
    assert report.checked == 1
    assert report.unavailable == ((account_id, "SERVICE_UNAVAILABLE"),)
    assert (report.valid, report.invalid, report.skipped) == ((), (), ())
    assert center.account(account_id) == before
    assert treatment(center, account_id) == (Decimal("0"), TaxTreatment.REVERSE_CHARGE)


def test_a_check_that_could_not_be_made_is_tried_again_at_once(
    make_center: CenterFactory, clock: ManualClock
) -> None:
    verifier = FakeVatVerifier([DE_VAT], unavailable=True)
    center = make_center(verifier=verifier)
    account = open_account(center, country="DE")
    center.set_vat_number(account.id, CONTACT, DE_VAT)
    assert evidence(center, account.id).error == "SERVICE_UNAVAILABLE"
    assert treatment(center, account.id) == (Decimal("19"), TaxTreatment.STANDARD)
    clock.advance(hours=1)
    assert center.revalidate_vat_numbers().unavailable == ((account.id, "SERVICE_UNAVAILABLE"),)
    verifier.unavailable = False
    report = center.revalidate_vat_numbers()
    assert report.valid == (account.id,)
    assert evidence(center, account.id).status is VatCheckStatus.VALID
    assert treatment(center, account.id) == (Decimal("0"), TaxTreatment.REVERSE_CHARGE)


def test_domestic_and_numberless_accounts_are_never_checked(
    make_center: CenterFactory, clock: ManualClock
) -> None:
    verifier = FakeVatVerifier([])
    center = make_center(verifier=verifier)
    italian = open_account(center, account_id="acct-it")
    center.set_vat_number(italian.id, CONTACT, IT_VAT)
    open_account(center, country="DE", account_id="acct-consumer")
    clock.advance(days=400)
    report = center.revalidate_vat_numbers()
    assert report.checked == 0
    assert verifier.checked == []
    assert evidence(center, italian.id).status is VatCheckStatus.OFFLINE_VALID


def test_pages_through_every_account_up_to_the_limit(
    make_center: CenterFactory, clock: ManualClock
) -> None:
    verifier = FakeVatVerifier([DE_VAT])
    center = make_center(verifier=verifier, settings=Settings(batch_size=2))
    ids = [german_business(center, f"acct-{n}") for n in range(5)]
    clock.advance(days=100)
    limited = center.revalidate_vat_numbers(limit=3)
    assert (limited.checked, limited.valid) == (3, tuple(ids[:3]))
    clock.advance(days=1)
    rest = center.revalidate_vat_numbers()
    assert (rest.checked, rest.valid) == (2, tuple(ids[3:]))
    with pytest.raises(InvalidInput, match="limit"):
        center.revalidate_vat_numbers(limit=0)


class _ChangingVerifier:
    """A registry that answers while the customer changes the account."""

    def __init__(self, change: str) -> None:
        self.center: BillingCenter | None = None
        self.change = change
        self.inner = FakeVatVerifier([DE_VAT])

    def verify(self, number: VatNumber, *, at: datetime) -> VatCheck:
        assert self.center is not None
        if self.change == "number":
            self.change = ""
            self.center.set_vat_number("acct-de", CONTACT, "DE 136 695 976")
        elif self.change == "payment":
            self.change = ""
            self.center.update_payment_method("acct-de", CONTACT, "tok_mastercard")
        return self.inner.verify(number, at=at)


@pytest.mark.parametrize("change", ["number", "payment"])
def test_a_concurrent_change_is_skipped_not_overwritten(
    make_center: CenterFactory, clock: ManualClock, change: str
) -> None:
    setup = make_center(verifier=FakeVatVerifier([DE_VAT]))
    german_business(setup)
    clock.advance(days=100)
    verifier = _ChangingVerifier(change)
    center = make_center(verifier=verifier)  # type: ignore[arg-type]
    verifier.center = center
    before = center.account("acct-de")
    report = center.revalidate_vat_numbers()
    assert report.checked == 1
    assert report.skipped == (("acct-de", "the account changed while its VAT number was checked"),)
    assert report.valid == ()
    after = center.account("acct-de")
    assert after.version == before.version + 1
    if change == "payment":
        assert after.payment_method == "tok_mastercard"
        assert after.vat_check == before.vat_check
    assert center.events("acct-de")[-1].kind is EventKind.ACCOUNT_UPDATED


def test_refused_without_a_verifier(center: BillingCenter) -> None:
    with pytest.raises(InvalidInput, match="vat_verifier=ViesVerifier"):
        center.revalidate_vat_numbers()


def test_the_bill_run_never_checks_vat_numbers(
    make_center: CenterFactory, clock: ManualClock
) -> None:
    verifier = FakeVatVerifier([DE_VAT])
    center = make_center(verifier=verifier)
    account_id = german_business(center)
    verifier.checked.clear()
    verifier.valid.clear()
    clock.advance(days=400)
    report = center.run_renewals()
    assert report.renewed > 0
    assert verifier.checked == []
    assert evidence(center, account_id).status is VatCheckStatus.VALID


@pytest.mark.parametrize("bad", [timedelta(0), timedelta(days=-1), 90])
def test_recheck_age_must_be_a_positive_duration(bad: object) -> None:
    with pytest.raises(InvalidInput, match="vat_recheck_after"):
        Settings(vat_recheck_after=bad)  # type: ignore[arg-type]


def test_with_vies_over_the_standin(
    make_center: CenterFactory, clock: ManualClock, vies_standin: ViesStandin
) -> None:
    center = make_center(verifier=FakeVatVerifier([DE_VAT]))
    valid = german_business(center, "acct-valid")
    gone = open_account(center, country="DE", account_id="acct-gone")
    center.set_vat_number(gone.id, CONTACT, DE_VAT)
    clock.advance(days=100)
    with ViesVerifier(requester="IT00743110157", url=vies_standin.url()) as vies:
        checked = make_center(verifier=vies).revalidate_vat_numbers()
    assert checked.valid == (gone.id, valid)
    assert evidence(center, valid).consultation_number is not None
    with ViesVerifier(url=vies_standin.url("error/MS_UNAVAILABLE/200")) as down:
        clock.advance(days=100)
        report = make_center(verifier=down).revalidate_vat_numbers()
    assert report.unavailable == ((gone.id, "MS_UNAVAILABLE"), (valid, "MS_UNAVAILABLE"))
