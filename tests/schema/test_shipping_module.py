"""The shipping module is found by its name in every layer: its schema parts, its tables."""

from __future__ import annotations

from schema import build
from tables import piccolo_app


def test_shippings_schema_parts_are_found_under_its_name() -> None:
    module = build.MODULES["shipping"]
    parts = (module.query, module.mutation, module.subscription, *module.type_overrides)
    assert [part.__name__ for part in parts if part is not None] == [
        "ShipmentQuery", "ShipmentMutation", "ShipmentSubscription", "OrderWithShipments",
    ]


def test_shippings_tables_are_its_own_and_in_piccolos_app() -> None:
    tables = piccolo_app.module_tables("shipping")
    assert {table._meta.tablename for table in tables} == {"shipments", "shipment_lines"}
    assert set(tables) <= set(piccolo_app.APP_CONFIG.table_classes)
