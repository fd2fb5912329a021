"""Stock locations, stock levels per (variant, location), adjustments and reservations."""

from __future__ import annotations

from piccolo.columns import UUID as UUIDColumn
from piccolo.columns import Boolean, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table

from tables.engine import DB


class LocationTable(Table, tablename="locations", db=DB):
    id = UUIDColumn(primary_key=True)
    tenant_id = UUIDColumn()
    name = Varchar(length=200)
    handle = Varchar(length=64)
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
