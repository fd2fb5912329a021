"""Query cost over HTTP: requested and actual costs of documents computed by hand, planned and
resolved reads costed alike, MAX_QUERY_COST, and `extensions.cost` on every answer."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import pytest

from domain.config import Settings
from schema.build import SchemaCache
from server import plans
from tests.shop import Shop, open_shop

BUDGET = Settings.validation_budget_ms / 1000

TENANT = "{ tenant { slug } }"
PRODUCTS = """{ products(first: 5) {
  edges { cursor node { title variants { sku } } } pageInfo { hasNextPage } } }"""
PAGE = "query Page($n: Int) { products(first: $n) { edges { node { title } } } }"
SHAPES = """query Shapes {
  a: tenant { slug }
  b: tenant { ...T }
  c: products(first: 2) { edges { node { ...P } } }
  d: products(first: 3) { edges { node { ...P ...V } } }
}
fragment T on Tenant { name }
fragment P on Product { title variants { sku } }
fragment V on Product { variants { title } }"""
NESTED = """{ customers(first: 3) { edges { node { email
  orders(first: 4) { edges { node { number lines { sku } } } } } } } }"""
MUTATION = """mutation Keys {
  one: createApiKey(input: {name: "one", scopes: ["catalog:read"]}) { token }
  two: createApiKey(input: {name: "two", scopes: ["catalog:read"]}) { token }
}"""
KPIS = """{ performance(range: {from: "2026-01-01T00:00:00Z", to: "2027-01-01T00:00:00Z"},
  granularity: MONTH) { total { orderCount } } }"""
WIDE = "{ products(first: 100) { edges { node { variants { sku } } } } }"


@pytest.fixture
def costed(settings: Settings) -> Settings:
    return dataclasses.replace(settings, cost_extensions=True)


@pytest.fixture
async def shop(make_tenant: Any, client_for: Any, costed: Settings) -> Shop:
    """Two products (Tee with two variants, Mug with one) and a customer with two orders of
    two lines and one line."""
    made = await open_shop(make_tenant, modules=("catalog", "customers", "inventory", "orders",
                                                 "payments", "metrics"))
    made.tenant.client = client_for(costed)
    await made.place(made.line("TEE-S"), made.line("MUG"))
    await made.place(made.line("MUG"))
    return made


async def cost_of(shop: Shop, query: str, variables: dict[str, Any] | None = None) -> tuple[int, int]:
    response = await shop.tenant.post(query, variables)
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    cost = body["extensions"]["cost"]
    return cost["requestedQueryCost"], cost["actualQueryCost"]


async def test_an_object_costs_one(shop: Shop) -> None:
    assert await cost_of(shop, TENANT) == (1, 1)


async def test_a_connection_costs_its_page_of_nodes_plus_two_and_pages_as_returned(shop: Shop) -> None:
    # requested: 2 + 5 x (node 1 + variants 1); actual: 2 + Tee (1 + 2 variants) + Mug (1 + 1)
    assert await cost_of(shop, PRODUCTS) == (12, 7)


async def test_first_given_in_a_variable_or_left_to_its_default(shop: Shop) -> None:
    assert await cost_of(shop, PAGE, {"n": 1}) == (3, 3)
    assert await cost_of(shop, PAGE, {"n": 10}) == (12, 4)
    assert await cost_of(shop, PAGE, {}) == (2 + 20, 4)


async def test_last_costs_as_first_does(shop: Shop) -> None:
    assert await cost_of(shop, PRODUCTS.replace("first: 5", "last: 5")) == (12, 7)
    assert await cost_of(shop, PAGE.replace("first:", "last:"), {"n": 10}) == (12, 4)
    # past MAX_PAGE_SIZE: costed at the largest page, and refused as `first` would be
    body = (await shop.tenant.post("{ products(last: 1000) { edges { node { title } } } }")).json()
    assert body["extensions"]["cost"]["requestedQueryCost"] == 2 + 100
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "fields": {"last": "out of range"}}


async def test_total_count_costs_one(shop: Shop) -> None:
    # requested: 2 + 1 x node 1 + totalCount 1; actual the same (one product returned)
    assert await cost_of(shop, "{ products(first: 1) { totalCount edges { node { title } } } }") == (4, 4)
    assert await cost_of(shop, "{ products(last: 0) { totalCount } }") == (3, 3)


async def test_aliases_count_apart_and_merged_fragments_count_once(shop: Shop) -> None:
    # requested: a 1, b 1, c 2 + 2 x (1 + 1), d 2 + 3 x (1 + 1): d's variants are one field;
    # actual: a 1, b 1, c and d each 2 + Tee (1 + 2 variants) + Mug (1 + 1)
    assert await cost_of(shop, SHAPES) == (16, 16)


async def test_nested_connections_multiply(shop: Shop) -> None:
    # 2 + 3 x (customer 1 + orders (2 + 4 x (order 1 + lines 1)));
    # actual: 2 + customer 1 + orders (2 + (1 + 2 lines) + (1 + 1 line))
    assert await cost_of(shop, NESTED) == (35, 10)


async def test_a_mutation_costs_ten_per_root_field(shop: Shop) -> None:
    assert await cost_of(shop, MUTATION) == (20, 20)


async def test_a_heavier_field_declares_its_own_cost(shop: Shop) -> None:
    # performance costs 20 (schema.metrics.KPI_WEIGHT) instead of 1; its total is an object
    assert await cost_of(shop, KPIS) == (21, 21)


async def test_planned_and_resolved_reads_cost_the_same(shop: Shop, costed: Settings) -> None:
    query = PRODUCTS + "\n# planned"
    schema = SchemaCache(costed).for_tenant(shop.tenant.tenant).schema
    assert plans.make_plan(schema._schema, query, None, BUDGET) is not None, "plannable"

    resolved = await cost_of(shop, query)
    planned = await cost_of(shop, query)

    assert resolved == planned == (12, 7)


async def test_over_max_query_cost_is_refused_before_anything_runs(
    shop: Shop, client_for: Any, costed: Settings
) -> None:
    client: httpx.AsyncClient = client_for(dataclasses.replace(costed, max_query_cost=100))
    shop.tenant.client = client

    response = await shop.tenant.post(WIDE)

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert error["extensions"]["requestedQueryCost"] == 2 + 100 * 2
    assert error["extensions"]["maxQueryCost"] == 100
    assert response.json().get("data") is None


async def test_an_invalid_document_is_refused_by_validation_not_costed(shop: Shop) -> None:
    response = await shop.tenant.post("{ products(first: 5) { edges { node { nope } } } }")

    assert response.status_code == 400
    body = response.json()
    assert body["errors"][0]["message"].startswith("Cannot query field 'nope'")
    assert "extensions" not in body
