"""Price lists: a variant's base price is its retail price; a list may price it differently."""

from __future__ import annotations

import dataclasses
from uuid import UUID

from domain.catalog import Money


@dataclasses.dataclass(frozen=True)
class PriceList:
    id: UUID
    name: str
    handle: str
    currency: str


@dataclasses.dataclass(frozen=True)
class Quote:
    """What a variant costs in one price list (or at base price when `price_list_id` is None)."""

    variant_id: UUID
    price: Money
    compare_at: Money | None
    price_list_id: UUID | None
