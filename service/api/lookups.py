"""Objects by the keys customers already have: a person by externalId, a role or a solution
interest by name (or any of them by global id; given both, the object must match both). Null
when none of this tenant's matches, or when nothing is given."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from uuid import UUID

import strawberry
from strawberry import relay

from service.api.nodes import load_nodes
from service.api.people import Person
from service.api.roles import Role
from service.api.solution_interests import SolutionInterest
from service.store import people as people_store
from service.store import roles as role_store
from service.store import solution_interests as interest_store

T = TypeVar("T")


async def _one(info: strawberry.Info, id: relay.GlobalID | None, key: str | None,
               type_name: str, loader: Any,
               by_key: Callable[[Any, UUID, str], Awaitable[Any]],
               matches: Callable[[Any, str], bool], convert: Callable[[Any], T]) -> T | None:
    """The object with this id and key, either of which may be left out (both: it must
    match both)."""
    context = info.context
    if id is not None:
        if id.type_name != type_name:
            return None
        found = (await load_nodes(loader, [id.node_id]))[0]
        if found is None or (key is not None and not matches(found, key)):
            return None
        return convert(found)
    if key is None:
        return None  # nothing asked for, nothing found
    async with context.read() as conn:
        row = await by_key(conn, context.tenant_principal.tenant_id, key)
    return convert(row) if row else None


def _same_name(row: Any, name: str) -> bool:
    return bool(row.name.casefold() == name.strip().casefold())


async def person(info: strawberry.Info, id: relay.GlobalID | None = None,
                 external_id: str | None = None) -> Person | None:
    return await _one(info, id, external_id, "Person", info.context.loaders.person,
                      people_store.person_by_external_id,
                      lambda p, key: bool(p.external_id == key), Person.from_row)


async def role(info: strawberry.Info, id: relay.GlobalID | None = None,
               name: str | None = None) -> Role | None:
    return await _one(info, id, name, "Role", info.context.loaders.role,
                      role_store.role_by_name, _same_name, Role.from_row)


async def solution_interest(info: strawberry.Info, id: relay.GlobalID | None = None,
                            name: str | None = None) -> SolutionInterest | None:
    return await _one(info, id, name, "SolutionInterest",
                      info.context.loaders.solution_interest, interest_store.interest_by_name,
                      _same_name, SolutionInterest.from_row)
