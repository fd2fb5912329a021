"""Customers through /graphql: unique emails ignoring case, search, tags, addresses, isolation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tables import events as outbox
from tests.documents import codes, error_codes, error_fields, payload

MODULES = ("customers",)

CUSTOMER_FIELDS = """
id email firstName lastName name phone tags
addresses { id line1 city country defaultShipping defaultBilling }
defaultShippingAddress { id } defaultBillingAddress { id }
"""

CREATE_CUSTOMER = f"""
mutation Create($input: CustomerCreateInput!) {{
  createCustomer(input: $input) {{ customer {{ {CUSTOMER_FIELDS} }} errors {{ field message code }} }}
}}
"""

UPDATE_CUSTOMER = f"""
mutation Update($id: ID!, $input: CustomerUpdateInput!) {{
  updateCustomer(id: $id, input: $input) {{
    customer {{ {CUSTOMER_FIELDS} }} errors {{ field message code }}
  }}
}}
"""

ADD_ADDRESS = f"""
mutation AddAddress($customerId: ID!, $input: AddressInput!) {{
  addCustomerAddress(customerId: $customerId, input: $input) {{
    customer {{ {CUSTOMER_FIELDS} }} errors {{ field message code }}
  }}
}}
"""

UPDATE_ADDRESS = f"""
mutation UpdateAddress($id: ID!, $input: AddressUpdateInput!) {{
  updateCustomerAddress(id: $id, input: $input) {{
    customer {{ {CUSTOMER_FIELDS} }} errors {{ field message code }}
  }}
}}
"""

REMOVE_ADDRESS = f"""
mutation RemoveAddress($id: ID!) {{
  removeCustomerAddress(id: $id) {{ customer {{ {CUSTOMER_FIELDS} }} errors {{ field message code }} }}
}}
"""

CUSTOMER = f"""
query Customer($id: ID!) {{ customer(id: $id) {{ {CUSTOMER_FIELDS} }} }}
"""

CUSTOMER_BY_EMAIL = """
query ByEmail($email: String!) { customerByEmail(email: $email) { id email } }
"""

CUSTOMERS = """
query Customers($first: Int, $after: String, $filter: CustomerFilter, $orderBy: CustomerOrder) {
  customers(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
    edges { cursor node { id email lastName addresses { city } } }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  }
}
"""

HOME = {"line1": "1 Main St", "city": "Berlin", "country": "DE"}
OFFICE = {"line1": "2 Work Rd", "city": "Hamburg", "country": "DE"}


@pytest.fixture
async def shop(make_tenant: Any) -> Any:
    return await make_tenant(modules=MODULES)


@pytest.fixture
async def other_shop(make_tenant: Any) -> Any:
    return await make_tenant(modules=MODULES)


async def create(tenant: Any, email: str, **fields: Any) -> dict[str, Any]:
    body = await tenant.gql(CREATE_CUSTOMER, {"input": {"email": email, **fields}})
    customer: dict[str, Any] = payload(body, "createCustomer")["customer"]
    return customer


async def listed(tenant: Any, **variables: Any) -> list[str]:
    body = await tenant.gql(CUSTOMERS, {"first": 100, **variables})
    assert "errors" not in body, body
    return [edge["node"]["email"] for edge in body["data"]["customers"]["edges"]]


async def fetch(tenant: Any, customer_id: str) -> Any:
    body = await tenant.gql(CUSTOMER, {"id": customer_id})
    assert "errors" not in body, body
    return body["data"]["customer"]


# Creating and updating


async def test_create_customer_keeps_email_as_given_and_appends_event(shop: Any) -> None:
    created = await create(
        shop, " Ada@Example.COM ", firstName="Ada", lastName="Lovelace", phone="+44 20 1234",
        tags=["vip", "vip", "newsletter"],
    )

    assert created["email"] == "Ada@Example.COM"
    assert created["name"] == "Ada Lovelace"
    assert created["tags"] == ["vip", "newsletter"]
    found = await outbox.list_events(tenant_id=shop.id, aggregate_id=created["id"])
    assert [e.type for e in found] == ["customer.created"]
    assert found[0].payload["email"] == "Ada@Example.COM"


async def test_email_is_unique_ignoring_case(shop: Any) -> None:
    await create(shop, "ada@example.com")

    body = await shop.gql(CREATE_CUSTOMER, {"input": {"email": "ADA@example.com"}})

    assert error_codes(body, "createCustomer") == ["BAD_USER_INPUT"]
    assert list(error_fields(body, "createCustomer")) == ["input.email"]
    assert await listed(shop) == ["ada@example.com"]
    assert len(await outbox.list_events(tenant_id=shop.id)) == 1


async def test_concurrent_creates_with_one_email_make_one_customer(shop: Any) -> None:
    emails = ["RACE@example.com" if n % 2 else "race@example.COM" for n in range(8)]

    bodies = await asyncio.gather(
        *(shop.gql(CREATE_CUSTOMER, {"input": {"email": email}}) for email in emails)
    )

    made = [b for b in bodies if b["data"]["createCustomer"]["customer"] is not None]
    refused = [b for b in bodies if b["data"]["createCustomer"]["customer"] is None]
    assert len(made) == 1
    assert all(error_fields(b, "createCustomer") == {"input.email": "already used"} for b in refused)
    assert len(await listed(shop)) == 1


async def test_invalid_input_names_each_field(shop: Any) -> None:
    body = await shop.gql(CREATE_CUSTOMER, {"input": {
        "email": "not-an-email", "phone": "call me", "tags": [""],
        "addresses": [{"line1": "", "city": "Berlin", "country": "germany"}],
    }})

    assert set(error_fields(body, "createCustomer")) == {
        "input.email", "input.phone", "input.tags[0]",
        "input.addresses[0].line1", "input.addresses[0].country",
    }
    assert await listed(shop) == []


async def test_update_changes_fields_and_appends_event(shop: Any) -> None:
    created = await create(shop, "grace@example.com", firstName="Grace")

    body = await shop.gql(UPDATE_CUSTOMER, {
        "id": created["id"], "input": {"lastName": "Hopper", "tags": ["navy"], "email": "GRACE@example.com"}
    })

    updated = payload(body, "updateCustomer")["customer"]
    assert (updated["name"], updated["tags"], updated["email"]) == (
        "Grace Hopper", ["navy"], "GRACE@example.com"
    )
    found = await outbox.list_events(tenant_id=shop.id, aggregate_id=created["id"])
    assert [e.type for e in found] == ["customer.created", "customer.updated"]


async def test_update_to_another_customers_email_is_refused(shop: Any) -> None:
    await create(shop, "one@example.com")
    two = await create(shop, "two@example.com")

    body = await shop.gql(UPDATE_CUSTOMER, {"id": two["id"], "input": {"email": "ONE@example.com"}})

    assert error_fields(body, "updateCustomer") == {"input.email": "already used"}
    assert (await fetch(shop, two["id"]))["email"] == "two@example.com"


async def test_update_of_unknown_customer_is_not_found(shop: Any) -> None:
    body = await shop.gql(UPDATE_CUSTOMER, {
        "id": "00000000-0000-0000-0000-000000000001", "input": {"firstName": "X"}
    })
    assert error_codes(body, "updateCustomer") == ["NOT_FOUND"]

    malformed = await shop.gql(UPDATE_CUSTOMER, {"id": "nope", "input": {"firstName": "X"}})
    assert error_fields(malformed, "updateCustomer") == {"id": "invalid id"}


# Reading


async def test_customer_by_email_ignores_case(shop: Any) -> None:
    created = await create(shop, "Linus@Example.com")

    body = await shop.gql(CUSTOMER_BY_EMAIL, {"email": "  linus@EXAMPLE.com"})

    assert body == {"data": {"customerByEmail": {"id": created["id"], "email": "Linus@Example.com"}}}


async def test_search_matches_email_and_name_ignoring_case(shop: Any) -> None:
    await create(shop, "ada@example.com", firstName="Ada", lastName="Lovelace")
    await create(shop, "alan@example.org", firstName="Alan", lastName="Turing")

    assert await listed(shop, filter={"search": "LOVE"}) == ["ada@example.com"]
    assert await listed(shop, filter={"search": "alan turing"}) == ["alan@example.org"]
    assert await listed(shop, filter={"search": "example.org"}) == ["alan@example.org"]
    assert len(await listed(shop, filter={"search": "EXAMPLE"})) == 2


async def test_search_treats_percent_and_underscore_literally(shop: Any) -> None:
    await create(shop, "a_b@example.com")
    await create(shop, "axb@example.com", lastName="100%")

    assert await listed(shop, filter={"search": "a_b"}) == ["a_b@example.com"]
    assert await listed(shop, filter={"search": "%"}) == ["axb@example.com"]


async def test_tag_filter(shop: Any) -> None:
    await create(shop, "vip@example.com", tags=["vip", "b2b"])
    await create(shop, "plain@example.com", tags=["b2b"])

    assert await listed(shop, filter={"tag": "vip"}) == ["vip@example.com"]
    assert sorted(await listed(shop, filter={"tag": "b2b"})) == ["plain@example.com", "vip@example.com"]
    assert await listed(shop, filter={"tag": "VIP"}) == []


async def test_ordering_and_keyset_pages(shop: Any) -> None:
    for email, last in (("c@x.io", "Alpha"), ("A@x.io", "Charlie"), ("b@x.io", "Bravo")):
        await create(shop, email, lastName=last)

    by_email = await listed(shop, orderBy={"field": "EMAIL"})
    by_name_desc = await listed(shop, orderBy={"field": "LAST_NAME", "direction": "DESC"})
    first = await shop.gql(CUSTOMERS, {"first": 2, "orderBy": {"field": "EMAIL"}})
    cursor = first["data"]["customers"]["pageInfo"]["endCursor"]
    rest = await listed(shop, after=cursor, orderBy={"field": "EMAIL"})

    assert by_email == ["A@x.io", "b@x.io", "c@x.io"]
    assert by_name_desc == ["A@x.io", "b@x.io", "c@x.io"]
    assert first["data"]["customers"]["pageInfo"]["hasNextPage"] is True
    assert rest == ["c@x.io"]


async def test_cursor_of_another_ordering_is_bad_input(shop: Any) -> None:
    await create(shop, "a@x.io")
    first = await shop.gql(CUSTOMERS, {"first": 1, "orderBy": {"field": "EMAIL"}})
    cursor = first["data"]["customers"]["pageInfo"]["endCursor"]

    body = await shop.gql(CUSTOMERS, {"after": cursor})

    assert codes(body) == ["BAD_USER_INPUT"]


# Addresses


async def test_first_address_becomes_both_defaults(shop: Any) -> None:
    created = await create(shop, "home@example.com", addresses=[HOME, OFFICE])

    home, office = created["addresses"]
    assert (home["defaultShipping"], home["defaultBilling"]) == (True, True)
    assert (office["defaultShipping"], office["defaultBilling"]) == (False, False)
    assert created["defaultShippingAddress"] == {"id": home["id"]}


async def test_new_default_address_replaces_the_old_one(shop: Any) -> None:
    created = await create(shop, "move@example.com", addresses=[HOME])

    body = await shop.gql(ADD_ADDRESS, {
        "customerId": created["id"], "input": {**OFFICE, "defaultShipping": True}
    })

    customer = payload(body, "addCustomerAddress")["customer"]
    home, office = customer["addresses"]
    assert customer["defaultShippingAddress"] == {"id": office["id"]}
    assert customer["defaultBillingAddress"] == {"id": home["id"]}
    assert (home["defaultShipping"], office["defaultShipping"]) == (False, True)
    types = [e.type for e in await outbox.list_events(tenant_id=shop.id, aggregate_id=created["id"])]
    assert types == ["customer.created", "customer.updated"]


async def test_update_and_remove_address(shop: Any) -> None:
    created = await create(shop, "edit@example.com", addresses=[HOME, OFFICE])
    home, office = created["addresses"]

    updated = await shop.gql(UPDATE_ADDRESS, {
        "id": office["id"], "input": {"city": "Munich", "defaultBilling": True}
    })
    after_update = payload(updated, "updateCustomerAddress")["customer"]
    removed = await shop.gql(REMOVE_ADDRESS, {"id": home["id"]})
    after_remove = payload(removed, "removeCustomerAddress")["customer"]

    assert [a["city"] for a in after_update["addresses"]] == ["Berlin", "Munich"]
    assert after_update["defaultBillingAddress"] == {"id": office["id"]}
    assert after_remove["addresses"] == [{**office, "city": "Munich", "defaultBilling": True}]
    assert after_remove["defaultShippingAddress"] is None


async def test_invalid_address_update_changes_nothing(shop: Any) -> None:
    created = await create(shop, "bad@example.com", addresses=[HOME])

    body = await shop.gql(UPDATE_ADDRESS, {
        "id": created["addresses"][0]["id"], "input": {"country": "Deutschland", "city": ""}
    })

    assert set(error_fields(body, "updateCustomerAddress")) == {"input.country", "input.city"}
    assert (await fetch(shop, created["id"]))["addresses"] == created["addresses"]


# Scopes and modules


async def test_read_scope_cannot_write_and_other_scopes_cannot_read(shop: Any) -> None:
    created = await create(shop, "scoped@example.com")
    reader = await shop.key_with("customers:read")
    stranger = await shop.key_with("catalog:write")

    write = await shop.gql(CREATE_CUSTOMER, {"input": {"email": "x@example.com"}}, key=reader)
    read = await shop.gql(CUSTOMER, {"id": created["id"]}, key=stranger)
    allowed = await shop.gql(CUSTOMER_BY_EMAIL, {"email": "scoped@example.com"}, key=reader)

    assert codes(write) == ["FORBIDDEN"]
    assert codes(read) == ["FORBIDDEN"]
    assert allowed["data"]["customerByEmail"]["id"] == created["id"]


async def test_tenant_without_the_module_has_no_customer_fields(tenant_a: Any) -> None:
    body = await tenant_a.gql(CUSTOMERS, {})
    assert set(codes(body)) == {"GRAPHQL_VALIDATION_FAILED"}


# Isolation: tenant B never sees or changes tenant A's customers


@pytest.fixture
async def a_customer(shop: Any) -> dict[str, Any]:
    return await create(
        shop, "secret@a.example", firstName="Secret", lastName="Person", tags=["a-only"],
        addresses=[HOME],
    )


async def test_b_reads_a_customer_by_id_as_null(other_shop: Any, a_customer: Any) -> None:
    assert await other_shop.gql(CUSTOMER, {"id": a_customer["id"]}) == {"data": {"customer": None}}


async def test_b_reads_a_customer_by_email_as_null(other_shop: Any, a_customer: Any) -> None:
    body = await other_shop.gql(CUSTOMER_BY_EMAIL, {"email": "SECRET@a.example"})
    assert body == {"data": {"customerByEmail": None}}


async def test_b_lists_and_filters_none_of_a(other_shop: Any, a_customer: Any) -> None:
    own = await create(other_shop, "own@b.example")

    assert await listed(other_shop) == [own["email"]]
    assert await listed(other_shop, filter={"search": "secret"}) == []
    assert await listed(other_shop, filter={"tag": "a-only"}) == []
    for field in ("EMAIL", "LAST_NAME", "CREATED_AT"):
        assert await listed(other_shop, orderBy={"field": field, "direction": "DESC"}) == [own["email"]]


async def test_a_cursor_used_by_b_returns_only_b_rows(
    shop: Any, other_shop: Any, a_customer: Any
) -> None:
    own = await create(other_shop, "zz@b.example")
    page = await shop.gql(CUSTOMERS, {"first": 1, "orderBy": {"field": "EMAIL"}})
    cursor = page["data"]["customers"]["edges"][0]["cursor"]

    assert await listed(other_shop, after=cursor, orderBy={"field": "EMAIL"}) == [own["email"]]


async def test_b_cannot_update_a_customer(shop: Any, other_shop: Any, a_customer: Any) -> None:
    body = await other_shop.gql(UPDATE_CUSTOMER, {"id": a_customer["id"], "input": {"firstName": "X"}})

    assert error_codes(body, "updateCustomer") == ["NOT_FOUND"]
    assert await fetch(shop, a_customer["id"]) == a_customer


async def test_b_cannot_touch_a_addresses(shop: Any, other_shop: Any, a_customer: Any) -> None:
    address_id = a_customer["addresses"][0]["id"]

    added = await other_shop.gql(ADD_ADDRESS, {"customerId": a_customer["id"], "input": OFFICE})
    updated = await other_shop.gql(UPDATE_ADDRESS, {"id": address_id, "input": {"city": "X"}})
    removed = await other_shop.gql(REMOVE_ADDRESS, {"id": address_id})

    assert error_codes(added, "addCustomerAddress") == ["NOT_FOUND"]
    assert error_codes(updated, "updateCustomerAddress") == ["NOT_FOUND"]
    assert error_codes(removed, "removeCustomerAddress") == ["NOT_FOUND"]
    assert await fetch(shop, a_customer["id"]) == a_customer
    assert await outbox.list_events(tenant_id=other_shop.id) == []


async def test_b_may_use_an_email_a_has(shop: Any, other_shop: Any, a_customer: Any) -> None:
    own = await create(other_shop, "Secret@A.example")

    assert own["id"] != a_customer["id"]
    assert (await other_shop.gql(CUSTOMER_BY_EMAIL, {"email": "secret@a.example"}))["data"][
        "customerByEmail"]["id"] == own["id"]
    assert await fetch(shop, a_customer["id"]) == a_customer
