"""Orders: line items priced when the order is made, server-side totals, a status machine."""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from uuid import UUID

from domain import catalog, pricing
from domain.errors import Conflict, Invalid, require_valid

MAX_LINES = 100
MAX_QUANTITY = 10_000
MAX_KEY = 128


class OrderStatus(enum.Enum):
    PENDING = "pending"
    PAID = "paid"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


TRANSITIONS: Mapping[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING: frozenset({OrderStatus.PAID, OrderStatus.CANCELLED}),
    OrderStatus.PAID: frozenset({OrderStatus.FULFILLED, OrderStatus.CANCELLED, OrderStatus.REFUNDED}),
    OrderStatus.FULFILLED: frozenset({OrderStatus.REFUNDED}),
    OrderStatus.CANCELLED: frozenset(),
    OrderStatus.REFUNDED: frozenset(),
}


class StockEffect(enum.Enum):
    """What a status change does to the order's stock."""

    NONE = "none"
    COMMIT = "commit"
    RELEASE = "release"
    RESTOCK = "restock"


@dataclasses.dataclass(frozen=True)
class Order:
    id: UUID
    number: int
    customer_id: UUID | None
    status: OrderStatus
    currency: str
    price_list_id: UUID | None
    subtotal: int
    discount_total: int
    tax_total: int
    total: int
    idempotency_key: str | None
    request_hash: str | None
    created_at: datetime
    updated_at: datetime

    def money(self, amount: int) -> catalog.Money:
        return catalog.Money(amount=amount, currency=self.currency)


@dataclasses.dataclass(frozen=True)
class OrderLine:
    id: UUID
    order_id: UUID
    variant_id: UUID
    sku: str
    title: str
    quantity: int
    unit_price: int
    discount: int
    line_total: int
    currency: str
    position: int


@dataclasses.dataclass(frozen=True)
class LineRequest:
    """One line as asked for: a variant by id or by SKU, and how many."""

    quantity: int
    variant_id: UUID | None = None
    sku: str | None = None


@dataclasses.dataclass(frozen=True)
class OrderRequest:
    lines: tuple[LineRequest, ...]
    customer_id: UUID | None = None
    price_list: str | None = None
    discount: catalog.Money | None = None
    idempotency_key: str | None = None


@dataclasses.dataclass(frozen=True)
class PricedLine:
    """A line with the variant it names and its price snapshot, before discount."""

    variant: catalog.Variant
    title: str
    quantity: int
    unit_price: int

    @property
    def amount(self) -> int:
        return self.quantity * self.unit_price


@dataclasses.dataclass(frozen=True)
class LineDraft:
    variant_id: UUID
    sku: str
    title: str
    quantity: int
    unit_price: int
    discount: int
    line_total: int
    position: int


@dataclasses.dataclass(frozen=True)
class Totals:
    currency: str
    subtotal: int
    discount_total: int
    tax_total: int
    total: int


@dataclasses.dataclass(frozen=True)
class OrderDraft:
    totals: Totals
    lines: tuple[LineDraft, ...]


class OrderSort(enum.Enum):
    CREATED_AT = "created_at"
    NUMBER = "number"
    TOTAL = "total"


@dataclasses.dataclass(frozen=True)
class OrderFilter:
    status: OrderStatus | None = None
    customer_id: UUID | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


@dataclasses.dataclass(frozen=True)
class HistoryKey:
    """One page of a customer's orders, newest first: what a history loader is asked for.
    `backward`: the `limit` orders just newer than `after`, read oldest first."""

    customer_id: UUID
    limit: int
    after: tuple[datetime, UUID] | None = None
    status: OrderStatus | None = None
    backward: bool = False


def check_transition(order: Order, to: OrderStatus) -> None:
    """An illegal change is a conflict naming both states; nothing may change after it."""
    if to not in TRANSITIONS[order.status]:
        raise Conflict(
            f"order #{order.number} cannot go from {order.status.value} to {to.value}",
            details={"from": order.status.value, "to": to.value},
        )


