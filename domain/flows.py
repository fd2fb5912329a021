"""Versioned payloads of the webhook flows, validated into domain values (schema version 1).

purchase-flow:  an order placed elsewhere (a shop platform).
inventory-flow: stock counts (`set`) or adjustments (`adjust`) per sku and location.
sales-flow:     a POS sale or return at a location.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from domain import catalog, currencies, inventory
from domain.errors import Invalid

P = TypeVar("P")

VERSION = 1
MAX_ITEMS = 500
MAX_DEPTH = 32
REASONS = tuple(reason.value for reason in inventory.Reason)


@dataclasses.dataclass(frozen=True)
class Item:
    sku: str
    quantity: int
    unit_price: int = 0


@dataclasses.dataclass(frozen=True)
class Buyer:
    email: str
    first_name: str = ""
    last_name: str = ""


@dataclasses.dataclass(frozen=True)
class Purchase:
    order_id: str
    currency: str
    customer: Buyer | None
    items: tuple[Item, ...]
    total: int


@dataclasses.dataclass(frozen=True)
class StockLine:
    sku: str
    location: str
    quantity: int
    reason: str


@dataclasses.dataclass(frozen=True)
class StockUpdate:
    mode: str
    lines: tuple[StockLine, ...]


@dataclasses.dataclass(frozen=True)
class Sale:
    sale_id: str
    kind: str
    location: str
    currency: str
    items: tuple[Item, ...]
    total: int


Payload = Purchase | StockUpdate | Sale

_KINDS: Mapping[type, str] = {str: "a string", dict: "an object", list: "an array"}


class _Reader:
    """Reads a JSON object, collecting every problem under its path."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def get(self, data: Any, path: str, kind: type, *, required: bool = True) -> Any:
        """The field at `path` of the object `data`; None when `data` is missing (its own error
        already names it) or the field is missing or of the wrong kind."""
        if not isinstance(data, Mapping):
            return None
        value = data.get(path.rsplit(".", 1)[-1])
        if value is None:
            if required:
                self.errors[path] = "is required"
            return None
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            self.errors[path] = "must be an integer"
            return None
        if not isinstance(value, kind):
            self.errors[path] = f"must be {_KINDS.get(kind, kind.__name__)}"
            return None
        return value

    def text(self, data: Any, path: str, *, required: bool = True, limit: int = 128) -> Any:
        value = self.get(data, path, str, required=required)
        if value is not None and not 0 < len(value) <= limit:
            self.errors[path] = f"must be 1-{limit} characters"
        return value

    def whole(
        self, data: Any, path: str, *, minimum: int | None = None, maximum: int | None = None
    ) -> Any:
        value = self.get(data, path, int)
        if value is not None and minimum is not None and value < minimum:
            self.errors[path] = f"must be at least {minimum}"
        elif value is not None and maximum is not None and value > maximum:
            self.errors[path] = f"must be at most {maximum}"
        return value

    def currency(self, data: Any, path: str) -> Any:
        value = self.text(data, path, limit=3)
        if value is not None and path not in self.errors and not currencies.is_currency(value):
            self.errors[path] = "must be the ISO 4217 code of a currency, such as EUR"
        return value

    def items(self, data: Any, path: str, read: Callable[[Any, str], Any]) -> tuple[Any, ...]:
        values = self.get(data, path, list)
        if values is None:
            return ()
        if not 0 < len(values) <= MAX_ITEMS:
            self.errors[path] = f"must hold 1-{MAX_ITEMS} entries"
            return ()
        for index, value in enumerate(values):
            if not isinstance(value, Mapping):
                self.errors[f"{path}[{index}]"] = "must be an object"
        return tuple(read(value, f"{path}[{index}]") for index, value in enumerate(values))

    def done(self, value: P) -> P:
        if self.errors:
            raise Invalid("payload does not match the flow's schema", fields=self.errors)
        return value


def parse(flow: str, data: Any) -> Payload:
    """The flow's payload, or Invalid naming every field that is wrong."""
    reader = _Reader()
    if not isinstance(data, Mapping):
        raise Invalid("payload must be a JSON object", fields={"body": "not an object"})
    version = reader.get(data, "version", int)
    if version is not None and version != VERSION:
        reader.errors["version"] = f"unsupported version {version}; this endpoint speaks {VERSION}"
    parsed = _PARSERS[flow](reader, data)
    _refuse_unstorable(data, reader.errors)
    return reader.done(parsed)


