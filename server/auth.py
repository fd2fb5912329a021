"""Who is calling and for which tenant: resolved from the request before anything else."""

from __future__ import annotations

import dataclasses
from uuid import UUID

import jwt

from domain import credentials, tenancy
from domain.config import Settings
from domain.errors import BadRequest, Forbidden, NotFound, Unauthenticated
from tables import api_keys, db, tenants

JWT_ALGORITHMS = ["HS256"]


@dataclasses.dataclass(frozen=True)
class Caller:
    tenant: tenancy.Tenant
    principal: tenancy.Principal


async def authenticate(
    authorization: str | None, selected_tenant: str | None, settings: Settings
) -> Caller:
    """The tenant and principal of a request. `selected_tenant` is X-Tenant-ID (or the
    WebSocket `tenant` parameter): platform keys use it to pick a tenant; for any other
    credential it must name the credential's own tenant."""
    token = _bearer(authorization)
    async with db.platform():  # one transaction for the key, token and tenant lookups
        return await _caller(token, selected_tenant, settings)


async def _caller(token: str, selected_tenant: str | None, settings: Settings) -> Caller:
    principal, tenant = await _principal(token, settings)
    if principal.is_platform:
        if not selected_tenant:
            raise BadRequest("a platform key must select a tenant with X-Tenant-ID")
        return Caller(tenant=await _tenant_ref(selected_tenant), principal=principal)
    assert tenant is not None
    if selected_tenant and not _names(selected_tenant, tenant):
        raise Forbidden("this credential cannot act for another tenant")
    return Caller(tenant=tenant, principal=principal)


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated("missing credentials: send Authorization: Bearer <api key or JWT>")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("malformed Authorization header: expected 'Bearer <token>'")
    return token.strip()


async def _principal(
    token: str, settings: Settings
) -> tuple[tenancy.Principal, tenancy.Tenant | None]:
    """The principal and, unless it is a platform key, its tenant."""
    if token.startswith("tg_"):
        found = await api_keys.authenticate(token)
        if found is None:
            raise Unauthenticated(BAD_KEY)
        key, tenant = found
        return key_principal(key), tenant
    return await _jwt_principal(token, settings)


BAD_KEY = "invalid, revoked or expired API key"


def key_principal(key: credentials.ApiKey) -> tenancy.Principal:
    return tenancy.Principal(subject=f"key:{key.prefix}", scopes=key.scopes, tenant_id=key.tenant_id)


async def _jwt_principal(
    token: str, settings: Settings
) -> tuple[tenancy.Principal, tenancy.Tenant]:
    try:
        claims = jwt.decode(
            token,
            str(settings.jwt_secret),
            algorithms=JWT_ALGORITHMS,
            options={"require": ["sub", "tenant", "exp"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("token expired") from None
    except jwt.PyJWTError as error:
        raise Unauthenticated(f"invalid token: {error}") from None
    tenant = await _tenant_ref(str(claims["tenant"]), unauthenticated=True)
    scopes = claims.get("scopes", [])
    if isinstance(scopes, str):
        scopes = scopes.split()
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise Unauthenticated("invalid token: scopes must be a list of strings")
    # A token never carries platform rights: those belong to platform API keys only.
    granted = frozenset(scopes) - {tenancy.PLATFORM}
    principal = tenancy.Principal(
        subject=f"jwt:{claims['sub']}", scopes=granted, tenant_id=tenant.id, kind="jwt"
    )
    return principal, tenant


async def _tenant_ref(ref: str, *, unauthenticated: bool = False) -> tenancy.Tenant:
    """A tenant by slug or by id."""
    try:
        return await (tenants.get(UUID(ref)) if _is_uuid(ref) else tenants.get_by_slug(ref))
    except NotFound:
        if unauthenticated:
            raise Unauthenticated("invalid token: unknown tenant") from None
        raise


def _names(ref: str, tenant: tenancy.Tenant) -> bool:
    return ref == tenant.slug or (_is_uuid(ref) and UUID(ref) == tenant.id)


def _is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True
