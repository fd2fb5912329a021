"""`tenantgraph outbound messages|attempts|redeliver|recover` as real processes; the recovery
runs as a job in a real worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests import outbound as out
from tests import outbound_log as rows
from tests.processes import cli, spawn, stop, wait_until


async def test_messages_lists_newest_first_and_filters_failed(
    tenant_a: Any, server_env: dict[str, str]
) -> None:
    endpoint = await rows.endpoint(tenant_a.id)
    done = await rows.message(tenant_a.id, endpoint, status="succeeded", age=timedelta(minutes=2))
    failed = await rows.message(tenant_a.id, endpoint, status="exhausted", age=timedelta(minutes=1))

    listed = await cli(server_env, "outbound", "messages", tenant_a.slug)
    only_failed = await cli(server_env, "outbound", "messages", tenant_a.slug, "--status", "failed")

    assert listed.returncode == 0, listed.stderr
    assert [line.split("\t")[0] for line in listed.stdout.splitlines()] == [str(failed), str(done)]
    assert [line.split("\t")[4] for line in listed.stdout.splitlines()] == ["exhausted", "succeeded"]
    assert [line.split("\t")[0] for line in only_failed.stdout.splitlines()] == [str(failed)]


async def test_attempts_lists_a_messages_attempts_and_refuses_another_tenants(
    tenant_a: Any, tenant_b: Any, server_env: dict[str, str]
) -> None:
    endpoint = await rows.endpoint(tenant_a.id)
    message = await rows.message(tenant_a.id, endpoint, status="retrying")
    await rows.attempt(tenant_a.id, message, endpoint, at=datetime.now(UTC), status=503)

    mine = await cli(server_env, "outbound", "attempts", tenant_a.slug, str(message))
    theirs = await cli(server_env, "outbound", "attempts", tenant_b.slug, str(message))

    assert mine.returncode == 0, mine.stderr
    assert "status=503" in mine.stdout and "scheduled" in mine.stdout
    assert theirs.returncode != 0 and "not found" in theirs.stderr and theirs.stdout == ""


async def test_redeliver_makes_the_message_due_now_as_manual(
    tenant_a: Any, server_env: dict[str, str]
) -> None:
    endpoint = await rows.endpoint(tenant_a.id)
    message = await rows.message(tenant_a.id, endpoint, status="exhausted")

    done = await cli(server_env, "outbound", "redeliver", tenant_a.slug, str(message))

    assert done.returncode == 0, done.stderr
    stored = await rows.row(tenant_a.id, message)
    assert f"redelivering {message} ({stored['msg_id']})" in done.stdout
    assert (stored["status"], stored["due"], stored["next_trigger"]) == ("retrying", True, "manual")
    assert await rows.audit_actions(tenant_a.id, message) == ["outbound_message.redelivered"]


async def test_recover_runs_as_a_worker_job_on_what_failed_since_then(
    tenant_a: Any, server_env: dict[str, str], tmp_path: Path
) -> None:
    endpoint = await rows.endpoint(tenant_a.id)
    recent = await rows.message(tenant_a.id, endpoint, status="exhausted", age=timedelta(hours=2))
    old = await rows.message(tenant_a.id, endpoint, status="exhausted", age=timedelta(days=2))
    log = tmp_path / "worker.log"
    process = spawn(["worker", "--no-relay"], server_env, log)
    try:
        done = await cli(server_env, "outbound", "recover", tenant_a.slug, str(endpoint), "--since",
                         (datetime.now(UTC) - timedelta(days=1)).isoformat())
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("recovery queued: outbound_recover:")

        async def recovered() -> bool:
            """Made due again as a recovery: waiting for it, or already attempted as one (the
            worker may send it before this looks)."""
            if (await rows.row(tenant_a.id, recent))["next_trigger"] == "recovery":
                return True
            return bool(await triggers(tenant_a.id, recent))

        await wait_until(recovered, process, log)
    finally:
        await stop(process)
    assert set(await triggers(tenant_a.id, recent)) <= {"recovery"}
    assert (await rows.row(tenant_a.id, recent))["status"] == "retrying"
    assert (await rows.row(tenant_a.id, old))["next_trigger"] == "scheduled"
    assert await triggers(tenant_a.id, old) == []


async def triggers(tenant_id: Any, message: Any) -> list[str]:
    found = await out.rows("select trigger from outbound_attempts where message_id = $1", message,
                           tenant_id=tenant_id)
    return [row["trigger"] for row in found]
