"""The database wall: row-level security holds for the app role whatever the SQL says, and the
tenant-scoped functions of tables/ never return or change another tenant's rows."""

from __future__ import annotations

import dataclasses
import uuid
from uuid import UUID

import asyncpg
import pytest

from domain import catalog
from domain.errors import Invalid, NotFound
from services import catalog as catalog_services
from tables import api_keys, db, engine, tenants
from tables import catalog as catalog_tables
from tables.catalog import ProductTable
from tests.documents import META

# The column each secured table is scoped by (the registry is scoped by its own id).
SCOPED_BY = {
    "categories": "tenant_id",
    "products": "tenant_id",
    "variants": "tenant_id",
    "api_keys": "tenant_id",
    "tenants": "id",
}
SET_TENANT = "select set_config('app.tenant_id', $1, true)"
TABLES_WITH_TENANT_ID = """
select c.relname, c.relrowsecurity, c.relforcerowsecurity
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
where n.nspname = current_schema() and c.relkind in ('r', 'p')
order by c.relname
"""
POLICIES = "select tablename from pg_policies where schemaname = current_schema()"
RLS_VIOLATION = "row-level security"


@dataclasses.dataclass(frozen=True)
class Side:
    tenant_id: UUID
    category: catalog.Category
    spare_category: catalog.Category
    product: catalog.Product
    variant: catalog.Variant


@dataclasses.dataclass(frozen=True)
class World:
    a: Side
    b: Side


async def seed_side(label: str) -> Side:
    tag = uuid.uuid4().hex[:8]
    tenant = await tenants.create(slug=f"rls-{label}-{tag}", name=f"RLS {label}", modules=("catalog",))
    category = await catalog_services.create_category(
        name=f"{label} category", handle="shared-category", parent_id=None, tenant_id=tenant.id, meta=META
    )
    spare = await catalog_services.create_category(
        name=f"{label} spare", handle="spare-category", parent_id=None, tenant_id=tenant.id, meta=META
    )
    draft = catalog.ProductDraft(
        title=f"{label} shared title",
        handle="shared-handle",
        category_id=category.id,
        attributes={"origin": "shared"},
    )
    variant = catalog.VariantDraft(
        sku=f"{label}-{tag}".upper(), title=f"{label} variant", price=catalog.Money(100, "EUR")
    )
    product = await catalog_services.create_product(draft, [variant], tenant_id=tenant.id, meta=META)
    variants = await catalog_tables.variants_of([product.id], tenant_id=tenant.id)
    await api_keys.create(tenant_id=tenant.id, name=f"rls {label}", scopes={"catalog:read"})
    return Side(
        tenant_id=tenant.id,
        category=category,
        spare_category=spare,
        product=product,
        variant=variants[product.id][0],
    )


@pytest.fixture
async def world(app_pool: None) -> World:
    return World(a=await seed_side("a"), b=await seed_side("b"))


async def owner_count(owner: asyncpg.Connection, table: str, *tenant_ids: UUID) -> int:
    column = SCOPED_BY[table]
    count: int = await owner.fetchval(
        f"select count(*) from {table} where {column} = any($1::uuid[])", list(tenant_ids)
    )
    return count


async def insert_row(conn: asyncpg.Connection, table: str, side: Side) -> None:
    """One new row of `table` belonging to `side`'s tenant."""
    tag = uuid.uuid4().hex[:8]
    if table == "categories":
        await conn.execute(
            "insert into categories (id, tenant_id, name, handle) values ($1, $2, 'x', $3)",
            uuid.uuid4(), side.tenant_id, f"new-{tag}",
        )
    elif table == "products":
        await conn.execute(
            "insert into products (id, tenant_id, handle, title) values ($1, $2, $3, 'x')",
            uuid.uuid4(), side.tenant_id, f"new-{tag}",
        )
    elif table == "variants":
        await conn.execute(
            "insert into variants (id, tenant_id, product_id, sku, price_amount, currency)"
            " values ($1, $2, $3, $4, 1, 'EUR')",
            uuid.uuid4(), side.tenant_id, side.product.id, f"NEW-{tag}",
        )
    elif table == "api_keys":
        await conn.execute(
            "insert into api_keys (id, tenant_id, prefix, secret_hash, name, scopes)"
            " values ($1, $2, $3, 'hash', 'x', '{}')",
            uuid.uuid4(), side.tenant_id, tag,
        )
    else:
        assert table == "tenants"
        await conn.execute(
            "insert into tenants (id, slug, name, modules, extensions)"
            " values ($1, $2, 'x', '{}', '{}')",
            side.tenant_id, f"new-{tag}",
        )


