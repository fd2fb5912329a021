"""Catalog types and root fragments: products, variants (SKUs) and categories."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeAlias, TypeVar

import strawberry

from domain import catalog
from resolvers import catalog as resolve
from schema import inputs
from schema.common import (
    Attribute,
    AttributeInput,
    Connection,
    Ctx,
    Money,
    MoneyInput,
    UserError,
    attempt,
    attributes_in,
    attributes_out,
    optional_id,
    parse_id,
    window,
)
from schema.modules import Module

R = TypeVar("R")

ProductStatus: TypeAlias = catalog.ProductStatus
strawberry.enum(ProductStatus, name="ProductStatus")


ProductSortField: TypeAlias = catalog.ProductSort
strawberry.enum(
    ProductSortField, name="ProductSortField",
    description="What a product list is ordered by; ties break on id.",
)


@strawberry.enum
class SortDirection(enum.Enum):
    ASC = "asc"
    DESC = "desc"


@strawberry.type
class Category:
    id: strawberry.ID
    name: str
    handle: str
    parent_id: strawberry.ID | None

    @classmethod
    def from_domain(cls, value: catalog.Category) -> Category:
        parent = None if value.parent_id is None else strawberry.ID(str(value.parent_id))
        return cls(
            id=strawberry.ID(str(value.id)), name=value.name, handle=value.handle, parent_id=parent
        )


@strawberry.type(description="A sellable unit (SKU) of a product.")
class Variant:
    id: strawberry.ID
    product_id: strawberry.ID
    sku: str
    title: str
    attributes: list[Attribute]
    price: Money
    active: bool

    @classmethod
    def from_domain(cls, value: catalog.Variant) -> Variant:
        return cls(
            id=strawberry.ID(str(value.id)),
            product_id=strawberry.ID(str(value.product_id)),
            sku=value.sku,
            title=value.title,
            attributes=attributes_out(value.attributes),
            price=Money.from_domain(value.price),
            active=value.active,
        )


@strawberry.type
class Product:
    id: strawberry.ID
    handle: str
    title: str
    description: str
    status: ProductStatus
    attributes: list[Attribute]
    created_at: datetime
    updated_at: datetime
    domain: strawberry.Private[catalog.Product]

    @classmethod
    def from_domain(cls, value: catalog.Product) -> Product:
        return cls(
            id=strawberry.ID(str(value.id)),
            handle=value.handle,
            title=value.title,
            description=value.description,
            status=value.status,
            attributes=attributes_out(value.attributes),
            created_at=value.created_at,
            updated_at=value.updated_at,
            domain=value,
        )

    @strawberry.field(description="Variants in their display order.")
    async def variants(self, info: Ctx) -> list[Variant]:
        found = await resolve.variants(info.context, self.domain.id)
        return [Variant.from_domain(v) for v in found]

    @strawberry.field
    async def category(self, info: Ctx) -> Category | None:
        found = await resolve.category(info.context, self.domain.category_id)
        return None if found is None else Category.from_domain(found)


@strawberry.input
class ProductFilter:
    status: ProductStatus | None = None
    category_id: strawberry.ID | None = None
    search: str | None = strawberry.field(default=None, description="Part of the title")
    handle: str | None = None

    def to_domain(self) -> catalog.ProductFilter:
        category = None if self.category_id is None else parse_id(self.category_id, "filter.categoryId")
        return catalog.ProductFilter(
            status=self.status, category_id=category, search=self.search, handle=self.handle
        )


@strawberry.input
class ProductOrder:
    field: ProductSortField = ProductSortField.CREATED_AT
    direction: SortDirection = SortDirection.ASC


@strawberry.input
class VariantInput:
    sku: str = inputs.column(catalog.MAX_SKU)
    price: MoneyInput
    title: str = inputs.column(catalog.MAX_TITLE, default="")
    attributes: list[AttributeInput] | None = None
    active: bool = True

    def to_domain(self) -> catalog.VariantDraft:
        return catalog.VariantDraft(
            sku=self.sku,
            title=self.title,
            price=self.price.to_domain(),
            attributes=attributes_in(self.attributes) or {},
            active=self.active,
        )


@strawberry.input
class VariantUpdateInput:
    title: str | None = inputs.column(catalog.MAX_TITLE, default=None)
    price: MoneyInput | None = None
    attributes: list[AttributeInput] | None = None
    active: bool | None = None

    def to_domain(self) -> catalog.VariantPatch:
        return catalog.VariantPatch(
            title=self.title,
            price=None if self.price is None else self.price.to_domain(),
            attributes=attributes_in(self.attributes),
            active=self.active,
        )


@strawberry.input
class ProductCreateInput:
    title: str = inputs.column(catalog.MAX_TITLE)
    handle: str | None = inputs.column(
        catalog.MAX_HANDLE, default=None, description="Derived from the title if unset"
    )
    description: str = ""
    status: ProductStatus = catalog.ProductStatus.ACTIVE
    category_id: strawberry.ID | None = None
    attributes: list[AttributeInput] | None = None
    variants: list[VariantInput] = strawberry.field(default_factory=list)

    def to_domain(self) -> catalog.ProductDraft:
        return catalog.ProductDraft(
            title=self.title,
            handle=self.handle or catalog.handle_from_title(self.title),
            description=self.description,
            status=self.status,
            category_id=optional_id(self.category_id, "input.categoryId"),
            attributes=attributes_in(self.attributes) or {},
        )


@strawberry.input
class ProductUpdateInput:
    title: str | None = inputs.column(catalog.MAX_TITLE, default=None)
    handle: str | None = inputs.column(catalog.MAX_HANDLE, default=None)
    description: str | None = None
    status: ProductStatus | None = None
    category_id: strawberry.ID | None = None
    attributes: list[AttributeInput] | None = None

    def to_domain(self) -> catalog.ProductPatch:
        return catalog.ProductPatch(
            title=self.title,
            handle=self.handle,
            description=self.description,
            status=self.status,
            category_id=optional_id(self.category_id, "input.categoryId"),
            attributes=attributes_in(self.attributes),
        )


@strawberry.input
class CategoryInput:
    name: str = inputs.column(catalog.MAX_TITLE)
    handle: str = inputs.column(catalog.MAX_HANDLE)
    parent_id: strawberry.ID | None = None


@strawberry.type
class CatalogQuery:
    @strawberry.field(description="A product by id, or null when this tenant has none such.")
    async def product(self, info: Ctx, id: strawberry.ID) -> Product | None:
        found = await resolve.product(info.context, parse_id(id, "id"))
        return None if found is None else Product.from_domain(found)

    @strawberry.field(description="The product one of whose variants has this SKU.")
    async def product_by_sku(self, info: Ctx, sku: str) -> Product | None:
        found = await resolve.product_by_sku(info.context, sku)
        return None if found is None else Product.from_domain(found)

    @strawberry.field(description="Products, keyset-paginated; at most MAX_PAGE_SIZE per page.")
    async def products(
        self,
        info: Ctx,
        first: int | None = None,
        after: str | None = None,
        filter: ProductFilter | None = None,
        order_by: ProductOrder | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Product]:
        order = order_by or ProductOrder()
        page = await resolve.products(
            info.context,
            page=window(info, first, after, last, before),
            where=(filter or ProductFilter()).to_domain(),
            sort=order.field,
            descending=order.direction == SortDirection.DESC,
        )
        return Connection.of(page, Product.from_domain)

    @strawberry.field
    async def categories(self, info: Ctx) -> list[Category]:
        return [Category.from_domain(c) for c in await resolve.categories(info.context)]


@strawberry.type(description="The product a mutation wrote, or why it did not.")
class ProductPayload:
    product: Product | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)

    @classmethod
    async def of(cls, start: Callable[[], Awaitable[catalog.Product]]) -> ProductPayload:
        found, errors = await attempt(_started(start))
        return cls(product=None if found is None else Product.from_domain(found), errors=errors)


@strawberry.type(description="The variant a mutation wrote, or why it did not.")
class VariantPayload:
    variant: Variant | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)

    @classmethod
    async def of(cls, start: Callable[[], Awaitable[catalog.Variant]]) -> VariantPayload:
        found, errors = await attempt(_started(start))
        return cls(variant=None if found is None else Variant.from_domain(found), errors=errors)


@strawberry.type(description="The category a mutation wrote, or why it did not.")
class CategoryPayload:
    category: Category | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)

    @classmethod
    async def of(cls, start: Callable[[], Awaitable[catalog.Category]]) -> CategoryPayload:
        found, errors = await attempt(_started(start))
        return cls(category=None if found is None else Category.from_domain(found), errors=errors)


@strawberry.type
class CatalogMutation:
    @strawberry.mutation
    async def create_product(self, info: Ctx, input: ProductCreateInput) -> ProductPayload:
        return await ProductPayload.of(lambda: resolve.create_product(
            info.context, input.to_domain(), [v.to_domain() for v in input.variants]
        ))

    @strawberry.mutation
    async def update_product(
        self, info: Ctx, id: strawberry.ID, input: ProductUpdateInput
    ) -> ProductPayload:
        return await ProductPayload.of(
            lambda: resolve.update_product(info.context, parse_id(id, "id"), input.to_domain())
        )

    @strawberry.mutation(description="Hide a product from sale; it keeps its variants and history.")
    async def archive_product(self, info: Ctx, id: strawberry.ID) -> ProductPayload:
        return await ProductPayload.of(
            lambda: resolve.archive_product(info.context, parse_id(id, "id"))
        )

    @strawberry.mutation
    async def add_variant(
        self, info: Ctx, product_id: strawberry.ID, input: VariantInput
    ) -> VariantPayload:
        return await VariantPayload.of(lambda: resolve.add_variant(
            info.context, parse_id(product_id, "productId"), input.to_domain()
        ))

    @strawberry.mutation
    async def update_variant(
        self, info: Ctx, id: strawberry.ID, input: VariantUpdateInput
    ) -> VariantPayload:
        return await VariantPayload.of(
            lambda: resolve.update_variant(info.context, parse_id(id, "id"), input.to_domain())
        )

    @strawberry.mutation
    async def create_category(self, info: Ctx, input: CategoryInput) -> CategoryPayload:
        return await CategoryPayload.of(lambda: resolve.create_category(
            info.context,
            name=input.name,
            handle=input.handle,
            parent_id=optional_id(input.parent_id, "input.parentId"),
        ))


async def _started(start: Callable[[], Awaitable[R]]) -> R:
    """Calls `start` inside `attempt`, so that converting its inputs (a malformed id) fails
    as a payload error rather than before the mutation is attempted."""
    return await start()


MODULE = Module(slug="catalog", query=CatalogQuery, mutation=CatalogMutation)


__all__ = [
    "CatalogMutation", "CatalogQuery", "Product", "Variant", "Category",
    "ProductPayload", "VariantPayload", "CategoryPayload",
]
