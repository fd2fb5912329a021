"""Fashion rules for tenants with the fashion extension: seasons, collections, sizes, colours."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from domain import catalog

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
