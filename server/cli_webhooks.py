"""`tenantgraph webhook ...` and `tenantgraph deliveries ...`: a tenant's webhook endpoints
and deliveries, for operators. Each command runs through the CLI's `admin` (server.cli)."""

from __future__ import annotations

import argparse
import secrets
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar
from uuid import UUID

from domain import webhooks
from domain.config import Settings
from domain.errors import Invalid
from server import cli_audit

T = TypeVar("T")


class Admin(Protocol):
    """Runs one operator action on the app role's connection (server.cli._admin)."""

    def __call__(self, settings: Settings, action: Callable[[], Coroutine[Any, Any, T]]) -> T: ...


class Commands:
    """The webhook and deliveries commands, run through `admin` like every operator action."""

    def __init__(self, admin: Admin, with_services: Callable[[Settings], Settings]) -> None:
        self.admin = admin
        self.with_services = with_services

    def add(self, commands: Any) -> None:
        self._webhook_commands(commands)
        self._delivery_commands(commands)

    def _webhook_commands(self, commands: Any) -> None:
        webhook = commands.add_parser("webhook", help="manage webhook endpoints").add_subparsers(
            required=True
        )
        create = webhook.add_parser("create", help="create a flow's endpoint; prints its URL and secret")
        create.add_argument("tenant", help="tenant slug")
        create.add_argument("flow", choices=webhooks.FLOWS)
        create.add_argument(
            "--verify-token", nargs="?", const="", default=None, metavar="TOKEN",
            help="answer the GET hub.verify_token handshake; a random token when TOKEN is omitted",
        )
        create.set_defaults(run=self.webhook_create)
        rotate = webhook.add_parser(
            "rotate", help="issue a new current secret; the previous one verifies until dropped"
        )
        rotate.add_argument("tenant", help="tenant slug")
        rotate.add_argument("flow", choices=webhooks.FLOWS)
        rotate.set_defaults(run=self.webhook_rotate)
        listing = webhook.add_parser("list", help="list a tenant's endpoints")
        listing.add_argument("tenant", help="tenant slug")
        listing.set_defaults(run=self.webhook_list)

    def _delivery_commands(self, commands: Any) -> None:
        delivery = commands.add_parser("deliveries", help="inspect and replay webhook deliveries")
        sub = delivery.add_subparsers(required=True)
        listing = sub.add_parser("list", help="a tenant's deliveries, newest first")
        listing.add_argument("tenant", help="tenant slug")
        listing.add_argument("--status", type=str.lower, choices=[s.value for s in webhooks.DeliveryStatus])
        listing.add_argument("--flow", choices=webhooks.FLOWS)
        listing.add_argument("--limit", type=int, default=50)
        listing.set_defaults(run=self.deliveries_list)
        replay = sub.add_parser(
            "replay", help="queue dead or failed deliveries again, by id or by flow and time range"
        )
        replay.add_argument("tenant", help="tenant slug")
        replay.add_argument("--id", dest="ids", type=UUID, action="append", metavar="ID",
                            help="a delivery id (repeatable)")
        replay.add_argument("--flow", choices=webhooks.FLOWS)
        replay.add_argument("--since", type=_moment, help="received at or after (ISO 8601; UTC if no zone)")
        replay.add_argument("--until", type=_moment, help="received before (ISO 8601; UTC if no zone)")
        replay.set_defaults(run=self.deliveries_replay)

    def webhook_create(self, args: argparse.Namespace, settings: Settings) -> None:
        from tables import tenants
        from tables import webhooks as webhook_tables

        token = secrets.token_urlsafe(24) if args.verify_token == "" else args.verify_token

        async def run() -> webhooks.Endpoint:
            tenant = await tenants.get_by_slug(args.tenant)
            return await webhook_tables.create_endpoint(
                args.flow, tenant_id=tenant.id, verify_token=token, actor=cli_audit.operator()
            )

        endpoint = self.admin(settings, run)
        print(f"created {endpoint.flow} endpoint for {args.tenant}")
        _print_endpoint(args.tenant, endpoint)

    def webhook_rotate(self, args: argparse.Namespace, settings: Settings) -> None:
        from tables import tenants
        from tables import webhooks as webhook_tables

        async def run() -> webhooks.Endpoint:
            tenant = await tenants.get_by_slug(args.tenant)
            return await webhook_tables.rotate_secret(
                args.flow, tenant_id=tenant.id, actor=cli_audit.operator()
            )

        endpoint = self.admin(settings, run)
        print(f"rotated the secret of {endpoint.flow} for {args.tenant}")
        _print_endpoint(args.tenant, endpoint)

    def webhook_list(self, args: argparse.Namespace, settings: Settings) -> None:
        from tables import tenants
        from tables import webhooks as webhook_tables

        async def run() -> list[webhooks.Endpoint]:
            tenant = await tenants.get_by_slug(args.tenant)
            return await webhook_tables.list_endpoints(tenant_id=tenant.id)

        for endpoint in self.admin(settings, run):
            state = "enabled" if endpoint.enabled else "disabled"
            print(f"{endpoint.flow}\t{state}\t{_url_path(args.tenant, endpoint)}"
                  f"\tsecrets={len(endpoint.secrets)}\tverify_token={endpoint.verify_token or '-'}")

    def deliveries_list(self, args: argparse.Namespace, settings: Settings) -> None:
        from tables import tenants
        from tables import webhooks as webhook_tables

        async def run() -> list[webhooks.Delivery]:
            tenant = await tenants.get_by_slug(args.tenant)
            status = None if args.status is None else webhooks.DeliveryStatus(args.status)
            return await webhook_tables.list_deliveries(
                tenant_id=tenant.id, status=status, flow=args.flow, limit=args.limit
            )

        for delivery in self.admin(settings, run):
            error = (delivery.last_error or "-").replace("\n", " ")
            print(f"{delivery.id}\t{delivery.flow}\t{delivery.status.value}\tattempts={delivery.attempts}"
                  f"\t{delivery.received_at.isoformat()}\t{delivery.delivery_id}\t{error}")

    def deliveries_replay(self, args: argparse.Namespace, settings: Settings) -> None:
        from services import deliveries as delivery_services
        from tables import tenants
        from workers import deliveries
        from workers.settings import queue

        if not (args.ids or args.flow or args.since or args.until):
            raise Invalid("name deliveries: --id, or --flow and/or --since/--until")
        settings = self.with_services(settings)

        async def run() -> list[UUID]:
            tenant = await tenants.get_by_slug(args.tenant)
            jobs = queue(settings)

            async def wake(flow: str) -> None:
                await deliveries.wake(jobs, tenant_id=tenant.id, flow=flow)

            try:
                return await delivery_services.replay(
                    wake, tenant_id=tenant.id, ids=args.ids, flow=args.flow, since=args.since,
                    until=args.until, actor=cli_audit.operator(),
                )
            finally:
                await jobs.disconnect()

        replayed = self.admin(settings, run)
        print(f"replayed {len(replayed)} deliveries")
        for delivery_id in replayed:
            print(delivery_id)


def _print_endpoint(slug: str, endpoint: webhooks.Endpoint) -> None:
    print(f"url: {_url_path(slug, endpoint)}")
    print(f"secret: {endpoint.secrets[0]}")
    for previous in endpoint.secrets[1:]:
        print(f"previous secret: {previous}")
    if endpoint.verify_token:
        print(f"verify token: {endpoint.verify_token}")


def _url_path(slug: str, endpoint: webhooks.Endpoint) -> str:
    return f"/webhooks/{endpoint.flow}?tenant={slug}"


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
