"""The core module every tenant has: the tenant itself, its API keys, its modules."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain import credentials, tenancy
from resolvers import tenants as resolve
from schema import inputs
from schema.common import Ctx, UserError, attempt


@strawberry.type(name="Tenant")
class TenantType:
    id: strawberry.ID
    slug: str
    name: str
    modules: list[str]
    extensions: list[str]

    @classmethod
    def from_domain(cls, value: tenancy.Tenant) -> TenantType:
        return cls(
            id=strawberry.ID(str(value.id)),
            slug=value.slug,
            name=value.name,
            modules=sorted(value.modules),
            extensions=sorted(value.extensions),
        )


@strawberry.type(description="An API key; its secret is only ever shown when it is created.")
class ApiKey:
    prefix: str
    name: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    expires_at: datetime | None

    @classmethod
    def from_domain(cls, value: credentials.ApiKey) -> ApiKey:
        return cls(
            prefix=value.prefix,
            name=value.name,
            scopes=sorted(value.scopes),
            created_at=value.created_at,
            last_used_at=value.last_used_at,
            revoked_at=value.revoked_at,
            expires_at=value.expires_at,
        )


@strawberry.type(description="The new key and its token, or why none was issued.")
class CreateApiKeyPayload:
    api_key: ApiKey | None = None
    token: str | None = strawberry.field(
        default=None, description="The full key. Store it now: it is not shown again."
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="The key a mutation changed, or why it did not.")
class ApiKeyPayload:
    api_key: ApiKey | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="The tenant as changed, or why it was not.")
class TenantPayload:
    tenant: TenantType | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class ApiKeyInput:
    name: str = inputs.column(credentials.MAX_NAME)
    scopes: list[str]
    expires_at: datetime | None = strawberry.field(
        default=None, description="When the key stops working (no expiry when unset)."
    )


@strawberry.type
class TenantQuery:
    @strawberry.field(description="The tenant this request acts for.")
    def tenant(self, info: Ctx) -> TenantType:
        return TenantType.from_domain(resolve.viewer_tenant(info.context))

    @strawberry.field(description="This tenant's API keys (admin scope).")
    async def api_keys(self, info: Ctx) -> list[ApiKey]:
        return [ApiKey.from_domain(k) for k in await resolve.list_api_keys(info.context)]


@strawberry.type
class TenantMutation:
    @strawberry.mutation(description="Issue an API key for this tenant (admin scope).")
    async def create_api_key(self, info: Ctx, input: ApiKeyInput) -> CreateApiKeyPayload:
        created, errors = await attempt(
            resolve.create_api_key(
                info.context, name=input.name, scopes=input.scopes, expires_at=input.expires_at
            )
        )
        if created is None:
            return CreateApiKeyPayload(errors=errors)
        key, token = created
        return CreateApiKeyPayload(api_key=ApiKey.from_domain(key), token=token)

    @strawberry.mutation(description="Revoke an API key of this tenant by its prefix (admin scope).")
    async def revoke_api_key(self, info: Ctx, prefix: str) -> ApiKeyPayload:
        revoked, errors = await attempt(resolve.revoke_api_key(info.context, prefix))
        return ApiKeyPayload(
            api_key=None if revoked is None else ApiKey.from_domain(revoked), errors=errors
        )

    @strawberry.mutation(
        description="Set this tenant's modules (platform keys only); takes effect on the next request."
    )
    async def set_tenant_modules(
        self, info: Ctx, modules: list[str], extensions: list[str] | None = None
    ) -> TenantPayload:
        updated, errors = await attempt(
            resolve.set_modules(info.context, modules=modules, extensions=extensions)
        )
        return TenantPayload(
            tenant=None if updated is None else TenantType.from_domain(updated), errors=errors
        )
