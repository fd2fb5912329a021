import os

from piccolo.conf.apps import AppConfig

from tables import (
    api_keys,
    catalog,
    customers,
    events,
    inventory,
    metrics,
    orders,
    payments,
    pricing,
    shipping,
    tenants,
    webhooks,
)

APP_CONFIG = AppConfig(
    app_name="tenantgraph",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "migrations"),
    table_classes=[
        tenants.TenantTable,
        api_keys.ApiKeyTable,
        catalog.CategoryTable,
        catalog.ProductTable,
        catalog.VariantTable,
        events.EventTable,
        events.CounterTable,
        pricing.PriceListTable,
        pricing.VariantPriceTable,
        inventory.LocationTable,
        inventory.StockLevelTable,
        inventory.StockAdjustmentTable,
        inventory.ReservationTable,
        customers.CustomerTable,
        customers.AddressTable,
        orders.OrderTable,
        orders.OrderLineTable,
        payments.PaymentTable,
        metrics.MetricTable,
        shipping.ShipmentTable,
        shipping.ShipmentLineTable,
        webhooks.EndpointTable,
        webhooks.InboxTable,
    ],
    migration_dependencies=[],
    commands=[],
)
