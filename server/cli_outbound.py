"""`tenantgraph outbound create|list|update|delete|rotate-secret|enable SLUG ...`: a tenant's
outbound webhook endpoints, for operators. Each command runs through the CLI's `run_admin`
(server.cli_admin) and is recorded in the tenant's audit trail as the operator's."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar
from uuid import UUID

from domain import outbound
from domain.config import Settings
from domain.errors import Invalid
from server import cli_admin, cli_audit

T = TypeVar("T")


def add(commands: Any) -> Any:
    """Add the `outbound` command to the top-level subparsers; returns its verbs' subparsers
    (the delivery log's commands join them there)."""
    verbs = commands.add_parser("outbound", help="a tenant's outbound webhook endpoints") \
        .add_subparsers(required=True)
    create = _verb(verbs, "create", _create, "register an endpoint; prints its secret, once")
    create.add_argument("--url", required=True)
    create.add_argument("--event-type", dest="event_types", action="append", required=True,
                        metavar="TYPE", help="order.created, order.* or * (repeatable)")
    _fields(create)
    create.add_argument("--disabled", dest="enabled", action="store_false")
    _verb(verbs, "list", _list, "the tenant's endpoints (no secrets)")
    update = _verb(verbs, "update", _update, "change an endpoint; options left out are kept", id=True)
    update.add_argument("--url")
    update.add_argument("--event-type", dest="event_types", action="append", metavar="TYPE")
    _fields(update)
    update.add_argument("--clear-headers", action="store_true", help="send no custom header")
    update.add_argument("--default-rate-limit", action="store_true", help="use OUTBOUND_RATE_LIMIT")
    update.add_argument("--disable", dest="enabled", action="store_false", default=None)
    _verb(verbs, "delete", _delete, "delete an endpoint with its messages and attempts", id=True)
    _verb(verbs, "rotate-secret", _rotate, "a new secret (printed once); the previous one signs "
          "too until OUTBOUND_SECRET_GRACE_SECONDS have passed", id=True)
    _verb(verbs, "enable", _enable, "enable an endpoint again, forgetting its failing streak", id=True)
    return verbs


def _verb(verbs: Any, name: str, run: Any, help: str, *, id: bool = False) -> Any:
    parser = verbs.add_parser(name, help=help)
    parser.add_argument("slug", help="tenant slug")
    if id:
        parser.add_argument("id", type=UUID, help="endpoint id")
    parser.set_defaults(run=run)
    return parser


def _fields(parser: Any) -> None:
    parser.add_argument("--description")
    parser.add_argument("--header", dest="headers", action="append", type=_header,
                        metavar="NAME=VALUE", help="a custom header (repeatable)")
    parser.add_argument("--rate-limit", type=int, help="requests per second at most")


def _header(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), value


def _run(settings: Settings, slug: str, work: Callable[[UUID], Coroutine[Any, Any, T]]) -> T:
    from tables import tenants

    async def run() -> T:
        tenant = await tenants.get_by_slug(slug)
        return await work(tenant.id)

    return cli_admin.run_admin(settings, run)


def _create(args: argparse.Namespace, settings: Settings) -> None:
    from services import outbound as outbound_services

    draft = outbound.Draft(
        url=args.url, event_types=tuple(args.event_types), description=args.description or "",
        enabled=args.enabled, headers=args.headers or (), rate_limit=args.rate_limit,
    )

    async def work(tenant_id: UUID) -> outbound_services.WithSecret:
        return await outbound_services.create(
            draft, tenant_id=tenant_id, policy=outbound_services.Policy.of(settings),
            actor=cli_audit.operator(),
        )

    made = _run(settings, args.slug, work)
    print(f"created outbound endpoint {made.endpoint.id} for {args.slug}")
    _print(made.endpoint)
    print(f"secret: {made.secret}")


def _list(args: argparse.Namespace, settings: Settings) -> None:
    from services import outbound as outbound_services

    async def work(tenant_id: UUID) -> list[outbound.Endpoint]:
        return await outbound_services.list_all(tenant_id=tenant_id)

    for endpoint in _run(settings, args.slug, work):
        state = "enabled" if endpoint.enabled else f"disabled ({endpoint.disabled_reason or '-'})"
        print(f"{endpoint.id}\t{state}\t{endpoint.url}\t{','.join(endpoint.event_types)}")


def _update(args: argparse.Namespace, settings: Settings) -> None:
    from services import outbound as outbound_services

    if args.clear_headers and args.headers:
        raise Invalid("give --header or --clear-headers, not both")
    changes = outbound.Changes(
        url=args.url, description=args.description,
        event_types=None if args.event_types is None else tuple(args.event_types),
        enabled=args.enabled, headers=() if args.clear_headers else args.headers,
        rate_limit=args.rate_limit, clear_rate_limit=args.default_rate_limit,
    )

    async def work(tenant_id: UUID) -> outbound.Endpoint:
        return await outbound_services.update(
            args.id, changes, tenant_id=tenant_id, policy=outbound_services.Policy.of(settings),
            actor=cli_audit.operator(),
        )

    _print(_run(settings, args.slug, work))


def _delete(args: argparse.Namespace, settings: Settings) -> None:
    from services import outbound as outbound_services

    async def work(tenant_id: UUID) -> outbound.Endpoint:
        return await outbound_services.delete(args.id, tenant_id=tenant_id, actor=cli_audit.operator())

    print(f"deleted outbound endpoint {_run(settings, args.slug, work).id}")


def _rotate(args: argparse.Namespace, settings: Settings) -> None:
    from services import outbound as outbound_services

    async def work(tenant_id: UUID) -> outbound_services.WithSecret:
        return await outbound_services.rotate_secret(
            args.id, tenant_id=tenant_id, policy=outbound_services.Policy.of(settings),
            actor=cli_audit.operator(),
        )

    made = _run(settings, args.slug, work)
    _print(made.endpoint)
    print(f"secret: {made.secret}")


def _enable(args: argparse.Namespace, settings: Settings) -> None:
    from services import outbound as outbound_services

    async def work(tenant_id: UUID) -> outbound.Endpoint:
        return await outbound_services.enable(args.id, tenant_id=tenant_id, actor=cli_audit.operator())

    _print(_run(settings, args.slug, work))


def _print(endpoint: outbound.Endpoint) -> None:
    print(f"id: {endpoint.id}")
    print(f"url: {endpoint.url}")
    print(f"event types: {' '.join(endpoint.event_types)}")
    print(f"enabled: {'yes' if endpoint.enabled else 'no'}")
    print(f"headers: {' '.join(sorted(endpoint.headers)) or '-'}")
    print(f"rate limit: {endpoint.rate_limit or 'default'}")
