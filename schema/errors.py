"""One translation of errors for GraphQL: domain errors keep their message and code,
request errors (syntax, validation, limits) say what was wrong, anything else is masked."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from domain.errors import DomainError

log = logging.getLogger("tenantgraph.graphql")
MASKED = "Internal server error"


class DomainErrors(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if result is not None and errors:
            result.errors = [self._translate(error) for error in errors]

    def _translate(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        if isinstance(original, DomainError):
            error.extensions = {"code": original.code, **original.details}
            return error
        if original is None or error.path is None:
            code = "GRAPHQL_PARSE_FAILED" if "Syntax Error" in error.message else "GRAPHQL_VALIDATION_FAILED"
            error.extensions = {"code": code, **(error.extensions or {})}
            return error
        request_id = self._request_id()
        log.error("unexpected error at %s", error.path, exc_info=original)
        return GraphQLError(
            MASKED,
            nodes=error.nodes,
            path=error.path,
            extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
        )

    def _request_id(self) -> Any:
        return getattr(self.execution_context.context, "request_id", None)
