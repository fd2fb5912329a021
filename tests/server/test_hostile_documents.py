"""Hostile documents over HTTP, SSE and WebSocket: refused by a limit (not by running out of
the validation budget) with a 400 and a code, and a server process keeps answering other
tenants while one sends them. How much work the limits do is counted, not timed, in
tests/schema/test_document_limits.py."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from domain.config import Settings
from tests import hostile, live
from tests.conftest import GRAPHQL_CLIENT_ACCEPT, TenantHandle
from tests.documents import codes

WAIT = 30.0
"""Seconds a test waits for an answer before failing: a bound on the wait, not a speed goal."""
OVER_BUDGET = "ms of CPU time, the most allowed"
"""In the budget's message: a document refused by it was not refused by a limit."""
LARGEST_ACCEPTED = hostile.fragment_fanout(3, width=30)
"""1,862 field selections once expanded, under the default MAX_SELECTIONS of 2,000."""
TAGS = itertools.count()


async def post(tenant: TenantHandle, query: str) -> httpx.Response:
    return await tenant.client.post(
        "/graphql", json={"query": query}, headers={"authorization": f"Bearer {tenant.key}"}
    )


def message(response: httpx.Response) -> str:
    text: str = response.json()["errors"][0]["message"]
    return text


async def test_a_fragment_fan_out_is_refused_at_once(tenant_a: TenantHandle) -> None:
    response = await post(tenant_a, hostile.fragment_fanout(6))

    assert response.status_code == 400
    assert codes(response.json()) == ["GRAPHQL_VALIDATION_FAILED"]
    assert message(response).startswith("222222 field selections found with fragments expanded")


async def test_the_largest_accepted_fan_out_is_answered(tenant_a: TenantHandle) -> None:
    response = await post(tenant_a, LARGEST_ACCEPTED)

    assert response.status_code == 200
    assert response.json() == {"data": {"tenant": {"slug": tenant_a.slug}}}


async def test_max_selections_is_a_setting(
    client_for: Any, settings: Settings, tenant_a: TenantHandle
) -> None:
    small = client_for(dataclasses.replace(settings, max_selections=5))

    response = await small.post(
        "/graphql", json={"query": "{ tenant { id slug name modules extensions } }"},
        headers={"authorization": f"Bearer {tenant_a.key}", "accept": GRAPHQL_CLIENT_ACCEPT},
    )

    assert response.status_code == 400
    assert response.json()["errors"] == [{
        "message": "6 field selections found with fragments expanded (each spread counts its "
                   "fragment's fields again). Allowed: 5",
        "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
    }]


async def test_same_named_fields_beyond_the_limit_are_refused(tenant_a: TenantHandle) -> None:
    response = await post(tenant_a, hostile.same_field_siblings(100))

    assert response.status_code == 400
    assert message(response).startswith("9900 pairs of fields with the same response name found")
    assert "most at 'tenant'" in message(response)


async def test_a_fan_out_subscription_is_refused_on_the_event_stream(tenant_a: TenantHandle) -> None:
    response = await asyncio.wait_for(tenant_a.client.post(
        "/graphql/stream", json={"query": hostile.subscription_fanout(6)},
        headers={"authorization": f"Bearer {tenant_a.key}", "accept": "text/event-stream"},
    ), timeout=WAIT)  # an accepted subscription would stream until then

    assert "field selections found with fragments expanded" in response.text
    assert "GRAPHQL_VALIDATION_FAILED" in response.text


# A real server process.


