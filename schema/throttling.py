"""A tenant's query cost plan (see schema.cost and server.throttle): the size of its bucket
and of each of its credentials' buckets, in points, and the points restored per second."""

from __future__ import annotations

from typing import Any

import strawberry

from domain import throttling
from resolvers import throttling as resolve
from schema.common import Ctx, UserError, attempt


@strawberry.type(description="Query cost buckets: sizes in points, restore rates in points per second.")
class CostLimits:
    bucket_size: float = strawberry.field(description="The tenant's bucket, shared by its credentials")
    restore_rate: float
    credential_bucket_size: float = strawberry.field(description="Each credential's own bucket")
    credential_restore_rate: float

    @classmethod
    def from_domain(cls, plan: throttling.Plan) -> CostLimits:
        return cls(**plan.as_dict())


@strawberry.input(description="Values to change; a field left out stays, null goes back to the default.")
class CostLimitsInput:
    bucket_size: float | None = strawberry.UNSET
    restore_rate: float | None = strawberry.UNSET
    credential_bucket_size: float | None = strawberry.UNSET
    credential_restore_rate: float | None = strawberry.UNSET

    def changes(self) -> dict[str, Any]:
        return {
            name: getattr(self, name) for name in throttling.FIELDS
            if getattr(self, name) is not strawberry.UNSET
        }


@strawberry.type(description="The tenant's limits as changed, or why they were not.")
class CostLimitsPayload:
    limits: CostLimits | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ThrottlingQuery:
    @strawberry.field(description="This tenant's query cost limits.")
    def cost_limits(self, info: Ctx) -> CostLimits:
        return CostLimits.from_domain(resolve.cost_limits(info.context))


@strawberry.type
class ThrottlingMutation:
    @strawberry.mutation(
        description="Change this tenant's query cost limits (platform keys only); live on the next request."
    )
    async def set_tenant_cost_limits(self, info: Ctx, limits: CostLimitsInput) -> CostLimitsPayload:
        plan, errors = await attempt(resolve.set_cost_limits(info.context, limits.changes()))
        return CostLimitsPayload(
            limits=None if plan is None else CostLimits.from_domain(plan), errors=errors
        )
