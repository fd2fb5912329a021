"""One translation of errors for GraphQL: domain errors keep their message and code,
request errors (syntax, validation, limits) say what was wrong, anything else is masked."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from typing import Any

import asyncpg
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from domain.errors import DomainError
from schema import outage

log = logging.getLogger("tenantgraph.graphql")
MASKED = "Internal server error"


def translate(error: GraphQLError, request_id: Any) -> GraphQLError:
    """The error as clients see it, always with `extensions.code`; idempotent."""
    if error.extensions and "code" in error.extensions:
        return error
    original = error.original_error
    if isinstance(original, DomainError):
        error.extensions = {"code": original.code, **original.details}
        return error
    if original is None or error.path is None:
        syntax = error.message.startswith("Syntax Error")
        code = "GRAPHQL_PARSE_FAILED" if syntax else "GRAPHQL_VALIDATION_FAILED"
        error.extensions = {"code": code, **(error.extensions or {})}
        return error
    if isinstance(original, asyncpg.PostgresError) and original.sqlstate.startswith("22"):
        # A data exception: the value, not the server, is at fault (a check missing above).
        log.warning("refused by PostgreSQL at %s: %s %s", error.path, original.sqlstate, original)
        return GraphQLError(
            f"input is invalid: {original}", nodes=error.nodes, path=error.path,
            extensions={"code": "BAD_USER_INPUT", "requestId": request_id},
        )
    if outage.is_outage(original):
        log.warning("dependency unavailable at %s: %r", error.path, original)
        unavailable = outage.unavailable(original, request_id)
        return GraphQLError(
            unavailable.message, nodes=error.nodes, path=error.path,
            extensions={"code": unavailable.code, **unavailable.details},
        )
    log.error("unexpected error at %s", error.path, exc_info=original)
    return GraphQLError(
        MASKED,
        nodes=error.nodes,
        path=error.path,
        extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
    )


SUGGESTION = re.compile(r" Did you mean [^?]*\?")


def hide_suggestions(errors: Iterable[GraphQLError]) -> None:
    """Drops graphql-core's "Did you mean ...?" hints, which would show a schema that
    introspection does not (validation, and variable coercion at execution)."""
    for error in errors:
        error.message = SUGGESTION.sub("", error.message)


def translate_result(execution_context: ExecutionContext) -> None:
    """Translates the errors of an executed operation (see `translate`)."""
    result = execution_context.result
    errors = getattr(result, "errors", None)
    if result is not None and errors:
        request_id = getattr(execution_context.context, "request_id", None)
        result.errors = [translate(error, request_id) for error in errors]


class DomainErrors(SchemaExtension):
    """`translate_result` as an extension of its own (the tenants' schemas run it in
    schema.build's)."""

    def on_operation(self) -> Iterator[None]:
        yield
        translate_result(self.execution_context)
