"""jobs_total and job_duration_seconds count every settled attempt, retried ones included."""

from __future__ import annotations

import asyncio

from saq import Job, Status

from domain.config import Settings
from telemetry import metrics
from workers.context import WorkerContext
from workers.graceful import GracefulWorker
from workers.settings import observe_job, queue


def count(function: str, outcome: str) -> float:
    return float(metrics.JOBS.labels(function, outcome)._value.get())


def observed(function: str) -> tuple[float, float]:
    """How many durations job_duration_seconds observed for `function`, and their sum."""
    child = metrics.JOB_DURATION.labels(function)
    return sum(bucket.get() for bucket in child._buckets), child._sum.get()


async def attempt(worker: GracefulWorker, status: Status) -> None:
    """An attempt as SAQ settles it: before_process, then the status, then after_process. A
    retry zeroes job.started (saq Job.retry) before the after_process hooks run."""
    job = Job("apply_deliveries")
    ctx: WorkerContext = {"job": job}  # type: ignore[typeddict-item]
    for before in worker.before_process or ():
        await before(ctx)
    await asyncio.sleep(0.01)
    job.status, job.started = status, 0 if status is Status.QUEUED else job.started
    for after in worker.after_process or ():
        await after(ctx)


async def test_a_retried_attempt_is_counted_as_retried_with_its_duration(settings: Settings) -> None:
    worker = GracefulWorker(queue(settings), functions=[], grace=1, after_process=[observe_job])
    before = count("apply_deliveries", "retried"), count("apply_deliveries", "complete")
    durations = observed("apply_deliveries")

    await attempt(worker, Status.QUEUED)
    await attempt(worker, Status.COMPLETE)

    after = count("apply_deliveries", "retried"), count("apply_deliveries", "complete")
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)
    observations, seconds = observed("apply_deliveries")
    assert observations - durations[0] == 2  # the retried attempt's duration too
    assert seconds > durations[1]
