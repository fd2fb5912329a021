"""banban's resolvers: fashion attributes of a product, and sell-through."""

from __future__ import annotations

from datetime import datetime

from domain import catalog, metrics
from extensions.banban import fashion
from extensions.banban import tables as fashion_tables
from resolvers import catalog as resolve_catalog
from resolvers.context import Context
from resolvers.metrics import READ


async def attributes(ctx: Context, product: catalog.Product) -> fashion.FashionAttributes:
    return fashion.summarize(product, await resolve_catalog.variants(ctx, product.id))


async def sell_through(
    ctx: Context, *, start: datetime, end: datetime, by: fashion.SellThroughBy
) -> list[fashion.SellThrough]:
    ctx.require(READ)
    found = metrics.window(start, end, metrics.Granularity.MONTH)
    return await fashion_tables.sell_through(by, tenant_id=ctx.tenant_id, window=found)
