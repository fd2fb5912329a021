"""Inventory tables and their tenant-scoped queries: stock locations, stock levels per
(variant, location), adjustments kept as history, and reservations for open orders."""

from tables.inventory.locations import (
    create_location,
    get_location,
    get_locations,
    input_location,
    list_locations,
    location_by_handle,
    update_location,
)
from tables.inventory.reservations import (
    commit_reservations,
    release_reservations,
    reservations_of,
    reserve,
    restock,
)
from tables.inventory.rows import (
    LocationTable,
    ReservationTable,
    StockAdjustmentTable,
    StockLevelTable,
)
from tables.inventory.stock import (
    adjust,
    available_of,
    levels_of,
    list_adjustments,
    list_levels,
    move_at,
    set_stock,
)

__all__ = [
    "LocationTable", "ReservationTable", "StockAdjustmentTable", "StockLevelTable",
    "adjust", "available_of", "commit_reservations", "create_location", "get_location",
    "get_locations", "input_location", "levels_of", "list_adjustments", "list_levels",
    "list_locations", "location_by_handle", "move_at", "release_reservations", "reservations_of",
    "reserve", "restock", "set_stock", "update_location",
]
