"""Catalog writes: products, variants and categories, each checked, written and announced
in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from domain import catalog, events
from tables import catalog as catalog_tables
from tables import db
from tables import events as outbox


async def create_product(
    draft: catalog.ProductDraft,
    variants: Sequence[catalog.VariantDraft],
    *,
    tenant_id: UUID,
    meta: events.WriteMeta,
) -> catalog.Product:
    async with db.transaction(tenant_id=tenant_id):
        await catalog_tables.check_category(draft.category_id, tenant_id=tenant_id, path="input.categoryId")
        await catalog_tables.check_handle_free(draft.handle, tenant_id=tenant_id)
        await catalog_tables.check_skus_free(
            [v.sku for v in variants],
            [f"input.variants[{i}].sku" for i in range(len(variants))],
            tenant_id=tenant_id,
        )
        product = await catalog_tables.insert_product(draft, tenant_id=tenant_id)
        created = [
            await catalog_tables.insert_variant(variant, product.id, position, tenant_id=tenant_id)
            for position, variant in enumerate(variants)
        ]
        await outbox.append(
            [events.draft("product.created", product.id, catalog.product_payload(product, created))],
            tenant_id=tenant_id, meta=meta,
        )
    return product


async def update_product(
    product_id: UUID, draft: catalog.ProductDraft, *, tenant_id: UUID, meta: events.WriteMeta
) -> catalog.Product:
    async with db.transaction(tenant_id=tenant_id):
        current = await catalog_tables.get_product(product_id, tenant_id=tenant_id)
        await catalog_tables.check_category(draft.category_id, tenant_id=tenant_id, path="input.categoryId")
        if draft.handle != current.handle:
            await catalog_tables.check_handle_free(draft.handle, tenant_id=tenant_id)
        product = await catalog_tables.update_product(product_id, draft, tenant_id=tenant_id)
        kind = "product.archived" if catalog.archived(current, product) else "product.updated"
        await outbox.append(
            [events.draft(kind, product.id, catalog.product_payload(product))],
            tenant_id=tenant_id, meta=meta,
        )
    return product


async def add_variant(
    product_id: UUID, draft: catalog.VariantDraft, *, tenant_id: UUID, meta: events.WriteMeta
) -> catalog.Variant:
    async with db.transaction(tenant_id=tenant_id):
        await catalog_tables.get_product(product_id, tenant_id=tenant_id)
        await catalog_tables.check_skus_free([draft.sku], ["input.sku"], tenant_id=tenant_id)
        position = await catalog_tables.variant_count(product_id, tenant_id=tenant_id)
        variant = await catalog_tables.insert_variant(draft, product_id, position, tenant_id=tenant_id)
        await outbox.append(
            [events.draft("variant.created", variant.id, catalog.variant_payload(variant))],
            tenant_id=tenant_id, meta=meta,
        )
    return variant


async def update_variant(
    variant_id: UUID, draft: catalog.VariantDraft, *, tenant_id: UUID, meta: events.WriteMeta
) -> catalog.Variant:
    async with db.transaction(tenant_id=tenant_id):
        variant = await catalog_tables.update_variant(variant_id, draft, tenant_id=tenant_id)
        await outbox.append(
            [events.draft("variant.updated", variant.id, catalog.variant_payload(variant))],
            tenant_id=tenant_id, meta=meta,
        )
    return variant


async def create_category(
    *, name: str, handle: str, parent_id: UUID | None, tenant_id: UUID, meta: events.WriteMeta
) -> catalog.Category:
    async with db.transaction(tenant_id=tenant_id):
        await catalog_tables.check_category(parent_id, tenant_id=tenant_id, path="input.parentId")
        category = await catalog_tables.insert_category(
            name=name, handle=handle, parent_id=parent_id, tenant_id=tenant_id
        )
        await outbox.append(
            [events.draft("category.created", category.id, {"name": name, "handle": handle})],
            tenant_id=tenant_id, meta=meta,
        )
    return category
