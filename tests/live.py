"""Live subscriptions for the tests: `tenantgraph serve` processes and a `tenantgraph worker`
(whose relay publishes the outbox to Redis) on a Redis database of their own, and a small
graphql-transport-ws client over the `websockets` package.

    @pytest.fixture(scope="module")
    async def stack(server_env, tmp_path_factory) -> AsyncIterator[live.Stack]:
        async with live.stack(server_env, tmp_path_factory.mktemp("ws")) as made:
            yield made

    async with live.connect(stack.api, tenant=tenant.slug, key=tenant.key) as socket:
        await socket.subscribe("1", "subscription { events { cursor type } }")
        [event] = await socket.results("1", 1)

Redis pub/sub ignores database numbers, so another stack's relay may publish to this one's
API processes too: harmless, since the events of tenants they do not serve are dropped. The
private database keeps the worker's jobs (and the workers of other sessions) apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import random
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
from saq import Queue
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from domain.config import Settings
from server.embedded import free_port
from tests.processes import spawn, stop, wait_until

PROTOCOL = "graphql-transport-ws"
QUEUE = "tenantgraph"
EVENTS = "subscription Events($after: String) { events(after: $after) { cursor seq type } }"

Message = dict[str, Any]


async def free_redis(redis_url: str) -> str:
    """A Redis database (1-15) that no live worker uses, so that no other session's worker
    takes this stack's jobs."""
    base = redis_url.rsplit("/", 1)[0]
    for number in random.sample(range(1, 16), 15):
        probe = Queue.from_url(f"{base}/{number}", name=QUEUE)
        try:
            busy = (await probe.info())["workers"]
        finally:
            await probe.disconnect()
        if not busy:
            return f"{base}/{number}"
    raise AssertionError("a worker runs on every Redis database")


def jwt_token(tenant: str, *, scopes: Sequence[str], seconds: float, sub: str = "tester") -> str:
    """An HS256 token for `tenant` (slug or id) expiring `seconds` from now (negative: expired),
    signed with the JWT_SECRET the test servers use (theirs comes from this environment)."""
    claims = {"sub": sub, "tenant": tenant, "scopes": list(scopes), "exp": int(time.time() + seconds)}
    secret = os.environ.get("JWT_SECRET") or str(Settings.jwt_secret)
    return jwt.encode(claims, secret, algorithm="HS256")


@dataclasses.dataclass
class Api:
    """One `tenantgraph serve` process on 127.0.0.1."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, tenant: str | None = None, host: str = "127.0.0.1") -> str:
        query = f"?tenant={tenant}" if tenant else ""
        return f"ws://{host}:{self.port}/graphql{query}"

    async def gql(
        self, query: str, key: str, variables: dict[str, Any] | None = None, **headers: str
    ) -> dict[str, Any]:
        """A query or mutation over HTTP POST /graphql."""
        async with httpx.AsyncClient(base_url=self.url, timeout=20) as http:
            response = await http.post(
                "/graphql", json={"query": query, "variables": variables or {}},
                headers={"authorization": f"Bearer {key}", **headers},
            )
        body: dict[str, Any] = response.json()
        return body


@dataclasses.dataclass
class Stack:
    """API processes and workers sharing a database and a private Redis database."""

    env: dict[str, str]
    logs: Path
    apis: list[Api] = dataclasses.field(default_factory=list)
    workers: list[subprocess.Popen[bytes]] = dataclasses.field(default_factory=list)

    @property
    def api(self) -> Api:
        return self.apis[0]

    @property
    def redis_url(self) -> str:
        return self.env["REDIS_URL"]

    async def start_api(self, **env: str) -> Api:
        """Another `serve` process (with `env` on top of the stack's), once /healthz answers."""
        port = free_port()
        log = self.logs / f"serve-{port}.log"
        process = spawn(["serve"], {**self.env, "PORT": str(port), **env}, log)
        api = Api(process, port, log)
        self.apis.append(api)

        async def healthy() -> bool:
            async with httpx.AsyncClient(base_url=api.url, timeout=1) as http:
                return (await http.get("/healthz")).status_code == 200

        await wait_until(healthy, process, log)
        return api

    async def start_worker(self, **env: str) -> subprocess.Popen[bytes]:
        """Another `worker` process, once it has registered with the queue."""
        log = self.logs / f"worker-{len(self.workers)}.log"
        process = spawn(["worker"], {**self.env, **env}, log)
        self.workers.append(process)
        before = len(self.workers) - 1
        probe = Queue.from_url(self.redis_url, name=QUEUE)
        try:
            async def registered() -> bool:
                return len((await probe.info())["workers"]) > before

            await wait_until(registered, process, log)
        finally:
            await probe.disconnect()
        return process

    async def close(self) -> None:
        for process in [*self.workers, *(api.process for api in self.apis)]:
            await stop(process)

    def log(self, tail: int = 6000) -> str:
        """The last characters of every process's log, for assertion messages."""
        return "".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-tail:]}\n"
            for path in sorted(self.logs.glob("*.log"))
        )


