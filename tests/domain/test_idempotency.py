"""Idempotency keys without a database: which keys are well formed, what makes two requests
the same, and what a stored record answers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain import idempotency

AT = datetime(2026, 12, 5, tzinfo=UTC)
QUERY = "mutation M($n: Int) { m(n: $n) }"


def record(**fields: object) -> idempotency.Record:
    values: dict[str, object] = {
        "request_hash": "h", "executed_at": None, "finished_at": None, "status": None,
        "body": None, "stale": False, **fields,
    }
    return idempotency.Record(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("key", ["a", "0f8fa1c2-8e0e-4a84-9f0b-6f2f0c3b1d2e", "x" * 255, "a b~!"])
def test_well_formed_keys_are_kept_as_sent(key: str) -> None:
    assert idempotency.check_key(key) == key


@pytest.mark.parametrize("key", ["", "  ", "x" * 256, "caf\xe9", "a\tb", "a\nb", "\x7f"])
def test_malformed_keys_are_refused(key: str) -> None:
    with pytest.raises(idempotency.KeyInvalid) as refused:
        idempotency.check_key(key)
    assert refused.value.http_status == 400
    assert refused.value.code == "IDEMPOTENCY_KEY_INVALID"


def test_the_order_of_variables_does_not_matter() -> None:
    one = idempotency.request_hash(QUERY, "M", {"a": 1, "b": {"c": 2, "d": 3}}, None)
    two = idempotency.request_hash(QUERY, "M", {"b": {"d": 3, "c": 2}, "a": 1}, None)
    assert one == two
    assert idempotency.request_hash(QUERY, None, None, None) == (
        idempotency.request_hash(QUERY, None, {}, None)
    )


@pytest.mark.parametrize(
    "other",
    [(QUERY + " ", "M", {"n": 1}, None), (QUERY, "N", {"n": 1}, None), (QUERY, "M", {"n": 2}, None),
     (QUERY, "M", {"n": 1}, "wholesale")],
)
def test_document_operation_variables_and_price_list_make_a_request(
    other: tuple[str, str, dict[str, int], str | None],
) -> None:
    assert idempotency.request_hash(QUERY, "M", {"n": 1}, None) != idempotency.request_hash(*other)


def test_a_finished_record_replays_its_answer() -> None:
    done = record(executed_at=AT, finished_at=AT, status=200, body=b"{}")
    assert idempotency.verdict(done, "h", 24) == idempotency.Replay(200, b"{}")


def test_another_request_under_the_key_is_refused_whatever_the_state() -> None:
    for state in (record(), record(finished_at=AT, status=200, body=b"{}"), record(stale=True)):
        with pytest.raises(idempotency.KeyReused) as refused:
            idempotency.verdict(state, "other", 24)
        assert refused.value.http_status == 422
        assert "24 h" in refused.value.message


def test_a_running_request_is_in_use() -> None:
    for running in (record(), record(executed_at=AT)):
        with pytest.raises(idempotency.KeyInUse) as refused:
            idempotency.verdict(running, "h", 24)
        assert refused.value.http_status == 409


def test_a_change_without_an_answer_is_lost_once_finished_or_stale() -> None:
    for lost in (record(executed_at=AT, finished_at=AT), record(executed_at=AT, stale=True)):
        with pytest.raises(idempotency.ResponseLost):
            idempotency.verdict(lost, "h", 24)
