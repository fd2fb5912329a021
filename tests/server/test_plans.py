"""Planned reads answer exactly as the resolvers do.

Each case is sent twice with the same text: the first request is answered by Strawberry (and
teaches the planner the document), the second by the planner when the document is
plannable. The two bodies must be equal. Every case also proves which path answered it, so
that a planner that silently falls back cannot pass for a correct one.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import uuid
from typing import Any

import asyncpg
import pytest

from domain import catalog, tenancy
from domain.config import Settings
from schema.build import SchemaCache
from server import plans, prometheus
from services import catalog as catalog_services
from services import pricing as pricing_services
from tables import pricing as pricing_tables
from telemetry import metrics
from tests.documents import META
from tests.shop import MODULES, Shop, open_shop

PRICED = (*MODULES, "pricing")
COUNTER = itertools.count()
BUDGET = Settings.validation_budget_ms / 1000

PRODUCT = """query P($id: ID!) { product(id: $id) {
  id title handle description status __typename createdAt updatedAt
  variants { id productId sku title active price { amount currency } } } }"""
PRICED_PRODUCT = """query P($id: ID!) { product(id: $id) {
  id variants { sku price { amount currency __typename } compareAtPrice { amount currency } } } }"""
PRODUCTS = """query L($first: Int, $after: String, $orderBy: ProductOrder) {
  products(first: $first, after: $after, orderBy: $orderBy) {
    __typename
    edges { __typename cursor node { id handle variants { sku } } }
    pageInfo { __typename hasNextPage hasPreviousPage startCursor endCursor } } }"""
ORDER = """query O($id: ID!) { order(id: $id) {
  id number status currency priceListId
  subtotal { amount currency } discountTotal { amount } taxTotal { amount } total { amount currency }
  createdAt updatedAt
  customer { id email firstName lastName name phone tags createdAt }
  lines { id sku title quantity unitPrice { amount currency } discount { amount }
          lineTotal { amount } variant { id sku price { amount } } } } }"""
ORDERS = """query L($first: Int, $after: String, $orderBy: OrderOrder) {
  orders(first: $first, after: $after, orderBy: $orderBy) {
    edges { cursor node { id number status total { amount currency } customer { email }
            lines { sku quantity unitPrice { amount } variant { id sku } } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"""
ALIASES = """query A($id: ID!, $other: ID!) {
  __typename
  first: product(id: $id) { ...Head cheap: variants { sku } }
  second: product(id: $other) { ... on Product { title } }
  page: orders(first: 2) { rows: edges { at: cursor n: node { ...Num } m: node { total { amount } } } }
}
fragment Head on Product { key: id title handle variants { id } }
fragment Num on Order { number no: number id }"""
TWO_OPERATIONS = """query First { orders(first: 1) { edges { node { number } } } }
query Second($id: ID!) { product(id: $id) { title } }"""


@dataclasses.dataclass
class World:
    a: Shop
    b: Shop
    empty_product: str
    a_orders: list[dict[str, Any]]
    b_order: dict[str, Any]


@pytest.fixture
async def world(make_tenant: Any) -> World:
    a = await open_shop(make_tenant, prefix="A-", modules=PRICED)
    b = await open_shop(make_tenant)
    await pricing_services.set_compare_at(
        a.variants["TEE-S"], catalog.Money(2000, "EUR"), tenant_id=a.id, meta=META
    )
    # written past the rules (at or below the price): the read side must not show it
    await pricing_tables.update_compare_at(a.variants["MUG"], catalog.Money(800, "EUR"), tenant_id=a.id)
    empty = await catalog_services.create_product(
        catalog.ProductDraft(title="Nothing yet", handle="nothing-yet"), [], tenant_id=a.id, meta=META
    )
    a_orders = [
        await a.place(a.line("TEE-S", 2), a.line("MUG", 1)),
        await a.place(a.line("MUG", 3)),
        await a.place(a.line("TEE-M", 1)),
    ]
    anonymous = await a.gql(
        "mutation($input: OrderCreateInput!) { createOrder(input: $input) { order { id number } } }",
        {"input": {"lines": [a.line("MUG", 1)]}},
    )
    a_orders.append(anonymous["data"]["createOrder"]["order"])
    b_order = await b.place(b.line("MUG", 1))
    return World(a=a, b=b, empty_product=str(empty.id), a_orders=a_orders, b_order=b_order)


def _unique(query: str) -> str:
    return f"{query}\n# case {next(COUNTER)}"


async def _both(shop: Shop, query: str, variables: dict[str, Any], **kw: Any) -> tuple[Any, Any]:
    """(Strawberry's body, the second request's body) for one new document text."""
    first = await shop.tenant.post(query, variables, **kw)
    second = await shop.tenant.post(query, variables, **kw)
    assert second.status_code == first.status_code
    return first.json(), second.json()


async def _planned(shop: Shop, settings: Settings, query: str, variables: dict[str, Any]) -> Any:
    """The planner's own answer, or None when it leaves the request to Strawberry."""
    schema = SchemaCache(settings).for_tenant(shop.tenant.tenant).schema
    plan = plans.make_plan(schema._schema, query, None, BUDGET)
    if plan is None:
        return None
    principal = _admin(shop)
    found = await plans.run(plan, schema._schema, plans.Request(
        tenant_id=shop.id, principal=principal, price_list=None, variables=variables,
        max_page_size=settings.max_page_size,
    ))
    return None if found is None else json.loads(found)


def _admin(shop: Shop) -> tenancy.Principal:
    return tenancy.Principal(subject="key:test", scopes=frozenset({"admin"}), tenant_id=shop.id)


async def _same(shop: Shop, settings: Settings, query: str, variables: dict[str, Any]) -> Any:
    """Both paths agree, and the planner really answered."""
    text = _unique(query)
    strawberry_body, second = await _both(shop, text, variables)
    assert "errors" not in strawberry_body, strawberry_body
    assert second == strawberry_body
    assert await _planned(shop, settings, text, variables) == strawberry_body["data"]
    return strawberry_body["data"]


async def test_product_with_variants_prices_and_compare_at(world: World, settings: Settings) -> None:
    tee = (await world.a.gql("{ productBySku(sku: \"A-TEE-S\") { id } }"))["data"]["productBySku"]["id"]
    data = await _same(world.a, settings, PRODUCT, {"id": tee})
    assert [v["sku"] for v in data["product"]["variants"]] == ["A-TEE-S", "A-TEE-M"]
    data = await _same(world.a, settings, PRICED_PRODUCT, {"id": tee})
    assert data["product"]["variants"][0]["compareAtPrice"] == {"amount": 2000, "currency": "EUR"}
    assert data["product"]["variants"][1]["compareAtPrice"] is None


async def test_product_not_found_empty_variants_and_other_tenant(world: World, settings: Settings) -> None:
    assert (await _same(world.a, settings, PRODUCT, {"id": str(uuid.uuid4())})) == {"product": None}
    data = await _same(world.a, settings, PRODUCT, {"id": world.empty_product})
    assert data["product"]["variants"] == []
    b_product = (await world.b.gql("{ productBySku(sku: \"MUG\") { id } }"))["data"]["productBySku"]["id"]
    assert (await _same(world.a, settings, PRODUCT, {"id": b_product})) == {"product": None}


async def test_orders_with_lines_variants_and_customer(world: World, settings: Settings) -> None:
    for order in world.a_orders:
        data = await _same(world.a, settings, ORDER, {"id": order["id"]})
        assert data["order"]["id"] == order["id"]
    anonymous = await _same(world.a, settings, ORDER, {"id": world.a_orders[-1]["id"]})
    assert anonymous["order"]["customer"] is None
    assert (await _same(world.a, settings, ORDER, {"id": world.b_order["id"]})) == {"order": None}


@pytest.mark.parametrize("order_by", [
    None, {"field": "NUMBER", "direction": "DESC"}, {"field": "TOTAL"},
    {"field": "CREATED_AT", "direction": "DESC"},
])
async def test_orders_pages_and_cursors(world: World, settings: Settings, order_by: Any) -> None:
    variables: dict[str, Any] = {"first": 2, "orderBy": order_by}
    first = await _same(world.a, settings, ORDERS, variables)
    assert len(first["orders"]["edges"]) == 2 and first["orders"]["pageInfo"]["hasNextPage"]
    after = first["orders"]["pageInfo"]["endCursor"]
    rest = await _same(world.a, settings, ORDERS, {**variables, "first": 10, "after": after})
    assert len(rest["orders"]["edges"]) == 2 and not rest["orders"]["pageInfo"]["hasNextPage"]
    empty = await _same(world.a, settings, ORDERS, {**variables, "first": 0})
    assert empty["orders"]["edges"] == [] and empty["orders"]["pageInfo"]["endCursor"] is None


@pytest.mark.parametrize("order_by", [None, {"field": "HANDLE", "direction": "DESC"}])
async def test_products_pages_and_cursors(world: World, settings: Settings, order_by: Any) -> None:
    first = await _same(world.a, settings, PRODUCTS, {"first": 1, "orderBy": order_by})
    after = first["products"]["edges"][0]["cursor"]
    rest = await _same(world.a, settings, PRODUCTS, {"first": 5, "after": after, "orderBy": order_by})
    assert len(rest["products"]["edges"]) == 2 and rest["products"]["pageInfo"]["hasPreviousPage"]


async def test_aliases_fragments_and_typename(world: World, settings: Settings) -> None:
    tee = (await world.a.gql("{ productBySku(sku: \"A-MUG\") { id } }"))["data"]["productBySku"]["id"]
    data = await _same(world.a, settings, ALIASES, {"id": tee, "other": world.empty_product})
    assert data["__typename"] == "Query" and data["first"]["key"] == tee
    assert list(data["page"]["rows"][0]["n"]) == ["number", "no", "id"]


async def test_a_lone_typename(world: World, settings: Settings) -> None:
    assert await _same(world.a, settings, "{ __typename }", {}) == {"__typename": "Query"}


async def test_a_plan_knows_its_operation_type_and_name(world: World, settings: Settings) -> None:
    schema = SchemaCache(settings).for_tenant(world.a.tenant.tenant).schema._schema
    second = plans.make_plan(schema, TWO_OPERATIONS, "Second", BUDGET)
    anonymous = plans.make_plan(schema, "{ __typename }", None, BUDGET)
    assert second is not None and (second.kind, second.name) == ("query", "Second")
    assert anonymous is not None and (anonymous.kind, anonymous.name) == ("query", None)


async def test_a_planned_read_is_not_parsed_again_for_its_metrics(world: World) -> None:
    """The plan carries the operation's type and name: metrics read them from it."""
    query = _unique("query PlannedName { __typename }")
    slug = world.a.tenant.slug
    # The labels as the metrics give them (past their caps in a long session: "other").
    name = metrics.operation_name("PlannedName", slug, admit=True)
    planned = metrics._operations("query", name, metrics.tenant_label(slug), "true")
    assert (await world.a.tenant.post(query)).status_code == 200  # Strawberry answers, then plans
    before = (prometheus._cached_operation_of.cache_info(), planned._value.get())

    assert (await world.a.tenant.post(query)).status_code == 200

    assert planned._value.get() == before[1] + 1
    assert prometheus._cached_operation_of.cache_info() == before[0]


async def test_the_same_document_for_two_tenants(world: World, settings: Settings) -> None:
    """Tenants without pricing share no plan with tenants with it; each sees its own rows."""
    a = await _same(world.a, settings, ORDERS, {"first": 50})
    b = await _same(world.b, settings, ORDERS, {"first": 50})
    assert {e["node"]["id"] for e in b["orders"]["edges"]} == {world.b_order["id"]}
    assert not {e["node"]["id"] for e in a["orders"]["edges"]} & {world.b_order["id"]}
    b_mug = (await world.b.gql("{ productBySku(sku: \"MUG\") { id } }"))["data"]["productBySku"]["id"]
    plain_price = await _same(world.b, settings, PRODUCT, {"id": b_mug})  # Variant.price without pricing
    assert plain_price["product"]["variants"][0]["price"] == {"amount": 800, "currency": "EUR"}


async def test_tenant_b_ids_through_tenant_a_plans(world: World, settings: Settings) -> None:
    """A's learned plan, run with B's ids under A's key, gives what the resolvers give: null."""
    text = _unique(ORDER)
    await world.a.tenant.post(text, {"id": world.a_orders[0]["id"]})
    body = await world.a.gql(text, {"id": world.b_order["id"]})
    assert body == {"data": {"order": None}}
    assert await _planned(world.a, settings, text, {"id": world.b_order["id"]}) == {"order": None}


@pytest.mark.parametrize(("variables", "code"), [
    ({"first": 2, "after": "not-a-cursor"}, "BAD_USER_INPUT"),
    ({"first": 1000}, "BAD_USER_INPUT"),
    ({"first": "two"}, None),
])
async def test_bad_arguments_fall_back_to_the_same_errors(
    world: World, settings: Settings, variables: dict[str, Any], code: str | None
) -> None:
    text = _unique(ORDERS)
    await world.a.tenant.post(text, {"first": 1})  # learned
    reference = await world.a.tenant.post(text + "\n", variables)  # another text: Strawberry answers
    response = await world.a.tenant.post(text, variables)
    assert response.status_code == reference.status_code
    assert _without_request_id(response.json()) == _without_request_id(reference.json())
    if code is not None:
        assert response.json()["errors"][0]["extensions"]["code"] == code


async def test_missing_scope_and_price_list_fall_back(world: World, settings: Settings) -> None:
    text = _unique(ORDER)
    order_id = world.a_orders[0]["id"]
    await world.a.tenant.post(text, {"id": order_id})
    orders_only = await world.a.tenant.key_with("orders:read")
    reference = await world.a.gql(text + "\n", {"id": order_id}, key=orders_only)
    body = await world.a.gql(text, {"id": order_id}, key=orders_only)
    assert _without_request_id(body) == _without_request_id(reference)
    assert reference["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    priced = _unique(PRICED_PRODUCT)
    tee = (await world.a.gql("{ productBySku(sku: \"A-TEE-S\") { id } }"))["data"]["productBySku"]["id"]
    await world.a.tenant.post(priced, {"id": tee})
    unknown = {"x-price-list": "no-such-list"}
    reference = await world.a.gql(priced + "\n", {"id": tee}, headers=unknown)
    assert _without_request_id(await world.a.gql(priced, {"id": tee}, headers=unknown)) == (
        _without_request_id(reference)
    )
    assert reference["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_timestamps_with_and_without_microseconds(
    world: World, settings: Settings, owner_dsn: str
) -> None:
    order_id = world.a_orders[1]["id"]
    connection = await asyncpg.connect(owner_dsn)
    try:
        await connection.execute(
            "update orders set created_at = '2026-01-02 03:04:05+02', updated_at = "
            "'2026-01-02 03:04:05.000120+00' where id = $1", uuid.UUID(order_id),
        )
    finally:
        await connection.close()
    data = await _same(world.a, settings, ORDER, {"id": order_id})
    assert data["order"]["createdAt"] == "2026-01-02T01:04:05+00:00"
    assert data["order"]["updatedAt"] == "2026-01-02T03:04:05.000120+00:00"


async def test_what_is_not_planned(world: World, settings: Settings) -> None:
    schema = SchemaCache(settings).for_tenant(world.a.tenant.tenant).schema._schema
    for query in [
        "mutation { createCategory(input: {name: \"x\", handle: \"x\"}) { category { id } } }",
        "{ orders { edges { node { id customer { addresses { id } } } } } }",
        "query($s: Boolean!) { orders { edges { node { id @include(if: $s) } } } }",
        "{ orders { edges { node { payments { id } } } } }",
        "{ orders(filter: {status: PAID}) { edges { node { id } } } }",
        "{ __schema { types { name } } }",
        "{ categories { id } }",
    ]:
        found = plans.make_plan(schema, query, None, BUDGET)
        if found is not None:  # arguments are only known per request
            assert await plans.run(found, schema, plans.Request(
                tenant_id=world.a.id, principal=_admin(world.a), price_list=None, variables={},
                max_page_size=settings.max_page_size,
            )) is None, query
    assert plans.make_plan(schema, TWO_OPERATIONS, None, BUDGET) is None
    assert plans.make_plan(schema, TWO_OPERATIONS, "Second", BUDGET) is not None


async def test_extension_overridden_types_are_not_planned(make_tenant: Any, settings: Settings) -> None:
    banban = await make_tenant(modules=("catalog",), extensions=("banban",))
    schema = SchemaCache(settings).for_tenant(banban.tenant).schema._schema
    fashion = "query($id: ID!) { product(id: $id) { fashion { season } } }"
    assert plans.make_plan(schema, fashion, None, BUDGET) is None
    assert plans.make_plan(schema, "query($id: ID!) { product(id: $id) { title } }", None, BUDGET) is not None


def _without_request_id(body: dict[str, Any]) -> dict[str, Any]:
    for error in body.get("errors", []):
        error.get("extensions", {}).pop("requestId", None)
        error.get("extensions", {}).pop("request_id", None)
    return body


async def test_plans_are_kept_per_schema_fingerprint(world: World, settings: Settings) -> None:
    cache = plans.PlanCache(BUDGET)
    schemas = SchemaCache(settings)
    a, b = world.a.tenant.tenant, world.b.tenant.tenant
    assert a.fingerprint != b.fingerprint
    cache.learn(schemas.for_tenant(a).schema, a.fingerprint, PRICED_PRODUCT, None)
    assert cache.get(a.fingerprint, PRICED_PRODUCT, None) is not None
    assert not cache.knows(b.fingerprint, PRICED_PRODUCT, None)


BOTH_WAYS = """query L($first: Int, $after: String, $last: Int, $before: String, $orderBy: OrderOrder) {
  orders(first: $first, after: $after, last: $last, before: $before, orderBy: $orderBy) {
    total: totalCount totalCount
    edges { cursor node { number } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"""
PRODUCTS_BOTH_WAYS = """query L(
  $first: Int, $after: String, $last: Int, $before: String, $orderBy: ProductOrder
) {
  products(first: $first, after: $after, last: $last, before: $before, orderBy: $orderBy) {
    totalCount edges { cursor node { handle } } pageInfo { hasNextPage hasPreviousPage } } }"""


@pytest.mark.parametrize("order_by", [
    None, {"field": "NUMBER", "direction": "DESC"}, {"field": "TOTAL"},
    {"field": "CREATED_AT", "direction": "DESC"},
])
async def test_orders_backward_pages_and_total_count(world: World, settings: Settings, order_by: Any) -> None:
    variables: dict[str, Any] = {"orderBy": order_by}
    whole = (await _same(world.a, settings, BOTH_WAYS, {**variables, "first": 10}))["orders"]
    assert whole["totalCount"] == whole["total"] == len(world.a_orders) == 4
    numbers = [edge["node"]["number"] for edge in whole["edges"]]
    last = (await _same(world.a, settings, BOTH_WAYS, {**variables, "last": 2}))["orders"]
    assert [e["node"]["number"] for e in last["edges"]] == numbers[2:]
    assert last["pageInfo"]["hasPreviousPage"] and not last["pageInfo"]["hasNextPage"]
    assert last["pageInfo"]["startCursor"] == last["edges"][0]["cursor"]
    assert last["pageInfo"]["endCursor"] == last["edges"][-1]["cursor"]
    before = last["pageInfo"]["startCursor"]
    rest = (await _same(world.a, settings, BOTH_WAYS, {**variables, "last": 5, "before": before}))["orders"]
    assert [e["node"]["number"] for e in rest["edges"]] == numbers[:2]
    assert not rest["pageInfo"]["hasPreviousPage"] and rest["pageInfo"]["hasNextPage"]
    middle = (await _same(world.a, settings, BOTH_WAYS, {**variables, "last": 1, "before": before}))["orders"]
    assert [e["node"]["number"] for e in middle["edges"]] == numbers[1:2]
    assert middle["pageInfo"]["hasPreviousPage"] and middle["pageInfo"]["hasNextPage"]
    empty = (await _same(world.a, settings, BOTH_WAYS, {**variables, "last": 0}))["orders"]
    assert empty["edges"] == [] and empty["pageInfo"]["startCursor"] is None
    assert empty["totalCount"] == 4


@pytest.mark.parametrize("order_by", [None, {"field": "HANDLE", "direction": "DESC"}])
async def test_products_backward_pages_and_total_count(
    world: World, settings: Settings, order_by: Any
) -> None:
    whole = (await _same(world.a, settings, PRODUCTS_BOTH_WAYS, {"first": 10, "orderBy": order_by}))
    everything = [e["node"]["handle"] for e in whole["products"]["edges"]]
    assert whole["products"]["totalCount"] == len(everything) == 3
    seen: list[str] = []
    variables: dict[str, Any] = {"last": 1, "orderBy": order_by}
    while True:
        page = (await _same(world.a, settings, PRODUCTS_BOTH_WAYS, variables))["products"]
        seen = [e["node"]["handle"] for e in page["edges"]] + seen
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        variables["before"] = page["edges"][0]["cursor"]
    assert seen == everything


async def test_total_count_is_the_tenants_own_on_the_planned_path(world: World, settings: Settings) -> None:
    text = _unique(BOTH_WAYS)
    for shop, count in ((world.a, 4), (world.b, 1)):
        assert (await _planned(shop, settings, text, {"last": 1}))["orders"]["totalCount"] == count
    assert world.b_order["id"] not in {o["id"] for o in world.a_orders}


async def test_a_planned_page_with_total_count_is_one_statement(
    world: World, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[str] = []
    for name in ("fetch", "fetchval", "fetchrow", "execute"):
        original = getattr(asyncpg.connection.Connection, name)

        async def recorded(self: Any, query: str, *args: Any, _original: Any = original, **kw: Any) -> Any:
            sent.append(query)
            return await _original(self, query, *args, **kw)

        monkeypatch.setattr(asyncpg.connection.Connection, name, recorded)
    text = _unique(BOTH_WAYS)
    assert (await _planned(world.a, settings, text, {"last": 2}))["orders"]["totalCount"] == 4
    data = [query for query in sent if not query.startswith(("begin;", "commit", "rollback"))]
    assert len(data) == 1, sent
    assert "count(*)" in data[0]


@pytest.mark.parametrize("variables", [
    {"first": 1, "last": 1}, {"after": "x", "last": 1}, {"last": 1000}, {"last": 1, "before": "x"},
])
async def test_bad_backward_arguments_fall_back_to_the_same_errors(
    world: World, settings: Settings, variables: dict[str, Any]
) -> None:
    text = _unique(BOTH_WAYS)
    await world.a.tenant.post(text, {"last": 1})  # learned
    assert await _planned(world.a, settings, text, variables) is None
    reference = await world.a.tenant.post(text + "\n", variables)
    response = await world.a.tenant.post(text, variables)
    assert _without_request_id(response.json()) == _without_request_id(reference.json())
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
