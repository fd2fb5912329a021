"""Catalog resolvers: reads through loaders, writes checked by the tenant's catalog rules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from domain import catalog
from domain.errors import NotFound, require_valid
from resolvers import pagination
from resolvers.context import Context
from services import catalog as catalog_services
from tables import catalog as catalog_tables

READ = "catalog:read"
WRITE = "catalog:write"
SORT_KINDS = pagination.sort_kinds(catalog.ProductSort, catalog.Product)


async def product(ctx: Context, product_id: UUID) -> catalog.Product | None:
    ctx.require(READ)
    return await ctx.loaders.product.load(product_id)


async def product_by_sku(ctx: Context, sku: str) -> catalog.Product | None:
    ctx.require(READ)
    variant = await ctx.loaders.variant_by_sku.load(sku)
    return None if variant is None else await ctx.loaders.product.load(variant.product_id)


async def products(
    ctx: Context,
    *,
    page: pagination.Window,
    where: catalog.ProductFilter,
    sort: catalog.ProductSort,
    descending: bool,
) -> pagination.Page[catalog.Product]:
    ctx.require(READ)
    order = pagination.ordering(sort.value, descending)
    rows = await catalog_tables.list_products(
        tenant_id=ctx.tenant_id, where=where, sort=sort,
        descending=pagination.scan_descending(descending, page),
        after=page.key(order, SORT_KINDS[sort.value]), limit=page.size + 1,
    )
    for row in rows:
        ctx.loaders.product.prime(row.id, row)
    return pagination.paginate_window(
        rows, page, lambda p: (order, getattr(p, sort.value), p.id),
        lambda: catalog_tables.count_products(tenant_id=ctx.tenant_id, where=where),
    )


async def variants(ctx: Context, product_id: UUID) -> list[catalog.Variant]:
    ctx.require(READ)
    return await ctx.loaders.variants.load(product_id)


async def category(ctx: Context, category_id: UUID | None) -> catalog.Category | None:
    ctx.require(READ)
    return None if category_id is None else await ctx.loaders.category.load(category_id)


async def categories(ctx: Context) -> list[catalog.Category]:
    ctx.require(READ)
    return await catalog_tables.list_categories(tenant_id=ctx.tenant_id)


async def create_product(
    ctx: Context, draft: catalog.ProductDraft, variants: Sequence[catalog.VariantDraft]
) -> catalog.Product:
    ctx.require(WRITE)
    rules = ctx.services.catalog_rules
    errors = rules.check_product(draft)
    for index, variant in enumerate(variants):
        errors.update(rules.check_variant(variant, f"input.variants[{index}]"))
    require_valid(errors)
    return await catalog_services.create_product(draft, variants, tenant_id=ctx.tenant_id, meta=ctx.meta)


async def update_product(
    ctx: Context, product_id: UUID, patch: catalog.ProductPatch
) -> catalog.Product:
    ctx.require(WRITE)
    current = await _existing_product(ctx, product_id)
    draft = patch.apply(current)
    require_valid(ctx.services.catalog_rules.check_product(draft))
    updated = await catalog_services.update_product(product_id, draft, tenant_id=ctx.tenant_id, meta=ctx.meta)
    ctx.loaders.product.clear(product_id)
    ctx.loaders.product.prime(product_id, updated)
    return updated


async def archive_product(ctx: Context, product_id: UUID) -> catalog.Product:
    return await update_product(
        ctx, product_id, catalog.ProductPatch(status=catalog.ProductStatus.ARCHIVED)
    )


async def add_variant(
    ctx: Context, product_id: UUID, draft: catalog.VariantDraft
) -> catalog.Variant:
    ctx.require(WRITE)
    require_valid(ctx.services.catalog_rules.check_variant(draft, "input"))
    return await catalog_services.add_variant(product_id, draft, tenant_id=ctx.tenant_id, meta=ctx.meta)


async def update_variant(
    ctx: Context, variant_id: UUID, patch: catalog.VariantPatch
) -> catalog.Variant:
    ctx.require(WRITE)
    current = await catalog_tables.get_variant(variant_id, tenant_id=ctx.tenant_id)
    draft = patch.apply(current)
    require_valid(ctx.services.catalog_rules.check_variant(draft, "input"))
    return await catalog_services.update_variant(variant_id, draft, tenant_id=ctx.tenant_id, meta=ctx.meta)


async def create_category(
    ctx: Context, *, name: str, handle: str, parent_id: UUID | None
) -> catalog.Category:
    ctx.require(WRITE)
    errors: dict[str, Any] = {}
    if not name.strip() or len(name) > catalog.MAX_TITLE:
        errors["input.name"] = f"must be 1-{catalog.MAX_TITLE} characters"
    if not catalog.HANDLE.fullmatch(handle):
        errors["input.handle"] = "must be lowercase words joined by '-'"
    require_valid(errors)
    return await catalog_services.create_category(
        name=name, handle=handle, parent_id=parent_id, tenant_id=ctx.tenant_id, meta=ctx.meta
    )


async def _existing_product(ctx: Context, product_id: UUID) -> catalog.Product:
    found = await ctx.loaders.product.load(product_id)
    if found is None:
        raise NotFound("product not found")
    return found


async def find_by_attributes(
    ctx: Context, attributes: dict[str, str], first: int | None
) -> list[catalog.Product]:
    ctx.require(READ)
    size = pagination.page_size(first, ctx.settings.max_page_size)
    found = await catalog_tables.find_by_attributes(attributes, tenant_id=ctx.tenant_id, limit=size)
    for row in found:
        ctx.loaders.product.prime(row.id, row)
    return found
