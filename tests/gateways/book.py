"""The small book the Stripe-driven Billing Center tests sell from: one product at
10.00 EUR a month, and an Italian seller."""

from __future__ import annotations

from subscriptions.accounts import Address
from subscriptions.catalog import Catalog, Plan, Price, Product
from subscriptions.orders import Seller

CATALOG = Catalog(
    products=[
        Product(
            id="monitoring",
            name="Monitoring",
            trial_days=30,
            plans=[
                Plan(
                    id="basic",
                    name="Basic",
                    rank=1,
                    prices=[Price(currency="EUR", frequency="monthly", amount="10.00")],
                )
            ],
        )
    ]
)
SELLER = Seller(
    name="Vendor S.r.l.",
    vat_number="IT00743110157",
    address=Address(line1="Via Roma 1", city="Milano", postal_code="20121", country="IT"),
)
