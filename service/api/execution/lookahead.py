"""Look-ahead for pages (#21): a connection reads its selection set once, loads everything its
nodes' nested fields will ask for in a fixed number of set-based statements (through the
request's DataLoaders, so they are primed), and the nested fields then answer at once.

A field written with `ready` returns its value synchronously when the loader already holds it,
and an awaitable (the loader's) only when it does not: graphql-core awaits what is awaitable
whatever the annotation says. Registered with `lean`, such a field is a plain function that
graphql-core calls without strawberry's per-call Info and argument conversion, and that
compiled plans (api/compiled.py) read directly: a page then runs at about the cost of
graphql-core over plain data, or below it (bench/browse_groups.py)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar, cast

import strawberry
from graphql.execution.values import VariableValues, get_argument_values
from strawberry import relay
from strawberry.dataloader import DataLoader
from strawberry.relay.utils import to_base64
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.utils.str_converters import to_camel_case, to_snake_case

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    InlineFragmentNode,
    SelectionSetNode,
    get_named_type,
    is_scalar_type,
)
from service.api.execution.compiled import READER

DEFINITION_BACKREF = GraphQLCoreConverter.DEFINITION_BACKREF
K = TypeVar("K", bound=Hashable)
R = TypeVar("R")
T = TypeVar("T")
V = TypeVar("V")


async def load_ahead(loader: DataLoader[K, V], keys: Iterable[K]) -> list[V]:
    """The loader's values for `keys`, what it does not hold yet fetched in one call of its
    batch function and primed: `load_many` without a future, a batch entry and a callback per
    key (a page's look-ahead asks for hundreds at once)."""
    keys = list(keys)
    cache = loader.cache_map
    missing = [k for k in dict.fromkeys(keys) if cache.get(k) is None]
    if missing:
        values = await loader.load_fn(missing)
        # A key the batch function failed for is left to load_many below, which raises it.
        loader.prime_many({k: v for k, v in zip(missing, values, strict=True)
                           if not isinstance(v, BaseException)})
    futures = [cache.get(k) for k in keys]
    if any(f is None or not f.done() for f in futures):  # a load of them is under way
        return await loader.load_many(keys)
    return [f.result() for f in futures if f is not None]


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
    memo: dict[tuple[Any, Hashable], tuple[Any, Any]] = loader.__dict__.setdefault(
        "_converted", {})
    kept = memo.get((convert, key))
    # Only while the loader holds the same value: a write in the request clears it.
    if kept is not None and kept[0] is value:
        return cast(T, kept[1])
    converted = convert(value)
    memo[convert, key] = (value, converted)
    return converted


def existing(convert: Callable[[Any], T]) -> Callable[[Any | None], T]:
    """`convert` of a row that must exist (a group's account, a member's person: rows that
    cannot go while something refers to them); one function to pass to `shared` for good."""

    def converted(row: Any | None) -> T:
        assert row is not None
        return convert(row)

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
    alike), fragments included: {"account", "account.name", "members.nodes.person", …}.
    Read from the document itself: strawberry's selected_fields converts every argument on
    the way, which cost more than the rest of the look-ahead."""
    raw = info._raw_info
    paths: set[str] = set()
    for selection in _node_selection_sets(raw.field_nodes, raw.fragments):
        _collect(selection, "", paths, raw.fragments)
    # A nested connection's edges are its nodes here too.
    return frozenset(p.replace("edges.node", "nodes") for p in paths)


def _collect(selection_set: SelectionSetNode | None, prefix: str, paths: set[str],
             fragments: dict[str, Any]) -> None:
    for field in _ast_fields(selection_set, fragments):
        path = prefix + field.name.value
        paths.add(path)
        _collect(field.selection_set, path + ".", paths, fragments)


def node_arguments(info: strawberry.Info, field_name: str) -> list[dict[str, Any]]:
    """The arguments of each selection of the nodes' field `field_name` (with aliases, one
    field may be selected several times), coerced as execution will coerce them, with Python
    names; a selection whose arguments do not coerce is left to execution to refuse."""
    raw = info._raw_info
    connection = get_named_type(raw.return_type)
    nodes_field = connection.fields.get("nodes") if isinstance(connection, GraphQLObjectType) \
        else None
    node_type = get_named_type(nodes_field.type) if nodes_field is not None else None
    if not isinstance(node_type, GraphQLObjectType) or field_name not in node_type.fields:
        return []
    definition = node_type.fields[field_name]
    # Strawberry hands resolvers the coerced values alone; graphql-core's own are wrapped.
    given: Any = raw.variable_values
    variables = VariableValues(sources={}, coerced=getattr(given, "coerced", given) or {})
    found = []
    for selection in _node_selection_sets(raw.field_nodes, raw.fragments):
        for field_node in _ast_fields(selection, raw.fragments):
            if field_node.name.value != field_name:
                continue
            try:
                values = get_argument_values(definition, field_node, variables)
            except GraphQLError:
                continue
            found.append({to_snake_case(k): v for k, v in values.items()})
    return found


def selects(info: strawberry.Info, field_name: str, inner: str) -> bool:
    """Whether any field named `field_name` anywhere in the operation or its fragments selects
    `inner` (directly or through fragments): read from the text of the document, so a `yes`
    may be too cautious but a `no` is sure. Each selection set is visited once, without
    recursion (a document nests as deep as its size allows)."""
    raw = info._raw_info
    fragments = raw.fragments
    stack: list[SelectionSetNode | None] = [raw.operation.selection_set]
    stack += [fragment.selection_set for fragment in fragments.values()]
    while stack:
        selection_set = stack.pop()
        for selection in selection_set.selections if selection_set is not None else ():
            if isinstance(selection, FieldNode):
                if selection.name.value == field_name and any(
                        f.name.value == inner
                        for f in _ast_fields(selection.selection_set, fragments)):
                    return True
                stack.append(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                stack.append(selection.selection_set)
    return False


def _node_selection_sets(field_nodes: list[FieldNode], fragments: dict[str, Any]
                         ) -> Iterable[SelectionSetNode | None]:
    """What a connection's nodes select: under `nodes`, and under `edges { node }`."""
    for connection in field_nodes:
        for field in _ast_fields(connection.selection_set, fragments):
            if field.name.value == "nodes":
                yield field.selection_set
            elif field.name.value == "edges":
                for edge in _ast_fields(field.selection_set, fragments):
                    if edge.name.value == "node":
                        yield edge.selection_set


