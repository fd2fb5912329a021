"""`tenantgraph apikey rotate PREFIX [--grace SECONDS]`, and the expiry options of `apikey create`."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.config import Settings
from domain.errors import Invalid
from server import cli_audit
from server.cli_origins import RunAdmin


def add(apikey: Any, run_admin: RunAdmin[Any]) -> None:
    """Add `rotate` to the `apikey` command's subparsers."""
    rotate = apikey.add_parser(
        "rotate", help="issue a successor with the same name and scopes (its secret is printed "
        "once); the old key keeps working for --grace seconds"
    )
    rotate.add_argument("prefix")
    rotate.add_argument("--grace", type=float, default=None, metavar="SECONDS",
                        help="default: API_KEY_ROTATION_GRACE")
    add_expiry(rotate, "the successor")

    def run(args: argparse.Namespace, settings: Settings) -> None:
        from services import access

        grace = timedelta(seconds=settings.api_key_rotation_grace if args.grace is None else args.grace)
        rotation = run_admin(settings, lambda: access.rotate_api_key(
            args.prefix, tenant_id=None, grace=grace, expires_at=expiry(args),
            actor=cli_audit.operator(),
        ))
        ends = rotation.previous.expires_at
        print(rotation.token)
        print(f"{rotation.previous.prefix} stays valid until {ends.isoformat() if ends else 'never'}")

    rotate.set_defaults(run=run)


def add_expiry(parser: argparse.ArgumentParser, what: str) -> None:
    """--expires-in SECONDS | --expires-at ISO-8601 (UTC unless it names an offset)."""
    when = parser.add_mutually_exclusive_group()
    when.add_argument("--expires-in", type=float, default=None, metavar="SECONDS",
                      help=f"{what} stops working this many seconds from now")
    when.add_argument("--expires-at", default=None, metavar="ISO-8601",
                      help=f"{what} stops working at this time, e.g. 2027-01-31T00:00:00Z")


def expiry(args: argparse.Namespace) -> datetime | None:
    if args.expires_in is not None:
        return datetime.now(UTC) + timedelta(seconds=args.expires_in)
    if args.expires_at is None:
        return None
    try:
        return datetime.fromisoformat(args.expires_at)
    except ValueError:
        raise Invalid(f"--expires-at: not an ISO 8601 time: {args.expires_at!r}") from None
