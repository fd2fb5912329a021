"""The audit trail and the event history, part of the core every tenant has: `auditLog` (the
tenant's administrative changes, admin scope), `platformAuditLog` (the platform's own, platform
keys) and `eventLog` (domain events, pruned after EVENT_RETENTION_DAYS, admin scope)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from domain import audit, events
from resolvers import audit as resolve
from schema.common import Connection, Ctx, window

OLD_NAME = "kept from the auditLog of domain events; use {}"


@strawberry.type(
    description="One administrative change: who (credential and request) did what to which "
    "target, with what changed (never a secret)."
)
class AuditEntry:
    seq: int = strawberry.field(description="The record's number; newer records have higher ones")
    action: str = strawberry.field(description="A dotted name, e.g. api_key.created, tenant.deleted")
    actor: str = strawberry.field(description="key:<prefix>, jwt:<subject>, cli:<OS user> or system:<name>")
    actor_kind: str = strawberry.field(description="api_key, jwt, cli or system")
    actor_id: str = strawberry.field(description="The key prefix, token subject or OS user")
    target_type: str = strawberry.field(description="e.g. api_key, webhook_endpoint, tenant")
    target_id: str = strawberry.field(description="A key prefix, a flow, a delivery or tenant id")
    before: JSON | None = strawberry.field(description="What changed, as it was (null: created)")
    after: JSON | None = strawberry.field(description="What changed, as it became")
    request_id: str | None = strawberry.field(description="X-Request-ID of the request, or the CLI run")
    client_address: str | None = strawberry.field(description="The client's address, over HTTP")
    created_at: datetime
    type: str = strawberry.field(deprecation_reason=OLD_NAME.format("action"))
    aggregate_type: str = strawberry.field(deprecation_reason=OLD_NAME.format("targetType"))
    aggregate_id: str = strawberry.field(deprecation_reason=OLD_NAME.format("targetId"))
    correlation_id: str = strawberry.field(deprecation_reason=OLD_NAME.format("requestId"))
    payload: JSON = strawberry.field(deprecation_reason=OLD_NAME.format("before and after"))

    @classmethod
    def from_domain(cls, value: audit.Entry) -> AuditEntry:
        before = None if value.before is None else JSON(dict(value.before))
        after = None if value.after is None else JSON(dict(value.after))
        return cls(
            seq=value.id,
            action=value.action,
            actor=value.actor.subject,
            actor_kind=value.actor.kind,
            actor_id=value.actor.id,
            target_type=value.target_type,
            target_id=value.target_id,
            before=before,
            after=after,
            request_id=value.actor.request_id,
            client_address=value.actor.client_address,
            created_at=value.created_at,
            type=value.action,
            aggregate_type=value.target_type,
            aggregate_id=value.target_id,
            correlation_id=value.actor.request_id or "",
            payload=JSON({"before": before, "after": after}),
        )


@strawberry.input
class AuditFilter:
    action_prefix: str | None = strawberry.field(
        default=None, description="An action or its prefix: api_key matches api_key.created"
    )
    actor: str | None = strawberry.field(default=None, description="e.g. key:<prefix>, jwt:<sub>")
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = strawberry.field(default=None, description="At or after")
    until: datetime | None = strawberry.field(default=None, description="Before")
    type: str | None = strawberry.field(default=None, description="One action exactly (as before)")
    aggregate_type: str | None = strawberry.field(default=None, description="Same as targetType")
    aggregate_id: str | None = strawberry.field(default=None, description="Same as targetId")

    def to_domain(self) -> audit.Filter:
        return audit.Filter(
            action_prefix=self.action_prefix,
            action=self.type,
            actor=self.actor,
            target_type=self.target_type or self.aggregate_type,
            target_id=self.target_id or self.aggregate_id,
            since=self.since,
            until=self.until,
        )


@strawberry.type(description="One domain event: what happened to which aggregate, who did it, and when.")
class EventLogEntry:
    seq: int = strawberry.field(description="Increases with every change of this tenant")
    type: str = strawberry.field(description="e.g. product.updated, price.updated")
    aggregate_type: str
    aggregate_id: str
    actor: str = strawberry.field(description="key:<prefix> for API keys, else the token subject")
    correlation_id: str = strawberry.field(description="The request (X-Request-ID) or job")
    created_at: datetime
    payload: JSON

    @classmethod
    def from_domain(cls, value: events.Event) -> EventLogEntry:
        return cls(
            seq=value.seq,
            type=value.type,
            aggregate_type=value.aggregate_type,
            aggregate_id=value.aggregate_id,
            actor=value.actor,
            correlation_id=value.correlation_id,
            created_at=value.created_at,
            payload=JSON(dict(value.payload)),
        )


@strawberry.input
class EventLogFilter:
    actor: str | None = None
    aggregate_type: str | None = None
    aggregate_id: str | None = None
    type: str | None = strawberry.field(default=None, description="An event type, e.g. order.created")
    since: datetime | None = strawberry.field(default=None, description="At or after")
    until: datetime | None = strawberry.field(default=None, description="Before")

    def to_resolver(self) -> resolve.EventFilter:
        return resolve.EventFilter(
            actor=self.actor,
            aggregate_type=self.aggregate_type,
            aggregate_id=self.aggregate_id,
            types=() if self.type is None else (self.type,),
            since=self.since,
            until=self.until,
        )


@strawberry.type
class AuditQuery:
    @strawberry.field(
        description="Who changed this tenant's administration (API keys, webhook endpoints and "
        "secrets, deliveries replayed) and what changed, newest first (admin scope). Kept for "
        "AUDIT_RETENTION_DAYS."
    )
    async def audit_log(
        self, info: Ctx, first: int | None = None, after: str | None = None,
        last: int | None = None, before: str | None = None,
        filter: AuditFilter | None = None,
    ) -> Connection[AuditEntry]:
        page = await resolve.audit_log(
            info.context, page=window(info, first, after, last, before),
            where=(filter or AuditFilter()).to_domain()
        )
        return Connection.of(page, AuditEntry.from_domain)

    @strawberry.field(
        description="The platform's own audit trail: tenants created, their modules changed, "
        "exported, imported and deleted, platform keys; newest first (platform keys only)."
    )
    async def platform_audit_log(
        self, info: Ctx, first: int | None = None, after: str | None = None,
        last: int | None = None, before: str | None = None,
        filter: AuditFilter | None = None,
    ) -> Connection[AuditEntry]:
        page = await resolve.platform_audit_log(
            info.context, page=window(info, first, after, last, before),
            where=(filter or AuditFilter()).to_domain()
        )
        return Connection.of(page, AuditEntry.from_domain)

    @strawberry.field(
        description="This tenant's domain events (order.created, product.updated, ...), newest "
        "first (admin scope). Kept for EVENT_RETENTION_DAYS."
    )
    async def event_log(
        self, info: Ctx, first: int | None = None, after: str | None = None,
        last: int | None = None, before: str | None = None,
        filter: EventLogFilter | None = None,
    ) -> Connection[EventLogEntry]:
        page = await resolve.event_log(
            info.context, page=window(info, first, after, last, before),
            where=(filter or EventLogFilter()).to_resolver()
        )
        return Connection.of(page, EventLogEntry.from_domain)


__all__ = ["AuditEntry", "AuditQuery", "EventLogEntry"]
