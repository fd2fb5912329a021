"""Key rotation and the tenant's allowed browser origins (CORS), for the tenant's admins."""

from __future__ import annotations

from datetime import datetime

import strawberry

from resolvers import access as resolve
from schema.common import Ctx, UserError, attempt
from schema.tenants import ApiKey


@strawberry.type(description="A rotated key's successor and its token, or why there is none.")
class RotateApiKeyPayload:
    api_key: ApiKey | None = strawberry.field(default=None, description="The successor.")
    token: str | None = strawberry.field(
        default=None, description="The successor's full key. Store it now: it is not shown again."
    )
    previous: ApiKey | None = strawberry.field(
        default=None, description="The rotated key, valid until its expiresAt (the grace period)."
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="The tenant's allowed origins as stored, or why they were not.")
class AllowedOriginsPayload:
    allowed_origins: list[str] | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AccessQuery:
    @strawberry.field(
        description="Browser origins (scheme://host[:port]) allowed to call this tenant's API "
        "cross-origin, besides the deployment's CORS_ORIGINS (admin scope)."
    )
    def allowed_origins(self, info: Ctx) -> list[str]:
        return resolve.allowed_origins(info.context)


@strawberry.type
class AccessMutation:
    @strawberry.mutation(
        description="Replace this tenant's allowed browser origins (admin scope); every API "
        "process applies them from its next request on."
    )
    async def set_allowed_origins(self, info: Ctx, origins: list[str]) -> AllowedOriginsPayload:
        stored, errors = await attempt(resolve.set_allowed_origins(info.context, origins))
        return AllowedOriginsPayload(allowed_origins=stored, errors=errors)

    @strawberry.mutation(
        description="Issue a successor to an API key with the same name and scopes (admin "
        "scope); the old key stays valid for graceSeconds (default API_KEY_ROTATION_GRACE), "
        "then is refused with API_KEY_EXPIRED."
    )
    async def rotate_api_key(
        self, info: Ctx, prefix: str, grace_seconds: int | None = None,
        expires_at: datetime | None = None,
    ) -> RotateApiKeyPayload:
        rotated, errors = await attempt(resolve.rotate_api_key(
            info.context, prefix, grace_seconds=grace_seconds, expires_at=expires_at
        ))
        if rotated is None:
            return RotateApiKeyPayload(errors=errors)
        return RotateApiKeyPayload(
            api_key=ApiKey.from_domain(rotated.successor), token=rotated.token,
            previous=ApiKey.from_domain(rotated.previous),
        )
