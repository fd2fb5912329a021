"""Price lists and the prices in them: each change checked against the pricing rules,
written and announced in one transaction."""

from __future__ import annotations

from uuid import UUID

from domain import catalog, events, pricing
from domain.errors import require_valid
from tables import catalog as catalog_tables
from tables import db
from tables import events as outbox
from tables import pricing as pricing_tables


async def create_price_list(
    draft: pricing.PriceListDraft, *, tenant_id: UUID, meta: events.WriteMeta
) -> pricing.PriceList:
    require_valid(pricing.check_price_list(draft))
    async with db.transaction(tenant_id=tenant_id):
        created = await pricing_tables.insert_price_list(draft, tenant_id=tenant_id)
        await _append("price_list.created", created, tenant_id=tenant_id, meta=meta)
    return created


async def update_price_list(
    price_list_id: UUID, patch: pricing.PriceListPatch, *, tenant_id: UUID, meta: events.WriteMeta
) -> pricing.PriceList:
    draft = patch.apply(await pricing_tables.get_price_list(price_list_id, tenant_id=tenant_id))
    require_valid(pricing.check_price_list(draft))
    async with db.transaction(tenant_id=tenant_id):
        current = await pricing_tables.get_price_list(price_list_id, tenant_id=tenant_id)
        updated = await pricing_tables.update_price_list(current, draft, tenant_id=tenant_id)
        await _append("price_list.updated", updated, tenant_id=tenant_id, meta=meta)
    return updated


async def delete_price_list(
    price_list_id: UUID, *, tenant_id: UUID, meta: events.WriteMeta
) -> pricing.PriceList:
    """Delete a list and its prices; a list that orders were placed with stays."""
    async with db.transaction(tenant_id=tenant_id):
        current = await pricing_tables.get_price_list(price_list_id, tenant_id=tenant_id)
        await pricing_tables.delete_price_list(price_list_id, tenant_id=tenant_id)
        await _append("price_list.deleted", current, tenant_id=tenant_id, meta=meta)
    return current


async def set_variant_price(
    price_list_id: UUID,
    variant_id: UUID,
    price: catalog.Money,
    compare_at: catalog.Money | None,
    *,
    tenant_id: UUID,
    meta: events.WriteMeta,
) -> pricing.Quote:
    """Price a variant in a list (insert or replace), in the list's currency."""
    target = await pricing_tables.get_price_list(price_list_id, tenant_id=tenant_id)
    require_valid(pricing.check_price(price, compare_at, currency=target.currency))
    async with db.transaction(tenant_id=tenant_id):
        quote = await pricing_tables.upsert_variant_price(
            price_list_id, variant_id, price, compare_at, tenant_id=tenant_id
        )
        await _append_price(quote, quote.price, quote.compare_at, tenant_id=tenant_id, meta=meta)
    return quote


async def remove_variant_price(
    price_list_id: UUID, variant_id: UUID, *, tenant_id: UUID, meta: events.WriteMeta
) -> pricing.Quote:
    """Take a variant out of a list (it then sells there at base price); returns what it was."""
    async with db.transaction(tenant_id=tenant_id):
        removed = await pricing_tables.delete_variant_price(price_list_id, variant_id, tenant_id=tenant_id)
        await _append_price(removed, None, None, tenant_id=tenant_id, meta=meta)
    return removed


async def set_compare_at(
    variant_id: UUID, compare_at: catalog.Money | None, *, tenant_id: UUID, meta: events.WriteMeta
) -> pricing.Quote:
    """Set (or clear, with None) the compare-at price of a variant's base price."""
    if compare_at is not None:
        variant = await catalog_tables.get_variant(variant_id, tenant_id=tenant_id)
        require_valid(pricing.check_price(variant.price, compare_at, currency=variant.price.currency))
    async with db.transaction(tenant_id=tenant_id):
        quote = await pricing_tables.update_compare_at(variant_id, compare_at, tenant_id=tenant_id)
        await _append_price(quote, quote.price, quote.compare_at, tenant_id=tenant_id, meta=meta)
    return quote


async def _append(
    kind: str, price_list: pricing.PriceList, *, tenant_id: UUID, meta: events.WriteMeta
) -> None:
    await outbox.append(
        [events.draft(kind, price_list.id, pricing.price_list_payload(price_list))],
        tenant_id=tenant_id, meta=meta,
    )


async def _append_price(
    quote: pricing.Quote,
    price: catalog.Money | None,
    compare_at: catalog.Money | None,
    *,
    tenant_id: UUID,
    meta: events.WriteMeta,
) -> None:
    payload = pricing.price_payload(quote.variant_id, quote.price_list_id, price, compare_at)
    await outbox.append(
        [events.draft("price.updated", quote.variant_id, payload)], tenant_id=tenant_id, meta=meta
    )
