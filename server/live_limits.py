"""Limits on live connections (WebSocket and SSE) beyond the connection caps of
server.connections: connection_init and subscribe rates per credential, and live subscriptions
per tenant.

The rates are leaky buckets in Redis (server.buckets) keyed by the tenant and the credential,
shared by every process. An SSE stream is a subscribe. Live subscriptions are counted per
process, as live connections are (server.connections explains why: what they hold is this
process's memory, the check costs nothing, and a Redis outage neither refuses nor lifts them).
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any, Protocol
from uuid import UUID

from domain import tenancy
from domain.config import Settings
from domain.errors import ServiceUnavailable
from server import auth, deadline
from server.buckets import Buckets, LimitsUnavailable
from server.connections import RETRY_AFTER_SECONDS
from server.failed_auth import FailedAuthentications
from server.refusals import Rate, RateLimited, Refused, TooManySubscriptions, client_address, over
from telemetry import metrics


class LiveLimits:
    """The limits of a transport of live connections; with no `buckets`, no rates."""

    def __init__(
        self, buckets: Buckets | None, settings: Settings, failures: FailedAuthentications | None = None
    ) -> None:
        self._buckets = buckets
        self._settings = settings
        self.failures = failures or FailedAuthentications(None, settings)
        self.init_rate = Rate("ws_init", settings.ws_init_burst, settings.ws_init_rate)
        self.subscribe_rate = Rate("subscribe", settings.subscribe_burst, settings.subscribe_rate)
        self.subscriptions = Subscriptions(settings.live_subscriptions_per_tenant)
        self._held: dict[object, Held] = {}

    async def authenticate(
        self, scope: Any, authorization: str | None, tenant: str | None
    ) -> auth.Caller:
        """The caller of a connection_init, within the failed-authentication limits and its
        credential's connection_init rate (RateLimited)."""
        async with self.failures.guard(client_address(scope), authorization):
            caller = await auth.authenticate(authorization, tenant, self._settings)
        await self._take(self.init_rate, caller, "too many connection_init requests for this credential")
        return caller

    async def subscribe(self, caller: auth.Caller, payload: dict[str, Any]) -> Held | None:
        """Admit one subscribe (or SSE stream) of `caller`: its credential's subscribe rate and,
        for a subscription, a live slot of its tenant, held (returned) until the operation ends;
        None for a query or mutation. Refused when over a limit, ServiceUnavailable when the
        rates cannot be asked and fail closed."""
        held = self.subscriptions.open(caller.tenant) if self._subscription(payload) else None
        try:
            await self._take(self.subscribe_rate, caller, "too many subscribe requests for this credential")
        except (Refused, LimitsUnavailable) as error:
            if held is not None:
                held.release()
            if isinstance(error, LimitsUnavailable):
                raise ServiceUnavailable(str(error)) from error
            raise
        return held

    def hold(self, operation: object, held: Held | None) -> None:
        """Keep a WebSocket operation's slot until it ends: a task's when it is done, any other
        operation's (a member of a shared stream) when `release` is called for it."""
        if held is None:
            return
        if isinstance(operation, asyncio.Task):
            release = held.release
            operation.add_done_callback(lambda _: release())
        else:
            self._held[operation] = held

    def release(self, operation: object) -> None:
        held = self._held.pop(operation, None)
        if held is not None:
            held.release()

    def _subscription(self, payload: dict[str, Any]) -> bool:
        query, name = payload.get("query"), payload.get("operationName")
        return (isinstance(query, str) and isinstance(name, str | None)
                and deadline.is_subscription(query, name, self._settings.max_tokens))

    async def _take(self, rate: Rate, caller: auth.Caller, message: str) -> None:
        if self._buckets is None:
            return
        tenant = caller.tenant
        taken = await self._buckets.take([rate.bucket(tenant.id, caller.principal.subject)], 1)
        if taken is not None and not taken.fits:
            raise over(RateLimited, rate, taken.levels[0], message, tenant.slug)


class Subscriptions:
    """Live subscriptions per tenant in this process, at most `per_tenant` each."""

    def __init__(self, per_tenant: int) -> None:
        self.per_tenant = per_tenant
        self._tenants: collections.Counter[UUID] = collections.Counter()

    def open(self, tenant: tenancy.Tenant) -> Held:
        if self._tenants[tenant.id] >= self.per_tenant:
            metrics.count_rate_limited("live_subscriptions", tenant.slug)
            raise TooManySubscriptions(
                f"too many live subscriptions: at most {self.per_tenant} per tenant on this server",
                limit="live_subscriptions", retry_after=RETRY_AFTER_SECONDS,
            )
        self._tenants[tenant.id] += 1
        return Held(self, tenant.id)

    def release(self, tenant_id: UUID) -> None:
        self._tenants[tenant_id] -= 1
        if self._tenants[tenant_id] <= 0:
            del self._tenants[tenant_id]

    def count(self, tenant_id: UUID) -> int:
        return self._tenants[tenant_id]


class Held:
    """One counted subscription; `release` gives it back (once, whatever the path)."""

    __slots__ = ("_subscriptions", "_tenant")

    def __init__(self, subscriptions: Subscriptions, tenant: UUID) -> None:
        self._subscriptions: Subscriptions | None = subscriptions
        self._tenant = tenant

    def release(self) -> None:
        subscriptions, self._subscriptions = self._subscriptions, None
        if subscriptions is not None:
            subscriptions.release(self._tenant)


class Releasable(Protocol):
    def release(self) -> None: ...


class Together:
    """Slots released together (an SSE stream's connection and its subscription)."""

    def __init__(self, *slots: Releasable | None) -> None:
        self._slots = [slot for slot in slots if slot is not None]

    def release(self) -> None:
        for slot in self._slots:
            slot.release()
