"""The one read of a new order (customer, variants by id and sku, products, prices) finds only
the asking tenant's rows: through its function, and at the database wall for the app role."""

from __future__ import annotations

from typing import Any

from tables import db
from tables import order_inputs as input_tables
from tests.shop import PRICES, open_shop


async def test_the_read_finds_the_tenants_customer_variants_products_and_prices(make_tenant: Any) -> None:
    a = await open_shop(make_tenant)

    found = await input_tables.order_inputs(
        [a.variants["TEE-S"]], ["MUG"], customer_id=a.customer_id, price_list_id=None, tenant_id=a.id
    )

    assert found.customer_found
    assert set(found.by_id) == {a.variants["TEE-S"]}
    assert found.by_sku["MUG"].id == a.variants["MUG"] and set(found.by_sku) == {"MUG"}
    assert {v.product_id for v in (*found.by_id.values(), *found.by_sku.values())} == set(found.products)
    assert {q.variant_id: q.price.amount for q in found.quotes.values()} == {
        a.variants["TEE-S"]: PRICES["TEE-S"], a.variants["MUG"]: PRICES["MUG"]
    }


async def test_b_asking_with_a_keys_finds_only_its_own_rows(make_tenant: Any) -> None:
    a, b = await open_shop(make_tenant), await open_shop(make_tenant)

    found = await input_tables.order_inputs(
        [a.variants["TEE-S"]], ["MUG"], customer_id=a.customer_id, price_list_id=None, tenant_id=b.id
    )

    assert not found.customer_found, "A's customer is not B's"
    assert found.by_id == {}, "A's variant id finds nothing for B"
    assert found.by_sku["MUG"].id == b.variants["MUG"], "the same sku names B's own variant"
    assert set(found.quotes) == {b.variants["MUG"]}
    assert a.variants["TEE-S"] not in found.quotes


async def test_rls_hides_a_rows_from_the_statement_run_as_b(make_tenant: Any) -> None:
    a, b = await open_shop(make_tenant), await open_shop(make_tenant)

    async with db.transaction(tenant_id=b.id) as tx:
        rows = await tx.connection.fetch(
            input_tables.INPUTS, a.id, [a.variants["TEE-S"]], ["MUG"], None, a.customer_id
        )

    assert [(row["customer_found"], row["id"]) for row in rows] == [(False, None)]
