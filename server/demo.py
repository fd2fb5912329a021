"""Commerce demo data for `make run`: locations and stock, a wholesale price list, customers,
and orders in several states, so every domain has something to explore."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Sequence
from typing import Protocol

from domain import catalog, customers, events, inventory, orders, payments, pricing, tenancy
from domain import modules as domain_modules
from services import customers as customer_services
from services import inventory as inventory_services
from services import orders as order_services
from services import payments as payment_services
from services import pricing as pricing_services
from tables import catalog as catalog_tables
from tables import inventory as inventory_tables

CUSTOMERS = [
    customers.CustomerDraft(email="ada@example.com", first_name="Ada", last_name="Lovelace",
                            tags=("vip",)),
    customers.CustomerDraft(email="alan@example.com", first_name="Alan", last_name="Turing"),
    customers.CustomerDraft(email="grace@example.com", first_name="Grace", last_name="Hopper",
                            tags=("wholesale",)),
]
ADDRESS = customers.AddressDraft(line1="1 Demo Street", city="Lisbon", country="PT",
                                 postal_code="1100-001")


async def commerce(tenant: tenancy.Tenant, skus: Sequence[str], *, meta: events.WriteMeta) -> None:
    """Once per tenant: skipped when the tenant has stock locations already."""
    if await inventory_tables.list_locations(tenant_id=tenant.id):
        return
    variants = await catalog_tables.variants_by_sku(list(skus), tenant_id=tenant.id)
    await _stock(tenant, list(variants.values()), meta=meta)
    await _wholesale(tenant, list(variants.values()), meta=meta)
    buyers = [
        await customer_services.create_customer(draft, [ADDRESS], tenant_id=tenant.id, meta=meta)
        for draft in CUSTOMERS
    ]
    await _orders(tenant, list(skus), buyers, meta=meta)
    for seed in module_demos(tenant.modules):
        await seed(tenant, meta=meta)


class ModuleDemo(Protocol):
    async def __call__(self, tenant: tenancy.Tenant, *, meta: events.WriteMeta) -> None: ...


def module_demos(modules: frozenset[str]) -> list[ModuleDemo]:
    """The demo data the tenant's modules bring, each in its own `server/demo_<slug>.py`
    (`seed`), in the module list's order: a module's demo runs after those it requires."""
    found: list[ModuleDemo] = []
    for slug in domain_modules.MODULES:
        name = f"server.demo_{slug}"
        if slug in modules and importlib.util.find_spec(name) is not None:
            found.append(importlib.import_module(name).seed)
    return found


async def _stock(
    tenant: tenancy.Tenant, variants: list[catalog.Variant], *, meta: events.WriteMeta
) -> None:
    places = [("Main warehouse", "main", 20), ("Flagship store", "store", 4)]
    for name, handle, units in places:
        location = await inventory_services.create_location(
            inventory.LocationDraft(name=name, handle=handle), tenant_id=tenant.id, meta=meta
        )
        for variant in variants:
            change = inventory.Change(
                variant.id, location.id, units, inventory.Reason.RECEIVED, "demo stock"
            )
            await inventory_services.adjust(change, tenant_id=tenant.id, meta=meta)


async def _wholesale(
    tenant: tenancy.Tenant, variants: list[catalog.Variant], *, meta: events.WriteMeta
) -> None:
    price_list = await pricing_services.create_price_list(
        pricing.PriceListDraft(name="Wholesale", handle="wholesale", currency="EUR"),
        tenant_id=tenant.id, meta=meta,
    )
    for variant in variants:
        price = catalog.Money(amount=variant.price.amount * 8 // 10, currency="EUR")
        await pricing_services.set_variant_price(
            price_list.id, variant.id, price, None, tenant_id=tenant.id, meta=meta
        )


async def _orders(
    tenant: tenancy.Tenant, skus: list[str], buyers: list[customers.Customer],
    *, meta: events.WriteMeta,
) -> None:
    """A pending order, a paid one and a fulfilled one."""
    for index, buyer in enumerate(buyers):
        request = orders.OrderRequest(
            lines=(orders.LineRequest(quantity=index + 1, sku=skus[index % len(skus)]),
                   orders.LineRequest(quantity=1, sku=skus[(index + 1) % len(skus)])),
            customer_id=buyer.id,
        )
        order = await order_services.create_order(
            request, price_list=None, tenant_id=tenant.id, meta=meta
        )
        if index >= 1:
            capture = payments.PaymentDraft(
                kind=payments.PaymentKind.CAPTURE, amount=catalog.Money(order.total, order.currency),
                reference=f"demo-{order.number}",
            )
            await payment_services.record(order.id, capture, tenant_id=tenant.id, meta=meta)
        if index >= 2:
            await order_services.change_status(
                order.id, orders.OrderStatus.FULFILLED, tenant_id=tenant.id, meta=meta
            )
