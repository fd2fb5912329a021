"""Stream tokens: short-lived grants to open /graphql/stream where no Authorization header can
be sent (a browser's EventSource), passed as `?token=`.

A token names its tenant, the credential that asked for it (its principal's subject and kind),
that credential's scopes and an expiry, signed with HMAC-SHA256 under the deployment's stream
token secret: `tgs_<payload>.<signature>`, both base64url. It grants nothing its credential does
not hold, and is refused once that credential is revoked or expired (server.stream_tokens).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from uuid import UUID

import orjson

from domain.config import Settings
from domain.errors import BadRequest, Forbidden, Invalid, Unauthenticated

PREFIX = "tgs_"
DEFAULT_TTL_SECONDS = 300
DERIVATION = b"tenantgraph stream tokens"


class StreamTokenInvalid(Unauthenticated):
    """Not a stream token this deployment signed (malformed, altered or signed elsewhere)."""

    code = "STREAM_TOKEN_INVALID"


class StreamTokenExpired(Unauthenticated):
    code = "STREAM_TOKEN_EXPIRED"


class StreamTokenRevoked(Unauthenticated):
    """The token is genuine, but the credential it was issued to no longer holds."""

    code = "STREAM_TOKEN_REVOKED"


class StreamTokenWrongTenant(Forbidden):
    code = "STREAM_TOKEN_WRONG_TENANT"


class StreamTokenWithHeader(BadRequest):
    code = "STREAM_TOKEN_WITH_HEADER"


@dataclasses.dataclass(frozen=True)
class Grant:
    """What a stream token carries."""

    tenant_id: UUID
    subject: str
    kind: str
    scopes: frozenset[str]
    expires_at: datetime


def secret(settings: Settings) -> bytes:
    """STREAM_TOKEN_SECRET; unset (never in production), one derived from JWT_SECRET, which every
    process of a deployment shares, so that each accepts the tokens of the others."""
    if settings.stream_token_secret:
        return str(settings.stream_token_secret).encode()
    return hmac.new(str(settings.jwt_secret).encode(), DERIVATION, hashlib.sha256).digest()


def lifetime(requested: int | None, maximum: int) -> timedelta:
    """The token's time to live: `requested` seconds, else the default (at most `maximum`)."""
    seconds = min(DEFAULT_TTL_SECONDS, maximum) if requested is None else requested
    if not 1 <= seconds <= maximum:
        limit = f"must be between 1 and {maximum} (STREAM_TOKEN_MAX_TTL_SECONDS)"
        raise Invalid(f"ttlSeconds {limit}", fields={"ttlSeconds": limit})
    return timedelta(seconds=seconds)


def sign(grant: Grant, key: bytes) -> str:
    claims = {
        "t": str(grant.tenant_id), "s": grant.subject, "k": grant.kind,
        "sc": sorted(grant.scopes), "e": int(grant.expires_at.timestamp()),
    }
    payload = _encode(orjson.dumps(claims))
    return f"{PREFIX}{payload}.{_encode(_mac(payload, key))}"


def verify(token: str, key: bytes) -> Grant:
    """The grant of a token this deployment signed (expired or not: see `check_unexpired`)."""
    payload, _, signature = token.removeprefix(PREFIX).partition(".")
    if not token.startswith(PREFIX) or not _genuine(payload, signature, key):
        raise StreamTokenInvalid("invalid stream token: not one this deployment signed")
    return _grant(payload)


def check_unexpired(grant: Grant, now: datetime) -> None:
    if grant.expires_at <= now:
        raise StreamTokenExpired(
            f"stream token expired at {grant.expires_at.isoformat()}: ask createStreamToken for another"
        )


def _genuine(payload: str, signature: str, key: bytes) -> bool:
    try:
        given = _decode(signature)
    except (ValueError, binascii.Error):
        return False
    return hmac.compare_digest(given, _mac(payload, key))


def _grant(payload: str) -> Grant:
    """The claims of a genuinely signed payload (so they are ours and well-formed)."""
    claims = orjson.loads(_decode(payload))
    return Grant(
        tenant_id=UUID(claims["t"]), subject=claims["s"], kind=claims["k"],
        scopes=frozenset(claims["sc"]), expires_at=datetime.fromtimestamp(claims["e"], UTC),
    )


def _mac(payload: str, key: bytes) -> bytes:
    return hmac.new(key, payload.encode(), hashlib.sha256).digest()


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
