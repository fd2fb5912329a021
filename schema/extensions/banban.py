"""banban, a fashion retailer: fashion attributes on products and a collection lookup."""

from __future__ import annotations

import strawberry

from domain import fashion
from resolvers import catalog as resolve
from schema import catalog
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
        variants = await resolve.variants(info.context, self.domain.id)
        summary = fashion.summarize(self.domain, variants)
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
        found = await resolve.find_by_attributes(info.context, wanted, first)
        return [catalog.Product.from_domain(p) for p in found]


EXTENSION = Extension(
    slug="banban",
    query=FashionQuery,
    type_overrides=(FashionProduct,),
    services={"catalog_rules": fashion.FashionCatalogRules()},
)