def _ast_fields(selection_set: SelectionSetNode | None, fragments: dict[str, Any],
                seen: frozenset[str] = frozenset()) -> Iterable[FieldNode]:
    for selection in selection_set.selections if selection_set is not None else ():
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _ast_fields(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                yield from _ast_fields(fragment.selection_set, fragments,
                                       seen | {selection.name.value})


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


def row_field(type_name: str, name: str, *, convert: Callable[[Any], Any] | None = None,
              **options: Any) -> Any:
    """A field of `type_name` that reads `row.<name>` from its object (through `convert`):
    objects made of thousands of rows per page are built from their row alone instead of
    copying every column into a field first."""
    if convert is None:
        def read(source: Any, context: Any = None) -> Any:
            return getattr(source.row, name)

        # Compiled execution reads it with one attrgetter, in C.
        read.attribute = f"row.{name}"  # type: ignore[attr-defined]
    else:
        def read(source: Any, context: Any = None) -> Any:
            return convert(getattr(source.row, name))

    lean(type_name, to_camel_case(name))(read)
    return strawberry.field(resolver=lambda root: read(root), **options)


# The same for a field of every type made from one generic class (Connection[T].edges).
_LEAN_GENERIC: dict[tuple[type, str], Callable[..., Any]] = {}


def lean_generic(generic: type, field_name: str) -> Callable[[Callable[..., T]],
                                                              Callable[..., T]]:
    def register(function: Callable[..., T]) -> Callable[..., T]:
        _LEAN_GENERIC[(generic, field_name)] = function
        return function

    return register


# The class behind each object type, for lean functions of fields that point back up the
# module order (a Person's memberships are BuyingGroupMembers; see nodes.graph_type).
_CLASSES: dict[str, type] = {}


def object_class(name: str) -> Any:
    return _CLASSES[name]


def install_lean_resolvers(schema: Any) -> None:
    """Puts the lean functions in place on a built graphql-core schema, answers every node's
    `id` and every field without a resolver the same way, and tells compiled execution how
    each of those fields reads (compiled.READER)."""
    for type_ in schema.type_map.values():
        origin = getattr((type_.extensions or {}).get(DEFINITION_BACKREF), "origin", None)
        if isinstance(type_, GraphQLObjectType) and isinstance(origin, type):
            _CLASSES.setdefault(type_.name, origin)
    for (type_name, field_name), function in _LEAN.items():
        _lean_field(schema.type_map[type_name].fields[field_name], function)
    for type_ in schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType):
            continue
        for field in type_.fields.values():
            if getattr(field.resolve, "_is_default", False):  # strawberry's attribute read
                _attribute(field)
        if any(i.name == "Node" for i in type_.interfaces):
            _global_id(type_)
        definition = (type_.extensions or {}).get(DEFINITION_BACKREF)
        generic = getattr(getattr(definition, "concrete_of", None), "origin", None)
        for (origin, field_name), function in _LEAN_GENERIC.items():
            if generic is origin:
                _lean_field(type_.fields[field_name], function)


