"""A batch of shop purchases planned as if each were imported on its own, in input order:
the same orders, holds, customers and refusals, decided in Python over rows read once.

The plan runs in two passes. `draft` prices each purchase against the catalog (unknown skus,
prices the shop does not list); `plan` then walks the batch in order over the locked stock
levels, so a later purchase sees the stock an earlier one took, skips a reference already
imported (before the batch or earlier in it) and reuses a customer an earlier one created.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from uuid import UUID, uuid4

from domain import catalog, customers, events, flows, imports, inventory, orders, pricing
from domain.errors import DomainError, Invalid


@dataclasses.dataclass(frozen=True)
class Shop:
    """What the batch read before locking stock: its skus' variants and products, and the
    listed prices of those variants (read only when some purchase is not at base prices)."""

    variants: Mapping[str, catalog.Variant]
    products: Mapping[UUID, catalog.Product]
    listed: Mapping[UUID, Sequence[pricing.Quote]]


@dataclasses.dataclass(frozen=True)
class Purchase:
    request: imports.ImportRequest
    buyer: flows.Buyer | None
    meta: events.WriteMeta


@dataclasses.dataclass(frozen=True)
class Applied:
    """A purchase that the batch writes: its order, the stock it holds (each level as it is
    after this order's hold) and its buyer, created by this purchase when `new_customer`."""

    purchase: Purchase
    order_id: UUID
    draft: orders.OrderDraft
    holds: tuple[tuple[inventory.StockLevel, int], ...]
    customer_id: UUID | None
    new_customer: customers.CustomerDraft | None


Drafted = orders.OrderDraft | DomainError


def import_request(purchase: flows.Purchase) -> imports.ImportRequest:
    """The order a purchase imports, under the reference `shop:<the shop's order id>`, each
    line at a price the shop lists."""
    lines = tuple(imports.ImportedLine(item.sku, item.quantity, item.unit_price) for item in purchase.items)
    return imports.ImportRequest(
        f"shop:{purchase.order_id}", purchase.currency, lines, purchase.total, path="order",
        listed_prices=True,
    )


def skus(purchases: Sequence[Purchase]) -> list[str]:
    return sorted({line.sku for p in purchases for line in p.request.lines})


def needs_listed_prices(purchases: Sequence[Purchase], variants: Mapping[str, catalog.Variant]) -> bool:
    """Whether some purchase (with every sku known) is off its variants' base prices."""
    return any(
        all(line.sku in variants for line in p.request.lines)
        and not imports.at_base_prices(p.request, variants)
        for p in purchases
    )


def draft(request: imports.ImportRequest, shop: Shop) -> orders.OrderDraft:
    """The order as imported on its own would draft it, or the same error."""
    unknown = {
        f"{request.path}.items[{i}].sku": "unknown sku"
        for i, line in enumerate(request.lines) if line.sku not in shop.variants
    }
    if unknown:
        raise Invalid("unknown sku", fields=unknown)
    if request.listed_prices and not imports.at_base_prices(request, shop.variants):
        imports.check_listed_prices(request, shop.variants, shop.listed)
    return imports.imported_draft(request, shop.variants, shop.products)


def drafts(purchases: Sequence[Purchase], shop: Shop) -> list[Drafted]:
    found: list[Drafted] = []
    for purchase in purchases:
        try:
            found.append(draft(purchase.request, shop))
        except DomainError as error:
            found.append(error)
    return found


class _Stock:
    """The locked levels at active locations, as the batch's earlier orders left them."""

    def __init__(self, levels: Sequence[inventory.StockLevel]) -> None:
        self.levels = {level.id: level for level in levels}
        self.of: dict[UUID, list[UUID]] = {}
        for level in levels:
            self.of.setdefault(level.variant_id, []).append(level.id)

    def reserve(self, draft: orders.OrderDraft) -> tuple[tuple[inventory.StockLevel, int], ...]:
        """inventory.reserve's plan for one order (Conflict when short), taken at once."""
        wanted = inventory.check_lines([(line.variant_id, line.quantity) for line in draft.lines])
        sku = {line.variant_id: line.sku for line in draft.lines}
        plan = [
            taken
            for variant_id in sorted(wanted)
            for taken in inventory.allocate(
                sku[variant_id], wanted[variant_id], [self.levels[i] for i in self.of.get(variant_id, [])]
            )
        ]
        holds = tuple(
            (dataclasses.replace(level, reserved=level.reserved + quantity), quantity)
            for level, quantity in plan
        )
        self.levels.update({after.id: after for after, _ in holds})
        return holds


def plan(
    purchases: Sequence[Purchase],
    drafted: Sequence[Drafted],
    *,
    imported: set[str],
    levels: Sequence[inventory.StockLevel],
    known: Mapping[str, UUID],
) -> tuple[list[DomainError | None], list[Applied]]:
    """One outcome per purchase in input order (None: written, or imported before) and the
    purchases to write. `imported` holds the references already imported, `known` the
    tenant's customers by email key."""
    done, buyers, stock = set(imported), dict(known), _Stock(levels)
    outcomes: list[DomainError | None] = []
    applied: list[Applied] = []
    for purchase, drafted_order in zip(purchases, drafted, strict=True):
        outcomes.append(None)
        if purchase.request.external_ref in done:
            continue
        if isinstance(drafted_order, DomainError):
            outcomes[-1] = drafted_order
            continue
        try:
            holds = stock.reserve(drafted_order)
        except DomainError as error:
            outcomes[-1] = error
            continue
        done.add(purchase.request.external_ref)
        customer_id, new = _buyer(purchase.buyer, buyers)
        applied.append(Applied(purchase, uuid4(), drafted_order, holds, customer_id, new))
    return outcomes, applied


def _buyer(
    buyer: flows.Buyer | None, known: dict[str, UUID]
) -> tuple[UUID | None, customers.CustomerDraft | None]:
    """The customer with the buyer's email, or a new one (then known to later purchases)."""
    if buyer is None:
        return None, None
    key = customers.email_key(buyer.email)
    if key in known:
        return known[key], None
    known[key] = uuid4()
    return known[key], customers.CustomerDraft(
        email=buyer.email, first_name=buyer.first_name, last_name=buyer.last_name
    )


def emitted(
    applied: Applied, order: orders.Order, customer: customers.Customer | None
) -> list[events.Draft]:
    """The purchase's events in the order importing it alone appends them: its holds, its new
    customer, its order."""
    found = [
        events.draft("inventory.reserved", after.variant_id,
                     inventory.stock_payload(after, orderId=str(order.id), quantity=quantity))
        for after, quantity in applied.holds
    ]
    if customer is not None:
        found.append(events.draft("customer.created", customer.id, customers.customer_payload(customer)))
    payload = {
        **orders.created_payload(order, applied.draft.lines),
        "externalRef": applied.purchase.request.external_ref,
    }
    found.append(events.draft("order.created", order.id, payload))
    return found
