"""Query.previewRoleTemplate: what a template (or a draft of one) would make of an audience,
read-only, within a time limit of its own (PREVIEW_TIMEOUT_SECONDS)."""

from __future__ import annotations

from uuid import UUID

import asyncpg
import strawberry
from strawberry import relay

from service.api.accounts import Account
from service.api.assignments import ConditionResult
from service.api.errors import ErrorCode, UserError, from_problems, user_error
from service.api.nodes import decode_id
from service.api.people import Person
from service.api.role_templates import RoleEntryInput, entry_inputs
from service.api.roles import Role, role_if_any
from service.domain.conditions import Operator
from service.domain.membership import MemberScope
from service.domain.templates import round_half_up
from service.usecases import preview as previews

MAX_SAMPLE_MEMBERS = 50


@strawberry.type(description="Groups whose completeness falls in [low, high) ([75, 100] last).")
class PreviewBand:
    low: int
    high: int
    groups: int


@strawberry.type
class PreviewRoleFill:
    filled: int = strawberry.field(description="Groups whose role would have its required "
                                   "members.")
    with_members: int = strawberry.field(description="Groups whose role would have someone.")
    fill_rate: float = strawberry.field(description="filled / groups, in percent.")
    row_role: strawberry.Private[UUID]

    @strawberry.field
    async def role(self, info: strawberry.Info) -> Role | None:
        return await role_if_any(info, self.row_role)


@strawberry.type
class PreviewMember:
    matched: bool | None = strawberry.field(description="Whether they meet the role's rules "
                                            "(always, as the rules put them there).")
    reasons: list[ConditionResult]
    person_id: strawberry.Private[UUID]
    role_id: strawberry.Private[UUID]

    @strawberry.field
    async def person(self, info: strawberry.Info) -> Person | None:
        found = await info.context.loaders.person.load(self.person_id)
        return Person.from_row(found) if found else None

    @strawberry.field
    async def role(self, info: strawberry.Info) -> Role | None:
        return await role_if_any(info, self.role_id)


@strawberry.type(description="An example group: an account of the audience, by name.")
class PreviewGroup:
    completeness: float
    completeness_display: int
    roles_filled: int
    member_count: int
    members: list[PreviewMember] = strawberry.field(description=(
        f"Its members by last name, the first {MAX_SAMPLE_MEMBERS}."))
    account_id: strawberry.Private[UUID]

    @strawberry.field
    async def account(self, info: strawberry.Info) -> Account | None:
        found = await info.context.loaders.account.load(self.account_id)
        return Account.from_row(found) if found else None


@strawberry.type(description="What generating groups would give; nothing was written.")
class RoleTemplatePreview:
    groups: int = strawberry.field(description="Groups it would create: one per account of "
                                   "the audience.")
    members: int = strawberry.field(description="Members the rules would assign in all.")
    average_completeness: float
    completeness_bands: list[PreviewBand]
    roles: list[PreviewRoleFill] = strawberry.field(description="Each role's fill rate, in "
                                                    "the template's order.")
    sample: list[PreviewGroup]


@strawberry.type
class RoleTemplatePreviewPayload:
    preview: RoleTemplatePreview | None
    user_errors: list[UserError]


@strawberry.input
class PreviewRoleTemplateInput:
    template_id: relay.GlobalID | None = strawberry.field(
        default=None, description="A template (DRAFT or LIVE); or give `roles`.")
    roles: list[RoleEntryInput] | None = strawberry.field(
        default=None, description="A draft's roles, as createRoleTemplate takes them.")
    member_scope: MemberScope | None = strawberry.field(
        default=None, description="The draft's scope; for a template, its own unless given.")
    account_list_id: relay.GlobalID
    sample: int = strawberry.field(default=3, description=(
        f"How many example groups to show (0 to {previews.MAX_SAMPLE})."))


def _group(group: previews.SampleGroup) -> PreviewGroup:
    members = [PreviewMember(
        matched=m.evaluation.matched if m.evaluation else None,
        reasons=[ConditionResult(attribute=rule.attribute, operator=Operator(rule.operator),
                                 expected=list(rule.values), actual=result.actual,
                                 matched=result.matched)
                 for rule, result in zip(m.conditions.rules, m.evaluation.rules, strict=True)]
        if m.conditions and m.evaluation else [],
        person_id=m.person_id, role_id=m.role_id) for m in group.members]
    return PreviewGroup(completeness=float(group.completeness.value),
                        completeness_display=int(round_half_up(group.completeness.value)),
                        roles_filled=group.completeness.roles_filled,
                        member_count=len(members), members=members[:MAX_SAMPLE_MEMBERS],
                        account_id=group.account_id)


def _preview(found: previews.Preview) -> RoleTemplatePreview:
    summary = found.summary
    return RoleTemplatePreview(
        groups=summary.groups, members=summary.members,
        average_completeness=float(summary.average_completeness),
        completeness_bands=[PreviewBand(low=int(b.low), high=int(b.high or 100),
                                        groups=b.count) for b in summary.bands],
        roles=[PreviewRoleFill(filled=f.filled, with_members=f.with_members,
                               fill_rate=f.rate(summary.groups), row_role=f.role_id)
               for f in summary.fill_rates],
        sample=[_group(g) for g in found.sample])


async def preview_role_template(info: strawberry.Info, input: PreviewRoleTemplateInput
                                ) -> RoleTemplatePreviewPayload:
    template_id = (decode_id(input.template_id, "RoleTemplate", ["input", "templateId"])
                   if input.template_id else None)
    list_id = decode_id(input.account_list_id, "AccountList", ["input", "accountListId"])
    limit = info.context.settings.preview_timeout_seconds
    try:
        async with info.context.read_within(limit) as conn:
            found, problems = await previews.preview(
                conn, info.context.tenant_principal.tenant_id, template_id=template_id,
                roles=entry_inputs(input.roles) if input.roles is not None else None,
                scope=input.member_scope, account_list_id=list_id, sample=input.sample)
    except asyncpg.QueryCanceledError:
        return RoleTemplatePreviewPayload(preview=None, user_errors=[user_error(
            ["input", "accountListId"], ErrorCode.PREVIEW_TIMEOUT,
            f"the preview took longer than {limit:g} s (PREVIEW_TIMEOUT_SECONDS) and was "
            "stopped; preview a smaller audience")])
    if found is None:
        return RoleTemplatePreviewPayload(preview=None,
                                          user_errors=from_problems(problems, "input"))
    return RoleTemplatePreviewPayload(preview=_preview(found), user_errors=[])
