"""Every Relay connection pages both ways: first/after and last/before give the same sequence,
hasNextPage/hasPreviousPage are right at both ends in all four directions, totalCount counts
what the filters and the tenant select (never another tenant's rows, API and RLS)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from domain import catalog, customers, outbound, pricing
from services import catalog as catalog_services
from services import customers as customer_services
from services import pricing as pricing_services
from tables import api_keys, counting, outbound_messages
from tests import outbound as out
from tests import webhooks as hooks
from tests.documents import META, payload
from tests.shipments import SHIPPING_MODULES, paid_order, ship, ship_lines
from tests.shop import Shop, open_shop, payment_document

MODULES = (*SHIPPING_MODULES, "pricing", "metrics")
RECORD = """mutation R($input: MetricInput!) { recordMetric(input: $input) { errors { message } } }"""
PAGE_INFO = "pageInfo { hasNextPage hasPreviousPage startCursor endCursor }"


@dataclasses.dataclass(frozen=True)
class Case:
    """A connection: where it sits (`path` to it in the data), its field with arguments
    spliced in, and the variables it needs besides the page ones."""

    name: str
    head: str
    field: str
    extra: str = ""
    node: str = "id"
    """A field whose values no other tenant's rows share."""

    @property
    def path(self) -> list[str]:
        return [*([self.head.split("(")[0].strip()] if self.head else []), self.field.split("(")[0]]

    def document(self) -> str:
        page = "first: $first, after: $after, last: $last, before: $before"
        call = (self.field.replace("(", f"({page}, ", 1) if "(" in self.field
                else f"{self.field}({page})")
        inner = f"{call} {{ totalCount edges {{ cursor node {{ mine: {self.node} }} }} {PAGE_INFO} }}"
        body = f"{self.head} {{ {inner} }}" if self.head else inner
        return (f"query C($first: Int, $after: String, $last: Int, $before: String{self.extra}) "
                f"{{ {body} }}")


CASES = [
    Case("products", "", "products"),
    Case("products by title desc", "", "products(orderBy: {field: TITLE, direction: DESC})"),
    Case("orders", "", "orders"),
    Case("orders by total desc", "", "orders(orderBy: {field: TOTAL, direction: DESC})"),
    Case("customer orders", "customer(id: $customer)", "orders", ", $customer: ID!"),
    Case("customers", "", "customers"),
    Case("price lists", "", "priceLists"),
    Case("payments", "", "payments"),
    Case("shipments", "", "shipments"),
    Case("stock levels", "", "stockLevels"),
    Case("stock levels by available", "", "stockLevels(orderBy: {field: AVAILABLE})"),
    Case("stock adjustments", "", "stockAdjustments"),
    Case("webhook deliveries", "", "webhookDeliveries"),
    Case("metric points", "", "metricPoints"),
    Case("audit log", "", "auditLog", node="seq"),
    Case("event log", "", "eventLog", node="aggregateId"),
    Case("webhook messages", "", "webhookMessages"),
    Case("webhook attempts", "", "webhookAttempts(messageId: $message)", ", $message: ID!"),
]
ATTEMPTED: dict[UUID, UUID] = {}
"""Each shop's outbound message that has attempts (`$message`)."""


async def _stocked(make_tenant: Any, orders: int, prefix: str) -> Shop:
    """A shop with `orders` paid orders, each with a payment and a shipment, a pending order,
    extra products,
    customers and price lists: every connection has several pages of two."""
    shop = await open_shop(make_tenant, modules=MODULES, prefix=prefix)
    endpoint_id, _ = await out.endpoint(shop.id, "https://hooks.example/x", ["*"])
    for n in range(orders):
        order = await paid_order(shop, shop.line("MUG", 1))
        payload(await shop.gql(payment_document("authorizePayment"), {"input": {
            "orderId": order["id"], "amount": {"amount": 100 + n, "currency": "EUR"}}}),
            "authorizePayment")
        await ship(shop, order["id"], ship_lines(order, 1))
    await shop.place(shop.line("TEE-S", 1))  # pending: filters by status leave it out
    for n in range(orders):
        await catalog_services.create_product(
            catalog.ProductDraft(title=f"Extra {n}", handle=f"extra-{n}"), [],
            tenant_id=shop.id, meta=META,
        )
        await customer_services.create_customer(
            customers.CustomerDraft(email=f"c{n}@{shop.tenant.tenant.slug}.example"), [],
            tenant_id=shop.id, meta=META,
        )
        await pricing_services.create_price_list(
            pricing.PriceListDraft(name=f"List {n}", handle=f"list-{n}", currency="EUR"),
            tenant_id=shop.id, meta=META,
        )
        recorded = await shop.gql(RECORD, {"input": {"name": f"visits.{prefix[0].lower()}", "value": str(n)}})
        assert recorded["data"]["recordMetric"]["errors"] == [], recorded
        await api_keys.create(tenant_id=shop.id, name=f"reader {n}", scopes={"catalog:read"})
        stored = await hooks.store(tenant_id=shop.id, flow="purchase-flow", delivery_id=f"d-{n}",
                                   payload={"n": n}, correlation_id=f"c-{n}")
        # processed, as a worker leaves it: a queued row is the workers' poll's to apply
        await hooks.mark_processed(stored.id, tenant_id=shop.id)
    await outbound_messages.dispatch(tenant_id=shop.id, limit=1000, match=outbound.matches)
    await _attempted(shop.id, endpoint_id, attempts=orders)
    # listed, never sent: a worker of a later test would otherwise try every message
    await out.rows("update outbound_endpoints set enabled = false where id = $1", endpoint_id,
                   tenant_id=shop.id)
    return shop


