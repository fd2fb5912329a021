"""Stream tokens accepted on /graphql/stream as `?token=` (domain.stream_tokens): the caller
they stand for, with no database round trip while this process remembers their credential.

What a token's credential holds now (its tenant; for an API key, whether it is still usable and
its scopes) is remembered per process like the API-key cache's entries: for at most `ttl`
seconds, forgotten whenever that cache hears a credential or tenant change from any process
(its generation moves on), and not at all while changes cannot be heard. A key's expiry date is
checked on every use. A token never grants more than its key holds now.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from uuid import UUID

from starlette.requests import HTTPConnection

from domain import stream_tokens, tenancy
from domain.config import Settings
from domain.errors import NotFound
from domain.stream_tokens import Grant, StreamTokenRevoked, StreamTokenWithHeader, StreamTokenWrongTenant
from server import auth, ws_protocol
from server.api_key_cache import ApiKeyCache
from server.failed_auth import FailedAuthentications
from server.refusals import client_address
from tables import stream_credentials

log = logging.getLogger("tenantgraph.sse")
Holding = tuple[tenancy.Tenant, list[tuple[frozenset[str], datetime | None]] | None]
"""The tenant, and the usable keys (scopes, expiry) of the prefix (None for a JWT's token)."""


class StreamTokens:
    """The callers of stream tokens, their credentials remembered (see above)."""

    def __init__(
        self, settings: Settings, changes: ApiKeyCache, *, ttl: float = 60.0, maxsize: int = 10_000
    ) -> None:
        self._key = stream_tokens.secret(settings)
        self._changes = changes
        self._ttl = ttl
        self._maxsize = maxsize
        self._generation = changes.generation
        self._entries: dict[tuple[UUID, str | None, UUID | None], tuple[float, Holding]] = {}

    async def authenticate(
        self, request: HTTPConnection, failures: FailedAuthentications
    ) -> auth.Caller | None:
        """The caller of a stream opened with `?token=`; None when it has none. A token beside
        an Authorization header is refused: which one counts would be a guess."""
        token = request.query_params.get("token")
        if token is None:
            return None
        if request.headers.get("authorization"):
            raise StreamTokenWithHeader(
                "send either Authorization or ?token= (a stream token), not both"
            )
        async with failures.guard(client_address(request.scope), f"Bearer {token}"):
            grant = stream_tokens.verify(token, self._key)
            stream_tokens.check_unexpired(grant, datetime.now(UTC))
            caller = await self._caller(grant, _route_tenant(request))
        log.info("stream token of %s accepted, expiring %s", grant.subject, grant.expires_at.isoformat())
        return caller

    async def recheck(self, request: HTTPConnection) -> auth.Caller:
        """At a keep-alive of a stream opened with a token: its caller while the token's
        credential holds. The token's own expiry bounds opening (and reconnecting) only."""
        grant = stream_tokens.verify(request.query_params["token"], self._key)
        return await self._caller(grant, _route_tenant(request))

    async def _caller(self, grant: Grant, route_tenant: str | None) -> auth.Caller:
        tenant, keys = await self._holding(grant)
        if route_tenant and route_tenant not in (tenant.slug, str(tenant.id)):
            raise StreamTokenWrongTenant("this stream token belongs to another tenant")
        scopes = grant.scopes
        if keys is not None:
            now = datetime.now(UTC)
            held = [granted for granted, expires in keys if expires is None or expires > now]
            if not held:
                raise StreamTokenRevoked(
                    "the API key this stream token was issued to is revoked or expired"
                )
            scopes = scopes & frozenset().union(*held)
        platform = tenancy.PLATFORM in scopes
        principal = tenancy.Principal(
            subject=grant.subject, scopes=scopes, tenant_id=None if platform else tenant.id,
            kind=grant.kind,
        )
        return auth.Caller(tenant=tenant, principal=principal)

    async def _holding(self, grant: Grant) -> Holding:
        prefix = grant.subject.removeprefix("key:") if grant.kind == "api_key" else None
        owner = None if tenancy.PLATFORM in grant.scopes else grant.tenant_id
        entry = (grant.tenant_id, prefix, owner)
        generation = self._changes.generation
        if generation != self._generation:
            self._entries.clear()
            self._generation = generation
        found = self._entries.get(entry)
        if found is not None and time.monotonic() - found[0] < self._ttl:
            return found[1]
        started = time.monotonic()
        try:
            tenant, keys = await stream_credentials.look_up(grant.tenant_id, prefix, owner)
        except NotFound:
            raise StreamTokenRevoked("the tenant of this stream token no longer exists") from None
        holding: Holding = (tenant, keys)
        # A change heard while looking up may concern this very key: keep nothing then.
        if generation == self._changes.generation and self._changes.listening:
            if len(self._entries) >= self._maxsize:
                self._entries.clear()
            self._entries[entry] = (started, holding)
        return holding


def _route_tenant(request: HTTPConnection) -> str | None:
    """The tenant the request names: X-Tenant-ID, `?tenant=` or the host's subdomain."""
    return request.headers.get("x-tenant-id") or ws_protocol.tenant_of(request)
