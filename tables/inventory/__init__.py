"""Inventory tables and their tenant-scoped queries: stock locations, stock levels per
(variant, location), adjustments kept as history, and reservations for open orders."""

from tables.inventory.locations import (
    get_location,
    get_locations,
    input_location,
    insert_location,
    list_locations,
    location_by_handle,
    update_location,
)
from tables.inventory.reservations import (
    hold,
    lock_for_sale,
    lock_held_levels,
    lock_reservations,
    mark,
    record,
    reservations_of,
    store,
)
from tables.inventory.rows import (
    LocationTable,
    ReservationTable,
    StockAdjustmentTable,
    StockLevelTable,
    adjusted_event,
)
from tables.inventory.stock import (
    available_of,
    count_adjustments,
    count_levels,
    levels_of,
    list_adjustments,
    list_levels,
    lock_at,
    lock_level,
    write_change,
)

__all__ = [
    "LocationTable", "ReservationTable", "StockAdjustmentTable", "StockLevelTable",
    "adjusted_event", "available_of", "count_adjustments", "count_levels", "get_location",
    "get_locations", "hold", "input_location",
    "insert_location", "levels_of", "list_adjustments", "list_levels", "list_locations",
    "location_by_handle", "lock_at", "lock_for_sale", "lock_held_levels", "lock_level",
    "lock_reservations", "mark", "record", "reservations_of", "store", "update_location",
    "write_change",
]
