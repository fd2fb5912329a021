"""One rule for every string a client sends: no NUL character (PostgreSQL text cannot hold
one), and no more characters than the column it is written to. Literals are checked once,
when a document is validated (its result is cached); variables each time they arrive,
before execution, because graphql-core coerces them only then. Each problem names the
argument or input field path and the limit, with `extensions.code` BAD_USER_INPUT.

Integer literals too long for Int or BigInt are refused here too, as "out of range",
before graphql-core tries to convert them (Python refuses 4,300 digits and more)."""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import strawberry
from graphql import (
    SKIP,
    ArgumentNode,
    ASTValidationRule,
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLArgument,
    GraphQLError,
    GraphQLInputField,
    GraphQLInputType,
    GraphQLSchema,
    IntValueNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    StringValueNode,
    TypeInfo,
    TypeInfoVisitor,
    ValidationRule,
    ValueNode,
    VariableDefinitionNode,
    VariableNode,
    Visitor,
    get_named_type,
    get_nullable_type,
    is_input_object_type,
    is_list_type,
    visit,
)
from graphql.validation import ValuesOfCorrectTypeRule
from strawberry.types import ExecutionContext

from domain.errors import Invalid

MAX_LENGTH = "tenantgraph.max_length"
# Longest literal of a whole-number scalar: a signed 64-bit integer has at most 19 digits.
INTEGER_SCALARS = frozenset({"Int", "BigInt"})
MAX_INTEGER_DIGITS = 19
Report = Callable[[str, str], object]


def column(length: int, **options: Any) -> Any:
    """An input field written to a column of `length` characters: pass the domain constant
    the table's column is declared with, so the limit is written once."""
    return strawberry.field(metadata={MAX_LENGTH: length}, **options)


def _limit(definition: GraphQLArgument | GraphQLInputField) -> int | None:
    own = (definition.extensions or {}).get("strawberry-definition")
    limit = None if own is None else own.metadata.get(MAX_LENGTH)
    return limit if isinstance(limit, int) else None


def problem(value: str, limit: int | None) -> str | None:
    """What is wrong with one string, or None."""
    if "\x00" in value:
        return "must not contain a NUL character"
    if limit is not None and len(value) > limit:
        return f"at most {limit} characters"
    return None


@dataclasses.dataclass(frozen=True)
class Place:
    """Where a variable is used: the input path, its type there and the length limit."""

    path: str
    type: GraphQLInputType
    limit: int | None


def _literal(
    node: ValueNode, place: Place, report: Report, variable: Callable[[str, Place], None]
) -> None:
    """Check the strings of a literal; hand each variable in it to `variable`."""
    type_: Any = get_nullable_type(place.type)
    if isinstance(node, VariableNode):
        variable(node.name.value, place)
    elif is_list_type(type_):
        items = node.values if isinstance(node, ListValueNode) else (node,)
        item = dataclasses.replace(place, type=type_.of_type)
        for index, value in enumerate(items):
            _literal(value, dataclasses.replace(item, path=f"{place.path}[{index}]"), report, variable)
    elif isinstance(node, ObjectValueNode) and is_input_object_type(type_):
        for field_node in node.fields:
            field = type_.fields.get(field_node.name.value)
            if field is not None:
                inner = Place(f"{place.path}.{field_node.name.value}", field.type, _limit(field))
                _literal(field_node.value, inner, report, variable)
    elif isinstance(node, StringValueNode):
        found = problem(node.value, place.limit)
        if found is not None:
            report(place.path, found)


def _value(value: Any, place: Place, report: Report) -> None:
    """Check the strings of a variable's value (JSON) used at `place`."""
    type_: Any = get_nullable_type(place.type)
    if is_list_type(type_):
        items = value if isinstance(value, list) else (value,)
        for index, item in enumerate(items):
            path = f"{place.path}[{index}]" if isinstance(value, list) else place.path
            _value(item, Place(path, type_.of_type, place.limit), report)
    elif isinstance(value, dict) and is_input_object_type(type_):
        for name, field in type_.fields.items():
            if name in value:
                _value(value[name], Place(f"{place.path}.{name}", field.type, _limit(field)), report)
    elif isinstance(value, str):
        found = problem(value, place.limit)
        if found is not None:
            report(place.path, found)


def invalid(problems: Mapping[str, str]) -> Invalid:
    return Invalid(
        "input is invalid: " + "; ".join(f"{path}: {what}" for path, what in problems.items()),
        fields=problems,
    )


def _error(path: str, what: str, node: ArgumentNode | VariableDefinitionNode) -> GraphQLError:
    return GraphQLError(
        f"{path}: {what}", node, extensions={"code": "BAD_USER_INPUT", "fields": {path: what}}
    )


