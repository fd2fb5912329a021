"""Webhooks out: the endpoints a tenant sends its events to, and the tables W and L share."""

from __future__ import annotations

from piccolo.columns import JSONB, Array, BigInt, Boolean, Integer, Text, Timestamptz
from piccolo.columns import UUID as UUIDColumn
from piccolo.table import Table

from tables.engine import DB


class EndpointTable(Table, tablename="outbound_endpoints", db=DB):
    id = UUIDColumn(primary_key=True)
    tenant_id = UUIDColumn()
    url = Text()
    description = Text(default="")
    event_types = Array(base_column=Text())
    enabled = Boolean(default=True)
    disabled_reason = Text(null=True, default=None)
    secrets = JSONB(default=[])
    headers = JSONB(default={})
    rate_limit = Integer(null=True, default=None)
    failing_since = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class MessageTable(Table, tablename="outbound_messages", db=DB):
    id = UUIDColumn(primary_key=True)
    tenant_id = UUIDColumn()
    endpoint_id = UUIDColumn()
    event_seq = BigInt(null=True, default=None)
    event_type = Text()
    msg_id = Text()
    body = JSONB(default={})
    status = Text(default="pending")
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz()
    claimed_until = Timestamptz(null=True, default=None)
    last_attempt_at = Timestamptz(null=True, default=None)
    succeeded_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class AttemptTable(Table, tablename="outbound_attempts", db=DB):
    id = UUIDColumn(primary_key=True)
    tenant_id = UUIDColumn()
    message_id = UUIDColumn()
    endpoint_id = UUIDColumn()
    attempted_at = Timestamptz()
    duration_ms = Integer(default=0)
    response_status = Integer(null=True, default=None)
    response_body = Text(default="")
    error = Text(null=True, default=None)
    trigger = Text(default="scheduled")


class CursorTable(Table, tablename="outbound_cursors", db=DB):
    tenant_id = UUIDColumn(primary_key=True)
    last_seq = BigInt(default=0)
