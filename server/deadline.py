"""OPERATION_TIMEOUT: a query or mutation is cancelled when it runs past its deadline.

Cancelling unwinds the operation's awaits: a transaction in progress rolls back (tables.db),
so what a cancelled mutation field was writing is never kept. Over HTTP the watchdog's
heartbeat cancels the request's task (server.watchdog.Operations: no timer per request); over
WebSocket and SSE, `first` bounds the wait for the one result of a query or mutation. The live
part of a subscription waits for events by design and has no deadline. A deadline needs the
loop to get control; a loop held by one operation is the watchdog's business.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from typing import TypeVar

import graphql
from graphql import GraphQLError

from domain.errors import DomainError

T = TypeVar("T")


class OperationTimeout(DomainError):
    """504, as gateways answer a request that ran out of time: the body says what happened."""

    code = "OPERATION_TIMEOUT"
    http_status = 504

    def __init__(self, limit: float, request_id: str) -> None:
        super().__init__(
            f"the operation did not finish within {limit:g}s and was cancelled; a change it was "
            "making was rolled back",
            details={"timeoutSeconds": limit, "requestId": request_id},
        )


async def first(results: AsyncIterator[T], limit: float, request_id: str) -> T | None:
    """The first item of `results` (None when there is none) within `limit` seconds (0: no
    limit); past it, the stream is cancelled and OperationTimeout raised. In this task, so that
    a caller cancelling it (the client completed or left) finds the stream at rest to close."""
    scope = asyncio.timeout(limit or None)
    try:
        async with scope:
            return await anext(results, None)
    except TimeoutError:
        if not scope.expired():
            raise
        raise OperationTimeout(limit, request_id) from None


CACHED_QUERY_CHARS = 16_384
"""Longer documents are parsed again rather than kept: the cache then holds at most ~8 MB."""


def is_subscription(query: str, operation_name: str | None, max_tokens: int | None) -> bool:
    """Whether the operation is a subscription; False for a document that does not parse
    (within `max_tokens`), which the schema then refuses."""
    if len(query) > CACHED_QUERY_CHARS:
        return _is_subscription(query, operation_name, max_tokens)
    return _cached_is_subscription(query, operation_name, max_tokens)


def _is_subscription(query: str, operation_name: str | None, max_tokens: int | None) -> bool:
    try:
        document = graphql.parse(query, max_tokens=max_tokens)
        operation = graphql.get_operation_ast(document, operation_name)
    except GraphQLError:
        return False
    return operation is not None and operation.operation == graphql.OperationType.SUBSCRIPTION


_cached_is_subscription = functools.lru_cache(maxsize=512)(_is_subscription)
