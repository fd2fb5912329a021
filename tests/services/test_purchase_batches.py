"""purchase-flow deliveries applied as one batch (services.purchase_batches) against the
per-delivery path (flows.apply_purchase): the same rows and events, each refused purchase
refused alone with the same error, duplicates applied once, the last unit sold once within a
batch and across concurrent batches, and every tenant's batch kept to its own rows."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import uuid4

import asyncpg
import pytest

from domain.errors import Conflict
from services import purchase_batches
from tables import db, order_batches
from tables import events as outbox
from tests.purchases import (
    PurchaseShop,
    as_batch,
    batch,
    one_by_one,
    open_purchase_shop,
    purchase,
    snapshot,
)

MIXED = (
    purchase("1001", [("TEE-S", 2, 1500)], email="ada@example.org", first_name="Ada"),
    purchase("1002", [("MUG", 1, 800)], email="ADA@Example.org"),
    purchase("1003", [("NOPE", 1, 100), ("MUG", 1, 800)]),
    purchase("1004", [("MUG", 1, 700)], email="bob@example.org"),
    purchase("1005", [("MUG", 2, 900)], currency="USD", email="cy@example.org"),
    purchase("1006", [("TEE-S", 1, 1500)], currency="GBP"),
    purchase("1001", [("TEE-S", 1, 1500)], email="ada@example.org"),
    purchase("1007", [("TEE-M", 12, 1500), ("MUG", 1, 800)], email="bob@example.org"),
    purchase("1008", [("TEE-M", 4, 1500)], email="dan@example.org"),
    purchase("1008", [("TEE-M", 3, 1500)], email="dan@example.org"),
    purchase("1009", [("TEE-S", 1, 1500), ("MUG", 1, 800), ("TEE-S", 1, 1500)]),
)


@pytest.fixture
async def shop(make_tenant: Any) -> PurchaseShop:
    return await open_purchase_shop(make_tenant)


async def test_a_batch_writes_what_the_deliveries_write_one_by_one(make_tenant: Any) -> None:
    alone, batched = await open_purchase_shop(make_tenant), await open_purchase_shop(make_tenant)
    deliveries = batch(*MIXED)

    expected = await one_by_one(alone.id, deliveries)
    found = await as_batch(batched.id, deliveries)

    assert found == expected
    assert [o and o[0] for o in found] == [
        None, None, "Invalid", "Invalid", None, "Invalid", None, None, "Conflict", None, None
    ]
    assert await snapshot(batched) == await snapshot(alone)


async def test_the_snapshot_tells_two_different_histories_apart(make_tenant: Any) -> None:
    one, other = await open_purchase_shop(make_tenant), await open_purchase_shop(make_tenant)
    await as_batch(one.id, batch(MIXED[0], MIXED[1]))
    await as_batch(other.id, batch(MIXED[1], MIXED[0]))

    assert await snapshot(one) != await snapshot(other)


async def test_holds_are_announced_in_the_order_of_the_per_delivery_path(shop: PurchaseShop) -> None:
    lines = [("TEE-M", 1, 1500), ("MUG", 1, 800), ("TEE-S", 1, 1500)]

    assert await one_by_one(shop.id, batch(purchase("1", lines))) == [None]
    assert await as_batch(shop.id, batch(purchase("2", lines))) == [None]

    found = await outbox.list_events(
        tenant_id=shop.id, after_seq=shop.shop.seeded_seq, types=["inventory.reserved"]
    )
    held = [event.payload["variantId"] for event in found]
    assert held[:3] == held[3:] == sorted(str(shop.shop.variants[sku]) for sku, _, _ in lines)


async def test_two_orders_for_the_last_unit_in_one_batch_sell_it_once(make_tenant: Any) -> None:
    shop = await open_purchase_shop(make_tenant, stock=1)
    first, second = purchase("1", [("MUG", 1, 800)]), purchase("2", [("MUG", 1, 800)])

    found = await as_batch(shop.id, batch(first, second))

    assert found[0] is None
    assert found[1] == (await one_by_one(shop.id, batch(second)))[0]
    assert found[1] == ("Conflict", "insufficient stock for SKU MUG: wanted 1, available 0", {})
    assert await shop.stock("MUG") == (1, 1)


async def test_concurrent_batches_for_the_last_units_sell_them_once(make_tenant: Any) -> None:
    shop = await open_purchase_shop(make_tenant, stock=1)
    mug_first = batch(purchase("a", [("MUG", 1, 800), ("TEE-S", 1, 1500)]))
    tee_first = batch(purchase("b", [("TEE-S", 1, 1500), ("MUG", 1, 800)]))
    alone = batch(purchase("c", [("TEE-S", 1, 1500), ("MUG", 1, 800)]))

    found = await asyncio.gather(
        as_batch(shop.id, mug_first), as_batch(shop.id, tee_first), one_by_one(shop.id, alone)
    )

    outcomes = [result[0] for result in found]
    assert outcomes.count(None) == 1, outcomes
    assert all(o is None or o[0] == "Conflict" for o in outcomes), outcomes
    assert await shop.stock("MUG") == (1, 1)
    assert await shop.stock("TEE-S") == (1, 1)
    assert len((await snapshot(shop))["orders"]) == 1


async def test_a_bad_purchase_is_refused_alone(shop: PurchaseShop) -> None:
    deliveries = batch(
        purchase("1", [("MUG", 1, 800)]),
        purchase("2", [("TEE-S", 1, 1500), ("NOPE", 1, 100)]),
        purchase("3", [("MUG", 1, 750)]),
        purchase("4", [("TEE-S", 1, 1500)]),
    )

    found = await as_batch(shop.id, deliveries)

    assert [o and (o[0], list(o[2])) for o in found] == [
        None, ("Invalid", ["order.items[1].sku"]), ("Invalid", ["order.items[0].unitPrice"]), None
    ]
    rows = await snapshot(shop)
    assert [row[1] for row in rows["orders"]] == ["shop:1", "shop:4"]
    assert [row[1] for row in rows["events"] if row[1] == "order.created"] == ["order.created"] * 2
    assert await shop.stock("MUG") == (10, 1)


async def test_an_external_ref_is_imported_once_within_and_across_batches(shop: PurchaseShop) -> None:
    twice = purchase("7", [("MUG", 1, 800)], email="eve@example.org")

    assert await as_batch(shop.id, batch(twice, twice)) == [None, None]
    assert await as_batch(shop.id, batch(twice, purchase("8", [("MUG", 1, 800)]))) == [None, None]

    rows = await snapshot(shop)
    assert [row[1] for row in rows["orders"]] == ["shop:7", "shop:8"]
    assert [row[0] for row in rows["customers"]].count("eve@example.org") == 1
    assert [row[1] for row in rows["events"]].count("customer.created") == 1
    assert await shop.stock("MUG") == (10, 2)


async def test_a_new_buyer_twice_in_a_batch_is_one_customer(shop: PurchaseShop) -> None:
    found = await as_batch(shop.id, batch(
        purchase("1", [("MUG", 1, 800)], email="Fay@Example.org", first_name="Fay"),
        purchase("2", [("MUG", 1, 800)], email="fay@example.org"),
    ))

    assert found == [None, None]
    rows = await snapshot(shop)
    assert [row[-1] for row in rows["orders"]] == ["Fay@Example.org"] * 2
    assert [row[:4] for row in rows["customers"] if row[1] == "fay@example.org"] == [
        ("Fay@Example.org", "fay@example.org", "Fay", "")
    ]


async def test_a_batch_cannot_see_or_write_another_tenants_rows(make_tenant: Any) -> None:
    a, b = await open_purchase_shop(make_tenant), await open_purchase_shop(make_tenant, prefix="B-")
    await as_batch(b.id, batch(purchase("1", [("B-MUG", 1, 800)])))
    before = await snapshot(b)

    found = await as_batch(a.id, batch(purchase("1", [("B-MUG", 1, 800)]), purchase("2", [("MUG", 1, 800)])))

    assert found == [("Invalid", "unknown sku", {"order.items[0].sku": "unknown sku"}), None]
    assert await snapshot(b) == before
    assert [row[1] for row in (await snapshot(a))["orders"]] == ["shop:2"]


async def test_rls_holds_the_batch_statements_to_the_transactions_tenant(make_tenant: Any) -> None:
    a, b = await open_purchase_shop(make_tenant), await open_purchase_shop(make_tenant)
    await as_batch(b.id, batch(purchase("1", [("MUG", 1, 800)])))

    async with db.transaction(tenant_id=a.id) as tx:
        assert await tx.connection.fetch(order_batches.IMPORTED, b.id, ["shop:1"]) == []
    with pytest.raises(asyncpg.PostgresError):
        async with db.transaction(tenant_id=a.id) as tx:
            await tx.connection.fetch(
                order_batches.ORDERS, b.id, [uuid4()], [None], ["EUR"], [0], [0], [0], [0], ["shop:x"],
                [], [], [], [], [], [], [], [], [],
            )
    assert [row[1] for row in (await snapshot(b))["orders"]] == ["shop:1"]


async def test_two_tenants_batches_side_by_side_stay_apart(make_tenant: Any) -> None:
    a, b = await open_purchase_shop(make_tenant), await open_purchase_shop(make_tenant)
    same = batch(*(purchase(str(n), [("MUG", 1, 800)], email="gil@example.org") for n in range(5)))

    found = await asyncio.gather(as_batch(a.id, same), as_batch(b.id, same))

    assert found == [[None] * 5, [None] * 5]
    for shop in (a, b):
        rows = await snapshot(shop)
        assert [row[0] for row in rows["orders"]] == [1, 2, 3, 4, 5]
        assert len(rows["customers"]) == 2
        assert await shop.stock("MUG") == (10, 5)


async def test_the_batch_joins_the_callers_transaction(shop: PurchaseShop) -> None:
    with pytest.raises(Conflict):
        async with db.transaction(tenant_id=shop.id):
            one = batch(purchase("1", [("MUG", 1, 800)]))
            outcomes = await purchase_batches.apply_purchases(one, shop.id)
            assert outcomes == [None]
            raise Conflict("the batch failed as a whole")

    assert (await snapshot(shop))["orders"] == []
