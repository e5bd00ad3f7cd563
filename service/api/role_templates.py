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
from service.api.errors import UserError, from_problems
from service.api.nodes import convert_all, decode_id, load_nodes, parse_uuid
from service.api.pagination import Connection, check_first, decode_cursor, to_connection
from service.api.permissions import RequireWrite
from service.api.roles import Role, role_by_id
from service.domain.membership import MemberScope
from service.domain.templates import (
    WEIGHTINGS,
    Entry,
    EntryInput,
    role_weights,
    weight_percent,
)
from service.store import role_templates as template_store
from service.usecases import role_templates as templates
from service.usecases.change import Change


@strawberry.enum(description="How much a role counts: TRIVIAL=20 … VITAL=100.")
class Weighting(enum.Enum):
    TRIVIAL = "TRIVIAL"
    MINOR = "MINOR"
    NORMAL = "NORMAL"
    IMPORTANT = "IMPORTANT"
    VITAL = "VITAL"


strawberry.enum(MemberScope, name="MemberScope")


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
    member_scope: MemberScope = strawberry.field(description=(
        "Whose people its groups take: the account's, or also its sub-accounts'."))
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime
    copied_from_id: strawberry.Private[UUID | None]

    @classmethod
    def from_row(cls, row: template_store.RoleTemplate) -> RoleTemplate:
        return cls(
            id=str(row.id), name=row.name, description=row.description,
            status=RoleTemplateStatus(row.status), roles=template_roles(row.entries),
            member_scope=MemberScope(row.member_scope),
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
    member_scope: MemberScope = strawberry.field(default=MemberScope.ACCOUNT, description=(
        "Whose people its groups take: the account's (ACCOUNT) or also its sub-accounts' "
        "(ACCOUNT_AND_DESCENDANTS)."))


@strawberry.input
class UpdateRoleTemplateInput:
    id: relay.GlobalID
    name: str | None = UNSET
    description: str | None = UNSET
    roles: list[RoleEntryInput] | None = strawberry.field(
        default=UNSET, description="Replaces the whole ordered list when given."
    )
    member_scope: MemberScope | None = None


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


def entry_inputs(roles: list[RoleEntryInput]) -> list[EntryInput]:
    """An id of another type reads as no role (NOT_FOUND), as an unknown one does."""
    return [EntryInput(role_id=parse_uuid(r.role_id.node_id) if r.role_id.type_name == "Role"
                       else None,
                       weighting=r.weighting.value, members_required=r.members_required,
                       counts_toward_completeness=r.counts_toward_completeness,
                       conditions=r.conditions.raw() if r.conditions else None)
            for r in roles]


def _payload(change: Change[template_store.RoleTemplate]) -> RoleTemplatePayload:
    if change.value is None:
        return RoleTemplatePayload(role_template=None,
                                   user_errors=from_problems(change.problems, "input"))
    return RoleTemplatePayload(role_template=RoleTemplate.from_row(change.value), user_errors=[])


@strawberry.type
class RoleTemplateMutations:
    @strawberry.mutation(permission_classes=[RequireWrite])
    async def create_role_template(
        self, info: strawberry.Info, input: CreateRoleTemplateInput
    ) -> RoleTemplatePayload:
        async with info.context.work(info) as work:
            return _payload(await templates.create_template(
                work, input.name, input.description, entry_inputs(input.roles),
                input.member_scope.value))

    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="Change a DRAFT template; LIVE ones are immutable.")
    async def update_role_template(
        self, info: strawberry.Info, input: UpdateRoleTemplateInput
    ) -> RoleTemplatePayload:
        template_id = decode_id(input.id, "RoleTemplate", ["input", "id"])
        async with info.context.work(info) as work:
            return _payload(await templates.update_template(
                work, template_id, name=None if input.name is UNSET else input.name,
                description=None if input.description is UNSET else input.description,
                set_description=input.description is not UNSET,
                entries=None if input.roles is UNSET or input.roles is None
                else entry_inputs(input.roles),
                member_scope=input.member_scope.value if input.member_scope else None))

    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="Make a DRAFT template LIVE (it then cannot change).")
    async def publish_role_template(
        self, info: strawberry.Info, input: RoleTemplateIdInput
    ) -> RoleTemplatePayload:
        template_id = decode_id(input.id, "RoleTemplate", ["input", "id"])
        async with info.context.work(info) as work:
            return _payload(await templates.publish_template(work, template_id))

    @strawberry.mutation(permission_classes=[RequireWrite])
    async def delete_role_template(
        self, info: strawberry.Info, input: RoleTemplateIdInput
    ) -> DeleteRoleTemplatePayload:
        template_id = decode_id(input.id, "RoleTemplate", ["input", "id"])
        async with info.context.work(info) as work:
            change = await templates.delete_template(work, template_id)
        if change.value is None:
            return DeleteRoleTemplatePayload(deleted_role_template_id=None,
                                             user_errors=from_problems(change.problems,
                                                                       "input"))
        return DeleteRoleTemplatePayload(deleted_role_template_id=input.id, user_errors=[])

    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="Start a new DRAFT from any template, e.g. a LIVE one.")
    async def copy_role_template(
        self, info: strawberry.Info, input: CopyRoleTemplateInput
    ) -> RoleTemplatePayload:
        template_id = decode_id(input.id, "RoleTemplate", ["input", "id"])
        async with info.context.work(info) as work:
            return _payload(await templates.copy_template(work, template_id, input.name))
