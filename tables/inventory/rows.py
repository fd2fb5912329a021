"""Inventory tables and what their queries share: row converters, conditions, locked updates."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
from piccolo.columns import UUID as UUIDColumn
from piccolo.columns import Boolean, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table

from domain import events, inventory
from domain.errors import Conflict
from tables.engine import DB


class LocationTable(Table, tablename="locations", db=DB):
    id = UUIDColumn(primary_key=True)
    tenant_id = UUIDColumn()
    name = Varchar(length=inventory.MAX_NAME)
    handle = Varchar(length=inventory.MAX_HANDLE)
    active = Boolean(default=True)
    created_at = Timestamptz()


class StockLevelTable(Table, tablename="stock_levels", db=DB):
    id = UUIDColumn(primary_key=True)
    tenant_id = UUIDColumn()
    variant_id = UUIDColumn()
    location_id = UUIDColumn()
    on_hand = Integer(default=0)
    reserved = Integer(default=0)
    updated_at = Timestamptz()


class StockAdjustmentTable(Table, tablename="stock_adjustments", db=DB):
    id = UUIDColumn(primary_key=True)
    tenant_id = UUIDColumn()
    variant_id = UUIDColumn()
    location_id = UUIDColumn()
    delta = Integer()
    reason = Varchar(length=16)
    order_id = UUIDColumn(null=True, default=None)
    note = Text(default="")
    actor = Varchar(length=128, default="")
    created_at = Timestamptz()


class ReservationTable(Table, tablename="reservations", db=DB):
    id = UUIDColumn(primary_key=True)
    tenant_id = UUIDColumn()
    order_id = UUIDColumn()
    variant_id = UUIDColumn()
    location_id = UUIDColumn()
    quantity = Integer()
    status = Varchar(length=16, default="active")
    created_at = Timestamptz()


LEVELS = """
select s.id, s.variant_id, v.sku, s.location_id, s.on_hand, s.reserved, s.updated_at
from stock_levels s join variants v on v.tenant_id = s.tenant_id and v.id = s.variant_id
"""


class Where:
    """Conditions with numbered parameters, the tenant always the first."""

    def __init__(self, tenant_column: str, tenant_id: UUID) -> None:
        self.args: list[Any] = [tenant_id]
        self.conditions = [f"{tenant_column} = $1"]

    def add(self, template: str, *values: Any) -> None:
        start = len(self.args)
        self.args.extend(values)
        self.conditions.append(template.format(*(f"${start + i + 1}" for i in range(len(values)))))

    def arg(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    @property
    def sql(self) -> str:
        return " where " + " and ".join(self.conditions)

    def page(
        self, sort: str, id_column: str, after: tuple[Any, Any] | None, descending: bool, limit: int
    ) -> str:
        """Conditions, then one keyset page: rows strictly after `after` = (sort value, id)."""
        if after is not None:
            self.add(f"({sort}, {id_column}) {'<' if descending else '>'} ({{}}, {{}})", *after)
        direction = "desc" if descending else "asc"
        return (f"{self.sql} order by {sort} {direction}, {id_column} {direction}"
                f" limit {self.arg(limit)}")


def location(row: Any) -> inventory.Location:
    return inventory.Location(
        id=row["id"], name=row["name"], handle=row["handle"], active=row["active"],
        created_at=row["created_at"],
    )


def level(row: Any) -> inventory.StockLevel:
    return inventory.StockLevel(
        id=row["id"], variant_id=row["variant_id"], sku=row["sku"], location_id=row["location_id"],
        on_hand=row["on_hand"], reserved=row["reserved"], updated_at=row["updated_at"],
    )


def adjustment(row: Any) -> inventory.Adjustment:
    return inventory.Adjustment(
        id=row["id"], variant_id=row["variant_id"], sku=row["sku"], location_id=row["location_id"],
        delta=row["delta"], reason=inventory.Reason(row["reason"]), order_id=row["order_id"],
        note=row["note"], actor=row["actor"], created_at=row["created_at"],
    )


def reservation(row: Any) -> inventory.Reservation:
    return inventory.Reservation(
        id=row["id"], order_id=row["order_id"], variant_id=row["variant_id"],
        location_id=row["location_id"], quantity=row["quantity"],
        status=inventory.ReservationStatus(row["status"]), created_at=row["created_at"],
    )


async def lock_levels(
    tx: Any, condition: str, *values: Any, tenant_id: UUID
) -> list[inventory.StockLevel]:
    """Stock rows locked in one stable order (variant, location), so writers never deadlock."""
    query = Where("s.tenant_id", tenant_id)
    query.add(condition, *values)
    rows = await tx.connection.fetch(
        f"{LEVELS}{query.sql} order by s.variant_id, s.location_id for update of s", *query.args
    )
    return [level(row) for row in rows]


async def store(
    tx: Any, current: inventory.StockLevel, on_hand: int, reserved: int
) -> inventory.StockLevel:
    """Write a locked level's new quantities; the database's checks are the last wall."""
    try:
        row = await tx.connection.fetchrow(
            """
            update stock_levels set on_hand = $2, reserved = $3, updated_at = clock_timestamp()
            where id = $1 returning id, variant_id, location_id, on_hand, reserved, updated_at
            """,
            current.id, on_hand, reserved,
        )
    except asyncpg.CheckViolationError:
        raise Conflict(f"stock of SKU {current.sku} cannot go below what is reserved") from None
    return level({**dict(row), "sku": current.sku})


async def record(
    tx: Any, after: inventory.StockLevel, change: inventory.Change, *,
    tenant_id: UUID, meta: events.WriteMeta,
) -> inventory.Adjustment:
    """The adjustment's history row, timed by the clock so history within a transaction is in
    order."""
    row = await tx.connection.fetchrow(
        """
        insert into stock_adjustments
            (tenant_id, variant_id, location_id, delta, reason, order_id, note, actor, created_at)
        values ($1, $2, $3, $4, $5, $6, $7, $8, clock_timestamp())
        returning *
        """,
        tenant_id, change.variant_id, change.location_id, change.delta, change.reason.value,
        change.order_id, change.note, meta.actor,
    )
    return adjustment({**dict(row), "sku": after.sku})


def adjusted_event(after: inventory.StockLevel, made: inventory.Adjustment) -> events.Draft:
    return events.draft("inventory.adjusted", after.variant_id, inventory.adjustment_payload(after, made))
