"""Role templates through GraphQL: DRAFT → LIVE lifecycle, ordered roles, weights, rules."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

import strawberry
from strawberry import UNSET, relay

from service.api.conditions import ConditionGroupInput, ConditionGroupType
from service.api.errors import ErrorCode, UserError, failed, from_problems
from service.api.nodes import convert_all, decode_id, load_nodes, parse_uuid
from service.api.pagination import Connection, check_first, decode_cursor, to_connection
from service.api.permissions import RequireWrite
from service.api.roles import Role, name_problems, role_by_id
from service.domain.templates import (
    WEIGHTINGS,
    Entry,
    EntryInput,
    check_entries,
    role_weights,
    weight_percent,
)
from service.infra.db import Connection as Db
from service.store import role_templates as template_store
from service.store import roles as role_store


@strawberry.enum(description="How much a role counts: TRIVIAL=20 … VITAL=100.")
class Weighting(enum.Enum):
    TRIVIAL = "TRIVIAL"
    MINOR = "MINOR"
    NORMAL = "NORMAL"
    IMPORTANT = "IMPORTANT"
    VITAL = "VITAL"


@strawberry.enum
class RoleTemplateStatus(enum.Enum):
    DRAFT = "DRAFT"
    LIVE = "LIVE"


@strawberry.type(description="A role of a template, in priority order.")
class RoleTemplateRole:
    weighting: Weighting
    weighting_value: int = strawberry.field(description="20, 40, 60, 80 or 100.")
    weight_percent: float = strawberry.field(
        description="Share of the template's total weighting, in percent (two decimals)."
    )
    members_required: int
    counts_toward_completeness: bool
    priority: int = strawberry.field(
        description="1 for the first role; a person matching several roles gets the first."
    )
    conditions: ConditionGroupType | None = strawberry.field(
        description="Rules that assign people to this role automatically; null: manual only."
    )
    role_id: strawberry.Private[UUID]

    @strawberry.field
    async def role(self, info: strawberry.Info) -> Role:
        return await role_by_id(info, self.role_id)


def template_roles(entries: tuple[Entry, ...]) -> list[RoleTemplateRole]:
    weights = role_weights([e.weighting for e in entries])
    return [
        RoleTemplateRole(
            weighting=Weighting(e.weighting), weighting_value=WEIGHTINGS[e.weighting],
            weight_percent=weight_percent(w), members_required=e.members_required,
            counts_toward_completeness=e.counts_toward_completeness, priority=i + 1,
            conditions=ConditionGroupType.from_domain(e.conditions) if e.conditions else None,
            role_id=e.role_id,
        )
        for i, (e, w) in enumerate(zip(entries, weights, strict=True))
    ]


@strawberry.type(description="The roles a buying group needs, with weights and assignment rules.")
class RoleTemplate(relay.Node):
    id: relay.NodeID[str]
    name: str
    description: str | None
    status: RoleTemplateStatus
    roles: list[RoleTemplateRole]
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime
    copied_from_id: strawberry.Private[UUID | None]

    @classmethod
    def from_row(cls, row: template_store.RoleTemplate) -> RoleTemplate:
        return cls(
            id=str(row.id), name=row.name, description=row.description,
            status=RoleTemplateStatus(row.status), roles=template_roles(row.entries),
            published_at=row.published_at, created_at=row.created_at,
            updated_at=row.updated_at, copied_from_id=row.copied_from_id,
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        return convert_all(await load_nodes(info.context.loaders.role_template, node_ids),
                           cls.from_row)

    @strawberry.field(description="The template this one was copied from, if any.")
    async def copied_from(self, info: strawberry.Info) -> RoleTemplate | None:
        if self.copied_from_id is None:
            return None
        row = await info.context.loaders.role_template.load(self.copied_from_id)
        return RoleTemplate.from_row(row) if row else None


@strawberry.input
class RoleTemplateFilter:
    search: str | None = None
    status: RoleTemplateStatus | None = None


def name_key(raw: list[Any]) -> tuple[str, UUID]:
    name, id_ = raw
    if not isinstance(name, str):
        raise ValueError("name")
    return name, UUID(id_)


async def role_templates(
    info: strawberry.Info, filter: RoleTemplateFilter | None = None, first: int = 20,
    after: str | None = None,
) -> Connection[RoleTemplate]:
    context = info.context
    limit = check_first(first, context.settings.max_page_size)
    cursor = decode_cursor(after, name_key)
    tenant_id = context.tenant_principal.tenant_id
    async with context.read() as conn:
        page = await template_store.list_templates(
            conn, tenant_id, search=filter.search if filter else None,
            status=filter.status.value if filter and filter.status else None,
            limit=limit, after=cursor,
        )
    return to_connection(page, RoleTemplate.from_row, lambda t: (t.name, t.id),
                         has_previous=cursor is not None)


@strawberry.input
class RoleEntryInput:
    role_id: relay.GlobalID
    weighting: Weighting = Weighting.NORMAL
    members_required: int = 1
    counts_toward_completeness: bool = True
    conditions: ConditionGroupInput | None = None


@strawberry.input
class CreateRoleTemplateInput:
    name: str
    description: str | None = None
    roles: list[RoleEntryInput] = strawberry.field(default_factory=list)


@strawberry.input
class UpdateRoleTemplateInput:
    id: relay.GlobalID
    name: str | None = UNSET
    description: str | None = UNSET
    roles: list[RoleEntryInput] | None = strawberry.field(
        default=UNSET, description="Replaces the whole ordered list when given."
    )


@strawberry.input
class RoleTemplateIdInput:
    id: relay.GlobalID


@strawberry.input
class CopyRoleTemplateInput:
    id: relay.GlobalID
    name: str


@strawberry.type
class RoleTemplatePayload:
    role_template: RoleTemplate | None
    user_errors: list[UserError]


@strawberry.type
class DeleteRoleTemplatePayload:
    deleted_role_template_id: relay.GlobalID | None
    user_errors: list[UserError]


async def _entries(
    conn: Db, roles: list[RoleEntryInput]
) -> tuple[list[Entry], list[UserError]]:
    ids = [parse_uuid(r.role_id.node_id) if r.role_id.type_name == "Role" else None
           for r in roles]
    known = await role_store.roles_by_ids(conn, [i for i in ids if i is not None])
    inputs = [
        EntryInput(
            role_id=i if i in known else None, weighting=r.weighting.value,
            members_required=r.members_required,
            counts_toward_completeness=r.counts_toward_completeness,
            conditions=r.conditions.raw() if r.conditions else None,
        )
        for i, r in zip(ids, roles, strict=True)
    ]
    entries, problems = check_entries(inputs)
    return entries, from_problems(problems, "input", "roles")


async def _draft(conn: Db, template_id: UUID, action: str
                 ) -> template_store.RoleTemplate | RoleTemplatePayload:
    template = await template_store.lock_template(conn, template_id)
    if template is None:
        return failed(RoleTemplatePayload, ["input", "id"], ErrorCode.NOT_FOUND,
                      "no such role template")
    if template.status != "DRAFT":
        return failed(RoleTemplatePayload, ["input", "id"], ErrorCode.IMMUTABLE,
                       f"a LIVE template cannot be {action}; copy it to make changes")
    return template


def _taken(name: str) -> RoleTemplatePayload:
    return failed(RoleTemplatePayload, ["input", "name"], ErrorCode.DUPLICATE,
                   f"a role template named {name!r} exists")


@strawberry.type
class RoleTemplateMutations:
    @strawberry.mutation(permission_classes=[RequireWrite])
    async def create_role_template(
        self, info: strawberry.Info, input: CreateRoleTemplateInput
    ) -> RoleTemplatePayload:
        errors = name_problems(input.name, ["input", "name"])
        tenant_id = info.context.tenant_principal.tenant_id
        async with info.context.write() as conn:
            entries, entry_errors = await _entries(conn, input.roles)
            if errors or entry_errors:
                return RoleTemplatePayload(role_template=None, user_errors=errors + entry_errors)
            try:
                row = await template_store.create_template(
                    conn, tenant_id, input.name.strip(), input.description, entries)
            except template_store.TemplateNameTaken:
                return _taken(input.name.strip())
        return RoleTemplatePayload(role_template=RoleTemplate.from_row(row), user_errors=[])

    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="Change a DRAFT template; LIVE ones are immutable.")
    async def update_role_template(
        self, info: strawberry.Info, input: UpdateRoleTemplateInput
    ) -> RoleTemplatePayload:
        template_id = decode_id(input.id, "RoleTemplate", ["input", "id"])
        name = None if input.name is UNSET else input.name
        errors = name_problems(name, ["input", "name"])
        async with info.context.write() as conn:
            template = await _draft(conn, template_id, "edited")
            if isinstance(template, RoleTemplatePayload):
                return template
            entries: list[Entry] | None = None
            if input.roles is not UNSET and input.roles is not None:
                entries, entry_errors = await _entries(conn, input.roles)
                errors += entry_errors
            if errors:
                return RoleTemplatePayload(role_template=None, user_errors=errors)
            try:
                row = await template_store.update_template(
                    conn, template, name.strip() if name else None,
                    None if input.description is UNSET else input.description,
                    input.description is not UNSET, entries,
                )
            except template_store.TemplateNameTaken:
                return _taken(name or "")
        return RoleTemplatePayload(role_template=RoleTemplate.from_row(row), user_errors=[])

    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="Make a DRAFT template LIVE (it then cannot change).")
    async def publish_role_template(
        self, info: strawberry.Info, input: RoleTemplateIdInput
    ) -> RoleTemplatePayload:
        template_id = decode_id(input.id, "RoleTemplate", ["input", "id"])
        async with info.context.write() as conn:
            template = await _draft(conn, template_id, "published again")
            if isinstance(template, RoleTemplatePayload):
                return template
            if not template.entries:
                return failed(RoleTemplatePayload, ["input", "id"], ErrorCode.NO_ROLES,
                               "a template needs at least one role before it is published")
            row = await template_store.publish_template(conn, template_id)
        return RoleTemplatePayload(role_template=RoleTemplate.from_row(row), user_errors=[])

    @strawberry.mutation(permission_classes=[RequireWrite])
    async def delete_role_template(
        self, info: strawberry.Info, input: RoleTemplateIdInput
    ) -> DeleteRoleTemplatePayload:
        template_id = decode_id(input.id, "RoleTemplate", ["input", "id"])
        async with info.context.write() as conn:
            template = await _draft(conn, template_id, "deleted")
            if isinstance(template, RoleTemplatePayload):
                return DeleteRoleTemplatePayload(deleted_role_template_id=None,
                                                 user_errors=template.user_errors)
            await template_store.delete_template(conn, template_id)
        return DeleteRoleTemplatePayload(deleted_role_template_id=input.id, user_errors=[])

    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="Start a new DRAFT from any template, e.g. a LIVE one.")
    async def copy_role_template(
        self, info: strawberry.Info, input: CopyRoleTemplateInput
    ) -> RoleTemplatePayload:
        template_id = decode_id(input.id, "RoleTemplate", ["input", "id"])
        errors = name_problems(input.name, ["input", "name"])
        if errors:
            return RoleTemplatePayload(role_template=None, user_errors=errors)
        tenant_id = info.context.tenant_principal.tenant_id
        async with info.context.write() as conn:
            source = await template_store.get_template(conn, template_id)
            if source is None:
                return failed(RoleTemplatePayload, ["input", "id"], ErrorCode.NOT_FOUND,
                              "no such role template")
            try:
                row = await template_store.create_template(
                    conn, tenant_id, input.name.strip(), source.description, source.entries,
                    copied_from=source.id)
            except template_store.TemplateNameTaken:
                return _taken(input.name.strip())
        return RoleTemplatePayload(role_template=RoleTemplate.from_row(row), user_errors=[])
