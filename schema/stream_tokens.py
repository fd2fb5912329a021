"""createStreamToken: what a browser's EventSource passes to /graphql/stream as `?token=`."""

from __future__ import annotations

from datetime import datetime

import strawberry

from resolvers import stream_tokens as resolve
from schema.common import Ctx, UserError, attempt


@strawberry.type(description="A stream token and when it expires, or why there is none.")
class CreateStreamTokenPayload:
    token: str | None = strawberry.field(
        default=None, description="Open /graphql/stream?token=<this> (e.g. with an EventSource)."
    )
    expires_at: datetime | None = strawberry.field(
        default=None, description="After this, the token opens no stream (an open one goes on)."
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


async def _issued(info: Ctx, ttl_seconds: int | None) -> tuple[str, datetime]:
    return resolve.create_stream_token(info.context, ttl_seconds)


@strawberry.type
class StreamTokenMutation:
    @strawberry.mutation(
        description="A short-lived token that opens /graphql/stream without an Authorization "
        "header, for this tenant with the caller's scopes; refused once the caller's API key is "
        "revoked. ttlSeconds defaults to 300, at most STREAM_TOKEN_MAX_TTL_SECONDS."
    )
    async def create_stream_token(
        self, info: Ctx, ttl_seconds: int | None = None
    ) -> CreateStreamTokenPayload:
        issued, errors = await attempt(_issued(info, ttl_seconds))
        if issued is None:
            return CreateStreamTokenPayload(errors=errors)
        return CreateStreamTokenPayload(token=issued[0], expires_at=issued[1], errors=errors)
