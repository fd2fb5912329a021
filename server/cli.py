"""`tenantgraph`: serve, worker, migrate, dev, tenant, apikey, webhook, deliveries, export-schema."""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from domain import tenancy
from domain.config import ConfigError, Settings
from domain.errors import DomainError
from server import cli_tenants, cli_webhooks
from server import logging as logs

if TYPE_CHECKING:
    from server.watchdog import Watchdog

T = TypeVar("T")
SERVICES_FILE = "services.env"
DRAIN_SHARE = 0.75
"""Of SHUTDOWN_GRACE_SECONDS, what open requests and streams get to finish after SIGTERM (live
connections first, see server.draining); the rest is for closing pools. The watchdog forces
the process out when the grace is over."""


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    logs.configure(settings.log_format, settings.log_level)
    try:
        return int(args.run(args, settings) or 0)
    except (DomainError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tenantgraph", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, run: Callable[..., Any], help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(run=run)
        return sub

    serve = command("serve", _serve, "serve the API with uvicorn")
    serve.add_argument("--workers", type=int, default=1, help="API processes")
    worker = command("worker", _worker, "run a SAQ worker (and the outbox relay)")
    worker.add_argument("--no-relay", dest="relay", action="store_false",
                        help="leave publishing to a `tenantgraph relay` process")
    command("relay", _relay, "publish committed events to subscribers, alone in its process")
    health = command("health", _health, "exit 0 if a worker's or relay's loop beat recently")
    health.add_argument("role", choices=["worker", "relay"])
    command("migrate", _migrate, "apply database migrations and set up the app role")
    command("dev", _dev, "what `make run` does: services, migrations, demo data, API and worker")

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
    cli_tenants.add(tenant, _with_services)

    apikey = commands.add_parser("apikey", help="manage API keys").add_subparsers(required=True)
    key = apikey.add_parser("create", help="issue a key; its secret is printed once")
    owner = key.add_mutually_exclusive_group(required=True)
    owner.add_argument("--tenant", help="tenant slug")
    owner.add_argument("--platform", action="store_true", help="a platform-admin key")
    key.add_argument("--name", default="cli")
    key.add_argument("--scopes", default="admin", help="comma-separated scopes")
    key.set_defaults(run=_apikey_create)
    revoke = apikey.add_parser("revoke", help="revoke a key by its prefix")
    revoke.add_argument("prefix")
    revoke.set_defaults(run=_apikey_revoke)

    cli_webhooks.Commands(_admin, _with_services).add(commands)

    export = command("export-schema", _export_schema, "print a tenant's schema as SDL")
    export.add_argument("--tenant", required=True)
    return parser


def _serve(args: argparse.Namespace, settings: Settings) -> None:
    import uvicorn

    from server.draining import LIVE_SHARE

    settings = _with_services(settings)
    # uvicorn re-raises the signal it stopped on; exit 0 then, and let `dev` stop its worker.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    _shared_metrics(settings)
    uvicorn.run(
        "server.main:app", factory=True, host=settings.host, port=settings.port,
        workers=args.workers, log_config=None, ws_per_message_deflate=False,
        ws_max_size=settings.ws_max_message_bytes,
        timeout_graceful_shutdown=max(1, int(settings.shutdown_grace_seconds * (DRAIN_SHARE - LIVE_SHARE))),
    )


def _shared_metrics(settings: Settings) -> None:
    """The API processes' shared PROMETHEUS_MULTIPROC_DIR, set before prometheus_client is
    imported: the operator's (emptied of a previous deployment's files), else a fresh temporary
    one removed on exit; and the METRICS_BIND listener, in this (uvicorn's supervising) process."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    path = given or tempfile.mkdtemp(prefix="tenantgraph-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    if not given:
        atexit.register(shutil.rmtree, path, ignore_errors=True)
    from telemetry import exposition

    exposition.fresh_multiprocess_dir(path)
    exposition.serve(settings)


def _own_metrics(settings: Settings) -> None:
    """A worker or relay is one process: its metrics are its own, served on its METRICS_BIND
    (never the API's shared multiprocess dir, which may be on another machine)."""
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    from telemetry import exposition, metrics

    metrics.configure(settings)
    exposition.serve(settings)


def _worker(args: argparse.Namespace, settings: Settings) -> None:
    import uvloop

    settings = _with_services(settings)
    _own_metrics(settings)
    from telemetry.tracing import Tracing
    from workers.settings import worker

    async def run() -> None:
        tracing = Tracing.start(settings)
        try:
            async with _watched(settings) as watchdog, _beating(settings, "worker"):
                await worker(
                    settings, relay=args.relay, stopping=watchdog.terminating, tracing=tracing
                ).start()
        finally:
            tracing.shutdown()

    uvloop.run(run())


def _relay(args: argparse.Namespace, settings: Settings) -> None:
    import uvloop

    settings = _with_services(settings)
    _own_metrics(settings)
    from telemetry.tracing import Tracing
    from workers.settings import relay_alone

    async def run() -> None:
        tracing = Tracing.start(settings)
        try:
            async with _watched(settings) as watchdog, _beating(settings, "relay"):
                stopping = asyncio.Event()

                def stop() -> None:
                    watchdog.terminating()
                    stopping.set()

                loop = asyncio.get_running_loop()
                for signum in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(signum, stop)
                await relay_alone(settings, stopping, tracing)
        finally:
            tracing.shutdown()

    uvloop.run(run())


@contextlib.asynccontextmanager
async def _watched(settings: Settings) -> AsyncIterator[Watchdog]:
    """A worker's or relay's loop under the watchdog: a job that holds it is logged, and past
    LOOP_BLOCKED_EXIT_SECONDS the process exits (its jobs are swept and retried). Their
    SIGTERM is the loop's own signal handler, which tells the watchdog (`terminating`): the
    process is gone SHUTDOWN_GRACE_SECONDS later, whatever it is doing."""
    from server.watchdog import Operations, Watchdog

    watchdog = Watchdog(settings, Operations())
    watchdog.start()
    try:
        yield watchdog
    finally:
        watchdog.stop()


def _beating(settings: Settings, role: str) -> contextlib.AbstractAsyncContextManager[None]:
    from server import heartbeat

    return heartbeat.beating(settings.data_dir, role, settings.heartbeat_seconds)


def _health(args: argparse.Namespace, settings: Settings) -> int:
    from server import heartbeat

    alive, line = heartbeat.check(settings.data_dir, args.role, settings.heartbeat_seconds)
    print(line, file=sys.stdout if alive else sys.stderr)
    return 0 if alive else 1


def _migrate(args: argparse.Namespace, settings: Settings) -> None:
    from tables.migrate import migrate

    settings = _with_services(settings)
    assert settings.database_url is not None
    asyncio.run(migrate(settings.database_url, app_password=str(settings.app_database_password)))
    print("migrations applied")


def _dev(args: argparse.Namespace, settings: Settings) -> int:
    from server import seed

    with _dev_services(settings) as settings:
        _migrate(args, settings)
        keys = _admin(settings, seed.seed)
        _print_welcome(settings, keys)
        stopping = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stopping.set())
        children = [_child("serve"), _child("worker")]
        return _supervise(children, stopping, settings.shutdown_grace_seconds)


def _child(command: str) -> subprocess.Popen[bytes]:
    """A `tenantgraph` process of `dev`, in a session of its own: a Ctrl+C in the terminal
    reaches `dev` alone, which passes it on as one SIGTERM (two would cut the drain short)."""
    return subprocess.Popen(
        [sys.executable, "-m", "server.cli", command], env=os.environ, start_new_session=True
    )


def _supervise(
    children: list[subprocess.Popen[bytes]], stopping: threading.Event, grace: float
) -> int:
    """Until `stopping` is set (SIGTERM or SIGINT), or a child exits: then SIGTERM to every
    child, each given the shutdown grace (and a little) before it is killed. 0 when all
    exited 0."""
    while not stopping.wait(0.2) and all(child.poll() is None for child in children):
        pass
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace + 2
    for child in children:
        try:
            child.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return 0 if all(child.returncode == 0 for child in children) else 1


def _tenant_create(args: argparse.Namespace, settings: Settings) -> None:
    from tables import tenants

    tenant = _admin(settings, lambda: tenants.create(
        slug=args.slug, name=args.name, modules=_split(args.modules),
        extensions=_split(args.extensions),
    ))
    print(f"created tenant {tenant.slug} ({tenant.id}) modules={','.join(sorted(tenant.modules))}")


def _tenant_list(args: argparse.Namespace, settings: Settings) -> None:
    from tables import tenants

    for tenant in _admin(settings, tenants.list_all):
        print(f"{tenant.slug}\t{tenant.id}\t{tenant.name}\tmodules={','.join(sorted(tenant.modules))}"
              f"\textensions={','.join(sorted(tenant.extensions))}")


def _tenant_set_modules(args: argparse.Namespace, settings: Settings) -> None:
    from tables import tenants

    async def run() -> tenancy.Tenant:
        tenant = await tenants.get_by_slug(args.slug)
        extensions = None if args.extensions is None else _split(args.extensions)
        return await tenants.set_modules(
            tenant_id=tenant.id, modules=_split(args.modules), extensions=extensions
        )

    tenant = _admin(settings, run)
    print(f"{tenant.slug}: modules={','.join(sorted(tenant.modules))} "
          f"extensions={','.join(sorted(tenant.extensions))}")


def _apikey_create(args: argparse.Namespace, settings: Settings) -> None:
    from tables import api_keys, tenants

    async def run() -> str:
        tenant_id = None if args.platform else (await tenants.get_by_slug(args.tenant)).id
        scopes = tenancy.check_scopes(_split(args.scopes), platform=args.platform)
        _, token = await api_keys.create(tenant_id=tenant_id, name=args.name, scopes=scopes)
        return token

    print(_admin(settings, run))


def _apikey_revoke(args: argparse.Namespace, settings: Settings) -> None:
    from tables import api_keys

    key = _admin(settings, lambda: api_keys.revoke_any(args.prefix))
    print(f"revoked {key.prefix} ({key.name})")


def _export_schema(args: argparse.Namespace, settings: Settings) -> None:
    from schema.build import build_schema
    from tables import tenants

    tenant = _admin(settings, lambda: tenants.get_by_slug(args.tenant))
    print(build_schema(tenant.modules, tenant.extensions, settings).schema.as_str())


def _admin(settings: Settings, action: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run one operator action on the app role's connection (no pool needed)."""
    from tables import engine

    settings = _with_services(settings)
    assert settings.database_url is not None
    engine.configure(engine.app_dsn(settings.database_url, str(settings.app_database_password)))
    return asyncio.run(action())


def _with_services(settings: Settings) -> Settings:
    """Fill unset URLs from the embedded services of a running `make run`, if any."""
    if settings.database_url and settings.redis_url:
        return settings
    saved = Path(settings.data_dir) / SERVICES_FILE
    if not saved.exists():
        raise ConfigError("DATABASE_URL and REDIS_URL are not set and `make run` is not running")
    values = dict(line.split("=", 1) for line in saved.read_text().split())
    os.environ.update({k: v for k, v in values.items() if not os.environ.get(k)})
    return Settings.from_env(os.environ)


@contextlib.contextmanager
def _dev_services(settings: Settings) -> Iterator[Settings]:
    if settings.database_url and settings.redis_url:
        yield settings
        return
    from server.embedded import embedded

    data_dir = Path(settings.data_dir)
    # fsync on: `make run` keeps its data in .data/ across runs.
    with embedded(data_dir, durable=True) as services:
        os.environ.setdefault("DATABASE_URL", services.database_url)
        os.environ.setdefault("REDIS_URL", services.redis_url)
        saved = data_dir / SERVICES_FILE
        saved.write_text(f"DATABASE_URL={os.environ['DATABASE_URL']}\n"
                         f"REDIS_URL={os.environ['REDIS_URL']}\n")
        try:
            yield Settings.from_env(os.environ)
        finally:
            saved.unlink(missing_ok=True)


def _print_welcome(settings: Settings, keys: Any) -> None:
    url = f"http://{settings.host}:{settings.port}/graphql"
    lines = [
        "", "tenantgraph is running.", f"  GraphiQL:  {url}",
        *(f"  {slug:<8} admin key:  {token}" for slug, token in keys.tenant_keys.items()),
        f"  platform key:     {keys.platform_key}  (send X-Tenant-ID: <slug>)",
        '  In GraphiQL headers: {"Authorization": "Bearer <key>"}', "",
    ]
    print("\n".join(lines), flush=True)


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


if __name__ == "__main__":
    sys.exit(main())
