"""banban's GraphQL: fashion attributes on products and a collection lookup; with the metrics
module, sell-through by season, collection, size and colour, and revenue by season. Its
services replace the catalog rules and the metrics service for its tenants."""

from __future__ import annotations

import dataclasses
from typing import TypeAlias

import strawberry

from extensions.banban import fashion
from extensions.banban import resolvers as resolve_fashion
from resolvers import catalog as resolve_catalog
from resolvers.context import DomainServices
from schema import catalog, metrics
from schema.common import Ctx
from schema.modules import Extension


@strawberry.type
class FashionAttributes:
    season: str | None
    collection: str | None
    sizes: list[str]
    colours: list[str]


@strawberry.type(name="Product", description="A product, with fashion attributes.")
class FashionProduct(catalog.Product):
    @strawberry.field(description="Season and collection of the product; sizes and colours on sale.")
    async def fashion(self, info: Ctx) -> FashionAttributes:
        summary = await resolve_fashion.attributes(info.context, self.domain)
        return FashionAttributes(
            season=summary.season,
            collection=summary.collection,
            sizes=summary.sizes,
            colours=summary.colours,
        )


@strawberry.type
class FashionQuery:
    @strawberry.field(description="Products of a season, optionally of one collection.")
    async def fashion_collection(
        self, info: Ctx, season: str, collection: str | None = None, first: int | None = 50
    ) -> list[catalog.Product]:
        wanted = {"season": season} | ({"collection": collection} if collection else {})
        found = await resolve_catalog.find_by_attributes(info.context, wanted, first)
        return [catalog.Product.from_domain(p) for p in found]


SellThroughGroup: TypeAlias = fashion.SellThroughBy
strawberry.enum(
    SellThroughGroup, name="SellThroughGroup",
    description="SEASON and COLLECTION are product attributes; SIZE and COLOUR variant ones.",
)


@strawberry.type(description="Sell-through of one season, collection, size or colour.")
class SellThrough:
    value: str | None = strawberry.field(description="null for variants without the attribute")
    units_sold: int = strawberry.field(description="Units of paid and fulfilled orders placed in the range")
    on_hand: int = strawberry.field(description="Units on hand now, all locations")
    sell_through: float = strawberry.field(description="unitsSold / (unitsSold + onHand); 0 when both are 0")

    @classmethod
    def from_domain(cls, value: fashion.SellThrough) -> SellThrough:
        return cls(
            value=value.value, units_sold=value.units_sold, on_hand=value.on_hand,
            sell_through=value.rate,
        )


@strawberry.type
class FashionMetricsQuery:
    @strawberry.field(description="Sell-through per season, collection, size or colour.")
    async def fashion_sell_through(
        self, info: Ctx, range: metrics.TimeRangeInput, by: SellThroughGroup
    ) -> list[SellThrough]:
        found = await resolve_fashion.sell_through(
            info.context, start=range.start, end=range.end, by=by
        )
        return [SellThrough.from_domain(s) for s in found]


def _catalog_rules(services: DomainServices) -> DomainServices:
    return dataclasses.replace(services, catalog_rules=fashion.FashionCatalogRules())


def _metrics(services: DomainServices) -> DomainServices:
    return dataclasses.replace(services, metrics=fashion.FashionMetricsService())


EXTENSION = Extension(
    slug="banban",
    query=FashionQuery,
    type_overrides=(FashionProduct,),
    services=_catalog_rules,
    when={
        "metrics": Extension(slug="banban-metrics", query=FashionMetricsQuery, services=_metrics),
    },
)
