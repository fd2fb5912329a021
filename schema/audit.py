"""The audit log, part of the core every tenant has: readable with the admin scope only."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from domain import events
from resolvers import audit as resolve
from schema.common import Connection, Ctx


@strawberry.type(description="One change: what happened to which aggregate, who did it, and when.")
class AuditEntry:
    seq: int = strawberry.field(description="Increases with every change of this tenant")
    type: str = strawberry.field(description="e.g. product.updated, price.updated")
    aggregate_type: str
    aggregate_id: str
    actor: str = strawberry.field(description="key:<prefix> for API keys, else the token subject")
    correlation_id: str = strawberry.field(description="The request (X-Request-ID) or job")
    created_at: datetime
    payload: JSON

    @classmethod
    def from_domain(cls, value: events.Event) -> AuditEntry:
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
class AuditFilter:
    actor: str | None = None
    aggregate_type: str | None = None
    aggregate_id: str | None = None
    type: str | None = strawberry.field(default=None, description="An event type, e.g. order.created")
    since: datetime | None = strawberry.field(default=None, description="At or after")
    until: datetime | None = strawberry.field(default=None, description="Before")

    def to_resolver(self) -> resolve.AuditFilter:
        return resolve.AuditFilter(
            actor=self.actor,
            aggregate_type=self.aggregate_type,
            aggregate_id=self.aggregate_id,
            types=() if self.type is None else (self.type,),
            since=self.since,
            until=self.until,
        )


@strawberry.type
class AuditQuery:
    @strawberry.field(description="Who changed what and when, newest first (admin scope).")
    async def audit_log(
        self, info: Ctx, first: int | None = 20, after: str | None = None,
        filter: AuditFilter | None = None,
    ) -> Connection[AuditEntry]:
        page = await resolve.audit_log(
            info.context, first=first, after=after, where=(filter or AuditFilter()).to_resolver()
        )
        return Connection.of(page, AuditEntry.from_domain)


__all__ = ["AuditEntry", "AuditQuery"]
