"""Per-operation DataLoaders, each bound to one tenant; a batch is one query."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar
from uuid import UUID

from strawberry.dataloader import DataLoader

from tables import catalog as catalog_tables

K = TypeVar("K")
V = TypeVar("V")


class Loaders:
    def __init__(self, tenant_id: UUID) -> None:
        self.product = _by_key(catalog_tables.get_products, tenant_id)
        self.category = _by_key(catalog_tables.get_categories, tenant_id)
        self.variant_by_sku = _by_key(catalog_tables.variants_by_sku, tenant_id)
        self.variants = _grouped(catalog_tables.variants_of, tenant_id)


def _by_key(
    fetch: Callable[..., Awaitable[Mapping[K, V]]], tenant_id: UUID
) -> DataLoader[K, V | None]:
    async def load(keys: Sequence[K]) -> list[V | None]:
        found = await fetch(list(keys), tenant_id=tenant_id)
        return [found.get(key) for key in keys]

    return DataLoader(load_fn=load)


def _grouped(
    fetch: Callable[..., Awaitable[Mapping[K, list[V]]]], tenant_id: UUID
) -> DataLoader[K, list[V]]:
    async def load(keys: Sequence[K]) -> list[list[V]]:
        found = await fetch(list(keys), tenant_id=tenant_id)
        return [list(found.get(key, [])) for key in keys]

    return DataLoader(load_fn=load)

