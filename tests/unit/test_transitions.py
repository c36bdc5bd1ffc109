"""Subscription transitions called directly: apply, advance, next_due, classify_change.

Expected amounts are worked out by hand in the comments, from DESIGN.md and
SCENARIOS.md, never copied from the library's output.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal
from zoneinfo import ZoneInfo

import attrs
import pytest

from subscriptions.catalog import Catalog, Plan, Price, Product
from subscriptions.changes import classify_change
from subscriptions.errors import (
    ActionRefused,
    AlreadySubscribed,
    InvalidInput,
    InvalidSeatCount,
    InvalidTransition,
    NaiveDatetime,
    NoSubscription,
    NotFound,
    SubscriptionsError,
    TrialAlreadyUsed,
)
from subscriptions.periods import Frequency
from subscriptions.pricing import Customer, LineKind, TaxSetup
from subscriptions.proration import CreditBasis, Granularity, ProrationPolicy
from subscriptions.subscription import (
    BillingContext,
    BillingPolicy,
    Cancel,
    CancelTiming,
    Change,
    ChangeKind,
    ChangePolicy,
    ChangeTiming,
    EventKind,
    Outcome,
    Reactivate,
    StartTrial,
    Status,
    Subscribe,
    Subscription,
    Terms,
    TrialEnd,
)
from subscriptions.transitions import advance, apply, next_due

ROME = ZoneInfo("Europe/Rome")
HELSINKI = ZoneInfo("Europe/Helsinki")


def _plan(plan_id: str, rank: int, **prices: str) -> Plan:
    return Plan(
        id=plan_id,
        name=plan_id.title(),
        rank=rank,
        prices=[Price(currency="EUR", frequency=f, amount=a) for f, a in prices.items()],
    )


CATALOG = Catalog(
    products=[
        Product(
            id="app",
            name="App",
            trial_days=14,
            plans=[
                _plan("basic", 1, monthly="10.00", quarterly="27.00", annual="100.00"),
                _plan("lite", 0, monthly="9.00"),
                _plan("pro", 2, monthly="20.00", annual="200.00"),
            ],
        ),
        Product(id="notrial", name="No trial", plans=[_plan("basic", 1, monthly="5.00")]),
    ]
)


def context(
    *,
    timing: ChangeTiming = ChangeTiming.REALIGN,
    policy: BillingPolicy | None = None,
    tax: TaxSetup | None = None,
    tz: ZoneInfo = ROME,
) -> BillingContext:
    return BillingContext(
        catalog=CATALOG,
        currency="EUR",
        tz=tz,
        policy=policy or BillingPolicy(plan_change=ChangePolicy.uniform(timing)),
        tax=tax,
    )


def rome(*args: int) -> datetime:
    return datetime(*args, tzinfo=ROME)  # type: ignore[misc]


def terms(plan: str = "basic", seats: int = 1, frequency: str = "monthly") -> Terms:
    return Terms(product="app", plan=plan, seats=seats, frequency=frequency)


def subscribed(ctx: BillingContext, at: datetime | None = None, **kwargs: object) -> Subscription:
    outcome = apply(None, Subscribe(terms=terms(**kwargs)), at=at or rome(2026, 4, 1), context=ctx)  # type: ignore[arg-type]
    return outcome.subscription


def same_instant(a: datetime | None, b: datetime) -> bool:
    return a is not None and a.astimezone(UTC) == b.astimezone(UTC)


def amounts(outcome: Outcome) -> list[str]:
    assert outcome.invoice is not None
    return [str(line.amount) for line in outcome.invoice.lines]


# -- preview == commit ---------------------------------------------------------------


@pytest.mark.parametrize(
    "action",
    [
        Change(plan="pro"),
        Change(seats=3),
        Change(frequency=Frequency.ANNUAL),
        Change(plan="pro", timing=ChangeTiming.KEEP_ANCHOR),
        Change(seats=1, timing=ChangeTiming.END_OF_TERM),
        Cancel(timing=CancelTiming.IMMEDIATE),
        Cancel(),
    ],
)
def test_applying_twice_with_the_same_inputs_gives_equal_outcomes(action: object) -> None:
    ctx = context(tax=TaxSetup(seller_country="IT", customer=Customer(country="FR")))
    sub = subscribed(ctx, seats=2)
    at = rome(2026, 4, 17, 9, 30)
    first = apply(sub, action, at=at, context=ctx)  # type: ignore[arg-type]
    second = apply(sub, action, at=at, context=ctx)  # type: ignore[arg-type]
    assert first == second
    assert first.invoice == second.invoice
    assert first.events == second.events


def test_a_quote_is_the_committed_outcome() -> None:
    from subscriptions.preview import quote

    ctx = context(timing=ChangeTiming.KEEP_ANCHOR)
    sub = subscribed(ctx)
    at = rome(2026, 4, 16)
    preview = quote(sub, Change(plan="pro"), at=at, context=ctx)
    committed = apply(sub, Change(plan="pro"), at=at, context=ctx)
    assert preview.outcome == committed
    # April has 30 days, 15 of them unused: -5.00 + 10.00 (Stripe's halfway example)
    assert str(preview.total.amount) == "5.00"
    assert preview.total.currency.code == "EUR"


# -- refused actions leave the state as it was ----------------------------------------


def _refusals(ctx: BillingContext) -> list[tuple[Subscription | None, object, type[Exception]]]:
    active = subscribed(ctx)
    trialing = apply(None, StartTrial(terms=terms()), at=rome(2026, 4, 1), context=ctx).subscription
    pending = apply(active, Cancel(), at=rome(2026, 4, 5), context=ctx).subscription
    canceled = apply(
        active, Cancel(timing=CancelTiming.IMMEDIATE), at=rome(2026, 4, 5), context=ctx
    ).subscription
    return [
        (None, Change(plan="pro"), NoSubscription),
        (None, Cancel(), NoSubscription),
        (None, Reactivate(), NoSubscription),
        (canceled, Change(plan="pro"), NoSubscription),
        (canceled, Reactivate(), NoSubscription),
        (trialing, Cancel(), InvalidTransition),
        (trialing, Cancel(timing=CancelTiming.IMMEDIATE), InvalidTransition),
        (trialing, StartTrial(terms=terms()), TrialAlreadyUsed),
        (active, Subscribe(terms=terms("pro")), AlreadySubscribed),
        (pending, Subscribe(terms=terms("pro")), AlreadySubscribed),
        (active, Reactivate(), InvalidTransition),
        (active, Change(plan="gold"), NotFound),
        (active, Change(frequency=Frequency.BIENNIAL), NotFound),
        (active, Change(seats=0), InvalidSeatCount),
        (active, Change(), InvalidTransition),
        (active, Change(seats=True), InvalidSeatCount),  # type: ignore[arg-type]
        (active, Change(frequency="weekly"), InvalidInput),  # type: ignore[arg-type]
        (active, Change(plan="pro", timing="later"), InvalidInput),  # type: ignore[arg-type]
        (active, Change(plan=["pro"]), NotFound),  # type: ignore[arg-type]
    ]


def test_cancelling_again_at_term_end_changes_nothing() -> None:
    # A later schedule replaces an earlier one: the same schedule again is a no-op.
    ctx = context()
    active = subscribed(ctx)
    pending = apply(active, Cancel(), at=rome(2026, 4, 5), context=ctx).subscription
    again = apply(pending, Cancel(), at=rome(2026, 4, 10), context=ctx)
    assert again.subscription == pending
    assert again.invoice is None
    assert again.events == ()


@pytest.mark.parametrize("case", range(19))
def test_a_refused_action_changes_nothing(case: int) -> None:
    ctx = context()
    sub, action, error = _refusals(ctx)[case]
    before = None if sub is None else attrs.evolve(sub)
    with pytest.raises(error):
        apply(sub, action, at=rome(2026, 4, 10), context=ctx)  # type: ignore[arg-type]
    assert sub == before
    assert issubclass(error, SubscriptionsError)


def test_a_refused_quote_raises_what_apply_raises() -> None:
    from subscriptions.preview import quote

    ctx = context()
    for sub, action, error in _refusals(ctx):
        with pytest.raises(error):
            quote(sub, action, at=rome(2026, 4, 10), context=ctx)  # type: ignore[arg-type]


def test_change_timing_and_frequency_may_be_given_by_name() -> None:
    ctx = context()
    sub = subscribed(ctx)
    at = rome(2026, 4, 16)
    by_name = apply(sub, Change(plan="pro", timing="keep_anchor"), at=at, context=ctx)  # type: ignore[arg-type]
    by_member = apply(sub, Change(plan="pro", timing=ChangeTiming.KEEP_ANCHOR), at=at, context=ctx)
    assert by_name == by_member
    assert amounts(by_name) == ["-5.00", "10.00"]
    named = apply(sub, Change(frequency="annual"), at=at, context=ctx)  # type: ignore[arg-type]
    assert named == apply(sub, Change(frequency=Frequency.ANNUAL), at=at, context=ctx)


def test_an_unknown_change_timing_names_the_known_ones() -> None:
    ctx = context()
    with pytest.raises(InvalidInput, match="'realign', 'keep_anchor', 'end_of_term'"):
        apply(subscribed(ctx), Change(plan="pro", timing="soon"), at=rome(2026, 4, 16), context=ctx)  # type: ignore[arg-type]


def test_the_state_still_works_after_a_refusal() -> None:
    ctx = context(timing=ChangeTiming.KEEP_ANCHOR)
    sub = subscribed(ctx)
    with pytest.raises(ActionRefused):
        apply(sub, Change(seats=-2), at=rome(2026, 4, 16), context=ctx)
    outcome = apply(sub, Change(plan="pro"), at=rome(2026, 4, 16), context=ctx)
    assert amounts(outcome) == ["-5.00", "10.00"]
    assert outcome.subscription.version == sub.version + 1


def test_start_trial_of_a_product_without_trial_is_refused() -> None:
    ctx = context()
    with pytest.raises(ActionRefused):
        apply(
            None,
            StartTrial(terms=Terms(product="notrial", plan="basic", seats=1, frequency="monthly")),
            at=rome(2026, 4, 1),
            context=ctx,
        )


def test_a_second_trial_after_expiry_is_refused() -> None:
    ctx = context()
    trial = apply(None, StartTrial(terms=terms()), at=rome(2026, 4, 1), context=ctx)
    expired = advance(trial.subscription, context=ctx).subscription
    assert expired.status is Status.EXPIRED
    with pytest.raises(TrialAlreadyUsed):
        apply(expired, StartTrial(terms=terms()), at=rome(2026, 5, 1), context=ctx)


# -- classification --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "kind"),
    [
        # plan rank decides first, whatever the seats or frequency
        (terms("basic"), terms("pro"), ChangeKind.UPGRADE),
        (terms("pro"), terms("basic"), ChangeKind.DOWNGRADE),
        (terms("basic", 10), terms("pro", 1), ChangeKind.UPGRADE),
        (terms("pro", 1, "annual"), terms("basic", 10, "annual"), ChangeKind.DOWNGRADE),
        # same rank: more seats up, fewer seats down
        (terms("basic", 2), terms("basic", 3), ChangeKind.UPGRADE),
        (terms("basic", 3), terms("basic", 2), ChangeKind.DOWNGRADE),
        # a lower level is a downgrade even with more seats (two plans never share a rank)
        (terms("basic", 2), terms("lite", 3), ChangeKind.DOWNGRADE),
        # a longer frequency is an upgrade even when cheaper per day (100/12 < 10)
        (terms("basic", 1, "monthly"), terms("basic", 1, "annual"), ChangeKind.UPGRADE),
        (terms("basic", 1, "monthly"), terms("basic", 1, "quarterly"), ChangeKind.UPGRADE),
        (terms("basic", 1, "annual"), terms("basic", 1, "monthly"), ChangeKind.DOWNGRADE),
        (terms("basic", 1, "annual"), terms("basic", 1, "quarterly"), ChangeKind.DOWNGRADE),
        # more seats and longer: upgrade; fewer and shorter: downgrade
        (terms("basic", 1, "monthly"), terms("basic", 2, "annual"), ChangeKind.UPGRADE),
        (terms("basic", 2, "annual"), terms("basic", 1, "monthly"), ChangeKind.DOWNGRADE),
        # a mix is decided by value per day:
        # 1 x 100.00 a year (8.33 a month) -> 2 x 10.00 a month (20.00): up
        (terms("basic", 1, "annual"), terms("basic", 2, "monthly"), ChangeKind.UPGRADE),
        # 5 x 100.00 a year (41.67 a month) -> 2 x 10.00 a month (20.00): down
        (terms("basic", 5, "annual"), terms("basic", 2, "monthly"), ChangeKind.DOWNGRADE),
        # 3 x 10.00 a month (30.00) -> 2 x 100.00 a year (16.67 a month): down
        (terms("basic", 3, "monthly"), terms("basic", 2, "annual"), ChangeKind.DOWNGRADE),
        # 2 x 10.00 a month (20.00) -> 3 x 100.00 a year (25.00 a month): up
        (terms("basic", 2, "monthly"), terms("basic", 3, "annual"), ChangeKind.UPGRADE),
    ],
)
def test_classify_change(old: Terms, new: Terms, kind: ChangeKind) -> None:
    assert classify_change(old, new, catalog=CATALOG, currency="EUR") is kind


def test_upgrades_now_and_downgrades_at_the_end_of_the_term() -> None:
    policy = BillingPolicy(
        plan_change=ChangePolicy(upgrade=ChangeTiming.REALIGN, downgrade=ChangeTiming.END_OF_TERM)
    )
    ctx = context(policy=policy)
    sub = subscribed(ctx, seats=3)
    down = apply(sub, Change(seats=2), at=rome(2026, 4, 10), context=ctx)
    assert down.invoice is None
    assert down.subscription.terms.seats == 3
    assert down.subscription.scheduled == terms(seats=2)
    assert [e.kind for e in down.events] == [EventKind.CHANGE_SCHEDULED]
    up = apply(sub, Change(seats=4), at=rome(2026, 4, 10), context=ctx)
    assert up.invoice is not None
    assert up.subscription.terms.seats == 4
    assert same_instant(up.subscription.anchor, rome(2026, 4, 10))
    # an explicit timing overrides the policy
    forced = apply(
        sub, Change(seats=2, timing=ChangeTiming.KEEP_ANCHOR), at=rome(2026, 4, 10), context=ctx
    )
    assert forced.invoice is not None
    assert forced.subscription.terms.seats == 2


# -- versions and events ---------------------------------------------------------------


def test_every_transition_increments_the_version_and_emits_its_event() -> None:
    ctx = context(timing=ChangeTiming.KEEP_ANCHOR)
    steps: list[tuple[Outcome, list[EventKind]]] = []

    def step(outcome: Outcome, kinds: list[EventKind]) -> Subscription:
        steps.append((outcome, kinds))
        return outcome.subscription

    sub = step(
        apply(None, StartTrial(terms=terms()), at=rome(2026, 4, 1), context=ctx),
        [EventKind.TRIAL_STARTED],
    )
    assert sub.version == 0
    versions = [sub.version]
    for action, at, kinds in [
        (
            Subscribe(terms=terms(seats=2)),
            rome(2026, 4, 5),
            [EventKind.TRIAL_CONVERTED, EventKind.SUBSCRIPTION_STARTED],
        ),
        (Change(plan="pro"), rome(2026, 4, 10), [EventKind.SUBSCRIPTION_CHANGED]),
        (
            Change(seats=3, timing=ChangeTiming.END_OF_TERM),
            rome(2026, 4, 11),
            [EventKind.CHANGE_SCHEDULED],
        ),
        (Cancel(), rome(2026, 4, 12), [EventKind.CANCELLATION_SCHEDULED]),
        (Reactivate(), rome(2026, 4, 13), [EventKind.SUBSCRIPTION_REACTIVATED]),
    ]:
        sub = step(apply(sub, action, at=at, context=ctx), kinds)
        versions.append(sub.version)
    sub = step(advance(sub, context=ctx), [EventKind.SUBSCRIPTION_RENEWED])
    versions.append(sub.version)
    sub = step(
        apply(sub, Cancel(timing=CancelTiming.IMMEDIATE), at=rome(2026, 5, 20), context=ctx),
        [EventKind.SUBSCRIPTION_CANCELED],
    )
    versions.append(sub.version)
    assert versions == list(range(len(versions)))
    for outcome, kinds in steps:
        assert [e.kind for e in outcome.events] == kinds
        for event in outcome.events:
            assert event.product == "app"
            assert event.subscription_id == outcome.subscription.id
    # events carry the instant of the action, or of the automatic step
    renewal = steps[6][0]
    assert same_instant(renewal.events[0].at, rome(2026, 5, 5))
    # the cancellation replaced the scheduled change, and reactivating does not bring
    # the change back: the renewal bills the current terms
    assert renewal.subscription.terms == terms("pro", 2)
    assert renewal.subscription.scheduled is None


def test_trial_end_events_and_versions() -> None:
    ctx = context()
    trial = apply(None, StartTrial(terms=terms()), at=rome(2026, 3, 20, 9, 30), context=ctx)
    expired = advance(trial.subscription, context=ctx)
    assert [e.kind for e in expired.events] == [EventKind.TRIAL_EXPIRED]
    assert expired.subscription.version == 1
    assert expired.invoice is None
    # 14 local days later at the same wall time, across the spring-forward night
    assert same_instant(expired.events[0].at, datetime(2026, 4, 3, 9, 30, tzinfo=ROME))

    converting = context(policy=BillingPolicy(trial_end=TrialEnd.CONVERT))
    converted = advance(trial.subscription, context=converting)
    assert [e.kind for e in converted.events] == [EventKind.TRIAL_CONVERTED]
    assert converted.subscription.status is Status.ACTIVE
    assert converted.invoice is not None
    assert converted.invoice.reason.value == "conversion"
    assert same_instant(converted.subscription.anchor, datetime(2026, 4, 3, 9, 30, tzinfo=ROME))


def test_end_of_term_cancellation_reaches_its_end() -> None:
    ctx = context()
    sub = subscribed(ctx)
    pending = apply(sub, Cancel(), at=rome(2026, 4, 20), context=ctx)
    assert pending.invoice is None
    assert pending.subscription.status is Status.PENDING_CANCELLATION
    assert next_due(pending.subscription) == pending.subscription.period.end  # type: ignore[union-attr]
    done = advance(pending.subscription, context=ctx)
    assert done.invoice is None
    assert done.subscription.status is Status.CANCELED
    assert [e.kind for e in done.events] == [EventKind.SUBSCRIPTION_CANCELED]
    assert next_due(done.subscription) is None
    with pytest.raises(InvalidTransition):
        advance(done.subscription, context=ctx)


# -- next_due and advance --------------------------------------------------------------


def test_next_due() -> None:
    ctx = context()
    trial = apply(None, StartTrial(terms=terms()), at=rome(2026, 1, 5), context=ctx).subscription
    assert same_instant(next_due(trial), rome(2026, 1, 19))
    sub = subscribed(ctx, at=rome(2026, 1, 31))
    assert same_instant(next_due(sub), rome(2026, 2, 28))
    renewed = advance(sub, context=ctx).subscription
    assert same_instant(next_due(renewed), rome(2026, 3, 31))
    expired = advance(trial, context=ctx).subscription
    assert next_due(expired) is None


def test_renewals_are_computed_from_the_anchor() -> None:
    ctx = context()
    sub = subscribed(ctx, at=rome(2026, 1, 31))
    starts = []
    for _ in range(4):
        outcome = advance(sub, context=ctx)
        sub = outcome.subscription
        assert outcome.invoice is not None
        starts.append(sub.period.start.astimezone(ROME).date())  # type: ignore[union-attr]
    assert starts == [date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30), date(2026, 5, 31)]
    assert same_instant(sub.anchor, rome(2026, 1, 31))


def test_an_action_at_or_after_a_due_step_must_wait_for_advance() -> None:
    ctx = context()
    sub = subscribed(ctx)
    with pytest.raises(InvalidInput):
        apply(sub, Change(plan="pro"), at=rome(2026, 5, 1), context=ctx)
    renewed = advance(sub, context=ctx).subscription
    assert apply(renewed, Change(plan="pro"), at=rome(2026, 5, 1), context=ctx).invoice


# -- amounts worked out by hand ---------------------------------------------------------


def test_keep_anchor_downgrade_credits_more_than_it_charges() -> None:
    # Chargebee's example: 60.00 a month, 1 Apr - 1 May, downgraded to 30.00 on 21 Apr:
    # 10 of 30 days unused, credit -20.00, charge 10.00.
    catalog = Catalog(
        products=[
            Product(
                id="app",
                name="App",
                plans=[_plan("silver", 1, monthly="30.00"), _plan("gold", 2, monthly="60.00")],
            )
        ]
    )
    ctx = BillingContext(
        catalog=catalog,
        currency="EUR",
        tz=ZoneInfo("UTC"),
        policy=BillingPolicy(plan_change=ChangePolicy.uniform(ChangeTiming.KEEP_ANCHOR)),
    )
    utc = ZoneInfo("UTC")
    sub = apply(
        None,
        Subscribe(terms=Terms(product="app", plan="gold", seats=1, frequency="monthly")),
        at=datetime(2012, 4, 1, tzinfo=utc),
        context=ctx,
    ).subscription
    outcome = apply(sub, Change(plan="silver"), at=datetime(2012, 4, 21, tzinfo=utc), context=ctx)
    assert amounts(outcome) == ["-20.00", "10.00"]
    assert outcome.invoice is not None
    assert outcome.invoice.total == Decimal("-10.00")
    assert outcome.invoice.document == "credit_note"
    assert same_instant(outcome.subscription.period.end, datetime(2012, 5, 1, tzinfo=utc))  # type: ignore[union-attr]


def test_credit_basis_billed_and_price_differ_after_two_changes() -> None:
    # April (30 days): basic 10.00 -> pro 20.00 on Apr 11 charges 20 x 20/30 = 13.33;
    # a second change on Apr 21 credits 10 of that line's 20 days:
    # billed 13.33 x 10/20 = 6.665 -> 6.67 (half up), price 20.00 x 10/30 = 6.67.
    # On Apr 3 instead (28 of 30 days left after 29): billed 19.33 x 28/29 = 18.66,
    # price 20 x 28/30 = 18.67.
    results = {}
    for basis in CreditBasis:
        ctx = context(
            policy=BillingPolicy(
                proration=ProrationPolicy(credit=basis),
                plan_change=ChangePolicy.uniform(ChangeTiming.KEEP_ANCHOR),
            )
        )
        sub = subscribed(ctx)
        sub = apply(sub, Change(plan="pro"), at=rome(2026, 4, 2), context=ctx).subscription
        second = apply(sub, Change(seats=2), at=rome(2026, 4, 3), context=ctx)
        results[basis] = amounts(second)
    # charge: 2 x 20.00 x 28/30 = 37.33
    assert results[CreditBasis.BILLED] == ["-18.66", "37.33"]
    assert results[CreditBasis.PRICE] == ["-18.67", "37.33"]


def test_second_granularity_counts_elapsed_seconds_across_dst() -> None:
    # Mar 20 - Apr 20 in Rome lasts 31 days less one hour; Apr 5 - Apr 20 is 15 days.
    ctx = context(
        policy=BillingPolicy(
            proration=ProrationPolicy(granularity=Granularity.SECOND),
            plan_change=ChangePolicy.uniform(ChangeTiming.KEEP_ANCHOR),
        )
    )
    sub = subscribed(ctx, at=rome(2026, 3, 20))
    outcome = apply(sub, Change(seats=10), at=rome(2026, 4, 5), context=ctx)
    # 10.00 x 1296000/2674800 = 4.8452 -> 4.85; 100.00 x the same = 48.45
    assert amounts(outcome) == ["-4.85", "48.45"]


def test_a_credit_keeps_the_rate_of_the_charge_it_reverses() -> None:
    # Finland: 24% until 2024-08-31, 25.5% from 2024-09-01.
    tax = TaxSetup(seller_country="IT", customer=Customer(country="FI"))
    ctx = context(tax=tax, tz=HELSINKI)
    at = datetime(2024, 8, 20, tzinfo=HELSINKI)
    sub = apply(None, Subscribe(terms=terms(seats=2)), at=at, context=ctx).subscription
    outcome = apply(sub, Change(plan="pro"), at=datetime(2024, 9, 5, tzinfo=HELSINKI), context=ctx)
    assert outcome.invoice is not None
    credit, charge = outcome.invoice.lines
    assert credit.kind is LineKind.CREDIT
    assert credit.tax is not None
    assert charge.tax is not None
    assert credit.tax == sub.open_charges[0].tax
    assert (credit.tax.rate, charge.tax.rate) == (Decimal("24"), Decimal("25.5"))
    # credit 20.00 x 15/31 = 9.68 at 24% (-2.32); charge 40.00 at 25.5% (10.20)
    assert [str(t.amount) for t in outcome.invoice.taxes] == ["-2.32", "10.20"]


def test_immediate_cancellation_ends_the_period_at_the_instant() -> None:
    ctx = context()
    sub = subscribed(ctx, seats=3)
    at = rome(2026, 4, 21)
    outcome = apply(sub, Cancel(timing=CancelTiming.IMMEDIATE), at=at, context=ctx)
    # 10 of 30 days unused: 30.00 x 10/30
    assert amounts(outcome) == ["-10.00"]
    assert outcome.invoice is not None
    assert outcome.invoice.reason.value == "cancel"
    canceled = outcome.subscription
    assert canceled.status is Status.CANCELED
    assert same_instant(canceled.anchor, rome(2026, 4, 1))
    assert canceled.period is not None
    assert same_instant(canceled.period.end, at)
    assert next_due(canceled) is None


def test_subscribing_during_a_trial_ends_it_at_that_moment() -> None:
    ctx = context()
    trial = apply(None, StartTrial(terms=terms()), at=rome(2026, 1, 5), context=ctx).subscription
    outcome = apply(trial, Subscribe(terms=terms("pro", 2)), at=rome(2026, 1, 12), context=ctx)
    sub = outcome.subscription
    assert sub.status is Status.ACTIVE
    assert sub.trial is not None
    assert same_instant(sub.trial.end, rome(2026, 1, 12))
    assert amounts(outcome) == ["40.00"]
    assert same_instant(next_due(sub), rome(2026, 2, 12))


# -- naive datetimes --------------------------------------------------------------------


@pytest.mark.parametrize(
    "action",
    [StartTrial(terms=terms()), Subscribe(terms=terms()), Change(plan="pro"), Cancel()],
)
def test_naive_datetimes_are_refused(action: object) -> None:
    ctx = context()
    sub = None if isinstance(action, StartTrial | Subscribe) else subscribed(ctx)
    with pytest.raises(NaiveDatetime):
        apply(sub, action, at=datetime(2026, 4, 10), context=ctx)  # type: ignore[arg-type]


class _NoOffset(tzinfo):
    """A tzinfo that knows no offset: datetimes carrying it are naive."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None


