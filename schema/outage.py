"""Which failures are an outage of a dependency (PostgreSQL, Redis down, slow or restarting),
answered 503 SERVICE_UNAVAILABLE at every edge rather than masked as a bug.

An outage is classified where the dependency is called: tables.engine raises Unavailable for a
failed PostgreSQL call, and redis-py raises its own ConnectionError and TimeoutError. An
OSError or TimeoutError from anywhere else (a file, our own timeout) is a bug: a 500 with the
request id. No exception chain is searched: an error raised while handling an outage is that
error, not the outage."""

from __future__ import annotations

import asyncpg
import redis.exceptions

from domain.errors import ServiceUnavailable, Unavailable

# The driver's own outage errors, for connections not made by tables.engine (no bug of ours
# raises these).
_POSTGRES = (
    asyncpg.PostgresConnectionError,  # class 08: cannot connect, connection lost
    asyncpg.CannotConnectNowError,  # starting up, shutting down, recovering
    asyncpg.InsufficientResourcesError,  # class 53: too many connections, disk full
    asyncpg.OperatorInterventionError,  # class 57: admin shutdown, statement_timeout
)
_REDIS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
_OUTAGES = (ServiceUnavailable, Unavailable, *_POSTGRES, *_REDIS)


def is_outage(error: BaseException) -> bool:
    """Whether `error` is a dependency that did not answer (for a group: all of its errors)."""
    if isinstance(error, BaseExceptionGroup):
        return all(is_outage(inner) for inner in error.exceptions)
    return isinstance(error, _OUTAGES)


def unavailable(error: BaseException, request_id: object) -> ServiceUnavailable:
    """What the caller is told: which dependency failed (never its address or a stack), when
    to retry, and the request id to find it in the logs."""
    return ServiceUnavailable(
        f"{_what(error)} is unavailable or too slow right now; what failed here changed nothing, "
        "retry shortly",
        details={"retryAfterSeconds": ServiceUnavailable.retry_after, "requestId": request_id},
    )


def _what(error: BaseException) -> str:
    if isinstance(error, BaseExceptionGroup):
        return _what(error.exceptions[0])
    if isinstance(error, Unavailable):
        return error.dependency
    return "Redis" if isinstance(error, _REDIS) else "the database"
