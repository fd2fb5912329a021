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
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domain.config import DRAIN_SHARE, ConfigError, Settings
from domain.errors import DomainError
from server import cli_admin, cli_documents, cli_outbound, cli_outbound_log, cli_webhooks
from server import logging as logs

if TYPE_CHECKING:
    from server.watchdog import Watchdog



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

    cli_admin.add(commands)
    cli_webhooks.Commands(cli_admin.run_admin, cli_admin.with_services).add(commands)
    cli_documents.add(commands)
    cli_outbound.add(commands)
    cli_outbound_log.add(commands)

    return parser


def _serve(args: argparse.Namespace, settings: Settings) -> None:
    import uvicorn

    from server.draining import LIVE_SHARE

    settings = cli_admin.with_services(settings)
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
    imported: the operator's (rid of the files of processes no longer running), else a fresh temporary
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

    settings = cli_admin.with_services(settings)
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

    settings = cli_admin.with_services(settings)
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

    settings = cli_admin.with_services(settings)
    assert settings.database_url is not None
    asyncio.run(migrate(settings.database_url, app_password=str(settings.app_database_password)))
    print("migrations applied")


def _dev(args: argparse.Namespace, settings: Settings) -> int:
    from server import seed

    with _dev_services(settings) as settings:
        _migrate(args, settings)
        keys = cli_admin.run_admin(settings, seed.seed)
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
        saved = data_dir / cli_admin.SERVICES_FILE
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
        '  In GraphiQL headers: {"Authorization": "Bearer <key>"}',
        f"  Dashboard: {url.removesuffix('/graphql')}/dashboard  (sign in with a slug and its key)", "",
    ]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
