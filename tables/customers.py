"""Customers (email unique per tenant, case-insensitive) and their addresses."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
from piccolo.columns import UUID as UUIDColumn
from piccolo.columns import Array, Boolean, Timestamptz, Varchar
from piccolo.query import WhereRaw
from piccolo.table import Table

from domain import customers
from domain.errors import NotFound
from tables import counting, db
from tables.engine import DB

EMAIL_UNIQUE = "customers_tenant_id_email_key"


class CustomerTable(Table, tablename="customers", db=DB):
    id = UUIDColumn(primary_key=True)
    tenant_id = UUIDColumn()
    email = Varchar(length=customers.MAX_EMAIL)
    email_key = Varchar(length=customers.MAX_EMAIL)
    first_name = Varchar(length=customers.MAX_NAME, default="")
    last_name = Varchar(length=customers.MAX_NAME, default="")
    phone = Varchar(length=32, default="")
    tags = Array(base_column=Varchar(length=customers.MAX_TAG))
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


def _customer(row: dict[str, Any]) -> customers.Customer:
    return customers.Customer(
        id=row["id"],
        email=row["email"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        phone=row["phone"],
        tags=tuple(row["tags"] or ()),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _address(row: dict[str, Any]) -> customers.Address:
    return customers.Address(
        id=row["id"],
        customer_id=row["customer_id"],
        name=row["name"],
        line1=row["line1"],
        line2=row["line2"],
        city=row["city"],
        postal_code=row["postal_code"],
        region=row["region"],
        country=row["country"],
        default_shipping=row["default_shipping"],
        default_billing=row["default_billing"],
    )


async def get_customers(ids: Sequence[UUID], *, tenant_id: UUID) -> dict[UUID, customers.Customer]:
    async with db.transaction(tenant_id=tenant_id):
        rows = await CustomerTable.select().where(
            CustomerTable.tenant_id == tenant_id, CustomerTable.id.is_in(list(ids))
        )
    return {row["id"]: _customer(row) for row in rows}


async def get_customer(customer_id: UUID, *, tenant_id: UUID) -> customers.Customer:
    found = await get_customers([customer_id], tenant_id=tenant_id)
    if customer_id not in found:
        raise NotFound("customer not found")
    return found[customer_id]


async def customers_by_email(
    emails: Sequence[str], *, tenant_id: UUID
) -> dict[str, customers.Customer]:
    """Keyed by the email key (lower case): `Ada@X.io` and `ada@x.io` find the same customer."""
    keys = [customers.email_key(email) for email in emails]
    async with db.transaction(tenant_id=tenant_id):
        rows = await CustomerTable.select().where(
            CustomerTable.tenant_id == tenant_id, CustomerTable.email_key.is_in(keys)
        )
    return {row["email_key"]: _customer(row) for row in rows}


async def addresses_of(
    customer_ids: Sequence[UUID], *, tenant_id: UUID
) -> dict[UUID, list[customers.Address]]:
    async with db.transaction(tenant_id=tenant_id):
        rows = await AddressTable.select().where(
            AddressTable.tenant_id == tenant_id, AddressTable.customer_id.is_in(list(customer_ids))
        ).order_by(AddressTable.created_at, AddressTable.id)
    grouped: dict[UUID, list[customers.Address]] = defaultdict(list)
    for row in rows:
        grouped[row["customer_id"]].append(_address(row))
    return grouped


async def get_address(address_id: UUID, *, tenant_id: UUID) -> customers.Address:
    async with db.transaction(tenant_id=tenant_id):
        row = await AddressTable.select().where(
            AddressTable.tenant_id == tenant_id, AddressTable.id == address_id
        ).first()
    if row is None:
        raise NotFound("address not found")
    return _address(row)


async def list_customers(
    *,
    tenant_id: UUID,
    where: customers.CustomerFilter,
    sort: customers.CustomerSort,
    descending: bool,
    after: tuple[Any, UUID] | None,
    limit: int,
) -> list[customers.Customer]:
    """One keyset page: rows strictly after `after` = (sort value, id) in the given order."""
    column = getattr(CustomerTable, sort.value)
    query = CustomerTable.select().where(CustomerTable.tenant_id == tenant_id)
    for condition in _filters(where):
        query = query.where(condition)
    if after is not None:
        op = "<" if descending else ">"
        query = query.where(WhereRaw(f"({sort.value}, id) {op} ({{}}, {{}})", after[0], after[1]))
    query = query.order_by(column, CustomerTable.id, ascending=not descending).limit(limit)
    async with db.transaction(tenant_id=tenant_id):
        rows = await query
    return [_customer(row) for row in rows]


async def count_customers(*, tenant_id: UUID, where: customers.CustomerFilter) -> int:
    """How many customers `where` selects (list_customers' filters, every page)."""
    return await counting.count_rows(CustomerTable, _filters(where), tenant_id=tenant_id)


def _filters(where: customers.CustomerFilter) -> list[Any]:
    conditions: list[Any] = []
    if where.tag is not None:
        conditions.append(CustomerTable.tags.any(where.tag))
    if where.search:
        escaped = where.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        conditions.append(WhereRaw(
            "(email ilike {} or first_name ilike {} or last_name ilike {}"
            " or (first_name || ' ' || last_name) ilike {})",
            pattern, pattern, pattern, pattern,
        ))
    return conditions


async def insert_customer(draft: customers.CustomerDraft, *, tenant_id: UUID) -> customers.Customer:
    async with db.transaction(tenant_id=tenant_id):
        rows = await _unique_email(CustomerTable.insert(CustomerTable(
            tenant_id=tenant_id,
            email=draft.email,
            email_key=customers.email_key(draft.email),
            first_name=draft.first_name,
            last_name=draft.last_name,
            phone=draft.phone,
            tags=list(draft.tags),
        )).returning(*CustomerTable.all_columns()))
    return _customer(rows[0])


async def update_customer(
    customer_id: UUID, draft: customers.CustomerDraft, *, tenant_id: UUID
) -> customers.Customer:
    async with db.transaction(tenant_id=tenant_id):
        rows = await _unique_email(CustomerTable.update({
            CustomerTable.email: draft.email,
            CustomerTable.email_key: customers.email_key(draft.email),
            CustomerTable.first_name: draft.first_name,
            CustomerTable.last_name: draft.last_name,
            CustomerTable.phone: draft.phone,
            CustomerTable.tags: list(draft.tags),
            CustomerTable.updated_at: datetime.now(UTC),
        }).where(
            CustomerTable.tenant_id == tenant_id, CustomerTable.id == customer_id
        ).returning(*CustomerTable.all_columns()))
    if not rows:
        raise NotFound("customer not found")
    return _customer(rows[0])


async def update_address(
    address_id: UUID, customer_id: UUID, draft: customers.AddressDraft, *, tenant_id: UUID
) -> customers.Address:
    """Write a customer's address; the caller holds the customer's lock (see lock_customer)."""
    async with db.transaction(tenant_id=tenant_id):
        await _clear_other_defaults(customer_id, address_id, draft, tenant_id=tenant_id)
        rows = await AddressTable.update({
            getattr(AddressTable, field): value for field, value in _address_values(draft).items()
        }).where(
            AddressTable.tenant_id == tenant_id, AddressTable.id == address_id
        ).returning(*AddressTable.all_columns())
    return _address(rows[0])


async def delete_address(address_id: UUID, *, tenant_id: UUID) -> None:
    async with db.transaction(tenant_id=tenant_id):
        await AddressTable.delete().where(
            AddressTable.tenant_id == tenant_id, AddressTable.id == address_id
        )


async def insert_address(
    customer_id: UUID, draft: customers.AddressDraft, *, tenant_id: UUID
) -> customers.Address:
    async with db.transaction(tenant_id=tenant_id):
        await _clear_other_defaults(customer_id, None, draft, tenant_id=tenant_id)
        rows = await AddressTable.insert(AddressTable(
            tenant_id=tenant_id, customer_id=customer_id, **_address_values(draft)
        )).returning(*AddressTable.all_columns())
    return _address(rows[0])


def _address_values(draft: customers.AddressDraft) -> dict[str, Any]:
    return {
        "name": draft.name,
        "line1": draft.line1,
        "line2": draft.line2,
        "city": draft.city,
        "postal_code": draft.postal_code,
        "region": draft.region,
        "country": draft.country,
        "default_shipping": draft.default_shipping,
        "default_billing": draft.default_billing,
    }


async def _clear_other_defaults(
    customer_id: UUID, keep: UUID | None, draft: customers.AddressDraft, *, tenant_id: UUID
) -> None:
    """A customer has at most one default shipping and one default billing address."""
    for flag, column in ((draft.default_shipping, AddressTable.default_shipping),
                         (draft.default_billing, AddressTable.default_billing)):
        if not flag:
            continue
        query = AddressTable.update({column: False}).where(
            AddressTable.tenant_id == tenant_id, AddressTable.customer_id == customer_id
        )
        await (query if keep is None else query.where(AddressTable.id != keep))


async def lock_customer(customer_id: UUID, *, tenant_id: UUID) -> None:
    """Address changes of one customer run one at a time, so defaults stay single."""
    async with db.transaction(tenant_id=tenant_id):
        row = await CustomerTable.select(CustomerTable.id).where(
            CustomerTable.tenant_id == tenant_id, CustomerTable.id == customer_id
        ).lock_rows().first()
    if row is None:
        raise NotFound("customer not found")


async def check_email_free(email: str, own_id: UUID | None, *, tenant_id: UUID) -> None:
    query = CustomerTable.exists().where(
        CustomerTable.tenant_id == tenant_id,
        CustomerTable.email_key == customers.email_key(email),
    )
    if own_id is not None:
        query = query.where(CustomerTable.id != own_id)
    async with db.transaction(tenant_id=tenant_id):
        taken = await query
    if taken:
        raise customers.email_taken()


async def _unique_email(query: Any) -> list[dict[str, Any]]:
    """A concurrent writer that took the email first makes this the same clean error."""
    try:
        return list(await query)
    except asyncpg.UniqueViolationError as error:
        if error.constraint_name == EMAIL_UNIQUE:
            raise customers.email_taken() from None
        raise
