"""Shipments of orders and the order lines each one carries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from piccolo.columns import UUID as UUIDColumn
from piccolo.columns import Integer, Timestamptz, Varchar
from piccolo.query import WhereRaw
from piccolo.table import Table

from domain import shipping
from domain.errors import NotFound
from tables import counting, db
from tables.engine import DB


class ShipmentTable(Table, tablename="shipments", db=DB):
    id = UUIDColumn(primary_key=True)
    tenant_id = UUIDColumn()
    order_id = UUIDColumn()
    status = Varchar(length=16, default="pending")
    carrier = Varchar(length=shipping.MAX_CARRIER, default="")
    service = Varchar(length=shipping.MAX_SERVICE, default="")
    tracking_number = Varchar(length=shipping.MAX_TRACKING_NUMBER, default="")
    tracking_url = Varchar(length=shipping.MAX_TRACKING_URL, default="")
    created_at = Timestamptz()
    updated_at = Timestamptz()


class ShipmentLineTable(Table, tablename="shipment_lines", db=DB):
    id = UUIDColumn(primary_key=True)
    tenant_id = UUIDColumn()
    shipment_id = UUIDColumn()
    order_line_id = UUIDColumn()
    quantity = Integer()


LINES = """
    select sl.shipment_id, sl.order_line_id, sl.quantity, ol.sku
    from shipment_lines sl
    join order_lines ol on ol.tenant_id = sl.tenant_id and ol.id = sl.order_line_id
    where sl.tenant_id = {} and sl.shipment_id = any({}::uuid[])
    order by ol.position, ol.id
"""
INSERT_LINES = """
    insert into shipment_lines (id, tenant_id, shipment_id, order_line_id, quantity)
    select gen_random_uuid(), {}, {}, line.order_line_id, line.quantity
    from unnest({}::uuid[], {}::int[]) as line (order_line_id, quantity)
