"""Per-tenant schemas: extensions only in their tenants' schemas, shared and rebuilt by module set."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from domain import tenancy
from domain.config import Settings
from schema import build
from tests.documents import ADD_VARIANT, codes, error_codes, error_fields, payload, product_input

PRODUCT_FIELDS = """
query ProductFields { __type(name: "Product") { fields { name } } }
"""

ROOT_FIELDS = """
query RootFields { __schema { queryType { fields { name } } } }
"""

CREATE_FASHION = """
mutation Create($input: ProductCreateInput!) {
  createProduct(input: $input) {
    product { id title fashion { season collection sizes colours } } errors { field message code }
  }
}
"""

CREATE_PLAIN = """
mutation Create($input: ProductCreateInput!) {
  createProduct(input: $input) { product { id title } errors { field message code } }
}
"""

FASHION_OF_PRODUCTS = """
query Fashion { products(first: 5) { edges { node { title fashion { season } } } } }
"""

FASHION_COLLECTION = """
query Collection($season: String!, $collection: String) {
  fashionCollection(season: $season, collection: $collection) { title }
}
"""

PRODUCTS = """
query Products { products(first: 5) { edges { node { id } } } }
"""

SET_MODULES = """
mutation SetModules($modules: [String!]!, $extensions: [String!]) {
  setTenantModules(modules: $modules, extensions: $extensions) {
    tenant { slug modules extensions } errors { field message code }
  }
}
"""

TENANT = """
query Tenant { tenant { slug modules extensions } }
"""


def fashion_input(
    title: str, season: str | None, variants: list[tuple[str, str, str]], *,
    collection: str | None = None,
) -> dict[str, Any]:
    """A product with attributes season/collection and variants (sku, size, colour)."""
    attributes = [{"name": "season", "value": season}] if season else []
    if collection:
        attributes.append({"name": "collection", "value": collection})
    return {
        "title": title,
        "attributes": attributes,
        "variants": [
            {
                "sku": sku,
                "price": {"amount": 4900, "currency": "EUR"},
                "attributes": [{"name": "size", "value": size}, {"name": "colour", "value": colour}],
            }
            for sku, size, colour in variants
        ],
    }


PLAIN_FOR_FASHION = product_input("Plain Tee", ["PLAIN-1", "PLAIN-2"])


@pytest.fixture
async def banban(make_tenant: Any) -> Any:
    return await make_tenant(("catalog",), ("banban",))


async def field_names(tenant: Any, query: str) -> set[str]:
    body = await tenant.gql(query)
    assert "errors" not in body, body
    data = body["data"]
    fields = data["__type"]["fields"] if "__type" in data else data["__schema"]["queryType"]["fields"]
    return {field["name"] for field in fields}


async def create_fashion(tenant: Any, product: dict[str, Any]) -> dict[str, Any]:
    body = await tenant.gql(CREATE_FASHION, {"input": product})
    created: dict[str, Any] = payload(body, "createProduct")["product"]
    return created


async def set_modules(
    tenant: Any, platform_key: str, modules: list[str], extensions: list[str] | None
) -> dict[str, Any]:
    return await tenant.gql(
        SET_MODULES,
        {"modules": modules, "extensions": extensions},
        key=platform_key,
        headers={"x-tenant-id": tenant.slug},
    )


def tenant_with(modules: tuple[str, ...], extensions: tuple[str, ...] = ()) -> tenancy.Tenant:
    slug = f"s-{uuid.uuid4().hex[:8]}"
    return tenancy.Tenant(
        id=uuid.uuid4(), slug=slug, name=slug,
        modules=frozenset(modules), extensions=frozenset(extensions),
    )


# What each tenant's schema shows.


async def test_extension_tenant_sees_fashion_on_product(banban: Any) -> None:
    assert "fashion" in await field_names(banban, PRODUCT_FIELDS)


async def test_extension_tenant_sees_fashion_collection_root_field(banban: Any) -> None:
    assert "fashionCollection" in await field_names(banban, ROOT_FIELDS)


async def test_catalog_tenant_does_not_see_fashion_on_product(tenant_a: Any) -> None:
    fields = await field_names(tenant_a, PRODUCT_FIELDS)

    assert "fashion" not in fields
    assert {"id", "title", "variants"} <= fields


async def test_catalog_tenant_does_not_see_fashion_collection(tenant_a: Any) -> None:
    fields = await field_names(tenant_a, ROOT_FIELDS)

    assert "fashionCollection" not in fields
    assert "products" in fields


async def test_catalog_tenant_querying_fashion_fails_validation(tenant_a: Any) -> None:
    response = await tenant_a.post(FASHION_OF_PRODUCTS)

    assert response.status_code == 400
    assert codes(response.json()) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "fashion" in response.json()["errors"][0]["message"]


async def test_catalog_tenant_querying_fashion_collection_fails_validation(tenant_a: Any) -> None:
    response = await tenant_a.post(FASHION_COLLECTION, {"season": "SS25"})

    assert response.status_code == 400
    assert codes(response.json()) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "fashionCollection" in response.json()["errors"][0]["message"]


# The extension's catalog rules.


async def test_fashion_rules_reject_a_product_without_season_or_size_and_colour(banban: Any) -> None:
    body = await banban.gql(CREATE_PLAIN, {"input": PLAIN_FOR_FASHION})

    assert error_codes(body, "createProduct") == ["BAD_USER_INPUT"]
    assert set(error_fields(body, "createProduct")) == {
        "input.attributes.season",
        "input.variants[0].attributes.size",
        "input.variants[0].attributes.colour",
        "input.variants[1].attributes.size",
        "input.variants[1].attributes.colour",
    }


async def test_fashion_rules_reject_a_malformed_season(banban: Any) -> None:
    product = fashion_input("Linen Shirt", "Summer", [("LIN-S", "S", "White")])

    body = await banban.gql(CREATE_PLAIN, {"input": product})

    assert error_codes(body, "createProduct") == ["BAD_USER_INPUT"]
    assert set(error_fields(body, "createProduct")) == {"input.attributes.season"}


async def test_fashion_rules_apply_to_added_variants(banban: Any) -> None:
    created = await create_fashion(banban, fashion_input("Chino", "SS25", [("CHINO-30", "30", "Sand")]))
    body = await banban.gql(ADD_VARIANT, {
        "productId": created["id"],
        "input": {"sku": "CHINO-32", "price": {"amount": 5900, "currency": "EUR"}},
    })

    assert error_codes(body, "addVariant") == ["BAD_USER_INPUT"]
    assert set(error_fields(body, "addVariant")) == {
        "input.attributes.size", "input.attributes.colour"
    }


async def test_plain_tenant_accepts_the_input_fashion_rules_reject(tenant_a: Any) -> None:
    body = await tenant_a.gql(CREATE_PLAIN, {"input": PLAIN_FOR_FASHION})

    assert payload(body, "createProduct")["product"]["title"] == "Plain Tee"


async def test_fashion_attributes_summarise_the_product_and_its_variants(banban: Any) -> None:
    product = fashion_input(
        "Riviera Shirt", "SS25",
        [("RIV-S-N", "S", "Navy"), ("RIV-M-N", "M", "Navy"), ("RIV-L-S", "L", "Sand"),
         ("RIV-S-S", "S", "Sand")],
        collection="Riviera",
    )

    created = await create_fashion(banban, product)

    assert created["fashion"] == {
        "season": "SS25",
        "collection": "Riviera",
        "sizes": ["S", "M", "L"],
        "colours": ["Navy", "Sand"],
    }


async def test_fashion_attributes_read_back_through_products(banban: Any) -> None:
    await create_fashion(banban, fashion_input("Wool Coat", "AW24", [("COAT-M", "M", "Grey")]))

    body = await banban.gql(FASHION_OF_PRODUCTS)

    assert body["data"]["products"]["edges"] == [
        {"node": {"title": "Wool Coat", "fashion": {"season": "AW24"}}}
    ]


async def make_collection(banban: Any) -> None:
    for title, season, collection in [
        ("Beach Shorts", "SS25", "Riviera"),
        ("Atelier Blazer", "SS25", "Atelier"),
        ("Riviera Knit", "AW24", "Riviera"),
        ("Sun Hat", "SS25", "Riviera"),
    ]:
        sku = title.upper().replace(" ", "-")
        product = fashion_input(title, season, [(sku, "M", "Blue")], collection=collection)
        await create_fashion(banban, product)


async def test_fashion_collection_filters_by_season(banban: Any) -> None:
    await make_collection(banban)

    body = await banban.gql(FASHION_COLLECTION, {"season": "SS25"})

    assert body == {"data": {"fashionCollection": [
        {"title": "Atelier Blazer"}, {"title": "Beach Shorts"}, {"title": "Sun Hat"}
    ]}}


async def test_fashion_collection_filters_by_season_and_collection(banban: Any) -> None:
    await make_collection(banban)

    body = await banban.gql(FASHION_COLLECTION, {"season": "SS25", "collection": "Riviera"})

    assert body == {"data": {"fashionCollection": [{"title": "Beach Shorts"}, {"title": "Sun Hat"}]}}


async def test_fashion_collection_of_an_unknown_season_is_empty(banban: Any) -> None:
    await make_collection(banban)

    body = await banban.gql(FASHION_COLLECTION, {"season": "AW30"})

    assert body == {"data": {"fashionCollection": []}}


# Schema sharing and building.


def test_tenants_with_the_same_set_share_one_schema() -> None:
    cache = build.SchemaCache(Settings())

    first = cache.for_tenant(tenant_with(("catalog",), ("banban",)))
    second = cache.for_tenant(tenant_with(("catalog",), ("banban",)))

    assert first is second


def test_tenants_with_different_sets_get_different_schemas() -> None:
    cache = build.SchemaCache(Settings())

    plain = cache.for_tenant(tenant_with(("catalog",)))
    fashion = cache.for_tenant(tenant_with(("catalog",), ("banban",)))
    core = cache.for_tenant(tenant_with(()))

    assert len({id(plain), id(fashion), id(core)}) == 3
    assert plain.schema.as_str() != fashion.schema.as_str()


def test_build_schema_is_deterministic() -> None:
    first = build.build_schema(["catalog"], ["banban"], Settings())
    second = build.build_schema(("catalog",), ("banban",), Settings())

    assert first.schema.as_str() == second.schema.as_str()


def test_build_schema_replaces_services_only_for_extension_sets() -> None:
    plain = build.build_schema(["catalog"], [], Settings())
    fashion = build.build_schema(["catalog"], ["banban"], Settings())

    assert type(plain.services.catalog_rules).__name__ == "DefaultCatalogRules"
    assert type(fashion.services.catalog_rules).__name__ == "FashionCatalogRules"


def test_schema_registry_matches_domain_modules() -> None:
    assert set(build.MODULES) == set(tenancy.MODULES)


def test_schema_registry_matches_domain_extensions() -> None:
    assert set(build.EXTENSIONS) == set(tenancy.EXTENSIONS)


# Changing a tenant's modules.


async def test_removing_the_extension_hides_fashion_on_the_next_request(
    banban: Any, platform_key: str
) -> None:
    assert "fashion" in await field_names(banban, PRODUCT_FIELDS)

    changed = await set_modules(banban, platform_key, ["catalog"], [])

    assert changed == {"data": {"setTenantModules": {
        "tenant": {"slug": banban.slug, "modules": ["catalog"], "extensions": []}, "errors": []
    }}}
    assert "fashion" not in await field_names(banban, PRODUCT_FIELDS)


async def test_removing_the_extension_makes_fashion_queries_invalid(
    banban: Any, platform_key: str
) -> None:
    await set_modules(banban, platform_key, ["catalog"], [])

    response = await banban.post(FASHION_COLLECTION, {"season": "SS25"})

    assert response.status_code == 400
    assert codes(response.json()) == ["GRAPHQL_VALIDATION_FAILED"]


async def test_removing_the_extension_restores_the_default_catalog_rules(
    banban: Any, platform_key: str
) -> None:
    await set_modules(banban, platform_key, ["catalog"], [])

    body = await banban.gql(CREATE_PLAIN, {"input": PLAIN_FOR_FASHION})

    assert payload(body, "createProduct")["product"]["title"] == "Plain Tee"


async def test_enabling_the_extension_shows_fashion_on_the_next_request(
    tenant_a: Any, platform_key: str
) -> None:
    changed = await set_modules(tenant_a, platform_key, ["catalog"], ["banban"])

    assert payload(changed, "setTenantModules")["tenant"]["extensions"] == ["banban"]
    assert "fashion" in await field_names(tenant_a, PRODUCT_FIELDS)


async def test_removing_catalog_makes_products_unknown(tenant_a: Any, platform_key: str) -> None:
    changed = await set_modules(tenant_a, platform_key, [], [])
    assert payload(changed, "setTenantModules")["tenant"]["modules"] == []

    response = await tenant_a.post(PRODUCTS)

    assert response.status_code == 400
    assert codes(response.json()) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "products" in response.json()["errors"][0]["message"]


async def test_extension_without_catalog_is_refused(tenant_a: Any, platform_key: str) -> None:
    body = await set_modules(tenant_a, platform_key, [], ["banban"])

    assert error_codes(body, "setTenantModules") == ["BAD_USER_INPUT"]
    assert error_fields(body, "setTenantModules") == {"modules": "missing: catalog"}
    unchanged = await tenant_a.gql(TENANT)
    assert unchanged["data"]["tenant"]["modules"] == ["catalog"]
    assert unchanged["data"]["tenant"]["extensions"] == []


async def test_removing_catalog_under_the_extension_is_refused(banban: Any, platform_key: str) -> None:
    """Extensions left unspecified are kept, and the kept banban still needs catalog."""
    body = await set_modules(banban, platform_key, [], None)

    assert error_codes(body, "setTenantModules") == ["BAD_USER_INPUT"]
    assert error_fields(body, "setTenantModules") == {"modules": "missing: catalog"}
    unchanged = await banban.gql(TENANT)
    assert unchanged["data"]["tenant"]["modules"] == ["catalog"]


async def test_unknown_module_is_refused(tenant_a: Any, platform_key: str) -> None:
    body = await set_modules(tenant_a, platform_key, ["catalog", "payroll"], [])

    assert error_codes(body, "setTenantModules") == ["BAD_USER_INPUT"]
    assert error_fields(body, "setTenantModules") == {"modules": "unknown: payroll"}


async def test_tenant_admin_cannot_set_modules(banban: Any) -> None:
    body = await banban.gql(SET_MODULES, {"modules": ["catalog"], "extensions": []})

    assert codes(body) == ["FORBIDDEN"]
    assert "fashion" in await field_names(banban, PRODUCT_FIELDS)
