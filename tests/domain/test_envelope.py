"""The event envelope: what the relay encodes is what every fan-out decodes."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from domain import envelope, events

EVENT = events.Event(
    seq=7, type="order.created", aggregate_type="order", aggregate_id=str(uuid4()),
    payload={"number": 3, "total": 1200}, correlation_id="req-1", actor="key:abc",
    created_at=datetime(2026, 12, 4, 12, 0, 0, 120, tzinfo=UTC),
)


def test_an_event_decodes_to_itself_and_its_tenant() -> None:
    tenant = uuid4()

    [raw] = envelope.decode(envelope.encode(tenant, EVENT))

    assert envelope.tenant_of(raw) == tenant
    assert envelope.event_of(raw) == EVENT
    assert raw["id"] == f"{tenant}:7"


def test_a_batch_decodes_to_its_events_in_order() -> None:
    tenants = [uuid4(), uuid4(), uuid4()]
    batch = [(tenant, events.Event(**{**EVENT.__dict__, "seq": n})) for n, tenant in enumerate(tenants)]

    [message] = envelope.encode_batch(batch)

    raws = envelope.decode(message)
    assert [(envelope.tenant_of(r), envelope.event_of(r)) for r in raws] == batch


@pytest.mark.parametrize("data", [b"{not json", b"\xff"])
def test_a_message_that_is_not_json_is_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        envelope.decode(data)


@pytest.mark.parametrize("raw", [{}, {"tenantId": "x"}, 5, {"tenantId": None}])
def test_a_malformed_event_names_no_tenant(raw: object) -> None:
    with pytest.raises((ValueError, KeyError, TypeError)):
        envelope.tenant_of(raw)
