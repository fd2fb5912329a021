"""Catalog tables and their tenant-scoped queries and statements (the workflows that write
them are services.catalog)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from piccolo.columns import (
    JSONB,
    BigInt,
    Boolean,
    Integer,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns import (
    UUID as UUIDColumn,
)
from piccolo.query import WhereRaw
from piccolo.table import Table

from domain import catalog
from domain.errors import Invalid, NotFound
from tables import counting, db
from tables.engine import DB


class CategoryTable(Table, tablename="categories", db=DB):
    id = UUIDColumn(primary_key=True)
    tenant_id = UUIDColumn()
    name = Varchar(length=catalog.MAX_TITLE)
    handle = Varchar(length=catalog.MAX_HANDLE)
    parent_id = UUIDColumn(null=True, default=None)
    created_at = Timestamptz()


class ProductTable(Table, tablename="products", db=DB):
    id = UUIDColumn(primary_key=True)
    tenant_id = UUIDColumn()
    handle = Varchar(length=catalog.MAX_HANDLE)
    title = Varchar(length=catalog.MAX_TITLE)
    description = Text(default="")
    status = Varchar(length=16, default="active")
    category_id = UUIDColumn(null=True, default=None)
    attributes = JSONB(default={})
    created_at = Timestamptz()
    updated_at = Timestamptz()


class VariantTable(Table, tablename="variants", db=DB):
    id = UUIDColumn(primary_key=True)
    tenant_id = UUIDColumn()
    product_id = UUIDColumn()
    sku = Varchar(length=catalog.MAX_SKU)
    title = Varchar(length=catalog.MAX_TITLE, default="")
    attributes = JSONB(default={})
    price_amount = BigInt()
    compare_at_amount = BigInt(null=True, default=None)
    currency = Varchar(length=3)
    active = Boolean(default=True)
    position = Integer(default=0)
    created_at = Timestamptz()


def _product(row: dict[str, Any]) -> catalog.Product:
    return catalog.Product(
        id=row["id"],
        handle=row["handle"],
        title=row["title"],
        description=row["description"],
        status=catalog.ProductStatus(row["status"]),
        category_id=row["category_id"],
        attributes=db.json_field(row["attributes"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _variant(row: dict[str, Any]) -> catalog.Variant:
    return catalog.Variant(
        id=row["id"],
        product_id=row["product_id"],
        sku=row["sku"],
        title=row["title"],
        attributes=db.json_field(row["attributes"]),
        price=catalog.Money(amount=row["price_amount"], currency=row["currency"]),
        active=row["active"],
    )


def _category(row: dict[str, Any]) -> catalog.Category:
    return catalog.Category(
        id=row["id"], name=row["name"], handle=row["handle"], parent_id=row["parent_id"]
    )


async def get_products(ids: Sequence[UUID], *, tenant_id: UUID) -> dict[UUID, catalog.Product]:
    async with db.transaction(tenant_id=tenant_id):
        rows = await ProductTable.select().where(
            ProductTable.tenant_id == tenant_id, ProductTable.id.is_in(list(ids))
        )
    return {row["id"]: _product(row) for row in rows}


async def get_product(product_id: UUID, *, tenant_id: UUID) -> catalog.Product:
    found = await get_products([product_id], tenant_id=tenant_id)
    if product_id not in found:
        raise NotFound("product not found")
    return found[product_id]


async def variants_of(
    product_ids: Sequence[UUID], *, tenant_id: UUID
) -> dict[UUID, list[catalog.Variant]]:
    async with db.transaction(tenant_id=tenant_id):
        rows = await VariantTable.select().where(
            VariantTable.tenant_id == tenant_id, VariantTable.product_id.is_in(list(product_ids))
        ).order_by(VariantTable.position, VariantTable.sku)
    grouped: dict[UUID, list[catalog.Variant]] = defaultdict(list)
    for row in rows:
        grouped[row["product_id"]].append(_variant(row))
    return grouped


async def variants_by_sku(
    skus: Sequence[str], *, tenant_id: UUID
) -> dict[str, catalog.Variant]:
    async with db.transaction(tenant_id=tenant_id):
        rows = await VariantTable.select().where(
            VariantTable.tenant_id == tenant_id, VariantTable.sku.is_in(list(skus))
        )
    return {row["sku"]: _variant(row) for row in rows}


async def variants_by_sku_with_products(
    skus: Sequence[str], *, tenant_id: UUID
) -> tuple[dict[str, catalog.Variant], dict[UUID, catalog.Product]]:
    """Variants by sku and their products, in one query (an order sells and prices both)."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        rows = await tx.connection.fetch(
            """
            select v.*, p as product from variants v
            join products p on p.tenant_id = v.tenant_id and p.id = v.product_id
            where v.tenant_id = $1 and v.sku = any($2::text[])
            """,
            tenant_id, list(skus),
        )
    variants = {row["sku"]: _variant(row) for row in rows}
    products = {row["product"]["id"]: _product(row["product"]) for row in rows}
    return variants, products


