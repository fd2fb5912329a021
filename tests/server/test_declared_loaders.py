"""Loaders a module declares in its own files (`loaders.Key`): one per operation, bound to
the operation's tenant."""

from __future__ import annotations

from typing import Any

from domain import catalog
from resolvers import loaders
from services import catalog as catalog_services
from tables import catalog as catalog_tables
from tests.documents import META

PRODUCTS = loaders.Key.by_key(catalog_tables.get_products)
VARIANTS = loaders.Key.grouped(catalog_tables.variants_of)


async def _product(tenant: Any, sku: str) -> catalog.Product:
    draft = catalog.ProductDraft(title="Mug", handle=f"mug-{sku.lower()}")
    variant = catalog.VariantDraft(sku=sku, title="Mug", price=catalog.Money(900, "EUR"))
    return await catalog_services.create_product(draft, [variant], tenant_id=tenant.id, meta=META)


async def test_a_declared_loader_is_made_once_per_operation(tenant_a: Any) -> None:
    operation = loaders.Loaders(tenant_a.id)

    assert operation.of(PRODUCTS) is operation.of(PRODUCTS)
    assert operation.of(PRODUCTS) is not loaders.Loaders(tenant_a.id).of(PRODUCTS)


async def test_a_declared_loader_loads_its_tenants_rows(tenant_a: Any) -> None:
    product = await _product(tenant_a, "KEY-A")

    found = await loaders.Loaders(tenant_a.id).of(PRODUCTS).load(product.id)
    variants = await loaders.Loaders(tenant_a.id).of(VARIANTS).load(product.id)

    assert found is not None and found.id == product.id
    assert [v.sku for v in variants] == ["KEY-A"]


async def test_a_declared_loader_never_loads_another_tenants_rows(tenant_a: Any, tenant_b: Any) -> None:
    product = await _product(tenant_a, "KEY-B")

    assert await loaders.Loaders(tenant_b.id).of(PRODUCTS).load(product.id) is None
    assert await loaders.Loaders(tenant_b.id).of(VARIANTS).load(product.id) == []
