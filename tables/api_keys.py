"""API keys: hashed secrets bound to a tenant (or to the platform), with scopes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from piccolo.columns import UUID as UUIDColumn
from piccolo.columns import Array, Timestamptz, Varchar
from piccolo.table import Table

from domain import audit, credentials, tenancy
from domain.errors import Conflict, NotFound
from tables import audit as trail
from tables import credential_changes, db, tenants
from tables.engine import DB

USAGE_RESOLUTION = timedelta(seconds=60)


class ApiKeyTable(Table, tablename="api_keys", db=DB):
    id = UUIDColumn(primary_key=True)
    tenant_id = UUIDColumn(null=True, default=None)
    prefix = Varchar(length=24)
    secret_hash = Varchar(length=64)
    name = Varchar(length=credentials.MAX_NAME)
    scopes = Array(base_column=Varchar(length=64))
    created_at = Timestamptz()
    last_used_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)
    expires_at = Timestamptz(null=True, default=None)
    replaced_by = UUIDColumn(null=True, default=None)


def _to_key(row: dict[str, Any]) -> credentials.ApiKey:
    return credentials.ApiKey(
        id=row["id"],
        tenant_id=row["tenant_id"],
        prefix=row["prefix"],
        name=row["name"],
        scopes=frozenset(row["scopes"]),
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
        expires_at=row["expires_at"],
    )


async def create(
    *,
    tenant_id: UUID | None,
    name: str,
    scopes: Iterable[str],
    expires_at: datetime | None = None,
    actor: audit.Actor = audit.INTERNAL,
) -> tuple[credentials.ApiKey, str]:
    """Store a new key; the returned token is the only time its secret is seen."""
    issued = credentials.issue()
    row = ApiKeyTable(
        tenant_id=tenant_id,
        prefix=issued.prefix,
        secret_hash=issued.hash,
        name=name,
        scopes=sorted(scopes),
        expires_at=expires_at,
    )
    async with _scope(tenant_id) as tx:
        rows = await ApiKeyTable.insert(row).returning(*ApiKeyTable.all_columns())
        key = _to_key(rows[0])
        await trail.record(
            tx.connection, actor, "api_key.created", "api_key", key.prefix, tenant_id=tenant_id,
            after=_audited(key),
        )
    return key, issued.token


def _audited(key: credentials.ApiKey) -> dict[str, Any]:
    """What the audit trail keeps of a key: never its secret nor the secret's hash."""
    return {
        "id": key.id, "prefix": key.prefix, "name": key.name, "scopes": sorted(key.scopes),
        "expires_at": key.expires_at, "revoked_at": key.revoked_at,
    }


async def authenticate(token: str) -> tuple[credentials.ApiKey, tenancy.Tenant | None] | None:
    """The usable key a presented token belongs to with its tenant (None for a platform key),
    in one query, or None; marks the key used (coarsely). A genuine key past its expiry raises
    ApiKeyExpired."""
    parsed = credentials.parse(token)
    if parsed is None:
        return None
    prefix, secret = parsed
    now = datetime.now(UTC)
    async with db.platform() as tx:
        rows = await tx.connection.fetch(WITH_TENANT, prefix)
        for row in rows:
            if not credentials.matches(secret, row["secret_hash"]):
                continue
            key = _to_key(dict(row))
            credentials.check_not_expired(key, now)
            if key.usable(now):
                await _mark_used(key, now)
                tenant = None if row["t_id"] is None else tenants.to_tenant(_tenant_columns(row))
                return key, tenant
    return None


WITH_TENANT = """
select k.*, t.id as t_id, t.slug as t_slug, t.name as t_name, t.modules as t_modules,
       t.extensions as t_extensions, t.settings as t_settings
from api_keys k left join tenants t on t.id = k.tenant_id
where k.prefix = $1
"""


def _tenant_columns(row: Any) -> dict[str, Any]:
    return {name: row[f"t_{name}"] for name in ("id", "slug", "name", "modules", "extensions", "settings")}


async def list_for_tenant(*, tenant_id: UUID) -> list[credentials.ApiKey]:
    async with db.transaction(tenant_id=tenant_id):
        rows = await ApiKeyTable.select().where(ApiKeyTable.tenant_id == tenant_id).order_by(
            ApiKeyTable.created_at
        )
    return [_to_key(row) for row in rows]


async def revoke(
    prefix: str, *, tenant_id: UUID | None, actor: audit.Actor = audit.INTERNAL
) -> credentials.ApiKey:
    """Revoke a key of this tenant (or, with tenant_id None, a platform key)."""
    owner = "k.tenant_id is null" if tenant_id is None else "k.tenant_id = $2"
    args = (prefix,) if tenant_id is None else (prefix, tenant_id)
    return await _revoke(_scope(tenant_id), owner, args, actor)


async def revoke_any(prefix: str, *, actor: audit.Actor = audit.INTERNAL) -> credentials.ApiKey:
    """Operator revocation from the CLI, whichever tenant the key belongs to."""
    return await _revoke(db.platform(), "true", (prefix,), actor)


