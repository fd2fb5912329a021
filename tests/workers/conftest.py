"""Fixtures shared by the worker tests: a queue no worker takes jobs from."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from saq import Queue

from domain.config import Settings
from workers.settings import TenantgraphQueue


@pytest.fixture
async def queue(settings: Settings) -> AsyncIterator[Queue]:
    """A queue of this test alone: no worker takes its jobs."""
    assert settings.redis_url
    made = TenantgraphQueue.from_url(settings.redis_url, name=f"test-{uuid.uuid4().hex}")
    await made.connect()
    yield made
    await made.disconnect()
