"""Price lists (e.g. retail, wholesale) and per-variant prices in them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
from piccolo.columns import UUID as UUIDColumn
from piccolo.columns import BigInt, Timestamptz, Varchar
from piccolo.query import WhereRaw
from piccolo.table import Table

from domain import catalog, pricing
from domain.errors import Conflict, Invalid, NotFound
from tables import counting, db
from tables.engine import DB


class PriceListTable(Table, tablename="price_lists", db=DB):
    id = UUIDColumn(primary_key=True)
    tenant_id = UUIDColumn()
    name = Varchar(length=catalog.MAX_TITLE)
    handle = Varchar(length=pricing.MAX_HANDLE)
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


def _price_list(row: dict[str, Any]) -> pricing.PriceList:
    return pricing.PriceList(
        id=row["id"], name=row["name"], handle=row["handle"], currency=row["currency"]
    )


async def get_price_list_by_handle(handle: str, *, tenant_id: UUID) -> pricing.PriceList:
    found = await price_lists_by_handle([handle], tenant_id=tenant_id)
    if handle not in found:
        raise Invalid(f"price list {handle!r} not found", fields={"priceList": "unknown"})
    return found[handle]


async def price_lists_by_handle(
    handles: Sequence[str], *, tenant_id: UUID
) -> dict[str, pricing.PriceList]:
    async with db.transaction(tenant_id=tenant_id):
        rows = await PriceListTable.select().where(
            PriceListTable.tenant_id == tenant_id, PriceListTable.handle.is_in(list(handles))
        )
    return {row["handle"]: _price_list(row) for row in rows}


async def get_price_lists(ids: Sequence[UUID], *, tenant_id: UUID) -> dict[UUID, pricing.PriceList]:
    async with db.transaction(tenant_id=tenant_id):
        rows = await PriceListTable.select().where(
            PriceListTable.tenant_id == tenant_id, PriceListTable.id.is_in(list(ids))
        )
    return {row["id"]: _price_list(row) for row in rows}


async def get_price_list(price_list_id: UUID, *, tenant_id: UUID) -> pricing.PriceList:
    found = await get_price_lists([price_list_id], tenant_id=tenant_id)
    if price_list_id not in found:
        raise NotFound("price list not found")
    return found[price_list_id]


async def list_price_lists(
    *,
    tenant_id: UUID,
    where: pricing.PriceListFilter,
    sort: pricing.PriceListSort,
    descending: bool,
    after: tuple[Any, UUID] | None,
    limit: int,
) -> list[pricing.PriceList]:
    """One keyset page: rows strictly after `after` = (sort value, id) in the given order."""
    query = PriceListTable.select().where(PriceListTable.tenant_id == tenant_id)
    for condition in _price_list_filters(where):
        query = query.where(condition)
    if after is not None:
        op = "<" if descending else ">"
        query = query.where(WhereRaw(f"({sort.value}, id) {op} ({{}}, {{}})", after[0], after[1]))
    column = getattr(PriceListTable, sort.value)
    query = query.order_by(column, PriceListTable.id, ascending=not descending).limit(limit)
    async with db.transaction(tenant_id=tenant_id):
        rows = await query
    return [_price_list(row) for row in rows]


async def count_price_lists(*, tenant_id: UUID, where: pricing.PriceListFilter) -> int:
    """How many price lists `where` selects (list_price_lists' filters, every page)."""
    return await counting.count_rows(PriceListTable, _price_list_filters(where), tenant_id=tenant_id)


def _price_list_filters(where: pricing.PriceListFilter) -> list[Any]:
    conditions: list[Any] = []
    if where.currency is not None:
        conditions.append(PriceListTable.currency == where.currency)
    if where.search:
        escaped = where.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(PriceListTable.name.ilike(f"%{escaped}%"))
    return conditions


async def insert_price_list(draft: pricing.PriceListDraft, *, tenant_id: UUID) -> pricing.PriceList:
    async with db.transaction(tenant_id=tenant_id):
        await db.check_handle_free(PriceListTable, draft.handle, tenant_id=tenant_id, label="handle")
        rows = await db.unique(PriceListTable.insert(PriceListTable(
            tenant_id=tenant_id, name=draft.name, handle=draft.handle, currency=draft.currency
        )).returning(*PriceListTable.all_columns()))
    return _price_list(rows[0])


async def update_price_list(
    current: pricing.PriceList, draft: pricing.PriceListDraft, *, tenant_id: UUID
) -> pricing.PriceList:
    async with db.transaction(tenant_id=tenant_id):
        if draft.handle != current.handle:
            await db.check_handle_free(PriceListTable, draft.handle, tenant_id=tenant_id, label="handle")
        rows = await db.unique(PriceListTable.update({
            PriceListTable.name: draft.name, PriceListTable.handle: draft.handle,
        }).where(
            PriceListTable.tenant_id == tenant_id, PriceListTable.id == current.id
        ).returning(*PriceListTable.all_columns()))
    return _price_list(rows[0])


async def delete_price_list(price_list_id: UUID, *, tenant_id: UUID) -> None:
    """Delete a list and its prices; a list that orders were placed with stays."""
    async with db.transaction(tenant_id=tenant_id):
        try:
            await PriceListTable.delete().where(
                PriceListTable.tenant_id == tenant_id, PriceListTable.id == price_list_id
            )
        except asyncpg.ForeignKeyViolationError:
            raise Conflict("orders were placed with this price list; it cannot be deleted") from None


async def upsert_variant_price(
    price_list_id: UUID,
    variant_id: UUID,
    price: catalog.Money,
    compare_at: catalog.Money | None,
    *,
    tenant_id: UUID,
) -> pricing.Quote:
    """Price a variant in a list (insert or replace); the caller checked the rules."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        row = await _fetch_or_missing(tx, """
            insert into variant_prices
                (id, tenant_id, price_list_id, variant_id, amount, compare_at_amount, currency,
                 updated_at)
            values (gen_random_uuid(), $1, $2, $3, $4, $5, $6, $7)
            on conflict (tenant_id, variant_id, price_list_id) do update
               set amount = excluded.amount, compare_at_amount = excluded.compare_at_amount,
                   currency = excluded.currency, updated_at = excluded.updated_at
            returning variant_id as id, amount, currency, compare_at_amount as compare_at,
                      price_list_id
            """, tenant_id, price_list_id, variant_id, price.amount,
            None if compare_at is None else compare_at.amount, price.currency, datetime.now(UTC),
        )
    return _quote(row)


async def delete_variant_price(
    price_list_id: UUID, variant_id: UUID, *, tenant_id: UUID
) -> pricing.Quote:
    """Take a variant out of a list (it then sells there at base price); returns what it was."""
    async with db.transaction(tenant_id=tenant_id):
        rows = await VariantPriceTable.delete().where(
            VariantPriceTable.tenant_id == tenant_id,
            VariantPriceTable.price_list_id == price_list_id,
            VariantPriceTable.variant_id == variant_id,
        ).returning(*VariantPriceTable.all_columns())
    if not rows:
        raise NotFound("this variant has no price in this price list")
    return _list_price(rows[0])


async def update_compare_at(
    variant_id: UUID, compare_at: catalog.Money | None, *, tenant_id: UUID
) -> pricing.Quote:
    """Set (or clear, with None) the compare-at price of a variant's base price."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        row = await tx.connection.fetchrow(
            """
            update variants set compare_at_amount = $3 where tenant_id = $1 and id = $2
            returning id, price_amount as amount, currency, compare_at_amount as compare_at,
                      null::uuid as price_list_id
            """,
            tenant_id, variant_id, None if compare_at is None else compare_at.amount,
        )
    if row is None:
        raise NotFound("variant not found")
    return _quote(row)


