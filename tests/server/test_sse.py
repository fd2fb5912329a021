"""Subscriptions over Server-Sent Events at /graphql/stream, against a real `serve` process and
worker: `event: next` frames whose `id:` is the cursor, resuming by Last-Event-ID, keep-alive
comments, credentials checked before the stream opens and at each keep-alive."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from tables import api_keys
from tables import events as outbox
from tests import live
from tests.conftest import TenantHandle
from tests.documents import CREATE_PRODUCT, payload, product_input

KEEPALIVE = 1.0
SETTLE = 0.3
"""Seconds for a new stream to reach its live wait (past its first reads of the table)."""

EVENTS = "subscription { events { cursor type } }"
RESUMABLE = "subscription Resume($after: String) { events(after: $after) { cursor type } }"
TENANT_SLUG = "{ tenant { slug } }"


@dataclasses.dataclass
class Frame:
    event: str | None = None
    id: str | None = None
    data: str | None = None
    comments: list[str] = dataclasses.field(default_factory=list)

    def json(self) -> Any:
        assert self.data is not None, self
        return orjson.loads(self.data)


class Frames:
    """The frames of a text/event-stream response, one at a time."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.aiter_lines()

    async def next(self, timeout: float = 15) -> Frame:
        return await asyncio.wait_for(self._frame(), timeout)

    async def data_frames(self, count: int, timeout: float = 15) -> list[Frame]:
        """The next `count` frames that are not comments."""
        found: list[Frame] = []
        deadline = time.monotonic() + timeout
        while len(found) < count:
            frame = await self.next(max(deadline - time.monotonic(), 0.01))
            if frame.event is not None:
                found.append(frame)
        return found

    async def _frame(self) -> Frame:
        frame = Frame()
        async for line in self.lines:
            if not line:
                if frame != Frame():
                    return frame
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "":
                frame.comments.append(value)
            elif name in ("event", "id"):
                setattr(frame, name, value)
            elif name == "data":
                frame.data = value if frame.data is None else f"{frame.data}\n{value}"
        raise AssertionError(f"the stream ended; last frame {frame}")


@pytest.fixture(scope="module")
async def stack(server_env: dict[str, str], tmp_path_factory: Any) -> AsyncIterator[live.Stack]:
    env = {"WS_KEEPALIVE_SECONDS": str(KEEPALIVE)}
    async with live.stack(server_env, tmp_path_factory.mktemp("sse"), env=env) as made:
        yield made


@contextlib.asynccontextmanager
async def opened(
    stack: live.Stack, query: str, key: str | None, *, variables: dict[str, Any] | None = None,
    method: str = "POST", **headers: str,
) -> AsyncIterator[tuple[httpx.Response, Frames]]:
    """The response to a stream request (its frames, when it streams)."""
    credential = {"authorization": f"Bearer {key}"} if key is not None else {}
    sent = {**credential, "accept": "text/event-stream", **headers}
    if method == "GET":
        params = {"query": query, **({"variables": orjson.dumps(variables).decode()} if variables else {})}
        request: dict[str, Any] = {"params": params}
    else:
        request = {"json": {"query": query, **({"variables": variables} if variables else {})}}
    async with httpx.AsyncClient(base_url=stack.api.url, timeout=20) as http:
        async with http.stream(method, "/graphql/stream", headers=sent, **request) as response:
            yield response, Frames(response)


async def create_product(tenant: TenantHandle, title: str = "Tee") -> None:
    sku = f"SKU-{uuid.uuid4().hex[:8]}"
    payload(await tenant.gql(CREATE_PRODUCT, {"input": product_input(title, [sku])}), "createProduct")


async def cursors(tenant: TenantHandle) -> list[str]:
    """Every event cursor of the tenant, in order."""
    return [str(e.seq) for e in await outbox.list_events(tenant_id=tenant.id, after_seq=0, limit=100)]


async def test_subscription_streams_next_frames_with_the_cursor_as_id(
    stack: live.Stack, tenant_a: TenantHandle
) -> None:
    async with opened(stack, EVENTS, tenant_a.key) as (response, frames):
        await asyncio.sleep(SETTLE)
        await create_product(tenant_a)
        [frame] = await frames.data_frames(1)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    event = frame.json()["data"]["events"]
    assert (frame.event, event["type"]) == ("next", "product.created")
    assert frame.id == event["cursor"] == (await cursors(tenant_a))[-1]


