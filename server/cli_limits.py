"""`tenantgraph tenant set-limits SLUG ...`: a tenant's query cost buckets, live on the next
request in every API process."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Coroutine
from typing import Any

from domain import tenancy, throttling
from domain.config import Settings
from server import cli_audit

RunAdmin = Callable[[Settings, Callable[[], Coroutine[Any, Any, Any]]], Any]


def add(tenant: Any, run_admin: RunAdmin) -> None:
    """Add `set-limits` to the `tenant` command's subparsers."""
    limits = tenant.add_parser(
        "set-limits", help="set a tenant's query cost buckets (live on the next request)",
        description="Sizes in points, rates in points per second; 'default' goes back to the "
        "setting (COST_BUCKET_SIZE, ...); an option left out stays as it is.",
    )
    limits.add_argument("slug")
    for name in throttling.FIELDS:
        limits.add_argument("--" + name.replace("_", "-"), dest=name, type=_value, default=None)
    limits.set_defaults(run=lambda args, settings: _set_limits(args, settings, run_admin))


def _value(text: str) -> float | str:
    if text == "default":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a number nor 'default'") from None


def _set_limits(args: argparse.Namespace, settings: Settings, run_admin: RunAdmin) -> None:
    from tables import tenant_limits, tenants

    changes = {
        name: None if value == "default" else value
        for name in throttling.FIELDS if (value := getattr(args, name)) is not None
    }

    async def run() -> tenancy.Tenant:
        tenant = await tenants.get_by_slug(args.slug)
        return await tenant_limits.set_limits(
            tenant_id=tenant.id, changes=changes, actor=cli_audit.operator()
        )

    tenant = run_admin(settings, run)
    plan = throttling.plan_of(tenant, settings)
    print(f"{tenant.slug}: " + " ".join(f"{k}={v:g}" for k, v in plan.as_dict().items()))
