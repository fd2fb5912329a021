"""The batch statements where a concurrent writer got there first: a customer's email or an
order's reference taken between the batch's reads and its writes fails the whole batch with a
Conflict (its deliveries are then applied one by one), and writes nothing."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from domain import customers, orders
from domain.errors import Conflict
from tables import db, order_batches
from tests.purchases import as_batch, batch, open_purchase_shop, purchase, snapshot


async def test_an_email_taken_meanwhile_fails_the_batch(make_tenant: Any) -> None:
    shop = await open_purchase_shop(make_tenant)
    taken = customers.CustomerDraft(email=f"BUYER@{shop.shop.tenant.slug}.example")

    with pytest.raises(Conflict, match="concurrent change took one of these emails"):
        async with db.transaction(tenant_id=shop.id):
            await order_batches.insert_customers([(uuid4(), taken)], tenant_id=shop.id)

    assert len((await snapshot(shop))["customers"]) == 1


async def test_a_reference_imported_meanwhile_fails_the_batch(make_tenant: Any) -> None:
    shop = await open_purchase_shop(make_tenant)
    await as_batch(shop.id, batch(purchase("1", [("MUG", 1, 800)])))
    before = await snapshot(shop)
    totals = orders.Totals("EUR", 800, 0, 0, 800)

    with pytest.raises(Conflict, match="concurrent import wrote one of these orders"):
        async with db.transaction(tenant_id=shop.id):
            await order_batches.insert_orders(
                [(uuid4(), orders.OrderDraft(totals, ()), None, "shop:1")], tenant_id=shop.id
            )

    assert await snapshot(shop) == before
