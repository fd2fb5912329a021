"""The event loop's watchdog: no single request may hold an API process for long.

The loop stamps a heartbeat every BEAT seconds with a timer (and cancels the operations past
OPERATION_TIMEOUT); a thread compares. When the loop has missed its beat for
LOOP_BLOCKED_WARN_SECONDS, the thread logs which operation holds it (request id, tenant,
sha256 of the document); after LOOP_BLOCKED_EXIT_SECONDS it exits the process (os._exit) so
that its supervisor starts a fresh one instead of every tenant waiting.

SIGTERM is handled on the loop's side (uvicorn sets a flag its main loop reads every 0.1 s),
so a blocked loop never shuts down. The watchdog notes when SIGTERM arrived and forces the
process out once SHUTDOWN_GRACE_SECONDS have passed, whatever the loop is doing.

The thread needs the GIL: pure-Python work (parsing, validation, execution) gives it up every
few milliseconds, but a C call that keeps it (a regular expression backtracking, say) stops
every Python thread. For that case the heartbeat also keeps re-arming faulthandler's timer,
whose thread is C and needs no GIL: BACKSTOP seconds after the watchdog should have acted, it
writes every thread's traceback to stderr and exits with status 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import hashlib
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import Any

from domain.config import Settings

log = logging.getLogger("tenantgraph.watchdog")

BEAT = 0.2
"""Seconds between heartbeats, and between the thread's checks."""
EXIT_LOOP_BLOCKED = 70
"""Exit status when the loop was blocked past LOOP_BLOCKED_EXIT_SECONDS (EX_SOFTWARE)."""
EXIT_SHUTDOWN_OVERRAN = 71
"""Exit status when SIGTERM did not end the process within SHUTDOWN_GRACE_SECONDS."""
BACKSTOP = 5.0
"""Seconds past LOOP_BLOCKED_EXIT_SECONDS after which faulthandler ends the process."""
PAUSED = 2.0
"""A check this late means the whole process was not running, not that the loop was held."""
SHOWN = 10
"""Operations named in the log when the task holding the loop is not one of them."""


Operation = tuple[str, str, str]
"""(request id, tenant, document): kept as is per request, hashed only when reported."""


class Operations:
    """The GraphQL operations in flight in this process, by the task that runs them: the
    watchdog names the one that holds the loop, and its heartbeat cancels those past their
    deadline. Cheap per request: two dict entries, no timer (asyncio.timeout costs ~8 µs)."""

    def __init__(self) -> None:
        self._running: dict[asyncio.Task[Any], Operation] = {}
        self._due: dict[asyncio.Task[Any], float] = {}
        """Deadlines in the order they fall: every one is now + the same limit."""
        self._overdue: set[asyncio.Task[Any]] = set()

    @contextlib.contextmanager
    def track(self, request_id: str, tenant: str, document: str) -> Iterator[None]:
        task = self.start(request_id, tenant, document)
        try:
            yield
        finally:
            self.done(task)

    def start(
        self, request_id: str, tenant: str, document: str, limit: float = 0
    ) -> asyncio.Task[Any] | None:
        """The current task runs this operation until done(task); with a `limit`, it is
        cancelled at the first heartbeat past `limit` seconds (see overdue)."""
        task = asyncio.current_task()
        if task is not None:
            self._running[task] = (request_id, tenant, document)
            if limit:
                self._due[task] = time.monotonic() + limit
        return task

    def done(self, task: asyncio.Task[Any] | None) -> None:
        if task is not None:
            self._running.pop(task, None)
            self._due.pop(task, None)
            self._overdue.discard(task)

    def overdue(self, task: asyncio.Task[Any] | None) -> bool:
        """Whether `task` was cancelled for running past its deadline."""
        return task in self._overdue

    def cancel_overdue(self, now: float) -> None:
        """On the loop: cancel every operation past its deadline."""
        late = []
        for task, due in self._due.items():
            if due > now:
                break
            late.append(task)
        for task in late:
            del self._due[task]
            self._overdue.add(task)
            task.cancel()

    def holding(self, loop: asyncio.AbstractEventLoop) -> dict[str, Any]:
        """What runs on `loop` now, for the log; called from the watchdog's thread."""
        task = asyncio.current_task(loop)
        running = dict(self._running)  # one C-level copy: safe while the loop thread mutates
        held = running.get(task) if task is not None else None
        if held is not None:
            return _describe(held)
        # A task the operation spawned (sibling fields run in tasks of their own), or none.
        return {
            "task": repr(task)[:200],
            "in_flight": [_describe(op) for op in list(running.values())[:SHOWN]],
        }


