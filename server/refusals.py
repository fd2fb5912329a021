"""What the request limits share (server.request_limits): a limit's rate, the 429 refusal that
names the limit with Retry-After and the RateLimit headers (built here for the cost budgets of
server.throttle too), and the client's address."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

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
    wait = max(1, seconds(level.seconds_until(1)))
    metrics.count_rate_limited(rate.name, tenant_slug)
    return kind(f"{message}: retry in {wait} s", limit=rate.name, retry_after=wait,
                headers=rate_limit_headers([(rate.name, level)], 1))


def rate_limit_headers(levels: Sequence[tuple[str, Level]], amount: float) -> dict[str, str]:
    """The RateLimit-Policy and RateLimit headers of draft-ietf-httpapi-ratelimit-headers-09,
    one item per named bucket: in the policy its quota q and w, the seconds it takes to refill;
    in RateLimit what remains r, and t, the seconds until `amount` would fit."""
    return {
        "ratelimit-policy": ", ".join(
            f'"{name}";q={level.bucket.size:g};w={math.ceil(level.bucket.size / level.bucket.rate)}'
            for name, level in levels
        ),
        "ratelimit": ", ".join(
            f'"{name}";r={max(0, math.floor(level.available))};t={seconds(level.seconds_until(amount))}'
            for name, level in levels
        ),
    }


def seconds(value: float) -> int:
    """Whole seconds, rounded up; a day at most (an amount over a bucket's size never fits)."""
    return math.ceil(min(max(0.0, value), 86_400.0))


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
