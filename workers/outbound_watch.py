"""Which tenants a dispatcher round looks at, so that its cost follows the tenants with enabled
outbound endpoints, not the outbox's traffic.

The outbox's NOTIFY (tg_events) names the tenant of each committed event; a change to a
tenant's enabled endpoints, from any process, sends NOTIFY tg_outbound_endpoints (a trigger,
migration 2026-12-05T12:30). A round looks at the tenants named since the last round that have
enabled endpoints; a full round (the first, after an endpoint change or a lost listener, and
every poll interval) reloads that set and looks at every one of them that is behind."""

from __future__ import annotations

import time
from uuid import UUID


class Watch:
    """The set of tenants with enabled endpoints (None until loaded or after a change) and the
    tenants named by notifications since the last round."""

    def __init__(self, poll_seconds: float) -> None:
        self.poll_seconds = poll_seconds
        self.active: frozenset[UUID] | None = None
        self.named: set[UUID] = set()
        self._full_at = 0.0
        self._changes = 0

    def event(self, payload: str) -> bool:
        """A tg_events notification; True when it calls for a round. A tenant named while the
        set is unknown is kept: the full round that loads the set may not see its event."""
        try:
            tenant = UUID(payload)
        except ValueError:  # not ours: look at everything
            self.changed()
            return True
        if self.active is not None and tenant not in self.active:
            return False
        self.named.add(tenant)
        return True

    def changed(self) -> None:
        """Endpoints changed somewhere, or notifications may have been missed: a full round."""
        self.active = None
        self._changes += 1

    def full_due(self) -> int | None:
        """None, or the count of changes to hand back to `loaded` with the set read now."""
        if self.active is None or time.monotonic() - self._full_at >= self.poll_seconds:
            return self._changes
        return None

    def loaded(self, active: frozenset[UUID], changes: int) -> None:
        """The set read in a full round; a change notified while it was read may be missing
        from it, so the set stays unknown and the next round is full again."""
        self._full_at = time.monotonic()
        if changes == self._changes:
            self.active = active

    def take(self) -> set[UUID]:
        """The named tenants with enabled endpoints, forgotten as they are handed out."""
        named, self.named = self.named, set()
        return named if self.active is None else named & self.active
