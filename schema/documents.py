"""Trusted documents (persisted queries): admin-only, in every tenant's schema; and the check
of a document against a tenant's schema that pushing and re-validation share."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry
from graphql import GraphQLError, GraphQLSchema, OperationDefinitionNode, parse, specified_rules

from domain import documents
from domain.config import Settings
from resolvers import documents as resolve
from schema import limits
from schema.budget import Budget
from schema.common import BigInt, Ctx, UserError, attempt
from services import documents as document_services


def checker(schema: GraphQLSchema, settings: Settings) -> document_services.Check:
    """Checks a document as a request would be: the token limit, the depth, alias and
    selection limits, then the schema's validation rules within VALIDATION_BUDGET_MS."""
    bounds = limits.Limits.of(settings)

    def check(body: str) -> document_services.Checked:
        try:
            document = parse(body, max_tokens=bounds.max_tokens)
        except GraphQLError as error:
            return document_services.Checked(error=error.message)
        errors = limits.validate(
            schema, document, specified_rules, bounds, Budget(bounds.budget_seconds)
        )
        if errors:
            return document_services.Checked(error="; ".join(e.message for e in errors))
        names = tuple(
            d.name.value for d in document.definitions
            if isinstance(d, OperationDefinitionNode) and d.name is not None
        )
        return document_services.Checked(operation_names=names)

    return check


@strawberry.enum(description="Which documents this tenant runs.")
class TrustedDocumentsMode(enum.Enum):
    OFF = "off"
    LEARN = "learn"
    ENFORCE = "enforce"


@strawberry.type(description="A document clients may send by its hash.")
class TrustedDocument:
    hash: str = strawberry.field(description="The id clients send (sha256, or a manifest's id).")
    sha256: str
    body: str
    operation_names: list[str]
    source: str = strawberry.field(description="pushed (a manifest) or learned (seen running).")
    first_seen: datetime
    last_seen: datetime | None = strawberry.field(
        description="Counts and last use reach the store within seconds, not at once."
    )
    count: BigInt

    @classmethod
    def from_domain(cls, value: documents.Document) -> TrustedDocument:
        return cls(
            hash=value.hash, sha256=value.sha256, body=value.body,
            operation_names=list(value.operation_names), source=value.source,
            first_seen=value.first_seen, last_seen=value.last_seen, count=BigInt(value.count),
        )


@strawberry.type(description="A stored document that this tenant's schema no longer accepts.")
class InvalidTrustedDocument:
    hash: str
    operation_names: list[str]
    error: str


@strawberry.type
class TrustedDocumentsModePayload:
    mode: TrustedDocumentsMode | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DocumentQuery:
    @strawberry.field(description="Which documents this tenant runs (admin scope).")
    def trusted_documents_mode(self, info: Ctx) -> TrustedDocumentsMode:
        return TrustedDocumentsMode(resolve.mode(info.context))

    @strawberry.field(description="This tenant's trusted documents with their use (admin scope).")
    async def trusted_documents(self, info: Ctx) -> list[TrustedDocument]:
        return [TrustedDocument.from_domain(d) for d in await resolve.listed(info.context)]

    @strawberry.field(
        description="Stored documents that no longer validate against this tenant's schema "
        "(after a module change), with the error (admin scope)."
    )
    async def invalid_trusted_documents(self, info: Ctx) -> list[InvalidTrustedDocument]:
        check = checker(info._raw_info.schema, info.context.settings)
        return [
            InvalidTrustedDocument(
                hash=b.document.hash, operation_names=list(b.document.operation_names), error=b.error
            )
            for b in await resolve.invalid(info.context, check)
        ]


@strawberry.type
class DocumentMutation:
    @strawberry.mutation(
        description="off: run anything; learn: run anything and record each document; "
        "enforce: run only stored documents (admin scope)."
    )
    async def set_trusted_documents_mode(
        self, info: Ctx, mode: TrustedDocumentsMode
    ) -> TrustedDocumentsModePayload:
        done, errors = await attempt(resolve.set_mode(info.context, mode.value))
        return TrustedDocumentsModePayload(
            mode=None if done is None else TrustedDocumentsMode(done), errors=errors
        )
