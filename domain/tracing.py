"""The trace of the current unit of work (an HTTP request or a job), for every log line."""

from __future__ import annotations

import contextvars

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
"""The correlation id: a request's X-Request-ID, carried into the jobs and events it causes."""

tenant: contextvars.ContextVar[str] = contextvars.ContextVar("tenant", default="-")
"""The tenant as log lines name it."""

tenant_id: contextvars.ContextVar[str] = contextvars.ContextVar("tenant_id", default="-")
"""The id of the tenant the work is for, once resolved (from a credential, an endpoint found, a
stored row): what spans carry, never a value the caller sent."""

tenant_slug: contextvars.ContextVar[str] = contextvars.ContextVar("tenant_slug", default="-")


def for_tenant(resolved_id: object, slug: str | None = None) -> None:
    """The work is for this tenant from here on: its id, and its slug when known."""
    tenant_id.set(str(resolved_id))
    if slug is not None:
        tenant_slug.set(slug)
