"""Customer types and root fragments: customers, their addresses, lookups by email."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

import strawberry

from domain import customers
from resolvers import customers as resolve
from schema import inputs
from schema.catalog import SortDirection
from schema.common import Connection, Ctx, UserError, attempt, parse_id, window
from schema.modules import Module

R = TypeVar("R")


@strawberry.enum(description="What a customer list is ordered by; ties break on id.")
class CustomerSortField(enum.Enum):
    CREATED_AT = "created_at"
    EMAIL = "email_key"
    LAST_NAME = "last_name"


@strawberry.type(description="A postal address of a customer.")
class Address:
    id: strawberry.ID
    name: str
    line1: str
    line2: str
    city: str
    postal_code: str
    region: str
    country: str = strawberry.field(description="ISO 3166-1 alpha-2 code, e.g. DE")
    default_shipping: bool
    default_billing: bool

    @classmethod
    def from_domain(cls, value: customers.Address) -> Address:
        return cls(
            id=strawberry.ID(str(value.id)),
            name=value.name,
            line1=value.line1,
            line2=value.line2,
            city=value.city,
            postal_code=value.postal_code,
            region=value.region,
            country=value.country,
            default_shipping=value.default_shipping,
            default_billing=value.default_billing,
        )


@strawberry.type(description="Someone who buys from this tenant; the email is unique, ignoring case.")
class Customer:
    id: strawberry.ID
    email: str
    first_name: str
    last_name: str
    name: str = strawberry.field(description="First and last name joined by a space")
    phone: str
    tags: list[str]
    created_at: datetime
    updated_at: datetime
    domain: strawberry.Private[customers.Customer]

    @classmethod
    def from_domain(cls, value: customers.Customer) -> Customer:
        return cls(
            id=strawberry.ID(str(value.id)),
            email=value.email,
            first_name=value.first_name,
            last_name=value.last_name,
            name=value.name,
            phone=value.phone,
            tags=list(value.tags),
            created_at=value.created_at,
            updated_at=value.updated_at,
            domain=value,
        )

    @strawberry.field(description="Addresses in the order they were added.")
    async def addresses(self, info: Ctx) -> list[Address]:
        return [Address.from_domain(a) for a in await resolve.addresses(info.context, self.domain.id)]

    @strawberry.field
    async def default_shipping_address(self, info: Ctx) -> Address | None:
        found = await resolve.addresses(info.context, self.domain.id)
        return next((Address.from_domain(a) for a in found if a.default_shipping), None)

    @strawberry.field
    async def default_billing_address(self, info: Ctx) -> Address | None:
        found = await resolve.addresses(info.context, self.domain.id)
        return next((Address.from_domain(a) for a in found if a.default_billing), None)


@strawberry.input
class CustomerFilter:
    search: str | None = strawberry.field(
        default=None, description="Part of the email or name, ignoring case; % and _ match literally"
    )
    tag: str | None = strawberry.field(default=None, description="Customers carrying this tag")

    def to_domain(self) -> customers.CustomerFilter:
        return customers.CustomerFilter(search=self.search, tag=self.tag)


@strawberry.input
class CustomerOrder:
    field: CustomerSortField = CustomerSortField.CREATED_AT
    direction: SortDirection = SortDirection.ASC


@strawberry.input
class AddressInput:
    line1: str
    city: str
    country: str
    name: str = ""
    line2: str = ""
    postal_code: str = ""
    region: str = ""
    default_shipping: bool = strawberry.field(
        default=False, description="Make this the default; a customer's first address always is"
    )
    default_billing: bool = False

    def to_domain(self) -> customers.AddressDraft:
        return customers.AddressDraft(
            line1=self.line1, city=self.city, country=self.country, name=self.name,
            line2=self.line2, postal_code=self.postal_code, region=self.region,
            default_shipping=self.default_shipping, default_billing=self.default_billing,
        )


@strawberry.input
class AddressUpdateInput:
    line1: str | None = None
    city: str | None = None
    country: str | None = None
    name: str | None = None
    line2: str | None = None
    postal_code: str | None = None
    region: str | None = None
    default_shipping: bool | None = None
    default_billing: bool | None = None

    def to_domain(self) -> customers.AddressPatch:
        return customers.AddressPatch(
            line1=self.line1, city=self.city, country=self.country, name=self.name,
            line2=self.line2, postal_code=self.postal_code, region=self.region,
            default_shipping=self.default_shipping, default_billing=self.default_billing,
        )


@strawberry.input
class CustomerCreateInput:
    email: str = inputs.column(customers.MAX_EMAIL)
    first_name: str = inputs.column(customers.MAX_NAME, default="")
    last_name: str = inputs.column(customers.MAX_NAME, default="")
    phone: str = ""
    tags: list[str] = inputs.column(customers.MAX_TAG, default_factory=list)
    addresses: list[AddressInput] = strawberry.field(default_factory=list)

    def to_domain(self) -> customers.CustomerDraft:
        return customers.CustomerDraft(
            email=self.email, first_name=self.first_name, last_name=self.last_name,
            phone=self.phone, tags=tuple(self.tags),
        )


@strawberry.input
class CustomerUpdateInput:
    email: str | None = inputs.column(customers.MAX_EMAIL, default=None)
    first_name: str | None = inputs.column(customers.MAX_NAME, default=None)
    last_name: str | None = inputs.column(customers.MAX_NAME, default=None)
    phone: str | None = None
    tags: list[str] | None = inputs.column(customers.MAX_TAG, default=None)

    def to_domain(self) -> customers.CustomerPatch:
        return customers.CustomerPatch(
            email=self.email, first_name=self.first_name, last_name=self.last_name,
            phone=self.phone, tags=None if self.tags is None else tuple(self.tags),
        )


@strawberry.type(description="The customer a mutation wrote, or why it did not.")
class CustomerPayload:
    customer: Customer | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)

    @classmethod
    async def of(cls, start: Callable[[], Awaitable[customers.Customer]]) -> CustomerPayload:
        found, errors = await attempt(started(start))
        return cls(customer=None if found is None else Customer.from_domain(found), errors=errors)


@strawberry.type
class CustomerQuery:
    @strawberry.field(description="A customer by id, or null when this tenant has none such.")
    async def customer(self, info: Ctx, id: strawberry.ID) -> Customer | None:
        found = await resolve.customer(info.context, parse_id(id, "id"))
        return None if found is None else Customer.from_domain(found)

    @strawberry.field(description="The customer with this email, ignoring case.")
    async def customer_by_email(self, info: Ctx, email: str) -> Customer | None:
        found = await resolve.customer_by_email(info.context, email)
        return None if found is None else Customer.from_domain(found)

    @strawberry.field(description="Customers, keyset-paginated; at most MAX_PAGE_SIZE per page.")
    async def customers(
        self,
        info: Ctx,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: CustomerFilter | None = None,
        order_by: CustomerOrder | None = None,
    ) -> Connection[Customer]:
        order = order_by or CustomerOrder()
        page = await resolve.customers_page(
            info.context,
            page=window(info, first, after, last, before),
            where=(filter or CustomerFilter()).to_domain(),
            sort=customers.CustomerSort(order.field.value),
            descending=order.direction == SortDirection.DESC,
        )
        return Connection.of(page, Customer.from_domain)


@strawberry.type
class CustomerMutation:
    @strawberry.mutation
    async def create_customer(self, info: Ctx, input: CustomerCreateInput) -> CustomerPayload:
        return await CustomerPayload.of(lambda: resolve.create_customer(
            info.context, input.to_domain(), [a.to_domain() for a in input.addresses]
        ))

    @strawberry.mutation
    async def update_customer(
        self, info: Ctx, id: strawberry.ID, input: CustomerUpdateInput
    ) -> CustomerPayload:
        return await CustomerPayload.of(
            lambda: resolve.update_customer(info.context, parse_id(id, "id"), input.to_domain())
        )

    @strawberry.mutation(description="Add an address; returns the customer with all addresses.")
    async def add_customer_address(
        self, info: Ctx, customer_id: strawberry.ID, input: AddressInput
    ) -> CustomerPayload:
        return await CustomerPayload.of(lambda: resolve.add_address(
            info.context, parse_id(customer_id, "customerId"), input.to_domain()
        ))

    @strawberry.mutation
    async def update_customer_address(
        self, info: Ctx, id: strawberry.ID, input: AddressUpdateInput
    ) -> CustomerPayload:
        return await CustomerPayload.of(
            lambda: resolve.update_address(info.context, parse_id(id, "id"), input.to_domain())
        )

    @strawberry.mutation
    async def remove_customer_address(self, info: Ctx, id: strawberry.ID) -> CustomerPayload:
        return await CustomerPayload.of(
            lambda: resolve.remove_address(info.context, parse_id(id, "id"))
        )


async def started(start: Callable[[], Awaitable[R]]) -> R:
    """Calls `start` inside `attempt`, so that converting its inputs (a malformed id) fails
    as a payload error rather than before the mutation is attempted."""
    return await start()


MODULE = Module(slug="customers", query=CustomerQuery, mutation=CustomerMutation)


__all__ = ["Address", "Customer", "CustomerMutation", "CustomerPayload", "CustomerQuery"]
