"""Inventory resolvers: stock reads through loaders, adjustments and counts checked here."""

from __future__ import annotations

import dataclasses
from typing import Any
from uuid import UUID

from domain import catalog, inventory
from domain.errors import Invalid, NotFound, require_valid
from resolvers import catalog as resolve_catalog
from resolvers import pagination
from resolvers.context import Context
from services import inventory as inventory_services
from tables import inventory as inventory_tables

READ = "inventory:read"
WRITE = "inventory:write"
HISTORY_ORDER = "created_at"


@dataclasses.dataclass(frozen=True)
class VariantRef:
    """A variant named in an input by its SKU or its id (exactly one of them)."""

    sku: str | None = None
    variant_id: UUID | None = None


async def location(ctx: Context, location_id: UUID) -> inventory.Location | None:
    ctx.require(READ)
    return await ctx.loaders.location.load(location_id)


async def locations(ctx: Context, active: bool | None) -> list[inventory.Location]:
    ctx.require(READ)
    found = await inventory_tables.list_locations(tenant_id=ctx.tenant_id, active=active)
    for row in found:
        ctx.loaders.location.prime(row.id, row)
    return found


async def create_location(ctx: Context, draft: inventory.LocationDraft) -> inventory.Location:
    ctx.require(WRITE)
    require_valid(inventory.check_location(draft))
    return await inventory_services.create_location(draft, tenant_id=ctx.tenant_id, meta=ctx.meta)


async def update_location(
    ctx: Context, location_id: UUID, patch: inventory.LocationPatch
) -> inventory.Location:
    ctx.require(WRITE)
    current = await ctx.loaders.location.load(location_id)
    if current is None:
        raise NotFound("location not found")
    draft = patch.apply(current)
    require_valid(inventory.check_location(draft))
    updated = await inventory_services.update_location(
        location_id, draft, tenant_id=ctx.tenant_id, meta=ctx.meta
    )
    ctx.loaders.location.clear(location_id)
    ctx.loaders.location.prime(location_id, updated)
    return updated


async def stock_levels(
    ctx: Context,
    *,
    page: pagination.Window,
    where: inventory.StockFilter,
    sort: inventory.StockSort,
    descending: bool,
) -> pagination.Page[inventory.StockLevel]:
    ctx.require(READ)
    order = pagination.ordering(sort.value, descending)
    key = page.key(order)
    rows = await inventory_tables.list_levels(
        tenant_id=ctx.tenant_id, where=where, sort=sort,
        descending=pagination.scan_descending(descending, page),
        after=None if key is None else _stock_cursor(key, sort, page.argument), limit=page.size + 1,
    )
    # Cursor values are strings; the quantities are turned back into numbers when read.
    return pagination.paginate_window(
        rows, page, lambda lv: (order, str(_sort_value(lv, sort)), lv.id),
        lambda: inventory_tables.count_levels(tenant_id=ctx.tenant_id, where=where),
    )


def _sort_value(level: inventory.StockLevel, sort: inventory.StockSort) -> str | int:
    values: dict[inventory.StockSort, str | int] = {
        inventory.StockSort.SKU: level.sku,
        inventory.StockSort.AVAILABLE: level.on_hand - level.reserved,
        inventory.StockSort.ON_HAND: level.on_hand,
    }
    return values[sort]


def _stock_cursor(key: tuple[Any, UUID], sort: inventory.StockSort, name: str) -> tuple[Any, UUID]:
    if sort == inventory.StockSort.SKU:
        return key
    try:
        return int(key[0]), key[1]
    except ValueError:
        raise Invalid(f"{name}: not a cursor from this connection", fields={name: "invalid"}) from None


async def stock_adjustments(
    ctx: Context,
    *,
    page: pagination.Window,
    where: inventory.AdjustmentFilter,
    descending: bool,
) -> pagination.Page[inventory.Adjustment]:
    ctx.require(READ)
    order = pagination.ordering(HISTORY_ORDER, descending)
    rows = await inventory_tables.list_adjustments(
        tenant_id=ctx.tenant_id, where=where, descending=pagination.scan_descending(descending, page),
        after=page.key(order), limit=page.size + 1,
    )
    return pagination.paginate_window(
        rows, page, lambda a: (order, a.created_at, a.id),
        lambda: inventory_tables.count_adjustments(tenant_id=ctx.tenant_id, where=where),
    )


async def adjust_stock(
    ctx: Context, ref: VariantRef, location_id: UUID, delta: int, reason: inventory.Reason, note: str
) -> tuple[inventory.StockLevel, inventory.Adjustment]:
    ctx.require(WRITE)
    change = inventory.Change(await _variant_id(ctx, ref), location_id, delta, reason, note)
    require_valid(inventory.check_change(change))
    return await inventory_services.adjust(change, tenant_id=ctx.tenant_id, meta=ctx.meta)


async def set_stock(
    ctx: Context, ref: VariantRef, location_id: UUID, quantity: int, note: str
) -> tuple[inventory.StockLevel, inventory.Adjustment | None]:
    ctx.require(WRITE)
    require_valid(inventory.check_count(quantity, note))
    variant_id = await _variant_id(ctx, ref)
    return await inventory_services.set_stock(
        variant_id, location_id, quantity, note, tenant_id=ctx.tenant_id, meta=ctx.meta
    )


async def _variant_id(ctx: Context, ref: VariantRef) -> UUID:
    if ref.variant_id is not None and ref.sku is None:
        return ref.variant_id
    if ref.sku is None or ref.variant_id is not None:
        raise Invalid("give either sku or variantId", fields={"input": "give either sku or variantId"})
    found = await ctx.loaders.variant_by_sku.load(ref.sku)
    if found is None:
        raise Invalid(f"no variant has SKU {ref.sku!r}", fields={"input.sku": "no such SKU"})
    return found.id


async def stock_of(ctx: Context, variant_id: UUID) -> list[inventory.StockLevel]:
    ctx.require(READ)
    return await ctx.loaders.stock.load(variant_id)


async def available_of(ctx: Context, variant_id: UUID) -> int:
    ctx.require(READ)
    return await ctx.loaders.available.load(variant_id) or 0


async def location_of(ctx: Context, location_id: UUID) -> inventory.Location:
    ctx.require(READ)
    found = await ctx.loaders.location.load(location_id)
    if found is None:
        raise NotFound("location not found")
    return found


async def variant_of(ctx: Context, sku: str) -> catalog.Variant:
    """The variant of a stock row; its details are catalog data and need that scope too."""
    ctx.require(READ)
    ctx.require(resolve_catalog.READ)
    found = await ctx.loaders.variant_by_sku.load(sku)
    if found is None:
        raise NotFound("variant not found")
    return found
