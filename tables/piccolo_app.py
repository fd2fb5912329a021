import os

from piccolo.conf.apps import AppConfig

from tables import api_keys, catalog, tenants

APP_CONFIG = AppConfig(
    app_name="tenantgraph",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "migrations"),
    table_classes=[
        tenants.TenantTable,
        api_keys.ApiKeyTable,
        catalog.CategoryTable,
        catalog.ProductTable,
        catalog.VariantTable,
    ],
    migration_dependencies=[],
    commands=[],
)
