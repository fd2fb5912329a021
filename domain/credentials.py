"""API keys: `tg_<prefix>_<secret>`; only the prefix and a hash of the secret are stored."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
from datetime import datetime
from uuid import UUID

from domain.errors import Unauthenticated

PREFIX_BYTES = 6
SECRET_BYTES = 24
MAX_NAME = 200


@dataclasses.dataclass(frozen=True)
class IssuedKey:
    prefix: str
    secret: str
    hash: str

    @property
    def token(self) -> str:
        return f"tg_{self.prefix}_{self.secret}"


def issue() -> IssuedKey:
    prefix = secrets.token_hex(PREFIX_BYTES)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    return IssuedKey(prefix=prefix, secret=secret, hash=hash_secret(secret))


def hash_secret(secret: str) -> str:
    # The secret is 192 random bits, so a fast hash is enough; no password stretching needed.
    return hashlib.sha256(secret.encode()).hexdigest()


def parse(token: str) -> tuple[str, str] | None:
    """Split a presented key into (prefix, secret); None when it is not one of ours."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "tg" or len(parts[1]) != PREFIX_BYTES * 2:
        return None
    return parts[1], parts[2]


def matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


@dataclasses.dataclass(frozen=True)
class ApiKey:
    id: UUID
    tenant_id: UUID | None
    prefix: str
    name: str
    scopes: frozenset[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    expires_at: datetime | None

    def usable(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class ApiKeyExpired(Unauthenticated):
    """The key was genuine but its expiry (or its rotation's grace period) has passed."""

    code = "API_KEY_EXPIRED"


def check_not_expired(key: ApiKey, now: datetime) -> None:
    """Raise ApiKeyExpired for a genuine, unrevoked key past its expiry: saying so to whoever
    holds the secret tells them nothing new, and tells them what to do."""
    if key.revoked_at is None and key.expires_at is not None and key.expires_at <= now:
        raise ApiKeyExpired(
            f"API key {key.prefix} expired at {key.expires_at.isoformat()}: "
            "use its successor or create a new key"
        )
