"""Which failures are an outage of a dependency (PostgreSQL, Redis down, slow or restarting),
answered 503 SERVICE_UNAVAILABLE at every edge rather than masked as a bug."""

from __future__ import annotations

import asyncpg
import redis.exceptions

from domain.errors import ServiceUnavailable

_POSTGRES = (
    asyncpg.PostgresConnectionError,  # class 08: cannot connect, connection lost
    asyncpg.CannotConnectNowError,  # starting up, shutting down, recovering
    asyncpg.InsufficientResourcesError,  # class 53: too many connections, disk full
    asyncpg.OperatorInterventionError,  # class 57: admin shutdown, statement_timeout
)
_REDIS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
# asyncio's own TimeoutError: a pool acquire or a Redis call past its timeout.
_NETWORK = (OSError, TimeoutError)


def is_outage(error: BaseException) -> bool:
    """Whether `error`, or one it was raised from, is a dependency that did not answer."""
    return _in_chain(error, (ServiceUnavailable, *_POSTGRES, *_REDIS, *_NETWORK)) or _closed(error)


def _closed(error: BaseException) -> bool:
    """asyncpg's InterfaceError for a connection closed under a query or a closing pool (other
    InterfaceErrors, e.g. two queries at once on one connection, are bugs)."""
    return isinstance(error, asyncpg.InterfaceError) and ("closed" in str(error) or "closing" in str(error))


def unavailable(error: BaseException, request_id: object) -> ServiceUnavailable:
    """What the caller is told: which dependency failed (never its address or a stack), when
    to retry, and the request id to find it in the logs."""
    what = "Redis" if _in_chain(error, _REDIS) else "the database"
    return ServiceUnavailable(
        f"{what} is unavailable or too slow right now; what failed here changed nothing, retry shortly",
        details={"retryAfterSeconds": ServiceUnavailable.retry_after, "requestId": request_id},
    )


def _in_chain(error: BaseException | None, kinds: tuple[type[BaseException], ...]) -> bool:
    for _ in range(5):
        if error is None:
            return False
        if isinstance(error, kinds):
            return True
        error = error.__cause__ or error.__context__
    return False
