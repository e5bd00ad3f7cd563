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
from strawberry.dataloader import DataLoader
from strawberry.types.nodes import SelectedField, Selection

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


# Fields answered by a plain function of (source, context) on the hot path: graphql-core calls
# it directly, without strawberry's per-call argument conversion and Info object, which cost
# more than the rest of such a field. Only fields without arguments; the strawberry method of
# the same field calls the same function, so both paths agree.
_LEAN: dict[tuple[str, str], Callable[[Any, Any], Any]] = {}


def lean(type_name: str, field_name: str) -> Callable[[Callable[[Any, Any], T]],
                                                     Callable[[Any, Any], T]]:
    def register(function: Callable[[Any, Any], T]) -> Callable[[Any, Any], T]:
        _LEAN[(type_name, field_name)] = function
        return function

    return register


def install_lean_resolvers(schema: Any) -> None:
    """Puts the lean functions in place on a built graphql-core schema."""
    for (type_name, field_name), function in _LEAN.items():
        field = schema.type_map[type_name].fields[field_name]
        assert not field.args, f"{type_name}.{field_name} takes arguments"

        def resolve(source: Any, info: Any, _function: Any = function) -> Any:
            return _function(source, info.context)

        field.resolve = resolve
