"""A tenant's query-cost plan: the size and restore rate of its bucket and of each of its
credentials' buckets. Defaults come from the settings; a tenant's own values, when set, are
kept in its `settings` under `limits` and win over them."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from domain import tenancy
from domain.config import Settings
from domain.errors import Invalid

LIMITS = "limits"
"""The key of a tenant's own plan in its settings."""
FIELDS = ("bucket_size", "restore_rate", "credential_bucket_size", "credential_restore_rate")


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    """Points a bucket holds at most, and points restored per second."""

    bucket_size: float
    restore_rate: float
    credential_bucket_size: float
    credential_restore_rate: float

    @classmethod
    def defaults(cls, settings: Settings) -> Plan:
        return cls(
            bucket_size=settings.cost_bucket_size,
            restore_rate=settings.cost_restore_rate,
            credential_bucket_size=settings.cost_credential_bucket_size,
            credential_restore_rate=settings.cost_credential_restore_rate,
        )

    def as_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


def plan_of(tenant: tenancy.Tenant, settings: Settings) -> Plan:
    """The tenant's plan: its own values over the defaults."""
    own = tenant.settings.get(LIMITS)
    defaults = Plan.defaults(settings)
    if not isinstance(own, Mapping) or not own:
        return defaults
    return dataclasses.replace(defaults, **{k: float(v) for k, v in own.items() if k in FIELDS})


def merged(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, float]:
    """The tenant's own values after `changes`: each a positive number, or None to go back to
    the default."""
    unknown = sorted(set(changes) - set(FIELDS))
    if unknown:
        raise Invalid(f"unknown limits: {', '.join(unknown)}", fields={k: "unknown" for k in unknown})
    bad = {
        k: "must be a positive number" for k, v in changes.items()
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or not v > 0)
    }
    if bad:
        raise Invalid("limits must be positive numbers", fields=bad)
    own = {k: float(v) for k, v in current.items() if k in FIELDS}
    for key, value in changes.items():
        if value is None:
            own.pop(key, None)
        else:
            own[key] = float(value)
    return own
