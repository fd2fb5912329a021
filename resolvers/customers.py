"""Customer resolvers: reads through loaders, writes validated by the customer rules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar
from uuid import UUID

from domain import customers
from domain.errors import NotFound, require_valid
from resolvers import loaders, pagination
from resolvers.context import Context
from services import customers as customer_services
from tables import customers as customer_tables

READ = "customers:read"
WRITE = "customers:write"
K = TypeVar("K")


async def customer(ctx: Context, customer_id: UUID | None) -> customers.Customer | None:
    ctx.require(READ)
    return None if customer_id is None else await ctx.loaders.customer.load(customer_id)


async def customer_by_email(ctx: Context, email: str) -> customers.Customer | None:
    ctx.require(READ)
    return await ctx.loaders.customer_by_email.load(customers.email_key(email.strip()))


async def addresses(ctx: Context, customer_id: UUID) -> list[customers.Address]:
    ctx.require(READ)
    return await ctx.loaders.addresses.load(customer_id)


async def customers_page(
    ctx: Context,
    *,
    page: pagination.Window,
    where: customers.CustomerFilter,
    sort: customers.CustomerSort,
    descending: bool,
) -> pagination.Page[customers.Customer]:
    ctx.require(READ)
    order = pagination.ordering(sort.value, descending)
    rows = await customer_tables.list_customers(
        tenant_id=ctx.tenant_id, where=where, sort=sort,
        descending=pagination.scan_descending(descending, page), after=page.key(order),
        limit=page.size + 1,
    )
    for row in rows:
        ctx.loaders.customer.prime(row.id, row)
    return pagination.paginate_window(
        rows, page, lambda c: (order, getattr(c, sort.value), c.id),
        lambda: customer_tables.count_customers(tenant_id=ctx.tenant_id, where=where),
    )


async def create_customer(
    ctx: Context, draft: customers.CustomerDraft, addresses: Sequence[customers.AddressDraft]
) -> customers.Customer:
    ctx.require(WRITE)
    draft = customers.normalize(draft)
    errors = customers.check_customer(draft)
    for index, address in enumerate(addresses):
        errors.update(customers.check_address(address, f"input.addresses[{index}]"))
    require_valid(errors)
    return await customer_services.create_customer(
        draft, addresses, tenant_id=ctx.tenant_id, meta=ctx.meta
    )


async def update_customer(
    ctx: Context, customer_id: UUID, patch: customers.CustomerPatch
) -> customers.Customer:
    ctx.require(WRITE)
    current = await _existing(ctx, customer_id)
    draft = customers.normalize(patch.apply(current))
    require_valid(customers.check_customer(draft))
    updated = await customer_services.update_customer(
        customer_id, draft, tenant_id=ctx.tenant_id, meta=ctx.meta
    )
    _forget(ctx, current)
    return updated


async def add_address(
    ctx: Context, customer_id: UUID, draft: customers.AddressDraft
) -> customers.Customer:
    ctx.require(WRITE)
    require_valid(customers.check_address(draft))
    await customer_services.add_address(customer_id, draft, tenant_id=ctx.tenant_id, meta=ctx.meta)
    return await _fresh(ctx, customer_id)


async def update_address(
    ctx: Context, address_id: UUID, patch: customers.AddressPatch
) -> customers.Customer:
    ctx.require(WRITE)
    updated = await customer_services.update_address(
        address_id, patch, tenant_id=ctx.tenant_id, meta=ctx.meta
    )
    return await _fresh(ctx, updated.customer_id)


async def remove_address(ctx: Context, address_id: UUID) -> customers.Customer:
    ctx.require(WRITE)
    removed = await customer_services.remove_address(address_id, tenant_id=ctx.tenant_id, meta=ctx.meta)
    return await _fresh(ctx, removed.customer_id)


async def _existing(ctx: Context, customer_id: UUID) -> customers.Customer:
    found = await ctx.loaders.customer.load(customer_id)
    if found is None:
        raise NotFound("customer not found")
    return found


async def _fresh(ctx: Context, customer_id: UUID) -> customers.Customer:
    """The customer after a change of addresses, read again (the loaders may hold old ones)."""
    loaders.forget(ctx.loaders.addresses, customer_id)
    return await customer_tables.get_customer(customer_id, tenant_id=ctx.tenant_id)


def _forget(ctx: Context, before: customers.Customer) -> None:
    loaders.forget(ctx.loaders.customer, before.id)
    loaders.forget(ctx.loaders.customer_by_email, before.email_key)


