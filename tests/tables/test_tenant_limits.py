"""A tenant's own cost plan: stored in its settings beside whatever else they hold, changed
for that tenant only, back to the defaults on None."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import orjson
import pytest

from domain import throttling
from domain.config import Settings
from domain.errors import Invalid, NotFound
from tables import tenant_limits, tenants


async def test_limits_change_for_one_tenant_and_keep_its_other_settings(
    make_tenant: Any, owner_dsn: str, settings: Settings
) -> None:
    a, b = await make_tenant(), await make_tenant()
    owner = await asyncpg.connect(owner_dsn)
    try:
        await owner.execute(
            "update tenants set settings = $2::jsonb where id = $1", a.id,
            orjson.dumps({"origins": ["https://a.example"]}).decode(),
        )
    finally:
        await owner.close()

    changed = await tenant_limits.set_limits(
        tenant_id=a.id, changes={"bucket_size": 40, "restore_rate": 2}
    )
    again = await tenant_limits.set_limits(tenant_id=a.id, changes={"restore_rate": None})

    assert changed.settings["limits"] == {"bucket_size": 40.0, "restore_rate": 2.0}
    assert again.settings == {"origins": ["https://a.example"], "limits": {"bucket_size": 40.0}}
    assert throttling.plan_of(again, settings) == throttling.Plan(
        bucket_size=40, restore_rate=settings.cost_restore_rate,
        credential_bucket_size=settings.cost_credential_bucket_size,
        credential_restore_rate=settings.cost_credential_restore_rate,
    )
    assert (await tenants.get(a.id)).settings == again.settings
    other = await tenants.get(b.id)
    assert throttling.plan_of(other, settings) == throttling.Plan.defaults(settings)


@pytest.mark.parametrize("changes", [{"bucket_size": 0}, {"restore_rate": -1}, {"speed": 3},
                                     {"bucket_size": True}])
async def test_limits_are_positive_numbers_of_known_names(make_tenant: Any, changes: Any) -> None:
    tenant = await make_tenant()

    with pytest.raises(Invalid):
        await tenant_limits.set_limits(tenant_id=tenant.id, changes=changes)

    assert "limits" not in (await tenants.get(tenant.id)).settings


async def test_an_unknown_tenant_is_not_found(app_pool: None) -> None:
    with pytest.raises(NotFound):
        await tenant_limits.set_limits(
            tenant_id=uuid.uuid4(), changes={"bucket_size": 5}
        )
