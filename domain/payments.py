"""Payments against an order: authorizations, captures and refunds, and their bounds."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping
from datetime import datetime
from uuid import UUID

from domain import catalog, orders
from domain.errors import Conflict, Invalid

MAX_REFERENCE = 128
CLOSED = frozenset({orders.OrderStatus.CANCELLED, orders.OrderStatus.REFUNDED})


class PaymentKind(enum.Enum):
    AUTHORIZATION = "authorization"
    CAPTURE = "capture"
    REFUND = "refund"


EVENTS: Mapping[PaymentKind, str] = {
    PaymentKind.AUTHORIZATION: "payment.authorized",
    PaymentKind.CAPTURE: "payment.captured",
    PaymentKind.REFUND: "payment.refunded",
}


@dataclasses.dataclass(frozen=True)
class Payment:
    id: UUID
    order_id: UUID
    kind: PaymentKind
    amount: catalog.Money
    reference: str
    actor: str
    created_at: datetime


@dataclasses.dataclass(frozen=True)
class PaymentDraft:
    kind: PaymentKind
    amount: catalog.Money
    reference: str = ""


@dataclasses.dataclass(frozen=True)
class Ledger:
    """Sums of an order's payments, in the order's currency."""

    authorized: int = 0
    captured: int = 0
    refunded: int = 0

    @classmethod
    def of(cls, payments: Iterable[Payment]) -> Ledger:
        ledger = cls()
        for payment in payments:
            ledger = ledger.plus(payment.kind, payment.amount.amount)
        return ledger

    def plus(self, kind: PaymentKind, amount: int) -> Ledger:
        field = {
            PaymentKind.AUTHORIZATION: "authorized",
            PaymentKind.CAPTURE: "captured",
            PaymentKind.REFUND: "refunded",
        }[kind]
        return dataclasses.replace(self, **{field: getattr(self, field) + amount})

    def balance(self, order: orders.Order) -> int:
        """What is still owed: the total minus what was captured and not refunded."""
        return order.total - self.captured + self.refunded


@dataclasses.dataclass(frozen=True)
class PaymentFilter:
    order_id: UUID | None = None
    kind: PaymentKind | None = None


def check_draft(draft: PaymentDraft, path: str = "input") -> dict[str, str]:
    errors: dict[str, str] = {}
    if not 0 < draft.amount.amount <= catalog.MAX_PRICE_MINOR:
        errors[f"{path}.amount.amount"] = "must be between 1 and 10^12 minor units"
    if not catalog.CURRENCY.fullmatch(draft.amount.currency):
        errors[f"{path}.amount.currency"] = "must be a 3-letter ISO 4217 code"
    if len(draft.reference) > MAX_REFERENCE:
        errors[f"{path}.reference"] = f"must be at most {MAX_REFERENCE} characters"
    return errors


def check_against(order: orders.Order, ledger: Ledger, draft: PaymentDraft, path: str = "input") -> None:
    """A payment must be in the order's currency; nothing is captured beyond the total or
    refunded beyond what was captured; a closed order takes no new money."""
    amount = draft.amount.amount
    if draft.amount.currency != order.currency:
        raise Invalid("payment currency differs from the order's",
                      fields={f"{path}.amount.currency": f"must be {order.currency}"})
    if draft.kind != PaymentKind.REFUND and order.status in CLOSED:
        raise Conflict(f"order #{order.number} is {order.status.value} and takes no {draft.kind.value}")
    limit = _limit(order, ledger, draft.kind)
    if amount > limit:
        raise Invalid(
            f"{draft.kind.value} of {amount} exceeds the {_LIMITS[draft.kind]} ({limit})",
            fields={f"{path}.amount.amount": f"must be at most {limit}"},
        )


_LIMITS = {
    PaymentKind.AUTHORIZATION: "order total",
    PaymentKind.CAPTURE: "amount left to capture",
    PaymentKind.REFUND: "amount captured and not yet refunded",
}


def _limit(order: orders.Order, ledger: Ledger, kind: PaymentKind) -> int:
    if kind == PaymentKind.AUTHORIZATION:
        return order.total
    if kind == PaymentKind.CAPTURE:
        return order.total - ledger.captured
    return ledger.captured - ledger.refunded


def status_after(order: orders.Order, after: Ledger, kind: PaymentKind) -> orders.OrderStatus | None:
    """A pending order is paid once captures cover its total; a paid or fulfilled order whose
    captures are all refunded is refunded."""
    if kind == PaymentKind.CAPTURE and order.status == orders.OrderStatus.PENDING:
        return orders.OrderStatus.PAID if after.captured >= order.total else None
    settled = (orders.OrderStatus.PAID, orders.OrderStatus.FULFILLED)
    if kind == PaymentKind.REFUND and order.status in settled and after.refunded >= after.captured:
        return orders.OrderStatus.REFUNDED
    return None


def payment_payload(payment: Payment, after: Ledger) -> dict[str, object]:
    return {
        "id": str(payment.id),
        "orderId": str(payment.order_id),
        "kind": payment.kind.value,
        "amount": payment.amount.amount,
        "currency": payment.amount.currency,
        "reference": payment.reference,
        "captured": after.captured,
        "refunded": after.refunded,
    }
