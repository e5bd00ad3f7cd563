"""The tenant's roles: the names templates are made of (Decision Maker, Champion, …)."""

from __future__ import annotations

from uuid import UUID

from service.domain.names import name_problems
from service.store import roles as role_store
from service.usecases.change import Change, applied, refused
from service.usecases.unit_of_work import UnitOfWork


async def _editable(work: UnitOfWork, role_id: UUID) -> Change[role_store.Role]:
    """The role, if it exists and is not one of the defaults every tenant starts with."""
    role = (await role_store.roles_by_ids(work.conn, [role_id])).get(role_id)
    if role is None:
        return refused("id", "NOT_FOUND", "no such role")
    if role.is_default:
        return refused("id", "IMMUTABLE", f"{role.name!r} is a default role and cannot be "
                       "changed")
    return Change(role)


async def create_role(work: UnitOfWork, name: str, description: str | None
                      ) -> Change[role_store.Role]:
    if problems := name_problems(name):
        return applied(work, Change(problems=problems))
    try:
        return Change(await role_store.create_role(work.conn, work.tenant_id, name.strip(),
                                                   description))
    except role_store.RoleNameTaken:
        return applied(work, refused("name", "DUPLICATE", f"a role named {name.strip()!r} "
                                     "exists"))
    except role_store.RoleLimitReached:
        return applied(work, refused((), "LIMIT_REACHED",
                                     f"a tenant has at most {role_store.MAX_ROLES} roles"))


async def update_role(work: UnitOfWork, role_id: UUID, *, name: str | None,
                      description: str | None, set_description: bool
                      ) -> Change[role_store.Role]:
    """A new name (None: keep it) and description (`set_description`: replace it)."""
    if problems := name_problems(name):
        return applied(work, Change(problems=problems))
    if not (found := await _editable(work, role_id)).done:
        return applied(work, found)
    try:
        row = await role_store.update_role(work.conn, role_id, name.strip() if name else None,
                                           description, set_description)
    except role_store.RoleNameTaken:
        return applied(work, refused("name", "DUPLICATE", f"a role named {name!r} exists"))
    assert row is not None
    return Change(row)


async def delete_role(work: UnitOfWork, role_id: UUID) -> Change[UUID]:
    found = await _editable(work, role_id)
    if found.value is None:
        return applied(work, Change(problems=found.problems))
    if await role_store.role_in_use(work.conn, role_id):
        return applied(work, refused("id", "IN_USE", f"{found.value.name!r} is used by a "
                                     "role template; remove it there first"))
    await role_store.delete_role(work.conn, role_id)
    return Change(role_id)