# The app role


async def test_app_connection_runs_as_the_app_role(app_conn: asyncpg.Connection) -> None:
    assert await app_conn.fetchval("select current_user") == engine.APP_ROLE


async def test_app_role_is_not_superuser(app_conn: asyncpg.Connection) -> None:
    assert await app_conn.fetchval("select rolsuper from pg_roles where rolname = current_user") is False


async def test_app_role_cannot_bypass_rls(app_conn: asyncpg.Connection) -> None:
    bypass = await app_conn.fetchval("select rolbypassrls from pg_roles where rolname = current_user")
    assert bypass is False


async def test_app_role_owns_no_table(app_conn: asyncpg.Connection) -> None:
    rows = await app_conn.fetch(
        """
        select c.relname, pg_get_userbyid(c.relowner) as owner
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = current_schema() and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
        """
    )
    owned = {row["relname"] for row in rows if row["owner"] == engine.APP_ROLE}

    assert set(SCOPED_BY) <= {row["relname"] for row in rows}
    assert owned == set()


async def test_app_role_owns_no_table_per_pg_tables(app_conn: asyncpg.Connection) -> None:
    owners = await app_conn.fetch(
        "select tablename from pg_tables where schemaname = current_schema() and tableowner = $1",
        engine.APP_ROLE,
    )
    assert owners == []


async def test_app_role_inherits_no_other_role(app_conn: asyncpg.Connection) -> None:
    granted = await app_conn.fetch(
        "select roleid::regrole::text as role from pg_auth_members where member = current_user::regrole"
    )
    assert granted == []


async def test_app_role_cannot_create_a_table_it_would_own(app_conn: asyncpg.Connection) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app_conn.execute(f"create table {await app_conn.fetchval('select current_schema()')}"
                               ".app_owned (id int, tenant_id uuid)")


async def test_app_role_cannot_switch_rls_off(app_conn: asyncpg.Connection) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app_conn.execute("alter table products disable row level security")


# The catalog: RLS enabled and forced wherever there is a tenant_id


async def test_rls_is_enabled_and_forced_on_every_table_with_tenant_id(
    owner: asyncpg.Connection,
) -> None:
    rows = await owner.fetch(TABLES_WITH_TENANT_ID)
    discovered = {row["relname"] for row in rows}
    unsecured = {
        row["relname"] for row in rows if not (row["relrowsecurity"] and row["relforcerowsecurity"])
    }

    assert {"categories", "products", "variants", "api_keys"} <= discovered
    assert unsecured == set()


async def test_every_table_with_tenant_id_has_a_policy(owner: asyncpg.Connection) -> None:
    tables = {row["relname"] for row in await owner.fetch(TABLES_WITH_TENANT_ID)}
    with_policy = {row["tablename"] for row in await owner.fetch(POLICIES)}

    assert tables - with_policy == set()


async def test_rls_is_enabled_and_forced_on_the_tenant_registry(owner: asyncpg.Connection) -> None:
    row = await owner.fetchrow(
        "select relrowsecurity, relforcerowsecurity from pg_class"
        " where oid = 'tenants'::regclass"
    )
    assert (row["relrowsecurity"], row["relforcerowsecurity"]) == (True, True)


# Raw SQL as the app role


@pytest.mark.parametrize("table", sorted(SCOPED_BY))
async def test_no_tenant_set_reads_no_rows(
    world: World, owner: asyncpg.Connection, app_conn: asyncpg.Connection, table: str
) -> None:
    assert await owner_count(owner, table, world.a.tenant_id, world.b.tenant_id) >= 2

    assert await app_conn.fetchval(f"select count(*) from {table}") == 0


@pytest.mark.parametrize("table", sorted(SCOPED_BY))
async def test_tenant_set_reads_only_its_rows(
    world: World, owner: asyncpg.Connection, app_conn: asyncpg.Connection, table: str
) -> None:
    column = SCOPED_BY[table]
    expected = await owner_count(owner, table, world.a.tenant_id)

    async with app_conn.transaction():
        await app_conn.execute(SET_TENANT, str(world.a.tenant_id))
        owners = await app_conn.fetch(f"select {column} from {table}")

    assert expected >= 1
    assert [row[column] for row in owners] == [world.a.tenant_id] * expected


