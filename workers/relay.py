"""The outbox relay: publishes committed events to Redis (domain.envelope) in per-tenant sequence order.

A batch is read and marked, then published, in one transaction holding an advisory lock, so relays in
several workers take turns and never interleave. A relay wakes on NOTIFY tg_events and also
polls, so a lost notification, a lost LISTEN connection or a restart only delays publishing; a
failed round (Redis or the database unreachable) is retried. An event's mark commits only after
Redis took it: a crash in between publishes it again, so consumers deduplicate by message id
(`<tenant>:<seq>`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any
from uuid import UUID

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from domain import envelope, events
from tables import events as outbox
from telemetry import metrics
from telemetry.tracing import TENANT_ID, Tracing

log = logging.getLogger("tenantgraph.relay")

NOTIFY_CHANNEL = "tg_events"
APPLICATION_NAME = "tenantgraph relay"
BATCH = 500
PUBLISH_TIMEOUT = 10.0
CONNECT_TIMEOUT = 10.0
LISTEN_RETRY_MAX = 60.0
BACKLOG_SAMPLE_SECONDS = 5.0
"""How often a relay measures the outbox backlog and lag (a count on a partial index)."""


def _honour_cancellation() -> None:
    """Raise if this task was cancelled but carried on: redis-py sends with `asyncio.wait_for`,
    which on Python 3.11 swallows a cancellation that arrives as the send completes, and a
    relay that missed its own cancellation would never stop."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class Relay:
    """Publishes the outbox to Redis until cancelled. Any number may run at once (one per
    worker): their batches take turns under an advisory lock, so per-tenant order holds."""

    def __init__(
        self,
        redis: aioredis.Redis,
        dsn: str,
        *,
        poll_interval: float = 1.0,
        batch: int = BATCH,
        publish_timeout: float = PUBLISH_TIMEOUT,
        tracing: Tracing | None = None,
    ) -> None:
        self.redis = redis
        self.tracing = tracing or Tracing.off()
        self.dsn = dsn
        self.poll_interval = poll_interval
        self.batch = batch
        self.publish_timeout = publish_timeout
        self._wake = asyncio.Event()
        self._stopping = False
        self._listener: asyncpg.Connection | None = None
        self._listen_retry = poll_interval
        self._listen_at = 0.0
        self._sampled_at = -BACKLOG_SAMPLE_SECONDS

    async def run(self) -> None:
        """Publish until stopped (or cancelled). A failed round (database or Redis unreachable) is
        logged and retried after the poll interval; a lost LISTEN connection is reopened, polling
        meanwhile."""
        failures = 0
        try:
            while not self._stopping:
                await self._keep_listening()
                self._wake.clear()  # before the drain: a NOTIFY during it calls for another round
                try:
                    await self.drain()
                except Exception:  # noqa: BLE001 - keep relaying; the batch stays unpublished
                    failures += 1
                    log.warning("relay round failed (%d in a row); retrying", failures,
                                exc_info=failures == 1)
                    await self._idle()
                    continue
                if failures:
                    log.info("relay publishing again after %d failed rounds", failures)
                    failures = 0
                await self._sample_backlog()
                await self._idle()
        finally:
            await self._unlisten()

    async def drain(self) -> int:
        """Publish every unpublished event visible now, batch by batch; returns how many. Stops
        early when another relay holds the batch lock: that relay publishes the rest."""
        published = 0
        while True:
            async with outbox.unpublished(self.batch) as batch:
                if batch:
                    started = time.perf_counter()
                    try:
                        async with asyncio.timeout(self.publish_timeout):
                            await self.publish(batch)
                    except TimeoutError:
                        metrics.REDIS_ERRORS.labels("publish").inc()
                        raise
                    metrics.RELAY_PUBLISH_DURATION.observe(time.perf_counter() - started)
                    metrics.RELAY_BATCH_SIZE.observe(len(batch))
            published += len(batch)
            _honour_cancellation()
            if len(batch) < self.batch or self._stopping:
                return published

    async def _idle(self) -> None:
        """Until woken, or for the poll interval. Not `asyncio.wait_for`: on Python 3.11 it
        swallows a cancellation that arrives together with the wake-up, and the relay would
        never stop."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.poll_interval):
                await self._wake.wait()

    async def publish(self, batch: list[tuple[UUID, events.Event]]) -> None:
        """One pipeline, in batch order; returns once Redis has taken every message. Traced,
        it is a span per tenant of the batch, linked to the traces that wrote its events."""
        if not self.tracing.enabled:
            return await self._publish(batch)
        with self.tracing.siblings("outbox publish", _per_tenant(batch)):
            await self._publish(batch)

    async def _publish(self, batch: list[tuple[UUID, events.Event]]) -> None:
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for chunk in envelope.encode_batch(batch):
                    pipe.publish(envelope.CHANNEL, chunk)
                await pipe.execute()
        except (RedisError, OSError):
            metrics.REDIS_ERRORS.labels("publish").inc()
            raise

    async def _sample_backlog(self) -> None:
        """outbox_backlog_events and outbox_lag_seconds, at most every BACKLOG_SAMPLE_SECONDS."""
        now = time.monotonic()
        if now - self._sampled_at < BACKLOG_SAMPLE_SECONDS:
            return
        self._sampled_at = now
        try:
            count, age = await outbox.backlog()
        except Exception:  # noqa: BLE001 - a metric never stops the relay; the next round retries
            log.warning("relay could not measure the outbox backlog", exc_info=True)
            return
        metrics.OUTBOX_BACKLOG.set(count)
        metrics.OUTBOX_LAG.set(age)

    async def _keep_listening(self) -> None:
        """(Re)open the LISTEN connection when there is none; after a failure, retry with a
        growing delay and poll meanwhile."""
        if self._listener is not None and not self._listener.is_closed():
            return
        self._listener = None
        now = asyncio.get_running_loop().time()
        if now < self._listen_at:
            return
        try:
            self._listener = await self._listen()
        except Exception:  # noqa: BLE001 - polling still publishes everything
            log.warning("relay cannot LISTEN (retrying in %.0f s); polling every %s s",
                        self._listen_retry, self.poll_interval, exc_info=True)
            self._listen_at = now + self._listen_retry
            self._listen_retry = min(self._listen_retry * 2, LISTEN_RETRY_MAX)
            return
        self._listen_retry = self.poll_interval

    async def _listen(self) -> asyncpg.Connection:
        connection = await asyncpg.connect(
            self.dsn, timeout=CONNECT_TIMEOUT, server_settings={"application_name": APPLICATION_NAME}
        )
        try:
            await connection.add_listener(NOTIFY_CHANNEL, self._notified)
        except BaseException:
            connection.terminate()
            raise
        # Woken when the connection drops, the next round reopens it (and drains the gap).
        connection.add_termination_listener(self._notified)
        return connection

    async def _unlisten(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(Exception):
                await listener.close(timeout=CONNECT_TIMEOUT)

    def stop(self) -> None:
        """Finish the batch in flight (published and marked, or neither), then return from run."""
        self._stopping = True
        self._wake.set()

    def wake(self) -> None:
        """Start a round now, as a NOTIFY does."""
        self._wake.set()

    def _notified(self, *_: Any) -> None:
        self.wake()


def _per_tenant(
    batch: list[tuple[UUID, events.Event]],
) -> list[tuple[dict[str, str | int], list[str]]]:
    """(attributes, linked traceparents) of each tenant's share of a batch."""
    shares: dict[UUID, list[events.Event]] = {}
    for tenant_id, event in batch:
        shares.setdefault(tenant_id, []).append(event)
    return [
        ({TENANT_ID: str(tenant_id), "messaging.batch.message_count": len(share)},
         list(dict.fromkeys(e.traceparent for e in share if e.traceparent)))
        for tenant_id, share in shares.items()
    ]
