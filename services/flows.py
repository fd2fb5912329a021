"""What each webhook flow does to the domain, inside the delivery's transaction.

purchase-flow: the order, with its customer (found or created by email); its stock is
               reserved like any order's. Its lines must be at prices the shop lists (base
               price or a price list, in the order's currency): never repriced, else dead.
sales-flow:    a POS sale is an order, paid and fulfilled at once, its stock sold at the store;
               a return puts the items back in stock there.
inventory-flow: stock counts (`set`) or adjustments (`adjust`) per sku and location.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from uuid import UUID

from domain import catalog, customers, events, flows, imports, inventory, orders, payments, purchase_batches
from domain.errors import DomainError, Invalid
from services import customers as customer_services
from services import inventory as inventory_services
from services import orders as order_services
from services import payments as payment_services
from services import purchase_batches as purchase_batches_service
from tables import catalog as catalog_tables
from tables import customers as customer_tables
from tables import inventory as inventory_tables

Apply = Callable[..., Awaitable[None]]
ApplyBatch = Callable[
    [Sequence[tuple[flows.Payload, events.WriteMeta]], UUID], Awaitable[list[DomainError | None]]
]
"""A flow's set-based application of a batch, called inside the open tenant transaction: one
outcome per input, in order (None applied, a DomainError rejected with nothing of it written)."""


async def apply_purchase(
    purchase: flows.Purchase, *, tenant_id: UUID, meta: events.WriteMeta
) -> None:
    request = purchase_batches.import_request(purchase)
    buyer = purchase.customer

    async def reserve(order: orders.Order, lines: Sequence[orders.LineDraft]) -> object:
        pairs = [(line.variant_id, line.quantity) for line in lines]
        return await inventory_services.reserve(order.id, pairs, tenant_id=tenant_id, meta=meta)

    async def customer() -> UUID:
        assert buyer is not None
        return (await _customer(buyer, tenant_id=tenant_id, meta=meta)).id

    await order_services.import_order(
        request, move_stock=reserve, customer=None if buyer is None else customer,
        tenant_id=tenant_id, meta=meta,
    )


async def apply_sale(sale: flows.Sale, *, tenant_id: UUID, meta: events.WriteMeta) -> None:
    location = await inventory_tables.location_by_handle(
        sale.location, tenant_id=tenant_id, path="sale.location"
    )
    if sale.kind == "return":
        variants = await _variants([item.sku for item in sale.items], "sale.items", tenant_id=tenant_id)
        lines = [(variants[item.sku], item.quantity) for item in sale.items]
        await inventory_services.move_at(
            location.id, lines, inventory.Reason.RETURNED, order_id=None,
            note=f"POS return {sale.sale_id}", tenant_id=tenant_id, meta=meta,
        )
        return
    request = _import_request(f"pos:{sale.sale_id}", sale.currency, sale.items, sale.total, path="sale")

    async def sell(order: orders.Order, lines: Sequence[orders.LineDraft]) -> object:
        pairs = [(line.variant_id, line.quantity) for line in lines]
        return await inventory_services.move_at(
            location.id, pairs, inventory.Reason.SOLD, order_id=order.id,
            note=f"POS sale {sale.sale_id}", tenant_id=tenant_id, meta=meta,
        )

    order, created = await order_services.import_order(
        request, move_stock=sell, tenant_id=tenant_id, meta=meta
    )
    if not created:
        return
    if order.total > 0:
        capture = payments.PaymentDraft(
            payments.PaymentKind.CAPTURE, catalog.Money(order.total, order.currency),
            reference=f"pos:{sale.sale_id}",
        )
        await payment_services.record(order.id, capture, tenant_id=tenant_id, meta=meta)
    else:
        await order_services.change_status(order.id, orders.OrderStatus.PAID, tenant_id=tenant_id, meta=meta)
    await order_services.change_status(order.id, orders.OrderStatus.FULFILLED, tenant_id=tenant_id, meta=meta)


async def apply_stock(update: flows.StockUpdate, *, tenant_id: UUID, meta: events.WriteMeta) -> None:
    """Counts (`set`) or adjustments (`adjust`) per sku and location, all or nothing."""
    variants = await _variants([line.sku for line in update.lines], "items", tenant_id=tenant_id)
    for index, line in enumerate(update.lines):
        location = await inventory_tables.location_by_handle(
            line.location, tenant_id=tenant_id, path=f"items[{index}].location"
        )
        variant_id = variants[line.sku]
        if update.mode == "set":
            await inventory_services.set_stock(
                variant_id, location.id, line.quantity, "inventory-flow count",
                tenant_id=tenant_id, meta=meta,
            )
            continue
        change = inventory.Change(
            variant_id, location.id, line.quantity, inventory.Reason(line.reason), "inventory-flow"
        )
        await inventory_services.adjust(change, tenant_id=tenant_id, meta=meta)


def _import_request(
    ref: str, currency: str, items: Sequence[flows.Item], total: int, *, path: str,
    listed_prices: bool = False,
) -> imports.ImportRequest:
    lines = tuple(imports.ImportedLine(i.sku, i.quantity, i.unit_price) for i in items)
    return imports.ImportRequest(ref, currency, lines, total, path=path, listed_prices=listed_prices)


async def _customer(
    buyer: flows.Buyer, *, tenant_id: UUID, meta: events.WriteMeta
) -> customers.Customer:
    found = await customer_tables.customers_by_email([buyer.email], tenant_id=tenant_id)
    if found:
        return next(iter(found.values()))
    draft = customers.CustomerDraft(
        email=buyer.email, first_name=buyer.first_name, last_name=buyer.last_name
    )
    return await customer_services.create_customer(draft, [], tenant_id=tenant_id, meta=meta)


async def _variants(skus: list[str], path: str, *, tenant_id: UUID) -> dict[str, UUID]:
    found = await catalog_tables.variants_by_sku(sorted(set(skus)), tenant_id=tenant_id)
    unknown = {f"{path}[{i}].sku": "unknown sku" for i, sku in enumerate(skus) if sku not in found}
    if unknown:
        raise Invalid("unknown sku", fields=unknown)
    return {sku: variant.id for sku, variant in found.items()}


APPLY: Mapping[str, Apply] = {
    "purchase-flow": apply_purchase,
    "inventory-flow": apply_stock,
    "sales-flow": apply_sale,
}

APPLY_BATCH: Mapping[str, ApplyBatch] = {"purchase-flow": purchase_batches_service.apply_purchases}
"""Flows applied set-based; the others apply delivery by delivery, each in a savepoint."""
