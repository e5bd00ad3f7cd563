"""Compiled selections (#21): an object's selection executed by a plan made once per request,
instead of graphql-core's per-field machinery (a resolve info, a path, an awaitable check and
a completion call for every field of every object: the "floor" of interpretive execution).
graphql-jit does the same for graphql-js.

A plan is made for an object type and the fields selected on it, from graphql-core's own
field collection (fragments, aliases, @skip and @include as it reads them), and only when
every field in it reads synchronously: an attribute, a lean function (lookahead.lean, with its
arguments coerced once by graphql-core's own coercion), or a node's id. Each value is completed
as graphql-core completes it: non-null checks, lists, the scalars' and enums' own output
coercion, is_type_of for objects.

A plan never answers differently from graphql-core: whenever anything is not plain (an error
raised, an awaitable returned, a null where the type forbids it, a value a type refuses) it
gives up, and graphql-core executes that object itself, errors and all. The readers have no
side effects (they answer from what the request loaded), so reading twice is harmless."""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any, cast

from graphql.execution.values import get_argument_values
from graphql.pyutils import Undefined
from strawberry.execution import optimized_is_awaitable

from graphql import (
    GraphQLBoolean,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLString,
    is_leaf_type,
)

# How a field reads its value, set on the graphql-core field by lookahead's installation.
READER = "bg-reader"

Plan = Callable[[Any], dict[str, Any]]
Complete = Callable[[Any], Any]


class GiveUp(Exception):
    """The plan cannot answer for this object as graphql-core would: let graphql-core."""


_PLAIN = frozenset({str, int, float, bool, type(None), list, tuple, dict})
_UNCHANGED: dict[Any, type] = {GraphQLString: str, GraphQLID: str, GraphQLBoolean: bool,
                               GraphQLInt: int}
_INT_LIMIT = 2**31


class Plans:
    """The plans of one execution, by (object type, field group) as graphql-core groups them;
    None where a selection cannot be planned."""

    def __init__(self, executor: Any) -> None:
        self.executor = executor
        self.context = executor.context_value
        self.plans: dict[tuple[GraphQLObjectType, int], tuple[Any, Plan | None]] = {}

    def plan(self, type_: GraphQLObjectType, field_group: Any) -> Plan | None:
        key = (type_, id(field_group))
        known = self.plans.get(key)
        if known is not None:
            return known[1]
        try:
            made = self._make(type_, field_group)
        except Exception:  # e.g. an argument that does not coerce: graphql-core will say so
            made = None
        # The field group is kept with its plan so that its id is not reused meanwhile.
        self.plans[key] = (field_group, made)
        return made

    def _make(self, type_: GraphQLObjectType, field_group: Any) -> Plan | None:
        executor = self.executor
        grouped, deferred, forbidden = executor.collect_subfields(type_, field_group)
        if deferred or forbidden:
            return None
        steps: list[tuple[str, Callable[[Any], Any], Complete]] = []
        for name, group in grouped.items():
            first = group[0]
            field_name = first.node.name.value
            if field_name == "__typename":
                steps.append((name, _constant(type_.name), _same))
                continue
            definition = type_.fields.get(field_name)
            reader = (definition.extensions or {}).get(READER) if definition else None
            if reader is None:
                return None
            read = self._reader(reader, definition, first)
            complete = self._completion(definition.type, group)
            if complete is None:
                return None
            steps.append((name, read, complete))
        # Strawberry's is_type_of is an isinstance check that does not look at the info.
        is_type_of = cast(Callable[[Any, Any], bool] | None, type_.is_type_of)

        def run(source: Any) -> dict[str, Any]:
            if is_type_of is not None and not is_type_of(source, None):
                raise GiveUp
            result = {}
            for name, read, complete in steps:
                try:
                    value = read(source)
                except Exception as error:
                    raise GiveUp from error
                if type(value) not in _PLAIN and optimized_is_awaitable(value):
                    close = getattr(value, "close", None)
                    if close is not None:
                        close()  # a coroutine not started: nothing ran
                    raise GiveUp
                result[name] = complete(value)
            return result

        return run

    def _reader(self, reader: tuple[Any, ...], definition: Any, first: Any
                ) -> Callable[[Any], Any]:
        kind = reader[0]
        if kind == "attribute":  # a name or a dotted path ("row.name")
            return attrgetter(reader[1])
        if kind == "id":
            return reader[1]  # type: ignore[no-any-return]
        function, names = reader[1], reader[2]
        context = self.context
        if not names:
            return lambda source: function(source, context)
        given = get_argument_values(definition, first.node, self.executor.variable_values,
                                    first.fragment_variable_values)
        arguments = {names[k]: v for k, v in given.items()}
        return lambda source: function(source, context, **arguments)

    def _completion(self, type_: Any, group: Any) -> Complete | None:
        if isinstance(type_, GraphQLNonNull):
            inner = self._completion(type_.of_type, group)
            if inner is None:
                return None

            def non_null(value: Any) -> Any:
                completed = inner(value)
                if completed is None:
                    raise GiveUp
                return completed

            return non_null
        if isinstance(type_, GraphQLList):
            item = self._completion(type_.of_type, group)
            if item is None:
                return None

            def listed(value: Any) -> Any:
                if value is None:
                    return None
                if not isinstance(value, list | tuple):
                    raise GiveUp
                return [item(v) for v in value]

            return listed
        if is_leaf_type(type_):
            coerce = type_.coerce_output_value
            # What graphql-core's own coercion returns unchanged: a str as a String or an ID,
            # a bool as a Boolean, an int within 32 bits as an Int (scalars.py); most of a
            # page's leaves, answered without a call.
            same = _UNCHANGED.get(type_)

            def leaf(value: Any) -> Any:
                kind = type(value)
                if kind is same and (kind is not int or -_INT_LIMIT <= value < _INT_LIMIT):
                    return value
                if value is None:
                    return None
                if isinstance(value, Exception):
                    raise GiveUp
                try:
                    coerced = coerce(value)
                except Exception as error:
                    raise GiveUp from error
                if coerced is None or coerced is Undefined:
                    raise GiveUp
                return coerced

            return leaf
        if isinstance(type_, GraphQLObjectType):
            run = self.plan(type_, group)
            if run is None:
                return None

            def obj(value: Any) -> Any:
                if value is None:
                    return None
                if isinstance(value, Exception):
                    raise GiveUp
                return run(value)

            return obj
        return None  # an interface or a union: graphql-core resolves the type


def _constant(value: Any) -> Callable[[Any], Any]:
    return lambda source: value


def _same(value: Any) -> Any:
    return value

