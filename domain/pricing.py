"""Price lists: a variant's base price is its retail price; a list may price it differently.

A compare-at price (the "was" price shown struck through) must be above the price it goes with
and in the same currency, as in Shopify; it is optional on the base price and in every list.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from uuid import UUID

from domain.catalog import CURRENCY, HANDLE, MAX_PRICE_MINOR, Money
from domain.catalog import MAX_TITLE as MAX_TITLE

MAX_HANDLE = 64


@dataclasses.dataclass(frozen=True)
class PriceList:
    id: UUID
    name: str
    handle: str
    currency: str


@dataclasses.dataclass(frozen=True)
class Quote:
    """What a variant costs in one price list (or at base price when `price_list_id` is None)."""

    variant_id: UUID
    price: Money
    compare_at: Money | None
    price_list_id: UUID | None

    @property
    def shown_compare_at(self) -> Money | None:
        """The compare-at price, unless a later price change left it at or below the price."""
        if self.compare_at is None or self.compare_at.amount <= self.price.amount:
            return None
        return self.compare_at


@dataclasses.dataclass(frozen=True)
class PriceListDraft:
    name: str
    handle: str
    currency: str


@dataclasses.dataclass(frozen=True)
class PriceListPatch:
    """Name and handle may change; the currency may not, since every price in the list uses it."""

    name: str | None = None
    handle: str | None = None

    def apply(self, current: PriceList) -> PriceListDraft:
        return PriceListDraft(
            name=current.name if self.name is None else self.name,
            handle=current.handle if self.handle is None else self.handle,
            currency=current.currency,
        )


class PriceListSort(enum.Enum):
    HANDLE = "handle"
    NAME = "name"
    CREATED_AT = "created_at"


@dataclasses.dataclass(frozen=True)
class PriceListFilter:
    currency: str | None = None
    search: str | None = None


def check_price_list(draft: PriceListDraft, path: str = "input") -> dict[str, str]:
    errors: dict[str, str] = {}
    if not draft.name.strip() or len(draft.name) > MAX_TITLE:
        errors[f"{path}.name"] = f"must be 1-{MAX_TITLE} characters"
    if not HANDLE.fullmatch(draft.handle) or len(draft.handle) > MAX_HANDLE:
        errors[f"{path}.handle"] = f"must be lowercase words joined by '-' (max {MAX_HANDLE})"
    if not CURRENCY.fullmatch(draft.currency):
        errors[f"{path}.currency"] = "must be a 3-letter ISO 4217 code"
    return errors


def check_price(
    price: Money, compare_at: Money | None, *, currency: str, path: str = "input"
) -> dict[str, str]:
    """A price (and compare-at price) in `currency`, the currency of its list or variant."""
    errors = _check_amount(price, currency, f"{path}.price")
    if compare_at is not None:
        errors.update(_check_amount(compare_at, currency, f"{path}.compareAtPrice"))
        if compare_at.amount <= price.amount and f"{path}.compareAtPrice.amount" not in errors:
            errors[f"{path}.compareAtPrice.amount"] = "must be above the price"
    return errors


def _check_amount(money: Money, currency: str, path: str) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not 0 <= money.amount <= MAX_PRICE_MINOR:
        errors[f"{path}.amount"] = "must be between 0 and 10^12 minor units"
    if money.currency != currency:
        errors[f"{path}.currency"] = f"must be {currency}, the currency it is priced in"
    return errors


def price_list_payload(price_list: PriceList) -> dict[str, object]:
    return {
        "id": str(price_list.id),
        "name": price_list.name,
        "handle": price_list.handle,
        "currency": price_list.currency,
    }


def price_payload(
    variant_id: UUID, price_list_id: UUID | None, price: Money | None, compare_at: Money | None
) -> dict[str, object]:
    """A `price.updated` payload; a null price means the variant left the list."""
    return {
        "variantId": str(variant_id),
        "priceListId": None if price_list_id is None else str(price_list_id),
        "price": _money(price),
        "compareAtPrice": _money(compare_at),
    }


def _money(value: Money | None) -> Mapping[str, object] | None:
    return None if value is None else {"amount": value.amount, "currency": value.currency}
