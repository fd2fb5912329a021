"""Webhook endpoints per tenant and the inbox of accepted deliveries."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from piccolo.columns import JSONB, Array, Boolean, Integer, Text, Timestamptz, Varchar
from piccolo.columns import UUID as UUIDColumn
from piccolo.query import WhereRaw
from piccolo.table import Table

from domain import audit, webhooks
from domain.errors import Conflict, Invalid, NotFound
from tables import audit as trail
from tables import counting, db
from tables.engine import DB


class EndpointTable(Table, tablename="webhook_endpoints", db=DB):
    id = UUIDColumn(primary_key=True)
    tenant_id = UUIDColumn()
    flow = Varchar(length=32)
    secrets = Array(base_column=Varchar(length=128))
    verify_token = Varchar(length=128, null=True, default=None)
    enabled = Boolean(default=True)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class InboxTable(Table, tablename="webhook_inbox", db=DB):
    id = UUIDColumn(primary_key=True)
    tenant_id = UUIDColumn()
    flow = Varchar(length=32)
    delivery_id = Varchar(length=200)
    payload = JSONB(default={})
    status = Varchar(length=16, default="queued")
    attempts = Integer(default=0)
    last_error = Text(null=True, default=None)
    correlation_id = Varchar(length=64, default="")
    traceparent = Text(null=True, default=None)
    received_at = Timestamptz()
    processed_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz()
    available_at = Timestamptz()


def _endpoint(row: dict[str, Any]) -> webhooks.Endpoint:
    return webhooks.Endpoint(
        id=row["id"],
        tenant_id=row["tenant_id"],
        flow=row["flow"],
        secrets=tuple(row["secrets"]),
        verify_token=row["verify_token"],
        enabled=row["enabled"],
        tenant_slug=row.get("tenant_slug", ""),
    )


def _delivery(row: dict[str, Any]) -> webhooks.Delivery:
    return webhooks.Delivery(
        id=row["id"],
        tenant_id=row["tenant_id"],
        flow=row["flow"],
        delivery_id=row["delivery_id"],
        payload=db.json_field(row["payload"]),
        status=webhooks.DeliveryStatus(row["status"]),
        attempts=row["attempts"],
        last_error=row["last_error"],
        correlation_id=row["correlation_id"],
        received_at=row["received_at"],
        processed_at=row["processed_at"],
    )


async def create_endpoint(
    flow: str, *, tenant_id: UUID, verify_token: str | None = None,
    actor: audit.Actor = audit.INTERNAL,
) -> webhooks.Endpoint:
    if flow not in webhooks.FLOWS:
        raise Invalid(f"unknown flow {flow!r}", fields={"input.flow": "unknown"})
    async with db.transaction(tenant_id=tenant_id) as tx:
        if await EndpointTable.exists().where(
            EndpointTable.tenant_id == tenant_id, EndpointTable.flow == flow
        ):
            raise Conflict(f"an endpoint for {flow} exists; rotate its secret instead")
        rows = await EndpointTable.insert(EndpointTable(
            tenant_id=tenant_id, flow=flow, secrets=[webhooks.new_secret()],
            verify_token=verify_token,
        )).returning(*EndpointTable.all_columns())
        endpoint = _endpoint(rows[0])
        await trail.record(
            tx.connection, actor, "webhook_endpoint.created", "webhook_endpoint", flow,
            tenant_id=tenant_id, after=_audited(endpoint),
        )
    return endpoint


def _audited(endpoint: webhooks.Endpoint) -> dict[str, Any]:
    """What the audit trail keeps of an endpoint: how many secrets, never a secret, and
    whether a verify token is set, never the token."""
    return {
        "id": endpoint.id, "flow": endpoint.flow, "enabled": endpoint.enabled,
        "secret_count": len(endpoint.secrets), "verify_token_set": bool(endpoint.verify_token),
    }


async def list_endpoints(*, tenant_id: UUID) -> list[webhooks.Endpoint]:
    async with db.transaction(tenant_id=tenant_id):
        rows = await EndpointTable.select().where(EndpointTable.tenant_id == tenant_id).order_by(
            EndpointTable.flow
        )
    return [_endpoint(row) for row in rows]


async def rotate_secret(
    flow: str, *, tenant_id: UUID, actor: audit.Actor = audit.INTERNAL
) -> webhooks.Endpoint:
    """A new secret becomes current; the previous one stays valid until dropped."""
    return await _update_endpoint(
        flow, tenant_id, lambda e: {EndpointTable.secrets: [webhooks.new_secret(), e.secrets[0]]},
        actor, "webhook_endpoint.secret_rotated",
    )


async def drop_previous_secret(
    flow: str, *, tenant_id: UUID, actor: audit.Actor = audit.INTERNAL
) -> webhooks.Endpoint:
    return await _update_endpoint(
        flow, tenant_id, lambda e: {EndpointTable.secrets: [e.secrets[0]]},
        actor, "webhook_endpoint.previous_secret_dropped",
    )


async def set_endpoint(
    flow: str, *, tenant_id: UUID, enabled: bool | None = None, verify_token: str | None = None,
    actor: audit.Actor = audit.INTERNAL,
) -> webhooks.Endpoint:
    def changes(endpoint: webhooks.Endpoint) -> dict[Any, Any]:
        values: dict[Any, Any] = {}
        if enabled is not None:
            values[EndpointTable.enabled] = enabled
        if verify_token is not None:
            values[EndpointTable.verify_token] = verify_token or None
        return values

    return await _update_endpoint(flow, tenant_id, changes, actor, "webhook_endpoint.updated")


async def _update_endpoint(
    flow: str, tenant_id: UUID, changes: Callable[[webhooks.Endpoint], dict[Any, Any]],
    actor: audit.Actor, action: str,
) -> webhooks.Endpoint:
    async with db.transaction(tenant_id=tenant_id) as tx:
        row = await EndpointTable.select().where(
            EndpointTable.tenant_id == tenant_id, EndpointTable.flow == flow
        ).first()
        if row is None:
            raise NotFound(f"no endpoint for {flow}")
        values = {**changes(_endpoint(row)), EndpointTable.updated_at: datetime.now(UTC)}
        rows = await EndpointTable.update(values).where(EndpointTable.id == row["id"]).returning(
            *EndpointTable.all_columns()
        )
        endpoint = _endpoint(rows[0])
        await trail.record(
            tx.connection, actor, action, "webhook_endpoint", flow, tenant_id=tenant_id,
            before=_audited(_endpoint(row)), after=_audited(endpoint),
        )
    return endpoint


async def find_endpoint(tenant_ref: str, flow: str) -> webhooks.Endpoint | None:
    """The endpoint a request addresses (tenant slug or id, flow); read before a tenant scope."""
    if not 0 < len(tenant_ref) <= 128 or "\x00" in tenant_ref:
        return None  # no tenant is named so, and PostgreSQL text cannot even hold a NUL
    async with db.platform() as tx:
        row = await tx.connection.fetchrow(
            """
            select e.*, t.slug as tenant_slug
            from webhook_endpoints e join tenants t on t.id = e.tenant_id
            where e.flow = $2 and (t.slug = $1 or t.id::text = lower($1))
            """,
            tenant_ref, flow,
        )
    return None if row is None else _endpoint(dict(row))


async def accept_signed(
    endpoint: webhooks.Endpoint, *, delivery_id: str, payload: str, correlation_id: str,
    replay_window: timedelta | None = None, traceparent: str | None = None,
) -> webhooks.Receipt | None:
    """Store a delivery verified against `endpoint.secrets`, once, in one round trip (a
    statement in its own transaction, committed on return); None when the endpoint no longer
    holds exactly those secrets or is disabled, so an endpoint read earlier (a cache) can
    never let a rotated-out secret through. `payload` is JSON text.

    With `replay_window`, the id names a delivery only while its row is younger than the window
    (body-signed deliveries, whose id is the body's hash); without it, for good."""
    assert DB.pool is not None
    async with DB.pool.acquire() as connection:
        row = await connection.fetchrow(
            "select id, status, created from webhook_accept($1, $2, $3, $4::jsonb, $5, $6, $7, $8)",
            endpoint.tenant_id, endpoint.flow, delivery_id, payload, correlation_id,
            list(endpoint.secrets), replay_window, traceparent,
        )
    if row is None:
        return None
    return webhooks.Receipt(row["id"], webhooks.DeliveryStatus(row["status"]), row["created"])


async def mark_failed(delivery_id: UUID, error: str, *, tenant_id: UUID, dead: bool) -> None:
    async with db.transaction(tenant_id=tenant_id):
        await InboxTable.update({
            InboxTable.status: "dead" if dead else "failed",
            InboxTable.last_error: error[:2000],
            InboxTable.updated_at: datetime.now(UTC),
            InboxTable.attempts: InboxTable.attempts + 1,
        }).where(
            InboxTable.tenant_id == tenant_id, InboxTable.id == delivery_id,
            InboxTable.status.is_in(["queued", "failed"]),
        )


async def get_delivery(delivery_id: UUID, *, tenant_id: UUID) -> webhooks.Delivery:
    async with db.transaction(tenant_id=tenant_id):
        row = await InboxTable.select().where(
            InboxTable.tenant_id == tenant_id, InboxTable.id == delivery_id
        ).first()
    if row is None:
        raise NotFound("delivery not found")
    return _delivery(row)


async def list_deliveries(
    *,
    tenant_id: UUID,
    status: webhooks.DeliveryStatus | None = None,
    flow: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: tuple[datetime, UUID] | None = None,
    limit: int = 50,
    descending: bool = True,
) -> list[webhooks.Delivery]:
    """Newest first (unless not `descending`), keyset-paginated by (received_at, id)."""
    query = InboxTable.select().where(InboxTable.tenant_id == tenant_id)
    for condition in _delivery_filters(status, flow, since, until):
        query = query.where(condition)
    if after is not None:
        op = "<" if descending else ">"
        query = query.where(WhereRaw(f"(received_at, id) {op} ({{}}, {{}})", after[0], after[1]))
    query = query.order_by(InboxTable.received_at, InboxTable.id, ascending=not descending).limit(limit)
    async with db.transaction(tenant_id=tenant_id):
        rows = await query
    return [_delivery(row) for row in rows]


async def count_deliveries(
    *, tenant_id: UUID, status: webhooks.DeliveryStatus | None = None, flow: str | None = None,
    since: datetime | None = None, until: datetime | None = None,
) -> int:
    """How many deliveries list_deliveries' filters select, every page."""
    conditions = _delivery_filters(status, flow, since, until)
    return await counting.count_rows(InboxTable, conditions, tenant_id=tenant_id)


def _delivery_filters(
    status: webhooks.DeliveryStatus | None, flow: str | None,
    since: datetime | None, until: datetime | None,
) -> list[Any]:
    conditions: list[Any] = []
    if status is not None:
        conditions.append(InboxTable.status == status.value)
    if flow is not None:
        conditions.append(InboxTable.flow == flow)
    if since is not None:
        conditions.append(InboxTable.received_at >= since)
    if until is not None:
        conditions.append(InboxTable.received_at < until)
    return conditions


async def requeue(
    *,
    tenant_id: UUID,
    ids: Sequence[UUID] | None = None,
    flow: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    actor: audit.Actor = audit.INTERNAL,
) -> list[tuple[UUID, str]]:
    """Put dead (or failed) deliveries back in the queue, ready now; returns which (id, flow),
    to wake their flows.
    Each one requeued is recorded in the tenant's audit trail with the status it had."""
    where = [InboxTable.tenant_id == tenant_id, InboxTable.status.is_in(["dead", "failed"])]
    if ids is not None:
        where.append(InboxTable.id.is_in(list(ids) or [UUID(int=0)]))
    if flow is not None:
        where.append(InboxTable.flow == flow)
    if since is not None:
        where.append(InboxTable.received_at >= since)
    if until is not None:
        where.append(InboxTable.received_at < until)
    async with db.transaction(tenant_id=tenant_id) as tx:
        found = await InboxTable.select(
            InboxTable.id, InboxTable.flow, InboxTable.delivery_id, InboxTable.status,
            InboxTable.attempts,
        ).where(*where).lock_rows()
        if found:
            await InboxTable.update({
                InboxTable.status: "queued",
                InboxTable.attempts: 0,
                InboxTable.updated_at: datetime.now(UTC),
                InboxTable.available_at: datetime.now(UTC),
            }).where(
                InboxTable.tenant_id == tenant_id, InboxTable.id.is_in([row["id"] for row in found])
            )
        for row in found:
            await trail.record(
                tx.connection, actor, "webhook_delivery.replayed", "webhook_delivery", str(row["id"]),
                tenant_id=tenant_id, before={"status": row["status"], "attempts": row["attempts"]},
                after={"status": "queued", "attempts": 0, "flow": row["flow"],
                       "delivery_id": row["delivery_id"]},
            )
    return [(row["id"], row["flow"]) for row in found]

