"""What SIGTERM asks of an API process's live connections, before uvicorn stops.

uvicorn on SIGTERM stops accepting, waits for open responses (an SSE stream never ends by
itself) and sends every WebSocket a bare 1012 at once. So the signal reaches uvicorn only
after its live connections have left, or LIVE_SHARE of SHUTDOWN_GRACE_SECONDS has passed:
each SSE stream ends with a `retry:` telling its client to reconnect (to another process),
each WebSocket sends what its queries and mutations in flight return, then closes with 1001
(going away). HTTP requests in flight go on meanwhile, and get uvicorn's graceful timeout too.
A subscriber that reconnects with its last cursor misses no event.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import signal
from collections.abc import Callable, Coroutine, Iterable, Iterator
from types import FrameType
from typing import Any

log = logging.getLogger("tenantgraph.draining")

LIVE_SHARE = 0.35
"""Of SHUTDOWN_GRACE_SECONDS, what live connections get to leave before uvicorn stops."""
POLL = 0.05

Leave = Callable[[], Coroutine[Any, Any, None]]


class Draining:
    """The live connections of this process, each with how it leaves; one per app."""

    def __init__(self, budget: float) -> None:
        self.budget = budget
        self.begun = False
        self._leaving: dict[int, Leave] = {}
        self._keys = itertools.count()
        self._tasks: set[asyncio.Task[None]] = set()
        self._signalled = False

    @contextlib.contextmanager
    def live(self, leave: Leave) -> Iterator[None]:
        """A live connection, while the block runs: `leave` runs (as a task) when draining
        begins, or at once if it has."""
        key = next(self._keys)
        self._leaving[key] = leave
        if self.begun:
            self._start(leave)
        try:
            yield
        finally:
            del self._leaving[key]

    def begin(self) -> None:
        if not self.begun:
            self.begun = True
            log.info("draining: %d live connection(s) asked to leave", len(self._leaving))
            for leave in list(self._leaving.values()):
                self._start(leave)

    async def drained(self) -> None:
        """Until every live connection has left, or the budget is spent."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.budget
        while self._leaving and loop.time() < deadline:
            await asyncio.sleep(POLL)
        if self._leaving:
            log.warning("draining: %d live connection(s) still open", len(self._leaving))

    async def settle(self, operations: Iterable[object]) -> None:
        """Until the tasks among `operations` are done, or the budget is spent."""
        tasks = [task for task in operations if isinstance(task, asyncio.Task)]
        if tasks:
            await asyncio.wait(tasks, timeout=self.budget)

    def take_signals(self) -> None:
        """Put draining in front of the SIGTERM and SIGINT handlers installed (uvicorn's):
        the first signal drains, then reaches them; a second one reaches them at once."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(signum)
            if callable(previous):
                signal.signal(signum, self._handler(loop, previous))

    def _handler(
        self, loop: asyncio.AbstractEventLoop, previous: Callable[[int, FrameType | None], Any]
    ) -> Callable[[int, FrameType | None], None]:
        def on_signal(signum: int, frame: FrameType | None) -> None:
            if self._signalled:
                previous(signum, frame)
                return
            self._signalled = True
            loop.call_soon_threadsafe(self._start, lambda: self._stop_after(previous, signum))

        return on_signal

    async def _stop_after(
        self, previous: Callable[[int, FrameType | None], Any], signum: int
    ) -> None:
        self.begin()
        await self.drained()
        previous(signum, None)

    def _start(self, leave: Leave) -> None:
        task = asyncio.create_task(leave())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
