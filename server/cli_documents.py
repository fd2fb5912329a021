"""`tenantgraph documents push|list|mode|check`: a tenant's trusted documents, for operators.
Each command runs through the CLI's `run_admin` (server.cli_admin)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from domain import documents, tenancy
from domain.config import Settings
from domain.errors import Invalid
from server import cli_admin, cli_audit

if TYPE_CHECKING:
    from services.documents import Check


def add(commands: Any) -> None:
    """Add the `documents` command to the top-level subparsers."""
    sub = commands.add_parser("documents", help="a tenant's trusted documents (persisted queries)")
    verbs = sub.add_subparsers(required=True)
    push = verbs.add_parser(
        "push", help="store a manifest's documents (Apollo, GraphQL Codegen or Relay), all or none"
    )
    push.add_argument("--tenant", required=True, help="tenant slug")
    push.add_argument("file", type=Path)
    push.set_defaults(run=_push)
    listing = verbs.add_parser("list", help="the stored documents with their use")
    listing.add_argument("--tenant", required=True, help="tenant slug")
    listing.set_defaults(run=_list)
    mode = verbs.add_parser("mode", help="print the tenant's mode, or set it")
    mode.add_argument("--tenant", required=True, help="tenant slug")
    mode.add_argument("mode", nargs="?", choices=documents.MODES)
    mode.set_defaults(run=_mode)
    check = verbs.add_parser("check", help="the stored documents the tenant's schema no longer accepts")
    check.add_argument("--tenant", required=True, help="tenant slug")
    check.set_defaults(run=_check)


def _push(args: argparse.Namespace, settings: Settings) -> None:
    from services import documents as document_services
    from tables import tenants

    entries = documents.entries(_manifest(args.file))

    async def run() -> document_services.Pushed:
        tenant = await tenants.get_by_slug(args.tenant)
        check = _checker(tenant, settings)
        return await document_services.push(
            entries, check, tenant_id=tenant.id, actor=cli_audit.operator()
        )

    pushed = cli_admin.run_admin(settings, run)
    print(f"{args.tenant}: {pushed.documents} documents pushed ({pushed.new_ids} new ids)")


def _list(args: argparse.Namespace, settings: Settings) -> None:
    from tables import documents as document_tables
    from tables import tenants

    async def run() -> list[documents.Document]:
        tenant = await tenants.get_by_slug(args.tenant)
        return await document_tables.list_all(tenant_id=tenant.id)

    for document in cli_admin.run_admin(settings, run):
        last = "-" if document.last_seen is None else document.last_seen.isoformat()
        print(f"{document.hash}\t{document.source}\tcount={document.count}\tlast_seen={last}"
              f"\toperations={','.join(document.operation_names)}")


def _mode(args: argparse.Namespace, settings: Settings) -> None:
    from services import documents as document_services
    from tables import tenants

    async def run() -> str:
        tenant = await tenants.get_by_slug(args.tenant)
        if args.mode is None:
            return documents.mode_of(tenant)
        previous = await document_services.set_mode(
            args.mode, tenant_id=tenant.id, actor=cli_audit.operator()
        )
        return f"{args.mode} (was {previous})"

    print(f"{args.tenant}: {cli_admin.run_admin(settings, run)}")


def _check(args: argparse.Namespace, settings: Settings) -> None:
    from tables import tenants

    tenant = cli_admin.run_admin(settings, lambda: tenants.get_by_slug(args.tenant))
    if report_invalid(tenant, settings):
        sys.exit(1)


def report_invalid(tenant: tenancy.Tenant, settings: Settings) -> int:
    """Print the tenant's stored documents that its schema no longer accepts; how many."""
    from services import documents as document_services

    broken = cli_admin.run_admin(
        settings, lambda: document_services.invalid(_checker(tenant, settings), tenant_id=tenant.id)
    )
    for each in broken:
        names = ",".join(each.document.operation_names) or "(anonymous)"
        print(f"invalid document {each.document.hash} ({names}): {each.error}")
    if not broken:
        print(f"{tenant.slug}: every stored document validates")
    return len(broken)


def _checker(tenant: tenancy.Tenant, settings: Settings) -> Check:
    from schema.build import build_schema
    from schema.documents import checker

    schema = build_schema(tenant.modules, tenant.extensions, settings).schema
    return checker(schema._schema, settings)


def _manifest(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except OSError as error:
        raise Invalid(f"{path}: {error.strerror}") from None
    except orjson.JSONDecodeError as error:
        raise Invalid(f"{path} is not JSON: {error}") from None