@contextlib.asynccontextmanager
async def stack(
    server_env: Mapping[str, str], logs: Path, *, apis: int = 1, workers: int = 1,
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[Stack]:
    """`apis` serve processes and `workers` workers on a free Redis database, `env` added to
    their environment; all stopped afterwards."""
    redis_url = await free_redis(server_env["REDIS_URL"])
    made = Stack({**server_env, "REDIS_URL": redis_url, **(env or {})}, logs)
    try:
        for _ in range(workers):
            await made.start_worker()
        await asyncio.gather(*(made.start_api() for _ in range(apis)))
        yield made
    finally:
        await made.close()


class Socket:
    """A graphql-transport-ws client. Messages that a `take` skips wait in a backlog for the
    next; server pings are answered with a pong and counted, never returned."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.backlog: list[Message] = []
        self.pings: list[Message] = []

    @property
    def subprotocol(self) -> str | None:
        return self.connection.subprotocol

    async def send(self, message: Message | str | bytes) -> None:
        data = message if isinstance(message, str | bytes) else orjson.dumps(message).decode()
        await self.connection.send(data)

    async def init(self, key: str | None = None, payload: Message | None = None) -> None:
        """connection_init with `Authorization: Bearer <key>` (or `payload`)."""
        sent = payload if payload is not None else {"Authorization": f"Bearer {key}"}
        await self.send({"type": "connection_init", "payload": sent})

    async def acknowledged(self, key: str | None = None, payload: Message | None = None) -> Message:
        await self.init(key, payload)
        ack = await self.take(lambda m: m.get("type") == "connection_ack")
        return ack

    async def subscribe(
        self, op_id: str, query: str, variables: dict[str, Any] | None = None
    ) -> None:
        payload: Message = {"query": query}
        if variables is not None:
            payload["variables"] = variables
        await self.send({"type": "subscribe", "id": op_id, "payload": payload})

    async def complete(self, op_id: str) -> None:
        await self.send({"type": "complete", "id": op_id})

    async def take(self, match: Callable[[Message], bool], timeout: float = 10) -> Message:
        """The first message (backlog first) that `match`es."""
        for index, message in enumerate(self.backlog):
            if match(message):
                return self.backlog.pop(index)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching message in {timeout} s; got {self.backlog}")
            message = await self._receive(remaining)
            if message is None:
                continue
            if match(message):
                return message
            self.backlog.append(message)

    async def message(self, op_id: str, timeout: float = 10) -> Message:
        """The next message (next, error or complete) of operation `op_id`."""
        return await self.take(lambda m: m.get("id") == op_id, timeout)

    async def results(self, op_id: str, count: int, timeout: float = 10) -> list[Message]:
        """The payloads of the next `count` `next` messages of `op_id`; anything else fails."""
        found = []
        deadline = time.monotonic() + timeout
        while len(found) < count:
            message = await self.message(op_id, max(deadline - time.monotonic(), 0.01))
            assert message["type"] == "next", f"{message} after {found}"
            found.append(message["payload"])
        return found

    async def quiet(self, seconds: float) -> list[Message]:
        """Every message that arrives within `seconds` (plus the backlog)."""
        deadline = time.monotonic() + seconds
        with contextlib.suppress(ConnectionClosed):
            while (remaining := deadline - time.monotonic()) > 0:
                await self._receive(remaining, keep=True)
        found, self.backlog = self.backlog, []
        return found

    async def closed(self, timeout: float = 10) -> tuple[int | None, str | None]:
        """The server's close code and reason, once it closes; messages until then are kept."""
        deadline = time.monotonic() + timeout
        try:
            while (remaining := deadline - time.monotonic()) > 0:
                await self._receive(remaining, keep=True)
        except ConnectionClosed as closing:
            frame = closing.rcvd
            return (frame.code, frame.reason) if frame else (None, None)
        raise AssertionError(f"still open after {timeout} s; got {self.backlog}")

    async def _receive(self, timeout: float, keep: bool = False) -> Message | None:
        try:
            data = await asyncio.wait_for(self.connection.recv(), timeout)
        except TimeoutError:
            return None
        message: Message = orjson.loads(data)
        if message.get("type") == "ping":
            self.pings.append(message)
            await self.send({"type": "pong"})
            return None
        if keep:
            self.backlog.append(message)
        return message


@contextlib.asynccontextmanager
async def connect(
    api: Api, *, tenant: str | None = None, key: str | None = None, host: str | None = None,
    subprotocols: Sequence[str] | None = (PROTOCOL,), headers: Mapping[str, str] | None = None,
) -> AsyncIterator[Socket]:
    """A WebSocket to `api` for `tenant` (?tenant=), acknowledged when `key` is given. `host`
    sends that Host header (for a tenant by subdomain) while still connecting to 127.0.0.1."""
    protocols = [Subprotocol(p) for p in subprotocols] if subprotocols is not None else None
    async with ws_connect(
        api.ws_url(tenant, host or "127.0.0.1"), host="127.0.0.1", port=api.port,
        subprotocols=protocols, additional_headers=dict(headers or {}), compression=None,
        proxy=None, ping_interval=None, open_timeout=10, close_timeout=5,
    ) as connection:
        socket = Socket(connection)
        if key is not None:
            await socket.acknowledged(key)
        yield socket
