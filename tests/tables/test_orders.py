"""Every tenant-scoped lookup behind the customer, order and payment loaders, asked with
tenant B's id for tenant A's keys, finds nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from domain import catalog, customers, orders, payments
from domain.config import Settings
from services import customers as customer_services
from services import orders as order_services
from services import payments as payment_services
from tables import catalog as catalog_tables
from tables import customers as customer_tables
from tables import db
from tables import orders as order_tables
from tables import payments as payment_tables
from tests.documents import META
from tests.shop import Shop, open_shop


async def a_and_b(make_tenant: Any) -> tuple[Shop, Shop, orders.Order, payments.Payment]:
    a, b = await open_shop(make_tenant), await open_shop(make_tenant)
    request = orders.OrderRequest(
        customer_id=a.customer_id, lines=(orders.LineRequest(2, variant_id=a.variants["MUG"]),)
    )
    placed = await order_services.create_order(request, price_list=None, tenant_id=a.id, meta=META)
    draft = payments.PaymentDraft(payments.PaymentKind.CAPTURE, catalog.Money(100, "EUR"))
    made, _ = await payment_services.record(placed.id, draft, tenant_id=a.id, meta=META)
    address = customers.AddressDraft(line1="1 Main St", city="Berlin", country="DE")
    await customer_services.add_address(a.customer_id, address, tenant_id=a.id, meta=META)
    return a, b, placed, made


async def test_lookups_by_a_keys_with_b_tenant_find_nothing(make_tenant: Any) -> None:
    a, b, placed, made = await a_and_b(make_tenant)
    history = orders.HistoryKey(customer_id=a.customer_id, limit=10)
    a_email = (await customer_tables.get_customer(a.customer_id, tenant_id=a.id)).email

    lookups: dict[str, tuple[Any, list[Any]]] = {
        "get_customers": (customer_tables.get_customers, [a.customer_id]),
        "customers_by_email": (customer_tables.customers_by_email, [a_email]),
        "addresses_of": (customer_tables.addresses_of, [a.customer_id]),
        "get_orders": (order_tables.get_orders, [placed.id]),
        "orders_by_number": (order_tables.orders_by_number, [placed.number]),
        "lines_of": (order_tables.lines_of, [placed.id]),
        "get_payments": (payment_tables.get_payments, [made.id]),
        "payments_of": (payment_tables.payments_of, [placed.id]),
        "get_variants": (catalog_tables.get_variants, [a.variants["MUG"]]),
    }
    for name, (fetch, keys) in lookups.items():
        assert await fetch(keys, tenant_id=a.id), f"{name} finds A's rows for A"
        assert not await fetch(keys, tenant_id=b.id), f"{name} leaks A's rows to B"
    assert await order_tables.histories([history], tenant_id=a.id) == {history: [placed]}
    assert await order_tables.histories([history], tenant_id=b.id) == {history: []}


async def test_lists_with_b_tenant_hold_none_of_a(make_tenant: Any) -> None:
    a, b, placed, _ = await a_and_b(make_tenant)

    customers_of_b = await customer_tables.list_customers(
        tenant_id=b.id, where=customers.CustomerFilter(), sort=customers.CustomerSort.CREATED_AT,
        descending=False, after=None, limit=100,
    )
    orders_of_b = await order_tables.list_orders(
        tenant_id=b.id, where=orders.OrderFilter(customer_id=a.customer_id),
        sort=orders.OrderSort.CREATED_AT, descending=False, after=None, limit=100,
    )
    payments_of_b = await payment_tables.list_payments(
        tenant_id=b.id, where=payments.PaymentFilter(order_id=placed.id), descending=False,
        after=None, limit=100,
    )

    assert [c.id for c in customers_of_b] == [b.customer_id]
    assert orders_of_b == [] and payments_of_b == []


async def test_order_numbers_are_taken_only_for_the_transactions_own_tenant(make_tenant: Any) -> None:
    a, b = await make_tenant(["catalog"]), await make_tenant(["catalog"])

    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with db.transaction(tenant_id=a.id) as tx:
            await tx.connection.fetchval("select tg_next_order_number($1)", b.id)

    assert await order_tables.next_number(tenant_id=b.id) == 1


async def test_an_open_order_transaction_makes_no_other_order_wait_for_its_number(make_tenant: Any) -> None:
    tenant = await make_tenant(["catalog"])
    numbered, release = asyncio.Event(), asyncio.Event()

    async def slow() -> int:
        async with db.transaction(tenant_id=tenant.id):
            number = await order_tables.next_number(tenant_id=tenant.id)
            numbered.set()
            await release.wait()
        return number

    held = asyncio.create_task(slow())
    await numbered.wait()
    quick = await asyncio.wait_for(order_tables.next_number(tenant_id=tenant.id), 10)
    release.set()

    assert (await held, quick) == (1, 2)


async def test_a_tenant_without_its_sequence_continues_from_the_counter_kept_before(
    make_tenant: Any, settings: Settings
) -> None:
    tenant = await make_tenant(["catalog"])
    async with db.transaction(tenant_id=tenant.id) as tx:
        await tx.connection.execute(
            "insert into tenant_counters (tenant_id, name, value) values ($1, 'orders', 41)", tenant.id
        )
    owner = await asyncpg.connect(settings.database_url)
    try:
        await owner.execute(f"drop sequence order_numbers_{tenant.id.hex}")
    finally:
        await owner.close()

    assert await order_tables.next_number(tenant_id=tenant.id) == 42
    assert await order_tables.next_number(tenant_id=tenant.id) == 43
