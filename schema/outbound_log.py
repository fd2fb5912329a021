"""The delivery log of outgoing webhooks (admin-only, in every tenant's schema): each message
sent to an endpoint with its attempts; redelivery of a message and recovery of an endpoint."""

from __future__ import annotations

from datetime import datetime
from typing import TypeAlias

import strawberry
from strawberry.scalars import JSON

from domain import outbound_log
from resolvers import outbound_log as resolve
from schema.common import Connection, Ctx, UserError, attempt, optional_id, parse_id, window

MessageStatus: TypeAlias = outbound_log.MessageStatus
StatusFilter: TypeAlias = outbound_log.StatusFilter
strawberry.enum(MessageStatus, name="WebhookMessageStatus")
strawberry.enum(
    StatusFilter, name="WebhookMessageStatusFilter",
    description="A message status, or FAILED: retrying or exhausted.",
)


@strawberry.type(description="One event (or test) sent to one endpoint, with every retry.")
class WebhookMessage:
    id: strawberry.ID
    endpoint_id: strawberry.ID
    webhook_id: str = strawberry.field(description="The `webhook-id` header: the same on every attempt.")
    event_type: str
    event_seq: int | None = strawberry.field(description="The event's sequence number; null for a test.")
    cursor: str | None = strawberry.field(description="The event's cursor, as subscriptions give it.")
    status: MessageStatus
    attempts: int
    next_attempt_at: datetime | None = strawberry.field(
        description="When it is due, while pending or retrying."
    )
    last_attempt_at: datetime | None
    succeeded_at: datetime | None
    created_at: datetime
    body: JSON = strawberry.field(description="The exact body sent: type, timestamp, data.")

    @classmethod
    def from_domain(cls, value: outbound_log.Message) -> WebhookMessage:
        due = value.status in (MessageStatus.PENDING, MessageStatus.RETRYING)
        return cls(
            id=strawberry.ID(str(value.id)), endpoint_id=strawberry.ID(str(value.endpoint_id)),
            webhook_id=value.msg_id, event_type=value.event_type, event_seq=value.event_seq,
            cursor=value.cursor, status=value.status, attempts=value.attempts,
            next_attempt_at=value.next_attempt_at if due else None,
            last_attempt_at=value.last_attempt_at, succeeded_at=value.succeeded_at,
            created_at=value.created_at, body=JSON(value.body),
        )


@strawberry.type(description="One request sent for a message, and what came back.")
class WebhookAttempt:
    id: strawberry.ID
    message_id: strawberry.ID
    attempted_at: datetime
    duration_ms: int
    response_status: int | None
    response_body: str = strawberry.field(description="The first KB of the response body.")
    error: str | None = strawberry.field(description="Why no answer counted: timeout, refused, ...")
    trigger: str = strawberry.field(description="scheduled, manual (redelivery) or recovery.")

    @classmethod
    def from_domain(cls, value: outbound_log.Attempt) -> WebhookAttempt:
        return cls(
            id=strawberry.ID(str(value.id)), message_id=strawberry.ID(str(value.message_id)),
            attempted_at=value.attempted_at, duration_ms=value.duration_ms,
            response_status=value.response_status, response_body=value.response_body,
            error=value.error, trigger=value.trigger,
        )


@strawberry.type
class RedeliverPayload:
    message: WebhookMessage | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RecoverPayload:
    job_id: str | None = strawberry.field(default=None, description="The recovery job's key.")
    status: str | None = strawberry.field(default=None, description="`queued` once it is queued.")
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class OutboundLogQuery:
    @strawberry.field(description="Messages sent to this tenant's webhook endpoints, newest first.")
    async def webhook_messages(
        self,
        info: Ctx,
        endpoint_id: strawberry.ID | None = None,
        status: StatusFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[WebhookMessage]:
        page = await resolve.messages(
            info.context, endpoint_id=optional_id(endpoint_id, "endpointId"), status=status,
            page=window(info, first, after, last, before),
        )
        return Connection.of(page, WebhookMessage.from_domain)

    @strawberry.field(description="A message's attempts, newest first.")
    async def webhook_attempts(
        self, info: Ctx, message_id: strawberry.ID, first: int | None = None,
        after: str | None = None, last: int | None = None, before: str | None = None,
    ) -> Connection[WebhookAttempt]:
        page = await resolve.attempts(
            info.context, parse_id(message_id, "messageId"), page=window(info, first, after, last, before)
        )
        return Connection.of(page, WebhookAttempt.from_domain)


@strawberry.type
class OutboundLogMutation:
    @strawberry.mutation(description="Send a message again now (same webhook-id), whatever its status.")
    async def redeliver_webhook_message(self, info: Ctx, id: strawberry.ID) -> RedeliverPayload:
        async def redeliver() -> WebhookMessage:
            return WebhookMessage.from_domain(await resolve.redeliver(info.context, parse_id(id, "id")))

        message, errors = await attempt(redeliver())
        return RedeliverPayload(message=message, errors=errors)

    @strawberry.mutation(
        description="Send again every message of an endpoint that failed since a time (a background job)."
    )
    async def recover_webhook_endpoint(self, info: Ctx, id: strawberry.ID, since: datetime) -> RecoverPayload:
        async def recover() -> str:
            return await resolve.recover(info.context, parse_id(id, "id"), since)

        job, errors = await attempt(recover())
        return RecoverPayload(job_id=job, status=None if job is None else "queued", errors=errors)