class StringLiterals(ValidationRule):
    """Validation: the string literals of every argument, nested input fields included,
    and of variables' default values."""

    def enter_argument(self, node: ArgumentNode, *_args: Any) -> None:
        definition = self.context.get_argument()
        if definition is None:
            return
        place = Place(node.name.value, definition.type, _limit(definition))
        _literal(
            node.value, place,
            lambda path, what: self.report_error(_error(path, what, node)),
            lambda name, place: None,
        )

    def enter_variable_definition(self, node: VariableDefinitionNode, *_args: Any) -> None:
        input_type = self.context.get_input_type()
        if node.default_value is None or input_type is None:
            return
        place = Place(f"${node.variable.name.value}", input_type, None)
        _literal(
            node.default_value, place,
            lambda path, what: self.report_error(_error(path, what, node)),
            lambda name, place: None,
        )


class IntegerLiterals(ValuesOfCorrectTypeRule):
    """graphql-core's check of literal values, except that a whole number too long for Int
    or BigInt is "out of range" (and not a Python error that quotes the literal)."""

    def is_valid_value_node(self, node: ValueNode, input_type: GraphQLInputType | None) -> Any:
        too_long = list(_long_integers(node, input_type)) if input_type else []
        for literal, scalar in too_long:
            self.report_error(GraphQLError(
                f"{scalar} out of range: a literal of {len(literal.value.lstrip('-'))} digits",
                literal, extensions={"code": "BAD_USER_INPUT"},
            ))
        return SKIP if too_long else super().is_valid_value_node(node, input_type)


def _long_integers(node: ValueNode, type_: Any) -> Iterator[tuple[IntValueNode, str]]:
    type_ = get_nullable_type(type_)
    if isinstance(node, ListValueNode) and is_list_type(type_):
        for item in node.values:
            yield from _long_integers(item, type_.of_type)
    elif isinstance(node, ObjectValueNode) and is_input_object_type(type_):
        for field_node in node.fields:
            field = type_.fields.get(field_node.name.value)
            if field is not None:
                yield from _long_integers(field_node.value, field.type)
    elif isinstance(node, IntValueNode):
        scalar = get_named_type(type_).name
        if scalar in INTEGER_SCALARS and len(node.value.lstrip("-")) > MAX_INTEGER_DIGITS:
            yield node, scalar


def input_rules(rules: tuple[type[ASTValidationRule], ...]) -> tuple[type[ASTValidationRule], ...]:
    """`rules` with StringLiterals, and IntegerLiterals in place of graphql-core's rule.
    The same rule tuple every time, so the validation cache keeps hitting."""
    return (
        *(IntegerLiterals if r is ValuesOfCorrectTypeRule else r for r in rules), StringLiterals,
    )


class _Usages(Visitor):
    def __init__(self, type_info: TypeInfo) -> None:
        super().__init__()
        self.type_info = type_info
        self.found: list[tuple[str, Place]] = []

    def enter_argument(self, node: ArgumentNode, *_args: Any) -> None:
        definition = self.type_info.get_argument()
        if definition is not None:
            place = Place(node.name.value, definition.type, _limit(definition))
            _literal(node.value, place, lambda path, what: None, self._use)

    def _use(self, name: str, place: Place) -> None:
        self.found.append((name, place))


Usages = tuple[tuple[str, Place], ...]


def usages(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None) -> Usages:
    """Where the chosen operation (and any fragment) uses each variable. A visit of the
    document as written: each fragment is visited once, however often it is spread."""
    chosen = [
        d for d in document.definitions
        if isinstance(d, FragmentDefinitionNode) or (
            isinstance(d, OperationDefinitionNode)
            and (operation_name is None or (d.name is not None and d.name.value == operation_name))
        )
    ]
    type_info = TypeInfo(schema)
    collector = _Usages(type_info)
    visit(DocumentNode(definitions=tuple(chosen)), TypeInfoVisitor(type_info, collector))
    return tuple(collector.found)


def variable_problems(found: Usages, variables: Mapping[str, Any]) -> dict[str, str]:
    """The problems of the strings in `variables`, by input path ("input.handle")."""
    problems: dict[str, str] = {}
    for name, place in found:
        if name in variables:
            _value(variables[name], place, problems.setdefault)
    return problems


class VariableUsages:
    """`usages` of one schema's documents, kept per (document text, operation name)."""

    def __init__(self, maxsize: int = 1000) -> None:
        self._found: OrderedDict[tuple[str, str | None], Usages] = OrderedDict()
        self._maxsize = maxsize

    def of(
        self, schema: GraphQLSchema, query: str, document: DocumentNode, operation_name: str | None
    ) -> Usages:
        key = (query, operation_name)
        found = self._found.get(key)
        if found is None:
            found = usages(schema, document, operation_name)
            if len(self._found) >= self._maxsize:
                self._found.popitem(last=False)
            self._found[key] = found
        return found


def check_variables(known: VariableUsages, context: ExecutionContext) -> None:
    """Before execution (queries, mutations and subscriptions alike): the strings of the
    variables, Invalid with each problem."""
    if context.variables and context.query and context.graphql_document:
        found = known.of(
            context.schema._schema, context.query, context.graphql_document, context.operation_name,
        )
        problems = variable_problems(found, context.variables)
        if problems:
            raise invalid(problems)


__all__ = [
    "VariableUsages", "check_variables", "column", "input_rules", "invalid", "usages",
    "variable_problems",
]
