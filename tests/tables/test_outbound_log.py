"""The outgoing webhook log's storage: retention by status, the backlog per endpoint state, and
every tenant-scoped function blind to another tenant's rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain import audit, outbound_log
from domain.errors import NotFound
from tables import db
from tables import outbound_log as log_tables
from telemetry import metrics
from telemetry import outbound as outbound_metrics
from tests import outbound_log as rows

RETENTION = outbound_log.Retention.of_days(30, 90)


async def test_succeeded_messages_go_after_the_retention_with_their_attempts(tenant_a: Any) -> None:
    endpoint = await rows.endpoint(tenant_a.id)
    old = await rows.message(tenant_a.id, endpoint, status="succeeded", age=timedelta(days=31))
    young = await rows.message(tenant_a.id, endpoint, status="succeeded", age=timedelta(days=29))
    attempt = await rows.attempt(tenant_a.id, old, endpoint, at=datetime.now(UTC) - timedelta(days=31))

    assert await log_tables.prune(RETENTION, now=datetime.now(UTC)) >= 1

    assert await rows.row(tenant_a.id, old) == {}
    assert await rows.row(tenant_a.id, young) != {}
    assert [a.id for a in await log_tables.list_attempts(young, tenant_id=tenant_a.id)] == []
    with pytest.raises(NotFound):
        await log_tables.list_attempts(old, tenant_id=tenant_a.id)
    async with db.transaction(tenant_id=tenant_a.id) as tx:
        assert await tx.connection.fetchval("select 1 from outbound_attempts where id = $1", attempt) is None


async def test_exhausted_messages_stay_longer_and_unfinished_ones_stay(tenant_a: Any) -> None:
    endpoint = await rows.endpoint(tenant_a.id)
    kept = {s: await rows.message(tenant_a.id, endpoint, status=s, age=timedelta(days=60))
            for s in ("exhausted", "pending", "retrying")}
    very_old = {s: await rows.message(tenant_a.id, endpoint, status=s, age=timedelta(days=91))
                for s in ("exhausted", "pending", "retrying")}

    await log_tables.prune(RETENTION, now=datetime.now(UTC))

    assert [await rows.row(tenant_a.id, m) != {} for m in kept.values()] == [True, True, True]
    assert await rows.row(tenant_a.id, very_old["exhausted"]) == {}
    assert await rows.row(tenant_a.id, very_old["pending"]) != {}
    assert await rows.row(tenant_a.id, very_old["retrying"]) != {}


async def test_the_backlog_counts_waiting_messages_by_endpoint_state(tenant_a: Any) -> None:
    before = await log_tables.backlog()
    healthy = await rows.endpoint(tenant_a.id)
    failing = await rows.endpoint(tenant_a.id, failing=True)
    disabled = await rows.endpoint(tenant_a.id, enabled=False)
    for status in ("pending", "retrying", "succeeded", "exhausted"):
        await rows.message(tenant_a.id, healthy, status=status)
    await rows.message(tenant_a.id, failing, status="retrying")
    await rows.message(tenant_a.id, disabled, status="pending")

    after = await log_tables.backlog()
    outbound_metrics.set_backlog(after)

    assert {s: after[s] - before[s] for s in after} == {"healthy": 2, "failing": 1, "disabled": 1}
    assert metrics.OUTBOUND_BACKLOG.labels("healthy")._value.get() == after["healthy"]


async def test_tenant_scoped_functions_never_reach_another_tenants_rows(tenant_a: Any, tenant_b: Any) -> None:
    endpoint = await rows.endpoint(tenant_a.id)
    message = await rows.message(tenant_a.id, endpoint, status="exhausted", age=timedelta(hours=1))
    since = datetime.now(UTC) - timedelta(days=1)

    assert await log_tables.list_messages(tenant_id=tenant_b.id) == []
    with pytest.raises(NotFound):
        await log_tables.list_messages(tenant_id=tenant_b.id, endpoint_id=endpoint)
    with pytest.raises(NotFound):
        await log_tables.list_attempts(message, tenant_id=tenant_b.id)
    with pytest.raises(NotFound):
        await log_tables.redeliver(message, tenant_id=tenant_b.id, actor=audit.INTERNAL)
    with pytest.raises(NotFound):
        await log_tables.record_recovery(
            endpoint, since, tenant_id=tenant_b.id, actor=audit.INTERNAL, job="j"
        )
    assert await log_tables.recover(endpoint, since, tenant_id=tenant_b.id) == 0

    assert (await rows.row(tenant_a.id, message))["status"] == "exhausted"
    assert [m.id for m in await log_tables.list_messages(tenant_id=tenant_a.id)] == [message]


def test_recording_an_attempt_counts_its_outcome_the_message_status_and_the_latency() -> None:
    def value(family: Any, *labels: str) -> float:
        return float(family.labels(*labels)._value.get())

    before = (value(metrics.OUTBOUND_ATTEMPTS, "timeout"), value(metrics.OUTBOUND_MESSAGES, "retrying"),
              value(metrics.OUTBOUND_ATTEMPTS, "success"))
    latency_before = metrics.OUTBOUND_LATENCY._sum.get()

    outbound_metrics.observe_attempt("timeout", "retrying")
    outbound_metrics.observe_attempt("success", "succeeded", latency_seconds=0.25)

    assert value(metrics.OUTBOUND_ATTEMPTS, "timeout") == before[0] + 1
    assert value(metrics.OUTBOUND_MESSAGES, "retrying") == before[1] + 1
    assert value(metrics.OUTBOUND_ATTEMPTS, "success") == before[2] + 1
    assert metrics.OUTBOUND_LATENCY._sum.get() == pytest.approx(latency_before + 0.25)
