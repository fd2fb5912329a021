"""Prometheus metrics: every metric tenantgraph exports, defined once, with its labels.

Labels are bounded: routes are templates, operation names come from a bounded set of names
seen (the rest are "other"), tenants are slugs (switchable and capped: METRICS_TENANT_LABEL,
METRICS_TENANT_LABEL_CAP), error codes are the closed set of extensions.code values. Under
`serve --workers N`, prometheus_client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set up by
the CLI) sums the processes; gauges of live things count only live processes (livesum).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

from domain import webhooks
from domain.config import Settings

# `_created` series would double a scrape, and no query here needs them.
disable_created_metrics()  # type: ignore[no-untyped-call]
LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_SIZES = (1, 2, 5, 10, 20, 50, 100, 200, 500)
OTHER = "other"
ANONYMOUS = "anonymous"
OPERATION_NAMES_HELD = 50
"""Distinct operation names a process labels by name for each tenant; its later new names are
"other". Per tenant, so that no tenant's names can crowd out another's."""
OPERATION_NAME_TENANTS = 100
"""Tenants with names of their own per process; later tenants share one set of that size. So
at most OPERATION_NAMES_HELD x (OPERATION_NAME_TENANTS + 1) names in all."""
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")

HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds", "HTTP requests by method, route template, status and tenant",
    ["method", "route", "status_code", "tenant"], buckets=LATENCY,
)
GRAPHQL_OPERATIONS = Counter(
    "graphql_operations_total", "GraphQL operations executed over HTTP",
    ["type", "operation", "tenant", "planned"],
)
GRAPHQL_OPERATION_DURATION = Histogram(
    "graphql_operation_duration_seconds", "Time to answer a GraphQL operation over HTTP",
    ["type", "operation", "tenant", "planned"], buckets=LATENCY,
)
GRAPHQL_ERRORS = Counter(
    "graphql_errors_total", "GraphQL errors sent, by extensions.code", ["code"],
)
MODULE_LOAD_DURATION = Histogram(
    "module_load_duration_seconds", "Time to build a tenant schema, by module and extension set",
    ["modules"], buckets=LATENCY,
)
WEBHOOK_DELIVERIES = Counter(
    "webhook_deliveries_received_total", "Webhook deliveries received, by flow, tenant and outcome",
    ["flow", "tenant", "outcome"],
)
WEBHOOK_DEAD_LETTERED = Counter(
    "webhook_deliveries_dead_lettered_total", "Deliveries dead-lettered, by why", ["reason"],
)
DELIVERY_BATCH_SIZE = Histogram(
    "webhook_delivery_batch_size", "Inbox deliveries claimed per applied batch", buckets=BATCH_SIZES,
)
JOBS = Counter("jobs_total", "Jobs run by the worker, by function and outcome", ["function", "outcome"])
JOB_DURATION = Histogram(
    "job_duration_seconds", "Time a job ran, by function", ["function"], buckets=LATENCY,
)
OUTBOX_BACKLOG = Gauge(
    "outbox_backlog_events", "Committed events not yet published", multiprocess_mode="max",
)
OUTBOX_LAG = Gauge(
    "outbox_lag_seconds", "Age of the oldest unpublished event (0 with none)", multiprocess_mode="max",
)
RELAY_BATCH_SIZE = Histogram(
    "outbox_relay_batch_size_events", "Events per published relay batch", buckets=BATCH_SIZES,
)
RELAY_PUBLISH_DURATION = Histogram(
    "outbox_relay_publish_duration_seconds", "Time to publish one relay batch to Redis",
    buckets=LATENCY,
)
OUTBOUND_ATTEMPTS = Counter(
    "outbound_attempts_total", "Outgoing webhook requests, by outcome (success, failure, timeout, refused)",
    ["outcome"],
)
OUTBOUND_LATENCY = Histogram(
    "outbound_delivery_latency_seconds",
    "From an event's commit to its endpoint acknowledging it (2xx), retries included",
    buckets=LATENCY + (60.0, 300.0, 1_800.0, 7_200.0, 36_000.0, 86_400.0),
)
OUTBOUND_MESSAGES = Counter(
    "outbound_messages_total", "Outgoing webhook messages after an attempt, by new status",
    ["outcome"],
)
OUTBOUND_BACKLOG = Gauge(
    "outbound_backlog_messages", "Messages waiting to be sent, by endpoint state", ["state"],
    multiprocess_mode="max",
)
LIVE_SUBSCRIPTIONS = Gauge(
    "graphql_live_subscriptions", "Open subscriptions by tenant and root field",
    ["tenant", "field"], multiprocess_mode="livesum",
)
WEBSOCKET_CONNECTIONS = Gauge(
    "websocket_connections", "Open GraphQL WebSocket connections", multiprocess_mode="livesum",
)
SSE_STREAMS = Gauge("sse_streams", "Open server-sent event streams", multiprocess_mode="livesum")
RESYNC_REQUIRED = Counter(
    "graphql_resync_required_total", "RESYNC_REQUIRED errors sent to subscribers that fell behind",
)
DB_POOL_IN_USE = Gauge(
    "db_pool_connections_in_use", "Database pool connections lent out", multiprocess_mode="livesum",
)
DB_POOL_WAITING = Gauge(
    "db_pool_waiting", "Tasks waiting for a database pool connection", multiprocess_mode="livesum",
)
IDEMPOTENT_REQUESTS = Counter(
    "idempotent_requests_total",
    "Mutations sent with an Idempotency-Key, by outcome (executed, replayed, refused, released)",
    ["outcome"],
)
REDIS_ERRORS = Counter("redis_errors_total", "Failed Redis calls, by what was tried", ["operation"])
THROTTLED = Counter(
    "graphql_throttled_total", "Operations refused because their query cost did not fit, by tenant",
    ["tenant"],
)
QUERY_COST = Histogram(
    "graphql_query_cost", "Query cost of admitted operations, requested (worst case) and actual",
    ["kind"], buckets=(0, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10000),
)
RATE_LIMITED = Counter(
    "rate_limited_total", "Requests refused by a request limit (server.request_limits), by limit and tenant",
    ["limit", "tenant"],
)
REQUEST_LIMITS = Gauge(
    "request_limit", "Request limits in force: each bucket's burst and rate per second, each cap",
    ["limit", "parameter"], multiprocess_mode="max",
)
# Known label values are shown at zero from the start, so a rate() has a series before the first event.
for _operation in ("enqueue", "publish", "subscribe", "limits"):
    REDIS_ERRORS.labels(_operation)
for _reason in ("rejected", "failed", "cancelled"):
    WEBHOOK_DEAD_LETTERED.labels(_reason)


class TenantLabel:
    """A tenant's label value: its slug, up to `cap` distinct slugs in this process, then
    "other"; "all" when the label is switched off."""

    def __init__(self, enabled: bool = True, cap: int = 100) -> None:
        self.enabled = enabled
        self.cap = cap
        self.seen: set[str] = set()

    def __call__(self, slug: str) -> str:
        if not self.enabled:
            return "all"
        if slug in self.seen:
            return slug
        if len(self.seen) < self.cap:
            self.seen.add(slug)
            return slug
        return OTHER


class Names:
    """Operation names as label values, per tenant: the first `size` names of a tenant's
    operations that ran without an error (so a client cannot fill the set with made-up
    names), else "other"; the first `tenants` tenants each have their own set, the rest share one."""

    def __init__(self, size: int = OPERATION_NAMES_HELD, tenants: int = OPERATION_NAME_TENANTS) -> None:
        self.size = size
        self.tenants = tenants
        self.held: dict[str, set[str]] = {}

    def __call__(self, name: object, tenant: str, *, admit: bool) -> str:
        if not isinstance(name, str) or not name:
            return ANONYMOUS
        held = self._of(tenant)
        if name in held:
            return name
        if admit and len(held) < self.size and NAME.fullmatch(name):
            held.add(name)
            return name
        return OTHER

    def _of(self, tenant: str) -> set[str]:
        held = self.held.get(tenant)
        if held is None:
            key = tenant if len(self.held) < self.tenants else OTHER
            held = self.held.setdefault(key, set())
        return held


# Configured once per process from its settings (configure); the metrics themselves are
# process-wide in prometheus_client, so is the label policy that bounds them.
tenant_label = TenantLabel()
operation_name = Names()


def configure(settings: Settings) -> None:
    tenant_label.enabled = settings.metrics_tenant_label
    tenant_label.cap = settings.metrics_tenant_label_cap
    tenant_label.seen.clear()


class _Children:
    """Labelled children by label values, looked up without prometheus_client's lock."""

    def __init__(self, family: Any) -> None:
        self.family = family
        self.found: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self.found.get(values)
        if child is None:
            child = self.found[values] = self.family.labels(*values)
        return child


