"""Payment transactions against orders: authorizations, captures and refunds."""

from __future__ import annotations

from piccolo.columns import UUID as UUIDColumn
from piccolo.columns import BigInt, Timestamptz, Varchar
from piccolo.table import Table

from tables.engine import DB


class PaymentTable(Table, tablename="payments", db=DB):
    id = UUIDColumn(primary_key=True)
    tenant_id = UUIDColumn()
    order_id = UUIDColumn()
    kind = Varchar(length=16)
    amount = BigInt()
    currency = Varchar(length=3)
    reference = Varchar(length=128, default="")
    actor = Varchar(length=128, default="")
    created_at = Timestamptz()
