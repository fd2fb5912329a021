"""Idempotency-Key on mutations over HTTP (Stripe's model).

The same key from the same credential of the same tenant, with the same document, operation
name, variables and X-Price-List, replays the first answer (`Idempotency-Replayed: true`)
for IDEMPOTENCY_RETENTION_HOURS; with anything else it is refused (422). A duplicate sent
while the first still runs is refused (409 IDEMPOTENCY_KEY_IN_USE), never run twice.

Like Stripe, an answer is kept only when the operation ran: a document refused before it
ran (400), an outage (503), a timeout (504) free the key for a retry, unless one of its
changes had committed (then the key is spent: 409 IDEMPOTENCY_RESPONSE_LOST). Queries and
subscriptions ignore the key. Requests without the header never come here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from uuid import UUID

from piccolo.engine.postgres import PostgresTransaction
from starlette.responses import Response

from domain import idempotency
from domain.config import Settings
from domain.errors import DomainError
from server import auth, prometheus
from server.operation import error_response
from tables import db
from tables import idempotency as records
from telemetry import metrics

log = logging.getLogger("tenantgraph.idempotency")
REPLAYED = "idempotency-replayed"
TAKEOVER_MARGIN = 30.0
"""Seconds past OPERATION_TIMEOUT after which a claim whose request never answered is stale."""
NO_TIMEOUT_STALE = 3600.0


class Idempotency:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.retention = timedelta(hours=settings.idempotency_retention_hours)
        timeout = settings.operation_timeout
        self.stale_after = timedelta(
            seconds=timeout + TAKEOVER_MARGIN if timeout > 0 else NO_TIMEOUT_STALE
        )

    async def run(
        self, header: str, payload: dict[str, Any], caller: auth.Caller, request_id: str,
        price_list: str | None, execute: Callable[[], Awaitable[Response]],
    ) -> Response:
        """`execute`'s answer, run at most once per key; or the first answer again."""
        try:
            value = idempotency.check_key(header)
        except DomainError as error:
            return error_response(error, request_id)
        kind, _ = prometheus.operation_of(
            payload["query"], payload.get("operationName"), self.settings.max_tokens
        )
        if kind != "mutation":
            return await execute()
        key = records.Key(caller.tenant.id, caller.principal.subject, value)
        digest = idempotency.request_hash(
            payload["query"], payload.get("operationName"), payload.get("variables"), price_list
        )
        found = await records.claim(
            key, digest, retention=self.retention, stale_after=self.stale_after
        )
        if isinstance(found, UUID):
            return await self._first(key, found, execute)
        return self._again(found, digest, request_id)

    async def _first(
        self, key: records.Key, token: UUID, execute: Callable[[], Awaitable[Response]]
    ) -> Response:
        async def mark(tx: PostgresTransaction, tenant_id: UUID | None) -> None:
            await records.mark_executed(tx, tenant_id, key=key, token=token)

        try:
            with db.checked_before_commit(mark):
                response = await execute()
        except BaseException:
            await _shielded(records.release(key, token))
            raise
        if 200 <= response.status_code < 300:
            await _shielded(records.finish(key, token, response.status_code, bytes(response.body)))
            metrics.IDEMPOTENT_REQUESTS.labels("executed").inc()
        else:
            await _shielded(records.release(key, token))
            metrics.IDEMPOTENT_REQUESTS.labels("released").inc()
        return response

    def _again(
        self, found: idempotency.Record | None, digest: str, request_id: str
    ) -> Response:
        try:
            if found is None:
                raise idempotency.KeyInUse(
                    "a request with this Idempotency-Key has just answered; retry",
                    details={"retryAfterSeconds": 1},
                )
            replay = idempotency.verdict(found, digest, self.settings.idempotency_retention_hours)
        except idempotency.KeyInUse as error:
            metrics.IDEMPOTENT_REQUESTS.labels("refused").inc()
            response = error_response(error, request_id)
            response.headers["retry-after"] = "1"
            return response
        except DomainError as error:
            metrics.IDEMPOTENT_REQUESTS.labels("refused").inc()
            return error_response(error, request_id)
        metrics.IDEMPOTENT_REQUESTS.labels("replayed").inc()
        return Response(
            replay.body, status_code=replay.status, media_type="application/json",
            headers={"x-request-id": request_id, REPLAYED: "true"},
        )


async def _shielded(work: Awaitable[None]) -> None:
    """Record-keeping after the operation: finished even if the request is cancelled now, and
    never failing the answer (a claim left behind goes stale, see tables.idempotency)."""
    try:
        await asyncio.shield(work)
    except Exception:  # noqa: BLE001 - the answer stands; the record recovers by itself
        log.warning("could not update an idempotency record", exc_info=True)
