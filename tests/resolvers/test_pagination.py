"""The Relay connection `products(first, after, filter, orderBy)`: keyset pages, cursors, filters."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from domain.config import Settings
from server.app import create_app
from tables import api_keys, tenants
from tests.documents import ARCHIVE_PRODUCT, codes, payload, product_input

PAGE = 7

CREATE = """
mutation Create($input: ProductCreateInput!) {
  createProduct(input: $input) {
    product { id title handle status createdAt } errors { field message code }
  }
}
"""

PAGE_OF_PRODUCTS = """
query Page($first: Int, $after: String, $filter: ProductFilter, $orderBy: ProductOrder) {
  products(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
    edges { cursor node { id title handle status createdAt } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""

# Single capitalised words and lowercase letter-only handles of one length sort the same under
# any collation, so the expected orders below do not depend on the database's locale.
TITLES = [
    "Echo", "Alpha", "Kilo", "Echo", "Bravo", "Zulu", "Kilo", "Delta", "Echo", "Mike",
    "Alpha", "Oscar", "Papa", "Golf", "Hotel", "India", "Juliet", "Lima", "November",
    "Quebec", "Romeo", "Sierra", "Tango", "Victor", "Yankee",
]
FIELDS = {"CREATED_AT": "createdAt", "TITLE": "title", "HANDLE": "handle"}
ORDERINGS = [(field, direction) for field in FIELDS for direction in ("ASC", "DESC")]


def handle_for(index: int) -> str:
    """Letter-only handles whose order is unrelated to both the titles and creation order."""
    scrambled = (index * 11 + 5) % len(TITLES)
    return "h" + chr(ord("a") + scrambled) + chr(ord("z") - index)


class Shelf:
    """A tenant of this module's own, with its products as created."""

    def __init__(self, client: httpx.AsyncClient, key: str) -> None:
        self.client = client
        self.key = key
        self.products: list[dict[str, Any]] = []

    async def gql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"authorization": f"Bearer {self.key}"},
        )
        body: dict[str, Any] = response.json()
        return body

    def expected(self, field: str, direction: str) -> list[str]:
        name = FIELDS[field]

        def key(product: dict[str, Any]) -> tuple[Any, uuid.UUID]:
            value = product[name]
            if name == "createdAt":
                value = datetime.fromisoformat(value)
            return value, uuid.UUID(product["id"])

        ordered = sorted(self.products, key=key, reverse=direction == "DESC")
        return [product["id"] for product in ordered]


async def open_tenant(settings: Settings) -> tuple[httpx.AsyncClient, str]:
    slug = f"p-{uuid.uuid4().hex[:10]}"
    tenant = await tenants.create(slug=slug, name=f"Pages {slug}", modules=("catalog",))
    _, key = await api_keys.create(tenant_id=tenant.id, name="admin", scopes={"admin"})
    transport = httpx.ASGITransport(app=create_app(settings))
    return httpx.AsyncClient(transport=transport, base_url="http://tenantgraph.test"), key


@pytest.fixture(scope="module")
async def shelf(app_pool: None, settings: Settings) -> AsyncIterator[Shelf]:
    """25 products (some titles repeated, to exercise the tie-break on id), created once."""
    client, key = await open_tenant(settings)
    found = Shelf(client, key)
    for index, title in enumerate(TITLES):
        body = await found.gql(CREATE, {
            "input": product_input(title, [f"SKU-{index}"], handle=handle_for(index))
        })
        found.products.append(payload(body, "createProduct")["product"])
    yield found
    await client.aclose()


async def walk(
    shelf: Shelf, field: str, direction: str, filter: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Every page of PAGE products in this order, following endCursor until the last page."""
    pages: list[dict[str, Any]] = []
    after = None
    while len(pages) <= len(TITLES):
        body = await shelf.gql(PAGE_OF_PRODUCTS, {
            "first": PAGE,
            "after": after,
            "filter": filter,
            "orderBy": {"field": field, "direction": direction},
        })
        assert "errors" not in body, body
        page = body["data"]["products"]
        pages.append(page)
        if not page["pageInfo"]["hasNextPage"]:
            return pages
        after = page["pageInfo"]["endCursor"]
    raise AssertionError(f"more pages than products: {pages}")


def ids_of(pages: list[dict[str, Any]]) -> list[str]:
    return [edge["node"]["id"] for page in pages for edge in page["edges"]]


def cursor(*parts: Any) -> str:
    """A cursor in the connection's wire format, for forging ones it never issued."""
    raw = json.dumps(list(parts), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(("field", "direction"), ORDERINGS)
async def test_pages_concatenate_to_the_full_order(shelf: Shelf, field: str, direction: str) -> None:
    pages = await walk(shelf, field, direction)

    walked = ids_of(pages)
    assert walked == shelf.expected(field, direction)
    assert len(set(walked)) == len(TITLES)
    assert [len(page["edges"]) for page in pages] == [7, 7, 7, 4]


@pytest.mark.parametrize(("field", "direction"), ORDERINGS)
async def test_only_the_last_page_has_no_next_page(shelf: Shelf, field: str, direction: str) -> None:
    pages = await walk(shelf, field, direction)

    assert [page["pageInfo"]["hasNextPage"] for page in pages] == [True, True, True, False]


@pytest.mark.parametrize(("field", "direction"), ORDERINGS)
async def test_pages_after_the_first_have_a_previous_page(
    shelf: Shelf, field: str, direction: str
) -> None:
    pages = await walk(shelf, field, direction)

    assert [page["pageInfo"]["hasPreviousPage"] for page in pages] == [False, True, True, True]


async def test_start_and_end_cursors_are_those_of_the_first_and_last_edge(shelf: Shelf) -> None:
    pages = await walk(shelf, "TITLE", "ASC")

    for page in pages:
        assert page["pageInfo"]["startCursor"] == page["edges"][0]["cursor"]
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]


async def test_equal_titles_break_ties_on_id(shelf: Shelf) -> None:
    pages = await walk(shelf, "TITLE", "ASC")

    echoes = [e["node"]["id"] for page in pages for e in page["edges"] if e["node"]["title"] == "Echo"]
    assert len(echoes) == 3
    assert echoes == sorted(echoes, key=uuid.UUID)


async def test_default_order_is_creation_order(shelf: Shelf) -> None:
    body = await shelf.gql(PAGE_OF_PRODUCTS, {"first": 100})

    listed = [edge["node"]["id"] for edge in body["data"]["products"]["edges"]]
    assert listed == [product["id"] for product in shelf.products]


async def test_first_zero_returns_no_edges(shelf: Shelf) -> None:
    body = await shelf.gql(PAGE_OF_PRODUCTS, {"first": 0})

    assert "errors" not in body, body
    assert body["data"]["products"]["edges"] == []


@pytest.mark.parametrize("first", [101, -1])
async def test_first_out_of_range_is_bad_input(shelf: Shelf, first: int) -> None:
    body = await shelf.gql(PAGE_OF_PRODUCTS, {"first": first})

    assert codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["fields"] == {"first": "out of range"}


@pytest.mark.parametrize("after", ["garbage", "", "!!!", cursor("title:asc", 1), cursor(None)])
async def test_garbage_cursor_is_bad_input(shelf: Shelf, after: str) -> None:
    body = await shelf.gql(PAGE_OF_PRODUCTS, {"first": 3, "after": after})

    assert codes(body) == ["BAD_USER_INPUT"]
    assert set(body["errors"][0]["extensions"]["fields"]) == {"after"}


async def test_forged_cursor_with_a_value_of_the_wrong_type_is_bad_input(shelf: Shelf) -> None:
    """A cursor in the right format and ordering whose sort value cannot be a title."""
    forged = cursor("title:asc", 5, str(uuid.uuid4()))

    body = await shelf.gql(
        PAGE_OF_PRODUCTS, {"first": 3, "after": forged, "orderBy": {"field": "TITLE"}}
    )

    assert codes(body) == ["BAD_USER_INPUT"]


async def test_forged_created_at_cursor_with_a_non_date_is_bad_input(shelf: Shelf) -> None:
    forged = cursor("created_at:asc", "yesterday", str(uuid.uuid4()))

    body = await shelf.gql(PAGE_OF_PRODUCTS, {"first": 3, "after": forged})

    assert codes(body) == ["BAD_USER_INPUT"]


async def test_cursor_of_another_field_is_bad_input(shelf: Shelf) -> None:
    by_title = await shelf.gql(PAGE_OF_PRODUCTS, {"first": 3, "orderBy": {"field": "TITLE"}})
    end = by_title["data"]["products"]["pageInfo"]["endCursor"]

    body = await shelf.gql(
        PAGE_OF_PRODUCTS, {"first": 3, "after": end, "orderBy": {"field": "CREATED_AT"}}
    )

    assert codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["fields"] == {"after": "mismatch"}


async def test_cursor_of_the_other_direction_is_bad_input(shelf: Shelf) -> None:
    ascending = await shelf.gql(PAGE_OF_PRODUCTS, {"first": 3, "orderBy": {"field": "HANDLE"}})
    end = ascending["data"]["products"]["pageInfo"]["endCursor"]

    body = await shelf.gql(PAGE_OF_PRODUCTS, {
        "first": 3, "after": end, "orderBy": {"field": "HANDLE", "direction": "DESC"}
    })

    assert codes(body) == ["BAD_USER_INPUT"]


# Filters get a tenant per test: they change products.


async def filter_titles(tenant: Any, filter: dict[str, Any]) -> list[str]:
    body = await tenant.gql(
        PAGE_OF_PRODUCTS, {"first": 100, "filter": filter, "orderBy": {"field": "TITLE"}}
    )
    assert "errors" not in body, body
    return [edge["node"]["title"] for edge in body["data"]["products"]["edges"]]


async def create(tenant: Any, title: str, sku: str, **extra: Any) -> dict[str, Any]:
    body = await tenant.gql(CREATE, {"input": product_input(title, [sku], **extra)})
    product: dict[str, Any] = payload(body, "createProduct")["product"]
    return product


async def test_status_filter_after_archiving_some(tenant_a: Any) -> None:
    made = [await create(tenant_a, f"Item {letter}", f"ITEM-{letter}") for letter in "ABCDE"]
    for product in (made[1], made[3]):
        archived = await tenant_a.gql(ARCHIVE_PRODUCT, {"id": product["id"]})
        assert payload(archived, "archiveProduct")["product"]["status"] == "ARCHIVED"

    assert await filter_titles(tenant_a, {"status": "ARCHIVED"}) == ["Item B", "Item D"]
    assert await filter_titles(tenant_a, {"status": "ACTIVE"}) == ["Item A", "Item C", "Item E"]


async def test_status_filter_pages_through_only_matching_products(tenant_a: Any) -> None:
    made = [await create(tenant_a, f"Thing {n:02d}", f"THING-{n}") for n in range(9)]
    for product in made[::2]:
        payload(await tenant_a.gql(ARCHIVE_PRODUCT, {"id": product["id"]}), "archiveProduct")
    first = await tenant_a.gql(PAGE_OF_PRODUCTS, {"first": 3, "filter": {"status": "ACTIVE"}})
    end = first["data"]["products"]["pageInfo"]["endCursor"]

    rest = await tenant_a.gql(
        PAGE_OF_PRODUCTS, {"first": 3, "after": end, "filter": {"status": "ACTIVE"}}
    )

    titles = [e["node"]["title"] for body in (first, rest) for e in body["data"]["products"]["edges"]]
    assert titles == ["Thing 01", "Thing 03", "Thing 05", "Thing 07"]
    assert rest["data"]["products"]["pageInfo"]["hasNextPage"] is False


async def test_search_takes_percent_literally(tenant_a: Any) -> None:
    await create(tenant_a, "Save 100% Now", "PCT-1", handle="save-percent")
    await create(tenant_a, "Save 100 Now", "PCT-2", handle="save-plain")
    await create(tenant_a, "Save 1000 Now", "PCT-3", handle="save-more")

    assert await filter_titles(tenant_a, {"search": "100%"}) == ["Save 100% Now"]


async def test_search_takes_underscore_literally(tenant_a: Any) -> None:
    await create(tenant_a, "snake_case Mug", "UND-1")
    await create(tenant_a, "snakeXcase Mug", "UND-2")

    assert await filter_titles(tenant_a, {"search": "e_c"}) == ["snake_case Mug"]


async def test_search_takes_backslash_literally(tenant_a: Any) -> None:
    await create(tenant_a, "Back\\slash Tee", "BS-1", handle="back-slash-tee")
    await create(tenant_a, "Backslash Tee", "BS-2", handle="backslash-tee")

    assert await filter_titles(tenant_a, {"search": "k\\s"}) == ["Back\\slash Tee"]


async def test_search_is_case_insensitive_part_of_title(tenant_a: Any) -> None:
    await create(tenant_a, "Blue Linen Shirt", "CASE-1")
    await create(tenant_a, "Red Wool Scarf", "CASE-2")

    assert await filter_titles(tenant_a, {"search": "LINEN"}) == ["Blue Linen Shirt"]


async def test_handle_filter_matches_exactly(tenant_a: Any) -> None:
    await create(tenant_a, "Desk Lamp", "LAMP-1")
    await create(tenant_a, "Desk Lamp Pro", "LAMP-2")

    assert await filter_titles(tenant_a, {"handle": "desk-lamp"}) == ["Desk Lamp"]