REVOKE = """
update api_keys k set revoked_at = now() from api_keys old
where k.id = old.id and k.prefix = $1 and {owner}
returning k.*, old.revoked_at as was_revoked_at
"""


async def _revoke(scope: Any, owner: str, args: tuple[Any, ...], actor: audit.Actor) -> credentials.ApiKey:
    """The key revoked, and its record in the trail of the key's owner (a tenant, or the
    platform for a platform key)."""
    async with scope as tx:
        rows = await tx.connection.fetch(REVOKE.format(owner=owner), *args)
        if not rows:
            raise NotFound(f"api key {args[0]!r} not found")
        for row in rows:
            key = _to_key(dict(row))
            await trail.record(
                tx.connection, actor, "api_key.revoked", "api_key", key.prefix,
                tenant_id=key.tenant_id, after=_audited(key),
                before={**_audited(key), "revoked_at": row["was_revoked_at"]},
            )
        await credential_changes.announce(tx.connection)
    return _to_key(dict(rows[0]))


async def _mark_used(key: credentials.ApiKey, now: datetime) -> None:
    if key.last_used_at is not None and now - key.last_used_at < USAGE_RESOLUTION:
        return
    await ApiKeyTable.update({ApiKeyTable.last_used_at: now}).where(ApiKeyTable.id == key.id)


def _scope(tenant_id: UUID | None) -> Any:
    return db.platform() if tenant_id is None else db.transaction(tenant_id=tenant_id)


async def purge_revoked(*, older_than: timedelta) -> int:
    """Delete keys revoked longer ago than the retention period; returns how many."""
    cutoff = datetime.now(UTC) - older_than
    async with db.platform():
        rows = await ApiKeyTable.delete().where(
            ApiKeyTable.revoked_at.is_not_null(), ApiKeyTable.revoked_at < cutoff
        ).returning(ApiKeyTable.id)
    return len(rows)


async def revoke_named(
    name: str, *, tenant_id: UUID | None, actor: audit.Actor = audit.INTERNAL
) -> int:
    """Revoke every active key of this owner with this name (used for demo keys)."""
    owner = (
        ApiKeyTable.tenant_id.is_null() if tenant_id is None else ApiKeyTable.tenant_id == tenant_id
    )
    async with _scope(tenant_id) as tx:
        rows = await ApiKeyTable.update({ApiKeyTable.revoked_at: datetime.now(UTC)}).where(
            ApiKeyTable.name == name, ApiKeyTable.revoked_at.is_null(), owner
        ).returning(*ApiKeyTable.all_columns())
        for key in map(_to_key, rows):
            await trail.record(
                tx.connection, actor, "api_key.revoked", "api_key", key.prefix, tenant_id=tenant_id,
                before={**_audited(key), "revoked_at": None}, after=_audited(key),
            )
        await credential_changes.announce(tx.connection)
    return len(rows)


async def rotate(
    prefix: str, *, tenant_id: UUID | None, grace: timedelta, expires_at: datetime | None,
    actor: audit.Actor = audit.INTERNAL,
) -> tuple[credentials.ApiKey, credentials.ApiKey, str]:
    """Issue a successor (same owner, name and scopes) to a usable key of this tenant (or, with
    tenant_id None, any key: the operator's CLI) and let the old one expire after `grace`;
    returns the old key as changed, the successor and its token (the only time it is seen)."""
    issued = credentials.issue()
    now = datetime.now(UTC)
    owner = "" if tenant_id is None else "and tenant_id = $2"
    async with _scope(tenant_id) as tx:
        row = await tx.connection.fetchrow(
            f"select * from api_keys where prefix = $1 {owner} for update",
            *((prefix,) if tenant_id is None else (prefix, tenant_id)),
        )
        if row is None:
            raise NotFound(f"api key {prefix!r} not found")
        old = _to_key(dict(row))
        if row["replaced_by"] is not None:
            raise Conflict(f"api key {prefix} was already rotated: rotate its successor")
        if not old.usable(now):
            raise Conflict(f"api key {prefix} is revoked or expired: create a new key instead")
        successor = await tx.connection.fetchrow(
            "insert into api_keys (id, tenant_id, prefix, secret_hash, name, scopes, created_at,"
            " expires_at) values (gen_random_uuid(), $1, $2, $3, $4, $5, $6, $7) returning *",
            old.tenant_id, issued.prefix, issued.hash, old.name, sorted(old.scopes), now, expires_at,
        )
        ends = now + grace if old.expires_at is None else min(old.expires_at, now + grace)
        changed = await tx.connection.fetchrow(
            "update api_keys set expires_at = $2, replaced_by = $3 where id = $1 returning *",
            old.id, ends, successor["id"],
        )
        await trail.record(
            tx.connection, actor, "api_key.rotated", "api_key", old.prefix,
            tenant_id=old.tenant_id, before=_audited(old),
            after={**_audited(_to_key(dict(changed))), "successor": successor["prefix"]},
        )
        await credential_changes.announce(tx.connection)
    return _to_key(dict(changed)), _to_key(dict(successor)), issued.token
