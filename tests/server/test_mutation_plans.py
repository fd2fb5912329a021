"""Planned mutations (createOrder) answer exactly as the resolvers do.

The first request of a document text is answered by Strawberry and teaches the planner; the
next ones are planned. Orders differ from one call to the next (ids, numbers, times), so each
answer is held against the order as the API reads it back, and the answers' shapes against
each other; a refusal, which writes nothing, must be the same body on both paths. Every case
proves which path answered it (the operations metric's `planned` label), so that a planner
that silently falls back cannot pass for a correct one.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from graphql import coerce_input_value
from strawberry.types.arguments import convert_arguments

from domain.config import Settings
from schema.build import SchemaCache
from server.plans import mutations
from server.plans.arguments import compile_arguments
from telemetry import metrics
from tests.shop import Shop, open_shop

COUNTER = itertools.count()
BUDGET = Settings.validation_budget_ms / 1000
ORDER_FIELDS = """...Head status currency priceListId createdAt updatedAt
  subtotal { amount currency } discountTotal { amount } taxTotal { amount }
  total { amount currency __typename }"""
HEAD = "fragment Head on Order { key: id id number __typename }"
CREATE = f"""mutation Create($input: OrderCreateInput!) {{
  made: createOrder(input: $input) {{
    __typename order {{ {ORDER_FIELDS} }} problems: errors {{ field message code __typename }} }} }}
{HEAD}"""
READ = f"query Read($id: ID!) {{ order(id: $id) {{ {ORDER_FIELDS} }} }}\n{HEAD}"


def _unique(query: str) -> str:
    return f"{query}\n# case {next(COUNTER)}"


def _planned(shop: Shop, name: str | None) -> Any:
    """The counter of this tenant's planned mutations of that name."""
    slug = shop.tenant.slug
    label = metrics.operation_name(name, slug, admit=True)
    return metrics._operations("mutation", label, metrics.tenant_label(slug), "true")


async def _twice(shop: Shop, query: str, variables: dict[str, Any], name: str | None = "Create",
                 **kw: Any) -> tuple[Any, Any]:
    """(Strawberry's body, the planner's body) of one new document text."""
    planned = _planned(shop, name)
    first = await shop.tenant.post(query, variables, **kw)
    before = planned._value.get()
    second = await shop.tenant.post(query, variables, **kw)
    assert planned._value.get() == before + 1, "the second request was not planned"
    assert (first.status_code, first.headers["content-type"]) == (
        second.status_code, second.headers["content-type"])
    return first.json(), second.json()


async def _read_back(shop: Shop, body: Any) -> Any:
    made = body["data"]["made"]["order"]
    read = await shop.gql(READ, {"id": made["id"]})
    return read["data"]["order"]


@pytest.fixture
async def shop(make_tenant: Any) -> Shop:
    return await open_shop(make_tenant, prefix="P-", modules=(
        "catalog", "pricing", "inventory", "customers", "orders", "payments"))


async def test_a_planned_order_is_answered_as_strawberry_answers_it(shop: Shop) -> None:
    variables = {"input": {"customerId": str(shop.customer_id),
                           "lines": [shop.line("TEE-S", 2), shop.line("MUG", 1, by_id=False)]}}
    first, second = await _twice(shop, _unique(CREATE), variables)
    for body in (first, second):
        assert "errors" not in body, body
        made = body["data"]["made"]
        assert list(made) == ["__typename", "order", "problems"]
        assert made["__typename"] == "OrderPayload" and made["problems"] == []
        assert made["order"] == await _read_back(shop, body)
        assert list(made["order"]) == list(first["data"]["made"]["order"])
    assert second["data"]["made"]["order"]["number"] == first["data"]["made"]["order"]["number"] + 1
    assert second["data"]["made"]["order"]["total"] == {
        "amount": first["data"]["made"]["order"]["total"]["amount"], "currency": "EUR",
        "__typename": "Money"}
    assert await shop.stock("TEE-S") == (10, 4)  # two orders of two: both hold their stock


