"""The demo data `make run` serves: acme (base modules), and a tenant per installed extension
that brings demo data (its package's `seed`: NAME and PRODUCTS)."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
from uuid import UUID

from domain import catalog, events, modules, tenancy
from domain.errors import NotFound
from server import demo
from services import catalog as catalog_services
from tables import api_keys, tenants

DEV_KEY_NAME = "make run"
Products = list[tuple[catalog.ProductDraft, list[catalog.VariantDraft]]]
SEED = events.WriteMeta(actor="system:seed", correlation_id="seed")


@dataclasses.dataclass(frozen=True)
class DemoKeys:
    tenant_keys: dict[str, str]
    platform_key: str


def _money(amount: int) -> catalog.Money:
    return catalog.Money(amount=amount, currency="EUR")


ACME_PRODUCTS: Products = [
    (catalog.ProductDraft(title="Espresso Machine", handle="espresso-machine",
                          description="15 bar, steam wand"),
     [catalog.VariantDraft(sku="ACME-ESP-001", title="Steel", price=_money(24900))]),
    (catalog.ProductDraft(title="Burr Grinder", handle="burr-grinder"),
     [catalog.VariantDraft(sku="ACME-GRN-001", title="Black", price=_money(12900)),
      catalog.VariantDraft(sku="ACME-GRN-002", title="White", price=_money(12900))]),
    (catalog.ProductDraft(title="Milk Jug", handle="milk-jug"),
     [catalog.VariantDraft(sku="ACME-JUG-350", title="350 ml", price=_money(1900)),
      catalog.VariantDraft(sku="ACME-JUG-600", title="600 ml", price=_money(2400))]),
]


async def seed() -> DemoKeys:
    """Create the demo tenants once; issue fresh demo keys on every run (secrets are shown once)."""
    demos = [(await _tenant("acme", "ACME Coffee Gear", [], ACME_PRODUCTS), ACME_PRODUCTS)]
    for slug, name, products in _extension_demos():
        demos.append((await _tenant(slug, name, [slug], products), products))
    for tenant, products in demos:
        await demo.commerce(tenant, [v.sku for _, variants in products for v in variants], meta=SEED)
    keys = {t.slug: await _fresh_key(t.id, {tenancy.ADMIN}) for t, _ in demos}
    return DemoKeys(tenant_keys=keys, platform_key=await _fresh_key(None, {tenancy.PLATFORM}))


def _extension_demos() -> list[tuple[str, str, Products]]:
    found = []
    for slug, spec in tenancy.EXTENSIONS.items():
        if importlib.util.find_spec(f"{spec.package}.seed") is not None:
            seed = importlib.import_module(f"{spec.package}.seed")
            found.append((slug, seed.NAME, seed.PRODUCTS))
    return found


async def _tenant(slug: str, name: str, extensions: list[str], products: Products) -> tenancy.Tenant:
    """The demo tenants have every module."""
    try:
        existing = await tenants.get_by_slug(slug)
    except NotFound:
        pass
    else:
        return await tenants.set_modules(tenant_id=existing.id, modules=modules.MODULES)
    tenant = await tenants.create(
        slug=slug, name=name, modules=modules.MODULES, extensions=extensions
    )
    for draft, variants in products:
        await catalog_services.create_product(draft, variants, tenant_id=tenant.id, meta=SEED)
    return tenant


async def _fresh_key(tenant_id: UUID | None, scopes: set[str]) -> str:
    await api_keys.revoke_named(DEV_KEY_NAME, tenant_id=tenant_id)
    _, token = await api_keys.create(tenant_id=tenant_id, name=DEV_KEY_NAME, scopes=scopes)
    return token