def stock_effect(before: OrderStatus, to: OrderStatus) -> StockEffect:
    """Fulfilling takes reserved stock; cancelling or refunding an unshipped order frees it;
    refunding a shipped order puts its goods back on hand."""
    if to == OrderStatus.FULFILLED:
        return StockEffect.COMMIT
    if to == OrderStatus.REFUNDED and before == OrderStatus.FULFILLED:
        return StockEffect.RESTOCK
    if to in (OrderStatus.CANCELLED, OrderStatus.REFUNDED):
        return StockEffect.RELEASE
    return StockEffect.NONE


def check_request(request: OrderRequest, path: str = "input") -> dict[str, str]:
    errors: dict[str, str] = {}
    if not 1 <= len(request.lines) <= MAX_LINES:
        errors[f"{path}.lines"] = f"must hold 1-{MAX_LINES} lines"
    for index, line in enumerate(request.lines):
        errors.update(_check_line(line, f"{path}.lines[{index}]"))
    key = request.idempotency_key
    if key is not None and not 1 <= len(key) <= MAX_KEY:
        errors[f"{path}.idempotencyKey"] = f"must be 1-{MAX_KEY} characters"
    if request.discount is not None and not 0 <= request.discount.amount <= catalog.MAX_PRICE_MINOR:
        errors[f"{path}.discount.amount"] = "must be between 0 and 10^12 minor units"
    return errors


def _check_line(line: LineRequest, path: str) -> dict[str, str]:
    errors: dict[str, str] = {}
    if (line.variant_id is None) == (line.sku is None):
        errors[path] = "name exactly one of variantId and sku"
    if not 1 <= line.quantity <= MAX_QUANTITY:
        errors[f"{path}.quantity"] = f"must be between 1 and {MAX_QUANTITY}"
    return errors


