"""Webhooks out: the dispatcher (outbox -> one message per matching endpoint) and the delivery
job, in every worker beside the relay.

The dispatcher wakes on NOTIFY tg_events and polls; it fans each tenant's new events out under
that tenant's cursor and enqueues `deliver_outbound` for the endpoints that got messages. The
job (keyed per endpoint, so wake-ups coalesce) sends the endpoint's due messages in sequence
order until none is left. A sweep every OUTBOUND_SWEEP_SECONDS wakes endpoints whose messages
are due (retries, expired leases of dead workers, redeliveries)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
import httpx
from saq import Job, Queue

from domain import egress, outbound
from domain import outbound_delivery as delivery
from domain.config import Settings
from domain.errors import DomainError
from services import egress as egress_services
from services import outbound_delivery as delivery_services
from tables import outbound_messages as messages
from telemetry import outbound as outbound_metrics
from workers import outbound_http
from workers.context import WorkerContext
from workers.outbound_watch import Watch

log = logging.getLogger("tenantgraph.outbound")

DISPATCH_BATCH = 500
ROUND_SECONDS = 0.05
"""The least time between two dispatch rounds: every commit of events wakes the dispatcher,
and under a steady stream of them a round per wake-up would cost more than it fans out."""
JOB_BUDGET_SECONDS = 5.0
"""A job hands its endpoint back after this long (the sweep wakes it again), so one busy
endpoint cannot hold a worker slot for long. The job's timeout is this plus one request: it
is also how long a job key stays taken after its worker died, and with it the endpoint."""


def job_settings(settings: delivery.DeliverySettings) -> Callable[[Job], Awaitable[None]]:
    """A before-enqueue hook of the queue: every `deliver_outbound` job (woken by the
    dispatcher, the sweep, a test, a redelivery, a recovery) gets the same retries and a timeout
    of its budget plus one request. The timeout is also how long a dead worker's job keeps the
    endpoint's key (and so the endpoint) before SAQ retries it."""

    async def apply(job: Job) -> None:
        if job.function == delivery_services.JOB:
            job.retries = 3
            job.timeout = int(JOB_BUDGET_SECONDS + settings.timeout_seconds + 5)

    return apply


async def wake(queue: Queue, *, tenant_id: UUID, endpoint_id: UUID) -> bool:
    return await delivery_services.wake(_enqueuer(queue), endpoint_id=endpoint_id, tenant_id=tenant_id)


def _enqueuer(queue: Queue) -> delivery_services.EnqueueJob:
    async def enqueue(function: str, key: str, kwargs: Mapping[str, str]) -> object:
        return await queue.enqueue(function, key=key, **kwargs)

    return enqueue


@dataclasses.dataclass
class Runtime:
    """What the delivery jobs of one worker process share: the request slots and settings."""

    settings: delivery.DeliverySettings
    allow: tuple[egress.Network, ...]
    default_rate: int
    slots: asyncio.Semaphore

    @classmethod
    def open(cls, settings: Settings) -> Runtime:
        own = settings.outbound_delivery
        return cls(own, settings.outbound_allow_networks, settings.outbound_rate_limit,
                   asyncio.Semaphore(own.concurrency))


async def deliver_outbound(ctx: WorkerContext, *, endpoint_id: str, tenant_id: str) -> int:
    """Send the endpoint's due messages, in order, until none is due or the budget is spent;
    returns how many attempts were made. Requests start at most `rate_limit` a second: only
    this job sends to the endpoint (its key), so pacing here is the endpoint's rate limit."""
    runtime: Runtime = ctx["outbound"]
    settings = runtime.settings
    endpoint, tenant = UUID(endpoint_id), UUID(tenant_id)
    deadline = time.monotonic() + JOB_BUDGET_SECONDS
    async with outbound_http.client(settings.timeout_seconds) as http:
        return await _deliver(runtime, http, endpoint, tenant, deadline)


