"""Housekeeping jobs."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from tables import api_keys

log = logging.getLogger("tenantgraph.jobs")
REVOKED_KEY_RETENTION = timedelta(days=90)


async def purge_revoked_keys(ctx: dict[str, Any]) -> int:
    """Revoked keys stay listed for 90 days (who had access, until when), then go."""
    purged = await api_keys.purge_revoked(older_than=REVOKED_KEY_RETENTION)
    log.info("purged %d revoked api keys", purged)
    return purged