async def get_variants(ids: Sequence[UUID], *, tenant_id: UUID) -> dict[UUID, catalog.Variant]:
    async with db.transaction(tenant_id=tenant_id):
        rows = await VariantTable.select().where(
            VariantTable.tenant_id == tenant_id, VariantTable.id.is_in(list(ids))
        )
    return {row["id"]: _variant(row) for row in rows}


async def get_variant(variant_id: UUID, *, tenant_id: UUID) -> catalog.Variant:
    async with db.transaction(tenant_id=tenant_id):
        row = await VariantTable.select().where(
            VariantTable.tenant_id == tenant_id, VariantTable.id == variant_id
        ).first()
    if row is None:
        raise NotFound("variant not found")
    return _variant(row)


async def list_products(
    *,
    tenant_id: UUID,
    where: catalog.ProductFilter,
    sort: catalog.ProductSort,
    descending: bool,
    after: tuple[Any, UUID] | None,
    limit: int,
) -> list[catalog.Product]:
    """One keyset page: rows strictly after `after` = (sort value, id) in the given order."""
    column = getattr(ProductTable, sort.value)
    query = ProductTable.select().where(ProductTable.tenant_id == tenant_id)
    for condition in _filters(where):
        query = query.where(condition)
    if after is not None:
        op = "<" if descending else ">"
        query = query.where(WhereRaw(f"({sort.value}, id) {op} ({{}}, {{}})", after[0], after[1]))
    query = query.order_by(column, ProductTable.id, ascending=not descending).limit(limit)
    async with db.transaction(tenant_id=tenant_id):
        rows = await query
    return [_product(row) for row in rows]


async def count_products(*, tenant_id: UUID, where: catalog.ProductFilter) -> int:
    """How many products `where` selects (list_products' filters, every page)."""
    return await counting.count_rows(ProductTable, _filters(where), tenant_id=tenant_id)


def _filters(where: catalog.ProductFilter) -> list[Any]:
    conditions: list[Any] = []
    if where.status is not None:
        conditions.append(ProductTable.status == where.status.value)
    if where.category_id is not None:
        conditions.append(ProductTable.category_id == where.category_id)
    if where.handle is not None:
        conditions.append(ProductTable.handle == where.handle)
    if where.search:
        escaped = where.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(ProductTable.title.ilike(f"%{escaped}%"))
    return conditions


async def insert_product(draft: catalog.ProductDraft, *, tenant_id: UUID) -> catalog.Product:
    async with db.transaction(tenant_id=tenant_id):
        rows = await db.unique(ProductTable.insert(ProductTable(
            tenant_id=tenant_id,
            handle=draft.handle,
            title=draft.title,
            description=draft.description,
            status=draft.status.value,
            category_id=draft.category_id,
            attributes=dict(draft.attributes),
        )).returning(*ProductTable.all_columns()))
    return _product(rows[0])


async def update_product(
    product_id: UUID, draft: catalog.ProductDraft, *, tenant_id: UUID
) -> catalog.Product:
    async with db.transaction(tenant_id=tenant_id):
        rows = await db.unique(ProductTable.update({
            ProductTable.handle: draft.handle,
            ProductTable.title: draft.title,
            ProductTable.description: draft.description,
            ProductTable.status: draft.status.value,
            ProductTable.category_id: draft.category_id,
            ProductTable.attributes: dict(draft.attributes),
            ProductTable.updated_at: datetime.now(UTC),
        }).where(
            ProductTable.tenant_id == tenant_id, ProductTable.id == product_id
        ).returning(*ProductTable.all_columns()))
    return _product(rows[0])


async def variant_count(product_id: UUID, *, tenant_id: UUID) -> int:
    async with db.transaction(tenant_id=tenant_id):
        return int(await VariantTable.count().where(
            VariantTable.tenant_id == tenant_id, VariantTable.product_id == product_id
        ))


