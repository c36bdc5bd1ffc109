"""Benchmark of the book's forecast.

Run ``python benchmarks/forecast.py --json``; the last line printed is one JSON object:

* ``forecast_seconds``: the wall time of ``BillingCenter.forecast(12)`` over a SQLite
  book of 50,000 monthly and 50,000 annual subscriptions (one per account, anchors
  spread over the year, Italian customers with 22% VAT): every subscription projected
  twelve months ahead through the bill run's own transitions, each invoice priced and
  taxed, the sums kept by month and plan;
* ``forecast_invoices``: how many invoices that forecast adds up (about 650,000);
* ``forecast_peak_mb``: the peak memory the forecast allocated (tracemalloc, in a
  second pass over the same book, one month long).

Seeding is not timed. ``--monthly N`` and ``--annual N`` change the size of the book,
``--months N`` the forecast's length. Target (issue 13): under 60 seconds here.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

# The same seller and customer address as the bill run's benchmark (run from this folder).
from storage import ADDRESS, SELLER

from subscriptions import (
    Account,
    BillingCenter,
    BillingContext,
    Catalog,
    FakeGateway,
    ManualClock,
    Plan,
    Price,
    Product,
    Subscribe,
    Terms,
    apply,
)
from subscriptions.adapters.sqlite import SQLiteStore
from subscriptions.ports import Store
from subscriptions.pricing import Customer, TaxSetup

CATALOG = Catalog(
    products=[
        Product(
            id="app",
            name="App",
            plans=[
                Plan(
                    id="basic",
                    name="Basic",
                    rank=1,
                    prices=[
                        Price(currency="EUR", frequency="monthly", amount="10.00"),
                        Price(currency="EUR", frequency="annual", amount="100.00"),
                    ],
                ),
                Plan(
                    id="pro",
                    name="Pro",
                    rank=2,
                    prices=[
                        Price(currency="EUR", frequency="monthly", amount="25.00"),
                        Price(currency="EUR", frequency="annual", amount="250.00"),
                    ],
                ),
            ],
        )
    ]
)
#: The book was sold over the year before the forecast.
SOLD_FROM = datetime(2025, 12, 1, 9, tzinfo=UTC)
FORECAST_AT = datetime(2026, 12, 1, 9, tzinfo=UTC)


def seed(store: Store, monthly: int, annual: int) -> None:
    """``monthly`` + ``annual`` accounts, each with one active subscription started
    on a day of the year before :data:`FORECAST_AT` and renewed up to it."""
    context = BillingContext(
        catalog=CATALOG,
        currency="EUR",
        tz="Europe/Rome",
        tax=TaxSetup(seller_country="IT", customer=Customer(country="IT")),
    )
    total = monthly + annual
    batch = 2_000
    for first in range(0, total, batch):
        with store.unit_of_work() as uow:
            for i in range(first, min(first + batch, total)):
                account_id = f"acct{i:07d}"
                uow.accounts.add(
                    Account(
                        id=account_id,
                        name=f"Customer {i}",
                        address=ADDRESS,
                        timezone="Europe/Rome",
                        locale="it_IT",
                        currency="EUR",
                        billing_contacts=frozenset({"billing"}),
                        payment_method="tok_visa",
                    )
                )
                frequency = "monthly" if i < monthly else "annual"
                terms = Terms(
                    product="app", plan=("basic", "pro")[i % 2], seats=1 + i % 20,
                    frequency=frequency,
                )  # fmt: skip
                # Anchors spread over the year; a monthly one started within the last
                # month (so it is not due before the forecast starts).
                days = i % 365 if frequency == "annual" else 335 + i % 28
                at = SOLD_FROM + timedelta(days=days, minutes=i % 600)
                outcome = apply(
                    None,
                    Subscribe(terms=terms),
                    at=at,
                    context=context,
                    subscription_id=f"sub_{account_id}_app",
                    account_id=account_id,
                )
                uow.subscriptions.add(outcome.subscription)
            uow.commit()


def center_over(store: Store) -> BillingCenter:
    return BillingCenter(
        catalog=CATALOG,
        seller=SELLER,
        store=store,
        gateway=FakeGateway(),
        clock=ManualClock(FORECAST_AT),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    parser.add_argument("--monthly", type=int, default=50_000, help="monthly subscriptions")
    parser.add_argument("--annual", type=int, default=50_000, help="annual subscriptions")
    parser.add_argument("--months", type=int, default=12, help="the forecast's length")
    args = parser.parse_args(argv)
    say = (lambda text: None) if args.json else (lambda text: print(text, file=sys.stderr))
    with tempfile.TemporaryDirectory(prefix="forecast-bench-") as folder:
        store = SQLiteStore(Path(folder) / "book.sqlite3")
        try:
            say(f"seeding {args.monthly} monthly and {args.annual} annual subscriptions")
            seed(store, args.monthly, args.annual)
            center = center_over(store)
            say(f"forecasting {args.months} months")
            started = time.perf_counter()
            result = center.forecast(args.months)
            seconds = time.perf_counter() - started
            invoices = sum(line.invoices for line in result.lines)
            say(f"{invoices} invoices in {seconds:.1f} s")
            # Peak memory: a second pass, over one month, traced (tracing slows it).
            tracemalloc.start()
            center.forecast(max(1, args.months // 12))
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        finally:
            store.close()
    figures = {
        "forecast_seconds": round(seconds, 2),
        "forecast_invoices": invoices,
        "forecast_peak_mb": round(peak / 1e6, 1),
        "subscriptions": args.monthly + args.annual,
        "months": args.months,
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