"""


def _shipment(row: Any, lines: Sequence[shipping.ShipmentLine]) -> shipping.Shipment:
    return shipping.Shipment(
        id=row["id"],
        order_id=row["order_id"],
        status=shipping.ShipmentStatus(row["status"]),
        carrier=row["carrier"],
        service=row["service"],
        tracking_number=row["tracking_number"],
        tracking_url=row["tracking_url"],
        lines=tuple(lines),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def _with_lines(rows: Sequence[Any], *, tenant_id: UUID) -> list[shipping.Shipment]:
    """The shipments of `rows` with their lines: one more query, whatever their number."""
    if not rows:
        return []
    async with db.transaction(tenant_id=tenant_id):
        found = await ShipmentLineTable.raw(LINES, tenant_id, [row["id"] for row in rows])
    lines: dict[UUID, list[shipping.ShipmentLine]] = defaultdict(list)
    for line in found:
        lines[line["shipment_id"]].append(
            shipping.ShipmentLine(line["order_line_id"], line["sku"], line["quantity"])
        )
    return [_shipment(row, lines[row["id"]]) for row in rows]


async def get_shipments(ids: Sequence[UUID], *, tenant_id: UUID) -> dict[UUID, shipping.Shipment]:
    async with db.transaction(tenant_id=tenant_id):
        rows = await ShipmentTable.select().where(
            ShipmentTable.tenant_id == tenant_id, ShipmentTable.id.is_in(list(ids))
        )
        found = await _with_lines(rows, tenant_id=tenant_id)
    return {shipment.id: shipment for shipment in found}


async def shipments_of(
    order_ids: Sequence[UUID], *, tenant_id: UUID
) -> dict[UUID, list[shipping.Shipment]]:
    async with db.transaction(tenant_id=tenant_id):
        rows = await ShipmentTable.select().where(
            ShipmentTable.tenant_id == tenant_id, ShipmentTable.order_id.is_in(list(order_ids))
        ).order_by(ShipmentTable.created_at, ShipmentTable.id)
        found = await _with_lines(rows, tenant_id=tenant_id)
    grouped: dict[UUID, list[shipping.Shipment]] = defaultdict(list)
    for shipment in found:
        grouped[shipment.order_id].append(shipment)
    return grouped


async def list_shipments(
    *,
    tenant_id: UUID,
    where: shipping.ShipmentFilter,
    descending: bool,
    after: tuple[Any, UUID] | None,
    limit: int,
) -> list[shipping.Shipment]:
    """One keyset page by (created_at, id)."""
    query = ShipmentTable.select().where(ShipmentTable.tenant_id == tenant_id)
    for condition in _filters(where):
        query = query.where(condition)
    if after is not None:
        op = "<" if descending else ">"
        query = query.where(WhereRaw(f"(created_at, id) {op} ({{}}, {{}})", after[0], after[1]))
    query = query.order_by(
        ShipmentTable.created_at, ShipmentTable.id, ascending=not descending
    ).limit(limit)
    async with db.transaction(tenant_id=tenant_id):
        rows = await query
        return await _with_lines(rows, tenant_id=tenant_id)


async def count_shipments(*, tenant_id: UUID, where: shipping.ShipmentFilter) -> int:
    """How many shipments `where` selects (list_shipments' filters, every page)."""
    return await counting.count_rows(ShipmentTable, _filters(where), tenant_id=tenant_id)


def _filters(where: shipping.ShipmentFilter) -> list[Any]:
    conditions: list[Any] = []
    if where.order_id is not None:
        conditions.append(ShipmentTable.order_id == where.order_id)
    if where.status is not None:
        conditions.append(ShipmentTable.status == where.status.value)
    return conditions


async def insert(
    draft: shipping.ShipmentDraft, *, tenant_id: UUID
) -> shipping.Shipment:
    """A pending shipment of the draft's lines, with them."""
    tracking = draft.tracking
    now = datetime.now(UTC)
    async with db.transaction(tenant_id=tenant_id):
        rows = await ShipmentTable.insert(ShipmentTable(
            id=uuid4(),
            tenant_id=tenant_id,
            order_id=draft.order_id,
            status=shipping.ShipmentStatus.PENDING.value,
            carrier=tracking.carrier or "",
            service=tracking.service or "",
            tracking_number=tracking.tracking_number or "",
            tracking_url=tracking.tracking_url or "",
            created_at=now,
            updated_at=now,
        )).returning(*ShipmentTable.all_columns())
        await ShipmentLineTable.raw(
            INSERT_LINES, tenant_id, rows[0]["id"],
            [line.order_line_id for line in draft.lines], [line.quantity for line in draft.lines],
        )
        [shipment] = await _with_lines(rows, tenant_id=tenant_id)
    return shipment


async def order_of(shipment_id: UUID, *, tenant_id: UUID) -> UUID:
    async with db.transaction(tenant_id=tenant_id):
        row = await ShipmentTable.select(ShipmentTable.order_id).where(
            ShipmentTable.tenant_id == tenant_id, ShipmentTable.id == shipment_id
        ).first()
    if row is None:
        raise NotFound("shipment not found")
    order_id: UUID = row["order_id"]
    return order_id


async def update(
    current: shipping.Shipment, change: shipping.StatusChange, *, tenant_id: UUID
) -> shipping.Shipment:
    """The new status, and the tracking fields the change sets (None keeps one)."""
    tracking = change.tracking
    values: dict[Any, Any] = {
        ShipmentTable.status: change.to.value, ShipmentTable.updated_at: datetime.now(UTC),
    }
    if tracking.carrier is not None:
        values[ShipmentTable.carrier] = tracking.carrier
    if tracking.service is not None:
        values[ShipmentTable.service] = tracking.service
    if tracking.tracking_number is not None:
        values[ShipmentTable.tracking_number] = tracking.tracking_number
    if tracking.tracking_url is not None:
        values[ShipmentTable.tracking_url] = tracking.tracking_url
    async with db.transaction(tenant_id=tenant_id):
        rows = await ShipmentTable.update(values).where(
            ShipmentTable.tenant_id == tenant_id, ShipmentTable.id == current.id
        ).returning(*ShipmentTable.all_columns())
    return _shipment(rows[0], current.lines)
