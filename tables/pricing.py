"""Price lists (e.g. retail, wholesale) and per-variant prices in them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from piccolo.columns import UUID as UUIDColumn
from piccolo.columns import BigInt, Timestamptz, Varchar
from piccolo.table import Table

from domain import catalog, pricing
from domain.errors import Invalid
from tables import db
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


def _price_list(row: dict[str, Any]) -> pricing.PriceList:
    return pricing.PriceList(
        id=row["id"], name=row["name"], handle=row["handle"], currency=row["currency"]
    )


async def get_price_list_by_handle(handle: str, *, tenant_id: UUID) -> pricing.PriceList:
    async with db.transaction(tenant_id=tenant_id):
        row = await PriceListTable.select().where(
            PriceListTable.tenant_id == tenant_id, PriceListTable.handle == handle
        ).first()
    if row is None:
        raise Invalid(f"price list {handle!r} not found", fields={"priceList": "unknown"})
    return _price_list(row)


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
