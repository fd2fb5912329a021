"""A scenario that did no work is an error: `python -m bench.run --only e` once reported 0
deliveries/s with 0 errors (its queue was filled by (d)), which read like a result. Here the
harness runs stand-in scenarios (no services, no load): a row that measured nothing is marked
failed in the JSON and the table, and the run exits non-zero after writing both."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from bench import report, run, verdict
from bench.scenarios import Context, Scenario
from bench.seed import Dataset

MEASURED = {"scenario": "a product(id)", "system": "tenantgraph", "requests": 2300, "rps": 230.0,
            "p50_ms": 4.1, "p95_ms": 9.0, "p99_ms": 12.5, "failed": 0, "throttled": 0, "errors": 0}
"""A row as wrk gives it: its "failed" is a count of failed requests, not the verdict's mark."""
IDLE_WORKERS = {"scenario": "e batch 1: pre-filled inbox", "system": "tenantgraph", "deliveries": 0,
                "applied": 0, "rps": 0.0, "p99_ms": None, "errors": 0}


def _context(tmp_path: Path) -> Context:
    return Context(owner="", env={}, dataset=Dataset({}, {}, {}), api="", baseline="", seconds=1.0,
                   warmup=0.0, procs={}, work=tmp_path, subscribers=[])


def _scenario(letter: str, rows: list[dict[str, Any]]) -> Scenario:
    async def produce(ctx: Context) -> list[dict[str, Any]]:
        return [dict(row) for row in rows]

    return Scenario(letter, f"stand-in {letter}", produce)


def _measure(tmp_path: Path, *scenarios: Scenario) -> list[dict[str, Any]]:
    async def each() -> list[dict[str, Any]]:
        return [row for s in scenarios for row in await run.measured(s, _context(tmp_path))]

    return asyncio.run(each())


def test_a_scenario_that_did_no_work_is_failed_and_fails_the_run(tmp_path: Path) -> None:
    rows = _measure(tmp_path, _scenario("a", [MEASURED]), _scenario("e", [IDLE_WORKERS]))

    with pytest.raises(SystemExit) as exit_:
        run.finish(rows, tmp_path / "results")

    assert exit_.value.code not in (0, None)
    assert "e batch 1: pre-filled inbox" in str(exit_.value.code)
    written = json.loads(next((tmp_path / "results").glob("*.json")).read_text())["results"]
    assert "failure" not in written[0] and written[0]["errors"] == 0
    assert written[1]["failure"] == "did no work: deliveries = 0" and written[1]["errors"] == 1
    table = (tmp_path / "results" / "latest.md").read_text()
    assert "**FAILED** did no work: deliveries = 0" in table


def test_a_run_where_every_scenario_measured_something_passes(tmp_path: Path) -> None:
    rows = _measure(tmp_path, _scenario("a", [MEASURED]))

    run.finish(rows, tmp_path / "results")

    assert "FAILED" not in (tmp_path / "results" / "latest.md").read_text()
    assert verdict.failures(rows) == []


def test_a_scenario_returning_no_rows_or_raising_is_failed(tmp_path: Path) -> None:
    async def broken(ctx: Context) -> list[dict[str, Any]]:
        raise RuntimeError("workers never started")

    rows = _measure(tmp_path, _scenario("g", []), Scenario("i", "stand-in i", broken))

    assert [row["failure"] for row in rows] == [
        "did no work: no result", "RuntimeError('workers never started')"]
    assert len(verdict.failures(rows)) == 2


@pytest.mark.parametrize(("row", "reason"), [
    ({"requests": 0, "rps": 0.0, "p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0}, "did no work: requests = 0"),
    ({"deliveries": 4000, "received": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None},
     "did no work: received = 0"),
    ({"connected": 0, "kb_per_subscriber": 0.0}, "did no work: connected = 0"),
    ({"rps": 0.0, "p50_ms": None, "p95_ms": 0.0, "p99_ms": 0.0}, "did no work: 0.0 per second"),
    ({"rps": 12.0, "p50_ms": None, "p95_ms": None, "p99_ms": None}, "did no work: no latency samples"),
    ({"kb_per_subscriber": 30.0}, "did no work: the row has no measure"),
    ({"deliveries": 4000, "applied": 3990, "rps": 800.0, "p99_ms": 4100.0}, None),
    ({"connected": 1000, "kb_per_subscriber": 26.8}, None),
])
def test_what_counts_as_no_work(row: dict[str, Any], reason: str | None) -> None:
    assert verdict.no_work({"scenario": "x", "system": "tenantgraph", **row}) == reason


def test_the_table_lists_failed_rows_below_it() -> None:
    document = {"at": "now", "machine": {"cpus": 2, "python": "3.11", "platform": "linux"},
                "results": verdict.checked("e", [IDLE_WORKERS])}

    table = report.markdown(document)

    assert "- e batch 1: pre-filled inbox (tenantgraph): did no work: deliveries = 0" in table
