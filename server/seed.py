"""The demo data `make run` serves: acme (base modules) and banban (fashion extension)."""

from __future__ import annotations

import dataclasses
from uuid import UUID

from domain import catalog, events, tenancy
from domain.errors import NotFound
from server import demo
from services import catalog as catalog_services
from tables import api_keys, tenants

DEV_KEY_NAME = "make run"
SEED = events.WriteMeta(actor="system:seed", correlation_id="seed")


@dataclasses.dataclass(frozen=True)
class DemoKeys:
    tenant_keys: dict[str, str]
    platform_key: str


def _money(amount: int) -> catalog.Money:
    return catalog.Money(amount=amount, currency="EUR")


ACME_PRODUCTS = [
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


def _fashion(sku: str, size: str, colour: str, amount: int) -> catalog.VariantDraft:
    return catalog.VariantDraft(
        sku=sku, title=f"{colour} / {size}", price=_money(amount),
        attributes={"size": size, "colour": colour},
    )


BANBAN_PRODUCTS = [
    (catalog.ProductDraft(title="Linen Shirt", handle="linen-shirt",
                          attributes={"season": "SS25", "collection": "Riviera"}),
     [_fashion("BB-LS-S-WHT", "S", "white", 5900), _fashion("BB-LS-M-WHT", "M", "white", 5900),
      _fashion("BB-LS-M-BLU", "M", "blue", 5900)]),
    (catalog.ProductDraft(title="Wool Coat", handle="wool-coat",
                          attributes={"season": "AW25", "collection": "Nordic"}),
     [_fashion("BB-WC-M-CML", "M", "camel", 22900), _fashion("BB-WC-L-BLK", "L", "black", 22900)]),
]


async def seed() -> DemoKeys:
    """Create the demo tenants once; issue fresh demo keys on every run (secrets are shown once)."""
    acme = await _tenant("acme", "ACME Coffee Gear", [], ACME_PRODUCTS)
    banban = await _tenant("banban", "banban fashion", ["banban"], BANBAN_PRODUCTS)
    for tenant, products in ((acme, ACME_PRODUCTS), (banban, BANBAN_PRODUCTS)):
        await demo.commerce(tenant, [v.sku for _, variants in products for v in variants], meta=SEED)
    keys = {t.slug: await _fresh_key(t.id, {tenancy.ADMIN}) for t in (acme, banban)}
    return DemoKeys(tenant_keys=keys, platform_key=await _fresh_key(None, {tenancy.PLATFORM}))


async def _tenant(
    slug: str, name: str, extensions: list[str],
    products: list[tuple[catalog.ProductDraft, list[catalog.VariantDraft]]],
) -> tenancy.Tenant:
    """The demo tenants have every module."""
    try:
        existing = await tenants.get_by_slug(slug)
    except NotFound:
        pass
    else:
        return await tenants.set_modules(tenant_id=existing.id, modules=tenancy.MODULES)
    tenant = await tenants.create(
        slug=slug, name=name, modules=tenancy.MODULES, extensions=extensions
    )
    for draft, variants in products:
        await catalog_services.create_product(draft, variants, tenant_id=tenant.id, meta=SEED)
    return tenant


async def _fresh_key(tenant_id: UUID | None, scopes: set[str]) -> str:
    await api_keys.revoke_named(DEV_KEY_NAME, tenant_id=tenant_id)
    _, token = await api_keys.create(tenant_id=tenant_id, name=DEV_KEY_NAME, scopes=scopes)
    return token