async def test_a_refused_order_is_the_same_body_on_both_paths(shop: Shop) -> None:
    for lines in ([{"sku": "NO-SUCH", "quantity": 1}], [shop.line("MUG", 11)], []):
        first, second = await _twice(shop, _unique(CREATE), {"input": {"lines": lines}})
        assert second == first
        assert first["data"]["made"]["order"] is None and first["data"]["made"]["problems"], first
    assert await shop.stock("MUG") == (10, 0)


async def test_a_missing_scope_is_the_same_error_on_both_paths(shop: Shop) -> None:
    """A refused request teaches nothing, so the plan is learned with a key that may write."""
    key = await shop.tenant.key_with("orders:read")
    variables = {"input": {"lines": [shop.line("MUG")]}}
    learned = _unique(CREATE)
    assert "errors" not in await shop.gql(learned, variables)
    planned = _planned(shop, "Create")
    before = planned._value.get()
    by_planner = await shop.gql(learned, variables, key=key)
    assert planned._value.get() == before + 1
    assert await shop.gql(_unique(CREATE), variables, key=key) == by_planner
    assert by_planner["errors"][0]["extensions"]["code"] == "FORBIDDEN" and by_planner["data"] is None
    assert await shop.stock("MUG") == (10, 1)


async def test_refused_variables_are_left_to_strawberry(shop: Shop) -> None:
    """Nothing runs on the planned path before the variables pass: Strawberry reports them."""
    query = _unique(CREATE)
    good = {"input": {"lines": [shop.line("MUG")]}}
    assert "errors" not in await shop.gql(query, good)  # learned
    planned = _planned(shop, "Create")
    before = planned._value.get()
    for bad in ({"input": {"lines": [{"sku": "MUG"}]}},  # quantity missing
                {"input": {"lines": [shop.line("MUG")], "idempotencyKey": "k" * 500}}):
        body = await shop.gql(query, bad)
        assert body["errors"][0]["extensions"]["code"] in {"BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED"}
    assert planned._value.get() == before
    assert await shop.stock("MUG") == (10, 1)


async def test_an_idempotency_key_replays_through_the_plan(shop: Shop) -> None:
    variables = {"input": {"lines": [shop.line("MUG")], "idempotencyKey": "same-order"}}
    first, second = await _twice(shop, _unique(CREATE), variables)
    assert second == first
    assert await shop.stock("MUG") == (10, 1)


async def test_a_plan_learned_by_one_tenant_writes_only_the_callers(
    make_tenant: Any, shop: Shop
) -> None:
    other = await open_shop(make_tenant, prefix="P-", modules=(
        "catalog", "pricing", "inventory", "customers", "orders", "payments"))
    query = _unique(CREATE)
    assert "errors" not in await shop.gql(query, {"input": {"lines": [shop.line("MUG")]}})
    planned = _planned(other, "Create")
    before = planned._value.get()
    # `other` names a variant of `shop` by id: not its own, so no such variant
    stolen = await other.gql(query, {"input": {"lines": [shop.line("TEE-S")]}})
    assert stolen["data"]["made"]["order"] is None
    assert stolen["data"]["made"]["problems"][0]["field"] == "input.lines[0].variantId"
    mine = await other.gql(query, {"input": {"lines": [other.line("TEE-S", by_id=False)]}})
    assert planned._value.get() == before + 2
    order_id = mine["data"]["made"]["order"]["id"]
    assert (await other.gql(READ, {"id": order_id}))["data"]["order"]["id"] == order_id
    assert (await shop.gql(READ, {"id": order_id}))["data"]["order"] is None
    assert await shop.stock("TEE-S") == (10, 0) and await other.stock("TEE-S") == (10, 1)


