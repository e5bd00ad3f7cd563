"""Look-ahead for pages (#21): a connection reads its selection set once, loads everything its
nodes' nested fields will ask for in a fixed number of set-based statements (through the
request's DataLoaders, so they are primed), and the nested resolvers then answer at once.

A resolver written with `ready` returns its value synchronously when the loader already holds
it, and an awaitable (the loader's) only when it does not: graphql-core awaits what is
awaitable whatever the annotation says. For a 50-group page that is a few thousand coroutines
and futures fewer; strawberry over plain values executes at the floor of graphql-core itself
(bench/browse_groups.py)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar, cast

import strawberry
from strawberry import relay
from strawberry.dataloader import DataLoader
from strawberry.relay.utils import to_base64
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.nodes import SelectedField, Selection
from strawberry.utils.str_converters import to_snake_case

from graphql import GraphQLObjectType, get_named_type, is_scalar_type

DEFINITION_BACKREF = GraphQLCoreConverter.DEFINITION_BACKREF
R = TypeVar("R")
T = TypeVar("T")


def held(loader: DataLoader[Any, Any], key: Hashable) -> tuple[bool, Any]:
    """(True, value) when the loader holds a loaded value for the key."""
    future = loader.cache_map.get(key)
    if future is None or not future.done() or future.cancelled() or \
            future.exception() is not None:
        return False, None
    return True, future.result()


def ready(loader: DataLoader[Any, R], key: Hashable, convert: Callable[[R], T]) -> T:
    """`convert` of the loader's value for `key`: at once when it is loaded already, else
    (typed as the value, as strawberry needs) an awaitable of it."""
    found, value = held(loader, key)
    if found:
        return convert(value)

    async def later() -> T:
        return convert(await loader.load(key))

    return cast(T, later())


def shared(loader: DataLoader[Any, R], key: Hashable, convert: Callable[[R], T]) -> T:
    """`ready` for an object that appears many times in one answer (a role in every group, a
    person in both a group's roles and its members): converted once per request. `convert`
    must be one function for all calls (not a new closure), as it is part of the memo's key."""
    found, value = held(loader, key)
    if not found:
        return ready(loader, key, convert)
    memo: dict[tuple[Any, Hashable], Any] = loader.__dict__.setdefault("_converted", {})
    try:
        return cast(T, memo[convert, key])
    except KeyError:
        converted = memo[convert, key] = convert(value)
        return converted


def ready_all(needs: Iterable[tuple[DataLoader[Any, Any], Hashable]],
              convert: Callable[..., T]) -> T:
    """`convert(*values)` of several loaded values; at once when all are loaded."""
    needs = list(needs)
    values = [held(loader, key) for loader, key in needs]
    if all(found for found, _ in values):
        return convert(*(value for _, value in values))

    async def later() -> T:
        return convert(*[await loader.load(key) for loader, key in needs])

    return cast(T, later())


def node_paths(info: strawberry.Info) -> frozenset[str]:
    """The dotted paths a connection's nodes select (`edges { node { … } }` and `nodes { … }`
    alike), fragments included: {"account", "account.name", "members.nodes.person", …}."""
    paths: set[str] = set()
    for connection in info.selected_fields:
        for field in _fields(connection.selections):
            if field.name == "nodes":
                _collect(field.selections, "", paths)
            elif field.name == "edges":
                for edge in _fields(field.selections):
                    if edge.name == "node":
                        _collect(edge.selections, "", paths)
    # A nested connection's edges are its nodes here too.
    return frozenset(p.replace("edges.node", "nodes") for p in paths)


def _fields(selections: list[Selection]) -> Iterable[SelectedField]:
    for selection in selections:
        if isinstance(selection, SelectedField):
            yield selection
        else:  # a fragment: its fields count as the enclosing selection's
            yield from _fields(selection.selections)


def _collect(selections: list[Selection], prefix: str, paths: set[str]) -> None:
    for field in _fields(selections):
        path = prefix + field.name
        paths.add(path)
        _collect(field.selections, path + ".", paths)


# Fields answered by a plain function of (source, context, **arguments) on the hot path:
# graphql-core calls it directly, without strawberry's per-call argument conversion and Info
# object, which cost more than the rest of such a field. The strawberry method of the same
# field calls the same function, so both paths agree. Arguments arrive as graphql-core coerced
# them, under their Python names: scalars only (a global id as its text), no input objects.
_LEAN: dict[tuple[str, str], Callable[..., Any]] = {}


def lean(type_name: str, field_name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    def register(function: Callable[..., T]) -> Callable[..., T]:
        _LEAN[(type_name, field_name)] = function
        return function

    return register


# The same for a field of every type made from one generic class (Connection[T].edges).
_LEAN_GENERIC: dict[tuple[type, str], Callable[..., Any]] = {}


def lean_generic(generic: type, field_name: str) -> Callable[[Callable[..., T]],
                                                              Callable[..., T]]:
    def register(function: Callable[..., T]) -> Callable[..., T]:
        _LEAN_GENERIC[(generic, field_name)] = function
        return function

    return register


def install_lean_resolvers(schema: Any) -> None:
    """Puts the lean functions in place on a built graphql-core schema, and answers every
    node's `id` the same way."""
    for (type_name, field_name), function in _LEAN.items():
        field = schema.type_map[type_name].fields[field_name]
        field.resolve = _lean_resolver(function, field.args)
    for type_ in schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType):
            continue
        for field in type_.fields.values():
            if getattr(field.resolve, "_is_default", False):  # strawberry's attribute read
                field.resolve = _attribute(field.extensions[DEFINITION_BACKREF])
        if any(i.name == "Node" for i in type_.interfaces):
            type_.fields["id"].resolve = _global_id(type_)
        definition = (type_.extensions or {}).get(DEFINITION_BACKREF)
        generic = getattr(getattr(definition, "concrete_of", None), "origin", None)
        for (origin, field_name), function in _LEAN_GENERIC.items():
            if generic is origin:
                field = type_.fields[field_name]
                field.resolve = _lean_resolver(function, field.args)


def _lean_resolver(function: Callable[..., Any], arguments: dict[str, Any]) -> Any:
    for name, argument in arguments.items():
        assert is_scalar_type(get_named_type(argument.type)), f"{name}: scalars only"
    if not arguments:
        def resolve(source: Any, info: Any) -> Any:
            return function(source, info.context)

        return resolve
    names = {name: to_snake_case(name) for name in arguments}

    def resolve_with(source: Any, info: Any, **given: Any) -> Any:
        return function(source, info.context, **{names[k]: v for k, v in given.items()})

    return resolve_with


def _attribute(field: Any) -> Callable[[Any, Any], Any]:
    """A field without resolver, extensions or exception handlers: its attribute, read as
    strawberry's own resolver reads it but in one call instead of three (a page reads
    thousands)."""
    assert field.base_resolver is None and not field.extensions
    assert field.default_resolver is getattr, "a custom default resolver is not supported"
    name = field.python_name

    def resolve(source: Any, info: Any) -> Any:
        return getattr(source, name)

    return resolve


def _global_id(type_: GraphQLObjectType) -> Callable[[Any, Any], str]:
    """A node's global id straight from its id attribute, as relay.Node's resolver makes it
    (without its Info object and GlobalID per node)."""
    origin = type_.extensions[DEFINITION_BACKREF].origin
    # Only the default resolve_id reads the attribute; a type with its own keeps strawberry's.
    assert origin.resolve_id.__func__ is vars(relay.Node)["resolve_id"].__func__, type_.name
    attribute, name = origin.resolve_id_attr(), type_.name

    def resolve(source: Any, info: Any) -> str:
        return to_base64(name, getattr(source, attribute))

    return resolve
