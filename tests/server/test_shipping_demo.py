"""The shipping demo, found by the module's name: a tenant with shipping gets the paid order's
first line shipped and the fulfilled order delivered; a tenant without it gets no shipment."""

from __future__ import annotations

from typing import Any

from domain import shipping, tenancy
from server import demo, demo_shipping
from server.seed import ACME_PRODUCTS, SEED
from services import catalog as catalog_services
from tables import shipping as shipping_tables

ORDERS = """
query { orders(first: 10) { edges { node {
  status lines { quantity } shipments { status lines { quantity } }
} } } }
"""


async def _demo(handle: Any) -> None:
    for draft, variants in ACME_PRODUCTS:
        await catalog_services.create_product(draft, variants, tenant_id=handle.id, meta=SEED)
    skus = [variant.sku for _, variants in ACME_PRODUCTS for variant in variants]
    await demo.commerce(handle.tenant, skus, meta=SEED)


def test_a_modules_demo_is_found_under_its_name_for_the_tenants_with_the_module() -> None:
    everything = frozenset(tenancy.MODULES)
    assert demo.module_demos(everything) == [demo_shipping.seed]
    assert demo.module_demos(everything - {"shipping"}) == []


async def test_the_demo_ships_the_paid_order_in_part_and_delivers_the_fulfilled_one(
    make_tenant: Any,
) -> None:
    handle = await make_tenant(modules=tuple(tenancy.MODULES))
    await _demo(handle)
    body = await handle.gql(ORDERS)
    assert "errors" not in body, body
    nodes = [edge["node"] for edge in body["data"]["orders"]["edges"]]
    by_status = {node["status"]: node for node in nodes}
    assert sorted(by_status) == ["FULFILLED", "PAID", "PENDING"]
    assert by_status["PENDING"]["shipments"] == []
    [partial] = by_status["PAID"]["shipments"]
    assert partial["status"] == "SHIPPED"
    assert partial["lines"] == by_status["PAID"]["lines"][:1]
    [whole] = by_status["FULFILLED"]["shipments"]
    assert whole["status"] == "DELIVERED"
    assert whole["lines"] == by_status["FULFILLED"]["lines"]


async def test_a_tenant_without_shipping_gets_no_shipment_from_the_demo(make_tenant: Any) -> None:
    handle = await make_tenant(modules=tuple(sorted(set(tenancy.MODULES) - {"shipping"})))
    await _demo(handle)
    page = await shipping_tables.list_shipments(
        tenant_id=handle.id, where=shipping.ShipmentFilter(), descending=False,
        after=None, limit=10,
    )
    assert page == []
