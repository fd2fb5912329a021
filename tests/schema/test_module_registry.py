"""Every registry is derived from the module list and holds what it held when it was written
by hand (schema fragments, Piccolo tables)."""

from __future__ import annotations

from domain import tenancy
from schema import build
from tables import piccolo_app


def _names(module: build.Module) -> tuple[str | None, ...]:
    parts = (module.query, module.mutation, module.subscription, *module.type_overrides)
    return tuple(None if part is None else part.__name__ for part in parts)


# What the modules written by hand before the module list held; modules added since check
# their own parts in their own tests.
HAND_WRITTEN = {
    "catalog": ("CatalogQuery", "CatalogMutation", None),
    "pricing": ("PricingQuery", "PricingMutation", None, "PricedVariant"),
    "metrics": ("MetricsQuery", "MetricsMutation", "MetricsSubscription"),
    "customers": ("CustomerQuery", "CustomerMutation", None),
    "orders": ("OrderQuery", "OrderMutation", "OrderSubscription", "CustomerWithOrders"),
    "payments": ("PaymentQuery", "PaymentMutation", None, "OrderWithPayments"),
    "inventory": ("InventoryQuery", "InventoryMutation", "InventorySubscription", "VariantStock"),
}
HAND_WRITTEN_TABLES = [
    "tenants", "api_keys", "categories", "products", "variants", "events", "tenant_counters",
    "price_lists", "variant_prices", "locations", "stock_levels", "stock_adjustments",
    "reservations", "customers", "customer_addresses", "orders", "order_lines", "payments",
    "metrics", "webhook_endpoints", "webhook_inbox",
]


def test_schema_fragments_are_derived_as_they_were() -> None:
    derived = {slug: _names(module) for slug, module in build.MODULES.items()}
    assert {slug: derived.get(slug) for slug in HAND_WRITTEN} == HAND_WRITTEN


def test_each_modules_subscriptions_live_in_its_own_schema_file() -> None:
    for slug, module in build.MODULES.items():
        for part in (module.query, module.mutation, module.subscription):
            assert part is None or part.__module__ == f"schema.{slug}"


def test_piccolo_tables_are_derived_as_they_were() -> None:
    names = sorted(table._meta.tablename for table in piccolo_app.APP_CONFIG.table_classes)
    added = [
        table._meta.tablename
        for slug in tenancy.MODULES if slug not in HAND_WRITTEN
        for table in piccolo_app.module_tables(slug)
    ]

    assert names == sorted(HAND_WRITTEN_TABLES + added)


def test_a_modules_tables_are_those_its_package_defines() -> None:
    assert {t._meta.tablename for t in piccolo_app.module_tables("inventory")} == {
        "locations", "stock_levels", "stock_adjustments", "reservations"
    }
    assert {t._meta.tablename for t in piccolo_app.module_tables("orders")} == {"orders", "order_lines"}


def test_every_listed_module_has_schema_parts() -> None:
    assert list(build.MODULES) == list(tenancy.MODULES)
