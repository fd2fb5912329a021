"""Order types and root fragments: orders, their lines, a customer's order history."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import datetime
from typing import TypeAlias

import strawberry

from domain import catalog as catalog_domain
from domain import events, orders
from resolvers import customers as resolve_customers
from resolvers import orders as resolve
from resolvers import subscriptions as live
from schema import catalog, customers, inputs
from schema.catalog import SortDirection
from schema.common import (
    Connection,
    Ctx,
    Money,
    MoneyInput,
    UserError,
    attempt,
    optional_id,
    parse_id,
    window,
)
from schema.modules import Module
from schema.subscriptions import EventType

OrderStatus: TypeAlias = orders.OrderStatus
strawberry.enum(OrderStatus, name="OrderStatus")


OrderSortField: TypeAlias = orders.OrderSort
strawberry.enum(
    OrderSortField, name="OrderSortField",
    description="What an order list is ordered by; ties break on id.",
)


@strawberry.type(description="A line of an order, priced when the order was made.")
class OrderLine:
    id: strawberry.ID
    sku: str
    title: str
    quantity: int
    unit_price: Money
    discount: Money = strawberry.field(description="This line's share of the order discount")
    line_total: Money = strawberry.field(description="quantity × unit price − discount")
    domain: strawberry.Private[orders.OrderLine]

    @classmethod
    def from_domain(cls, value: orders.OrderLine) -> OrderLine:
        def money(amount: int) -> Money:
            return Money.from_domain(catalog_domain.Money(amount, value.currency))

        return cls(
            id=strawberry.ID(str(value.id)),
            sku=value.sku,
            title=value.title,
            quantity=value.quantity,
            unit_price=money(value.unit_price),
            discount=money(value.discount),
            line_total=money(value.line_total),
            domain=value,
        )

    @strawberry.field(description="The variant as it is now; null if it no longer exists.")
    async def variant(self, info: Ctx) -> catalog.Variant | None:
        found = await resolve.variant(info.context, self.domain.variant_id)
        return None if found is None else catalog.Variant.from_domain(found)


@strawberry.type
class Order:
    id: strawberry.ID
    number: int = strawberry.field(description="Per tenant, increasing from 1")
    status: OrderStatus
    currency: str
    subtotal: Money
    discount_total: Money
    tax_total: Money
    total: Money = strawberry.field(description="subtotal − discount total + tax total")
    price_list_id: strawberry.ID | None
    created_at: datetime
    updated_at: datetime
    domain: strawberry.Private[orders.Order]

    @classmethod
    def from_domain(cls, value: orders.Order) -> Order:
        def money(amount: int) -> Money:
            return Money.from_domain(value.money(amount))

        return cls(
            id=strawberry.ID(str(value.id)),
            number=value.number,
            status=value.status,
            currency=value.currency,
            subtotal=money(value.subtotal),
            discount_total=money(value.discount_total),
            tax_total=money(value.tax_total),
            total=money(value.total),
            price_list_id=None if value.price_list_id is None else strawberry.ID(str(value.price_list_id)),
            created_at=value.created_at,
            updated_at=value.updated_at,
            domain=value,
        )

    @strawberry.field(description="Lines in the order they were given.")
    async def lines(self, info: Ctx) -> list[OrderLine]:
        return [OrderLine.from_domain(line) for line in await resolve.lines(info.context, self.domain.id)]

    @strawberry.field
    async def customer(self, info: Ctx) -> customers.Customer | None:
        found = await resolve_customers.customer(info.context, self.domain.customer_id)
        return None if found is None else customers.Customer.from_domain(found)


@strawberry.input
class CustomerOrderFilter:
    status: OrderStatus | None = None


@strawberry.type(name="Customer")
class CustomerWithOrders(customers.Customer):
    @strawberry.field(description="This customer's orders, newest first.")
    async def orders(
        self,
        info: Ctx,
        first: int | None = None,
        after: str | None = None,
        filter: CustomerOrderFilter | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Order]:
        page = await resolve.customer_orders(
            info.context, self.domain.id, page=window(info, first, after, last, before),
            status=None if filter is None else filter.status,
        )
        return Connection.of(page, Order.from_domain)


@strawberry.input
class OrderFilter:
    status: OrderStatus | None = None
    customer_id: strawberry.ID | None = None
    created_after: datetime | None = strawberry.field(default=None, description="Inclusive")
    created_before: datetime | None = strawberry.field(default=None, description="Exclusive")

    def to_domain(self) -> orders.OrderFilter:
        return orders.OrderFilter(
            status=self.status,
            customer_id=optional_id(self.customer_id, "filter.customerId"),
            created_after=self.created_after,
            created_before=self.created_before,
        )


@strawberry.input
class OrderOrder:
    field: OrderSortField = OrderSortField.CREATED_AT
    direction: SortDirection = SortDirection.ASC


@strawberry.input
class OrderLineInput:
    quantity: int
    variant_id: strawberry.ID | None = strawberry.field(default=None, description="This or sku")
    sku: str | None = None

    def to_domain(self, path: str) -> orders.LineRequest:
        return orders.LineRequest(
            quantity=self.quantity,
            variant_id=optional_id(self.variant_id, f"{path}.variantId"),
            sku=self.sku,
        )


@strawberry.input
class OrderCreateInput:
    lines: list[OrderLineInput]
    customer_id: strawberry.ID | None = None
    price_list: str | None = strawberry.field(
        default=None, description="Handle of the price list; overrides the X-Price-List header"
    )
    discount: MoneyInput | None = strawberry.field(
        default=None, description="Taken off the subtotal, spread over the lines"
    )
    idempotency_key: str | None = inputs.column(
        orders.MAX_KEY,
        default=None,
        description="Retrying with the same key and input returns the first order; "
        "the same key with another input is refused",
    )

    def to_domain(self) -> orders.OrderRequest:
        return orders.OrderRequest(
            lines=tuple(line.to_domain(f"input.lines[{i}]") for i, line in enumerate(self.lines)),
            customer_id=optional_id(self.customer_id, "input.customerId"),
            price_list=self.price_list,
            discount=None if self.discount is None else self.discount.to_domain(),
            idempotency_key=self.idempotency_key,
        )


@strawberry.type(description="The order a mutation wrote, or why it did not.")
class OrderPayload:
    order: Order | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)

    @classmethod
    async def of(cls, start: Callable[[], Awaitable[orders.Order]]) -> OrderPayload:
        found, errors = await attempt(customers.started(start))
        return cls(order=None if found is None else Order.from_domain(found), errors=errors)


@strawberry.type
class OrderQuery:
    @strawberry.field(description="An order by id, or null when this tenant has none such.")
    async def order(self, info: Ctx, id: strawberry.ID) -> Order | None:
        found = await resolve.order(info.context, parse_id(id, "id"))
        return None if found is None else Order.from_domain(found)

    @strawberry.field(description="An order by its per-tenant number.")
    async def order_by_number(self, info: Ctx, number: int) -> Order | None:
        found = await resolve.order_by_number(info.context, number)
        return None if found is None else Order.from_domain(found)

    @strawberry.field(description="Orders, keyset-paginated; at most MAX_PAGE_SIZE per page.")
    async def orders(
        self,
        info: Ctx,
        first: int | None = None,
        after: str | None = None,
        filter: OrderFilter | None = None,
        order_by: OrderOrder | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Order]:
        order = order_by or OrderOrder()
        page = await resolve.orders_page(
            info.context,
            page=window(info, first, after, last, before),
            where=(filter or OrderFilter()).to_domain(),
            sort=order.field,
            descending=order.direction == SortDirection.DESC,
        )
        return Connection.of(page, Order.from_domain)


@strawberry.type
class OrderMutation:
    @strawberry.mutation(description="Price the lines, compute totals and reserve stock.")
    async def create_order(self, info: Ctx, input: OrderCreateInput) -> OrderPayload:
        return await OrderPayload.of(lambda: resolve.create_order(info.context, input.to_domain()))

    @strawberry.mutation(description="pending → paid, for payments taken outside tenantgraph.")
    async def mark_order_paid(self, info: Ctx, id: strawberry.ID) -> OrderPayload:
        return await _change(info, id, orders.OrderStatus.PAID)

    @strawberry.mutation(description="paid → fulfilled; the reserved stock leaves as sold.")
    async def fulfill_order(self, info: Ctx, id: strawberry.ID) -> OrderPayload:
        return await _change(info, id, orders.OrderStatus.FULFILLED)

    @strawberry.mutation(description="pending or paid → cancelled; the reserved stock is released.")
    async def cancel_order(self, info: Ctx, id: strawberry.ID) -> OrderPayload:
        return await _change(info, id, orders.OrderStatus.CANCELLED)

    @strawberry.mutation(
        description="paid or fulfilled → refunded; shipped goods are restocked, held stock released."
    )
    async def refund_order(self, info: Ctx, id: strawberry.ID) -> OrderPayload:
        return await _change(info, id, orders.OrderStatus.REFUNDED)


async def _change(info: Ctx, id: strawberry.ID, to: orders.OrderStatus) -> OrderPayload:
    return await OrderPayload.of(
        lambda: resolve.change_status(info.context, parse_id(id, "id"), to)
    )


@strawberry.type
class OrderSubscription:
    @strawberry.subscription(description="Events of one order (or of every order).")
    async def order_updated(
        self, info: Ctx, order_id: strawberry.ID | None = None, after: str | None = None
    ) -> AsyncGenerator[EventType, None]:
        wanted = None if order_id is None else str(parse_id(order_id, "orderId"))
        info.context.require("orders:read")

        def match(event: events.Event) -> bool:
            return event.aggregate_type == "order" and wanted in (None, event.aggregate_id)

        async for event in live.stream(info.context, after=after, match=match, field=info.field_name):
            yield EventType.from_domain(event)


MODULE = Module(
    slug="orders", query=OrderQuery, mutation=OrderMutation, subscription=OrderSubscription,
    type_overrides=(CustomerWithOrders,),
)


__all__ = ["CustomerWithOrders", "Order", "OrderLine", "OrderMutation", "OrderPayload", "OrderQuery"]