def request_hash(request: OrderRequest, price_list: str | None) -> str:
    """What makes two createOrder calls "the same input": a digest of its canonical JSON,
    with the price list that applies (from the input or the request header)."""
    canonical = {
        "customerId": None if request.customer_id is None else str(request.customer_id),
        "lines": [
            {"variantId": None if line.variant_id is None else str(line.variant_id),
             "sku": line.sku, "quantity": line.quantity}
            for line in request.lines
        ],
        "priceList": price_list,
        "discount": None if request.discount is None else dataclasses.asdict(request.discount),
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def replay(existing: Order, digest: str) -> Order:
    """The order an idempotency key already made, if this is the same request again."""
    if existing.request_hash != digest:
        raise Conflict(
            "this idempotency key was already used with a different input",
            details={"orderId": str(existing.id)},
        )
    return existing


def resolve_lines(
    request: OrderRequest,
    by_id: Mapping[UUID, catalog.Variant],
    by_sku: Mapping[str, catalog.Variant],
    path: str = "input",
) -> list[catalog.Variant]:
    """The variant each line names; unknown, inactive or repeated ones are bad input."""
    errors: dict[str, str] = {}
    found: list[catalog.Variant] = []
    seen: set[UUID] = set()
    for index, line in enumerate(request.lines):
        field = f"{path}.lines[{index}].{'variantId' if line.variant_id else 'sku'}"
        variant = by_id.get(line.variant_id) if line.variant_id else by_sku.get(line.sku or "")
        if variant is None:
            errors[field] = "no such variant"
        elif not variant.active:
            errors[field] = "not for sale"
        elif variant.id in seen:
            errors[field] = "repeated in this order"
        else:
            seen.add(variant.id)
            found.append(variant)
    require_valid(errors)
    return found


def price_lines(
    request: OrderRequest,
    variants: Sequence[catalog.Variant],
    products: Mapping[UUID, catalog.Product],
    quotes: Mapping[UUID, pricing.Quote],
    path: str = "input",
) -> tuple[str, list[PricedLine]]:
    """Each line at its quoted price; every line must be in one currency."""
    priced = [
        PricedLine(
            variant=variant,
            title=line_title(products[variant.product_id].title, variant.title),
            quantity=line.quantity,
            unit_price=quotes[variant.id].price.amount,
        )
        for line, variant in zip(request.lines, variants, strict=True)
    ]
    currencies = [quotes[variant.id].price.currency for variant in variants]
    mixed = {
        f"{path}.lines[{index}]": f"priced in {currency}, not {currencies[0]}"
        for index, currency in enumerate(currencies) if currency != currencies[0]
    }
    require_valid(mixed)
    return currencies[0], priced


def check_on_sale(
    request: OrderRequest,
    variants: Sequence[catalog.Variant],
    products: Mapping[UUID, catalog.Product],
    path: str = "input",
) -> None:
    """Only variants of active products are sold (not drafts, not archived ones)."""
    errors = {
        f"{path}.lines[{index}].{'variantId' if line.variant_id else 'sku'}": "not for sale"
        for index, (line, variant) in enumerate(zip(request.lines, variants, strict=True))
        if products[variant.product_id].status != catalog.ProductStatus.ACTIVE
    }
    require_valid(errors)


def line_title(product_title: str, variant_title: str) -> str:
    return f"{product_title} / {variant_title}" if variant_title else product_title


def tax(currency: str, taxable: int) -> int:
    """Tax on the discounted subtotal; a placeholder until tax rules exist."""
    return 0


def draft_order(
    currency: str, lines: Sequence[PricedLine], discount: catalog.Money | None, path: str = "input"
) -> OrderDraft:
    """Totals computed here, never taken from the client: subtotal, discount spread over the
    lines, tax, total."""
    subtotal = sum(line.amount for line in lines)
    wanted = 0 if discount is None else discount.amount
    if discount is not None and discount.currency != currency:
        raise Invalid("discount currency differs from the order's",
                      fields={f"{path}.discount.currency": f"must be {currency}"})
    if wanted > subtotal:
        raise Invalid("discount exceeds the subtotal",
                      fields={f"{path}.discount.amount": f"must be at most {subtotal}"})
    shares = allocate(wanted, [line.amount for line in lines])
    drafts = tuple(
        LineDraft(
            variant_id=line.variant.id, sku=line.variant.sku, title=line.title,
            quantity=line.quantity, unit_price=line.unit_price, discount=share,
            line_total=line.amount - share, position=position,
        )
        for position, (line, share) in enumerate(zip(lines, shares, strict=True))
    )
    tax_total = tax(currency, subtotal - wanted)
    totals = Totals(currency, subtotal, wanted, tax_total, subtotal - wanted + tax_total)
    return OrderDraft(totals=totals, lines=drafts)


def allocate(amount: int, weights: Sequence[int]) -> list[int]:
    """Split `amount` in proportion to `weights`, in whole minor units that add up exactly
    (largest remainder first; ties go to the earlier line)."""
    total = sum(weights)
    if total == 0:
        return [0 for _ in weights]
    floors = [amount * weight // total for weight in weights]
    remainders = sorted(
        range(len(weights)), key=lambda i: (-(amount * weights[i] % total), i)
    )
    for index in remainders[: amount - sum(floors)]:
        floors[index] += 1
    return floors


def created_payload(order: Order, lines: Sequence[LineDraft]) -> dict[str, object]:
    totals = Totals(order.currency, order.subtotal, order.discount_total, order.tax_total, order.total)
    return {**unnumbered_payload(order.id, order.customer_id, order.status, totals, lines),
            "number": order.number}


def unnumbered_payload(
    order_id: UUID, customer_id: UUID | None, status: OrderStatus, totals: Totals,
    lines: Sequence[LineDraft],
) -> dict[str, object]:
    """order.created's payload but its number, for a write that numbers the order and its
    event in one statement (tables.order_writes adds `number`)."""
    return {
        "id": str(order_id),
        "status": status.value,
        "customerId": None if customer_id is None else str(customer_id),
        "currency": totals.currency,
        "subtotal": totals.subtotal,
        "discountTotal": totals.discount_total,
        "taxTotal": totals.tax_total,
        "total": totals.total,
        "lines": [
            {"variantId": str(line.variant_id), "sku": line.sku, "quantity": line.quantity,
             "unitPrice": line.unit_price, "lineTotal": line.line_total}
            for line in lines
        ],
    }


def status_payload(order: Order, before: OrderStatus) -> dict[str, object]:
    return {"number": order.number, "from": before.value, "to": order.status.value}
