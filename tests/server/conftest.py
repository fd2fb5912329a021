"""Fixtures shared by the Idempotency-Key tests (test_idempotency, test_idempotency_races)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from domain.config import Settings
from tests.shop import Shop, open_shop


@pytest.fixture
async def shop(make_tenant: Any) -> Shop:
    """A tenant with the demo's shop; a test module that defines its own `shop` keeps it."""
    return await open_shop(make_tenant)


@pytest.fixture
async def owner(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """A connection as the database owner (row-level security does not apply)."""
    connection = await asyncpg.connect(settings.database_url)
    yield connection
    await connection.close()
