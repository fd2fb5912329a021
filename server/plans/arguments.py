"""A planned mutation's arguments, converted as Strawberry converts them
(`strawberry.types.arguments.convert_arguments`: input objects become their classes, with
None for a nullable field left out), by converters built once per plan from the argument
types rather than worked out from the types again at every request. A type that converts
otherwise (Maybe, GlobalID, an input that builds itself, a recursive input) is not planned.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import strawberry
from strawberry.relay.types import GlobalID
from strawberry.scalars import is_scalar
from strawberry.types.arguments import StrawberryArgument
from strawberry.types.base import (
    StrawberryList,
    StrawberryMaybe,
    StrawberryOptional,
    has_object_definition,
)
from strawberry.types.enum import StrawberryEnumDefinition, has_enum_definition
from strawberry.types.lazy_type import LazyType
from strawberry.types.unset import UNSET

from server.plans.walk import NotPlannable

Convert = Callable[[Any], Any]
Arguments = Callable[[Mapping[str, Any]], dict[str, Any]]


def compile_arguments(arguments: list[StrawberryArgument], schema: strawberry.Schema) -> Arguments:
    """`convert_arguments` of these arguments; NotPlannable for a type it does not know."""
    compiler = _Compiler(schema)
    names = schema.config.name_converter
    converters = [
        (names.from_argument(argument), argument.python_name, compiler.converter(argument.type))
        for argument in arguments
    ]

    def convert(values: Mapping[str, Any]) -> dict[str, Any]:
        return {python: to(values[name]) for name, python, to in converters if name in values}

    return convert


def _same(value: Any) -> Any:
    return value


class _Compiler:
    def __init__(self, schema: strawberry.Schema) -> None:
        self.registry = schema.schema_converter.scalar_registry
        self.names = schema.config.name_converter
        self.building: set[type] = set()

    def converter(self, type_: Any) -> Convert:
        if isinstance(type_, StrawberryMaybe) or type_ is GlobalID:
            raise NotPlannable(f"argument type {type_}")
        if isinstance(type_, LazyType):
            return self.converter(type_.resolve_type())
        if isinstance(type_, StrawberryOptional):
            return self.converter(type_.of_type)  # every converter passes None and UNSET on
        if isinstance(type_, StrawberryList):
            return _list(self.converter(type_.of_type))
        if (is_scalar(type_, self.registry) or isinstance(type_, StrawberryEnumDefinition)
                or has_enum_definition(type_)):
            return _same  # graphql-core has coerced it already
        if has_object_definition(type_):
            return self._input(type_)
        raise NotPlannable(f"argument type {type_}")

    def _input(self, cls: type) -> Convert:
        definition = cls.__strawberry_definition__  # type: ignore[attr-defined]
        if definition.from_input is not None or not definition.is_input or cls in self.building:
            raise NotPlannable(f"input {cls.__name__}")
        self.building.add(cls)
        defaults = {
            field.python_name: None for field in definition.fields
            if field.default_value is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        }
        fields = [
            (self.names.from_field(field), field.python_name,
             self.converter(field.resolve_type(type_definition=definition)))
            for field in definition.fields
        ]
        self.building.discard(cls)

        def build(value: Any) -> Any:
            if value is None or value is UNSET:
                return value
            kwargs = dict(defaults)
            for name, python, to in fields:
                if name in value:
                    kwargs[python] = to(value[name])
            return cls(**kwargs)

        return build


def _list(item: Convert) -> Convert:
    def convert(value: Any) -> Any:
        if value is None or value is UNSET:
            return value
        return [item(x) for x in value]  # a copy: graphql-core shares defaults across requests

    return convert


__all__ = ["Arguments", "compile_arguments"]