async def _attempted(tenant_id: UUID, endpoint_id: UUID, attempts: int) -> None:
    """`attempts` attempts of the endpoint's first message, a second apart."""
    first = await out.row("select id from outbound_messages where endpoint_id = $1 order by event_seq"
                          " limit 1", endpoint_id, tenant_id=tenant_id)
    for n in range(attempts):
        await out.rows(
            "insert into outbound_attempts (tenant_id, message_id, endpoint_id, attempted_at,"
            " duration_ms, response_status) values ($1, $2, $3, now() - make_interval(secs => $4), 5, 500)",
            tenant_id, first["id"], endpoint_id, float(n), tenant_id=tenant_id,
        )
    ATTEMPTED[tenant_id] = first["id"]


@pytest.fixture
async def shops(make_tenant: Any) -> tuple[Shop, Shop]:
    return await _stocked(make_tenant, 3, "A-"), await _stocked(make_tenant, 1, "B-")


def _connection(case: Case, body: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in body, body
    found: dict[str, Any] = body["data"]
    for key in case.path:
        found = found[key]
    return found


async def _page(shop: Shop, case: Case, **variables: Any) -> dict[str, Any]:
    extra = {"customer": str(shop.customer_id)} if "$customer" in case.extra else {}
    if "$message" in case.extra:
        extra["message"] = str(ATTEMPTED[shop.id])
    return _connection(case, await shop.gql(case.document(), {**extra, **variables}))


def _ids(page: dict[str, Any]) -> list[str]:
    """The rows of a page, by their cursors (every row's is its own; some nodes have no id)."""
    return [edge["cursor"] for edge in page["edges"]]


async def _forward(shop: Shop, case: Case) -> list[str]:
    seen: list[str] = []
    page = await _page(shop, case, first=2)
    assert page["pageInfo"]["hasPreviousPage"] is False
    while True:
        seen += _ids(page)
        info = page["pageInfo"]
        assert info["startCursor"] == (page["edges"][0]["cursor"] if page["edges"] else None)
        assert info["endCursor"] == (page["edges"][-1]["cursor"] if page["edges"] else None)
        if not info["hasNextPage"]:
            return seen
        page = await _page(shop, case, first=2, after=info["endCursor"])
        assert page["pageInfo"]["hasPreviousPage"] is True  # the cursor's own row is before it


async def _backward(shop: Shop, case: Case) -> list[str]:
    seen: list[str] = []
    page = await _page(shop, case, last=2)
    assert page["pageInfo"]["hasNextPage"] is False
    while True:
        seen = _ids(page) + seen
        info = page["pageInfo"]
        if not info["hasPreviousPage"]:
            return seen
        page = await _page(shop, case, last=2, before=info["startCursor"])
        assert page["pageInfo"]["hasNextPage"] is True  # the cursor's own row is after it


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_forward_and_backward_pages_give_the_same_sequence(
    shops: tuple[Shop, Shop], case: Case
) -> None:
    a, b = shops
    whole = await _page(a, case, first=100)
    assert not whole["pageInfo"]["hasNextPage"] and not whole["pageInfo"]["hasPreviousPage"]
    everything = _ids(whole)
    assert len(everything) >= 3, "the case needs more than one page of two"
    assert await _forward(a, case) == everything
    assert await _backward(a, case) == everything
    assert whole["totalCount"] == len(everything)
    assert (await _page(a, case, last=100))["edges"] == whole["edges"]
    # tenant B's count is its own rows only, and none of them is in A's pages
    theirs = await _page(b, case, first=100)
    assert theirs["totalCount"] == len(_ids(theirs)) >= 1
    shared = {e["node"]["mine"] for e in theirs["edges"]} & {e["node"]["mine"] for e in whole["edges"]}
    assert not shared, (shared, theirs)


@pytest.mark.parametrize("case", CASES[:1] + CASES[2:3], ids=["products", "orders"])
async def test_a_page_in_the_middle_both_ways(shops: tuple[Shop, Shop], case: Case) -> None:
    a, _ = shops
    everything = _ids(await _page(a, case, first=100))
    whole = await _page(a, case, first=100)
    cursors = [edge["cursor"] for edge in whole["edges"]]
    middle = await _page(a, case, first=1, after=cursors[0])
    assert _ids(middle) == everything[1:2]
    assert middle["pageInfo"]["hasPreviousPage"] and middle["pageInfo"]["hasNextPage"]
    back = await _page(a, case, last=1, before=cursors[2])
    assert _ids(back) == everything[1:2]
    assert back["pageInfo"]["hasPreviousPage"] and back["pageInfo"]["hasNextPage"]
    edge = await _page(a, case, last=5, before=cursors[1])
    assert _ids(edge) == everything[:1] and not edge["pageInfo"]["hasPreviousPage"]
    assert edge["totalCount"] == len(everything)


FILTERED = [
    ("orders", "orders(filter: {status: $status})", ", $status: OrderStatus", {"status": "PAID"}),
    ("products", "products(filter: {search: $search})", ", $search: String", {"search": "Extra"}),
    ("stock levels", "stockLevels(filter: {availableBelow: $below})", ", $below: Int", {"below": 1000}),
    ("payments", "payments(filter: {orderId: $order})", ", $order: ID", None),
]


@pytest.mark.parametrize("name,field,extra,variables", FILTERED, ids=[f[0] for f in FILTERED])
async def test_total_count_counts_what_the_filter_selects(
    shops: tuple[Shop, Shop], name: str, field: str, extra: str, variables: dict[str, Any] | None
) -> None:
    a, _ = shops
    if variables is None:  # one order's payments
        found = await a.gql("{ payments(first: 1) { edges { node { orderId } } } }")
        variables = {"order": found["data"]["payments"]["edges"][0]["node"]["orderId"]}
    case = Case(name, "", field, extra)
    found = _connection(case, await a.gql(case.document(), {"first": 100, **variables}))
    plain = Case(name, "", field.split("(")[0])
    unfiltered = _connection(plain, await a.gql(plain.document(), {"first": 100}))
    assert found["totalCount"] == len(found["edges"]) >= 1
    if name != "stock levels":
        assert found["totalCount"] < unfiltered["totalCount"]
    backward = _connection(case, await a.gql(case.document(), {"last": 1, **variables}))
    assert backward["totalCount"] == found["totalCount"]


async def test_row_level_security_bounds_a_count_without_a_tenant_predicate(
    shops: tuple[Shop, Shop],
) -> None:
    a, b = shops
    mine = await counting.count_select("select id from orders", [], tenant_id=a.id)
    theirs = await counting.count_select("select id from orders", [], tenant_id=b.id)
    assert (mine, theirs) == (4, 2)


@pytest.mark.parametrize("variables,field,message", [
    ({"first": 2, "last": 2}, "last", "use one pair"),
    ({"after": "x", "last": 2}, "last", "use one pair"),
    ({"first": 1, "before": "x"}, "before", "use one pair"),
    ({"last": 101}, "last", "last must be between 0 and 100"),
    ({"last": -1}, "last", "last must be between 0 and 100"),
    ({"last": 1, "before": "not-a-cursor"}, "before", "before: not a cursor"),
])
async def test_bad_page_arguments_are_refused_saying_which(
    shops: tuple[Shop, Shop], variables: dict[str, Any], field: str, message: str
) -> None:
    a, _ = shops
    body = await a.gql(CASES[0].document(), variables)
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", body
    assert message in error["message"]
    assert body["data"] is None


async def test_a_cursor_of_another_ordering_is_refused_as_before(shops: tuple[Shop, Shop]) -> None:
    a, _ = shops
    cursor = (await _page(a, CASES[0], first=1))["edges"][0]["cursor"]
    body = await a.gql(CASES[1].document(), {"last": 1, "before": cursor})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert body["errors"][0]["message"] == "before: cursor belongs to another ordering"


PLATFORM_TRAIL = """query P($first: Int, $after: String, $last: Int, $before: String, $since: DateTime) {
  platformAuditLog(first: $first, after: $after, last: $last, before: $before,
                   filter: {since: $since}) {
    totalCount edges { cursor node { seq targetId } } pageInfo { hasNextPage hasPreviousPage } } }"""


async def test_the_platform_trail_pages_both_ways(make_tenant: Any, platform_key: str) -> None:
    since = datetime.now(UTC).isoformat()
    made = [await make_tenant() for _ in range(3)]
    via = made[0]

    async def page(**variables: Any) -> dict[str, Any]:
        body = await via.gql(PLATFORM_TRAIL, {"since": since, **variables}, key=platform_key,
                             headers={"x-tenant-id": via.tenant.slug})
        assert "errors" not in body, body
        found: dict[str, Any] = body["data"]["platformAuditLog"]
        return found

    whole = await page(first=100)
    assert {str(t.tenant.id) for t in made} <= {e["node"]["targetId"] for e in whole["edges"]}
    assert whole["totalCount"] == len(whole["edges"]) >= 3
    backward: list[str] = []
    found = await page(last=1)
    while True:
        backward = [e["cursor"] for e in found["edges"]] + backward
        if not found["pageInfo"]["hasPreviousPage"]:
            break
        found = await page(last=1, before=found["edges"][0]["cursor"])
        assert found["pageInfo"]["hasNextPage"]
    assert backward == [e["cursor"] for e in whole["edges"]]
