"""Webhook endpoints (per flow) and their deliveries: admin-only, in every tenant's schema."""

from __future__ import annotations

import enum
from collections.abc import Awaitable
from datetime import datetime
from typing import TypeAlias

import strawberry
from strawberry.scalars import JSON

from domain import webhooks
from resolvers import webhooks as resolve
from schema.common import Connection, Ctx, UserError, attempt, parse_id, window

DeliveryStatus: TypeAlias = webhooks.DeliveryStatus
strawberry.enum(DeliveryStatus, name="DeliveryStatus")


@strawberry.type(description="Where a flow's webhooks are received for this tenant.")
class WebhookEndpoint:
    flow: str
    url_path: str = strawberry.field(description="POST here, signed with one of the secrets.")
    secrets: list[str] = strawberry.field(
        description="Current secret first; during a rotation the previous one still verifies."
    )
    verify_token: str | None
    enabled: bool

    @classmethod
    def from_domain(cls, value: webhooks.Endpoint, tenant_slug: str) -> WebhookEndpoint:
        return cls(
            flow=value.flow,
            url_path=f"/webhooks/{value.flow}?tenant={tenant_slug}",
            secrets=list(value.secrets),
            verify_token=value.verify_token,
            enabled=value.enabled,
        )


@strawberry.type
class WebhookDelivery:
    id: strawberry.ID
    flow: str
    delivery_id: str
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    correlation_id: str
    received_at: datetime
    processed_at: datetime | None
    payload: JSON

    @classmethod
    def from_domain(cls, value: webhooks.Delivery) -> WebhookDelivery:
        return cls(
            id=strawberry.ID(str(value.id)),
            flow=value.flow,
            delivery_id=value.delivery_id,
            status=value.status,
            attempts=value.attempts,
            last_error=value.last_error,
            correlation_id=value.correlation_id,
            received_at=value.received_at,
            processed_at=value.processed_at,
            payload=JSON(value.payload),
        )


@strawberry.enum
class WebhookFlow(enum.Enum):
    PURCHASE = "purchase-flow"
    INVENTORY = "inventory-flow"
    SALES = "sales-flow"


@strawberry.type
class WebhookEndpointPayload:
    endpoint: WebhookEndpoint | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ReplayPayload:
    replayed: list[strawberry.ID] | None = strawberry.field(
        default=None, description="The deliveries queued again; null when errors is not empty."
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class ReplayInput:
    ids: list[strawberry.ID] | None = None
    flow: WebhookFlow | None = None
    since: datetime | None = None
    until: datetime | None = None


@strawberry.type
class WebhookQuery:
    @strawberry.field(description="This tenant's webhook endpoints (admin scope).")
    async def webhook_endpoints(self, info: Ctx) -> list[WebhookEndpoint]:
        slug = info.context.tenant.slug
        return [WebhookEndpoint.from_domain(e, slug) for e in await resolve.endpoints(info.context)]

    @strawberry.field(description="Deliveries, newest first; filter by status DEAD for the dead letter.")
    async def webhook_deliveries(
        self,
        info: Ctx,
        status: DeliveryStatus | None = None,
        flow: WebhookFlow | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[WebhookDelivery]:
        page = await resolve.deliveries(
            info.context, status=status, flow=None if flow is None else flow.value,
            since=since, until=until, page=window(info, first, after, last, before),
        )
        return Connection.of(page, WebhookDelivery.from_domain)


@strawberry.type
class WebhookMutation:
    @strawberry.mutation(description="Create the endpoint of a flow, with a fresh secret.")
    async def create_webhook_endpoint(
        self, info: Ctx, flow: WebhookFlow, verify_token: str | None = None
    ) -> WebhookEndpointPayload:
        return await _endpoint(info, resolve.create_endpoint(info.context, flow.value, verify_token))

    @strawberry.mutation(description="Add a new current secret; the previous one keeps working.")
    async def rotate_webhook_secret(self, info: Ctx, flow: WebhookFlow) -> WebhookEndpointPayload:
        return await _endpoint(info, resolve.rotate_secret(info.context, flow.value))

    @strawberry.mutation(description="End a rotation: only the current secret verifies.")
    async def drop_previous_webhook_secret(
        self, info: Ctx, flow: WebhookFlow
    ) -> WebhookEndpointPayload:
        return await _endpoint(info, resolve.drop_previous_secret(info.context, flow.value))

    @strawberry.mutation
    async def update_webhook_endpoint(
        self, info: Ctx, flow: WebhookFlow, enabled: bool | None = None,
        verify_token: str | None = None,
    ) -> WebhookEndpointPayload:
        work = resolve.set_endpoint(info.context, flow.value, enabled, verify_token)
        return await _endpoint(info, work)

    @strawberry.mutation(description="Queue dead or failed deliveries again, by ids or flow/time.")
    async def replay_webhook_deliveries(self, info: Ctx, input: ReplayInput) -> ReplayPayload:
        async def replay() -> list[strawberry.ID]:
            ids = None if input.ids is None else [parse_id(i, "input.ids") for i in input.ids]
            done = await resolve.replay(
                info.context, ids=ids, flow=None if input.flow is None else input.flow.value,
                since=input.since, until=input.until,
            )
            return [strawberry.ID(str(i)) for i in done]

        replayed, errors = await attempt(replay())
        return ReplayPayload(replayed=replayed, errors=errors)


async def _endpoint(info: Ctx, work: Awaitable[webhooks.Endpoint]) -> WebhookEndpointPayload:
    endpoint, errors = await attempt(work)
    if endpoint is None:
        return WebhookEndpointPayload(errors=errors)
    return WebhookEndpointPayload(endpoint=WebhookEndpoint.from_domain(endpoint, info.context.tenant.slug))