_requests = _Children(HTTP_REQUEST_DURATION)
_operations = _Children(GRAPHQL_OPERATIONS)
_operation_durations = _Children(GRAPHQL_OPERATION_DURATION)
_errors = _Children(GRAPHQL_ERRORS)
_deliveries = _Children(WEBHOOK_DELIVERIES)


def observe_request(method: str, route: str, status: int, tenant: str, seconds: float) -> None:
    _requests(method, route, str(status), tenant).observe(seconds)


def observe_operation(
    kind: str, name: object, tenant_slug: str, planned: bool, seconds: float, *, admit: bool
) -> None:
    """One operation answered over HTTP; `admit`: it ran clean, so its name may become a label."""
    labels = (
        kind, operation_name(name, tenant_slug, admit=admit), tenant_label(tenant_slug),
        "true" if planned else "false",
    )
    _operations(*labels).inc()
    _operation_durations(*labels).observe(seconds)


def count_errors(errors: Iterable[Mapping[str, Any]]) -> None:
    """Count errors as sent (formatted, with extensions.code)."""
    for error in errors:
        code = str((error.get("extensions") or {}).get("code", "UNKNOWN"))
        _errors(code).inc()
        if code == "RESYNC_REQUIRED":
            RESYNC_REQUIRED.inc()


