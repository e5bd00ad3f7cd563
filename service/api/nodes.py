"""Helpers for Relay nodes: global ids decoded to our UUIDs, and batched node resolution."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar
from uuid import UUID

from strawberry import Info, relay
from strawberry.dataloader import DataLoader

from service.api.errors import ClientError, ErrorCode

V = TypeVar("V")


def parse_uuid(value: str) -> UUID | None:
    try:
        return UUID(value)
    except ValueError:
        return None


async def load_nodes(loader: DataLoader[UUID, V | None], node_ids: Iterable[str]) -> list[V | None]:
    """Objects for raw node ids; a malformed id behaves like one that does not exist."""
    ids = [parse_uuid(n) for n in node_ids]
    valid = [i for i in ids if i is not None]
    found = dict(zip(valid, await loader.load_many(valid), strict=True))
    return [found.get(i) if i is not None else None for i in ids]


def uuid_of(value: Any, type_name: str) -> UUID | None:
    """The UUID inside a global id of this type; None for anything else (no error: for ids
    found in values, links and filters that may hold other things)."""
    if not isinstance(value, str):
        return None
    try:
        gid = relay.GlobalID.from_id(value)
    except ValueError:
        return None
    return parse_uuid(gid.node_id) if gid.type_name == type_name else None


def decode_id(global_id: relay.GlobalID | str, type_name: str, path: list[str]) -> UUID:
    """The UUID inside a global id of the expected type; a clear error otherwise."""
    try:
        gid = (
            global_id
            if isinstance(global_id, relay.GlobalID)
            else relay.GlobalID.from_id(global_id)
        )
    except ValueError as exc:
        raise ClientError(f"`{'.'.join(path)}` is not a valid id", ErrorCode.INVALID_ID,
                          field=path) from exc
    uuid = parse_uuid(gid.node_id)
    if gid.type_name != type_name or uuid is None:
        article = "an" if type_name[0] in "AEIOU" else "a"
        raise ClientError(f"`{'.'.join(path)}` is not the id of {article} {type_name}",
                          ErrorCode.INVALID_ID, field=path)
    return uuid


def subject_ids(value: Any, limit: int = 20) -> list[str]:
    """The global ids among a mutation's arguments (raw values, depth first), for the audit
    log: what a change concerned, without any value a person could be found by."""
    found: list[str] = []
    stack = [value]
    while stack and len(found) < limit:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list | tuple):
            stack.extend(reversed(item))
        elif isinstance(item, str) and len(item) <= 200:
            try:
                gid = relay.GlobalID.from_id(item)
            except ValueError:
                continue
            if gid.type_name.isidentifier() and parse_uuid(gid.node_id) is not None \
                    and item not in found:
                found.append(item)
    return found


def convert_all(items: list[Any | None], convert: Any) -> list[Any | None]:
    return [convert(i) if i is not None else None for i in items]


def graph_type(info: Info, name: str) -> Any:
    """The class behind the object type `name` of the schema being executed.

    The types form a graph (Account.buyingGroups returns BuyingGroup, whose account returns
    Account) while modules may only import downwards (`make lint` checks it). A field that
    points back up the module order builds its objects through the schema instead of an
    import; the annotation stays typed through `strawberry.lazy`."""
    definition = info.schema.get_type_by_name(name)
    origin = getattr(definition, "origin", None)
    assert origin is not None, f"no object type {name!r} in the schema"
    return origin
