"""What the request limits share (server.request_limits): a limit's rate, the 429 refusal that
names the limit with Retry-After and the RateLimit-* headers, and the client's address."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

from starlette.responses import Response
from starlette.types import Scope

from domain.errors import DomainError
from server.buckets import Bucket, Level
from server.problems import problem
from telemetry import metrics


@dataclasses.dataclass(frozen=True, slots=True)
class Rate:
    """`rate` requests per second in bursts of up to `burst`: a bucket of that size restored at
    that rate, each request taking 1. `name` labels rate_limited_total and starts the buckets'
    keys."""

    name: str
    burst: int
    rate: float

    def bucket(self, *key: object) -> Bucket:
        return Bucket(":".join((self.name, *map(str, key))), self.burst, self.rate)


class Refused(DomainError):
    """Over a request limit: 429, naming the limit and when to try again."""

    http_status = 429

    def __init__(
        self, message: str, *, limit: str, retry_after: int, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message, details={"limit": limit, "retryAfter": retry_after})
        self.limit = limit
        self.retry_after = retry_after
        self.headers = {"retry-after": str(retry_after), **(headers or {})}


class RateLimited(Refused):
    code = "RATE_LIMITED"


class TooManyFailedAuthentications(Refused):
    code = "TOO_MANY_FAILED_AUTHENTICATIONS"


class TooManySubscriptions(Refused):
    code = "TOO_MANY_SUBSCRIPTIONS"


def over(
    kind: type[Refused], rate: Rate, level: Level, message: str, tenant_slug: str | None
) -> Refused:
    """The refusal by a bucket with less than one request left, counted in rate_limited_total."""
    wait = max(1, math.ceil(level.seconds_until(1)))
    metrics.count_rate_limited(rate.name, tenant_slug)
    return kind(f"{message}: retry in {wait} s", limit=rate.name, retry_after=wait,
                headers=rate_limit_headers(level))


def rate_limit_headers(level: Level) -> dict[str, str]:
    """RateLimit-Limit, -Remaining and -Reset (seconds until the bucket is full again), as
    draft-ietf-httpapi-ratelimit-headers names them."""
    bucket = level.bucket
    return {
        "ratelimit-limit": str(math.floor(bucket.size)),
        "ratelimit-remaining": str(max(0, math.floor(level.available))),
        "ratelimit-reset": str(math.ceil(max(0.0, bucket.size - level.available) / bucket.rate)),
    }


def problem_of(error: Refused) -> Response:
    """The refusal on the REST side-route: problem details with the headers."""
    return problem(429, "Too many requests", error.message, headers=error.headers,
                   extra={"code": error.code, "limit": error.limit, "retryAfterSeconds": error.retry_after})


def client_address(scope: Scope) -> str:
    """The client's address as the ASGI server gives it. uvicorn puts the X-Forwarded-For
    address there only when the peer is one of its FORWARDED_ALLOW_IPS (default: loopback);
    tenantgraph reads no forwarding header itself."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"
