"""Buying groups through GraphQL: the BuyingGroup type with its members, roles, scores and
stages, and browsing. Changes are in `buying_group_mutations`, jobs in `jobs`."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any, TypeVar
from uuid import UUID

import strawberry
from strawberry import relay

from service.api import engagement as engagement_api
from service.api.accounts import Account
from service.api.assignments import MemberAssignment, MemberSource, member_assignment
from service.api.execution.lookahead import (
    existing,
    lean,
    load_ahead,
    ready,
    ready_all,
    shared,
)
from service.api.nodes import convert_all, decode_id, load_nodes
from service.api.pagination import (
    Connection,
    check_first,
    connection_from_list,
)
from service.api.people import Person
from service.api.recommendations import MemberRecommendation, group_recommendations
from service.api.role_templates import RoleTemplate, Weighting
from service.api.roles import Role
from service.api.solution_interests import SolutionInterest
from service.api.stages import Stage, StageChangedBy, StageChangeType
from service.api.trends import EngagementTrend, trend
from service.domain.completeness import missing_roles
from service.domain.templates import round_half_up, weight_percents
from service.store import buying_groups as group_store
from service.store.engagement import ScoringInputs

log = logging.getLogger(__name__)
T = TypeVar("T")


@strawberry.type
class BuyingGroupMember:
    source: MemberSource
    is_removed: bool
    assigned_at: datetime
    removed_at: datetime | None
    row: strawberry.Private[group_store.Member]

    @classmethod
    def from_row(cls, row: group_store.Member) -> BuyingGroupMember:
        return cls(source=MemberSource(row.source), is_removed=row.is_removed,
                   assigned_at=row.assigned_at, removed_at=row.removed_at, row=row)

    # Nested fields answer at once from what a page looked ahead for (api/lookahead.py).
    @strawberry.field
    def person(self, info: strawberry.Info) -> Person:
        return _member_person(self, info.context)

    @strawberry.field
    def role(self, info: strawberry.Info) -> Role:
        return _member_role(self, info.context)

    @strawberry.field
    def buying_group(self, info: strawberry.Info) -> BuyingGroup:
        return _member_group(self, info.context)

    @strawberry.field(description="Why the member holds the role: how, when, by whom, and the "
                      "role's rules tested against the person.")
    async def assignment(self, info: strawberry.Info) -> MemberAssignment:
        return await member_assignment(self.row, info)


@strawberry.type(description="One role of the group's template, with the people in it.")
class BuyingGroupRole:
    weighting: Weighting
    weight_percent: float
    members_required: int
    counts_toward_completeness: bool
    member_count: int = strawberry.field(description="Active members in this role.")
    is_filled: bool = strawberry.field(description="memberCount reaches membersRequired.")
    role_id: strawberry.Private[UUID]
    active: strawberry.Private[list[BuyingGroupMember]]

    @strawberry.field
    def role(self, info: strawberry.Info) -> Role:
        return _role_role(self, info.context)

    @strawberry.field(description="The first `first` (at most 100) active members; "
                      "memberCount tells how many there are.")
    def members(self, info: strawberry.Info, first: int = 10) -> list[BuyingGroupMember]:
        return _role_members(self, info.context, first)


@strawberry.type
class CompletenessScore:
    value: float = strawberry.field(description="0 to 100, exact (not rounded).")
    display: int = strawberry.field(description="value rounded half up.")
    roles_filled: int
    roles_total: int
    computed_at: datetime | None


@strawberry.type
class EngagementScore:
    value: float = strawberry.field(description="Exact to 12 decimals.")
    display: int = strawberry.field(description="value rounded half up.")
    row: strawberry.Private[group_store.BuyingGroup]

    @strawberry.field(description="When the score was last computed: the group's own rescoring "
                      "or the tenant's nightly pass, whichever is later (the pass writes only "
                      "scores that moved).")
    async def computed_at(self, info: strawberry.Info) -> datetime | None:
        inputs: ScoringInputs = await info.context.loaders.scoring_inputs.load(
            info.context.tenant_principal.tenant_id)
        own, scored = self.row.engagement_computed_at, inputs.scored_at
        if scored is None or scored < self.row.created_at:  # a pass before the group was
            return own
        return max(own, scored) if own else scored

    @strawberry.field(description="First day of the scoring window (tenant's time zone).")
    async def window_start(self, info: strawberry.Info) -> date:
        return (await engagement_api.window(info))[0]

    @strawberry.field(description="Last day of the scoring window: today.")
    async def window_end(self, info: strawberry.Info) -> date:
        return (await engagement_api.window(info))[1]

    @strawberry.field(description="Why the score is what it is: roles, members, activity "
                      "types and days, recomputed now from the same data.")
    async def breakdown(self, info: strawberry.Info) -> list[engagement_api.EngagementRole]:
        return await engagement_api.breakdown(info, self.row)

    @strawberry.field(description="The score against its snapshot `days` ago (1 to 365).")
    async def trend(self, info: strawberry.Info, days: int = 7) -> EngagementTrend | None:
        return await trend(info, self.row, days)


@strawberry.type(description="The people who decide one purchase at one account.")
class BuyingGroup(relay.Node):
    id: relay.NodeID[str]
    name: str
    name_is_generated: bool = strawberry.field(description=(
        "True while the group has the generated name, \"<solution interest> for <account>\", "
        "which follows renames of either; renameBuyingGroup gives it one of its own."))
    status: str | None
    member_count: int = strawberry.field(description="Active (not removed) members.")
    completeness: CompletenessScore
    engagement: EngagementScore
    created_at: datetime
    updated_at: datetime
    row: strawberry.Private[group_store.BuyingGroup]

    @classmethod
    def from_row(cls, row: group_store.BuyingGroup) -> BuyingGroup:
        return cls(
            id=str(row.id), name=row.name, name_is_generated=row.generated_name,
            status=row.status, member_count=row.member_count,
            completeness=CompletenessScore(
                value=float(row.completeness), display=int(round_half_up(row.completeness)),
                roles_filled=row.roles_filled, roles_total=row.roles_total,
                computed_at=row.completeness_computed_at),
            engagement=EngagementScore(
                value=float(row.engagement), display=int(round_half_up(row.engagement)),
                row=row),
            created_at=row.created_at, updated_at=row.updated_at, row=row,
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        return convert_all(await load_nodes(info.context.loaders.buying_group, node_ids),
                           cls.from_row)

    @strawberry.field
    def account(self, info: strawberry.Info) -> Account:
        return _group_account(self, info.context)

    @strawberry.field
    def solution_interest(self, info: strawberry.Info) -> SolutionInterest:
        return _group_interest(self, info.context)

    @strawberry.field
    def role_template(self, info: strawberry.Info) -> RoleTemplate:
        return _group_template(self, info.context)

    async def _members(self, info: strawberry.Info) -> list[group_store.Member]:
        members: list[group_store.Member] = await info.context.loaders.group_members.load(
            self.row.id)
        return members

    @strawberry.field(description="Members, active first; removed ones only when asked for.")
    def members(
        self, info: strawberry.Info, role_id: relay.GlobalID | None = None,
        include_removed: bool = False, first: int = 50, after: str | None = None,
    ) -> Connection[BuyingGroupMember]:
        return _group_members(self, info.context, role_id, include_removed, first, after)

    @strawberry.field(description="Each role of the template with its active members.")
    def roles(self, info: strawberry.Info) -> list[BuyingGroupRole]:
        return _group_roles(self, info.context)

    @strawberry.field(description="The current stage (null without a stage model).")
    def stage(self, info: strawberry.Info) -> Stage | None:
        return _group_stage(self, info.context)

    recommendations: Connection[MemberRecommendation] = strawberry.field(
        resolver=group_recommendations, description=(
            "People who could fill the role (at most 50 a page), best first: those meeting the "
            "role's rules (the most rules first), then the most active; members of the role "
            "and people dismissed for it are left out."))

    @strawberry.field(description="The last `last` (at most 100) stage changes, oldest first.")
    async def stage_history(self, info: strawberry.Info, last: int = 50
                            ) -> list[StageChangeType]:
        count = check_first(last, info.context.settings.max_page_size)
        changes = await info.context.loaders.stage_history.load(self.row.id)
        return [StageChangeType(from_stage_id=c.from_stage_id, to_stage_id=c.to_stage_id,
                                by=StageChangedBy(c.changed_by), at=c.changed_at,
                                actor=c.actor)
                for c in (changes[-count:] if count else [])]

    @strawberry.field(description="Daily snapshots of both scores, oldest first.")
    async def score_history(self, info: strawberry.Info, days: int = 30
                            ) -> list[engagement_api.ScoreSnapshot]:
        return await engagement_api.history(info, self.row.id, max(1, min(days, 366)))

    @strawberry.field(description="Roles with fewer active members than required.")
    async def missing_roles(self, info: strawberry.Info) -> list[Role]:
        template = await info.context.loaders.role_template.load(self.row.role_template_id)
        assert template is not None
        counts = Counter(m.role_id for m in await self._members(info) if not m.is_removed)
        roles = await info.context.loaders.role.load_many(missing_roles(template.entries, counts))
        return [Role.from_row(r) for r in roles if r is not None]


async def look_ahead(loaders: Any, groups: list[group_store.BuyingGroup],
                     paths: frozenset[str]) -> None:
    """Loads at once what the selected nested fields of a page of groups will ask for, so
    they answer without waiting: one statement per kind, as the loaders batch them (members
    bring their people and roles, templates their roles)."""
    loads = []
    if "account" in paths:
        loads.append(load_ahead(loaders.account, {g.account_id for g in groups}))
    if "solutionInterest" in paths:
        loads.append(load_ahead(loaders.solution_interest,
                                {g.solution_interest_id for g in groups}))
    if paths & {"roleTemplate", "roles", "missingRoles"}:
        loads.append(load_ahead(loaders.role_template, {g.role_template_id for g in groups}))
    if paths & {"members", "roles", "missingRoles"}:
        loads.append(load_ahead(loaders.group_members, [g.id for g in groups]))
    if "stage" in paths:
        loads.append(load_ahead(loaders.stage,
                                {g.stage_id for g in groups if g.stage_id is not None}))
    if loads:
        await asyncio.gather(*loads)


# The nested fields a browse page selects, answered at once from what it loaded ahead.

@lean("BuyingGroup", "account")
def _group_account(group: BuyingGroup, context: Any) -> Account:
    return shared(context.loaders.account, group.row.account_id, _account)


@lean("BuyingGroup", "solutionInterest")
def _group_interest(group: BuyingGroup, context: Any) -> SolutionInterest:
    return shared(context.loaders.solution_interest, group.row.solution_interest_id,
                  _interest)


@lean("BuyingGroup", "roleTemplate")
def _group_template(group: BuyingGroup, context: Any) -> RoleTemplate:
    return shared(context.loaders.role_template, group.row.role_template_id, _template)


@lean("BuyingGroup", "members")
def _group_members(group: BuyingGroup, context: Any, role_id: relay.GlobalID | str | None = None,
                   include_removed: bool = False, first: int = 50, after: str | None = None
                   ) -> Connection[BuyingGroupMember]:
    wanted = decode_id(role_id, "Role", ["roleId"]) if role_id is not None else None

    def page(rows: list[group_store.Member]) -> Connection[BuyingGroupMember]:
        if wanted is not None:
            rows = [m for m in rows if m.role_id == wanted]
        if not include_removed:
            rows = [m for m in rows if not m.is_removed]
        return connection_from_list(rows, BuyingGroupMember.from_row, lambda m: m.person_id,
                                    first=first, after=after,
                                    maximum=context.settings.max_page_size)

    return ready(context.loaders.group_members, group.row.id, page)


@lean("BuyingGroup", "roles")
def _group_roles(group: BuyingGroup, context: Any) -> list[BuyingGroupRole]:
    loaders = context.loaders
    return ready_all([(loaders.role_template, group.row.role_template_id),
                      (loaders.group_members, group.row.id)], _roles)


@lean("BuyingGroup", "stage")
def _group_stage(group: BuyingGroup, context: Any) -> Stage | None:
    if group.row.stage_id is None:
        return None
    return shared(context.loaders.stage, group.row.stage_id, _stage)


@lean("BuyingGroupRole", "role")
def _role_role(slot: BuyingGroupRole, context: Any) -> Role:
    return shared(context.loaders.role, slot.role_id, _role)


@lean("BuyingGroupRole", "members")
def _role_members(slot: BuyingGroupRole, context: Any, first: int = 10
                  ) -> list[BuyingGroupMember]:
    return slot.active[:check_first(first, context.settings.max_page_size)]


@lean("BuyingGroupMember", "person")
def _member_person(member: BuyingGroupMember, context: Any) -> Person:
    # Memberships go with their person.
    return shared(context.loaders.person, member.row.person_id, _person)


@lean("BuyingGroupMember", "role")
def _member_role(member: BuyingGroupMember, context: Any) -> Role:
    return shared(context.loaders.role, member.row.role_id, _role)


@lean("BuyingGroupMember", "buyingGroup")
def _member_group(member: BuyingGroupMember, context: Any) -> BuyingGroup:
    return shared(context.loaders.buying_group, member.row.buying_group_id, _group)


_account = existing(Account.from_row)
_interest = existing(SolutionInterest.from_row)
_template = existing(RoleTemplate.from_row)
_role = existing(Role.from_row)
_person = existing(Person.from_row)


def _stage(row: Any | None) -> Stage | None:
    return Stage.from_row(row) if row else None


def _group(row: Any | None) -> BuyingGroup:
    assert row is not None
    return BuyingGroup.from_row(row)


def _roles(template: Any, members: list[group_store.Member]) -> list[BuyingGroupRole]:
    """Each role of the group's template with its active members."""
    assert template is not None
    by_role: dict[UUID, list[group_store.Member]] = {}
    for member in members:
        if not member.is_removed:
            by_role.setdefault(member.role_id, []).append(member)
    percents = weight_percents(tuple(e.weighting for e in template.entries))
    result = []
    for entry, percent in zip(template.entries, percents, strict=True):
        in_role = by_role.get(entry.role_id, [])
        result.append(BuyingGroupRole(
            weighting=Weighting(entry.weighting), weight_percent=percent,
            members_required=entry.members_required,
            counts_toward_completeness=entry.counts_toward_completeness,
            member_count=len(in_role),
            active=[BuyingGroupMember.from_row(m) for m in in_role],
            is_filled=len(in_role) >= entry.members_required, role_id=entry.role_id,
        ))
    return result


# --- browse ----------------------------------------------------------------------------------


