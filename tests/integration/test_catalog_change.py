"""``BillingCenter.check_catalog``: a host checks the catalog it is about to deploy."""

from __future__ import annotations

import pytest
from conftest import CONTACT, open_account

from subscriptions import BillingCenter, Catalog, CatalogInUse, Plan, Price, Product


def _without_monitoring(catalog: Catalog) -> Catalog:
    return Catalog(products=[p for p in catalog.products if p.id != "monitoring"])


def _monitoring_repriced(catalog: Catalog) -> Catalog:
    products = [p for p in catalog.products if p.id != "monitoring"]
    price = [Price(currency="EUR", frequency="monthly", amount="12.00")]
    plan = Plan(id="basic", name="Basic", rank=1, prices=price)
    return Catalog(products=[*products, Product(id="monitoring", name="Monitoring", plans=[plan])])


def test_a_trial_keeps_its_product_on_sale(center: BillingCenter) -> None:
    account = open_account(center)
    center.check_catalog(_without_monitoring(center.catalog))
    center.start_trial(account.id, CONTACT, "monitoring")
    with pytest.raises(CatalogInUse) as caught:
        center.check_catalog(_without_monitoring(center.catalog))
    (use,) = caught.value.uses
    assert use.endswith(
        "monitoring/basic monthly in EUR "
        "(no product 'monitoring' in the catalog; the catalog offers remote-support)"
    )
    # Its price may change, and its annual price go: the trial converts monthly.
    center.check_catalog(_monitoring_repriced(center.catalog))
