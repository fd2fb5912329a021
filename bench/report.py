"""The results as a Markdown table: each tenantgraph row with its baseline ratio and target."""

from __future__ import annotations

from typing import Any

TARGETS = {
    "a product(id)": "≥ 0.5× baseline, p99 ≤ 3× baseline p99",
    "b 50 orders": "≥ 0.4× baseline",
    "c createOrder": "reported",
    "d webhook ingest": "≥ 3,000/s and ≥ 0.8× baseline",
    "d webhook ingest 1,000/s": "p99 < 20 ms",
    "e worker throughput": "≥ 1,000 deliveries/s",
    "g webhook to subscriber at 200/s": "p95 ≤ 50 ms",
    "g webhook to subscriber at 500/s": "reported",
    "f 100 tenants, 2000 events/s": "insert → subscriber p99 ≤ 15 ms",
    "h tenant Q beside N": "p99 ≤ 2× alone, 0 errors",
    "h tenant N at 10x its plan": "throttled (429), not Q",
    "h cost overhead on (a)": "≥ 0.95× COST_LIMITS=off",
    "i webhooks out, all endpoints up": "reported; every signature verifies",
    "i webhooks out, one endpoint down (others)": "others' p99 ≈ all up",
}


def markdown(document: dict[str, Any]) -> str:
    rows = document["results"]
    machine = document["machine"]
    lines = [
        f"Run {document['at']} on {machine['cpus']} CPUs, Python {machine['python']}, "
        f"{machine['platform']}.",
        "",
        "| scenario | system | req/s | p50 ms | p95 ms | p99 ms | errors | CPU cores (app/pg/redis) "
        "| vs baseline | target |",
        "|---|---|---:|---:|---:|---:|---:|---|---:|---|",
    ]
    baselines = {r["scenario"]: r for r in rows if r["system"] == "baseline"}
    for row in rows:
        if "kb_per_subscriber" not in row:
            lines.append(_line(row, baselines.get(row["scenario"])))
    subscribers = [r for r in rows if "kb_per_subscriber" in r]
    if subscribers:
        lines += ["", "Target: 10,000 subscribers on one process at ≤ 32 KB each, one event to all "
                  "within 1 s at p99.", "",
                  "| subscribers | system | connected | KB each | one event to all: p50 ms | p99 ms "
                  "| errors |", "|---|---|---:|---:|---:|---:|---:|"]
        for row in subscribers:
            lines.append(
                f"| {row['scenario']} | {row['system']} | {row['connected']} | "
                f"{row['kb_per_subscriber']} | {_num(row.get('p50_ms'))} | {_num(row.get('p99_ms'))} "
                f"| {row['errors']} |"
            )
    failed = [r for r in rows if "failure" in r]
    if failed:
        lines += ["", "**Failed** (the run exits 1):", ""]
        lines += [f"- {r['scenario']} ({r['system']}): {r['failure']}" for r in failed]
    return "\n".join(lines) + "\n"


def _line(row: dict[str, Any], baseline: dict[str, Any] | None) -> str:
    ratio = ""
    if baseline is not None and row["system"] == "tenantgraph" and baseline.get("rps"):
        ratio = f"{row['rps'] / baseline['rps']:.2f}×"
        if row.get("p99_ms") and baseline.get("p99_ms"):
            ratio += f" (p99 {row['p99_ms'] / baseline['p99_ms']:.1f}×)"
    ratio = row.get("versus", ratio)
    if "failure" in row:
        ratio = f"**FAILED** {row['failure']}"
    cpu = row.get("cpu_cores")
    cpu_text = f"{cpu['app']}/{cpu['postgres']}/{cpu['redis']}" if cpu else ""
    target = TARGETS.get(row["scenario"], "") if row["system"] == "tenantgraph" else ""
    return (
        f"| {row['scenario']} | {row['system']} | {_num(row.get('rps'))} | {_num(row.get('p50_ms'))} "
        f"| {_num(row.get('p95_ms'))} | {_num(row.get('p99_ms'))} | {row.get('errors', '')} | {cpu_text} "
        f"| {ratio} | {target} |"
    )


def _num(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if isinstance(value, float) and value >= 100 else f"{value}"
