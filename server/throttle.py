"""Query cost budgets: an operation is admitted when its requested cost fits in its tenant's
bucket and in its credential's (server.buckets, shared by every process), and the difference
to its actual cost is given back once it has run.

Both buckets' keys name the tenant, so a platform key acting for two tenants has a bucket in
each, and what a response says about its buckets is only ever about its own tenant's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

from strawberry.types import ExecutionResult

from domain import throttling
from domain.config import Settings
from domain.errors import DomainError, ServiceUnavailable
from schema.build import TenantSchema
from schema.cost import Estimate
from server import auth, refusals
from server.buckets import Bucket, Buckets, Level, LimitsUnavailable, Taken
from server.leases import Leases
from telemetry import metrics

log = logging.getLogger("tenantgraph.throttle")
POLICIES = ("tenant", "credential")
"""The RateLimit-Policy names of the two buckets, in the order they are taken from."""


class MaxCostExceeded(DomainError):
    code = "MAX_COST_EXCEEDED"
    http_status = 400


class Throttled(DomainError):
    code = "THROTTLED"
    http_status = 429

    def __init__(self, taken: Taken, requested: int) -> None:
        self.taken = taken
        self.retry_after = refusals.seconds(taken.retry_after)
        blocking = max(taken.levels, key=lambda level: level.seconds_until(taken.amount))
        super().__init__(
            f"throttled: this query costs {requested} points and {blocking.available:.0f} are "
            f"available; retry in {self.retry_after} s",
            details={
                "requestedQueryCost": requested, "throttleStatus": status(blocking),
                "retryAfter": self.retry_after,
            },
        )


class LimitsDown(ServiceUnavailable):
    """Redis cannot be asked and LIMITS_ON_REDIS_ERROR=closed."""


@dataclasses.dataclass(frozen=True, slots=True)
class Admitted:
    """An admitted operation: its estimate (None when the document cannot run), what was taken
    (None when the limits are off or Redis could not be asked) and from which buckets."""

    estimate: Estimate | None
    taken: Taken | None = None
    buckets: tuple[Bucket, ...] = ()


NOTHING = Admitted(None)


class Throttle:
    """Admits operations by their cost; `buckets` None turns the buckets off (costs are still
    computed and reported)."""

    def __init__(self, settings: Settings, buckets: Buckets | None) -> None:
        self.settings = settings
        self.buckets = buckets if settings.cost_limits else None
        self.leases = None if self.buckets is None else Leases(
            self.buckets, fraction=settings.limits_lease_fraction
        )
        self._refunds: set[asyncio.Task[None]] = set()

    async def admit(
        self, caller: auth.Caller, tenant_schema: TenantSchema, payload: Mapping[str, Any]
    ) -> Admitted:
        """Takes the requested cost; MaxCostExceeded, Throttled or LimitsDown when it cannot."""
        estimate = tenant_schema.costs.estimate(
            tenant_schema.schema._schema, payload["query"], payload.get("operationName"),
            payload.get("variables"),
        )
        if estimate is None:
            return NOTHING
        plan = throttling.plan_of(caller.tenant, self.settings)
        most: float = self.settings.max_query_cost
        if self.buckets is not None:  # what is larger than a bucket would never fit
            most = min(most, plan.bucket_size, plan.credential_bucket_size)
        if estimate.requested > most:
            raise MaxCostExceeded(
                f"query cost {estimate.requested} exceeds the maximum of {most:g}: ask for fewer "
                "items per page or fewer fields",
                details={"requestedQueryCost": estimate.requested, "maxQueryCost": most},
            )
        if self.buckets is None:
            return Admitted(estimate)
        buckets = buckets_of(caller, plan)
        taken = await self._take(buckets, estimate.requested)
        if taken is not None and not taken.fits:
            metrics.THROTTLED.labels(metrics.tenant_label(caller.tenant.slug)).inc()
            raise Throttled(taken, estimate.requested)
        return Admitted(estimate, taken, buckets)

    async def _take(self, buckets: tuple[Bucket, ...], amount: int) -> Taken | None:
        assert self.leases is not None
        try:
            return await self.leases.take(buckets, amount)
        except LimitsUnavailable as error:
            raise LimitsDown(str(error)) from error

    def settle(
        self, admitted: Admitted, data: Mapping[str, Any] | None, *, refund: bool = True
    ) -> dict[str, Any] | None:
        """`extensions.cost` of the answer; gives back what the operation did not use (later,
        in a task of its own: the answer need not wait for it) unless `refund` is False."""
        estimate = admitted.estimate
        if estimate is None or not (refund or self.settings.cost_extensions):
            return None
        actual = estimate.actual(data)
        unused = max(0, estimate.requested - actual) if refund else 0
        if refund:  # once per operation: not at each of a subscription's events
            metrics.QUERY_COST.labels("requested").observe(estimate.requested)
            metrics.QUERY_COST.labels("actual").observe(actual)
        taken = admitted.taken
        if unused and taken is not None and self.leases is not None and not self.leases.refund(
            admitted.buckets, unused
        ):
            task = asyncio.create_task(self._refund(admitted.buckets, unused))
            self._refunds.add(task)
            task.add_done_callback(self._refunds.discard)
        if not self.settings.cost_extensions:
            return None
        return {
            "requestedQueryCost": estimate.requested,
            "actualQueryCost": actual,
            "throttleStatus": None if taken is None else status(taken.tightest, unused),
        }

    def annotate(
        self, result: ExecutionResult | None, admitted: Admitted, *, refund: bool = True
    ) -> None:
        """Settles and puts `extensions.cost` on a result (if any); a subscription's events
        (refund False) were paid for when it started."""
        if result is None:
            return
        cost = self.settle(admitted, result.data, refund=refund)
        if cost is not None:
            result.extensions = {**(result.extensions or {}), "cost": cost}

    async def _refund(self, buckets: tuple[Bucket, ...], amount: int) -> None:
        assert self.buckets is not None
        try:
            await self.buckets.refund(buckets, amount)
        except LimitsUnavailable:
            log.warning("a refund of %d points was lost: Redis is unreachable", amount)

    async def settled(self) -> None:
        """Waits for the refunds under way (tests, shutdown)."""
        while self._refunds:
            await asyncio.gather(*self._refunds, return_exceptions=True)

    async def close(self) -> None:
        """Gives back what this process holds of its tenants' buckets (shutdown)."""
        await self.settled()
        if self.leases is not None:
            await self.leases.close()


def buckets_of(caller: auth.Caller, plan: throttling.Plan) -> tuple[Bucket, ...]:
    tenant = caller.tenant.id
    return (
        Bucket(f"cost:{tenant}", plan.bucket_size, plan.restore_rate),
        Bucket(f"cost:{tenant}:{caller.principal.subject}",
               plan.credential_bucket_size, plan.credential_restore_rate),
    )


def status(level: Level, unused: float = 0) -> dict[str, float]:
    """Shopify's throttleStatus of the tightest bucket, after giving back `unused` points."""
    size = level.bucket.size
    return {
        "maximumAvailable": size,
        "currentlyAvailable": round(min(size, level.available + unused), 3),
        "restoreRate": level.bucket.rate,
    }


def headers(error: DomainError) -> dict[str, str]:
    """Headers of an operation refused over HTTP: Retry-After for a 429 or 503, and for a 429
    the RateLimit headers of both buckets."""
    if isinstance(error, Throttled):
        return {
            "retry-after": str(error.retry_after),
            **refusals.rate_limit_headers(
                list(zip(POLICIES, error.taken.levels, strict=True)), error.taken.amount
            ),
        }
    if isinstance(error, ServiceUnavailable):
        return {"retry-after": str(error.retry_after)}
    return {}

