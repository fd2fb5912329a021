"""Custom metrics recorded by tenants (name, value, dimensions, timestamp)."""

from __future__ import annotations

from piccolo.columns import JSONB, Numeric, Timestamptz, Varchar
from piccolo.columns import UUID as UUIDColumn
from piccolo.table import Table

from tables.engine import DB


class MetricTable(Table, tablename="metrics", db=DB):
    id = UUIDColumn(primary_key=True)
    tenant_id = UUIDColumn()
    name = Varchar(length=100)
    value = Numeric(digits=(20, 6))
    dimensions = JSONB(default={})
    recorded_at = Timestamptz()
    created_at = Timestamptz()
