"""Pricing resolvers: price lists, variants' prices in them, and the list a request selects."""

from __future__ import annotations

from typing import TypeVar
from uuid import UUID

from domain import catalog, pricing
from domain.errors import Invalid, NotFound
from resolvers import loaders, pagination
from resolvers.context import Context
from services import pricing as pricing_services
from tables import pricing as pricing_tables

READ = "pricing:read"
WRITE = "pricing:write"
K = TypeVar("K")


async def selected_list(ctx: Context) -> pricing.PriceList | None:
    """The price list named by the request's X-Price-List header; an unknown one is bad input."""
    if ctx.price_list is None:
        return None
    ctx.require(READ)
    found = await ctx.loaders.price_list_by_handle.load(ctx.price_list)
    if found is None:
        raise Invalid(
            f"X-Price-List: this tenant has no price list {ctx.price_list!r}",
            fields={"X-Price-List": "unknown price list"},
        )
    return found


async def quote(ctx: Context, variant_id: UUID) -> pricing.Quote:
    """The variant's price in the selected list when it has one there, else its base price.
    Whoever may see the variant may see its base price; selecting a list needs pricing:read."""
    selected = await selected_list(ctx)
    found = await ctx.loaders.quotes(None if selected is None else selected.id).load(variant_id)
    if found is None:
        raise NotFound("variant not found")
    return found


async def variant_prices(ctx: Context, variant_id: UUID) -> list[pricing.Quote]:
    ctx.require(READ)
    return await ctx.loaders.variant_prices.load(variant_id)


async def price_list(ctx: Context, price_list_id: UUID | None) -> pricing.PriceList | None:
    ctx.require(READ)
    return None if price_list_id is None else await ctx.loaders.price_list.load(price_list_id)


async def price_lists(
    ctx: Context,
    *,
    page: pagination.Window,
    where: pricing.PriceListFilter,
    sort: pricing.PriceListSort,
    descending: bool,
) -> pagination.Page[pricing.PriceList]:
    ctx.require(READ)
    order = pagination.ordering(sort.value, descending)
    rows = await pricing_tables.list_price_lists(
        tenant_id=ctx.tenant_id, where=where, sort=sort,
        descending=pagination.scan_descending(descending, page), after=page.key(order),
        limit=page.size + 1,
    )
    for row in rows:
        ctx.loaders.price_list.prime(row.id, row)
    return pagination.paginate_window(
        rows, page, lambda p: (order, getattr(p, sort.value), p.id),
        lambda: pricing_tables.count_price_lists(tenant_id=ctx.tenant_id, where=where),
    )


async def create_price_list(ctx: Context, draft: pricing.PriceListDraft) -> pricing.PriceList:
    ctx.require(WRITE)
    return await pricing_services.create_price_list(draft, tenant_id=ctx.tenant_id, meta=ctx.meta)


async def update_price_list(
    ctx: Context, price_list_id: UUID, patch: pricing.PriceListPatch
) -> pricing.PriceList:
    ctx.require(WRITE)
    updated = await pricing_services.update_price_list(
        price_list_id, patch, tenant_id=ctx.tenant_id, meta=ctx.meta
    )
    ctx.loaders.price_list.prime(price_list_id, updated, force=True)
    return updated


async def delete_price_list(ctx: Context, price_list_id: UUID) -> pricing.PriceList:
    ctx.require(WRITE)
    deleted = await pricing_services.delete_price_list(
        price_list_id, tenant_id=ctx.tenant_id, meta=ctx.meta
    )
    loaders.forget(ctx.loaders.price_list, price_list_id)
    return deleted


async def set_variant_price(
    ctx: Context,
    *,
    price_list_id: UUID,
    variant_id: UUID,
    price: catalog.Money,
    compare_at: catalog.Money | None,
) -> pricing.Quote:
    ctx.require(WRITE)
    quote = await pricing_services.set_variant_price(
        price_list_id, variant_id, price, compare_at, tenant_id=ctx.tenant_id, meta=ctx.meta
    )
    _forget_prices(ctx, variant_id, price_list_id)
    return quote


async def remove_variant_price(
    ctx: Context, *, price_list_id: UUID, variant_id: UUID
) -> pricing.Quote:
    ctx.require(WRITE)
    removed = await pricing_services.remove_variant_price(
        price_list_id, variant_id, tenant_id=ctx.tenant_id, meta=ctx.meta
    )
    _forget_prices(ctx, variant_id, price_list_id)
    return removed


async def set_compare_at(
    ctx: Context, variant_id: UUID, compare_at: catalog.Money | None
) -> pricing.Quote:
    """The compare-at price of the variant's base price; None clears it."""
    ctx.require(WRITE)
    quote = await pricing_services.set_compare_at(
        variant_id, compare_at, tenant_id=ctx.tenant_id, meta=ctx.meta
    )
    _forget_prices(ctx, variant_id)
    return quote


def _forget_prices(ctx: Context, variant_id: UUID, price_list_id: UUID | None = None) -> None:
    """Later fields of the same operation read the price just written."""
    loaders.forget(ctx.loaders.variant_prices, variant_id)
    for list_id in {None, price_list_id}:
        loaders.forget(ctx.loaders.quotes(list_id), variant_id)


