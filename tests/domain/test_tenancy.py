"""Pure tenancy rules: what a principal may do, which module sets and scopes are valid."""

from __future__ import annotations

import uuid

import pytest

from domain import tenancy
from domain.errors import Invalid


def principal(*scopes: str) -> tenancy.Principal:
    return tenancy.Principal(subject="key:test", scopes=frozenset(scopes), tenant_id=uuid.uuid4())


# --- Principal.can --------------------------------------------------------------------------


def test_a_scope_grants_itself() -> None:
    assert principal("catalog:read").can("catalog:read")


def test_write_implies_read_of_the_same_domain() -> None:
    assert principal("catalog:write").can("catalog:read")


def test_read_does_not_imply_write() -> None:
    assert not principal("catalog:read").can("catalog:write")


def test_write_does_not_imply_read_of_another_domain() -> None:
    assert not principal("orders:write").can("catalog:read")


def test_admin_can_do_everything_in_its_tenant() -> None:
    admin = principal(tenancy.ADMIN)
    assert [admin.can(s) for s in ("catalog:read", "catalog:write", tenancy.ADMIN)] == [True] * 3


def test_platform_can_do_everything() -> None:
    platform = principal(tenancy.PLATFORM)
    assert [platform.can(s) for s in ("catalog:write", tenancy.ADMIN)] == [True, True]


def test_no_scopes_can_do_nothing() -> None:
    assert not principal().can("catalog:read")


def test_is_platform_only_with_the_platform_scope() -> None:
    assert (principal(tenancy.PLATFORM).is_platform, principal(tenancy.ADMIN).is_platform) == (
        True, False,
    )


# --- check_modules --------------------------------------------------------------------------


def test_known_modules_are_accepted() -> None:
    assert tenancy.check_modules(["catalog"], ["banban"]) == frozenset({"catalog"})


def test_no_modules_is_a_valid_set() -> None:
    assert tenancy.check_modules([]) == frozenset()


def test_unknown_module_is_refused() -> None:
    with pytest.raises(Invalid, match="unknown modules: warp") as raised:
        tenancy.check_modules(["catalog", "warp"])
    assert raised.value.fields == {"modules": "unknown: warp"}


def test_unknown_extension_is_refused() -> None:
    with pytest.raises(Invalid, match="unknown extension: nope") as raised:
        tenancy.check_modules(["catalog"], ["nope"])
    assert raised.value.fields == {"extensions": "unknown: nope"}


def test_extension_without_its_required_module_is_refused_naming_it() -> None:
    with pytest.raises(Invalid, match=r"banban requires catalog, which is not enabled") as raised:
        tenancy.check_modules([], ["banban"])
    assert raised.value.fields == {"modules": "missing: catalog"}


# --- check_scopes ---------------------------------------------------------------------------


def test_known_scopes_are_accepted() -> None:
    wanted = ["catalog:read", "catalog:write", "admin"]
    assert tenancy.check_scopes(wanted) == frozenset(wanted)


def test_unknown_scope_is_refused_naming_it() -> None:
    with pytest.raises(Invalid, match="unknown scopes: catalog:delete"):
        tenancy.check_scopes(["catalog:read", "catalog:delete"])


def test_platform_scope_is_refused_for_tenant_keys() -> None:
    with pytest.raises(Invalid, match="unknown scopes: platform"):
        tenancy.check_scopes([tenancy.PLATFORM])


def test_platform_scope_is_accepted_for_platform_keys() -> None:
    assert tenancy.check_scopes([tenancy.PLATFORM], platform=True) == frozenset({"platform"})


def test_empty_scopes_are_refused() -> None:
    with pytest.raises(Invalid, match="at least one scope"):
        tenancy.check_scopes([])


# --- schema_fingerprint ---------------------------------------------------------------------


def test_fingerprint_ignores_order_and_duplicates() -> None:
    assert tenancy.schema_fingerprint(["b", "a"], ["y", "x"]) == tenancy.schema_fingerprint(
        ("a", "b"), {"x", "y"}
    )


def test_fingerprint_differs_by_module_set() -> None:
    assert tenancy.schema_fingerprint(["catalog"], []) != tenancy.schema_fingerprint([], [])


def test_fingerprint_differs_by_extension_set() -> None:
    assert tenancy.schema_fingerprint(["catalog"], ["banban"]) != tenancy.schema_fingerprint(
        ["catalog"], []
    )


def test_fingerprint_tells_a_module_from_an_extension_of_the_same_name() -> None:
    assert tenancy.schema_fingerprint(["x"], []) != tenancy.schema_fingerprint([], ["x"])


def test_tenant_fingerprint_is_its_module_set_fingerprint() -> None:
    tenant = tenancy.Tenant(
        id=uuid.uuid4(), slug="shop", name="Shop",
        modules=frozenset({"catalog"}), extensions=frozenset({"banban"}),
    )
    assert tenant.fingerprint == tenancy.schema_fingerprint(["catalog"], ["banban"])


# --- check_slug -----------------------------------------------------------------------------


@pytest.mark.parametrize("slug", ["ab", "acme", "shop-2", "a" * 40])
def test_valid_slugs_are_returned(slug: str) -> None:
    assert tenancy.check_slug(slug) == slug


@pytest.mark.parametrize(
    "slug", ["", "a", "a" * 41, "Acme", "2shop", "-shop", "shop_1", "shop 1", "shöp", "shop\n"]
)
def test_invalid_slugs_are_refused(slug: str) -> None:
    with pytest.raises(Invalid) as raised:
        tenancy.check_slug(slug)
    assert raised.value.fields == {"slug": "invalid format"}
