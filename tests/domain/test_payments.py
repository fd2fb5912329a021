"""Payment rules without a database: currency, capture and refund bounds, resulting status."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from domain import catalog, orders, payments
from domain.errors import Conflict, Invalid

S = orders.OrderStatus
K = payments.PaymentKind
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def order(status: orders.OrderStatus = S.PENDING, total: int = 1000) -> orders.Order:
    return orders.Order(
        id=uuid.uuid4(), number=1, customer_id=None, status=status, currency="EUR",
        price_list_id=None, subtotal=total, discount_total=0, tax_total=0, total=total,
        idempotency_key=None, request_hash=None, created_at=NOW, updated_at=NOW,
    )


def draft(kind: payments.PaymentKind, amount: int, currency: str = "EUR") -> payments.PaymentDraft:
    return payments.PaymentDraft(kind=kind, amount=catalog.Money(amount, currency))


def ledger(**sums: Any) -> payments.Ledger:
    return payments.Ledger(**sums)


def test_ledger_sums_each_kind() -> None:
    made = [
        payments.Payment(uuid.uuid4(), uuid.uuid4(), kind, catalog.Money(amount, "EUR"), "", "", NOW)
        for kind, amount in ((K.AUTHORIZATION, 1000), (K.CAPTURE, 600), (K.CAPTURE, 400), (K.REFUND, 50))
    ]

    found = payments.Ledger.of(made)

    assert found == payments.Ledger(authorized=1000, captured=1000, refunded=50)
    assert found.balance(order()) == 50


def test_payment_in_another_currency_is_bad_input() -> None:
    with pytest.raises(Invalid) as raised:
        payments.check_against(order(), ledger(), draft(K.CAPTURE, 100, "USD"))
    assert raised.value.fields == {"input.amount.currency": "must be EUR"}


@pytest.mark.parametrize(("kind", "sums", "allowed"), [
    (K.CAPTURE, {}, 1000),
    (K.CAPTURE, {"captured": 700}, 300),
    (K.REFUND, {"captured": 700}, 700),
    (K.REFUND, {"captured": 700, "refunded": 200}, 500),
    (K.AUTHORIZATION, {"authorized": 1000}, 1000),
])
def test_amounts_are_bounded(kind: payments.PaymentKind, sums: dict[str, int], allowed: int) -> None:
    payments.check_against(order(S.PAID), ledger(**sums), draft(kind, allowed))

    with pytest.raises(Invalid) as raised:
        payments.check_against(order(S.PAID), ledger(**sums), draft(kind, allowed + 1))

    assert raised.value.fields == {"input.amount.amount": f"must be at most {allowed}"}


@pytest.mark.parametrize("status", [S.CANCELLED, S.REFUNDED])
@pytest.mark.parametrize("kind", [K.AUTHORIZATION, K.CAPTURE])
def test_closed_orders_take_no_new_money(status: orders.OrderStatus, kind: payments.PaymentKind) -> None:
    with pytest.raises(Conflict):
        payments.check_against(order(status), ledger(), draft(kind, 1))


def test_captured_money_of_a_cancelled_order_can_be_refunded() -> None:
    payments.check_against(order(S.CANCELLED), ledger(captured=300), draft(K.REFUND, 300))


def test_draft_checks() -> None:
    bad = payments.PaymentDraft(K.CAPTURE, catalog.Money(0, "eur"), reference="x" * 129)
    assert set(payments.check_draft(bad)) == {
        "input.amount.amount", "input.amount.currency", "input.reference"
    }


@pytest.mark.parametrize(("status", "kind", "after", "expected"), [
    (S.PENDING, K.CAPTURE, {"captured": 999}, None),
    (S.PENDING, K.CAPTURE, {"captured": 1000}, S.PAID),
    (S.PAID, K.CAPTURE, {"captured": 1000}, None),
    (S.PENDING, K.AUTHORIZATION, {"authorized": 1000}, None),
    (S.PAID, K.REFUND, {"captured": 1000, "refunded": 999}, None),
    (S.PAID, K.REFUND, {"captured": 1000, "refunded": 1000}, S.REFUNDED),
    (S.FULFILLED, K.REFUND, {"captured": 1000, "refunded": 1000}, S.REFUNDED),
    (S.PENDING, K.REFUND, {"captured": 500, "refunded": 500}, None),
    (S.CANCELLED, K.REFUND, {"captured": 500, "refunded": 500}, None),
])
def test_status_after_a_payment(
    status: orders.OrderStatus, kind: payments.PaymentKind, after: dict[str, int],
    expected: orders.OrderStatus | None,
) -> None:
    assert payments.status_after(order(status), ledger(**after), kind) == expected