async def _deliver(
    runtime: Runtime, http: httpx.AsyncClient, endpoint: UUID, tenant: UUID, deadline: float
) -> int:
    settings = runtime.settings
    attempts = 0
    while time.monotonic() < deadline:
        target = await messages.target(endpoint_id=endpoint, tenant_id=tenant)
        if target is None or not target.enabled:
            return attempts
        batch = await messages.claim(
            endpoint_id=endpoint, tenant_id=tenant, limit=settings.endpoint_concurrency,
            lease_seconds=settings.lease_seconds, ordered_attempts=settings.ordered_attempts,
        )
        if not batch:
            return attempts
        started = time.monotonic()
        await asyncio.gather(*(attempt(runtime, http, target, message) for message in batch))
        attempts += len(batch)
        pace = pause_after(len(batch), target.rate_limit or runtime.default_rate, time.monotonic() - started)
        if pace > 0:
            await asyncio.sleep(pace)
    return attempts


def pause_after(sent: int, rate: int, spent: float) -> float:
    """Seconds to wait after `sent` requests that took `spent` seconds, so that requests start
    at most `rate` a second."""
    return max(sent / rate - spent, 0.0)


async def attempt(
    runtime: Runtime, http: httpx.AsyncClient, target: outbound.Endpoint, message: messages.Claimed
) -> None:
    """One attempt: resolve and check the address, sign (the attempt's time), send, record."""
    settings = runtime.settings
    async with runtime.slots:
        at = datetime.now(UTC)
        try:
            headers = delivery.headers(
                target.headers, target.signing_secrets(at), message.msg_id, at, message.body
            )
        except ValueError as error:  # a stored secret that is not whsec_<base64>: not one we made
            answer = delivery.Answer(None, error=f"cannot sign: the endpoint's secret is malformed ({error})")
        else:
            answer = await _send(runtime, http, target.url, headers, message.body)
    delay = None if answer.succeeded else delivery.next_delay(message.attempts + 1, answer, settings)
    outcome = await messages.record(
        message, answer, target=target, at=at, delay=delay,
        disable_after=settings.disable_after_seconds,
    )
    outbound_metrics.observe(answer, outcome.status, message.body, at)
    if outcome.disabled:
        log.warning("outbound endpoint %s disabled: %s", target.id, outcome.disabled)


async def _send(
    runtime: Runtime, http: httpx.AsyncClient, url: str, headers: dict[str, str], body: bytes
) -> delivery.Answer:
    """DNS is resolved once per attempt and every address checked; the request goes to the
    first address, so a second lookup cannot send it elsewhere."""
    try:
        checked = await egress_services.resolve(url, allow=runtime.allow, field="url")
    except DomainError as refused:
        return delivery.Answer(None, error=str(refused))
    return await outbound_http.send(
        http, url, checked.addresses[0], headers, body, timeout=runtime.settings.timeout_seconds
    )


DEFERRED_FIRST_SECONDS = 0.05
ENDPOINTS_CHANNEL = "tg_outbound_endpoints"


