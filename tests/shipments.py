"""Shipping for the tests: a shop with the shipping module, paid orders and documents."""

from __future__ import annotations

from typing import Any

from tests.documents import payload
from tests.shop import MODULES, Shop, open_shop

SHIPPING_MODULES = (*MODULES, "shipping")
SHIPMENT_FIELDS = """
id orderId status carrier service trackingNumber trackingUrl createdAt
lines { orderLineId sku quantity }
"""
RESULT = f"shipment {{ {SHIPMENT_FIELDS} }} order {{ id status }} errors {{ field message code }}"
CREATE = f"""
mutation Ship($input: ShipmentCreateInput!) {{ createShipment(input: $input) {{ {RESULT} }} }}
"""
CHANGE = f"""
mutation Move($input: ShipmentStatusInput!) {{ changeShipmentStatus(input: $input) {{ {RESULT} }} }}
"""
SHIPMENT = f"query Shipment($id: ID!) {{ shipment(id: $id) {{ {SHIPMENT_FIELDS} }} }}"
SHIPMENTS = """
query Shipments($first: Int, $after: String, $filter: ShipmentFilter, $orderBy: ShipmentOrder) {
  shipments(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
    edges { cursor node { id orderId status } }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  }
}
"""
ORDER_SHIPMENTS = f"""
query OrderShipments($id: ID!) {{
  order(id: $id) {{ id status lines {{ id sku quantity }} shipments {{ {SHIPMENT_FIELDS} }} }}
}}
"""


async def open_shipping_shop(make_tenant: Any, **options: Any) -> Shop:
    return await open_shop(make_tenant, modules=SHIPPING_MODULES, **options)


async def paid_order(shop: Shop, *lines: dict[str, Any], paid: bool = True) -> dict[str, Any]:
    """A new order (marked paid, unless asked not to) with its line ids and shipments."""
    order = await shop.place(*lines)
    if paid:
        payload(await shop.change(order["id"], "PAID"), "markOrderPaid")
    return await order_with_shipments(shop, order["id"])


async def order_with_shipments(shop: Shop, order_id: str) -> dict[str, Any]:
    body = await shop.gql(ORDER_SHIPMENTS, {"id": order_id})
    assert "errors" not in body, body
    found: dict[str, Any] = body["data"]["order"]
    return found


def ship_lines(order: dict[str, Any], *quantities: int) -> list[dict[str, Any]]:
    """`quantities[i]` units of the order's line i (a 0 leaves the line out)."""
    return [
        {"orderLineId": line_id(order, index), "quantity": quantity}
        for index, quantity in enumerate(quantities) if quantity
    ]


def line_id(order: dict[str, Any], index: int) -> str:
    return str(order["lines"][index]["id"])


async def ship(shop: Shop, order_id: str, lines: list[dict[str, Any]], **fields: Any) -> Any:
    return await shop.gql(CREATE, {"input": {"orderId": order_id, "lines": lines, **fields}})


async def move(shop: Shop, shipment_id: str, status: str, **fields: Any) -> Any:
    return await shop.gql(CHANGE, {"input": {"id": shipment_id, "status": status, **fields}})


async def shipped(shop: Shop, order_id: str, lines: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    """A shipment the test expects to be made."""
    made: dict[str, Any] = payload(await ship(shop, order_id, lines, **fields), "createShipment")
    return made