async def update_variant(
    variant_id: UUID, draft: catalog.VariantDraft, *, tenant_id: UUID
) -> catalog.Variant:
    async with db.transaction(tenant_id=tenant_id):
        rows = await VariantTable.update({
            VariantTable.title: draft.title,
            VariantTable.price_amount: draft.price.amount,
            VariantTable.currency: draft.price.currency,
            VariantTable.attributes: dict(draft.attributes),
            VariantTable.active: draft.active,
        }).where(
            VariantTable.tenant_id == tenant_id, VariantTable.id == variant_id
        ).returning(*VariantTable.all_columns())
    if not rows:
        raise NotFound("variant not found")
    return _variant(rows[0])


async def insert_category(
    *, name: str, handle: str, parent_id: UUID | None, tenant_id: UUID
) -> catalog.Category:
    async with db.transaction(tenant_id=tenant_id):
        taken = await CategoryTable.exists().where(
            CategoryTable.tenant_id == tenant_id, CategoryTable.handle == handle
        )
        if taken:
            raise Invalid("category handle already exists", fields={"input.handle": "taken"})
        rows = await db.unique(CategoryTable.insert(CategoryTable(
            tenant_id=tenant_id, name=name, handle=handle, parent_id=parent_id
        )).returning(*CategoryTable.all_columns()))
    return _category(rows[0])


async def check_handle_free(handle: str, *, tenant_id: UUID) -> None:
    async with db.transaction(tenant_id=tenant_id):
        await db.check_handle_free(ProductTable, handle, tenant_id=tenant_id, label="handle")


async def get_categories(
    ids: Sequence[UUID], *, tenant_id: UUID
) -> dict[UUID, catalog.Category]:
    async with db.transaction(tenant_id=tenant_id):
        rows = await CategoryTable.select().where(
            CategoryTable.tenant_id == tenant_id, CategoryTable.id.is_in(list(ids))
        )
    return {row["id"]: _category(row) for row in rows}


async def list_categories(*, tenant_id: UUID) -> list[catalog.Category]:
    async with db.transaction(tenant_id=tenant_id):
        rows = await CategoryTable.select().where(
            CategoryTable.tenant_id == tenant_id
        ).order_by(CategoryTable.name, CategoryTable.id)
    return [_category(row) for row in rows]


async def insert_variant(
    draft: catalog.VariantDraft, product_id: UUID, position: int, *, tenant_id: UUID
) -> catalog.Variant:
    async with db.transaction(tenant_id=tenant_id):
        rows = await db.unique(VariantTable.insert(VariantTable(
            tenant_id=tenant_id,
            product_id=product_id,
            sku=draft.sku,
            title=draft.title,
            attributes=dict(draft.attributes),
            price_amount=draft.price.amount,
            currency=draft.price.currency,
            active=draft.active,
            position=position,
        )).returning(*VariantTable.all_columns()), field="input", what="sku")
    return _variant(rows[0])


async def check_category(category_id: UUID | None, *, tenant_id: UUID, path: str) -> None:
    if category_id is None:
        return
    async with db.transaction(tenant_id=tenant_id):
        found = await CategoryTable.exists().where(
            CategoryTable.tenant_id == tenant_id, CategoryTable.id == category_id
        )
    if not found:
        raise Invalid("category not found", fields={path: "no such category"})


async def check_skus_free(skus: Sequence[str], paths: Sequence[str], *, tenant_id: UUID) -> None:
    """Each sku must be new to the tenant and appear once; `paths` name the input fields."""
    errors: dict[str, str] = {}
    seen: set[str] = set()
    for sku, path in zip(skus, paths, strict=True):
        if sku in seen:
            errors[path] = "repeated in this input"
        seen.add(sku)
    async with db.transaction(tenant_id=tenant_id):
        rows = await VariantTable.select(VariantTable.sku).where(
            VariantTable.tenant_id == tenant_id, VariantTable.sku.is_in(list(skus))
        ) if skus else []
    taken = {row["sku"] for row in rows}
    errors.update({path: "already exists" for sku, path in zip(skus, paths, strict=True) if sku in taken})
    if errors:
        raise Invalid("sku already exists or is repeated", fields=errors)


async def find_by_attributes(
    attributes: dict[str, str], *, tenant_id: UUID, limit: int
) -> list[catalog.Product]:
    """Products whose attributes contain all of these name/value pairs."""
    async with db.transaction(tenant_id=tenant_id):
        rows = await ProductTable.select().where(
            ProductTable.tenant_id == tenant_id,
            WhereRaw("attributes @> {}::jsonb", json.dumps(attributes)),
        ).order_by(ProductTable.title, ProductTable.id).limit(limit)
    return [_product(row) for row in rows]
