"""Live event streams: replay from the outbox after a cursor, then live events from this
process's fan-out, with no gap and no duplicate at the seam.

Every stream keeps the last sequence number it passed on. A live event right after it is
passed on; one further ahead means something was missed (Redis dropped a message, or the
relay is ahead of the fan-out), and the stream reads the gap from the events table first; one
at or before it is a duplicate and skipped. So the table, not pub/sub, decides what arrives.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from uuid import UUID

from domain import events
from domain.errors import Invalid
from resolvers.context import Context, Listener
from tables import events as outbox
from telemetry import metrics

PAGE = 500


Match = Callable[[events.Event], bool]


async def stream(
    ctx: Context, *, after: str | None, match: Match, field: str
) -> AsyncIterator[events.Event]:
    """The tenant's events after `after` (or from now on) that `match` and that the caller
    may read; ends with ResyncRequired (carrying the cursor to resume from) when the caller
    cannot keep up, or CursorExpired when `after` is older than the events kept."""
    listener = ctx.fanout.listen(ctx.tenant_id)
    live = metrics.LIVE_SUBSCRIPTIONS.labels(metrics.tenant_label(ctx.tenant.slug), field)
    live.inc()
    try:
        last = await _start(ctx.tenant_id, after)
        listener.passed(last)
        while True:
            async for event in _catch_up(ctx.tenant_id, last):
                last = event.seq
                listener.passed(last)
                if _visible(ctx, event, match):
                    yield event
            async for event in _live(listener, last):
                last = event.seq
                listener.passed(last)
                if _visible(ctx, event, match):
                    yield event
    finally:
        live.dec()
        listener.close()


async def _start(tenant_id: UUID, after: str | None) -> int:
    """The sequence number to continue after. The listener is registered before this reads
    the table, so nothing committed from here on can slip between the two."""
    first, last = await outbox.bounds(tenant_id=tenant_id)
    if after is None:
        return last
    seq = events.parse_cursor(after)
    if seq > last:
        raise Invalid("after: no event of this tenant has that cursor yet", fields={"after": "invalid"})
    if seq < first - 1:
        raise _expired(seq, first)
    return seq


def _expired(seq: int, first: int) -> events.CursorExpired:
    return events.CursorExpired(
        f"cursor {seq} is older than the events kept (from {first}): reload, then subscribe",
        details={"oldestCursor": str(first)},
    )


async def _catch_up(tenant_id: UUID, last: int) -> AsyncIterator[events.Event]:
    """The events after `last` from the table. Sequence numbers have no gaps, so an event
    that does not follow the one before means those between were pruned meanwhile: the
    caller is told, never left with a silent gap."""
    while True:
        page = await outbox.list_events(tenant_id=tenant_id, after_seq=last, limit=PAGE)
        for event in page:
            if event.seq != last + 1:
                raise _expired(last, event.seq)
            yield event
            last = event.seq
        if len(page) < PAGE:
            return


async def _live(listener: Listener, last: int) -> AsyncIterator[events.Event]:
    """Live events that follow `last` without a gap; returns at a gap (or after the fan-out
    reconnected) for the stream to catch up from the table."""
    while True:
        try:
            event = await listener.next()
        except events.ResyncRequired:
            raise events.ResyncRequired(
                "the subscriber fell behind: resume from the cursor", details={"cursor": str(last)}
            ) from None
        if event is None or event.seq > last + 1:
            return
        if event.seq == last + 1:
            last = event.seq
            yield event


def _visible(ctx: Context, event: events.Event, match: Match) -> bool:
    return match(event) and ctx.principal.can(events.read_scope(event))
