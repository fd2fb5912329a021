"""Stock locations (warehouses, stores): handle unique per tenant, active or not."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from domain import inventory
from domain.errors import Invalid, NotFound
from tables import db
from tables.inventory import rows
from tables.inventory.rows import LocationTable


async def get_locations(ids: Sequence[UUID], *, tenant_id: UUID) -> dict[UUID, inventory.Location]:
    async with db.transaction(tenant_id=tenant_id):
        found = await LocationTable.select().where(
            LocationTable.tenant_id == tenant_id, LocationTable.id.is_in(list(ids))
        )
    return {row["id"]: rows.location(row) for row in found}


async def get_location(location_id: UUID, *, tenant_id: UUID) -> inventory.Location:
    found = await get_locations([location_id], tenant_id=tenant_id)
    if location_id not in found:
        raise NotFound("location not found")
    return found[location_id]


async def input_location(location_id: UUID, *, tenant_id: UUID, path: str) -> inventory.Location:
    """A location named in an input: another tenant's or an unknown one is bad input."""
    found = await get_locations([location_id], tenant_id=tenant_id)
    if location_id not in found:
        raise Invalid("location not found", fields={path: "no such location"})
    return found[location_id]


async def list_locations(*, tenant_id: UUID, active: bool | None = None) -> list[inventory.Location]:
    query = LocationTable.select().where(LocationTable.tenant_id == tenant_id)
    if active is not None:
        query = query.where(LocationTable.active == active)
    async with db.transaction(tenant_id=tenant_id):
        found = await query.order_by(LocationTable.name, LocationTable.id)
    return [rows.location(row) for row in found]


async def insert_location(draft: inventory.LocationDraft, *, tenant_id: UUID) -> inventory.Location:
    async with db.transaction(tenant_id=tenant_id):
        await db.check_handle_free(LocationTable, draft.handle, tenant_id=tenant_id, label="location handle")
        created = await db.unique(LocationTable.insert(LocationTable(
            tenant_id=tenant_id, name=draft.name, handle=draft.handle, active=draft.active
        )).returning(*LocationTable.all_columns()))
    return rows.location(created[0])


async def update_location(
    current: inventory.Location, draft: inventory.LocationDraft, *, tenant_id: UUID
) -> inventory.Location:
    async with db.transaction(tenant_id=tenant_id):
        if draft.handle != current.handle:
            await db.check_handle_free(
                LocationTable, draft.handle, tenant_id=tenant_id, label="location handle"
            )
        updated = await db.unique(LocationTable.update({
            LocationTable.name: draft.name,
            LocationTable.handle: draft.handle,
            LocationTable.active: draft.active,
        }).where(
            LocationTable.tenant_id == tenant_id, LocationTable.id == current.id
        ).returning(*LocationTable.all_columns()))
    return rows.location(updated[0])


async def location_by_handle(handle: str, *, tenant_id: UUID, path: str) -> inventory.Location:
    """A location named by its handle in some input (e.g. a webhook); unknown is bad input."""
    async with db.transaction(tenant_id=tenant_id):
        row = await LocationTable.select().where(
            LocationTable.tenant_id == tenant_id, LocationTable.handle == handle
        ).first()
    if row is None:
        raise Invalid(f"unknown location {handle!r}", fields={path: "unknown location"})
    return rows.location(row)