async def test_get_streams_like_an_event_source(stack: live.Stack, tenant_a: TenantHandle) -> None:
    async with opened(stack, EVENTS, tenant_a.key, method="GET") as (response, frames):
        await asyncio.sleep(SETTLE)
        await create_product(tenant_a)
        [frame] = await frames.data_frames(1)

    assert response.status_code == 200
    assert frame.json()["data"]["events"]["type"] == "product.created"


async def test_last_event_id_resumes_after_that_cursor(
    stack: live.Stack, tenant_a: TenantHandle
) -> None:
    for title in ("One", "Two", "Three"):
        await create_product(tenant_a, title)
    first, *rest = await cursors(tenant_a)

    async with opened(stack, RESUMABLE, tenant_a.key, **{"last-event-id": first}) as (_, frames):
        replayed = await frames.data_frames(len(rest))

    assert [f.id for f in replayed] == rest
    assert [f.json()["data"]["events"]["cursor"] for f in replayed] == rest


async def test_last_event_id_wins_over_the_after_the_stream_was_opened_with(
    stack: live.Stack, tenant_a: TenantHandle
) -> None:
    for title in ("One", "Two", "Three"):
        await create_product(tenant_a, title)
    first, second, *rest = await cursors(tenant_a)

    async with opened(
        stack, RESUMABLE, tenant_a.key, variables={"after": first}, method="GET",
        **{"last-event-id": second},
    ) as (_, frames):
        replayed = await frames.data_frames(len(rest))

    assert [f.id for f in replayed] == rest


async def test_last_event_id_is_ignored_without_an_after_variable(
    stack: live.Stack, tenant_a: TenantHandle
) -> None:
    await create_product(tenant_a, "Old")
    [old] = await cursors(tenant_a)

    async with opened(stack, EVENTS, tenant_a.key, **{"last-event-id": "0"}) as (_, frames):
        await asyncio.sleep(SETTLE)
        await create_product(tenant_a, "New")
        [frame] = await frames.data_frames(1)

    assert frame.id is not None and int(frame.id) > int(old)


async def test_idle_stream_sends_keepalive_comments(stack: live.Stack, tenant_a: TenantHandle) -> None:
    async with opened(stack, EVENTS, tenant_a.key) as (_, frames):
        frame = await frames.next(timeout=KEEPALIVE * 3)

    assert (frame.event, frame.comments) == (None, ["keep-alive"])


@pytest.mark.parametrize("key", ["tg_nosuchkey_0123456789abcdef", None], ids=["unknown", "missing"])
async def test_bad_credentials_answer_401_json(stack: live.Stack, key: str | None) -> None:
    async with opened(stack, EVENTS, key) as (response, _):
        await response.aread()

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["UNAUTHENTICATED"]


async def test_key_of_another_tenant_answers_403(
    stack: live.Stack, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    async with opened(stack, EVENTS, tenant_b.key, **{"x-tenant-id": tenant_a.slug}) as (response, _):
        await response.aread()

    assert response.status_code == 403


async def test_query_yields_one_next_then_complete(stack: live.Stack, tenant_a: TenantHandle) -> None:
    async with opened(stack, TENANT_SLUG, tenant_a.key) as (_, frames):
        result, done = await frames.data_frames(2)
        rest = [line async for line in frames.lines]

    assert (result.event, result.id) == ("next", None)
    assert result.json() == {"data": {"tenant": {"slug": tenant_a.slug}}}
    assert done.event == "complete"
    assert rest == []


async def test_mutation_is_refused_on_the_stream(stack: live.Stack, tenant_a: TenantHandle) -> None:
    variables = {"input": product_input("Lamp", ["LAMP-1"])}

    async with opened(stack, CREATE_PRODUCT, tenant_a.key, variables=variables) as (_, frames):
        result, done = await frames.data_frames(2)

    assert result.json().get("data") is None
    assert result.json()["errors"]
    assert done.event == "complete"
    assert await cursors(tenant_a) == []


async def test_revoked_key_ends_the_stream_with_an_error(
    stack: live.Stack, tenant_a: TenantHandle
) -> None:
    key, token = await api_keys.create(tenant_id=tenant_a.id, name="soon revoked", scopes={"admin"})

    async with opened(stack, EVENTS, token) as (_, frames):
        await frames.next(timeout=KEEPALIVE * 3)
        await api_keys.revoke(key.prefix, tenant_id=tenant_a.id)
        error, done = await frames.data_frames(2, timeout=KEEPALIVE * 4)

    assert error.event == "next"
    assert [e["extensions"]["code"] for e in error.json()["errors"]] == ["UNAUTHENTICATED"]
    assert done.event == "complete"
