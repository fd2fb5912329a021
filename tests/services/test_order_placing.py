"""createOrder writes its order, lines, stock and holds in one statement once the stock rows are
locked and allocated: the rules of reserving hold through it (split lines, the last unit sold
once, no deadlock whatever the line order, a refused order takes no number), its events come
as before, and it costs a fixed number of round trips."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bench import sql
from domain import orders
from domain.errors import Conflict
from services import orders as order_services
from tables import db
from tables import orders as order_tables
from tests.documents import META
from tests.stock import MODULES, Shop, open_shop


@pytest.fixture
async def shop(make_tenant: Any) -> Shop:
    tenant = await make_tenant(modules=MODULES)
    return await open_shop(tenant.id, ("MUG", "CUP"), ("main", "annex"))


async def place(shop: Shop, *lines: tuple[str, int]) -> orders.Order | None:
    """The order made, or None when refused for short stock."""
    request = orders.OrderRequest(
        customer_id=None,
        lines=tuple(orders.LineRequest(quantity, variant_id=shop.variants[sku]) for sku, quantity in lines),
    )
    try:
        return await order_services.create_order(
            request, price_list=None, tenant_id=shop.tenant_id, meta=META
        )
    except Conflict as error:
        assert error.message.startswith("insufficient stock for SKU"), error.message
        return None


async def test_a_line_split_across_locations_is_held_at_both_and_told_in_order(shop: Shop) -> None:
    await shop.receive("MUG", "main", 2)
    await shop.receive("MUG", "annex", 3)
    before = await shop.event_types()

    order = await place(shop, ("MUG", 4))

    assert order is not None and order.number == 1
    assert await shop.levels("MUG") == {"annex": (3, 3), "main": (2, 1)}
    assert (await shop.event_types())[len(before):] == [
        "inventory.reserved", "inventory.reserved", "order.created"
    ]
    lines = await order_tables.lines_of([order.id], tenant_id=shop.tenant_id)
    assert [(line.sku, line.quantity) for line in lines[order.id]] == [("MUG", 4)]


async def test_the_last_unit_raced_by_many_orders_is_sold_once_and_numbered_once(shop: Shop) -> None:
    await shop.receive("MUG", "main", 1)

    made = await asyncio.gather(*(place(shop, ("MUG", 1)) for _ in range(10)))

    winners = [order for order in made if order is not None]
    assert len(winners) == 1 and winners[0].number == 1, "a refused order takes no number"
    assert (await shop.levels("MUG"))["main"] == (1, 1)
    assert await shop.available("MUG") == 0
    assert await place(shop, ("CUP", 1)) is None, "no CUP on hand"
    await shop.receive("CUP", "annex", 1)
    next_one = await place(shop, ("CUP", 1))
    assert next_one is not None and next_one.number == 2, "the refused orders took no number"


async def test_orders_naming_lines_in_either_order_never_deadlock(shop: Shop) -> None:
    for handle in ("main", "annex"):
        await shop.receive("MUG", handle, 4)
        await shop.receive("CUP", handle, 4)

    made = await asyncio.gather(*(
        place(shop, ("MUG", 1), ("CUP", 1)) if n % 2 else place(shop, ("CUP", 1), ("MUG", 1))
        for n in range(12)
    ))

    assert sum(order is not None for order in made) == 8
    assert await shop.available("MUG") == await shop.available("CUP") == 0
    assert sorted(order.number for order in made if order is not None) == list(range(1, 9))


async def test_a_create_order_costs_four_round_trips(shop: Shop) -> None:
    """BEGIN with the tenant, the read (customer, variants, products, prices) with the stock
    lock, the write (order, lines, stock, holds, events), COMMIT."""
    await shop.receive("MUG", "main", 5)

    with sql.counting() as sent:
        assert await place(shop, ("MUG", 1)) is not None

    assert len(sent) == 4, sent
    assert db.GENERIC_PLANS in sent[0], "planned once per connection, not at every call"


async def test_a_keyed_create_costs_five_round_trips_and_its_replay_three(shop: Shop) -> None:
    """The key is looked up in the order's own transaction (one statement more), not in a
    transaction of its own (three more)."""
    await shop.receive("MUG", "main", 5)
    request = orders.OrderRequest(
        customer_id=None, lines=(orders.LineRequest(1, variant_id=shop.variants["MUG"]),),
        idempotency_key="once",
    )

    async def create() -> tuple[orders.Order, int]:
        with sql.counting() as sent:
            made = await order_services.create_order(
                request, price_list=None, tenant_id=shop.tenant_id, meta=META
            )
        return made, len(sent)

    (first, creating), (again, replaying) = await create(), await create()

    assert again == first and (creating, replaying) == (5, 3)
    assert await shop.available("MUG") == 4