@pytest.mark.parametrize("table", ["api_keys", "categories", "products", "variants"])
async def test_insert_for_the_tenant_set_is_allowed(
    world: World, owner: asyncpg.Connection, app_conn: asyncpg.Connection, table: str
) -> None:
    before = await owner_count(owner, table, world.a.tenant_id)

    async with app_conn.transaction():
        await app_conn.execute(SET_TENANT, str(world.a.tenant_id))
        await insert_row(app_conn, table, world.a)

    assert await owner_count(owner, table, world.a.tenant_id) == before + 1


@pytest.mark.parametrize("table", ["api_keys", "categories", "products", "variants"])
async def test_insert_for_another_tenant_violates_rls(
    world: World, owner: asyncpg.Connection, app_conn: asyncpg.Connection, table: str
) -> None:
    before = await owner_count(owner, table, world.b.tenant_id)

    with pytest.raises(asyncpg.InsufficientPrivilegeError, match=RLS_VIOLATION):
        async with app_conn.transaction():
            await app_conn.execute(SET_TENANT, str(world.a.tenant_id))
            await insert_row(app_conn, table, world.b)

    assert await owner_count(owner, table, world.b.tenant_id) == before


async def test_insert_of_another_tenant_registry_row_violates_rls(
    world: World, app_conn: asyncpg.Connection
) -> None:
    stranger = dataclasses.replace(world.b, tenant_id=uuid.uuid4())

    with pytest.raises(asyncpg.InsufficientPrivilegeError, match=RLS_VIOLATION):
        async with app_conn.transaction():
            await app_conn.execute(SET_TENANT, str(world.a.tenant_id))
            await insert_row(app_conn, "tenants", stranger)


async def test_no_tenant_set_cannot_insert(world: World, app_conn: asyncpg.Connection) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match=RLS_VIOLATION):
        await insert_row(app_conn, "products", world.a)


async def test_update_cannot_hand_a_row_to_another_tenant(
    world: World, owner: asyncpg.Connection, app_conn: asyncpg.Connection
) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match=RLS_VIOLATION):
        async with app_conn.transaction():
            await app_conn.execute(SET_TENANT, str(world.a.tenant_id))
            await app_conn.execute(
                "update categories set tenant_id = $1 where id = $2",
                world.b.tenant_id, world.a.spare_category.id,
            )

    moved = await owner.fetchval(
        "select tenant_id from categories where id = $1", world.a.spare_category.id
    )
    assert moved == world.a.tenant_id


async def test_unfiltered_update_changes_only_the_tenant_set(
    world: World, owner: asyncpg.Connection, app_conn: asyncpg.Connection
) -> None:
    async with app_conn.transaction():
        await app_conn.execute(SET_TENANT, str(world.a.tenant_id))
        status = await app_conn.execute("update products set title = 'overwritten'")

    titles = await owner.fetch(
        "select tenant_id, title from products where id = any($1::uuid[])",
        [world.a.product.id, world.b.product.id],
    )
    assert status == "UPDATE 1"
    assert {row["tenant_id"]: row["title"] for row in titles} == {
        world.a.tenant_id: "overwritten",
        world.b.tenant_id: world.b.product.title,
    }


async def test_unfiltered_delete_removes_only_the_tenant_set(
    world: World, owner: asyncpg.Connection, app_conn: asyncpg.Connection
) -> None:
    b_before = await owner_count(owner, "variants", world.b.tenant_id)

    async with app_conn.transaction():
        await app_conn.execute(SET_TENANT, str(world.a.tenant_id))
        await app_conn.execute("delete from variants")

    assert b_before >= 1
    assert await owner_count(owner, "variants", world.a.tenant_id) == 0
    assert await owner_count(owner, "variants", world.b.tenant_id) == b_before


async def test_tenant_does_not_leak_past_commit(world: World, app_conn: asyncpg.Connection) -> None:
    async with app_conn.transaction():
        await app_conn.execute(SET_TENANT, str(world.a.tenant_id))
        inside = await app_conn.fetchval("select count(*) from products")

    setting = await app_conn.fetchval("select current_setting('app.tenant_id', true)")
    outside = await app_conn.fetchval("select count(*) from products")
    async with app_conn.transaction():
        next_transaction = await app_conn.fetchval("select count(*) from products")

    assert inside == 1
    assert setting in ("", None)
    assert (outside, next_transaction) == (0, 0)


