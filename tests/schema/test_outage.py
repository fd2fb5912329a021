"""What counts as an outage (answered 503) and what as a bug (500): classified where the
dependency is called, never by an OSError or TimeoutError found in an exception chain."""

from __future__ import annotations

import asyncpg
import pytest
import redis.exceptions
from graphql import GraphQLError

from domain.errors import RedisUnavailable, ServiceUnavailable, Unavailable
from schema import outage
from schema.errors import translate


def raised_while_handling(error: BaseException, context: BaseException) -> BaseException:
    try:
        try:
            raise context
        except BaseException:
            raise error  # noqa: B904 - the implicit __context__ is the point
    except BaseException as raised:
        return raised


OUTAGES = [
    Unavailable("PostgreSQL failed the call: TimeoutError"),
    RedisUnavailable("limits"),
    ServiceUnavailable("down"),
    redis.exceptions.ConnectionError("refused"),
    redis.exceptions.TimeoutError("slow"),
    asyncpg.ConnectionDoesNotExistError("lost"),
    ExceptionGroup("both", [Unavailable("a"), redis.exceptions.ConnectionError("b")]),
]
BUGS = [
    FileNotFoundError(2, "No such file or directory", "/etc/tenantgraph/missing.json"),
    TimeoutError(),  # our own asyncio.timeout, not a dependency's
    ConnectionRefusedError(111, "Connection refused"),  # not from a call to PostgreSQL or Redis
    OSError("disk"),
    KeyError("a bug"),
    raised_while_handling(KeyError("a bug in an except block"), ConnectionRefusedError()),
    raised_while_handling(ValueError("bug"), Unavailable("handled outage")),
    ExceptionGroup("mixed", [Unavailable("a"), KeyError("b")]),
]


@pytest.mark.parametrize("error", OUTAGES, ids=repr)
def test_a_failed_dependency_is_an_outage(error: BaseException) -> None:
    assert outage.is_outage(error)


@pytest.mark.parametrize("error", BUGS, ids=repr)
def test_an_oserror_or_timeout_of_our_own_is_a_bug(error: BaseException) -> None:
    assert not outage.is_outage(error)


def test_the_answer_names_the_dependency_that_failed() -> None:
    assert outage.unavailable(RedisUnavailable("x"), "r1").message.startswith("Redis is unavailable")
    assert outage.unavailable(redis.exceptions.TimeoutError(), "r1").message.startswith("Redis")
    assert outage.unavailable(Unavailable("x"), "r1").message.startswith("the database is unavailable")


@pytest.mark.parametrize(("original", "code"), [
    (Unavailable("PostgreSQL failed the call: ConnectionRefusedError"), "SERVICE_UNAVAILABLE"),
    (FileNotFoundError(2, "No such file or directory"), "INTERNAL_SERVER_ERROR"),
    (TimeoutError(), "INTERNAL_SERVER_ERROR"),
])
def test_a_resolver_error_is_translated_by_the_same_rule(original: Exception, code: str) -> None:
    error = GraphQLError("failed", path=["products"], original_error=original)
    translated = translate(error, "req-1")
    assert translated.extensions is not None
    assert (translated.extensions["code"], translated.extensions["requestId"]) == (code, "req-1")
