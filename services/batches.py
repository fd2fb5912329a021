"""Applying inbox deliveries in batches: one transaction per batch and tenant.

A batch claims up to `size` ready deliveries of one (tenant, flow), oldest first, applies
them and marks them processed (or dead, rejected by a rule) in one transaction, under the
tenant's setting. A payload that does not parse is dead on its own. A flow in
`flows.APPLY_BATCH` applies the rest set-based; any other applies each in a savepoint, so a
DomainError rolls back just that one. A batch failing as a whole (any other error) is rolled
back and its deliveries are tried again one by one, each in its own transaction: one that
fails alone counts an attempt and waits a backoff (dead after the last)."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import random
from collections.abc import Callable, Sequence
from uuid import UUID

from piccolo.engine.postgres import PostgresTransaction

from domain import batches, events, tracing
from domain import flows as flow_domain
from domain.errors import DomainError
from services import flows
from tables import db, inbox_claims
from tables.savepoints import Savepoints

log = logging.getLogger("tenantgraph.deliveries")

Spans = Callable[[Sequence[batches.Claimed]], contextlib.AbstractContextManager[str | None]]
"""Around a batch's application: its span (None when tracing is off), yielding the span's
trace context, which the events of the first traced delivery carry."""


def no_spans(_: Sequence[batches.Claimed]) -> contextlib.AbstractContextManager[str | None]:
    return contextlib.nullcontext(None)


@dataclasses.dataclass
class Report:
    """What a batch did, and the deliveries it holds while it runs (to count an attempt on
    them if it is cancelled)."""

    claimed: list[UUID] = dataclasses.field(default_factory=list)
    applied: int = 0
    rejected: int = 0
    failed: list[str] = dataclasses.field(default_factory=list)
    """Statuses of deliveries that failed alone: 'failed' (retried later) or 'dead'."""


async def apply_batch(
    tenant_id: UUID, flow: str, size: int, report: Report, *, spans: Spans = no_spans
) -> Report:
    """Claim and apply one batch of the tenant's flow (see the module): `report`, filled in.
    Raises when nothing could be claimed or a failure not recorded (the database is down)."""
    try:
        return await _batch(tenant_id, flow, size, report, spans)
    except Exception:
        if not report.claimed:
            raise
        log.warning("batch of %d %s deliveries failed; applying them one by one",
                    len(report.claimed), flow, exc_info=True)
        report.applied = report.rejected = 0  # rolled back with the batch
        for delivery in report.claimed:
            await _one(tenant_id, flow, delivery, report, spans)
        return report


async def _batch(tenant_id: UUID, flow: str, size: int, report: Report, spans: Spans) -> Report:
    # The span ends after COMMIT: the events are written just before it.
    with contextlib.ExitStack() as around:
        async with db.transaction(tenant_id=tenant_id) as tx:
            if flow in batches.ORDERED_FLOWS:
                await inbox_claims.take_turn(tx.connection, flow, tenant_id=tenant_id)
            claimed = await inbox_claims.claim(tx.connection, flow, size, tenant_id=tenant_id)
            report.claimed = [c.id for c in claimed]
            if claimed:
                traceparent = around.enter_context(spans(claimed))
                await _apply_and_mark(tx, flow, claimed, tenant_id, report, traceparent)
    return report


async def _one(tenant_id: UUID, flow: str, delivery: UUID, report: Report, spans: Spans) -> None:
    try:
        with contextlib.ExitStack() as around:
            async with db.transaction(tenant_id=tenant_id) as tx:
                if flow in batches.ORDERED_FLOWS:
                    await inbox_claims.take_turn(tx.connection, flow, tenant_id=tenant_id)
                claimed = await inbox_claims.claim_one(tx.connection, delivery, tenant_id=tenant_id)
                if claimed is not None:
                    traceparent = around.enter_context(spans([claimed]))
                    await _apply_and_mark(tx, flow, [claimed], tenant_id, report, traceparent)
    except Exception as error:
        log.warning("delivery %s failed", delivery, exc_info=True)
        status = await inbox_claims.fail(delivery, repr(error), tenant_id=tenant_id, draw=random.random())  # noqa: S311
        report.failed.append(status)


async def _apply_and_mark(
    tx: PostgresTransaction, flow: str, claimed: Sequence[batches.Claimed], tenant_id: UUID, report: Report,
    traceparent: str | None,
) -> None:
    connection = tx.connection
    outcomes = await _apply(tx, flow, claimed, tenant_id, traceparent)
    done = [c.id for c, outcome in zip(claimed, outcomes, strict=True) if outcome is None]
    dead = [(c.id, batches.reason(o.code, o.message))
            for c, o in zip(claimed, outcomes, strict=True) if o is not None]
    await inbox_claims.mark_processed(connection, done, tenant_id=tenant_id)
    await inbox_claims.mark_dead(connection, dead, tenant_id=tenant_id)
    report.applied += len(done)
    report.rejected += len(dead)
    for delivery, outcome in zip(claimed, outcomes, strict=True):
        tracing.request_id.set(delivery.correlation_id)
        if outcome is None:
            log.info("delivery %s (%s %s) applied", delivery.id, flow, delivery.delivery_id)
        else:
            log.warning("delivery %s dead: %s", delivery.id, outcome.message)


async def _apply(
    tx: PostgresTransaction, flow: str, claimed: Sequence[batches.Claimed], tenant_id: UUID,
    batch_traceparent: str | None,
) -> list[DomainError | None]:
    """One outcome per claimed delivery, in order."""
    outcomes: list[DomainError | None] = [None] * len(claimed)
    parsed: list[tuple[int, flow_domain.Payload, events.WriteMeta]] = []
    first_traced = next((c.id for c in claimed if c.traceparent), None)
    for index, delivery in enumerate(claimed):
        try:
            payload = flow_domain.parse(flow, delivery.payload)
        except DomainError as error:
            outcomes[index] = error
            continue
        own = batch_traceparent if delivery.id == first_traced else delivery.traceparent
        meta = events.WriteMeta(
            actor=f"webhook:{flow}", correlation_id=delivery.correlation_id,
            traceparent=own if batch_traceparent else None,
        )
        parsed.append((index, payload, meta))
    tracing.tenant.set(str(tenant_id))
    if flow in flows.APPLY_BATCH:
        results = await flows.APPLY_BATCH[flow]([(p, m) for _, p, m in parsed], tenant_id)
        for (index, _, _), result in zip(parsed, results, strict=True):
            outcomes[index] = result
        return outcomes
    savepoints = Savepoints(tx)
    for index, payload, meta in parsed:
        tracing.request_id.set(meta.correlation_id)
        try:
            async with savepoints.each():
                await flows.APPLY[flow](payload, tenant_id=tenant_id, meta=meta)
        except DomainError as error:
            outcomes[index] = error
    return outcomes
