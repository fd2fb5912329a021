"""The typed context every resolver receives, built once per operation."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Protocol
from uuid import UUID

from domain import audit, catalog, events, metrics, tenancy
from domain.config import Settings
from domain.errors import Forbidden
from resolvers.loaders import Loaders


@dataclasses.dataclass(frozen=True)
class DomainServices:
    """Domain services a tenant extension may replace for its tenants."""

    catalog_rules: catalog.CatalogRules = dataclasses.field(
        default_factory=catalog.DefaultCatalogRules
    )
    metrics: metrics.MetricsService = dataclasses.field(default_factory=metrics.DefaultMetricsService)


class Jobs(Protocol):
    """Background work a resolver may start (the worker's queue, wired by the server)."""

    async def wake_deliveries(self, *, tenant_id: UUID, flow: str) -> None:
        """Wake the workers for the tenant's flow: its accepted deliveries are ready."""

    async def enqueue_job(self, function: str, key: str, kwargs: Mapping[str, str]) -> object:
        """Enqueue a worker job by name; a job with the same key still queued is left as is."""


class Listener(Protocol):
    """One subscriber's live events from the process's fan-out (bounded)."""

    async def next(self) -> events.Event | None:
        """The next live event; None when the fan-out may have missed events (reconnected)
        and the stream should catch up from the table. Raises ResyncRequired on overflow."""

    def passed(self, seq: int) -> None:
        """The stream has dealt with every event up to `seq` (the next one it yields, if any,
        is `seq`'s): a shared stream tells its clients where to resume from."""

    def close(self) -> None: ...


class Fanout(Protocol):
    """The process's fan-out of published events by tenant (server.fanout), or a shared
    stream's stand-in for it (server.broadcast)."""

    def listen(self, tenant_id: UUID) -> Listener: ...


@dataclasses.dataclass
class Context:
    tenant: tenancy.Tenant
    principal: tenancy.Principal
    settings: Settings
    services: DomainServices
    loaders: Loaders
    request_id: str
    jobs: Jobs
    fanout: Fanout
    """This process's fan-out of published events, for subscriptions."""
    price_list: str | None = None
    """Handle of the price list this request selected (X-Price-List), if any."""
    traceparent: str | None = None
    """The operation's trace context when traced: its events carry it."""
    client_address: str | None = None
    """The client's address as the server saw it, for the audit trail."""

    @property
    def tenant_id(self) -> UUID:
        return self.tenant.id

    @property
    def meta(self) -> events.WriteMeta:
        return events.WriteMeta(
            actor=self.principal.subject, correlation_id=self.request_id, traceparent=self.traceparent
        )

    @property
    def actor(self) -> audit.Actor:
        """Who acts in this operation, for the audit records of its changes."""
        _, _, credential = self.principal.subject.partition(":")
        return audit.Actor(
            self.principal.kind, credential or self.principal.subject, request_id=self.request_id,
            client_address=self.client_address,
        )

    def require(self, scope: str) -> None:
        if not self.principal.can(scope):
            raise Forbidden(f"this operation needs the {scope!r} scope")


def new_context(
    *,
    tenant: tenancy.Tenant,
    principal: tenancy.Principal,
    settings: Settings,
    services: DomainServices,
    request_id: str,
    jobs: Jobs,
    fanout: Fanout,
    price_list: str | None = None,
) -> Context:
    return Context(
        tenant=tenant,
        principal=principal,
        settings=settings,
        services=services,
        loaders=Loaders(tenant.id),
        request_id=request_id,
        jobs=jobs,
        fanout=fanout,
        price_list=price_list,
    )
