"""Per-operation DataLoaders, each bound to one tenant; a batch is one query."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar, cast
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
L = TypeVar("L")


class _Lazy(Generic[L]):
    """A loader made on first use, then kept on the instance."""

    def __init__(self, make: Callable[[UUID], L]) -> None:
        self._make = make
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, loaders: Loaders, owner: type | None = None) -> L:
        made = self._make(loaders.tenant_id)
        loaders.__dict__[self._name] = made  # found before this descriptor from now on
        return made


class Key(Generic[L]):
    """A loader a module declares in its own resolvers, `SHIPMENTS = Key.by_key(fetch)`, and
    gets per operation with `ctx.loaders.of(SHIPMENTS)`: no line here for a new module."""

    def __init__(self, make: Callable[[UUID], L]) -> None:
        self.make = make

    @staticmethod
    def by_key(fetch: Callable[..., Awaitable[Mapping[K, V]]]) -> Key[DataLoader[K, V | None]]:
        """`fetch(keys, *, tenant_id)` returns the found values by key."""
        return Key(lambda tenant_id: _by_key(fetch, tenant_id))

    @staticmethod
    def grouped(fetch: Callable[..., Awaitable[Mapping[K, list[V]]]]) -> Key[DataLoader[K, list[V]]]:
        """`fetch(keys, *, tenant_id)` returns lists by key; a key without values gets []."""
        return Key(lambda tenant_id: _grouped(fetch, tenant_id))


class Loaders:
    """One operation's DataLoaders, each made when first used: an operation uses a few, a
    live subscription often none, and each one made is memory it holds while it runs."""

    product = _Lazy(lambda tenant: _by_key(catalog_tables.get_products, tenant))
    category = _Lazy(lambda tenant: _by_key(catalog_tables.get_categories, tenant))
    variant_by_sku = _Lazy(lambda tenant: _by_key(catalog_tables.variants_by_sku, tenant))
    variants = _Lazy(lambda tenant: _grouped(catalog_tables.variants_of, tenant))
    customer = _Lazy(lambda tenant: _by_key(customer_tables.get_customers, tenant))
    customer_by_email = _Lazy(lambda tenant: _by_key(customer_tables.customers_by_email, tenant))
    addresses = _Lazy(lambda tenant: _grouped(customer_tables.addresses_of, tenant))
    price_list = _Lazy(lambda tenant: _by_key(pricing_tables.get_price_lists, tenant))
    price_list_by_handle = _Lazy(lambda tenant: _by_key(pricing_tables.price_lists_by_handle, tenant))
    variant_prices = _Lazy(lambda tenant: _grouped(pricing_tables.prices_of, tenant))
    location = _Lazy(lambda tenant: _by_key(inventory_tables.get_locations, tenant))
    stock = _Lazy(lambda tenant: _grouped(inventory_tables.levels_of, tenant))
    available = _Lazy(lambda tenant: _by_key(inventory_tables.available_of, tenant))
    variant = _Lazy(lambda tenant: _by_key(catalog_tables.get_variants, tenant))
    order = _Lazy(lambda tenant: _by_key(order_tables.get_orders, tenant))
    order_by_number = _Lazy(lambda tenant: _by_key(order_tables.orders_by_number, tenant))
    order_lines = _Lazy(lambda tenant: _grouped(order_tables.lines_of, tenant))
    order_history = _Lazy(lambda tenant: _grouped(order_tables.histories, tenant))
    payment = _Lazy(lambda tenant: _by_key(payment_tables.get_payments, tenant))
    order_payments = _Lazy(lambda tenant: _grouped(payment_tables.payments_of, tenant))

    def __init__(self, tenant_id: UUID) -> None:
        self.tenant_id = tenant_id
        self._quotes: dict[UUID | None, DataLoader[UUID, pricing.Quote | None]] = {}
        self._made: dict[Key[Any], Any] = {}

    def of(self, key: Key[L]) -> L:
        """The loader a module declared as `key`, made for this operation on first use."""
        if key not in self._made:
            self._made[key] = key.make(self.tenant_id)
        return cast(L, self._made[key])

    def quotes(self, price_list_id: UUID | None) -> DataLoader[UUID, pricing.Quote | None]:
        """Variants' prices in one price list (their base price where it has none)."""
        if price_list_id not in self._quotes:
            fetch = functools.partial(pricing_tables.quotes, price_list_id=price_list_id)
            self._quotes[price_list_id] = _by_key(fetch, self.tenant_id)
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