def _refuse_unstorable(data: Any, errors: dict[str, str]) -> None:
    """U+0000 anywhere (even in fields the schema ignores: PostgreSQL cannot store it in jsonb)
    and nesting deeper than MAX_DEPTH are refused; walked without recursion."""
    pending: list[tuple[Any, str, int]] = [(data, "", 0)]
    while pending:
        value, path, depth = pending.pop()
        if depth > MAX_DEPTH:
            errors[path] = f"nests deeper than {MAX_DEPTH} levels"
        elif isinstance(value, str) and "\x00" in value:
            errors[path] = "must not contain U+0000"
        elif isinstance(value, Mapping):
            for name, item in value.items():
                if "\x00" in name:
                    errors[path or "body"] = "keys must not contain U+0000"
                pending.append((item, f"{path}.{name}" if path else name, depth + 1))
        elif isinstance(value, list):
            pending.extend((item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value))


def _item(reader: _Reader, data: Any, path: str, *, priced: bool) -> Item:
    sku = reader.text(data, f"{path}.sku", limit=catalog.MAX_SKU)
    quantity = reader.whole(data, f"{path}.quantity", minimum=1, maximum=inventory.MAX_QUANTITY)
    unit_price = reader.whole(
        data, f"{path}.unitPrice", minimum=0, maximum=catalog.MAX_PRICE_MINOR
    ) if priced else 0
    return Item(sku=sku, quantity=quantity, unit_price=unit_price)


def _purchase(reader: _Reader, data: Any) -> Purchase:
    order = reader.get(data, "order", dict)
    buyer = reader.get(order, "order.customer", dict, required=False)
    purchase = Purchase(
        order_id=reader.text(order, "order.id"),
        currency=reader.currency(order, "order.currency"),
        customer=None if buyer is None else Buyer(
            email=reader.text(buyer, "order.customer.email", limit=320),
            first_name=reader.text(buyer, "order.customer.firstName", required=False) or "",
            last_name=reader.text(buyer, "order.customer.lastName", required=False) or "",
        ),
        items=reader.items(order, "order.items", lambda v, p: _item(reader, v, p, priced=True)),
        total=reader.whole(order, "order.total", minimum=0, maximum=catalog.MAX_PRICE_MINOR),
    )
    _check_total(reader, purchase)
    return purchase


def _check_total(reader: _Reader, purchase: Purchase) -> None:
    """A purchase has no discount, tax or shipping fields: its total is the sum of its lines, or
    the payload contradicts itself."""
    if "order.total" in reader.errors or not purchase.items or any(
        path.startswith("order.items") for path in reader.errors
    ):
        return
    lines = sum(item.quantity * item.unit_price for item in purchase.items)
    if purchase.total != lines:
        reader.errors["order.total"] = (
            f"must equal the sum of quantity × unitPrice over the items, {lines}"
        )


def _stock_line(reader: _Reader, data: Any, path: str, mode: str) -> StockLine:
    reason = reader.text(data, f"{path}.reason", required=mode == "adjust", limit=16)
    if reason is not None and reason not in REASONS:
        reader.errors[f"{path}.reason"] = f"must be one of {', '.join(REASONS)}"
    quantity = reader.whole(data, f"{path}.quantity", minimum=0 if mode == "set" else None)
    return StockLine(
        sku=reader.text(data, f"{path}.sku", limit=catalog.MAX_SKU),
        location=reader.text(data, f"{path}.location", limit=inventory.MAX_HANDLE),
        quantity=quantity,
        reason=reason or "correction",
    )


def _stock(reader: _Reader, data: Any) -> StockUpdate:
    mode = reader.text(data, "mode", limit=8)
    if mode is not None and mode not in ("set", "adjust"):
        reader.errors["mode"] = "must be 'set' or 'adjust'"
    lines = reader.items(data, "items", lambda v, p: _stock_line(reader, v, p, mode or "set"))
    return StockUpdate(mode=mode, lines=lines)


def _sale(reader: _Reader, data: Any) -> Sale:
    sale = reader.get(data, "sale", dict)
    kind = reader.text(sale, "sale.type", limit=8)
    if kind is not None and kind not in ("sale", "return"):
        reader.errors["sale.type"] = "must be 'sale' or 'return'"
    return Sale(
        sale_id=reader.text(sale, "sale.id"),
        kind=kind,
        location=reader.text(sale, "sale.location", limit=inventory.MAX_HANDLE),
        currency=reader.currency(sale, "sale.currency"),
        items=reader.items(sale, "sale.items", lambda v, p: _item(reader, v, p, priced=True)),
        total=reader.whole(sale, "sale.total", minimum=0, maximum=catalog.MAX_PRICE_MINOR),
    )


_PARSERS: Mapping[str, Callable[[_Reader, Any], Payload]] = {
    "purchase-flow": _purchase,
    "inventory-flow": _stock,
    "sales-flow": _sale,
}
