"""Webhooks out, the endpoints: admin-only, in every tenant's schema. A secret is returned
once, by the mutation that makes it (create, rotate); errors are GraphQL errors with
`extensions.code` (BAD_USER_INPUT with `fields`, ADDRESS_REFUSED, NOT_FOUND, CONFLICT)."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from domain import outbound
from resolvers import outbound as resolve
from schema.common import Ctx, parse_id


@strawberry.type(description="Where this tenant's events are sent, signed (Standard Webhooks).")
class OutboundEndpoint:
    id: strawberry.ID
    url: str
    description: str
    event_types: list[str] = strawberry.field(
        description="Exact types (order.created), prefixes (order.*) or * for every type."
    )
    enabled: bool
    disabled_reason: str | None
    header_names: list[str] = strawberry.field(
        description="Custom headers sent with each request (values are not shown)."
    )
    rate_limit: int | None = strawberry.field(
        description="Requests per second at most; null: the deployment's OUTBOUND_RATE_LIMIT."
    )
    failing_since: datetime | None
    previous_secret_expires_at: datetime | None = strawberry.field(
        description="During a rotation, when the previous secret stops signing."
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_domain(cls, value: outbound.Endpoint) -> OutboundEndpoint:
        now = datetime.now(UTC)
        expiring = [s.expires_at for s in value.secrets if s.expires_at and s.active(now)]
        return cls(
            id=strawberry.ID(str(value.id)), url=value.url, description=value.description,
            event_types=list(value.event_types), enabled=value.enabled,
            disabled_reason=value.disabled_reason, header_names=sorted(value.headers),
            rate_limit=value.rate_limit, failing_since=value.failing_since,
            previous_secret_expires_at=max(expiring, default=None),
            created_at=value.created_at, updated_at=value.updated_at,
        )


@strawberry.input
class HeaderInput:
    name: str
    value: str


@strawberry.input
class CreateOutboundEndpointInput:
    url: str
    event_types: list[str]
    description: str = ""
    enabled: bool = True
    headers: list[HeaderInput] = strawberry.field(default_factory=list)
    rate_limit: int | None = None


@strawberry.input(description="Fields left out are kept; rateLimit: null sets the default.")
class UpdateOutboundEndpointInput:
    url: str | None = None
    description: str | None = None
    event_types: list[str] | None = None
    enabled: bool | None = None
    headers: list[HeaderInput] | None = None
    rate_limit: int | None = strawberry.UNSET


@strawberry.type
class OutboundEndpointPayload:
    endpoint: OutboundEndpoint


@strawberry.type
class OutboundEndpointWithSecretPayload:
    endpoint: OutboundEndpoint
    secret: str = strawberry.field(
        description="The new whsec_ signing secret, shown this once: store it now."
    )


@strawberry.type
class DeleteOutboundEndpointPayload:
    deleted_id: strawberry.ID


def _changes(input: UpdateOutboundEndpointInput) -> outbound.Changes:
    given = input.rate_limit is not strawberry.UNSET
    return outbound.Changes(
        url=input.url, description=input.description,
        event_types=None if input.event_types is None else tuple(input.event_types),
        enabled=input.enabled,
        headers=None if input.headers is None else [(h.name, h.value) for h in input.headers],
        rate_limit=input.rate_limit if given else None,
        clear_rate_limit=given and input.rate_limit is None,
    )


@strawberry.type
class OutboundQuery:
    @strawberry.field(description="This tenant's outbound webhook endpoints (admin scope).")
    async def outbound_endpoints(self, info: Ctx) -> list[OutboundEndpoint]:
        return [OutboundEndpoint.from_domain(e) for e in await resolve.endpoints(info.context)]

    @strawberry.field(description="One outbound webhook endpoint (admin scope).")
    async def outbound_endpoint(self, info: Ctx, id: strawberry.ID) -> OutboundEndpoint:
        found = await resolve.endpoint(info.context, parse_id(id, "id"))
        return OutboundEndpoint.from_domain(found)


@strawberry.type
class OutboundMutation:
    @strawberry.mutation(description="Register an endpoint; its signing secret is returned once.")
    async def create_outbound_endpoint(
        self, info: Ctx, input: CreateOutboundEndpointInput
    ) -> OutboundEndpointWithSecretPayload:
        draft = outbound.Draft(
            url=input.url, description=input.description, event_types=tuple(input.event_types),
            enabled=input.enabled, headers=[(h.name, h.value) for h in input.headers],
            rate_limit=input.rate_limit,
        )
        made = await resolve.create(info.context, draft)
        return OutboundEndpointWithSecretPayload(
            endpoint=OutboundEndpoint.from_domain(made.endpoint), secret=made.secret
        )

    @strawberry.mutation(description="Change an endpoint; enabling it clears its failing streak.")
    async def update_outbound_endpoint(
        self, info: Ctx, id: strawberry.ID, input: UpdateOutboundEndpointInput
    ) -> OutboundEndpointPayload:
        changed = await resolve.update(info.context, parse_id(id, "id"), _changes(input))
        return OutboundEndpointPayload(endpoint=OutboundEndpoint.from_domain(changed))

    @strawberry.mutation(description="Delete an endpoint with its messages and attempts.")
    async def delete_outbound_endpoint(
        self, info: Ctx, id: strawberry.ID
    ) -> DeleteOutboundEndpointPayload:
        deleted = await resolve.delete(info.context, parse_id(id, "id"))
        return DeleteOutboundEndpointPayload(deleted_id=strawberry.ID(str(deleted.id)))

    @strawberry.mutation(
        description="A new signing secret, returned once; the previous one keeps signing "
        "(both signatures are sent) for OUTBOUND_SECRET_GRACE_SECONDS."
    )
    async def rotate_outbound_endpoint_secret(
        self, info: Ctx, id: strawberry.ID
    ) -> OutboundEndpointWithSecretPayload:
        made = await resolve.rotate_secret(info.context, parse_id(id, "id"))
        return OutboundEndpointWithSecretPayload(
            endpoint=OutboundEndpoint.from_domain(made.endpoint), secret=made.secret
        )
