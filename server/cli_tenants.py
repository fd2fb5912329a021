"""`tenantgraph tenant export|import|delete`: a tenant's data out of, into and out of a database.

They run as the database owner (DATABASE_URL, as `migrate` does) on a connection of their own,
with the tenant set for row-level security like any transaction (tables.tenant_data).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

from domain.config import Settings
from domain.errors import Invalid
from server import cli_audit
from tables.tenant_data import deleting, exporting, importing

T = TypeVar("T")


def add(tenant: Any, with_services: Callable[[Settings], Settings]) -> None:
    """Add the three subcommands to the `tenant` command's subparsers."""
    commands = _Commands(with_services)
    export = tenant.add_parser("export", help="write one consistent snapshot of a tenant's data")
    export.add_argument("slug")
    export.add_argument("--out", required=True, type=Path, help="archive file to write (tar)")
    export.set_defaults(run=commands.export)
    load = tenant.add_parser(
        "import", help="load an exported tenant (all or nothing); --as makes a copy with fresh ids"
    )
    load.add_argument("file", type=Path)
    load.add_argument("--as", dest="as_slug", default=None, metavar="SLUG")
    load.add_argument("--id-map", type=Path, default=None, metavar="FILE",
                      help="with --as: write the CSV old,new of the copy's ids")
    load.set_defaults(run=commands.load)
    delete = tenant.add_parser("delete", help="remove every row of a tenant, in batches")
    delete.add_argument("slug")
    delete.add_argument("--confirm", required=True, metavar="SLUG", help="the slug again")
    delete.add_argument("--force", action="store_true",
                        help="also when its webhook endpoints are enabled (disables them first)")
    delete.add_argument("--batch", type=int, default=1000, help="rows per transaction")
    delete.set_defaults(run=commands.delete)


class _Commands:
    def __init__(self, with_services: Callable[[Settings], Settings]) -> None:
        self.with_services = with_services

    def export(self, args: argparse.Namespace, settings: Settings) -> None:
        manifest = self._owner(settings, lambda c: exporting.export(
            c, slug=args.slug, out=args.out, actor=cli_audit.operator()
        ))
        rows = sum(t.rows for t in manifest.tables)
        print(f"exported {manifest.slug} ({manifest.tenant_id}): {rows} rows in "
              f"{len(manifest.tables)} tables to {args.out}")

    def load(self, args: argparse.Namespace, settings: Settings) -> None:
        done = self._owner(settings, lambda c: importing.load(
            c, args.file, as_slug=args.as_slug, id_map=args.id_map, actor=cli_audit.operator()
        ))
        ids = "fresh ids, no API keys" if done.fresh_ids else "ids kept"
        print(f"imported {done.slug} ({done.tenant_id}): {sum(done.rows.values())} rows, {ids}")

    def delete(self, args: argparse.Namespace, settings: Settings) -> None:
        if args.confirm != args.slug:
            raise Invalid(f"--confirm must repeat the slug {args.slug!r}")
        done = self._owner(settings, lambda c: deleting.delete(
            c, slug=args.slug, force=args.force, batch=max(1, args.batch), actor=cli_audit.operator()
        ))
        # Its inbox rows went with it: a wake-up job for it finds nothing to claim.
        print(f"deleted {args.slug} ({done.tenant_id}): {sum(done.rows.values())} rows; "
              f"{len(done.open_deliveries)} unapplied deliveries dropped", file=sys.stdout)

    def _owner(self, settings: Settings, action: Callable[[Any], Coroutine[Any, Any, T]]) -> T:
        settings = self.with_services(settings)
        assert settings.database_url is not None

        async def run() -> T:
            connection = await asyncpg.connect(settings.database_url)
            try:
                return await action(connection)
            finally:
                await connection.close()

        try:
            return asyncio.run(run())
        except OSError as error:
            # The database unreachable, or the archive's path: said in one line, not a traceback.
            raise Invalid(str(error)) from None

