"""`tenantgraph audit list`: the audit trail for operators, and who an operator is when a
command of theirs changes something (the actor of its audit record)."""

from __future__ import annotations

import argparse
import getpass
import json
import os
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from domain import audit
from domain.config import Settings

RunAdmin = Callable[[Settings, Callable[[], Coroutine[Any, Any, Any]]], Any]


def operator() -> audit.Actor:
    """The OS user running this command (the one behind sudo, when run through it)."""
    try:
        user = os.environ.get("SUDO_USER") or getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        user = f"uid:{os.getuid()}"
    return audit.Actor.operator(user)


def add(commands: Any, run_admin: RunAdmin) -> None:
    """Add `audit list` to the top-level subparsers."""
    trail = commands.add_parser("audit", help="read the audit trail").add_subparsers(required=True)
    listing = trail.add_parser("list", help="audit records, newest first, one JSON object a line")
    owner = listing.add_mutually_exclusive_group(required=True)
    owner.add_argument("--tenant", help="a tenant's trail (tenant slug)")
    owner.add_argument("--platform", action="store_true", help="the platform's own trail")
    listing.add_argument("--action", default=None, help="an action or its prefix, e.g. api_key")
    listing.add_argument("--actor", default=None, help="e.g. key:<prefix>, jwt:<sub>, cli:<user>")
    listing.add_argument("--since", type=_moment, default=None, help="ISO 8601; UTC if no zone")
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(run=lambda args, settings: _list(args, settings, run_admin))


def _list(args: argparse.Namespace, settings: Settings, run_admin: RunAdmin) -> None:
    from tables import audit as trail
    from tables import tenants

    where = audit.Filter(action_prefix=args.action, actor=args.actor, since=args.since)

    async def run() -> list[audit.Entry]:
        tenant_id = None if args.platform else (await tenants.get_by_slug(args.tenant)).id
        return await trail.entries(
            tenant_id=tenant_id, where=where, before_id=None, limit=max(1, args.limit)
        )

    for entry in run_admin(settings, run):
        print(json.dumps(_line(entry), default=str, sort_keys=True))


def _line(entry: audit.Entry) -> dict[str, Any]:
    return {
        "id": entry.id, "at": entry.created_at.isoformat(), "action": entry.action,
        "actor": entry.actor.subject, "target": f"{entry.target_type}:{entry.target_id}",
        "request_id": entry.actor.request_id, "client_address": entry.actor.client_address,
        "tenant_id": entry.tenant_id, "before": entry.before, "after": entry.after,
    }


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
