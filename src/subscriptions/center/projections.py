"""What a bill run would do, from the book as it stands: a projection that reads the
book through one snapshot of the store (:meth:`subscriptions.ports.Store.snapshot`), a
page of subscriptions at a time, and writes nothing (``subscriptions renew --dry-run``,
``subscriptions forecast``).

Each subscription is projected by the pure core (:func:`subscriptions.projection.project`)
in the billing context the bill run would use, its account's credit balance spent by
its invoices in turn, so that the projection and the run differ only in what a card
says.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import NoReturn

import attrs
from dateutil.relativedelta import relativedelta

from ..accounts import Account
from ..catalog import Catalog
from ..display import View, Viewable, ZoneLike, view_zone
from ..errors import InvalidInput, SubscriptionsError
from ..inputs import optional_identifier, whole_number
from ..messages import DEFAULT_RENDERER
from ..orders import IssuedInvoice, Seller
from ..outlook import Forecast, Tally, Unpriced
from ..periods import ensure_aware, localize, zone
from ..ports import Store
from ..projection import Projected, ProjectedStep, charged_totals, project, steps_section, totals
from ..subscription import BillingContext, BillingPolicy, Subscription
from ..vat import EU_VAT_RATES, RateProvider
from .base import Center, Settings, new_id

__all__ = ["MAX_MONTHS", "RenewalPreview", "forecast", "forecast_book", "preview_renewals"]

_PAGE = 500
#: The furthest a forecast looks ahead: ten years.
MAX_MONTHS = 120


@attrs.frozen(kw_only=True, weakref_slot=False)
class RenewalPreview(Viewable):
    """The steps a bill run up to ``until`` would take, in subscription order, and what
    they would charge per currency (never summed across currencies).

    It shows itself (:mod:`subscriptions.display`): ``table()``, ``rows()`` (one per
    step) and, in a notebook, an HTML table; each step's instant in its account's
    time zone unless a ``zone`` is given."""

    until: datetime
    steps: tuple[ProjectedStep, ...] = ()
    charged: dict[str, Decimal] = attrs.field(factory=dict)

    def view(self, *, zone: ZoneLike = None) -> View:
        """The preview as a :class:`~subscriptions.display.View`: one row per step,
        then what the run would charge in each currency."""
        where = None if zone is None else view_zone(zone)
        return View(
            title="Renewals",
            facts=(("until", self.until.astimezone(where or UTC)), ("steps", len(self.steps))),
            sections=(steps_section(self.steps, where),),
            totals=charged_totals(self.charged),
        )


def preview_renewals(
    center: Center, until: datetime | None = None, *, account_id: str | None = None
) -> RenewalPreview:
    """What :meth:`~subscriptions.center.BillingCenter.run_renewals` would invoice, retry
    and cancel up to ``until`` (default: now; a later instant projects the months
    ahead), for every account or only ``account_id``'s. Pure over the stored book:
    nothing is written, charged or sent. The book is read through one snapshot, so
    what runs meanwhile changes nothing in the preview."""
    optional_identifier(account_id, what="account id")
    now = center.now()
    at = now if until is None else ensure_aware(until, what="until")
    steps: list[ProjectedStep] = []
    with closing(_projections(center, now=now, until=at, account_id=account_id)) as each:
        for projected in each:
            if isinstance(projected, Projected):
                steps.extend(projected.steps)
            else:
                raise projected[1]
    return RenewalPreview(until=at, steps=tuple(steps), charged=totals(steps))


def forecast_book(
    center: Center,
    months: int = 12,
    *,
    catalog: Catalog | None = None,
    at: datetime | None = None,
) -> Forecast:
    """The invoices every subscription would get over the next ``months`` (counted in the
    seller's time zone from now), by month and plan, under the Billing Center's catalog
    or ``catalog`` (a candidate): the same projection as
    :meth:`~subscriptions.center.BillingCenter.preview_renewals`, added up as it goes
    (:class:`~subscriptions.outlook.Tally`), so that a book of any size is forecast in
    constant memory. Pure over the stored book, read a page at a time through one
    snapshot of the store (:meth:`~subscriptions.ports.Store.snapshot`), so that a
    bill run or a checkout meanwhile changes nothing in it: nothing is written,
    charged or sent. A
    subscription the catalog cannot bill is named in
    :attr:`~subscriptions.outlook.Forecast.unpriced`. ``at`` (default: now, never
    later) is the instant it is made at: forecasts to compare are made at one
    instant."""
    whole_number(months, what="months", minimum=1, maximum=MAX_MONTHS)
    if catalog is not None and not isinstance(catalog, Catalog):
        raise InvalidInput(
            f"catalog {catalog!r} is not a Catalog; build one with catalog_from_dict or "
            "Catalog(products=...)"
        )
    now = center.until(at, what="a forecast")
    seller_zone = zone(center.seller.timezone or "UTC")
    end = _months_after(now, months, seller_zone)
    tally = Tally(start=now, end=end, zone=seller_zone)
    with closing(_projections(center, now=now, until=end, catalog=catalog)) as each:
        for projected in each:
            if isinstance(projected, Projected):
                tally.add(projected.steps)
            else:
                sub, error = projected
                tally.refuse(
                    Unpriced(
                        subscription_id=sub.id,
                        product=sub.terms.product,
                        plan=sub.terms.plan,
                        reason=" ".join(str(error).split()),
                    )
                )
    return tally.forecast()


def forecast(
    store: Store,
    *,
    catalog: Catalog,
    seller: Seller,
    months: int = 12,
    at: datetime | None = None,
    policy: BillingPolicy = BillingPolicy(),
    settings: Settings = Settings(),
    rates: RateProvider = EU_VAT_RATES,
) -> Forecast:
    """What the book in ``store`` would invoice over the next ``months`` from ``at``
    (default: now) under ``catalog``, sold by ``seller``:
    :meth:`~subscriptions.center.BillingCenter.forecast` without a Billing Center (a
    notebook over a copy of the book, say). Forecast the same book under two catalogs
    and :func:`~subscriptions.outlook.compare_forecasts` says what a change of prices
    would change.

    >>> from subscriptions.adapters.memory import InMemoryStore
    >>> from subscriptions.documents import seller_and_catalog_from_dict
    >>> seller, catalog = seller_and_catalog_from_dict({"currency": "EUR",
    ...     "seller": {"name": "Vendor S.r.l.", "country": "IT", "address": {
    ...         "line1": "Via Roma 1", "city": "Milano", "postal_code": "20121"}},
    ...     "products": [{"id": "app", "plans": [{"id": "basic", "rank": 1,
    ...         "prices": {"monthly": "10.00"}}]}]})
    >>> forecast(InMemoryStore(), catalog=catalog, seller=seller, months=3).lines
    ()
    """
    moment = datetime.now(UTC) if at is None else ensure_aware(at, what="at")
    center = Center(
        catalog=catalog,
        seller=seller,
        store=store,
        gateway=_NoPayments(),
        clock=_FixedClock(moment),
        notifier=None,
        renderer=DEFAULT_RENDERER,
        address_of=None,
        vat_verifier=None,
        policy=policy,
        settings=settings,
        rates=rates,
        new_id=new_id,
        sleep=lambda seconds: None,
    )
    return forecast_book(center, months)


def _months_after(now: datetime, months: int, where: tzinfo) -> datetime:
    """The start of the month ``months`` after ``now``'s in ``where``: a forecast
    covers whole months, the current one included."""
    local = now.astimezone(where)
    first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    return localize(first + relativedelta(months=months), where)


_Projection = Projected | tuple[Subscription, SubscriptionsError]


def _projections(
    center: Center,
    *,
    now: datetime,
    until: datetime,
    account_id: str | None = None,
    catalog: Catalog | None = None,
) -> Generator[_Projection, None, None]:
    """Each subscription of the book (or of ``account_id``) projected up to ``until``
    in its billing context (under ``catalog`` when given), its account's credit spent
    by its invoices in turn; or the subscription and the error its projection raised.
    Read through one snapshot of the store, a page at a time: the snapshot keeps
    nothing it returns, so memory stays flat however big the book."""
    contexts: dict[tuple[object, ...], BillingContext] = {}
    candidates: dict[int, BillingContext] = {}
    credit: dict[str, Decimal] = {}

    def context(account: Account) -> BillingContext:
        shared = center.shared_context(account, contexts)
        if catalog is None:
            return shared
        swapped = candidates.get(id(shared))
        if swapped is None:
            swapped = candidates[id(shared)] = attrs.evolve(shared, catalog=catalog)
        return swapped

    after: str | None = None
    with center.store.snapshot() as uow:
        while True:
            if account_id is not None:
                center.load_account(uow, account_id)
                page = uow.subscriptions.for_account(account_id)
            else:
                page = uow.subscriptions.page(after=after, limit=_PAGE)
            owners = sorted({s.account_id for s in page if s.account_id is not None})
            accounts = uow.accounts.get_many(owners)
            unpaid = uow.invoices.get_many(
                [s.dunning.invoice_id for s in page if s.dunning is not None]
            )
            yield from _projected_page(page, accounts, unpaid, context, credit, now, until)
            if account_id is not None or len(page) < _PAGE:
                return
            after = page[-1].id
            # Let go of this page before the next one is read: one page in memory.
            del page, accounts, unpaid


def _projected_page(
    page: list[Subscription],
    accounts: dict[str, Account],
    unpaid: dict[str, IssuedInvoice],
    context: Callable[[Account], BillingContext],
    credit: dict[str, Decimal],
    now: datetime,
    until: datetime,
) -> Iterator[_Projection]:
    """The projections of one page of subscriptions, ``credit`` (by account) spent as
    they go."""
    for sub in page:
        account = accounts.get(sub.account_id or "")
        if account is None:
            continue
        balance = credit.get(account.id, account.credit_balance)
        collecting = None if sub.dunning is None else unpaid.get(sub.dunning.invoice_id)
        try:
            projected = project(
                sub,
                context=context(account),
                until=until,
                credit=balance,
                unpaid=None if collecting is None else collecting.amount_due,
                issued_from=now,
            )
        except SubscriptionsError as error:
            yield sub, error
            continue
        if projected.credit != balance:
            # Only what a projection spent is kept (an account's balance is the
            # snapshot's on every page): accounts without credit take no memory.
            credit[account.id] = projected.credit
        yield projected


class _FixedClock:
    """The instant a forecast is made at, when one is given."""

    def __init__(self, at: datetime) -> None:
        self._at = at

    def now(self) -> datetime:
        return self._at


class _NoPayments:
    """The gateway of a forecast, which charges nothing: any call is a mistake."""

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise InvalidInput("a forecast charges and refunds nothing; it has no gateway")

    charge = refund = lookup = key_of = _refuse
