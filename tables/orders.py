"""Orders with price snapshots, their lines, and idempotency of creation."""

from __future__ import annotations

from piccolo.columns import UUID as UUIDColumn
from piccolo.columns import BigInt, Integer, Timestamptz, Varchar
from piccolo.table import Table

from tables.engine import DB


class OrderTable(Table, tablename="orders", db=DB):
    id = UUIDColumn(primary_key=True)
    tenant_id = UUIDColumn()
    number = BigInt()
    customer_id = UUIDColumn(null=True, default=None)
    status = Varchar(length=16, default="pending")
    currency = Varchar(length=3)
    price_list_id = UUIDColumn(null=True, default=None)
    subtotal = BigInt(default=0)
    discount_total = BigInt(default=0)
    tax_total = BigInt(default=0)
    total = BigInt(default=0)
    external_ref = Varchar(length=128, null=True, default=None)
    idempotency_key = Varchar(length=128, null=True, default=None)
    request_hash = Varchar(length=64, null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class OrderLineTable(Table, tablename="order_lines", db=DB):
    id = UUIDColumn(primary_key=True)
    tenant_id = UUIDColumn()
    order_id = UUIDColumn()
    variant_id = UUIDColumn()
    sku = Varchar(length=64)
    title = Varchar(length=400, default="")
    quantity = Integer()
    unit_price = BigInt()
    discount = BigInt(default=0)
    line_total = BigInt()
    currency = Varchar(length=3)
    position = Integer(default=0)
