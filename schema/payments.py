"""Payment types and root fragments; payments, captured and refunded sums on orders."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeAlias

import strawberry

from domain import orders as order_domain
from domain import payments
from resolvers import payments as resolve
from schema import customers, inputs, orders
from schema.catalog import SortDirection
from schema.common import Connection, Ctx, Money, MoneyInput, UserError, attempt, parse_id, window
from schema.modules import Module

PaymentKind: TypeAlias = payments.PaymentKind
strawberry.enum(PaymentKind, name="PaymentKind")


@strawberry.type(description="Money authorized, captured or refunded against an order.")
class Payment:
    id: strawberry.ID
    order_id: strawberry.ID
    kind: PaymentKind
    amount: Money
    reference: str = strawberry.field(description="The payment provider's reference, if any")
    created_at: datetime

    @classmethod
    def from_domain(cls, value: payments.Payment) -> Payment:
        return cls(
            id=strawberry.ID(str(value.id)),
            order_id=strawberry.ID(str(value.order_id)),
            kind=value.kind,
            amount=Money.from_domain(value.amount),
            reference=value.reference,
            created_at=value.created_at,
        )


@strawberry.type(name="Order")
class OrderWithPayments(orders.Order):
    @strawberry.field(description="Authorizations, captures and refunds, oldest first.")
    async def payments(self, info: Ctx) -> list[Payment]:
        return [Payment.from_domain(p) for p in await resolve.of_order(info.context, self.domain.id)]

    @strawberry.field
    async def authorized_amount(self, info: Ctx) -> Money:
        ledger = await resolve.ledger(info.context, self.domain.id)
        return Money.from_domain(self.domain.money(ledger.authorized))

    @strawberry.field(description="Sum of captures; the order is paid once it reaches the total.")
    async def captured_amount(self, info: Ctx) -> Money:
        ledger = await resolve.ledger(info.context, self.domain.id)
        return Money.from_domain(self.domain.money(ledger.captured))

    @strawberry.field(description="Sum of refunds; never more than captured.")
    async def refunded_amount(self, info: Ctx) -> Money:
        ledger = await resolve.ledger(info.context, self.domain.id)
        return Money.from_domain(self.domain.money(ledger.refunded))

    @strawberry.field(description="Still owed: total − captured + refunded.")
    async def balance(self, info: Ctx) -> Money:
        ledger = await resolve.ledger(info.context, self.domain.id)
        return Money.from_domain(self.domain.money(ledger.balance(self.domain)))


@strawberry.input
class PaymentInput:
    order_id: strawberry.ID
    amount: MoneyInput = strawberry.field(description="In the order's currency")
    reference: str = inputs.column(payments.MAX_REFERENCE, default="")

    def to_domain(self, kind: payments.PaymentKind) -> payments.PaymentDraft:
        return payments.PaymentDraft(kind=kind, amount=self.amount.to_domain(), reference=self.reference)


@strawberry.input
class PaymentFilter:
    order_id: strawberry.ID | None = None
    kind: PaymentKind | None = None

    def to_domain(self) -> payments.PaymentFilter:
        order_id = None if self.order_id is None else parse_id(self.order_id, "filter.orderId")
        return payments.PaymentFilter(order_id=order_id, kind=self.kind)


@strawberry.input
class PaymentOrder:
    direction: SortDirection = strawberry.field(
        default=SortDirection.ASC, description="By creation time; ties break on id"
    )


@strawberry.type(description="The payment a mutation recorded and its order, or why it did not.")
class PaymentPayload:
    payment: Payment | None = None
    order: orders.Order | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)

    @classmethod
    async def of(
        cls, start: Callable[[], Awaitable[tuple[payments.Payment, order_domain.Order]]]
    ) -> PaymentPayload:
        found, errors = await attempt(customers.started(start))
        if found is None:
            return cls(errors=errors)
        made, order = found
        return cls(payment=Payment.from_domain(made), order=orders.Order.from_domain(order))


@strawberry.type
class PaymentQuery:
    @strawberry.field(description="A payment by id, or null when this tenant has none such.")
    async def payment(self, info: Ctx, id: strawberry.ID) -> Payment | None:
        found = await resolve.payment(info.context, parse_id(id, "id"))
        return None if found is None else Payment.from_domain(found)

    @strawberry.field(description="Payments, keyset-paginated by creation time.")
    async def payments(
        self,
        info: Ctx,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: PaymentFilter | None = None,
        order_by: PaymentOrder | None = None,
    ) -> Connection[Payment]:
        page = await resolve.payments_page(
            info.context,
            page=window(info, first, after, last, before),
            where=(filter or PaymentFilter()).to_domain(),
            descending=(order_by or PaymentOrder()).direction == SortDirection.DESC,
        )
        return Connection.of(page, Payment.from_domain)


@strawberry.type
class PaymentMutation:
    @strawberry.mutation(description="Record an authorization (at most the order total).")
    async def authorize_payment(self, info: Ctx, input: PaymentInput) -> PaymentPayload:
        return await _record(info, input, payments.PaymentKind.AUTHORIZATION)

    @strawberry.mutation(
        description="Record a capture; captures never exceed the total, and reaching it makes a "
        "pending order paid."
    )
    async def capture_payment(self, info: Ctx, input: PaymentInput) -> PaymentPayload:
        return await _record(info, input, payments.PaymentKind.CAPTURE)

    @strawberry.mutation(
        description="Record a refund; refunds never exceed what was captured, and refunding all "
        "of it makes a paid or fulfilled order refunded."
    )
    async def refund_payment(self, info: Ctx, input: PaymentInput) -> PaymentPayload:
        return await _record(info, input, payments.PaymentKind.REFUND)


async def _record(info: Ctx, input: PaymentInput, kind: payments.PaymentKind) -> PaymentPayload:
    return await PaymentPayload.of(lambda: resolve.record(
        info.context, parse_id(input.order_id, "input.orderId"), input.to_domain(kind)
    ))


MODULE = Module(
    slug="payments", query=PaymentQuery, mutation=PaymentMutation, type_overrides=(OrderWithPayments,)
)


__all__ = ["OrderWithPayments", "Payment", "PaymentMutation", "PaymentPayload", "PaymentQuery"]
