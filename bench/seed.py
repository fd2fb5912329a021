"""The benchmark dataset: 2 tenants, 10,000 products with 2 variants each, 20,000 customers,
50,000 orders with 2 lines each, stock at 3 locations. Bulk SQL as the owner (fast), then API
keys and webhook endpoints through the app's own functions."""

from __future__ import annotations

import dataclasses
from uuid import UUID

import asyncpg

from domain import tenancy
from domain.errors import NotFound
from tables import api_keys, tenants
from tables import webhooks as webhook_tables

PRODUCTS = 5_000  # per tenant
CUSTOMERS = 10_000
ORDERS = 25_000
LOCATIONS = 3

PRODUCTS_SQL = """
insert into products (id, tenant_id, handle, title, description, status, attributes,
                      created_at, updated_at)
select gen_random_uuid(), $1, 'product-' || n, 'Product ' || n, 'A product for load tests',
       'active', '{}'::jsonb, now() - (n || ' seconds')::interval, now()
from generate_series(1, $2::int) n
"""

VARIANTS_SQL = """
insert into variants (id, tenant_id, product_id, sku, title, attributes, price_amount, currency,
                      active, position, created_at)
select gen_random_uuid(), p.tenant_id, p.id, 'SKU-' || substr(p.handle, 9) || '-' || v, 'V' || v,
       '{}'::jsonb, 1000 + (v * 250), 'EUR', true, v - 1, now()
from products p, generate_series(1, 2) v where p.tenant_id = $1
"""

LOCATIONS_SQL = """
insert into locations (id, tenant_id, name, handle, active, created_at)
select gen_random_uuid(), $1, 'Location ' || n, 'loc-' || n, true, now()
from generate_series(1, $2::int) n
"""

STOCK_SQL = """
insert into stock_levels (id, tenant_id, variant_id, location_id, on_hand, reserved, updated_at)
select gen_random_uuid(), v.tenant_id, v.id, l.id, 1000000, 0, now()
from variants v join locations l on l.tenant_id = v.tenant_id where v.tenant_id = $1
"""

CUSTOMERS_SQL = """
insert into customers (id, tenant_id, email, email_key, first_name, last_name, phone, tags,
                       created_at, updated_at)
select gen_random_uuid(), $1, 'c' || n || '@example.com', 'c' || n || '@example.com',
       'First' || n, 'Last' || n, '', '{}', now() - (n || ' seconds')::interval, now()
from generate_series(1, $2::int) n
"""

ORDERS_SQL = """
with c as (select id, row_number() over (order by id) - 1 as r from customers where tenant_id = $1),
     v as (select id, sku, price_amount, row_number() over (order by id) - 1 as r
           from variants where tenant_id = $1),
     o as (
       insert into orders (id, tenant_id, number, customer_id, status, currency, subtotal,
                           discount_total, tax_total, total, created_at, updated_at)
       select gen_random_uuid(), $1, g, c.id, (array['pending','paid','fulfilled'])[1 + g % 3],
              'EUR', 0, 0, 0, 0, now() - (g || ' minutes')::interval, now()
       from generate_series(1, $2::int) g
       join c on c.r = g % (select count(*) from c)
       returning id, number
     )
insert into order_lines (id, tenant_id, order_id, variant_id, sku, title, quantity, unit_price,
                         discount, line_total, currency, position)
select gen_random_uuid(), $1, o.id, v.id, v.sku, 'Line', 1 + k, v.price_amount, 0,
       (1 + k) * v.price_amount, 'EUR', k
from o cross join generate_series(0, 1) k
join v on v.r = (o.number * 7 + k) % (select count(*) from v)
"""

TOTALS_SQL = """
update orders o set subtotal = s.t, total = s.t
from (select order_id, sum(line_total) t from order_lines where tenant_id = $1 group by order_id) s
where o.tenant_id = $1 and o.id = s.order_id
"""

COUNTER_SQL = """
select setval(format('order_numbers_%s', replace($1::uuid::text, '-', '')), $2)
"""



def _statements(tenant_id: UUID) -> list[tuple[str, tuple[object, ...]]]:
    return [
        (PRODUCTS_SQL, (tenant_id, PRODUCTS)),
        (VARIANTS_SQL, (tenant_id,)),
        (LOCATIONS_SQL, (tenant_id, LOCATIONS)),
        (STOCK_SQL, (tenant_id,)),
        (CUSTOMERS_SQL, (tenant_id, CUSTOMERS)),
        (ORDERS_SQL, (tenant_id, ORDERS)),
        # Without statistics of the rows just written, the second tenant's totals took a nested
        # loop over 25,000 x 50,000 rows (minutes); ANALYZE counts this transaction's own rows.
        ("analyze orders, order_lines", ()),
        (TOTALS_SQL, (tenant_id,)),
        (COUNTER_SQL, (tenant_id, ORDERS)),
    ]

@dataclasses.dataclass(frozen=True)
class Dataset:
    tenants: dict[str, UUID]
    keys: dict[str, str]
    webhook_secrets: dict[str, str]


async def seed(owner_dsn: str) -> Dataset:
    tenant_ids: dict[str, UUID] = {}
    for slug in ("bench-a", "bench-b"):
        try:
            tenant = await tenants.get_by_slug(slug)
        except NotFound:
            tenant = await tenants.create(slug=slug, name=slug, modules=tenancy.MODULES)
        await _fill(owner_dsn, tenant.id)
        tenant_ids[slug] = tenant.id
    keys, secrets = {}, {}
    for slug, tenant_id in tenant_ids.items():
        _, keys[slug] = await api_keys.create(tenant_id=tenant_id, name="bench", scopes={"admin"})
        found = {e.flow: e for e in await webhook_tables.list_endpoints(tenant_id=tenant_id)}
        endpoint = found.get("purchase-flow") or await webhook_tables.create_endpoint(
            "purchase-flow", tenant_id=tenant_id
        )
        secrets[slug] = endpoint.secrets[0]
    return Dataset(tenants=tenant_ids, keys=keys, webhook_secrets=secrets)


async def _fill(owner_dsn: str, tenant_id: UUID) -> None:
    """Once: a later run finds the products and reuses the data."""
    connection = await asyncpg.connect(owner_dsn)
    try:
        if await connection.fetchval("select count(*) from products where tenant_id = $1", tenant_id):
            return
        async with connection.transaction():
            for sql, params in _statements(tenant_id):
                await connection.execute(sql, *params)
        await connection.execute("analyze")
    finally:
        await connection.close()
