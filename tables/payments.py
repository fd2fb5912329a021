"""Payment transactions against orders (authorizations, captures and refunds): queries and
statements; recording one is services.payments."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from piccolo.columns import UUID as UUIDColumn
from piccolo.columns import BigInt, Timestamptz, Varchar
from piccolo.query import WhereRaw
from piccolo.table import Table

from domain import catalog, payments
from tables import counting, db
from tables.engine import DB


class PaymentTable(Table, tablename="payments", db=DB):
    id = UUIDColumn(primary_key=True)
    tenant_id = UUIDColumn()
    order_id = UUIDColumn()
    kind = Varchar(length=16)
    amount = BigInt()
    currency = Varchar(length=3)
    reference = Varchar(length=payments.MAX_REFERENCE, default="")
    actor = Varchar(length=128, default="")
    created_at = Timestamptz()


def _payment(row: dict[str, Any]) -> payments.Payment:
    return payments.Payment(
        id=row["id"],
        order_id=row["order_id"],
        kind=payments.PaymentKind(row["kind"]),
        amount=catalog.Money(amount=row["amount"], currency=row["currency"]),
        reference=row["reference"],
        actor=row["actor"],
        created_at=row["created_at"],
    )


async def get_payments(ids: Sequence[UUID], *, tenant_id: UUID) -> dict[UUID, payments.Payment]:
    async with db.transaction(tenant_id=tenant_id):
        rows = await PaymentTable.select().where(
            PaymentTable.tenant_id == tenant_id, PaymentTable.id.is_in(list(ids))
        )
    return {row["id"]: _payment(row) for row in rows}


async def payments_of(
    order_ids: Sequence[UUID], *, tenant_id: UUID
) -> dict[UUID, list[payments.Payment]]:
    async with db.transaction(tenant_id=tenant_id):
        rows = await PaymentTable.select().where(
            PaymentTable.tenant_id == tenant_id, PaymentTable.order_id.is_in(list(order_ids))
        ).order_by(PaymentTable.created_at, PaymentTable.id)
    grouped: dict[UUID, list[payments.Payment]] = defaultdict(list)
    for row in rows:
        grouped[row["order_id"]].append(_payment(row))
    return grouped


async def list_payments(
    *,
    tenant_id: UUID,
    where: payments.PaymentFilter,
    descending: bool,
    after: tuple[Any, UUID] | None,
    limit: int,
) -> list[payments.Payment]:
    """One keyset page by (created_at, id)."""
    query = PaymentTable.select().where(PaymentTable.tenant_id == tenant_id)
    for condition in _filters(where):
        query = query.where(condition)
    if after is not None:
        op = "<" if descending else ">"
        query = query.where(WhereRaw(f"(created_at, id) {op} ({{}}, {{}})", after[0], after[1]))
    query = query.order_by(
        PaymentTable.created_at, PaymentTable.id, ascending=not descending
    ).limit(limit)
    async with db.transaction(tenant_id=tenant_id):
        rows = await query
    return [_payment(row) for row in rows]


async def count_payments(*, tenant_id: UUID, where: payments.PaymentFilter) -> int:
    """How many payments `where` selects (list_payments' filters, every page)."""
    return await counting.count_rows(PaymentTable, _filters(where), tenant_id=tenant_id)


def _filters(where: payments.PaymentFilter) -> list[Any]:
    conditions: list[Any] = []
    if where.order_id is not None:
        conditions.append(PaymentTable.order_id == where.order_id)
    if where.kind is not None:
        conditions.append(PaymentTable.kind == where.kind.value)
    return conditions


async def insert(
    order_id: UUID, draft: payments.PaymentDraft, *, actor: str, tenant_id: UUID
) -> payments.Payment:
    async with db.transaction(tenant_id=tenant_id):
        rows = await PaymentTable.insert(PaymentTable(
            tenant_id=tenant_id,
            order_id=order_id,
            kind=draft.kind.value,
            amount=draft.amount.amount,
            currency=draft.amount.currency,
            reference=draft.reference,
            actor=actor[:128],
        )).returning(*PaymentTable.all_columns())
    return _payment(rows[0])
