"""Domain errors, raised low and translated once at each edge (GraphQL, REST)."""

from __future__ import annotations

from collections.abc import Mapping


class DomainError(Exception):
    """Base of every error whose message is safe to show to the caller."""

    code = "INTERNAL_SERVER_ERROR"
    http_status = 500

    def __init__(self, message: str, *, details: Mapping[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = dict(details or {})


class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"
    http_status = 401


class Forbidden(DomainError):
    code = "FORBIDDEN"
    http_status = 403


class NotFound(DomainError):
    code = "NOT_FOUND"
    http_status = 404


class Conflict(DomainError):
    code = "CONFLICT"
    http_status = 409


class Invalid(DomainError):
    """Input that breaks a rule; `fields` maps an input path to what is wrong with it."""

    code = "BAD_USER_INPUT"
    http_status = 400

    def __init__(self, message: str, *, fields: Mapping[str, str] | None = None) -> None:
        self.fields = dict(fields or {})
        super().__init__(message, details={"fields": self.fields} if self.fields else None)


class BadRequest(DomainError):
    code = "BAD_REQUEST"
    http_status = 400


class ServiceUnavailable(DomainError):
    """A dependency (PostgreSQL, Redis) is down, slow or restarting: nothing was changed, and
    the same request can be sent again after `retry_after` seconds."""

    code = "SERVICE_UNAVAILABLE"
    http_status = 503
    retry_after = 5


class Unavailable(Exception):
    """PostgreSQL did not answer (down, slow, restarting). Raised only where the dependency is
    called, from the driver's own error (tables.engine), so that the edges answer 503 for it,
    while the same OSError or TimeoutError from anywhere else stays a bug (500)."""

    dependency = "the database"


class RedisUnavailable(Unavailable):
    """Redis did not answer; raised where Redis is called."""

    dependency = "Redis"


def require_valid(errors: Mapping[str, str]) -> None:
    """Raise Invalid naming every field of `errors`, when there is any."""
    if errors:
        raise Invalid("input is invalid: " + "; ".join(f"{k}: {v}" for k, v in errors.items()),
                      fields=errors)
