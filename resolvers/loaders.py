"""Per-operation DataLoaders, each bound to one tenant; a batch is one query."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar
from uuid import UUID

from strawberry.dataloader import DataLoader

from domain import pricing
from tables import catalog as catalog_tables
from tables import customers as customer_tables
from tables import inventory as inventory_tables
from tables import orders as order_tables
from tables import payments as payment_tables
from tables import pricing as pricing_tables

K = TypeVar("K")
V = TypeVar("V")


class Loaders:
    def __init__(self, tenant_id: UUID) -> None:
        self.product = _by_key(catalog_tables.get_products, tenant_id)
        self.category = _by_key(catalog_tables.get_categories, tenant_id)
        self.variant_by_sku = _by_key(catalog_tables.variants_by_sku, tenant_id)
        self.variants = _grouped(catalog_tables.variants_of, tenant_id)
        self.customer = _by_key(customer_tables.get_customers, tenant_id)
        self.customer_by_email = _by_key(customer_tables.customers_by_email, tenant_id)
        self.addresses = _grouped(customer_tables.addresses_of, tenant_id)
        self.price_list = _by_key(pricing_tables.get_price_lists, tenant_id)
        self.price_list_by_handle = _by_key(pricing_tables.price_lists_by_handle, tenant_id)
        self.variant_prices = _grouped(pricing_tables.prices_of, tenant_id)
        self.location = _by_key(inventory_tables.get_locations, tenant_id)
        self.stock = _grouped(inventory_tables.levels_of, tenant_id)
        self.available = _by_key(inventory_tables.available_of, tenant_id)
        self.variant = _by_key(catalog_tables.get_variants, tenant_id)
        self.order = _by_key(order_tables.get_orders, tenant_id)
        self.order_by_number = _by_key(order_tables.orders_by_number, tenant_id)
        self.order_lines = _grouped(order_tables.lines_of, tenant_id)
        self.order_history = _grouped(order_tables.histories, tenant_id)
        self.payment = _by_key(payment_tables.get_payments, tenant_id)
        self.order_payments = _grouped(payment_tables.payments_of, tenant_id)
        self._tenant_id = tenant_id
        self._quotes: dict[UUID | None, DataLoader[UUID, pricing.Quote | None]] = {}

    def quotes(self, price_list_id: UUID | None) -> DataLoader[UUID, pricing.Quote | None]:
        """Variants' prices in one price list (their base price where it has none)."""
        if price_list_id not in self._quotes:
            fetch = functools.partial(pricing_tables.quotes, price_list_id=price_list_id)
            self._quotes[price_list_id] = _by_key(fetch, self._tenant_id)
        return self._quotes[price_list_id]


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


def forget(loader: DataLoader[K, Any], key: K) -> None:
    """Forget one cached key, whether or not this request has loaded it."""
    with contextlib.suppress(KeyError):
        loader.clear(key)