async def test_tenant_does_not_leak_past_rollback(
    world: World, app_conn: asyncpg.Connection
) -> None:
    with pytest.raises(asyncpg.DivisionByZeroError):
        async with app_conn.transaction():
            await app_conn.execute(SET_TENANT, str(world.a.tenant_id))
            await app_conn.execute("select 1 / 0")

    assert await app_conn.fetchval("select count(*) from products") == 0


async def test_pooled_connections_carry_no_tenant_after_a_unit_of_work(world: World) -> None:
    async with db.transaction(tenant_id=world.a.tenant_id):
        inside = await ProductTable.count()
    assert engine.DB.pool is not None
    connections = [await engine.DB.pool.acquire() for _ in range(engine.DB.pool.get_size())]
    try:
        settings = [await c.fetchval("select current_setting('app.tenant_id', true)") for c in connections]
        counts = [await c.fetchval("select count(*) from products") for c in connections]
    finally:
        for connection in connections:
            await engine.DB.pool.release(connection)

    assert inside >= 1
    assert set(settings) <= {"", None}
    assert set(counts) == {0}


# Piccolo queries with no tenant filter of their own: RLS alone scopes them


async def test_unfiltered_piccolo_select_sees_only_the_tenant_set(world: World) -> None:
    async with db.transaction(tenant_id=world.b.tenant_id):
        rows = await ProductTable.select(ProductTable.id, ProductTable.tenant_id)

    assert rows == [{"id": world.b.product.id, "tenant_id": world.b.tenant_id}]


async def test_unfiltered_piccolo_select_without_tenant_sees_nothing(world: World) -> None:
    async with db.transaction(tenant_id=None):
        rows = await ProductTable.select(ProductTable.id)

    assert rows == []


# The tenant-scoped functions of tables/catalog.py, called with the other tenant's id


async def test_get_products_excludes_other_tenant(world: World) -> None:
    found = await catalog_tables.get_products(
        [world.a.product.id, world.b.product.id], tenant_id=world.b.tenant_id
    )
    assert list(found) == [world.b.product.id]


async def test_get_product_of_other_tenant_is_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        await catalog_tables.get_product(world.a.product.id, tenant_id=world.b.tenant_id)


async def test_variants_of_excludes_other_tenant(world: World) -> None:
    found = await catalog_tables.variants_of(
        [world.a.product.id, world.b.product.id], tenant_id=world.b.tenant_id
    )
    assert {key: [v.id for v in value] for key, value in found.items()} == {
        world.b.product.id: [world.b.variant.id]
    }


async def test_variants_by_sku_excludes_other_tenant(world: World) -> None:
    found = await catalog_tables.variants_by_sku(
        [world.a.variant.sku, world.b.variant.sku], tenant_id=world.b.tenant_id
    )
    assert {sku: v.id for sku, v in found.items()} == {world.b.variant.sku: world.b.variant.id}


async def test_variants_by_sku_with_products_excludes_other_tenant(world: World) -> None:
    variants, products = await catalog_tables.variants_by_sku_with_products(
        [world.a.variant.sku, world.b.variant.sku], tenant_id=world.b.tenant_id
    )
    assert {sku: v.id for sku, v in variants.items()} == {world.b.variant.sku: world.b.variant.id}
    assert list(products) == [world.b.product.id]


async def test_get_variant_of_other_tenant_is_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        await catalog_tables.get_variant(world.a.variant.id, tenant_id=world.b.tenant_id)


@pytest.mark.parametrize("sort", list(catalog.ProductSort))
async def test_list_products_excludes_other_tenant(world: World, sort: catalog.ProductSort) -> None:
    found = await catalog_tables.list_products(
        tenant_id=world.b.tenant_id, where=catalog.ProductFilter(), sort=sort,
        descending=False, after=None, limit=100,
    )
    assert [p.id for p in found] == [world.b.product.id]


async def test_list_products_filtered_by_other_tenant_category_is_empty(world: World) -> None:
    found = await catalog_tables.list_products(
        tenant_id=world.b.tenant_id,
        where=catalog.ProductFilter(category_id=world.a.category.id, handle="shared-handle"),
        sort=catalog.ProductSort.CREATED_AT, descending=False, after=None, limit=100,
    )
    assert found == []


async def test_list_products_after_other_tenant_key_excludes_other_tenant(world: World) -> None:
    after = (world.a.product.created_at, world.a.product.id)

    found = await catalog_tables.list_products(
        tenant_id=world.b.tenant_id, where=catalog.ProductFilter(),
        sort=catalog.ProductSort.CREATED_AT, descending=False, after=after, limit=100,
    )

    assert [p.id for p in found] == [world.b.product.id]


