"""Points a process takes from shared buckets ahead of its requests, so that most requests are
admitted without asking Redis.

A request draws from its process's reservoir for its buckets; when the reservoir runs short, one
call to Redis takes what is missing plus a lease (a fraction of the smallest bucket, when the
buckets hold it). What a request does not use goes back to the reservoir, and a reservoir left
unused for `idle` seconds gives its points back to Redis. Every point admitted was taken from
the shared bucket first, so all processes together never admit more than it gives; at any
moment each process may hold up to one lease, which the others cannot use until it is spent or
given back. A fraction of 0 asks Redis at every request (and refunds at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time

from server.buckets import Bucket, Buckets, Level, LimitsUnavailable, Taken

log = logging.getLogger("tenantgraph.limits")


@dataclasses.dataclass(slots=True)
class Reservoir:
    """What this process holds of some buckets: `points` not yet spent, where Redis said the
    buckets stood (`levels`, without these points; none before Redis first answered) at `at`,
    and when a request last drew."""

    points: float
    levels: tuple[Level, ...]
    at: float
    used_at: float
    lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)

    def view(self, now: float) -> tuple[Level, ...]:
        """Where the buckets stand for this process: Redis's levels restored since, plus what
        it holds."""
        return tuple(
            Level(level.bucket, min(
                level.bucket.size,
                level.available + (now - self.at) * level.bucket.rate + self.points,
            ))
            for level in self.levels
        )


class Leases:
    def __init__(self, buckets: Buckets, *, fraction: float, idle: float = 1.0) -> None:
        self._buckets = buckets
        self._fraction = fraction
        self._idle = idle
        self._reservoirs: dict[tuple[Bucket, ...], Reservoir] = {}
        self._returning: asyncio.Task[None] | None = None

    async def take(self, buckets: tuple[Bucket, ...], amount: float) -> Taken | None:
        """Admits `amount` from this process's reservoir, or asks Redis for what is missing and
        a lease; None when Redis could not be asked and the limits fail open."""
        held = self._reservoirs.get(buckets)
        now = time.monotonic()
        if held is not None and held.levels and held.points >= amount:
            held.points -= amount
            held.used_at = now
            return Taken(True, amount, held.view(now), amount)
        if self._fraction <= 0:
            return await self._buckets.take(buckets, amount)
        held = self._reservoirs.setdefault(buckets, Reservoir(0.0, (), now, now))
        self._return_idle_later()
        async with held.lock:  # one call to Redis at a time for the same buckets
            return await self._lease(buckets, held, amount)

    async def _lease(self, buckets: tuple[Bucket, ...], held: Reservoir, amount: float) -> Taken | None:
        now = time.monotonic()
        if held.levels and held.points >= amount:  # leased while this request waited for the lock
            held.points -= amount
            held.used_at = now
            return Taken(True, amount, held.view(now), amount)
        needed = amount - held.points
        lease = self._fraction * min(bucket.size for bucket in buckets)
        taken = await self._buckets.take(buckets, needed, most=max(needed, lease))
        if taken is None:
            return None
        held.levels, held.at = taken.levels, now
        if not taken.fits:
            return Taken(False, amount, held.view(now))
        held.points += taken.granted - amount
        held.used_at = now
        return Taken(True, amount, held.view(now), amount)

    def refund(self, buckets: tuple[Bucket, ...], amount: float) -> bool:
        """Puts `amount` back in this process's reservoir; False when it holds none for these
        buckets (the caller gives it back to Redis)."""
        held = self._reservoirs.get(buckets)
        if held is None or self._fraction <= 0:
            return False
        held.points += amount
        return True

    def _return_idle_later(self) -> None:
        if self._returning is None or self._returning.done():
            self._returning = asyncio.create_task(self._return_idle())

    async def _return_idle(self) -> None:
        """Gives back what idle reservoirs hold, until none is left."""
        while self._reservoirs:
            await asyncio.sleep(self._idle)
            await self.give_back(older_than=self._idle)

    async def give_back(self, older_than: float = 0.0) -> None:
        """Gives Redis back the points of reservoirs unused for `older_than` seconds."""
        now = time.monotonic()
        for buckets, held in list(self._reservoirs.items()):
            if now - held.used_at < older_than or held.lock.locked():
                continue
            del self._reservoirs[buckets]
            if held.points > 0:
                try:
                    await self._buckets.refund(buckets, held.points)
                except LimitsUnavailable:
                    log.warning("%g leased points were not given back: Redis is unreachable", held.points)

    async def close(self) -> None:
        if self._returning is not None:
            self._returning.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._returning
        await self.give_back()
