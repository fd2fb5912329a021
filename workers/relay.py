"""The outbox relay: publishes committed events to Redis in per-tenant sequence order.

It wakes on NOTIFY tg_events (one per committing transaction) and also polls, so a lost
notification or a restart only delays publishing. An event is marked published after Redis
took it: a crash in between publishes it again, so consumers deduplicate by (tenant, seq).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from uuid import UUID

import asyncpg
import orjson
import redis.asyncio as aioredis

from domain import events
from tables import events as outbox

log = logging.getLogger("tenantgraph.relay")

CHANNEL = "tg:events"
BATCH = 500


def message(tenant_id: UUID, event: events.Event) -> bytes:
    return orjson.dumps({
        "id": f"{tenant_id}:{event.seq}",
        "tenantId": str(tenant_id),
        "seq": event.seq,
        "type": event.type,
        "aggregateType": event.aggregate_type,
        "aggregateId": event.aggregate_id,
        "payload": event.payload,
        "correlationId": event.correlation_id,
        "actor": event.actor,
        "createdAt": event.created_at.isoformat(),
    })


class Relay:
    def __init__(self, redis: aioredis.Redis, dsn: str, *, poll_interval: float = 1.0) -> None:
        self.redis = redis
        self.dsn = dsn
        self.poll_interval = poll_interval
        self._wake = asyncio.Event()

    async def run(self) -> None:
        """Publish until cancelled; reconnects the listener and keeps polling on any failure."""
        while True:
            listener = await self._listen()
            try:
                await self._loop()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - keep relaying; the next round retries the batch
                log.exception("relay round failed; retrying")
                await asyncio.sleep(self.poll_interval)
            finally:
                if listener is not None:
                    with contextlib.suppress(Exception):
                        await listener.close()

    async def drain(self) -> int:
        """Publish every visible unpublished event; returns how many."""
        published = 0
        while True:
            async with outbox.unpublished(BATCH) as batch:
                if batch:
                    await self._publish(batch)
            published += len(batch)
            if len(batch) < BATCH:
                return published

    async def _loop(self) -> None:
        while True:
            await self.drain()
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)

    async def _publish(self, batch: list[tuple[UUID, events.Event]]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for tenant_id, event in batch:
                pipe.publish(CHANNEL, message(tenant_id, event))
            await pipe.execute()

    async def _listen(self) -> asyncpg.Connection | None:
        try:
            connection = await asyncpg.connect(self.dsn)
            await connection.add_listener("tg_events", self._notified)
        except (OSError, asyncpg.PostgresError):
            log.warning("relay cannot LISTEN; polling only", exc_info=True)
            return None
        return connection

    def _notified(self, *_: Any) -> None:
        self._wake.set()
