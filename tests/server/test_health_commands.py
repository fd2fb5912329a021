"""`tenantgraph health worker|relay`, the container healthchecks of the processes without HTTP:
real worker and relay processes, stopped and resumed with signals."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

import pytest

from tests.processes import cli, spawn, stop

BEAT = 0.3


async def health(env: dict[str, str], role: str) -> subprocess.CompletedProcess[str]:
    return await cli(env, "health", role)


async def until_healthy(env: dict[str, str], role: str, process: subprocess.Popen[bytes],
                        log: Path) -> subprocess.CompletedProcess[str]:
    for _ in range(200):
        assert process.poll() is None, log.read_text()
        done = await health(env, role)
        if done.returncode == 0:
            return done
        await asyncio.sleep(0.1)
    raise AssertionError(f"{role} never reported healthy:\n{log.read_text()}")


@pytest.fixture
def env(server_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {**server_env, "DATA_DIR": str(tmp_path / "data"), "HEARTBEAT_SECONDS": str(BEAT)}


@pytest.mark.parametrize(("role", "args"), [("worker", ["worker", "--no-relay"]), ("relay", ["relay"])])
async def test_health_follows_the_process_loop(
    env: dict[str, str], tmp_path: Path, role: str, args: list[str]
) -> None:
    assert (await health(env, role)).returncode == 1  # nothing started yet
    log = tmp_path / f"{role}.log"
    process = spawn(args, env, log)
    try:
        alive = await until_healthy(env, role, process, log)
        assert alive.stdout.startswith(f"{role}: alive")

        process.send_signal(signal.SIGSTOP)  # a loop that no longer runs, process still there
        await asyncio.sleep(BEAT * 5)
        stuck = await health(env, role)
        assert stuck.returncode == 1
        assert "its loop is blocked or gone" in stuck.stderr

        process.send_signal(signal.SIGCONT)
        await until_healthy(env, role, process, log)
    finally:
        await stop(process)
    gone = await health(env, role)
    assert gone.returncode == 1
    assert "no heartbeat" in gone.stderr


async def test_a_worker_beat_does_not_make_the_relay_healthy(env: dict[str, str], tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    process = spawn(["worker", "--no-relay"], env, log)
    try:
        await until_healthy(env, "worker", process, log)
        assert (await health(env, "relay")).returncode == 1
    finally:
        await stop(process)
