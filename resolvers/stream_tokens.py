"""Stream tokens for the caller's own credential (domain.stream_tokens)."""

from __future__ import annotations

from datetime import UTC, datetime

from domain import stream_tokens
from resolvers.context import Context


def create_stream_token(ctx: Context, ttl_seconds: int | None) -> tuple[str, datetime]:
    """A token for /graphql/stream?token= carrying the caller's tenant, subject and scopes (never
    more), and when it expires; any authenticated credential may ask."""
    lifetime = stream_tokens.lifetime(ttl_seconds, ctx.settings.stream_token_max_ttl_seconds)
    expires_at = datetime.now(UTC).replace(microsecond=0) + lifetime
    grant = stream_tokens.Grant(
        tenant_id=ctx.tenant_id, subject=ctx.principal.subject, kind=ctx.principal.kind,
        scopes=ctx.principal.scopes, expires_at=expires_at,
    )
    return stream_tokens.sign(grant, stream_tokens.secret(ctx.settings)), expires_at
