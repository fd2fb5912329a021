"""Price lists (e.g. retail, wholesale) and per-variant prices in them."""

from __future__ import annotations

from piccolo.columns import UUID as UUIDColumn
from piccolo.columns import BigInt, Timestamptz, Varchar
from piccolo.table import Table

from tables.engine import DB


class PriceListTable(Table, tablename="price_lists", db=DB):
    id = UUIDColumn(primary_key=True)
    tenant_id = UUIDColumn()
    name = Varchar(length=200)
    handle = Varchar(length=64)
    currency = Varchar(length=3)
    created_at = Timestamptz()


class VariantPriceTable(Table, tablename="variant_prices", db=DB):
    id = UUIDColumn(primary_key=True)
    tenant_id = UUIDColumn()
    price_list_id = UUIDColumn()
    variant_id = UUIDColumn()
    amount = BigInt()
    compare_at_amount = BigInt(null=True, default=None)
    currency = Varchar(length=3)
    updated_at = Timestamptz()
