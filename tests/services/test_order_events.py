"""createOrder writes its events with the order, in its one write, and they are numbered at commit
as every writer's are: each event row is inserted once and numbered once, carries the levels as
the holds left them and the order's number, the tenant's event counter stays free until the
order commits, and orders racing purchase batches for the same stock never deadlock and leave
the tenant's sequence without a gap."""

from __future__ import annotations

import asyncio
from typing import Any

from domain import orders
from domain.errors import Conflict
from services import orders as order_services
from tables import db
from tables import events as outbox
from tables import inventory as inventory_tables
from tests.documents import META
from tests.purchases import PurchaseShop, as_batch, batch, open_purchase_shop, purchase

WRITTEN = """
select n_tup_ins as inserted, n_tup_upd as updated from pg_stat_xact_user_tables
where relname = 'events'
"""
"""Rows this backend wrote to events and has not reported yet: it reports only between
transactions, so the difference across statements of one transaction is theirs."""


async def _order(shop: PurchaseShop, *lines: tuple[str, int]) -> orders.Order | None:
    request = orders.OrderRequest(customer_id=None, lines=tuple(
        orders.LineRequest(quantity, variant_id=shop.shop.variants[sku]) for sku, quantity in lines
    ))
    try:
        return await order_services.create_order(request, price_list=None, tenant_id=shop.id, meta=META)
    except Conflict:
        return None


async def _levels(shop: PurchaseShop) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(sku, location id) -> (on hand, reserved, available) of every level of the shop."""
    found = await inventory_tables.levels_of(list(shop.shop.variants.values()), tenant_id=shop.id)
    return {(lv.sku, str(lv.location_id)): (lv.on_hand, lv.reserved, lv.available)
            for levels in found.values() for lv in levels}


async def test_an_orders_events_are_inserted_once_and_numbered_once_with_the_levels_and_number(
    make_tenant: Any,
) -> None:
    shop = await open_purchase_shop(make_tenant, stock=3)
    assert await _order(shop, ("MUG", 1)) is not None

    async with db.transaction(tenant_id=shop.id) as tx:
        before = await tx.connection.fetchrow(WRITTEN)
        order = await _order(shop, ("TEE-M", 4), ("MUG", 2))
        await tx.connection.execute("set constraints events_seq immediate")
        after = await tx.connection.fetchrow(WRITTEN)

    assert order is not None and order.number == 2
    written = (after["inserted"] - before["inserted"], after["updated"] - before["updated"])
    assert written == (3, 3), "inserted once each, numbered once each at commit"
    found = await outbox.list_events(tenant_id=shop.id, after_seq=shop.shop.seeded_seq)
    assert [event.seq for event in found] == list(range(shop.shop.seeded_seq + 1, shop.shop.seeded_seq + 6))
    held = found[-3:-1]
    assert {e.type for e in held} == {"inventory.reserved"}
    assert all(e.payload["orderId"] == str(order.id) for e in held)
    levels = await _levels(shop)
    assert {(e.payload["sku"], e.payload["locationId"]): (
        e.payload["onHand"], e.payload["reserved"], e.payload["available"]) for e in held
    } == {key: levels[key] for key in levels if levels[key][1]}, "each level as its hold left it"
    assert sorted((e.payload["sku"], e.payload["quantity"]) for e in held) == [("MUG", 2), ("TEE-M", 4)]
    created = found[-1]
    assert created.type == "order.created" and created.aggregate_id == str(order.id)
    assert created.payload["number"] == 2 and created.payload["total"] == order.total


async def test_an_order_leaves_the_event_counter_free_until_it_commits(make_tenant: Any) -> None:
    """Numbered as it wrote, an order held the tenant's counter row from its write to COMMIT,
    and the tenant's other orders queued behind it."""
    shop = await open_purchase_shop(make_tenant, stock=3)
    assert await _order(shop, ("MUG", 1)) is not None

    async def lock_counter() -> int:
        async with db.transaction(tenant_id=shop.id) as other:
            return int(await other.connection.fetchval(
                "select value from tenant_counters where tenant_id = $1 and name = 'events'"
                " for update nowait", shop.id))

    async with db.transaction(tenant_id=shop.id):
        assert await _order(shop, ("TEE-M", 1)) is not None
        counted = await asyncio.create_task(lock_counter())  # a task of its own: another transaction
    assert counted == shop.shop.seeded_seq + 2, "the first order's two events, not yet the second's"


async def test_orders_racing_purchase_batches_for_the_same_stock_never_deadlock_or_leave_a_gap(
    make_tenant: Any,
) -> None:
    """Orders and batches lock the stock rows, then the event counter at commit: one order of
    locks, whatever the lines' order."""
    shop = await open_purchase_shop(make_tenant, stock=6)
    mug_first = [("MUG", 1, 800), ("TEE-S", 1, 1500)]

    def racer(n: int) -> Any:
        if n % 2:
            first, second = ("TEE-S", 1), ("MUG", 1)
            return _order(shop, first, second) if n % 4 == 1 else _order(shop, second, first)
        lines = mug_first if n % 4 else mug_first[::-1]
        return as_batch(shop.id, batch(purchase(f"p{n}", lines), purchase(f"q{n}", lines[::-1])))

    found = await asyncio.gather(*(racer(n) for n in range(12)))

    orders_made = [made for n, made in enumerate(found) if n % 2 and made is not None]
    sold = sum(o is None for n, outcomes in enumerate(found) if not n % 2 for o in outcomes)
    refused = [o for n, outcomes in enumerate(found) if not n % 2 for o in outcomes if o is not None]
    assert all(o[0] == "Conflict" for o in refused), refused
    assert len(orders_made) + sold == 6, "each of the 6 units sold once"
    assert await shop.stock("MUG") == (6, 6) and await shop.stock("TEE-S") == (6, 6)
    seqs = [event.seq for event in await outbox.list_events(tenant_id=shop.id, limit=1000)]
    assert seqs == list(range(1, len(seqs) + 1)), "one gapless sequence"
    assert len(seqs) == shop.shop.seeded_seq + 6 * 3, "two holds and an order.created per sale"