class Dispatcher:
    """Fans the outbox out to endpoints until cancelled; any number may run (per tenant, the
    cursor row's lock lets one at a time through). A round looks only at tenants with enabled
    endpoints (see workers.outbound_watch): the others' events cost it nothing.

    An endpoint whose job is already queued or running is not woken again (the job's key), yet
    a running job may have made its last claim just before the new messages committed, and
    finish without them. Such an endpoint is woken again, soon and then less often, until a
    new job is queued: the one that runs after the last job that may have missed them."""

    def __init__(self, queue: Queue, dsn: str, settings: delivery.DeliverySettings) -> None:
        self.queue = queue
        self.dsn = dsn
        self.settings = settings
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._swept_at = 0.0
        self._watch = Watch(settings.poll_seconds)
        self._deferred: dict[tuple[UUID, UUID], tuple[float, float]] = {}
        """(tenant, endpoint) -> (when to wake it again, the wait after that)"""

    async def run(self) -> None:
        failures = 0
        try:
            while True:
                self._wake.clear()
                try:
                    await self._listen()
                    await self.dispatch()
                    await self._sweep_when_due()
                    await self.wake_deferred()
                except Exception:  # noqa: BLE001 - keep dispatching; nothing is lost (the cursor)
                    failures += 1
                    self._watch.changed()  # the tenants named for that round: all of them next
                    log.warning("outbound dispatch failed (%d in a row)", failures, exc_info=failures == 1)
                else:
                    failures = 0
                await asyncio.sleep(ROUND_SECONDS)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._next_round()):
                        await self._wake.wait()
        finally:
            if self._listener is not None:
                self._listener.terminate()

    async def dispatch(self) -> int:
        """Fan out the new events of the tenants that may have some: those named since the
        last round, or in a full round every tenant with enabled endpoints that is behind;
        returns how many endpoints were woken."""
        tenants: list[UUID] = []
        changes = self._watch.full_due()
        if changes is not None:
            active = await messages.active_tenants()
            self._watch.loaded(active.tenants, changes)
            tenants += active.behind
        tenants += self._watch.take().difference(tenants)
        woken = 0
        for tenant_id in tenants:
            read = DISPATCH_BATCH
            while read == DISPATCH_BATCH:
                read, endpoints = await messages.dispatch(
                    tenant_id=tenant_id, limit=DISPATCH_BATCH, match=outbound.matches
                )
                for endpoint_id in endpoints:
                    await self._wake_or_defer(tenant_id, endpoint_id)
                woken += len(endpoints)
        return woken

    async def _wake_or_defer(self, tenant_id: UUID, endpoint_id: UUID) -> None:
        if not await wake(self.queue, tenant_id=tenant_id, endpoint_id=endpoint_id):
            self._deferred.setdefault(
                (tenant_id, endpoint_id),
                (time.monotonic() + DEFERRED_FIRST_SECONDS, DEFERRED_FIRST_SECONDS),
            )

    async def wake_deferred(self) -> None:
        """Wake the deferred endpoints whose time has come; one still taken waits twice as long
        (up to a poll interval) before the next try."""
        now = time.monotonic()
        for key, (at, wait) in list(self._deferred.items()):
            if at > now:
                continue
            tenant_id, endpoint_id = key
            if await wake(self.queue, tenant_id=tenant_id, endpoint_id=endpoint_id):
                del self._deferred[key]
            else:
                wait = min(2 * wait, self.settings.poll_seconds)
                self._deferred[key] = (now + wait, wait)

    def _next_round(self) -> float:
        """Seconds until the next round: a poll interval, or sooner for a deferred wake-up."""
        if not self._deferred:
            return self.settings.poll_seconds
        soonest = min(at for at, _ in self._deferred.values()) - time.monotonic()
        return max(0.0, min(self.settings.poll_seconds, soonest))

    async def sweep(self) -> int:
        """Wake every endpoint with a message due (a retry, a dead worker's lease, a redelivery)."""
        due = await messages.due_endpoints()
        for tenant_id, endpoint_id in due:
            await wake(self.queue, tenant_id=tenant_id, endpoint_id=endpoint_id)
        return len(due)

    async def _sweep_when_due(self) -> None:
        now = time.monotonic()
        if now - self._swept_at >= self.settings.sweep_seconds:
            self._swept_at = now
            await self.sweep()

    async def _listen(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        self._listener = await asyncpg.connect(
            self.dsn, timeout=10, server_settings={"application_name": "tenantgraph outbound"}
        )
        await self._listener.add_listener("tg_events", self._event)
        await self._listener.add_listener(ENDPOINTS_CHANNEL, self._changed)
        self._listener.add_termination_listener(self._changed)
        self._changed()  # events may have committed while nobody listened

    def _event(self, _connection: Any, _pid: int, _channel: str, payload: object) -> None:
        if self._watch.event(str(payload)):
            self._wake.set()

    def _changed(self, *_: Any) -> None:
        self._watch.changed()
        self._wake.set()


def start(ctx: WorkerContext, queue: Queue, dsn: str, settings: Settings) -> None:
    """At worker startup: the shared runtime and the dispatcher task."""
    ctx["outbound"] = Runtime.open(settings)
    dispatcher = Dispatcher(queue, dsn, settings.outbound_delivery)
    ctx["outbound_dispatcher"] = asyncio.create_task(dispatcher.run())


async def stop(ctx: WorkerContext) -> None:
    """At worker shutdown, after the jobs in flight: the dispatcher stops between rounds (its
    round is one transaction per tenant)."""
    if "outbound_dispatcher" in ctx:
        ctx["outbound_dispatcher"].cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ctx["outbound_dispatcher"]
