"""`tenantgraph outbound messages|attempts|redeliver|recover SLUG ...`: a tenant's outgoing
webhook log, for operators. Each command runs through the CLI's `run_admin` (server.cli_admin).

The `outbound` command is shared with server.cli_outbound (endpoints): whichever module is
registered first creates it, the other adds its verbs to it."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from domain import outbound_log
from domain.config import Settings
from server import cli_admin, cli_audit


def add(commands: Any) -> None:
    """Add the log's verbs to the `outbound` command of the top-level subparsers."""
    verbs = _verbs(commands)
    messages = verbs.add_parser("messages", help="a tenant's outgoing webhook messages, newest first")
    messages.add_argument("tenant", help="tenant slug")
    messages.add_argument("--endpoint", type=UUID, help="only this endpoint's")
    messages.add_argument("--status", type=str.lower, choices=[s.value for s in outbound_log.StatusFilter])
    messages.add_argument("--limit", type=int, default=50)
    messages.set_defaults(run=_messages)
    attempts = verbs.add_parser("attempts", help="a message's attempts, newest first")
    attempts.add_argument("tenant", help="tenant slug")
    attempts.add_argument("message", type=UUID, help="message id")
    attempts.add_argument("--limit", type=int, default=50)
    attempts.set_defaults(run=_attempts)
    redeliver = verbs.add_parser("redeliver", help="send a message again now (same webhook-id)")
    redeliver.add_argument("tenant", help="tenant slug")
    redeliver.add_argument("message", type=UUID, help="message id")
    redeliver.set_defaults(run=_redeliver)
    recover = verbs.add_parser(
        "recover", help="send again every message of an endpoint that failed since a time (a job)"
    )
    recover.add_argument("tenant", help="tenant slug")
    recover.add_argument("endpoint", type=UUID, help="endpoint id")
    recover.add_argument("--since", type=_moment, required=True,
                         help="failed messages created at or after (ISO 8601; UTC if no zone)")
    recover.set_defaults(run=_recover)


def _verbs(commands: Any) -> Any:
    parser = commands.choices.get("outbound")
    if parser is None:
        return commands.add_parser("outbound", help="outgoing webhooks").add_subparsers(required=True)
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def _messages(args: argparse.Namespace, settings: Settings) -> None:
    from tables import outbound_log as log_tables
    from tables import tenants

    async def run() -> list[outbound_log.Message]:
        tenant = await tenants.get_by_slug(args.tenant)
        wanted = None if args.status is None else outbound_log.StatusFilter(args.status)
        return await log_tables.list_messages(
            tenant_id=tenant.id, endpoint_id=args.endpoint, statuses=outbound_log.statuses(wanted),
            limit=args.limit,
        )

    for message in cli_admin.run_admin(settings, run):
        print(_message_line(message))


def _attempts(args: argparse.Namespace, settings: Settings) -> None:
    from tables import outbound_log as log_tables
    from tables import tenants

    async def run() -> list[outbound_log.Attempt]:
        tenant = await tenants.get_by_slug(args.tenant)
        return await log_tables.list_attempts(args.message, tenant_id=tenant.id, limit=args.limit)

    for found in cli_admin.run_admin(settings, run):
        error = (found.error or "-").replace("\n", " ")
        print(f"{found.attempted_at.isoformat()}\t{found.trigger}\tstatus={found.response_status or '-'}"
              f"\t{found.duration_ms}ms\t{error}")


def _redeliver(args: argparse.Namespace, settings: Settings) -> None:
    from services import outbound_log as log_services
    from tables import tenants

    async def run(enqueue: log_services.EnqueueJob) -> outbound_log.Message:
        tenant = await tenants.get_by_slug(args.tenant)
        return await log_services.redeliver(
            enqueue, args.message, tenant_id=tenant.id, actor=cli_audit.operator()
        )

    message = _with_queue(settings, run)
    print(f"redelivering {message.id} ({message.msg_id})")
    print(_message_line(message))


def _recover(args: argparse.Namespace, settings: Settings) -> None:
    from services import outbound_log as log_services
    from tables import tenants

    async def run(enqueue: log_services.EnqueueJob) -> str:
        tenant = await tenants.get_by_slug(args.tenant)
        return await log_services.request_recovery(
            enqueue, args.endpoint, args.since, tenant_id=tenant.id, actor=cli_audit.operator()
        )

    print(f"recovery queued: {_with_queue(settings, run)}")


def _with_queue(settings: Settings, action: Any) -> Any:
    """Run `action(enqueue)` with the worker's queue, closed afterwards."""
    from workers.settings import queue

    settings = cli_admin.with_services(settings)

    async def run() -> Any:
        jobs = queue(settings)

        async def enqueue(function: str, key: str, kwargs: Mapping[str, str]) -> object:
            return await jobs.enqueue(function, key=key, **kwargs)

        try:
            return await action(enqueue)
        finally:
            await jobs.disconnect()

    return cli_admin.run_admin(settings, run)


def _message_line(message: outbound_log.Message) -> str:
    return (f"{message.id}\t{message.endpoint_id}\t{message.event_type}\t{message.cursor or '-'}"
            f"\t{message.status.value}\tattempts={message.attempts}\t{message.created_at.isoformat()}"
            f"\t{message.msg_id}")


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
