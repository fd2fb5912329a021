"""Pricing types and root fragments: price lists, list prices and compare-at prices.

In schemas with pricing, `Variant.price` is the price in the list the request selects with the
`X-Price-List` header (a list's handle) when the variant has one there, else its base price.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from typing import TypeVar
from uuid import UUID

import strawberry

from domain import pricing
from resolvers import pricing as resolve
from schema import catalog, inputs
from schema.common import Connection, Ctx, Money, MoneyInput, UserError, attempt, parse_id, window
from schema.modules import Module

R = TypeVar("R")


@strawberry.type(description="Prices for a group of buyers (e.g. wholesale), all in one currency.")
class PriceList:
    id: strawberry.ID
    name: str
    handle: str = strawberry.field(description="What the X-Price-List header names")
    currency: str

    @classmethod
    def from_domain(cls, value: pricing.PriceList) -> PriceList:
        return cls(
            id=strawberry.ID(str(value.id)), name=value.name, handle=value.handle,
            currency=value.currency,
        )


@strawberry.type(description="A variant's price in one price list, or its base price.")
class VariantPrice:
    variant_id: strawberry.ID
    price: Money
    compare_at_price: Money | None = strawberry.field(
        description="The 'was' price, shown only while above the price"
    )
    price_list_id: strawberry.Private[UUID | None]

    @classmethod
    def from_domain(cls, value: pricing.Quote) -> VariantPrice:
        compare_at = value.shown_compare_at
        return cls(
            variant_id=strawberry.ID(str(value.variant_id)),
            price=Money.from_domain(value.price),
            compare_at_price=None if compare_at is None else Money.from_domain(compare_at),
            price_list_id=value.price_list_id,
        )

    @strawberry.field(description="The list this price belongs to; null for the base price.")
    async def price_list(self, info: Ctx) -> PriceList | None:
        found = await resolve.price_list(info.context, self.price_list_id)
        return None if found is None else PriceList.from_domain(found)


@strawberry.type(name="Variant", description="A sellable unit (SKU) of a product.")
class PricedVariant(catalog.Variant):
    # Strawberry lets a subtype resolve a field its base stores; mypy's dataclass rules do not.
    @strawberry.field(  # type: ignore[misc]
        description="The price in the price list selected by X-Price-List (which needs "
        "pricing:read) when this variant has one there, else the base price."
    )
    async def price(self, info: Ctx) -> Money:
        quote = await resolve.quote(info.context, parse_id(self.id, "id"))
        return Money.from_domain(quote.price)

    @strawberry.field(description="The compare-at ('was') price going with `price`, if above it.")
    async def compare_at_price(self, info: Ctx) -> Money | None:
        shown = (await resolve.quote(info.context, parse_id(self.id, "id"))).shown_compare_at
        return None if shown is None else Money.from_domain(shown)

    @strawberry.field(description="This variant's prices in every price list that prices it.")
    async def prices(self, info: Ctx) -> list[VariantPrice]:
        found = await resolve.variant_prices(info.context, parse_id(self.id, "id"))
        return [VariantPrice.from_domain(q) for q in found]


@strawberry.enum(description="What a price list listing is ordered by; ties break on id.")
class PriceListSortField(enum.Enum):
    HANDLE = "handle"
    NAME = "name"
    CREATED_AT = "created_at"


@strawberry.input
class PriceListOrder:
    field: PriceListSortField = PriceListSortField.HANDLE
    direction: catalog.SortDirection = catalog.SortDirection.ASC


@strawberry.input
class PriceListFilter:
    currency: str | None = None
    search: str | None = strawberry.field(default=None, description="Part of the name")

    def to_domain(self) -> pricing.PriceListFilter:
        return pricing.PriceListFilter(currency=self.currency, search=self.search)


@strawberry.input
class PriceListInput:
    name: str = inputs.column(pricing.MAX_TITLE)
    handle: str = inputs.column(
        pricing.MAX_HANDLE, description="Lowercase words joined by '-', unique"
    )
    currency: str = strawberry.field(description="ISO 4217; every price in the list uses it")

    def to_domain(self) -> pricing.PriceListDraft:
        return pricing.PriceListDraft(name=self.name, handle=self.handle, currency=self.currency)


@strawberry.input(description="Name and handle; a list's currency never changes.")
class PriceListUpdateInput:
    name: str | None = inputs.column(pricing.MAX_TITLE, default=None)
    handle: str | None = inputs.column(pricing.MAX_HANDLE, default=None)

    def to_domain(self) -> pricing.PriceListPatch:
        return pricing.PriceListPatch(name=self.name, handle=self.handle)


@strawberry.input
class VariantPriceInput:
    price_list_id: strawberry.ID
    variant_id: strawberry.ID
    price: MoneyInput = strawberry.field(description="In the list's currency")
    compare_at_price: MoneyInput | None = strawberry.field(
        default=None, description="Above the price, in the same currency"
    )


@strawberry.type(description="The price list a mutation wrote, or why it did not.")
class PriceListPayload:
    price_list: PriceList | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)

    @classmethod
    async def of(cls, start: Callable[[], Awaitable[pricing.PriceList]]) -> PriceListPayload:
        found, errors = await attempt(_started(start))
        return cls(price_list=None if found is None else PriceList.from_domain(found), errors=errors)


@strawberry.type(description="The price a mutation wrote (or removed), or why it did not.")
class VariantPricePayload:
    variant_price: VariantPrice | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)

    @classmethod
    async def of(cls, start: Callable[[], Awaitable[pricing.Quote]]) -> VariantPricePayload:
        found, errors = await attempt(_started(start))
        converted = None if found is None else VariantPrice.from_domain(found)
        return cls(variant_price=converted, errors=errors)


@strawberry.type
class PricingQuery:
    @strawberry.field(description="A price list by id, or null when this tenant has none such.")
    async def price_list(self, info: Ctx, id: strawberry.ID) -> PriceList | None:
        found = await resolve.price_list(info.context, parse_id(id, "id"))
        return None if found is None else PriceList.from_domain(found)

    @strawberry.field(description="Price lists, keyset-paginated.")
    async def price_lists(
        self,
        info: Ctx,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: PriceListFilter | None = None,
        order_by: PriceListOrder | None = None,
    ) -> Connection[PriceList]:
        order = order_by or PriceListOrder()
        page = await resolve.price_lists(
            info.context,
            page=window(info, first, after, last, before),
            where=(filter or PriceListFilter()).to_domain(),
            sort=pricing.PriceListSort(order.field.value),
            descending=order.direction == catalog.SortDirection.DESC,
        )
        return Connection.of(page, PriceList.from_domain)


@strawberry.type
class PricingMutation:
    @strawberry.mutation
    async def create_price_list(self, info: Ctx, input: PriceListInput) -> PriceListPayload:
        return await PriceListPayload.of(
            lambda: resolve.create_price_list(info.context, input.to_domain())
        )

    @strawberry.mutation
    async def update_price_list(
        self, info: Ctx, id: strawberry.ID, input: PriceListUpdateInput
    ) -> PriceListPayload:
        return await PriceListPayload.of(
            lambda: resolve.update_price_list(info.context, parse_id(id, "id"), input.to_domain())
        )

    @strawberry.mutation(description="Delete a price list and its prices (not one used by orders).")
    async def delete_price_list(self, info: Ctx, id: strawberry.ID) -> PriceListPayload:
        return await PriceListPayload.of(
            lambda: resolve.delete_price_list(info.context, parse_id(id, "id"))
        )

    @strawberry.mutation(description="Price a variant in a price list, replacing its price there.")
    async def set_variant_price(self, info: Ctx, input: VariantPriceInput) -> VariantPricePayload:
        return await VariantPricePayload.of(lambda: resolve.set_variant_price(
            info.context,
            price_list_id=parse_id(input.price_list_id, "input.priceListId"),
            variant_id=parse_id(input.variant_id, "input.variantId"),
            price=input.price.to_domain(),
            compare_at=None if input.compare_at_price is None else input.compare_at_price.to_domain(),
        ))

    @strawberry.mutation(
        description="Take a variant out of a price list; it then sells there at its base price. "
        "Returns the price it had."
    )
    async def remove_variant_price(
        self, info: Ctx, price_list_id: strawberry.ID, variant_id: strawberry.ID
    ) -> VariantPricePayload:
        return await VariantPricePayload.of(lambda: resolve.remove_variant_price(
            info.context,
            price_list_id=parse_id(price_list_id, "priceListId"),
            variant_id=parse_id(variant_id, "variantId"),
        ))

    @strawberry.mutation(
        description="Set the compare-at price of a variant's base price (null clears it)."
    )
    async def set_variant_compare_at_price(
        self, info: Ctx, variant_id: strawberry.ID, compare_at_price: MoneyInput | None = None
    ) -> VariantPricePayload:
        return await VariantPricePayload.of(lambda: resolve.set_compare_at(
            info.context,
            parse_id(variant_id, "variantId"),
            None if compare_at_price is None else compare_at_price.to_domain(),
        ))


async def _started(start: Callable[[], Awaitable[R]]) -> R:
    """Calls `start` inside `attempt`, so a malformed id is a payload error too."""
    return await start()


MODULE = Module(
    slug="pricing", query=PricingQuery, mutation=PricingMutation, type_overrides=(PricedVariant,)
)


__all__ = ["PriceList", "PricedVariant", "PricingMutation", "PricingQuery", "VariantPrice"]
