"""`tenantgraph tenant set-origins SLUG ORIGIN...`: the browser origins a tenant's frontends
call from (CORS); live in every API process from its next request."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from domain.config import Settings
from server import cli_audit

T = TypeVar("T")
RunAdmin = Callable[[Settings, Callable[[], Coroutine[Any, Any, T]]], T]


def add(tenant: Any, run_admin: RunAdmin[Any]) -> None:
    """Add `set-origins` to the `tenant` command's subparsers."""
    origins = tenant.add_parser(
        "set-origins", help="set a tenant's allowed browser origins (scheme://host[:port]); "
        "none clears the list"
    )
    origins.add_argument("slug")
    origins.add_argument("origins", nargs="*", metavar="ORIGIN")

    def run(args: argparse.Namespace, settings: Settings) -> None:
        from services import access
        from tables import tenants

        async def set_origins() -> tuple[str, ...]:
            tenant = await tenants.get_by_slug(args.slug)
            return await access.set_allowed_origins(
                tenant_id=tenant.id, allowed=args.origins, actor=cli_audit.operator()
            )

        stored = run_admin(settings, set_origins)
        print(f"{args.slug}: allowed origins {' '.join(stored) or '(none)'}")

    origins.set_defaults(run=run)
