"""One Redis subscription per API process, fanned out in-process to subscribers by tenant.

Pub/sub is at-most-once: after (re)connecting, every subscriber is told to catch up from the
events table, which is the source of truth (see resolvers.subscriptions)."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
from collections import defaultdict
from typing import Any
from uuid import UUID

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from domain import envelope, events
from telemetry import metrics

log = logging.getLogger("tenantgraph.fanout")

HEALTH_CHECK_SECONDS = 10
"""How often the subscription pings Redis, so that a dead connection is noticed."""
SUBSCRIBE_TIMEOUT = 5.0


class _Overflow(enum.Enum):
    OVERFLOW = enum.auto()


_OVERFLOW = _Overflow.OVERFLOW


class Listener:
    """A bounded queue of live events for one subscriber."""

    def __init__(self, fanout: Fanout, tenant_id: UUID, size: int) -> None:
        self._fanout = fanout
        self._tenant_id = tenant_id
        self._queue: asyncio.Queue[events.Event | None | _Overflow] = asyncio.Queue(maxsize=size)
        self._overflowed = False

    def push(self, item: events.Event | None) -> None:
        if self._overflowed:
            return
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            # Too far behind: drop what waits and tell the subscriber to resume by cursor.
            self._overflowed = True
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(_OVERFLOW)

    async def next(self) -> events.Event | None:
        item = await self._queue.get()
        if item is _OVERFLOW:
            raise events.ResyncRequired("the subscriber fell behind")
        return item

    def passed(self, seq: int) -> None:
        return

    def close(self) -> None:
        self._fanout.forget(self._tenant_id, self)


class Fanout:
    """The process's one Redis subscription, handing each event to its tenant's listeners."""

    def __init__(self, redis_url: str, *, buffer: int, reconnect_max: float = 5.0) -> None:
        self._redis_url = redis_url
        self._buffer = buffer
        self._reconnect_max = reconnect_max
        self._listeners: dict[UUID, set[Listener]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def listen(self, tenant_id: UUID) -> Listener:
        listener = Listener(self, tenant_id, self._buffer)
        self._listeners[tenant_id].add(listener)
        return listener

    def forget(self, tenant_id: UUID, listener: Listener) -> None:
        listeners = self._listeners.get(tenant_id)
        if listeners is not None:
            listeners.discard(listener)
            if not listeners:
                del self._listeners[tenant_id]

    @property
    def subscribers(self) -> int:
        return sum(len(group) for group in self._listeners.values())

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Cancel the reader; a redis-py call may swallow one cancellation (it waits through
        asyncio.wait_for on 3.11), so shutdown waits a bounded time instead of forever."""
        if self._task is None:
            return
        for _ in range(3):
            self._task.cancel()
            done, _ = await asyncio.wait({self._task}, timeout=1)
            if done:
                break
        if self._task.done() and not self._task.cancelled():
            with contextlib.suppress(Exception):
                self._task.result()

    async def _run(self) -> None:
        delay = 0.1
        while True:
            # No silent reconnects inside redis-py: a reconnect must be seen, to catch up.
            client = aioredis.from_url(
                self._redis_url, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0),
                health_check_interval=HEALTH_CHECK_SECONDS, client_name=client_name(),
            )
            pubsub = client.pubsub()
            try:
                await self._subscribe(pubsub)
                self.connected.set()
                self._catch_up_all()
                delay = 0.1
                await self._read(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - reconnect on any failure
                metrics.REDIS_ERRORS.labels("subscribe").inc()
                log.warning("event fan-out lost Redis (%s); reconnecting", error)
            finally:
                self.connected.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                with contextlib.suppress(Exception):
                    await client.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._reconnect_max)

    async def _subscribe(self, pubsub: Any) -> None:
        """Subscribe and wait for Redis to confirm: only then is nothing published from here
        on missed, and the catch-up from the table may start."""
        await pubsub.subscribe(envelope.CHANNEL)
        async with asyncio.timeout(SUBSCRIBE_TIMEOUT):
            while True:
                message = await pubsub.get_message(timeout=SUBSCRIBE_TIMEOUT)
                if message is not None and message["type"] == "subscribe":
                    return

    async def _read(self, pubsub: Any) -> None:
        while True:
            message = await pubsub.get_message(
                ignore_subscribe_messages=True, timeout=HEALTH_CHECK_SECONDS
            )
            if message is not None:
                self._dispatch(message["data"])

    def _dispatch(self, data: bytes) -> None:
        """A message is one event, or a JSON array of consecutive events (the relay's)."""
        try:
            raws = envelope.decode(data)
        except ValueError:
            log.warning("ignored a malformed event message")
            return
        for raw in raws:
            self._dispatch_one(raw)

    def _dispatch_one(self, raw: Any) -> None:
        try:
            listeners = self._listeners.get(envelope.tenant_of(raw))
            if not listeners:
                return
            event = envelope.event_of(raw)
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed event message")
            return
        for listener in tuple(listeners):
            listener.push(event)

    def _catch_up_all(self) -> None:
        """After (re)connecting, anything published meanwhile was lost: catch up from the table."""
        for group in tuple(self._listeners.values()):
            for listener in tuple(group):
                listener.push(None)


def client_name() -> str:
    """The name the subscription's Redis connection goes by (CLIENT LIST): one per process."""
    return f"tenantgraph-fanout-{os.getpid()}"

