"""A liveness file for the processes that serve no HTTP (worker, relay).

The process's event loop touches `DATA_DIR/heartbeat/<role>` every HEARTBEAT_SECONDS;
`tenantgraph health <role>` (the container healthcheck) passes while the file is younger than
three beats. A loop that is blocked, stopped or gone stops touching it; a clean exit removes it.
Waiting for PostgreSQL or Redis still beats: restarting a process does not bring them back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

STALE_BEATS = 3


def path(data_dir: str, role: str) -> Path:
    return Path(data_dir) / "heartbeat" / role


@contextlib.asynccontextmanager
async def beating(data_dir: str, role: str, every: float) -> AsyncIterator[None]:
    """Touch the role's heartbeat file from this event loop until the block ends."""
    file = path(data_dir, role)
    file.parent.mkdir(parents=True, exist_ok=True)
    task = asyncio.create_task(_beat(file, every))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        file.unlink(missing_ok=True)


async def _beat(file: Path, every: float) -> None:
    while True:
        file.touch()
        await asyncio.sleep(every)


def check(data_dir: str, role: str, every: float) -> tuple[bool, str]:
    """Whether the role's process beat recently, and a line that says so."""
    file = path(data_dir, role)
    try:
        age = time.time() - file.stat().st_mtime
    except FileNotFoundError:
        return False, f"{role}: no heartbeat at {file} (not running, or exited)"
    if age > STALE_BEATS * every:
        return False, f"{role}: last heartbeat {age:.1f}s ago (its loop is blocked or gone)"
    return True, f"{role}: alive, last heartbeat {age:.1f}s ago"
