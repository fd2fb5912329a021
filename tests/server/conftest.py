"""Fixtures shared by the Idempotency-Key tests (test_idempotency, test_idempotency_races)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.shop import Shop, open_shop


@pytest.fixture
async def shop(make_tenant: Any) -> Shop:
    """A tenant with the demo's shop; a test module that defines its own `shop` keeps it."""
    return await open_shop(make_tenant)
