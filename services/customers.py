"""Customers and their addresses: each change checked, written and announced in one
transaction."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from domain import customers, events
from domain.errors import require_valid
from tables import customers as customer_tables
from tables import db
from tables import events as outbox


async def create_customer(
    draft: customers.CustomerDraft,
    addresses: Sequence[customers.AddressDraft],
    *,
    tenant_id: UUID,
    meta: events.WriteMeta,
) -> customers.Customer:
    async with db.transaction(tenant_id=tenant_id):
        await customer_tables.check_email_free(draft.email, None, tenant_id=tenant_id)
        customer = await customer_tables.insert_customer(draft, tenant_id=tenant_id)
        for address in customers.with_defaults(addresses):
            await customer_tables.insert_address(customer.id, address, tenant_id=tenant_id)
        await outbox.append(
            [events.draft("customer.created", customer.id, customers.customer_payload(customer))],
            tenant_id=tenant_id, meta=meta,
        )
    return customer


async def update_customer(
    customer_id: UUID, draft: customers.CustomerDraft, *, tenant_id: UUID, meta: events.WriteMeta
) -> customers.Customer:
    async with db.transaction(tenant_id=tenant_id):
        await customer_tables.check_email_free(draft.email, customer_id, tenant_id=tenant_id)
        customer = await customer_tables.update_customer(customer_id, draft, tenant_id=tenant_id)
        await outbox.append(
            [events.draft("customer.updated", customer.id, customers.customer_payload(customer))],
            tenant_id=tenant_id, meta=meta,
        )
    return customer


async def add_address(
    customer_id: UUID, draft: customers.AddressDraft, *, tenant_id: UUID, meta: events.WriteMeta
) -> customers.Address:
    async with db.transaction(tenant_id=tenant_id):
        await customer_tables.lock_customer(customer_id, tenant_id=tenant_id)
        held = await customer_tables.addresses_of([customer_id], tenant_id=tenant_id)
        existing = held.get(customer_id, [])
        address = await customer_tables.insert_address(
            customer_id, customers.defaults_for(draft, existing), tenant_id=tenant_id
        )
        await _address_changed(address, "added", tenant_id=tenant_id, meta=meta)
    return address


async def update_address(
    address_id: UUID, patch: customers.AddressPatch, *, tenant_id: UUID, meta: events.WriteMeta
) -> customers.Address:
    """Apply `patch` to the address as it is under the customer's lock."""
    async with db.transaction(tenant_id=tenant_id):
        owner = (await customer_tables.get_address(address_id, tenant_id=tenant_id)).customer_id
        await customer_tables.lock_customer(owner, tenant_id=tenant_id)
        draft = patch.apply(await customer_tables.get_address(address_id, tenant_id=tenant_id))
        require_valid(customers.check_address(draft))
        address = await customer_tables.update_address(address_id, owner, draft, tenant_id=tenant_id)
        await _address_changed(address, "updated", tenant_id=tenant_id, meta=meta)
    return address


async def remove_address(
    address_id: UUID, *, tenant_id: UUID, meta: events.WriteMeta
) -> customers.Address:
    async with db.transaction(tenant_id=tenant_id):
        current = await customer_tables.get_address(address_id, tenant_id=tenant_id)
        await customer_tables.lock_customer(current.customer_id, tenant_id=tenant_id)
        await customer_tables.delete_address(address_id, tenant_id=tenant_id)
        await _address_changed(current, "removed", tenant_id=tenant_id, meta=meta)
    return current


async def _address_changed(
    address: customers.Address, change: str, *, tenant_id: UUID, meta: events.WriteMeta
) -> None:
    payload = {"address": customers.address_payload(address), "change": f"address_{change}"}
    await outbox.append(
        [events.draft("customer.updated", address.customer_id, payload)],
        tenant_id=tenant_id, meta=meta,
    )