async def test_get_categories_excludes_other_tenant(world: World) -> None:
    found = await catalog_tables.get_categories(
        [world.a.category.id, world.b.category.id], tenant_id=world.b.tenant_id
    )
    assert list(found) == [world.b.category.id]


async def test_list_categories_excludes_other_tenant(world: World) -> None:
    found = await catalog_tables.list_categories(tenant_id=world.b.tenant_id)
    assert {c.id for c in found} == {world.b.category.id, world.b.spare_category.id}


async def test_find_by_attributes_excludes_other_tenant(world: World) -> None:
    found = await catalog_tables.find_by_attributes(
        {"origin": "shared"}, tenant_id=world.b.tenant_id, limit=100
    )
    assert [p.id for p in found] == [world.b.product.id]


async def test_update_product_of_other_tenant_is_not_found_and_unchanged(world: World) -> None:
    draft = catalog.ProductDraft(title="hijacked", handle="hijacked")

    with pytest.raises(NotFound):
        await catalog_services.update_product(
            world.a.product.id, draft, tenant_id=world.b.tenant_id, meta=META
        )

    after = await catalog_tables.get_product(world.a.product.id, tenant_id=world.a.tenant_id)
    assert after == world.a.product


async def test_update_product_into_other_tenant_category_is_invalid(world: World) -> None:
    draft = catalog.ProductDraft(
        title="moved", handle="shared-handle", category_id=world.a.category.id
    )

    with pytest.raises(Invalid):
        await catalog_services.update_product(
            world.b.product.id, draft, tenant_id=world.b.tenant_id, meta=META
        )

    after = await catalog_tables.get_product(world.b.product.id, tenant_id=world.b.tenant_id)
    assert after == world.b.product


async def test_update_variant_of_other_tenant_is_not_found_and_unchanged(world: World) -> None:
    draft = catalog.VariantDraft(
        sku=world.a.variant.sku, title="hijacked", price=catalog.Money(1, "USD"), active=False
    )

    with pytest.raises(NotFound):
        await catalog_services.update_variant(
            world.a.variant.id, draft, tenant_id=world.b.tenant_id, meta=META
        )

    after = await catalog_tables.get_variant(world.a.variant.id, tenant_id=world.a.tenant_id)
    assert after == world.a.variant


async def test_add_variant_to_other_tenant_product_is_not_found(world: World) -> None:
    draft = catalog.VariantDraft(sku="INTRUDER-1", title="", price=catalog.Money(1, "EUR"))

    with pytest.raises(NotFound):
        await catalog_services.add_variant(world.a.product.id, draft, tenant_id=world.b.tenant_id, meta=META)

    for side in (world.a, world.b):
        assert await catalog_tables.variants_by_sku(["INTRUDER-1"], tenant_id=side.tenant_id) == {}
    found = await catalog_tables.variants_of([world.a.product.id], tenant_id=world.a.tenant_id)
    assert found[world.a.product.id] == [world.a.variant]


async def test_create_product_in_other_tenant_category_is_invalid(world: World) -> None:
    draft = catalog.ProductDraft(title="sneaky", handle="sneaky", category_id=world.a.category.id)
    variant = catalog.VariantDraft(sku="SNEAKY-1", title="", price=catalog.Money(1, "EUR"))

    with pytest.raises(Invalid) as raised:
        await catalog_services.create_product(draft, [variant], tenant_id=world.b.tenant_id, meta=META)

    assert set(raised.value.fields) == {"input.categoryId"}
    assert await catalog_tables.variants_by_sku(["SNEAKY-1"], tenant_id=world.b.tenant_id) == {}


async def test_create_category_under_other_tenant_parent_is_invalid(world: World) -> None:
    with pytest.raises(Invalid):
        await catalog_services.create_category(
            name="child", handle="child", parent_id=world.a.category.id,
            tenant_id=world.b.tenant_id, meta=META,
        )

    found = await catalog_tables.list_categories(tenant_id=world.b.tenant_id)
    assert {c.handle for c in found} == {"shared-category", "spare-category"}


async def test_api_keys_list_excludes_other_tenant(world: World) -> None:
    found = await api_keys.list_for_tenant(tenant_id=world.b.tenant_id)
    assert {key.tenant_id for key in found} == {world.b.tenant_id}
    assert len(found) == 1
