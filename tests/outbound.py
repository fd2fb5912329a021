"""Webhooks out in tests: endpoints written straight to their table, events straight to the
outbox, and the receiver process (tests/receiver.py) to send them to."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import os
import secrets as random_secrets
import socket
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import orjson

from domain import events
from tables import db
from tables import events as outbox
from tests.processes import spawn, stop, wait_until

FAST = {
    "OUTBOUND_RETRY_SCHEDULE": "0,0.3,0.3,0.3,0.3",
    "OUTBOUND_SWEEP_SECONDS": "0.2",
    "OUTBOUND_POLL_SECONDS": "0.2",
    "OUTBOUND_TIMEOUT_SECONDS": "1",
    "OUTBOUND_ALLOW_NETWORKS": "127.0.0.0/8",
}
"""A schedule of seconds instead of hours, and loopback allowed for the receiver."""


TRACEPARENT = "00-" + "1" * 32 + "-" + "2" * 16 + "-01"
"""Events carry one: it must never reach a receiver."""


def new_secret() -> str:
    return "whsec_" + base64.b64encode(random_secrets.token_bytes(24)).decode()


async def endpoint(
    tenant_id: UUID, url: str, event_types: list[str], *, enabled: bool = True,
    secrets: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None,
) -> tuple[UUID, str]:
    """An endpoint row and its current secret."""
    secret = new_secret()
    entries = secrets if secrets is not None else [{"secret": secret, "expires_at": None}]
    async with db.transaction(tenant_id=tenant_id) as tx:
        endpoint_id = await tx.connection.fetchval(
            """
            insert into outbound_endpoints (tenant_id, url, event_types, enabled, secrets, headers)
            values ($1, $2, $3, $4, $5::jsonb, $6::jsonb) returning id
            """,
            tenant_id, url, event_types, enabled, orjson.dumps(entries).decode(),
            orjson.dumps(headers or {}).decode(),
        )
    return endpoint_id, str(entries[0]["secret"])


async def emit(tenant_id: UUID, *types: str, payload: dict[str, Any] | None = None) -> None:
    """Commit one event of each type, in one transaction, as a change would."""
    meta = events.WriteMeta(actor="test", correlation_id="test", traceparent=TRACEPARENT)
    async with db.transaction(tenant_id=tenant_id):
        await outbox.append(
            [events.draft(t, f"agg-{n}", payload or {"n": n}) for n, t in enumerate(types)],
            tenant_id=tenant_id, meta=meta,
        )


async def row(sql: str, *args: Any, tenant_id: UUID) -> Any:
    async with db.transaction(tenant_id=tenant_id) as tx:
        return await tx.connection.fetchrow(sql, *args)


async def rows(sql: str, *args: Any, tenant_id: UUID) -> list[Any]:
    async with db.transaction(tenant_id=tenant_id) as tx:
        return list(await tx.connection.fetch(sql, *args))


@dataclasses.dataclass
class Receiver:
    base: str
    http: httpx.AsyncClient

    def url(self, path: str) -> str:
        return self.base + path

    async def script(
        self, path: str, secrets: list[str], answers: list[dict[str, Any]] | None = None
    ) -> None:
        response = await self.http.post(
            self.base + "/_script", json={"path": path, "secrets": secrets, "answers": answers or []}
        )
        response.raise_for_status()

    async def received(self, path: str | None = None) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = (await self.http.get(self.base + "/_received")).json()
        return [r for r in got if path is None or r["path"] == path]

    async def until(
        self, check: Callable[[list[dict[str, Any]]], bool], *, timeout: float = 30,
        log: Callable[[], str] = str,
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            got = await self.received()
            if check(got):
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"receiver got {len(got)}: {got[-3:]}\n{log()[-6000:]}")
            await asyncio.sleep(0.1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def receiver(logs: Path) -> AsyncIterator[Receiver]:
    """The receiver process on a free loopback port."""
    port = free_port()
    log = logs / "receiver.log"
    process = spawn([str(port)], dict(os.environ), log, cli=[_python(), "-m", "tests.receiver"])
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(timeout=10) as http:
        try:
            async def up() -> bool:
                return (await http.get(base + "/_received")).status_code == 200

            await wait_until(up, process, log)
            yield Receiver(base, http)
        finally:
            await stop(process)


def _python() -> str:
    import sys
    return sys.executable


def seqs(got: list[dict[str, Any]]) -> list[int]:
    return [int(r["body"]["data"]["seq"]) for r in got]


def timestamps(got: list[dict[str, Any]]) -> list[datetime]:
    return [datetime.fromtimestamp(int(r["headers"]["webhook-timestamp"])) for r in got]