@pytest.mark.parametrize("at", [datetime(2026, 4, 10), datetime(2026, 4, 10, tzinfo=_NoOffset())])
def test_a_quote_refuses_naive_instants(at: datetime) -> None:
    from subscriptions.preview import quote

    ctx = context()
    with pytest.raises(NaiveDatetime):
        quote(subscribed(ctx), Change(plan="pro"), at=at, context=ctx)
    with pytest.raises(InvalidInput):
        quote(subscribed(ctx), Change(plan="pro"), at=date(2026, 4, 10), context=ctx)  # type: ignore[arg-type]


def test_a_non_datetime_instant_is_refused() -> None:
    ctx = context()
    with pytest.raises(InvalidInput):
        apply(None, Subscribe(terms=terms()), at=date(2026, 4, 10), context=ctx)  # type: ignore[arg-type]


def test_the_local_days_of_period_bounds_are_an_explicit_bounded_cache() -> None:
    from datetime import timedelta

    from subscriptions.periods import LocalDays

    ctx = context()
    days = ctx.days
    # 22:30 UTC on 1 April is 00:30 on 2 April in Rome (summer time, UTC+2).
    assert days.ordinal(datetime(2026, 4, 1, 22, 30, tzinfo=UTC)) == date(2026, 4, 2).toordinal()
    start = datetime(2020, 1, 1, tzinfo=UTC)
    for hour in range(10_000):
        days.ordinal(start + timedelta(hours=hour))
    assert len(days._days) <= days.limit == 4096
    assert days.ordinal(start + timedelta(hours=23)) == date(2020, 1, 2).toordinal()
    # A caller may share one cache between contexts of a zone, and only of that zone.
    shared = LocalDays(ctx.tz)
    assert attrs.evolve(ctx, days=shared).days is shared
    assert attrs.evolve(ctx, days=shared) == ctx  # a cache is no part of the value
    with pytest.raises(InvalidInput, match="local-days cache"):
        attrs.evolve(ctx, days=LocalDays(UTC))


@pytest.mark.parametrize("seats", [0, -1, 1_000_001, 10**64, True, "5"])
def test_a_change_to_a_seat_count_out_of_range_is_refused_by_quote_and_apply(
    seats: object,
) -> None:
    from subscriptions.errors import InvalidSeatCount
    from subscriptions.preview import quote

    ctx = context(timing=ChangeTiming.KEEP_ANCHOR)
    sub = subscribed(ctx, seats=3)
    for price in (quote, apply):
        with pytest.raises(InvalidSeatCount):
            price(sub, Change(seats=seats), at=rome(2026, 4, 10), context=ctx)  # type: ignore[operator,arg-type]


def test_the_largest_seat_count_is_accepted() -> None:
    from subscriptions.preview import quote
    from subscriptions.seats import MAX_SEATS

    ctx = context(timing=ChangeTiming.KEEP_ANCHOR)
    sub = subscribed(ctx, seats=3)
    at = rome(2026, 4, 10)
    assert quote(sub, Change(seats=MAX_SEATS), at=at, context=ctx).total.amount > 0
    assert (
        apply(sub, Change(seats=MAX_SEATS), at=at, context=ctx).subscription.terms.seats
        == MAX_SEATS
    )
