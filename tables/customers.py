"""Customers (email unique per tenant, case-insensitive) and their addresses."""

from __future__ import annotations

from piccolo.columns import UUID as UUIDColumn
from piccolo.columns import Array, Boolean, Timestamptz, Varchar
from piccolo.table import Table

from tables.engine import DB


class CustomerTable(Table, tablename="customers", db=DB):
    id = UUIDColumn(primary_key=True)
    tenant_id = UUIDColumn()
    email = Varchar(length=320)
    email_key = Varchar(length=320)
    first_name = Varchar(length=100, default="")
    last_name = Varchar(length=100, default="")
    phone = Varchar(length=32, default="")
    tags = Array(base_column=Varchar(length=64))
    created_at = Timestamptz()
    updated_at = Timestamptz()


class AddressTable(Table, tablename="customer_addresses", db=DB):
    id = UUIDColumn(primary_key=True)
    tenant_id = UUIDColumn()
    customer_id = UUIDColumn()
    name = Varchar(length=200, default="")
    line1 = Varchar(length=200)
    line2 = Varchar(length=200, default="")
    city = Varchar(length=100)
    postal_code = Varchar(length=20, default="")
    region = Varchar(length=100, default="")
    country = Varchar(length=2)
    default_shipping = Boolean(default=False)
    default_billing = Boolean(default=False)
    created_at = Timestamptz()
