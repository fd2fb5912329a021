"""Orders placed elsewhere (a shop, a POS) and imported at the prices they were sold for:
never repriced, refused where they contradict the shop's listed prices."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from uuid import UUID

from domain import catalog, orders, pricing
from domain.errors import Invalid


@dataclasses.dataclass(frozen=True)
class ImportedLine:
    sku: str
    quantity: int
    unit_price: int


@dataclasses.dataclass(frozen=True)
class ImportRequest:
    """An order placed elsewhere (a shop, a POS), at the prices it was sold for."""

    external_ref: str
    currency: str
    lines: tuple[ImportedLine, ...]
    total: int
    customer_id: UUID | None = None
    path: str = "order"
    listed_prices: bool = False
    """Each line must be at a price the shop lists for it in the request's currency (its base
    price or a price list's): purchases are never repriced, so one that contradicts the shop is
    refused (check_listed_prices). POS sales may be marked down at the till."""


def at_base_prices(request: ImportRequest, variants: Mapping[str, catalog.Variant]) -> bool:
    """Whether every line is at its variant's own price, in its currency: the shop's prices,
    with no price list to read."""
    return all(
        variants[line.sku].price == catalog.Money(line.unit_price, request.currency)
        for line in request.lines
    )


def check_listed_prices(
    request: ImportRequest,
    variants: Mapping[str, catalog.Variant],
    list_prices: Mapping[UUID, Sequence[pricing.Quote]],
) -> None:
    """Invalid, naming the SKU and both sides, where a line's currency or unit price is not one
    the shop lists for its variant."""
    unpriced: list[str] = []
    errors: dict[str, str] = {}
    for index, line in enumerate(request.lines):
        variant = variants[line.sku]
        listed = [variant.price, *(quote.price for quote in list_prices.get(variant.id, ()))]
        amounts = sorted({money.amount for money in listed if money.currency == request.currency})
        if not amounts:
            sold_in = " or ".join(sorted({money.currency for money in listed}))
            unpriced.append(f"{line.sku} in {sold_in}")
        elif line.unit_price not in amounts:
            shop = " or ".join(str(amount) for amount in amounts)
            errors[f"{request.path}.items[{index}].unitPrice"] = (
                f"{line.sku} at {line.unit_price} {request.currency}, but the shop's price is "
                f"{shop} {request.currency}"
            )
    if unpriced:
        currency = f"the order is in {request.currency}, but the shop sells {', '.join(unpriced)}"
        errors = {f"{request.path}.currency": currency, **errors}
    if errors:
        found = "; ".join(f"{path}: {problem}" for path, problem in errors.items())
        raise Invalid(f"the purchase contradicts the shop's prices: {found}", fields=errors)


def imported_draft(
    request: ImportRequest,
    variants: Mapping[str, catalog.Variant],
    products: Mapping[UUID, catalog.Product],
) -> orders.OrderDraft:
    """Totals from the lines as sold; a total below their sum is a discount spread over the
    lines, a total above it (tax, shipping charged by the shop) lands in the tax total."""
    priced = [
        orders.PricedLine(
            variant=variants[line.sku],
            title=orders.line_title(products[variants[line.sku].product_id].title, variants[line.sku].title),
            quantity=line.quantity,
            unit_price=line.unit_price,
        )
        for line in request.lines
    ]
    subtotal = sum(line.amount for line in priced)
    discount = catalog.Money(max(0, subtotal - request.total), request.currency)
    draft = orders.draft_order(request.currency, priced, discount, path=request.path)
    surcharge = max(0, request.total - subtotal)
    totals = dataclasses.replace(
        draft.totals, tax_total=draft.totals.tax_total + surcharge, total=request.total
    )
    return orders.OrderDraft(totals=totals, lines=draft.lines)