@pytest.fixture(scope="module")
async def stack(
    server_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[live.Stack]:
    async with live.stack(server_env, tmp_path_factory.mktemp("hostile"), workers=0) as made:
        yield made


@pytest.mark.parametrize("shape", [s for s in hostile.SHAPES if not s.startswith("subscription")])
async def test_the_largest_of_each_hostile_shape_is_refused_at_once(
    stack: live.Stack, tenant_a: TenantHandle, shape: str
) -> None:
    make, sizes = hostile.SHAPES[shape]

    async with httpx.AsyncClient(base_url=stack.api.url, timeout=WAIT) as http:
        response = await http.post(
            "/graphql", json={"query": make(sizes[-1], tag=str(next(TAGS)))},
            headers={"authorization": f"Bearer {tenant_a.key}", "accept": GRAPHQL_CLIENT_ACCEPT},
        )

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/graphql-response+json; charset=utf-8"
    assert set(codes(response.json())) <= {"GRAPHQL_VALIDATION_FAILED", "GRAPHQL_PARSE_FAILED"}
    assert not any(OVER_BUDGET in error["message"] for error in response.json()["errors"])


VICTIM_ANSWERS = 10
"""Answers the other tenant must get while hostile documents keep arriving."""


@dataclasses.dataclass
class Victim:
    answers: list[Any] = dataclasses.field(default_factory=list)
    during: int = 0
    """Answers that came while the attack was sending (between its first and last round)."""


async def poll(api: live.Api, tenant: TenantHandle, victim: Victim, attacking: asyncio.Event,
               stop: asyncio.Event) -> None:
    """The other tenant's query and /healthz, every 50 ms."""
    async with httpx.AsyncClient(base_url=api.url, timeout=WAIT) as http:
        while not stop.is_set():
            response = await http.post(
                "/graphql", json={"query": "{ tenant { slug } }"},
                headers={"authorization": f"Bearer {tenant.key}"},
            )
            health = await http.get("/healthz")
            victim.answers.append((response.status_code, response.json(), health.status_code))
            victim.during += attacking.is_set() and not stop.is_set()
            await asyncio.sleep(0.05)


async def attack(api: live.Api, tenant: TenantHandle, victim: Victim, attacking: asyncio.Event
                 ) -> list[tuple[str, int, Any]]:
    """Until the victim has been answered VICTIM_ANSWERS times meanwhile, documents no cache has
    seen: the issue's fan-out, many same-named fields (the shape that makes overlapping-field
    merging slow), and the largest accepted fan-out."""
    answers = []
    deadline = time.monotonic() + 3 * WAIT
    async with httpx.AsyncClient(base_url=api.url, timeout=WAIT) as http:
        while not answers or victim.during < VICTIM_ANSWERS:
            assert time.monotonic() < deadline, f"the other tenant was answered {victim.during} times"
            tag = str(next(TAGS))
            for kind, query in [
                ("fan-out", hostile.fragment_fanout(10, tag=tag)),
                ("siblings", hostile.same_field_siblings(40, tag=tag)),
                ("accepted", LARGEST_ACCEPTED.replace("query Fanout", f"query Fanout{tag}")),
            ]:
                response = await http.post(
                    "/graphql", json={"query": query},
                    headers={"authorization": f"Bearer {tenant.key}", "accept": GRAPHQL_CLIENT_ACCEPT},
                )
                answers.append((kind, response.status_code, response.json()))
                attacking.set()
    return answers


async def test_another_tenant_is_answered_while_hostile_documents_arrive(
    stack: live.Stack, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    victim = Victim()
    attacking, stop = asyncio.Event(), asyncio.Event()
    polling = asyncio.create_task(poll(stack.api, tenant_b, victim, attacking, stop))
    try:
        answers = await attack(stack.api, tenant_a, victim, attacking)
    finally:
        stop.set()
        await polling

    assert {(kind, status) for kind, status, _ in answers} == {
        ("fan-out", 400), ("siblings", 200), ("accepted", 200)
    }
    assert all(a == (200, {"data": {"tenant": {"slug": tenant_b.slug}}}, 200) for a in victim.answers)
    assert victim.during >= VICTIM_ANSWERS


async def test_a_fan_out_subscription_is_refused_on_a_websocket(
    stack: live.Stack, tenant_a: TenantHandle
) -> None:
    async with live.connect(stack.api, tenant=tenant_a.slug, key=tenant_a.key) as socket:
        await socket.subscribe("1", hostile.subscription_fanout(10))
        answer = await socket.message("1", timeout=WAIT)

    assert answer["type"] == "error"
    assert "field selections found with fragments expanded" in answer["payload"][0]["message"]
    assert answer["payload"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_a_fragment_cycle_through_a_field_is_refused_at_once(
    stack: live.Stack, tenant_a: TenantHandle
) -> None:
    """A cycle through a field (`tenant { ...A }` inside A) expands without end: it is refused
    before anything expands it, and the process goes on answering."""
    cyclic = "{ ...A } fragment A on Query { tenant { ...B } } fragment B on Tenant { ...A }"
    async with httpx.AsyncClient(base_url=stack.api.url, timeout=WAIT) as http:
        response = await http.post(
            "/graphql", json={"query": cyclic},
            headers={"authorization": f"Bearer {tenant_a.key}", "accept": GRAPHQL_CLIENT_ACCEPT},
        )
        health = await http.get("/healthz")

    assert response.status_code == 400
    assert codes(response.json()) == ["GRAPHQL_VALIDATION_FAILED"]
    assert message(response) == "Cannot spread fragment 'A' within itself."
    assert health.status_code == 200
