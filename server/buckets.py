"""Leaky buckets kept in Redis, shared by every process that talks to the same Redis.

One request takes from all its buckets at once (a tenant's and its credential's, say) in one
atomic script, so that two processes admitting a burst between them admit what one would. The
script reads Redis's own clock: the processes' clocks may disagree, Redis's is one.

What a bucket stands for, its key and its size are the caller's; the key must name the tenant
whenever the bucket is a tenant's, so that no two tenants ever share one.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from domain.errors import RedisUnavailable
from telemetry import metrics

log = logging.getLogger("tenantgraph.limits")
PREFIX = "tg:bucket:"
QUIET_SECONDS = 1.0
"""After a call Redis did not answer, how long calls fail at once without asking it again: a
stalled Redis costs one request its timeout, not every request."""

_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local amount = tonumber(ARGV[1])
local taking = ARGV[2] == 'take'
local most = tonumber(ARGV[3])
local levels = {}
local fits = 1
local lowest = math.huge
for i, key in ipairs(KEYS) do
  local size = tonumber(ARGV[2 + 2 * i])
  local rate = tonumber(ARGV[3 + 2 * i])
  local state = redis.call('HMGET', key, 'level', 'at')
  local level = tonumber(state[1]) or size
  local at = tonumber(state[2]) or now
  level = math.min(size, level + math.max(0, now - at) * rate)
  levels[i] = level
  lowest = math.min(lowest, level)
  if taking and amount > level then fits = 0 end
end
local granted = amount
if taking then granted = fits * math.max(amount, math.min(most, lowest)) end
local out = {fits, tostring(granted)}
for i, key in ipairs(KEYS) do
  local size = tonumber(ARGV[2 + 2 * i])
  local rate = tonumber(ARGV[3 + 2 * i])
  local level = levels[i]
  if fits == 1 then
    if taking then level = level - granted else level = math.min(size, level + amount) end
  end
  redis.call('HSET', key, 'level', tostring(level), 'at', tostring(now))
  redis.call('PEXPIRE', key, math.ceil((size - level) / rate * 1000) + 1000)
  out[i + 2] = tostring(level)
end
return out
"""


@dataclasses.dataclass(frozen=True, slots=True)
class Bucket:
    """One bucket: `key` (without the prefix), `size` points at most, `rate` restored per second."""

    key: str
    size: float
    rate: float

    def __post_init__(self) -> None:
        if self.size <= 0 or self.rate <= 0:
            raise ValueError(f"bucket {self.key!r} needs a positive size and rate")


@dataclasses.dataclass(frozen=True, slots=True)
class Level:
    """Where one bucket stands after a take or a refund."""

    bucket: Bucket
    available: float

    def seconds_until(self, amount: float) -> float:
        """How long until `amount` fits; infinite when it never will."""
        if amount > self.bucket.size:
            return math.inf
        return max(0.0, (amount - self.available) / self.bucket.rate)


@dataclasses.dataclass(frozen=True, slots=True)
class Taken:
    """The answer to a take: whether the amount fitted in every bucket (and was taken from all
    of them), and where each bucket stands. `granted` is what was taken: the amount, or more
    when the take asked for up to `most` (0 when it did not fit)."""

    fits: bool
    amount: float
    levels: tuple[Level, ...]
    granted: float = 0.0

    @property
    def retry_after(self) -> float:
        """Seconds until the amount would fit in every bucket; 0 when it fitted."""
        return 0.0 if self.fits else max(level.seconds_until(self.amount) for level in self.levels)

    @property
    def tightest(self) -> Level:
        """The bucket that holds a refused amount back the longest; after a take that fitted,
        the one with the fewest points left relative to its size."""
        if not self.fits:
            return max(self.levels, key=lambda level: level.seconds_until(self.amount))
        return min(self.levels, key=lambda level: level.available / level.bucket.size)


class LimitsUnavailable(RedisUnavailable):
    """Redis could not be asked and the limits fail closed (LIMITS_ON_REDIS_ERROR=closed): the
    request is answered 503, as for any outage."""


class Buckets:
    """Takes and refunds on buckets in one Redis (give it a client with short socket timeouts:
    this is on the request path).

    When Redis cannot be asked, the limits fail open by default: the answer is None, the request
    goes through unlimited and redis_errors_total{operation="limits"} counts it. Failing closed
    raises LimitsUnavailable instead."""

    def __init__(self, redis: aioredis.Redis, *, fail_open: bool = True) -> None:
        self._redis = redis
        self._script = redis.register_script(_SCRIPT)
        self._fail_open = fail_open
        self._quiet_until = 0.0
        self._failed: Exception | None = None

    async def close(self) -> None:
        await self._redis.aclose()

    async def take(
        self, buckets: Sequence[Bucket], amount: float, most: float | None = None
    ) -> Taken | None:
        """Takes `amount` from every bucket, or from none when it does not fit in one of them;
        with `most`, takes as much more up to `most` as every bucket holds."""
        return await self._run(buckets, amount, "take", amount if most is None else max(amount, most))

    async def refund(self, buckets: Sequence[Bucket], amount: float) -> Taken | None:
        """Gives `amount` back to every bucket, none of them above its size."""
        return await self._run(buckets, amount, "refund", amount)

    async def _run(
        self, buckets: Sequence[Bucket], amount: float, mode: str, most: float
    ) -> Taken | None:
        if not buckets or amount < 0:
            raise ValueError("a take or refund needs buckets and an amount of at least 0")
        args: list[str | float] = [amount, mode, most]
        for bucket in buckets:
            args += [bucket.size, bucket.rate]
        if self._failed is not None and time.monotonic() < self._quiet_until:
            self._unavailable(self._failed)
            return None
        try:
            fits, granted, *levels = await self._script(
                keys=[PREFIX + b.key for b in buckets], args=args
            )
        except (RedisError, OSError) as error:  # TimeoutError is an OSError
            metrics.REDIS_ERRORS.labels("limits").inc()
            if self._failed is None:
                log.warning(
                    "rate limits and cost budgets cannot be checked, Redis is unreachable (%r): "
                    "requests are %s until it answers", error,
                    "admitted unlimited" if self._fail_open else "refused with 503",
                )
            self._failed, self._quiet_until = error, time.monotonic() + QUIET_SECONDS
            self._unavailable(error)
            return None
        if self._failed is not None:
            log.warning("rate limits and cost budgets are checked again: Redis answers")
            self._failed = None
        return Taken(
            fits=bool(fits),
            amount=amount,
            levels=tuple(Level(b, float(level)) for b, level in zip(buckets, levels, strict=True)),
            granted=float(granted),
        )

    def _unavailable(self, error: Exception) -> None:
        """Nothing when the limits fail open; else LimitsUnavailable."""
        if not self._fail_open:
            raise LimitsUnavailable("the rate limits cannot be checked: Redis is unreachable") from error
