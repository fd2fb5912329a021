"""A scenario that did no work is an error: its rows are marked failed and the run fails.

The mark is a row's "failure" (why); wrk's own "failed" is its count of failed requests.

(e) once reported 0 deliveries/s with 0 errors because its queue was filled by (d): a number
measured over nothing looks like a result. A row did no work when a count of what it did
(requests, deliveries applied, events received, subscribers connected, ...) is zero, its
throughput is zero or missing, or it has latency columns without a single sample."""

from __future__ import annotations

from typing import Any

COUNTS = ("requests", "deliveries", "applied", "received", "connected", "delivered", "events")
LATENCIES = ("p50_ms", "p95_ms", "p99_ms")


def no_work(row: dict[str, Any]) -> str | None:
    """Why `row` measured nothing, or None when it measured something."""
    for key in COUNTS:
        if key in row and not row[key]:
            return f"did no work: {key} = {row[key]}"
    if "rps" in row and not row["rps"]:
        return f"did no work: {row['rps']} per second"
    if any(key in row for key in LATENCIES) and all(row.get(key) is None for key in LATENCIES):
        return "did no work: no latency samples"
    if "rps" not in row and not any(key in row for key in COUNTS):
        return "did no work: the row has no measure"
    return None


def checked(title: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`rows` with each row that did no work marked failed (at least one error); a scenario
    that returned no row at all gets a failed row of its own."""
    if not rows:
        return [{"scenario": title, "system": "tenantgraph", "failure": "did no work: no result",
                 "errors": 1}]
    marked = []
    for row in rows:
        reason = None if "failure" in row else no_work(row)
        if reason is not None:
            row = {**row, "failure": reason, "errors": max(1, row.get("errors") or 0)}
        marked.append(row)
    return marked


def failures(rows: list[dict[str, Any]]) -> list[str]:
    """One line per failed row: what the run's exit status and report say."""
    return [f"{row['scenario']} ({row['system']}): {row['failure']}" for row in rows if "failure" in row]
