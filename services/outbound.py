"""Webhooks out, the endpoints: create, change, rotate and delete them, each checked (fields,
addresses) and recorded in the audit trail with the change."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import TypeVar
from uuid import UUID

from domain import audit, egress, outbound
from domain.config import Settings
from services import egress as egress_services
from tables import outbound as outbound_tables

ADMIN_DISABLED = "disabled by an admin"
T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Policy:
    """The settings endpoints are held to."""

    allow: tuple[egress.Network, ...] = ()
    max_endpoints: int = Settings.outbound_max_endpoints
    grace: timedelta = timedelta(seconds=Settings.outbound_secret_grace_seconds)

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        return cls(
            allow=settings.outbound_allow_networks,
            max_endpoints=settings.outbound_max_endpoints,
            grace=timedelta(seconds=settings.outbound_secret_grace_seconds),
        )


@dataclasses.dataclass(frozen=True)
class WithSecret:
    """An endpoint and its new secret: the only time the secret is shown."""

    endpoint: outbound.Endpoint
    secret: str


async def create(
    draft: outbound.Draft, *, tenant_id: UUID, policy: Policy, actor: audit.Actor = audit.INTERNAL
) -> WithSecret:
    draft = outbound.check_draft(draft)
    await egress_services.resolve(draft.url, allow=policy.allow)
    secret = outbound.new_secret()
    endpoint = await outbound_tables.create_endpoint(
        draft, secret, tenant_id=tenant_id, max_endpoints=policy.max_endpoints, actor=actor
    )
    return WithSecret(endpoint, secret)


async def update(
    endpoint_id: UUID, changes: outbound.Changes, *, tenant_id: UUID, policy: Policy,
    actor: audit.Actor = audit.INTERNAL,
) -> outbound.Endpoint:
    changes = outbound.checked(changes)
    if changes.url is not None:
        await egress_services.resolve(changes.url, allow=policy.allow)

    def apply(endpoint: outbound.Endpoint, now: datetime) -> outbound.Endpoint:
        return _applied(endpoint, changes)

    return await outbound_tables.change_endpoint(
        endpoint_id, apply, "outbound_endpoint.updated", tenant_id=tenant_id, actor=actor
    )


def _applied(endpoint: outbound.Endpoint, changes: outbound.Changes) -> outbound.Endpoint:
    new = dataclasses.replace(
        endpoint,
        url=_pick(changes.url, endpoint.url),
        description=_pick(changes.description, endpoint.description),
        event_types=_pick(changes.event_types, endpoint.event_types),
        headers=endpoint.headers if changes.headers is None else dict(changes.headers),
        rate_limit=None if changes.clear_rate_limit else _pick(changes.rate_limit, endpoint.rate_limit),
    )
    if changes.enabled is None or changes.enabled == endpoint.enabled:
        return new
    return _enabled(new) if changes.enabled else dataclasses.replace(
        new, enabled=False, disabled_reason=ADMIN_DISABLED
    )


def _pick(value: T | None, current: T) -> T:
    return current if value is None else value


def _enabled(endpoint: outbound.Endpoint) -> outbound.Endpoint:
    return dataclasses.replace(endpoint, enabled=True, disabled_reason=None, failing_since=None)


async def enable(
    endpoint_id: UUID, *, tenant_id: UUID, actor: audit.Actor = audit.INTERNAL
) -> outbound.Endpoint:
    """Enabled again, its failing streak forgotten (the delivery engine starts afresh)."""
    return await outbound_tables.change_endpoint(
        endpoint_id, lambda e, now: _enabled(e), "outbound_endpoint.enabled",
        tenant_id=tenant_id, actor=actor,
    )


async def rotate_secret(
    endpoint_id: UUID, *, tenant_id: UUID, policy: Policy, actor: audit.Actor = audit.INTERNAL
) -> WithSecret:
    """A new secret signs from now on; the previous one too, until now + the grace period."""
    secret = outbound.new_secret()

    def rotate(endpoint: outbound.Endpoint, now: datetime) -> outbound.Endpoint:
        secrets = outbound.rotated(endpoint.secrets, secret, now=now, grace=policy.grace)
        return dataclasses.replace(endpoint, secrets=secrets)

    endpoint = await outbound_tables.change_endpoint(
        endpoint_id, rotate, "outbound_endpoint.secret_rotated", tenant_id=tenant_id, actor=actor
    )
    return WithSecret(endpoint, secret)


async def delete(
    endpoint_id: UUID, *, tenant_id: UUID, actor: audit.Actor = audit.INTERNAL
) -> outbound.Endpoint:
    return await outbound_tables.delete_endpoint(endpoint_id, tenant_id=tenant_id, actor=actor)


async def get(endpoint_id: UUID, *, tenant_id: UUID) -> outbound.Endpoint:
    return await outbound_tables.get_endpoint(endpoint_id, tenant_id=tenant_id)


async def list_all(*, tenant_id: UUID) -> list[outbound.Endpoint]:
    return await outbound_tables.list_endpoints(tenant_id=tenant_id)
