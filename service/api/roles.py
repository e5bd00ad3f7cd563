"""The role catalogue through GraphQL."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

import strawberry
from strawberry import UNSET, relay

from service.api.errors import UserError, from_problems
from service.api.nodes import convert_all, decode_id, load_nodes
from service.api.pagination import Connection, connection_from_list
from service.api.permissions import RequireWrite
from service.store import roles as role_store
from service.usecases import roles as role_cases
from service.usecases.change import Change


@strawberry.type(description="A role people can hold in a buying group.")
class Role(relay.Node):
    id: relay.NodeID[str]
    name: str
    description: str | None
    is_default: bool = strawberry.field(
        description="One of the six default roles, which cannot be edited or deleted."
    )
    created_at: datetime

    @classmethod
    def from_row(cls, row: role_store.Role) -> Role:
        return cls(id=str(row.id), name=row.name, description=row.description,
                   is_default=row.is_default, created_at=row.created_at)

    @classmethod
    async def resolve_nodes(
        cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        return convert_all(await load_nodes(info.context.loaders.role, node_ids), cls.from_row)


async def role_by_id(info: strawberry.Info, role_id: UUID) -> Role:
    """A role known to exist (roles in use cannot be deleted)."""
    row = await info.context.loaders.role.load(role_id)
    assert row is not None
    return Role.from_row(row)


async def role_if_any(info: strawberry.Info, role_id: UUID | None) -> Role | None:
    """The role, when there is an id and a role of this tenant has it."""
    if role_id is None:
        return None
    row = await info.context.loaders.role.load(role_id)
    return Role.from_row(row) if row else None


async def roles(info: strawberry.Info, first: int = 20, after: str | None = None
                ) -> Connection[Role]:
    context = info.context
    tenant_id = context.tenant_principal.tenant_id
    async with context.read() as conn:
        rows = await role_store.list_roles(conn, tenant_id)
    return connection_from_list(rows, Role.from_row, lambda r: r.id, first=first, after=after,
                                maximum=context.settings.max_page_size)


@strawberry.input
class CreateRoleInput:
    name: str
    description: str | None = None


@strawberry.input
class UpdateRoleInput:
    id: relay.GlobalID
    name: str | None = UNSET
    description: str | None = UNSET


@strawberry.input
class DeleteRoleInput:
    id: relay.GlobalID


@strawberry.type
class RolePayload:
    role: Role | None
    user_errors: list[UserError]


@strawberry.type
class DeleteRolePayload:
    deleted_role_id: relay.GlobalID | None
    user_errors: list[UserError]


def _payload(change: Change[role_store.Role]) -> RolePayload:
    if change.value is None:
        return RolePayload(role=None, user_errors=from_problems(change.problems, "input"))
    return RolePayload(role=Role.from_row(change.value), user_errors=[])


@strawberry.type
class RoleMutations:
    @strawberry.mutation(permission_classes=[RequireWrite])
    async def create_role(self, info: strawberry.Info, input: CreateRoleInput) -> RolePayload:
        async with info.context.work(info) as work:
            return _payload(await role_cases.create_role(work, input.name, input.description))

    @strawberry.mutation(permission_classes=[RequireWrite])
    async def update_role(self, info: strawberry.Info, input: UpdateRoleInput) -> RolePayload:
        role_id = decode_id(input.id, "Role", ["input", "id"])
        async with info.context.work(info) as work:
            return _payload(await role_cases.update_role(
                work, role_id, name=None if input.name is UNSET else input.name,
                description=None if input.description is UNSET else input.description,
                set_description=input.description is not UNSET))

    @strawberry.mutation(permission_classes=[RequireWrite])
    async def delete_role(self, info: strawberry.Info, input: DeleteRoleInput
                          ) -> DeleteRolePayload:
        role_id = decode_id(input.id, "Role", ["input", "id"])
        async with info.context.work(info) as work:
            change = await role_cases.delete_role(work, role_id)
        if change.value is None:
            return DeleteRolePayload(deleted_role_id=None,
                                     user_errors=from_problems(change.problems, "input"))
        return DeleteRolePayload(deleted_role_id=input.id, user_errors=[])
