"""Fashion rules for tenants with the fashion extension: seasons, collections, sizes, colours,
and their metrics (sell-through; revenue by season)."""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Iterable
from uuid import UUID

from domain import catalog, metrics

SEASON = re.compile(r"(SS|AW)\d{2}")


@dataclasses.dataclass(frozen=True)
class FashionAttributes:
    season: str | None
    collection: str | None
    sizes: list[str]
    colours: list[str]


class FashionCatalogRules(catalog.DefaultCatalogRules):
    """Products carry a season like SS25 or AW24; variants name their size and colour."""

    def check_product(self, draft: catalog.ProductDraft, path: str = "input") -> dict[str, str]:
        errors = super().check_product(draft, path)
        season = draft.attributes.get("season")
        if season is None or not SEASON.fullmatch(season):
            errors[f"{path}.attributes.season"] = "fashion products need a season like SS25 or AW24"
        return errors

    def check_variant(self, draft: catalog.VariantDraft, path: str = "variant") -> dict[str, str]:
        errors = super().check_variant(draft, path)
        for name in ("size", "colour"):
            if not draft.attributes.get(name):
                errors[f"{path}.attributes.{name}"] = f"fashion variants need a {name}"
        return errors


def summarize(product: catalog.Product, variants: Iterable[catalog.Variant]) -> FashionAttributes:
    listed = list(variants)
    return FashionAttributes(
        season=product.attributes.get("season"),
        collection=product.attributes.get("collection"),
        sizes=_distinct(v.attributes.get("size") for v in listed),
        colours=_distinct(v.attributes.get("colour") for v in listed),
    )


def _distinct(values: Iterable[str | None]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


class SellThroughBy(enum.Enum):
    """Groups for sell-through: product attributes (season, collection) or variant ones."""

    SEASON = "season"
    COLLECTION = "collection"
    SIZE = "size"
    COLOUR = "colour"


@dataclasses.dataclass(frozen=True)
class SellThrough:
    """Units sold in a range / (units sold + units on hand now), for one value of a group;
    `value` is None for variants without the attribute."""

    value: str | None
    units_sold: int
    on_hand: int

    @property
    def rate(self) -> float:
        return metrics.ratio(self.units_sold, self.units_sold + self.on_hand)


class FashionMetricsService(metrics.DefaultMetricsService):
    """Fashion KPIs: the default ones, with revenue also broken down by season."""

    async def performance(
        self,
        store: metrics.SalesStore,
        *,
        tenant_id: UUID,
        window: metrics.Window,
        granularity: metrics.Granularity,
    ) -> metrics.Performance:
        found = await super().performance(
            store, tenant_id=tenant_id, window=window, granularity=granularity
        )
        seasons = await store.revenue_by_product_attribute("season", tenant_id=tenant_id, window=window)
        return dataclasses.replace(found, breakdowns=[*found.breakdowns, *seasons])