def _describe(operation: Operation) -> dict[str, str]:
    request_id, tenant, document = operation
    digest = hashlib.sha256(document.encode(errors="replace")).hexdigest()
    return {"request_id": request_id, "tenant": tenant, "document_sha256": digest}


class Watchdog:
    """One per process and event loop: start() in the lifespan, stop() when it ends."""

    def __init__(self, settings: Settings, operations: Operations) -> None:
        self.warn_after = settings.loop_blocked_warn_seconds
        self.exit_after = settings.loop_blocked_exit_seconds
        self.grace = settings.shutdown_grace_seconds
        self.operations = operations
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._beat = time.monotonic()
        self._resumed = 0.0
        self._armed = 0.0
        self._reported_beat: float | None = None
        self._terminating_since: float | None = None
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Watch the running loop (see take_sigterm for the shutdown deadline)."""
        self._loop = asyncio.get_running_loop()
        self._heartbeat()
        self._thread = threading.Thread(target=self._watch, name="loop-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._timer is not None:
            self._timer.cancel()
        if self.exit_after:
            faulthandler.cancel_dump_traceback_later()
        if self._thread is not None:
            self._thread.join(timeout=2 * BEAT)

    def terminating(self) -> None:
        """SIGTERM arrived: the process must be gone within the grace period."""
        if self._terminating_since is None:
            self._terminating_since = time.monotonic()

    def _heartbeat(self) -> None:
        now = time.monotonic()
        if self.exit_after and now - self._armed >= 1:
            # Re-arming starts a C thread: once a second, not at every beat.
            faulthandler.dump_traceback_later(self.exit_after + BACKSTOP, exit=True)
            self._armed = now
        self._beat = now
        self.operations.cancel_overdue(now)
        assert self._loop is not None
        self._timer = self._loop.call_later(BEAT, self._heartbeat)

    def take_sigterm(self) -> None:
        """Note SIGTERM, then hand it to the handler already installed (uvicorn's). Python runs
        signal handlers between bytecodes of the main thread, so this runs while the loop is
        stuck in Python code, where uvicorn's own handler only sets a flag nobody reads."""
        if threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signal.SIGTERM)

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            self.terminating()
            if callable(previous):
                previous(signum, frame)
            elif previous == signal.SIG_DFL:
                signal.signal(signum, signal.SIG_DFL)
                signal.raise_signal(signum)

        signal.signal(signal.SIGTERM, on_sigterm)

    def _watch(self) -> None:
        last = time.monotonic()
        while not self._stopped.wait(BEAT):
            now = time.monotonic()
            if now - last > PAUSED:
                # This thread did not run either: the process was stopped (SIGSTOP, a paused
                # container, a suspended host). Give the loop a fresh start, not the blame.
                self._resumed = now
            last = now
            self.check(now)

    def check(self, now: float) -> None:
        if self._terminating_since is not None and now - self._terminating_since >= self.grace:
            self._exit(EXIT_SHUTDOWN_OVERRAN, "still running %.1fs after SIGTERM; forcing exit",
                       now - self._terminating_since)
        beat = max(self._beat, self._resumed)
        blocked = now - beat
        if blocked < self.warn_after:
            if self._reported_beat is not None:
                log.warning("event loop runs again after being blocked")
                self._reported_beat = None
            return
        assert self._loop is not None
        if self._reported_beat != beat:
            self._reported_beat = beat
            log.warning("event loop blocked for %.1fs by %s", blocked,
                        json.dumps(self.operations.holding(self._loop)))
        if self.exit_after and blocked >= self.exit_after:
            self._exit(EXIT_LOOP_BLOCKED, "event loop blocked for %.1fs by %s; exiting so that "
                       "the supervisor starts a fresh process", blocked,
                       json.dumps(self.operations.holding(self._loop)))

    def _exit(self, status: int, message: str, *args: object) -> None:
        # A loop stuck while writing a log line holds the handler's lock: never wait on it.
        threading.Timer(1.0, os._exit, (status,)).start()
        log.critical(message + " (exit status %d)", *args, status)
        for handler in logging.getLogger().handlers:
            with contextlib.suppress(Exception):
                handler.flush()
        os._exit(status)
