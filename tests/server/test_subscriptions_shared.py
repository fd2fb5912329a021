"""Live subscriptions shared by identical operations (server.broadcast): which operations may
share one stream and its serialized results, that sharing never crosses tenants, scopes or
variables, and that a slow client of a group falls behind alone, told where to resume. And
keep-alive credential checks shared by the connections that hold one credential."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import orjson
import pytest
from strawberry.types import ExecutionResult

from domain import events, tenancy
from domain.config import Settings
from domain.errors import Forbidden
from server import auth, broadcast
from server.keepalive_checks import KeepAliveChecks
from server.ws_protocol import shared_key
from tests import live
from tests.conftest import TenantHandle
from tests.documents import CREATE_PRODUCT, UPDATE_PRODUCT, payload, product_input

EVENTS = "subscription { events { cursor type } }"
TYPED = "subscription Typed($types: [String!]) { events(types: $types) { cursor type } }"
SETTLE = 0.3
"""Seconds for a new subscription to reach its live wait (past its first reads of the table)."""


def caller(tenant_id: UUID, *scopes: str, modules: frozenset[str] = frozenset({"catalog"})) -> auth.Caller:
    tenant = tenancy.Tenant(id=tenant_id, slug="t", name="t", modules=modules, extensions=frozenset())
    principal = tenancy.Principal(subject="key", scopes=frozenset(scopes), tenant_id=tenant_id)
    return auth.Caller(tenant=tenant, principal=principal)


def sharing_key(caller: auth.Caller, payload: dict[str, Any]) -> Any:
    return shared_key(caller, payload, Settings().max_tokens)


def test_equal_live_subscriptions_share_a_key() -> None:
    tenant = uuid4()
    one = sharing_key(caller(tenant, "admin"), {"query": EVENTS})
    other = sharing_key(caller(tenant, "admin"), {"query": EVENTS, "variables": {}})

    assert one is not None
    assert one == other


def test_tenants_scopes_documents_and_variables_never_share_a_key() -> None:
    tenant = uuid4()
    base = sharing_key(caller(tenant, "admin"), {"query": TYPED, "variables": {"types": ["a"]}})
    others = [
        sharing_key(caller(uuid4(), "admin"), {"query": TYPED, "variables": {"types": ["a"]}}),
        sharing_key(caller(tenant, "catalog:read"), {"query": TYPED, "variables": {"types": ["a"]}}),
        sharing_key(caller(tenant, "admin", modules=frozenset({"catalog", "orders"})),
                   {"query": TYPED, "variables": {"types": ["a"]}}),
        sharing_key(caller(tenant, "admin"), {"query": TYPED, "variables": {"types": ["b"]}}),
        sharing_key(caller(tenant, "admin"), {"query": EVENTS}),
    ]

    assert base is not None
    assert all(other is not None and other != base for other in others)


@pytest.mark.parametrize("request_payload", [
    {"query": "subscription($after: String) { events(after: $after) { cursor } }"},
    {"query": 'subscription { events(after: "3") { cursor } }'},
    {"query": "{ tenant { slug } }"},
    {"query": "mutation { noSuchField }"},
    {"query": "subscription {"},
    {"query": EVENTS, "variables": ["not", "a", "map"]},
    {"query": "subscription { events { " + "cursor " * Settings().max_tokens + "} }"},
])
def test_cursors_queries_mutations_and_bad_documents_are_never_shared(
    request_payload: dict[str, Any],
) -> None:
    assert sharing_key(caller(uuid4(), "admin"), request_payload) is None


async def test_keep_alive_checks_of_one_credential_are_shared_for_a_moment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checked: list[tuple[str | None, str | None]] = []
    revoked = False

    async def authenticate(authorization: str | None, tenant: str | None, _: Settings) -> auth.Caller:
        checked.append((authorization, tenant))
        await asyncio.sleep(0)
        if revoked:
            raise Forbidden("revoked")
        return caller(uuid4(), "admin")

    monkeypatch.setattr(auth, "authenticate", authenticate)
    monkeypatch.setattr(KeepAliveChecks, "REUSE", 0.2)
    credentials = KeepAliveChecks(Settings())

    await asyncio.gather(*(credentials.check("Bearer a", "t") for _ in range(100)))
    await credentials.check("Bearer b", "t")
    await credentials.check("Bearer a", "other")
    assert checked == [("Bearer a", "t"), ("Bearer b", "t"), ("Bearer a", "other")]

    revoked = True
    await asyncio.sleep(0.25)
    with pytest.raises(Forbidden):
        await credentials.check("Bearer a", "t")
    with pytest.raises(Forbidden):
        await credentials.check("Bearer a", "t")
    assert len(checked) == 4


async def test_a_check_that_could_not_run_is_not_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[str] = []

    async def authenticate(authorization: str | None, tenant: str | None, _: Settings) -> auth.Caller:
        attempts.append("check")
        if len(attempts) == 1:
            raise ConnectionRefusedError("database restarting")
        return caller(uuid4(), "admin")

    monkeypatch.setattr(auth, "authenticate", authenticate)
    credentials = KeepAliveChecks(Settings())

    with pytest.raises(ConnectionRefusedError):
        await credentials.check("Bearer a", "t")
    await credentials.check("Bearer a", "t")  # within REUSE, yet checked again

    assert attempts == ["check", "check"]


@dataclasses.dataclass
class Outlet:
    """A connection that records what it was sent; a held one sends nothing until released."""

    sent: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    release: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    finished: list[str] = dataclasses.field(default_factory=list)

    async def send_text(self, text: str) -> None:
        await self.release.wait()
        self.sent.append(orjson.loads(text))

    def ended(self, op_id: str, member: broadcast.Member) -> None:
        self.finished.append(op_id)


class NoFeed:
    def listen(self, tenant_id: UUID) -> Any:
        return None


async def test_a_slow_member_gets_resync_required_and_the_others_everything() -> None:
    group_feed: list[Any] = []
    go = asyncio.Event()

    async def results(seqs: range) -> AsyncIterator[ExecutionResult]:
        await go.wait()
        listener = group_feed[0]
        listener.passed(seqs.start - 1)
        for seq in seqs:
            listener.passed(seq)
            yield ExecutionResult(data={"events": {"cursor": str(seq)}}, errors=None)
            await asyncio.sleep(0)

    async def start(feed: Any) -> AsyncIterator[ExecutionResult]:
        group_feed.append(feed)
        feed.listen(uuid4())
        return results(range(11, 21))

    groups = broadcast.Broadcasts(NoFeed(), buffer=3)  # type: ignore[arg-type]
    fast, slow = Outlet(), Outlet()
    fast.release.set()
    groups.join("key", fast, "f", "r1", start)
    groups.join("key", slow, "s", "r2", start)
    go.set()
    for _ in range(50):
        await asyncio.sleep(0)
    slow.release.set()
    for _ in range(50):
        await asyncio.sleep(0)

    assert [m["payload"]["data"]["events"]["cursor"] for m in fast.sent if m["type"] == "next"] == [
        str(seq) for seq in range(11, 21)
    ]
    assert fast.sent[-1] == {"type": "complete", "id": "f"}
    *delivered, error = slow.sent
    cursors = [int(m["payload"]["data"]["events"]["cursor"]) for m in delivered]
    assert error["type"] == "error" and error["id"] == "s"
    [detail] = error["payload"]
    assert detail["extensions"]["code"] == events.ResyncRequired.code
    resume_at = int(detail["extensions"]["cursor"])
    assert cursors == list(range(11, resume_at + 1))
    assert resume_at < 20
    assert slow.finished == ["s"]


@pytest.fixture(scope="module")
async def stack(server_env: dict[str, str], tmp_path_factory: Any) -> AsyncIterator[live.Stack]:
    async with live.stack(server_env, tmp_path_factory.mktemp("shared")) as made:
        yield made


async def create_product(tenant: TenantHandle) -> str:
    unique = uuid.uuid4().hex[:8]
    body = await tenant.gql(CREATE_PRODUCT, {"input": product_input(f"Tee {unique}", [f"S-{unique}"])})
    product_id: str = payload(body, "createProduct")["product"]["id"]
    return product_id


async def test_clients_of_one_tenant_each_get_every_event_and_another_tenant_none(
    stack: live.Stack, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    async with (
        live.connect(stack.api, tenant=tenant_a.slug, key=tenant_a.key) as first,
        live.connect(stack.api, tenant=tenant_a.slug, key=tenant_a.key) as second,
        live.connect(stack.api, tenant=tenant_b.slug, key=tenant_b.key) as other,
    ):
        await first.subscribe("1", EVENTS)
        await second.subscribe("2", EVENTS)
        await second.subscribe("3", EVENTS)
        await other.subscribe("1", EVENTS)
        await asyncio.sleep(SETTLE)
        await create_product(tenant_a)
        await create_product(tenant_a)
        got = [await first.results("1", 2, timeout=15), await second.results("2", 2, timeout=15),
               await second.results("3", 2, timeout=15)]
        leaked = await other.quiet(1.0)

    cursors = [[r["data"]["events"]["cursor"] for r in results] for results in got]
    assert cursors[0] == cursors[1] == cursors[2]
    assert int(cursors[0][1]) == int(cursors[0][0]) + 1
    assert [m for m in leaked if m.get("type") == "next"] == []


async def test_the_same_document_with_other_variables_gets_its_own_results(
    stack: live.Stack, tenant_a: TenantHandle
) -> None:
    async with (
        live.connect(stack.api, tenant=tenant_a.slug, key=tenant_a.key) as created,
        live.connect(stack.api, tenant=tenant_a.slug, key=tenant_a.key) as updated,
    ):
        await created.subscribe("c", TYPED, {"types": ["product.created"]})
        await updated.subscribe("u", TYPED, {"types": ["product.updated"]})
        await asyncio.sleep(SETTLE)
        product_id = await create_product(tenant_a)
        renamed = await tenant_a.gql(UPDATE_PRODUCT, {"id": product_id, "input": {"title": "New"}})
        payload(renamed, "updateProduct")
        [made] = await created.results("c", 1, timeout=15)
        [changed] = await updated.results("u", 1, timeout=15)
        later = [*await created.quiet(0.5), *await updated.quiet(0.5)]

    assert made["data"]["events"]["type"] == "product.created"
    assert changed["data"]["events"]["type"] == "product.updated"
    assert [m for m in later if m.get("type") == "next"] == []
