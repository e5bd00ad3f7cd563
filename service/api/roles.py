"""The role catalogue through GraphQL."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

import strawberry
from strawberry import UNSET, relay

from service.api.errors import ErrorCode, UserError, failed, from_problems, user_error
from service.api.nodes import convert_all, decode_id, load_nodes
from service.api.pagination import Connection, connection_from_list
from service.api.permissions import RequireWrite
from service.domain import names
from service.store import roles as role_store


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


async def roles(info: strawberry.Info, first: int = 20, after: str | None = None
                ) -> Connection[Role]:
    context = info.context
    tenant_id = context.tenant_principal.tenant_id
    async with context.read() as conn:
        rows = await role_store.list_roles(conn, tenant_id)
    return connection_from_list(rows, Role.from_row, lambda r: r.id, first=first, after=after,
                                maximum=context.settings.max_page_size)


def name_problems(name: str | None, path: list[str]) -> list[UserError]:
    return from_problems(names.name_problems(name, path))


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


async def _editable(conn: Any, role_id: UUID) -> role_store.Role | RolePayload:
    found = (await role_store.roles_by_ids(conn, [role_id])).get(role_id)
    if found is None:
        return failed(RolePayload, ["input", "id"], ErrorCode.NOT_FOUND, "no such role")
    if found.is_default:
        return failed(RolePayload, ["input", "id"], ErrorCode.IMMUTABLE,
                       f"{found.name!r} is a default role and cannot be changed")
    return found


@strawberry.type
class RoleMutations:
    @strawberry.mutation(permission_classes=[RequireWrite])
    async def create_role(self, info: strawberry.Info, input: CreateRoleInput) -> RolePayload:
        errors = name_problems(input.name, ["input", "name"])
        if errors:
            return RolePayload(role=None, user_errors=errors)
        tenant_id = info.context.tenant_principal.tenant_id
        async with info.context.write() as conn:
            try:
                row = await role_store.create_role(conn, tenant_id, input.name.strip(),
                                                   input.description)
            except role_store.RoleNameTaken:
                return failed(RolePayload, ["input", "name"], ErrorCode.DUPLICATE,
                               f"a role named {input.name.strip()!r} exists")
            except role_store.RoleLimitReached:
                return failed(RolePayload, ["input"], ErrorCode.LIMIT_REACHED,
                               f"a tenant has at most {role_store.MAX_ROLES} roles")
        return RolePayload(role=Role.from_row(row), user_errors=[])

    @strawberry.mutation(permission_classes=[RequireWrite])
    async def update_role(self, info: strawberry.Info, input: UpdateRoleInput) -> RolePayload:
        role_id = decode_id(input.id, "Role", ["input", "id"])
        name = None if input.name is UNSET else input.name
        errors = name_problems(name, ["input", "name"])
        if errors:
            return RolePayload(role=None, user_errors=errors)
        async with info.context.write() as conn:
            found = await _editable(conn, role_id)
            if isinstance(found, RolePayload):
                return found
            try:
                row = await role_store.update_role(
                    conn, role_id, name.strip() if name else None,
                    None if input.description is UNSET else input.description,
                    input.description is not UNSET,
                )
            except role_store.RoleNameTaken:
                return failed(RolePayload, ["input", "name"], ErrorCode.DUPLICATE,
                               f"a role named {name!r} exists")
        assert row is not None
        return RolePayload(role=Role.from_row(row), user_errors=[])

    @strawberry.mutation(permission_classes=[RequireWrite])
    async def delete_role(self, info: strawberry.Info, input: DeleteRoleInput
                          ) -> DeleteRolePayload:
        role_id = decode_id(input.id, "Role", ["input", "id"])
        async with info.context.write() as conn:
            found = await _editable(conn, role_id)
            if isinstance(found, RolePayload):
                return DeleteRolePayload(deleted_role_id=None, user_errors=found.user_errors)
            if await role_store.role_in_use(conn, role_id):
                return DeleteRolePayload(deleted_role_id=None, user_errors=[user_error(
                    ["input", "id"], ErrorCode.IN_USE,
                    f"{found.name!r} is used by a role template; remove it there first")])
            await role_store.delete_role(conn, role_id)
        return DeleteRolePayload(deleted_role_id=input.id, user_errors=[])
