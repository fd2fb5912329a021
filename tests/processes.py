"""Real subprocesses for tests: started in their own session, logging to files, always reaped."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "server.cli"]


def spawn(
    args: list[str], env: dict[str, str], log: Path, stdout: Path | None = None,
    cli: list[str] = CLI,
) -> Any:
    """A CLI command in a session of its own (so its whole process group can be cleaned up),
    writing to files, never to a pipe nobody drains."""
    with log.open("wb") as err, (stdout or log).open("ab") as out:
        return subprocess.Popen(
            [*cli, *args], env=env, cwd=ROOT, stdout=out, stderr=err, start_new_session=True,
        )


async def wait_exit(process: subprocess.Popen[bytes], timeout: float) -> int | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return process.returncode
        await asyncio.sleep(0.05)
    return None


async def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 10) -> None:
    """Signal the process; kill its whole group if it is not gone in time."""
    if process.poll() is None:
        process.send_signal(sig)
        await wait_exit(process, timeout)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    await asyncio.to_thread(process.wait, 10)


async def wait_until(
    check: Callable[[], Awaitable[bool]], process: subprocess.Popen[bytes], log: Path,
    timeout: float = 20,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"process exited with {process.returncode}:\n{log.read_text()}")
        with contextlib.suppress(httpx.TransportError):
            if await check():
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not ready after {timeout}s:\n{log.read_text()}")


async def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run one `tenantgraph` command to completion without blocking the event loop."""
    return await asyncio.to_thread(
        subprocess.run, [*CLI, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