async def test_a_mutation_sent_with_get_is_still_refused(shop: Shop) -> None:
    query = _unique(CREATE)
    variables = {"input": {"lines": [shop.line("MUG")]}}
    assert "errors" not in await shop.gql(query, variables)
    refused = await shop.tenant.client.get(
        "/graphql", params={"query": query, "variables": json.dumps(variables)},
        headers={"authorization": f"Bearer {shop.tenant.key}"},
    )
    assert refused.status_code == 405 and refused.headers["allow"] == "POST"
    assert await shop.stock("MUG") == (10, 1)


async def test_an_idempotency_key_header_replays_a_planned_order(shop: Shop) -> None:
    query = _unique(CREATE)
    assert "errors" not in await shop.gql(query, {"input": {"lines": [shop.line("TEE-M")]}})
    planned = _planned(shop, "Create")
    before = planned._value.get()
    variables = {"input": {"lines": [shop.line("MUG")]}}
    headers = {"idempotency-key": f"header-{next(COUNTER)}"}
    first = await shop.tenant.post(query, variables, headers=headers)
    again = await shop.tenant.post(query, variables, headers=headers)
    assert planned._value.get() == before + 1  # the replay is the stored answer
    assert again.json() == first.json() and first.json()["data"]["made"]["order"]["id"]
    assert await shop.stock("MUG") == (10, 1)


@pytest.mark.parametrize("document", [
    "mutation { __typename createOrder(input: {lines: []}) { order { id } } }",
    "mutation { createOrder(input: {lines: []}) { order { id lines { sku } } } }",
    "mutation { createOrder(input: {lines: []}) { order { customer { id } } } }",
    "mutation { a: createOrder(input: {lines: []}) { order { id } } "
    "b: createOrder(input: {lines: []}) { order { id } } }",
    "mutation { markOrderPaid(id: \"x\") { order { id } } }",
    "mutation { createOrder(input: {lines: []}) @skip(if: false) { order { id } } }",
    "query { order(id: \"x\") { id } }",
])
async def test_what_is_not_planned(shop: Shop, settings: Settings, document: str) -> None:
    """Another root beside it, a field with a resolver of its own, an unknown mutation, a
    directive, a query: all Strawberry's."""
    schema = SchemaCache(settings).for_tenant(shop.tenant.tenant).schema
    assert mutations.make_mutation_plan(schema, document, None, BUDGET) is None


async def test_a_plannable_document(shop: Shop, settings: Settings) -> None:
    schema = SchemaCache(settings).for_tenant(shop.tenant.tenant).schema
    plan = mutations.make_mutation_plan(schema, CREATE, "Create", BUDGET)
    assert plan is not None and (plan.kind, plan.name, plan.root.key) == ("mutation", "Create", "made")
    assert isinstance(plan.root.shape, tuple)
    assert [entry.key for entry in plan.root.shape] == ["__typename", "order", "problems"]


@pytest.mark.parametrize("given", [
    {"input": {"lines": [{"quantity": 2, "sku": "MUG"}]}},
    {"input": {"lines": [{"quantity": 1, "variantId": "v", "sku": None}, {"quantity": 3, "sku": "TEE"}],
               "customerId": None, "priceList": "vip", "idempotencyKey": "k",
               "discount": {"amount": 150, "currency": "EUR"}}},
    {"input": {"lines": [], "discount": None}},
])
async def test_create_order_arguments_convert_as_strawberry_converts_them(
    shop: Shop, settings: Settings, given: dict[str, Any]
) -> None:
    schema = SchemaCache(settings).for_tenant(shop.tenant.tenant).schema
    field = schema._schema.mutation_type.fields["createOrder"]  # type: ignore[union-attr]
    arguments = field.extensions["strawberry-definition"].arguments
    values = {"input": coerce_input_value(given["input"], field.args["input"].type)}  # as graphql-core
    expected = convert_arguments(values, arguments, schema.schema_converter.scalar_registry, schema.config)
    converted = compile_arguments(arguments, schema)(values)
    assert converted == expected and type(converted["input"]) is type(expected["input"])
    assert converted["input"].lines is not values["input"]["lines"]  # a copy, as Strawberry's
