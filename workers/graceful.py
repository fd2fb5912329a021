"""A SAQ worker that a deploy can stop without losing or dead-lettering a job.

SAQ's own stop cancels every job at once (or, given a grace period, waits for its idle
dequeues and upkeep sleeps too), and a cancelled job has spent an attempt: a delivery on its
last attempt is dead-lettered by a deploy. Stopped here: no job is taken after SIGTERM (a
dequeue blocks at most DEQUEUE_TIMEOUT, then its task ends), the jobs in flight get the
drain share of SHUTDOWN_GRACE_SECONDS to finish, and those still running then are cut off:
cancelled and queued again with their attempt given back. The job sees `cut_off(ctx)` and
leaves its records as they were.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from saq import Job, Worker

from domain.config import DRAIN_SHARE
from workers.context import WorkerContext

log = logging.getLogger("tenantgraph.worker")

DEQUEUE_TIMEOUT = 1.0
"""Seconds an idle dequeue blocks: how long after SIGTERM a job may still be taken."""


class GracefulWorker(Worker[WorkerContext]):
    def __init__(
        self, *args: Any, grace: float, stopping: Callable[[], None] = lambda: None,
        after_process: Sequence[Callable[[WorkerContext], Awaitable[None]]] = (), **kwargs: Any
    ) -> None:
        super().__init__(
            *args, dequeue_timeout=DEQUEUE_TIMEOUT, before_process=[self._started],
            after_process=[self._ended, *after_process], **kwargs,
        )
        self.grace = grace
        self.stopping = stopping
        """Called once when the worker starts stopping (the watchdog's clock)."""
        self.running: dict[asyncio.Task[Any], Job] = {}
        self.cut: set[str] = set()
        self.finishing: list[asyncio.Task[Any]] = []
        """Tasks of this worker besides jobs that end by themselves once `event` is set (the
        delivery poll): drained like jobs, then cancelled."""
        self._drained = False

    async def _started(self, ctx: WorkerContext) -> None:
        ctx["job_started"] = time.monotonic()  # SAQ zeroes job.started when it retries
        task = asyncio.current_task()
        if task is not None and "job" in ctx:
            self.running[task] = ctx["job"]

    async def _ended(self, ctx: WorkerContext) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.running.pop(task, None)

    async def stop(self) -> None:
        if not self._drained:  # SAQ's signal handler has set the event already: no new job
            self._drained = True
            self.stopping()
            self.event.set()
            await self._drain(self.grace * DRAIN_SHARE)
        await super().stop()

    async def _drain(self, seconds: float) -> None:
        """Wait for the jobs in flight; give the attempt back to those still running after
        `seconds` (SAQ's stop then cancels them and queues them again)."""
        processing = [task for task in self.tasks if task.get_name() == "process"]
        processing += [task for task in self.finishing if not task.done()]
        if processing:
            log.info("stopping: %d job(s) in flight get %.1fs to finish", len(self.running), seconds)
            await asyncio.wait(processing, timeout=seconds)
        for task, job in list(self.running.items()):
            if not task.done():
                log.warning("stopping: %s cut off; queued again, its attempt given back", job.key)
                self.cut.add(job.id)
                job.attempts -= 1


def cut_off(ctx: WorkerContext) -> bool:
    """Whether this job's cancellation comes from the worker stopping, not from its timeout."""
    worker, job = ctx.get("worker"), ctx.get("job")
    return isinstance(worker, GracefulWorker) and job is not None and job.id in worker.cut