def _read_by(field: Any, resolve: Callable[..., Any], *reader: Any) -> None:
    field.resolve = resolve
    field.extensions = {**(field.extensions or {}), READER: reader}


def _lean_field(field: Any, function: Callable[..., Any]) -> None:
    for name, argument in field.args.items():
        assert is_scalar_type(get_named_type(argument.type)), f"{name}: scalars only"
    names = {name: to_snake_case(name) for name in field.args}
    if not names:
        def resolve(source: Any, info: Any) -> Any:
            return function(source, info.context)

        attribute = getattr(function, "attribute", None)
        if attribute is not None:  # a row_field
            _read_by(field, resolve, "attribute", attribute)
        else:
            _read_by(field, resolve, "lean", function, names)
        return

    def resolve_with(source: Any, info: Any, **given: Any) -> Any:
        return function(source, info.context, **{names[k]: v for k, v in given.items()})

    _read_by(field, resolve_with, "lean", function, names)


def _attribute(field: Any) -> None:
    """A field without resolver, extensions or exception handlers: its attribute, read as
    strawberry's own resolver reads it but in one call instead of three (a page reads
    thousands)."""
    definition = field.extensions[DEFINITION_BACKREF]
    assert definition.base_resolver is None and not definition.extensions
    assert definition.default_resolver is getattr, "a custom default resolver is not supported"
    name = definition.python_name

    def resolve(source: Any, info: Any) -> Any:
        return getattr(source, name)

    _read_by(field, resolve, "attribute", name)


def _global_id(type_: GraphQLObjectType) -> None:
    """A node's global id straight from its id attribute, as relay.Node's resolver makes it
    (without its Info object and GlobalID per node)."""
    origin = type_.extensions[DEFINITION_BACKREF].origin
    # Only the default resolve_id reads the attribute; a type with its own keeps strawberry's.
    assert origin.resolve_id.__func__ is vars(relay.Node)["resolve_id"].__func__, type_.name
    attribute, name = origin.resolve_id_attr(), type_.name

    def read(source: Any) -> str:
        return to_base64(name, getattr(source, attribute))

    def resolve(source: Any, info: Any) -> str:
        return read(source)

    _read_by(type_.fields["id"], resolve, "id", read)
