"""Piccolo's app: the core tables, then each module's, found in `tables.<slug>`."""

import importlib
import os
from types import ModuleType

from piccolo.conf.apps import AppConfig
from piccolo.table import Table

from domain import modules
from tables import api_keys, events, tenants, webhooks

CORE_TABLES: list[type[Table]] = [
    tenants.TenantTable,
    api_keys.ApiKeyTable,
    events.EventTable,
    events.CounterTable,
    webhooks.EndpointTable,
    webhooks.InboxTable,
]


def defined_tables(package: ModuleType) -> list[type[Table]]:
    """The Piccolo tables a module's package defines (not those it imports from others)."""
    return [
        value for value in vars(package).values()
        if isinstance(value, type) and issubclass(value, Table) and value is not Table
        and (value.__module__ + ".").startswith(package.__name__ + ".")
    ]


def module_tables(slug: str) -> list[type[Table]]:
    return defined_tables(importlib.import_module(f"tables.{slug}"))


APP_CONFIG = AppConfig(
    app_name="tenantgraph",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "migrations"),
    table_classes=[*CORE_TABLES, *(t for slug in modules.MODULES for t in module_tables(slug))],
    migration_dependencies=[],
    commands=[],
)
