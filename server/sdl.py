"""GET /schema.graphql: the SDL of the caller's tenant's schema, for its admins to download.

The tenant comes from the credential as on /graphql (X-Tenant-ID for platform keys); the text is
that tenant's schema, so it names only the modules and extensions its tenant has.
`application/graphql` says what the file is (text/plain would do too); `attachment` makes a
browser save it rather than show it."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

from domain import tenancy
from domain.errors import DomainError, Forbidden
from schema import outage
from server import operation, problems, refusals, unavailable
from server.graphql import GraphQLEndpoint

MEDIA_TYPE = "application/graphql; charset=utf-8"
log = logging.getLogger("tenantgraph.http")


class SchemaDownload:
    def __init__(self, graphql: GraphQLEndpoint) -> None:
        self.graphql = graphql

    async def handle(self, request: Request) -> Response:
        request_id = operation.request_id(request)
        try:
            return await self._sdl(request, request_id)
        except DomainError as error:
            headers = {"www-authenticate": "Bearer"} if error.http_status == 401 else {}
            refused = problems.from_error(error)
            refused.headers.update({"x-request-id": request_id, **headers})
            return refused
        except Exception as error:
            if not outage.is_outage(error):
                raise
            log.warning("dependency unavailable: %r", error)
            return unavailable.problem(outage.unavailable(error, request_id), request_id)

    async def _sdl(self, request: Request, request_id: str) -> Response:
        caller = await self.graphql.api_key_cache.authenticate(
            request.headers.get("authorization"), request.headers.get("x-tenant-id"),
            refusals.client_address(request.scope),
        )
        if not caller.principal.can(tenancy.ADMIN):
            raise Forbidden("the schema download needs the admin scope")
        text = self.graphql.schemas.for_tenant(caller.tenant).schema.as_str() + "\n"
        return Response(text, media_type=MEDIA_TYPE, headers={
            "content-disposition": f'attachment; filename="{caller.tenant.slug}.graphql"',
            "cache-control": "no-store",
            "x-request-id": request_id,
        })
