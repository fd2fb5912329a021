"""Operator commands: `tenantgraph tenant …`, `apikey …` and `export-schema`, and what every
admin command shares (running one action on the app role's connection, finding the services of
a running `make run`)."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from domain import tenancy
from domain.config import ConfigError, Settings
from server import cli_audit, cli_keys, cli_limits, cli_origins, cli_tenants

T = TypeVar("T")
SERVICES_FILE = "services.env"


def add(commands: Any) -> None:
    """Add the `tenant`, `apikey` and `export-schema` commands to the top-level subparsers."""
    tenant = commands.add_parser("tenant", help="manage tenants").add_subparsers(required=True)
    create = tenant.add_parser("create", help="create a tenant")
    create.add_argument("slug")
    create.add_argument("--name", required=True)
    create.add_argument("--modules", default="catalog", help="comma-separated module slugs")
    create.add_argument("--extensions", default="", help="comma-separated extension slugs")
    create.set_defaults(run=_tenant_create)
    tenant.add_parser("list", help="list tenants").set_defaults(run=_tenant_list)
    modules = tenant.add_parser("set-modules", help="set a tenant's modules (live on next request)")
    modules.add_argument("slug")
    modules.add_argument("modules", help="comma-separated module slugs")
    modules.add_argument("--extensions", default=None, help="comma-separated; unchanged if unset")
    modules.set_defaults(run=_tenant_set_modules)
    cli_tenants.add(tenant, with_services)
    cli_origins.add(tenant, run_admin)
    cli_limits.add(tenant, run_admin)

    apikey = commands.add_parser("apikey", help="manage API keys").add_subparsers(required=True)
    key = apikey.add_parser("create", help="issue a key; its secret is printed once")
    owner = key.add_mutually_exclusive_group(required=True)
    owner.add_argument("--tenant", help="tenant slug")
    owner.add_argument("--platform", action="store_true", help="a platform-admin key")
    key.add_argument("--name", default="cli")
    key.add_argument("--scopes", default="admin", help="comma-separated scopes")
    cli_keys.add_expiry(key, "the key")
    key.set_defaults(run=_apikey_create)
    revoke = apikey.add_parser("revoke", help="revoke a key by its prefix")
    revoke.add_argument("prefix")
    revoke.set_defaults(run=_apikey_revoke)
    cli_keys.add(apikey, run_admin)

    export = commands.add_parser("export-schema", help="print a tenant's schema as SDL")
    export.set_defaults(run=_export_schema)
    export.add_argument("--tenant", required=True)
    cli_audit.add(commands, run_admin)


def _tenant_create(args: argparse.Namespace, settings: Settings) -> None:
    from tables import tenants

    tenant = run_admin(settings, lambda: tenants.create(
        slug=args.slug, name=args.name, modules=split(args.modules),
        extensions=split(args.extensions), actor=cli_audit.operator(),
    ))
    print(f"created tenant {tenant.slug} ({tenant.id}) modules={','.join(sorted(tenant.modules))}")


def _tenant_list(args: argparse.Namespace, settings: Settings) -> None:
    from tables import tenants

    for tenant in run_admin(settings, tenants.list_all):
        print(f"{tenant.slug}\t{tenant.id}\t{tenant.name}\tmodules={','.join(sorted(tenant.modules))}"
              f"\textensions={','.join(sorted(tenant.extensions))}")


def _tenant_set_modules(args: argparse.Namespace, settings: Settings) -> None:
    from tables import tenants

    async def run() -> tenancy.Tenant:
        tenant = await tenants.get_by_slug(args.slug)
        extensions = None if args.extensions is None else split(args.extensions)
        return await tenants.set_modules(
            tenant_id=tenant.id, modules=split(args.modules), extensions=extensions,
            actor=cli_audit.operator(),
        )

    tenant = run_admin(settings, run)
    print(f"{tenant.slug}: modules={','.join(sorted(tenant.modules))} "
          f"extensions={','.join(sorted(tenant.extensions))}")
    from server import cli_documents

    cli_documents.report_invalid(tenant, settings)


def _apikey_create(args: argparse.Namespace, settings: Settings) -> None:
    from services import access
    from tables import tenants

    async def run() -> str:
        tenant_id = None if args.platform else (await tenants.get_by_slug(args.tenant)).id
        _, token = await access.create_api_key(
            tenant_id=tenant_id, name=args.name, scopes=split(args.scopes),
            expires_at=cli_keys.expiry(args), actor=cli_audit.operator(),
        )
        return token

    print(run_admin(settings, run))


def _apikey_revoke(args: argparse.Namespace, settings: Settings) -> None:
    from tables import api_keys

    key = run_admin(settings, lambda: api_keys.revoke_any(args.prefix, actor=cli_audit.operator()))
    print(f"revoked {key.prefix} ({key.name})")


def _export_schema(args: argparse.Namespace, settings: Settings) -> None:
    from schema.build import build_schema
    from tables import tenants

    tenant = run_admin(settings, lambda: tenants.get_by_slug(args.tenant))
    print(build_schema(tenant.modules, tenant.extensions, settings).schema.as_str())


def run_admin(settings: Settings, action: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run one operator action on the app role's connection (no pool needed)."""
    from tables import engine

    settings = with_services(settings)
    assert settings.database_url is not None
    engine.configure(engine.app_dsn(settings.database_url, str(settings.app_database_password)))
    return asyncio.run(action())


def with_services(settings: Settings) -> Settings:
    """Fill unset URLs from the embedded services of a running `make run`, if any."""
    if settings.database_url and settings.redis_url:
        return settings
    saved = Path(settings.data_dir) / SERVICES_FILE
    if not saved.exists():
        raise ConfigError("DATABASE_URL and REDIS_URL are not set and `make run` is not running")
    values = dict(line.split("=", 1) for line in saved.read_text().split())
    os.environ.update({k: v for k, v in values.items() if not os.environ.get(k)})
    return Settings.from_env(os.environ)


def split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]
