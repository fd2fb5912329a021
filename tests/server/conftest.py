"""Fixtures shared by the server tests: a shop (the Idempotency-Key tests; its owner is in
tests/conftest.py) and a Redis client (the bucket and lease tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from domain.config import Settings
from tests.shop import Shop, open_shop


@pytest.fixture
async def shop(make_tenant: Any) -> Shop:
    """A tenant with the demo's shop; a test module that defines its own `shop` keeps it."""
    return await open_shop(make_tenant)


@pytest.fixture
async def redis_client(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    """A client of the suite's Redis (the buckets' state is read and written there)."""
    assert settings.redis_url
    client = aioredis.from_url(settings.redis_url)
    yield client
    await client.aclose()