async def prices_of(
    variant_ids: Sequence[UUID], *, tenant_id: UUID
) -> dict[UUID, list[pricing.Quote]]:
    """Each variant's prices in every list that prices it, in order of the lists' handles."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        rows = await tx.connection.fetch(
            """
            select p.* from variant_prices p
            join price_lists l on l.tenant_id = p.tenant_id and l.id = p.price_list_id
            where p.tenant_id = $1 and p.variant_id = any($2::uuid[])
            order by l.handle, l.id
            """,
            tenant_id, list(variant_ids),
        )
    grouped: dict[UUID, list[pricing.Quote]] = defaultdict(list)
    for row in rows:
        grouped[row["variant_id"]].append(_list_price(row))
    return grouped


async def quotes(
    variant_ids: Sequence[UUID], *, tenant_id: UUID, price_list_id: UUID | None
) -> dict[UUID, pricing.Quote]:
    """Each variant's price in the list when it has one there, else its base price."""
    async with db.transaction(tenant_id=tenant_id) as tx:
        rows = await tx.connection.fetch(
            """
            select v.id, coalesce(p.amount, v.price_amount) as amount,
                   coalesce(p.currency, v.currency) as currency,
                   case when p.id is null then v.compare_at_amount else p.compare_at_amount end
                       as compare_at, p.price_list_id
            from variants v
            left join variant_prices p
              on p.tenant_id = v.tenant_id and p.variant_id = v.id and p.price_list_id = $3
            where v.tenant_id = $1 and v.id = any($2::uuid[])
            """,
            tenant_id, list(variant_ids), price_list_id,
        )
    return {row["id"]: _quote(row) for row in rows}


def _quote(row: Any) -> pricing.Quote:
    price = catalog.Money(amount=row["amount"], currency=row["currency"])
    compare_at = (
        None if row["compare_at"] is None
        else catalog.Money(amount=row["compare_at"], currency=row["currency"])
    )
    return pricing.Quote(
        variant_id=row["id"], price=price, compare_at=compare_at, price_list_id=row["price_list_id"]
    )


def _list_price(row: Any) -> pricing.Quote:
    return _quote({
        "id": row["variant_id"], "amount": row["amount"], "currency": row["currency"],
        "compare_at": row["compare_at_amount"], "price_list_id": row["price_list_id"],
    })


async def _fetch_or_missing(tx: Any, sql: str, *args: Any) -> Any:
    """A write whose foreign keys name a list and a variant: either missing is NOT_FOUND."""
    try:
        return await tx.connection.fetchrow(sql, *args)
    except asyncpg.ForeignKeyViolationError as error:
        what = "price list" if "list" in (error.constraint_name or "") else "variant"
        raise NotFound(f"{what} not found") from None