OUTCOMES = {
    202: "queued", 200: "duplicate", 400: "bad_request", 401: "bad_signature", 404: "not_found",
    409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "invalid_payload",
    429: "rate_limited",
}
def observe_delivery(flow: str, tenant_slug: str | None, status: int) -> None:
    """A webhook delivery answered: its flow (known ones only), tenant (when its endpoint was
    found) and outcome, named by the answer's status."""
    tenant = "none" if tenant_slug is None else tenant_label(tenant_slug)
    outcome = OUTCOMES.get(status, "error" if status >= 500 else f"http_{status}")
    _deliveries(flow if flow in webhooks.FLOWS else "unknown", tenant, outcome).inc()


_rate_limited = _Children(RATE_LIMITED)


def count_rate_limited(limit: str, tenant_slug: str | None) -> None:
    """A request refused by `limit`; the tenant when the limit is a tenant's."""
    _rate_limited(limit, "none" if tenant_slug is None else tenant_label(tenant_slug)).inc()


def module_set(modules: Iterable[str], extensions: Iterable[str]) -> str:
    """The label of a schema's module set: sorted module slugs, then "+" and each extension."""
    return ",".join(sorted(modules)) + "".join(f"+{slug}" for slug in sorted(extensions))


class Pool(Protocol):
    def get_size(self) -> int: ...
    def get_idle_size(self) -> int: ...


def sample_pool(pool: Pool | None) -> None:
    """The pool's lent-out connections and waiting acquirers, now."""
    if pool is None:
        DB_POOL_IN_USE.set(0)
        DB_POOL_WAITING.set(0)
        return
    DB_POOL_IN_USE.set(pool.get_size() - pool.get_idle_size())
    # asyncpg keeps its waiters in the queue of free holders; it has no public count of them.
    getters = getattr(getattr(pool, "_queue", None), "_getters", ())
    DB_POOL_WAITING.set(sum(1 for waiter in getters if not waiter.done()))


POOL_SAMPLE_SECONDS = 5.0
JOB_OUTCOMES = {"complete": "complete", "failed": "failed", "aborted": "aborted", "queued": "retried"}


async def sample_pool_forever(pool_of: Callable[[], Pool | None]) -> None:
    """Sample the pool every POOL_SAMPLE_SECONDS until cancelled; zero when it ends (the
    process no longer holds connections)."""
    try:
        while True:
            sample_pool(pool_of())
            await asyncio.sleep(POOL_SAMPLE_SECONDS)
    finally:
        sample_pool(None)


_jobs = _Children(JOBS)
_job_durations = _Children(JOB_DURATION)


def observe_job(function: str, status: str, seconds: float) -> None:
    """A settled job attempt: complete, failed (no retry left), aborted or retried."""
    _jobs(function, JOB_OUTCOMES.get(status, status)).inc()
    _job_durations(function).observe(max(seconds, 0.0))


def metric_names() -> list[str]:
    """Every metric name this module defines, as Prometheus shows it (counters end in _total)."""
    found = []
    for value in list(globals().values()):
        if isinstance(value, Counter | Gauge | Histogram):
            name = value._name
            found.append(f"{name}_total" if isinstance(value, Counter) else name)
    return sorted(found)

