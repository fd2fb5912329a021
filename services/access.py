"""Who may call a tenant's API and from where: issuing and rotating API keys, and the browser
origins allowed to call cross-origin. One function per administrative action."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

from domain import audit, credentials, origins, tenancy
from domain.errors import Invalid
from tables import api_keys
from tables import origins as origin_tables

MAX_GRACE = timedelta(days=90)


@dataclasses.dataclass(frozen=True)
class Rotation:
    previous: credentials.ApiKey
    successor: credentials.ApiKey
    token: str


async def create_api_key(
    *, tenant_id: UUID | None, name: str, scopes: Iterable[str], expires_at: datetime | None = None,
    actor: audit.Actor = audit.INTERNAL,
) -> tuple[credentials.ApiKey, str]:
    """A new key of this tenant (a platform key with tenant_id None), expiring at `expires_at`
    when given; its token is returned this once."""
    if not name.strip() or len(name) > credentials.MAX_NAME:
        raise Invalid("name must be 1-200 characters", fields={"input.name": "invalid"})
    wanted = tenancy.check_scopes(scopes, platform=tenant_id is None, field="input.scopes")
    return await api_keys.create(
        tenant_id=tenant_id, name=name, scopes=wanted, expires_at=_future(expires_at), actor=actor
    )


async def rotate_api_key(
    prefix: str, *, tenant_id: UUID | None, grace: timedelta, expires_at: datetime | None = None,
    actor: audit.Actor = audit.INTERNAL,
) -> Rotation:
    """A successor of the key with the same name and scopes; the old key stays valid for
    `grace` (never past its own expiry), then is refused as expired. tenant_id None: any key
    (the operator's CLI)."""
    if not timedelta(0) <= grace <= MAX_GRACE:
        raise Invalid(f"the grace period must be between 0 and {MAX_GRACE.days} days",
                      fields={"graceSeconds": "out of range"})
    previous, successor, token = await api_keys.rotate(
        prefix, tenant_id=tenant_id, grace=grace, expires_at=_future(expires_at), actor=actor
    )
    return Rotation(previous=previous, successor=successor, token=token)


async def set_allowed_origins(
    *, tenant_id: UUID, allowed: Sequence[str], actor: audit.Actor = audit.INTERNAL
) -> tuple[str, ...]:
    """Replace the tenant's allowed browser origins; every API process applies the list from
    its next request on."""
    checked = origins.check_tenant_list(allowed)
    tenant = await origin_tables.set_allowed(tenant_id=tenant_id, allowed=checked, actor=actor)
    return tuple(sorted(origins.of_tenant(tenant.settings)))


def _future(moment: datetime | None) -> datetime | None:
    """An expiry: in the future, UTC when it names no offset."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment <= datetime.now(UTC):
        raise Invalid("expiresAt must be in the future", fields={"input.expiresAt": "in the past"})
    return moment
