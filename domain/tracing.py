"""The trace of the current unit of work (an HTTP request or a job), for every log line."""

from __future__ import annotations

import contextvars

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
"""The correlation id: a request's X-Request-ID, carried into the jobs and events it causes."""

tenant: contextvars.ContextVar[str] = contextvars.ContextVar("tenant", default="-")
