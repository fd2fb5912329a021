"""Trusted documents, for a tenant's admins."""

from __future__ import annotations

from domain import documents, tenancy
from resolvers.context import Context
from services import documents as document_services
from tables import documents as document_tables


async def listed(ctx: Context) -> list[documents.Document]:
    ctx.require(tenancy.ADMIN)
    return await document_tables.list_all(tenant_id=ctx.tenant_id)


async def invalid(ctx: Context, check: document_services.Check) -> list[document_services.Broken]:
    ctx.require(tenancy.ADMIN)
    return await document_services.invalid(check, tenant_id=ctx.tenant_id)


def mode(ctx: Context) -> documents.Mode:
    ctx.require(tenancy.ADMIN)
    return documents.mode_of(ctx.tenant)


async def set_mode(ctx: Context, mode: str) -> documents.Mode:
    ctx.require(tenancy.ADMIN)
    await document_services.set_mode(mode, tenant_id=ctx.tenant_id, actor=ctx.actor)
    return documents.check_mode(mode)
