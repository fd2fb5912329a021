"""Webhooks out, delivery: `sendTestWebhook` (admin). Errors are GraphQL errors with
`extensions.code` (NOT_FOUND, CONFLICT for a disabled endpoint, BAD_USER_INPUT)."""

from __future__ import annotations

import strawberry

from resolvers import outbound_delivery as resolve
from schema.common import Ctx, parse_id


@strawberry.type
class SendTestWebhookPayload:
    webhook_id: str = strawberry.field(
        description="The `webhook-id` of the test message: find it in the endpoint's delivery log."
    )


@strawberry.type
class OutboundDeliveryMutation:
    @strawberry.mutation(
        description="Send the endpoint a signed `test` message now, through the same path as "
        "events (retried and logged like them)."
    )
    async def send_test_webhook(self, info: Ctx, endpoint_id: strawberry.ID) -> SendTestWebhookPayload:
        webhook_id = await resolve.send_test(info.context, parse_id(endpoint_id, "endpointId"))
        return SendTestWebhookPayload(webhook_id=webhook_id)
