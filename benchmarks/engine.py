"""Benchmark of the pure billing core.

Run ``python benchmarks/engine.py --json``; the last line printed is one JSON object:

* ``quote_us``: mean microseconds of one plan-change quote through the public API
  (``subscriptions.preview.quote``), result objects and ``Money`` included (its
  total, tax and first line's amount are read as ``Money``): an
  Italian self-service customer (22% VAT) on 5 seats of a 30.00 EUR/month plan whose
  period runs 2025-01-01 to 2025-02-01 changes, ``keep_anchor``, day proration, on
  2025-01-11 to 8 seats of a 50.00 EUR/month plan (credit -101.61, charge 270.97,
  VAT 37.26, total 206.62);
* ``quote_floor_us``: the same arithmetic written with bare ``Decimal`` and ``date``,
  in the same run, timed in batches alternating with the quote's (a machine whose
  speed drifts moves both, not their ratio);
* ``renewals_per_second`` and ``renewals_peak_mb``: one million monthly renewals
  streamed through the pure core (``advance``), throughput and peak memory growth
  (tracemalloc).

Targets (issue 2): ``quote_us`` at most 4x the floor; at least 50,000 renewals a
second; under 100 MB.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from moneyed import Money

from subscriptions.catalog import Catalog, Plan, Price, Product
from subscriptions.preview import quote
from subscriptions.pricing import Customer, TaxSetup
from subscriptions.subscription import (
    BillingContext,
    BillingPolicy,
    Change,
    ChangePolicy,
    ChangeTiming,
    Subscribe,
    Subscription,
    Terms,
)
from subscriptions.transitions import advance, apply

ROME = ZoneInfo("Europe/Rome")


def _context() -> BillingContext:
    catalog = Catalog(
        products=[
            Product(
                id="remote-support",
                name="Remote Support",
                trial_days=14,
                plans=[
                    Plan(
                        id="standard",
                        name="Standard",
                        rank=1,
                        prices=[Price(currency="EUR", frequency="monthly", amount="30.00")],
                    ),
                    Plan(
                        id="premium",
                        name="Premium",
                        rank=2,
                        prices=[Price(currency="EUR", frequency="monthly", amount="50.00")],
                    ),
                ],
            )
        ]
    )
    return BillingContext(
        catalog=catalog,
        currency="EUR",
        tz=ROME,
        policy=BillingPolicy(plan_change=ChangePolicy.uniform(ChangeTiming.KEEP_ANCHOR)),
        tax=TaxSetup(seller_country="IT", customer=Customer(country="IT")),
    )


def _subscription(context: BillingContext) -> Subscription:
    terms = Terms(product="remote-support", plan="standard", seats=5, frequency="monthly")
    start = datetime(2025, 1, 1, tzinfo=ROME)
    return apply(None, Subscribe(terms=terms), at=start, context=context).subscription


def bench_quote(rounds: int) -> tuple[float, float]:
    """Mean microseconds of the quote through the public API, and of the bare floor."""
    context = _context()
    sub = _subscription(context)
    change = Change(plan="premium", seats=8)
    at = datetime(2025, 1, 11, tzinfo=ROME)

    result = quote(sub, change, at=at, context=context)
    assert result.total == Money("206.62", "EUR"), result.total
    assert result.tax == Money("37.26", "EUR"), result.tax
    assert [line.amount for line in result.lines] == [
        Money("-101.61", "EUR"),
        Money("270.97", "EUR"),
    ]

    def public() -> tuple[Money, Money, Money]:
        # The quote, and its figures read as Money: what a quote page shows first.
        q = quote(sub, change, at=at, context=context)
        return q.total, q.tax, q.lines[0].amount

    cent = Decimal("0.01")

    def floor() -> Decimal:
        start, end, day = date(2025, 1, 1), date(2025, 2, 1), date(2025, 1, 11)
        total_days = (end - start).days
        unused = (end - day).days
        credit = (Decimal("30.00") * 5 * unused / total_days).quantize(cent, ROUND_HALF_UP)
        charge = (Decimal("50.00") * 8 * unused / total_days).quantize(cent, ROUND_HALF_UP)
        subtotal = charge - credit
        vat = (subtotal * Decimal("22") / 100).quantize(cent, ROUND_HALF_UP)
        return subtotal + vat

    assert floor() == Decimal("206.62")
    return _paired_us(public, floor, rounds)


def _paired_us(
    fn: Callable[[], object], floor: Callable[[], object], rounds: int
) -> tuple[float, float]:
    """Median microseconds of ``fn`` and of ``floor``, timed in alternating batches so
    that both see the same machine: a virtual machine whose speed drifts during the
    run moves both figures, not their ratio."""
    for _ in range(min(rounds, 2000)):
        fn()
        floor()
    timed: tuple[list[float], list[float]] = ([], [])
    per_batch = max(1, rounds // 20)
    for _ in range(20):
        for samples, call in zip(timed, (fn, floor), strict=True):
            start = time.perf_counter()
            for _ in range(per_batch):
                call()
            samples.append((time.perf_counter() - start) / per_batch)
    return statistics.median(timed[0]) * 1e6, statistics.median(timed[1]) * 1e6


def _book(context: BillingContext, size: int) -> list[Subscription]:
    """``size`` subscriptions with anchors spread over every day of January 2025
    (the 29th to 31st included, so month ends clamp), 1 to 50 seats, both plans."""
    book = []
    for i in range(size):
        terms = Terms(
            product="remote-support",
            plan="standard" if i % 3 else "premium",
            seats=1 + i % 50,
            frequency="monthly",
        )
        at = datetime(2025, 1, 1 + i % 31, 9, i % 60, tzinfo=ROME)
        book.append(apply(None, Subscribe(terms=terms), at=at, context=context).subscription)
    return book


def bench_renewals(count: int, book_size: int = 10_000) -> tuple[float, float]:
    """Renewals per second and peak memory growth (MB) streaming ``count`` renewals.

    A book of ``book_size`` monthly subscriptions is renewed cycle after cycle (each
    renewal builds its invoice: line, VAT, totals), keeping only each subscription's
    current state and a running total, as a bill run streaming its invoices out does.
    """
    context = _context()
    cycles = max(1, count // book_size)
    book = _book(context, book_size)

    def stream(book: list[Subscription]) -> tuple[int, Decimal]:
        renewed = 0
        billed = Decimal(0)
        for _ in range(cycles):
            for i, sub in enumerate(book):
                outcome = advance(sub, context=context)
                book[i] = outcome.subscription
                invoice = outcome.invoice
                assert invoice is not None
                billed += invoice.total
                renewed += 1
        return renewed, billed

    gc.collect()
    start = time.perf_counter()
    renewed, billed = stream(book)
    elapsed = time.perf_counter() - start
    assert renewed == cycles * book_size
    assert billed > 0

    # Memory: the same stream under tracemalloc (slower, so measured apart).
    book = _book(context, book_size)
    gc.collect()
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    stream(book)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return renewed / elapsed, (peak - base) / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    parser.add_argument("--renewals", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=50_000)
    args = parser.parse_args(argv)

    quote_us, floor_us = bench_quote(args.rounds)
    renewals_per_second, peak_mb = bench_renewals(args.renewals)
    result = {
        "quote_us": round(quote_us, 2),
        "quote_floor_us": round(floor_us, 2),
        "quote_ratio": round(quote_us / floor_us, 2),
        "renewals": args.renewals,
        "renewals_per_second": round(renewals_per_second),
        "renewals_peak_mb": round(peak_mb, 2),
        "python": sys.version.split()[0],
    }
    if not args.json:
        for key, value in result.items():
            print(f"{key:>22}: {value}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
