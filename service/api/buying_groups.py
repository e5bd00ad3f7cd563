"""Buying groups through GraphQL: browse, membership, status, and the jobs that generate and
maintain them."""

from __future__ import annotations

import enum
import logging
from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import strawberry
from strawberry import relay

from service.api import engagement as engagement_api
from service.api.accounts import Account
from service.api.errors import ErrorCode, UserError, user_error
from service.api.jobs import BuyingGroupJob, BuyingGroupJobStatus, queue_job
from service.api.nodes import convert_all, decode_id, load_nodes, parse_uuid
from service.api.pagination import (
    Connection,
    check_first,
    connection_from_list,
    created_at_id_key,
    cursor_number,
    decode_cursor,
    to_connection,
)
from service.api.people import Person
from service.api.permissions import RequireWrite
from service.api.role_templates import RoleTemplate, Weighting
from service.api.roles import Role, role_by_id
from service.api.solution_interests import SolutionInterest
from service.api.values import moment
from service.domain.completeness import missing_roles
from service.domain.membership import MAX_STATUS, may_change
from service.domain.stages import allows as allows_move
from service.domain.templates import role_weights, round_half_up, weight_percent
from service.events import Event, EventKind, publish, stage_changes
from service.store import account_lists as list_store
from service.store import buying_groups as group_store
from service.store import jobs as job_store
from service.store import people as people_store
from service.store import role_templates as template_store
from service.store import solution_interests as interest_store
from service.store import stages as stage_store
from service.store.jobs import JobKind
from service.store.paging import Page

if TYPE_CHECKING:
    from service.api.stages import Stage

log = logging.getLogger(__name__)


@strawberry.enum(description="Who last changed a membership: MANUAL > API > SYSTEM.")
class MemberSource(enum.Enum):
    MANUAL = "MANUAL"
    API = "API"
    SYSTEM = "SYSTEM"


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

    @strawberry.field
    async def person(self, info: strawberry.Info) -> Person:
        person = await info.context.loaders.person.load(self.row.person_id)
        assert person is not None  # memberships go with their person
        return Person.from_row(person)

    @strawberry.field
    async def role(self, info: strawberry.Info) -> Role:
        return await role_by_id(info, self.row.role_id)

    @strawberry.field
    async def buying_group(self, info: strawberry.Info) -> BuyingGroup:
        group = await info.context.loaders.buying_group.load(self.row.buying_group_id)
        assert group is not None
        return BuyingGroup.from_row(group)


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
    async def role(self, info: strawberry.Info) -> Role:
        return await role_by_id(info, self.role_id)

    @strawberry.field(description="The first `first` (at most 100) active members; "
                      "memberCount tells how many there are.")
    def members(self, info: strawberry.Info, first: int = 10) -> list[BuyingGroupMember]:
        return self.active[:check_first(first, info.context.settings.max_page_size)]


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
    computed_at: datetime | None
    row: strawberry.Private[group_store.BuyingGroup]

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


@strawberry.enum(description="Who moved a group: a user, an integration, an entry rule, "
                 "or the system (the entry stage of a new group).")
class StageChangedBy(enum.Enum):
    USER = "USER"
    INTEGRATION = "INTEGRATION"
    RULE = "RULE"
    SYSTEM = "SYSTEM"


@strawberry.type(name="StageChange")
class StageChangeType:
    by: StageChangedBy
    at: datetime
    from_stage_id: strawberry.Private[UUID | None]
    to_stage_id: strawberry.Private[UUID]

    @strawberry.field(name="from")
    async def from_(self, info: strawberry.Info
                    ) -> Annotated[Stage, strawberry.lazy("service.api.stages")] | None:
        from service.api.stages import stage_by_id

        return await stage_by_id(info, self.from_stage_id)

    @strawberry.field
    async def to(self, info: strawberry.Info
                 ) -> Annotated[Stage, strawberry.lazy("service.api.stages")] | None:
        from service.api.stages import stage_by_id

        return await stage_by_id(info, self.to_stage_id)


@strawberry.type(description="The people who decide one purchase at one account.")
class BuyingGroup(relay.Node):
    id: relay.NodeID[str]
    name: str
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
            id=str(row.id), name=row.name, status=row.status, member_count=row.member_count,
            completeness=CompletenessScore(
                value=float(row.completeness), display=int(round_half_up(row.completeness)),
                roles_filled=row.roles_filled, roles_total=row.roles_total,
                computed_at=row.completeness_computed_at),
            engagement=EngagementScore(
                value=float(row.engagement), display=int(round_half_up(row.engagement)),
                computed_at=row.engagement_computed_at, row=row),
            created_at=row.created_at, updated_at=row.updated_at, row=row,
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        return convert_all(await load_nodes(info.context.loaders.buying_group, node_ids),
                           cls.from_row)

    @strawberry.field
    async def account(self, info: strawberry.Info) -> Account:
        row = await info.context.loaders.account.load(self.row.account_id)
        assert row is not None
        return Account.from_row(row)

    @strawberry.field
    async def solution_interest(self, info: strawberry.Info) -> SolutionInterest:
        row = await info.context.loaders.solution_interest.load(self.row.solution_interest_id)
        assert row is not None
        return SolutionInterest.from_row(row)

    @strawberry.field
    async def role_template(self, info: strawberry.Info) -> RoleTemplate:
        row = await info.context.loaders.role_template.load(self.row.role_template_id)
        assert row is not None
        return RoleTemplate.from_row(row)

    async def _members(self, info: strawberry.Info) -> list[group_store.Member]:
        members: list[group_store.Member] = await info.context.loaders.group_members.load(
            self.row.id)
        return members

    @strawberry.field(description="Members, active first; removed ones only when asked for.")
    async def members(
        self, info: strawberry.Info, role_id: relay.GlobalID | None = None,
        include_removed: bool = False, first: int = 50, after: str | None = None,
    ) -> Connection[BuyingGroupMember]:
        rows = await self._members(info)
        if role_id is not None:
            wanted = parse_uuid(role_id.node_id) if role_id.type_name == "Role" else None
            rows = [m for m in rows if m.role_id == wanted]
        if not include_removed:
            rows = [m for m in rows if not m.is_removed]
        return connection_from_list(rows, BuyingGroupMember.from_row, lambda m: m.person_id,
                                    first=first, after=after,
                                    maximum=info.context.settings.max_page_size)

    @strawberry.field(description="Each role of the template with its active members.")
    async def roles(self, info: strawberry.Info) -> list[BuyingGroupRole]:
        template = await info.context.loaders.role_template.load(self.row.role_template_id)
        assert template is not None
        members = [m for m in await self._members(info) if not m.is_removed]
        weights = role_weights([e.weighting for e in template.entries])
        result = []
        for entry, weight in zip(template.entries, weights, strict=True):
            in_role = [m for m in members if m.role_id == entry.role_id]
            result.append(BuyingGroupRole(
                weighting=Weighting(entry.weighting), weight_percent=weight_percent(weight),
                members_required=entry.members_required,
                counts_toward_completeness=entry.counts_toward_completeness,
                member_count=len(in_role),
                active=[BuyingGroupMember.from_row(m) for m in in_role],
                is_filled=len(in_role) >= entry.members_required, role_id=entry.role_id,
            ))
        return result

    @strawberry.field(description="The current stage (null without a stage model).")
    async def stage(self, info: strawberry.Info
                    ) -> Annotated[Stage, strawberry.lazy("service.api.stages")] | None:
        from service.api.stages import stage_by_id

        return await stage_by_id(info, self.row.stage_id)

    @strawberry.field(description="The last `last` (at most 100) stage changes, oldest first.")
    async def stage_history(self, info: strawberry.Info, last: int = 50
                            ) -> list[StageChangeType]:
        count = check_first(last, info.context.settings.max_page_size)
        changes = await info.context.loaders.stage_history.load(self.row.id)
        return [StageChangeType(from_stage_id=c.from_stage_id, to_stage_id=c.to_stage_id,
                                by=StageChangedBy(c.changed_by), at=c.changed_at)
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


def completeness_events(before: group_store.BuyingGroup, after: group_store.BuyingGroup
                        ) -> list[Event]:
    if before.completeness == after.completeness:
        return []
    return [Event.of(EventKind.COMPLETENESS_CHANGED, after.tenant_id, after.id,
                     solution_interest_id=after.solution_interest_id,
                     previous_value=float(before.completeness),
                     new_value=float(after.completeness))]


def stage_global_id(stage_id: UUID | None) -> str | None:
    return str(relay.GlobalID("Stage", str(stage_id))) if stage_id else None


# --- browse ----------------------------------------------------------------------------------


@strawberry.input(description="A range of scores; bounds left out are open.")
class ScoreRange:
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None

    def to_store(self) -> group_store.Range:
        def d(v: float | None) -> Decimal | None:
            return Decimal(str(v)) if v is not None else None
        return group_store.Range(d(self.gt), d(self.gte), d(self.lt), d(self.lte))


@strawberry.input
class BuyingGroupFilter:
    search: str | None = strawberry.field(default=None, description="Part of the name.")
    solution_interest_ids: list[relay.GlobalID] | None = None
    account_ids: list[relay.GlobalID] | None = None
    stage_ids: list[relay.GlobalID] | None = None
    missing_role_ids: list[relay.GlobalID] | None = strawberry.field(
        default=None,
        description="Groups whose template has each of these roles with fewer active members "
        "than required.",
    )
    completeness_score: ScoreRange | None = None
    engagement_score: ScoreRange | None = None
    status: list[str] | None = strawberry.field(
        default=None, description="Any of these statuses (case-insensitive)."
    )


@strawberry.enum
class BuyingGroupOrderField(enum.Enum):
    NAME = "NAME"
    COMPLETENESS_SCORE = "COMPLETENESS_SCORE"
    ENGAGEMENT_SCORE = "ENGAGEMENT_SCORE"
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"


@strawberry.enum
class OrderDirection(enum.Enum):
    ASC = "ASC"
    DESC = "DESC"


@strawberry.input
class BuyingGroupOrder:
    field: BuyingGroupOrderField = BuyingGroupOrderField.NAME
    direction: OrderDirection = OrderDirection.ASC


def _ids(values: list[relay.GlobalID] | None, type_name: str, field: str) -> list[UUID]:
    return [decode_id(v, type_name, ["filter", field, str(i)]) for i, v in enumerate(values or [])]


def to_group_filter(f: BuyingGroupFilter | None) -> group_store.GroupFilter:
    if f is None:
        return group_store.GroupFilter()
    return group_store.GroupFilter(
        search=f.search,
        solution_interest_ids=_ids(f.solution_interest_ids, "SolutionInterest",
                                   "solutionInterestIds"),
        account_ids=_ids(f.account_ids, "Account", "accountIds"),
        stage_ids=[parse_uuid(s.node_id) or UUID(int=0) for s in f.stage_ids or []],
        missing_role_ids=_ids(f.missing_role_ids, "Role", "missingRoleIds"),
        completeness=f.completeness_score.to_store() if f.completeness_score else None,
        engagement=f.engagement_score.to_store() if f.engagement_score else None,
        statuses=f.status or (),
    )


def _cursor_parser(order: str) -> Any:
    def parse(raw: list[Any]) -> tuple[Any, UUID]:
        value, id_ = raw
        if order == "NAME":
            if not isinstance(value, str):
                raise ValueError("name")
            return value, UUID(id_)
        if order in ("CREATED_AT", "UPDATED_AT"):
            return moment(value), UUID(id_)
        return cursor_number(value), UUID(id_)

    return parse


async def buying_groups(
    info: strawberry.Info, filter: BuyingGroupFilter | None = None,
    order_by: BuyingGroupOrder | None = None, first: int = 20, after: str | None = None,
) -> Connection[BuyingGroup]:
    context = info.context
    limit = check_first(first, context.settings.max_page_size)
    order = (order_by or BuyingGroupOrder()).field.value
    descending = order_by is not None and order_by.direction is OrderDirection.DESC
    cursor = decode_cursor(after, _cursor_parser(order))
    tenant_id = context.tenant_principal.tenant_id
    async with context.read() as conn:
        groups, has_next, total = await group_store.list_groups(
            conn, tenant_id, to_group_filter(filter), order=order, descending=descending,
            limit=limit, after=cursor)
    for group in groups:  # the page is already loaded: spare its nested fields a lookup
        context.loaders.buying_group.prime(group.id, group)
    return to_connection(
        Page(groups, has_next, total), BuyingGroup.from_row,
        lambda g: (str(v) if isinstance(v := group_store.sort_value(g, order), Decimal) else v,
                   g.id),
        has_previous=cursor is not None,
    )


@strawberry.input
class BuyingGroupJobFilter:
    solution_interest_id: relay.GlobalID | None = None
    status: BuyingGroupJobStatus | None = None
    kind: JobKind | None = None


async def buying_group_jobs(
    info: strawberry.Info, filter: BuyingGroupJobFilter | None = None, first: int = 20,
    after: str | None = None,
) -> Connection[BuyingGroupJob]:
    context = info.context
    limit = check_first(first, context.settings.max_page_size)

    cursor = decode_cursor(after, created_at_id_key)
    interest_id = (decode_id(filter.solution_interest_id, "SolutionInterest",
                             ["filter", "solutionInterestId"])
                   if filter and filter.solution_interest_id else None)
    async with context.read() as conn:
        page = await job_store.list_jobs(
            conn, context.tenant_principal.tenant_id, solution_interest_id=interest_id,
            status=filter.status.value if filter and filter.status else None,
            kinds=[filter.kind.value] if filter and filter.kind
            else [k.value for k in JobKind],
            limit=limit, after=cursor)
    return to_connection(page, BuyingGroupJob.from_row, lambda j: (j.created_at, j.id),
                         has_previous=cursor is not None)


# --- mutations -------------------------------------------------------------------------------


@strawberry.input
class CreateBuyingGroupsInput:
    solution_interest_id: relay.GlobalID
    account_list_id: relay.GlobalID


@strawberry.input
class MaintainBuyingGroupsInput:
    solution_interest_id: relay.GlobalID


@strawberry.type
class BuyingGroupJobPayload:
    job: BuyingGroupJob | None
    user_errors: list[UserError]


@strawberry.input
class BuyingGroupJobIdInput:
    id: relay.GlobalID


@strawberry.type
class DeleteBuyingGroupJobPayload:
    deleted_job_id: relay.GlobalID | None
    user_errors: list[UserError]


@strawberry.input
class AssignBuyingGroupMemberInput:
    buying_group_id: relay.GlobalID
    person_id: relay.GlobalID
    role_id: relay.GlobalID


@strawberry.input
class RemoveBuyingGroupMemberInput:
    buying_group_id: relay.GlobalID
    person_id: relay.GlobalID


@strawberry.input
class SetBuyingGroupStatusInput:
    buying_group_id: relay.GlobalID
    status: str | None = strawberry.field(description="At most 50 characters; null clears it.")


@strawberry.input
class SetBuyingGroupStageInput:
    buying_group_id: relay.GlobalID
    stage_id: relay.GlobalID


@strawberry.input
class DeleteBuyingGroupInput:
    id: relay.GlobalID


@strawberry.type
class BuyingGroupPayload:
    buying_group: BuyingGroup | None
    user_errors: list[UserError]


@strawberry.type
class MembershipPayload:
    buying_group: BuyingGroup | None
    member: BuyingGroupMember | None
    user_errors: list[UserError]


@strawberry.type
class DeleteBuyingGroupPayload:
    deleted_buying_group_id: relay.GlobalID | None
    user_errors: list[UserError]


def _job_error(path: list[str], code: ErrorCode, message: str) -> BuyingGroupJobPayload:
    return BuyingGroupJobPayload(job=None, user_errors=[user_error(path, code, message)])


def _member_error(path: list[str], code: ErrorCode, message: str) -> MembershipPayload:
    return MembershipPayload(buying_group=None, member=None,
                             user_errors=[user_error(path, code, message)])


def _id_of(gid: relay.GlobalID, type_name: str) -> UUID | None:
    return parse_uuid(gid.node_id) if gid.type_name == type_name else None


@strawberry.type
class BuyingGroupMutations:
    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="Queue a job that creates a buying group for every account "
                         "of the list that has none for this solution interest yet.")
    async def create_buying_groups(
        self, info: strawberry.Info, input: CreateBuyingGroupsInput
    ) -> BuyingGroupJobPayload:
        tenant_id = info.context.tenant_principal.tenant_id
        interest_id = _id_of(input.solution_interest_id, "SolutionInterest")
        list_id = _id_of(input.account_list_id, "AccountList")
        async with info.context.write() as conn:
            errors = []
            if interest_id is None or not await interest_store.interests_by_ids(
                    conn, [interest_id]):
                errors.append(user_error(["input", "solutionInterestId"], ErrorCode.NOT_FOUND,
                                         "no such solution interest"))
            if list_id is None or not await list_store.lists_by_ids(conn, [list_id]):
                errors.append(user_error(["input", "accountListId"], ErrorCode.NOT_FOUND,
                                         "no such account list"))
            if errors or interest_id is None:
                return BuyingGroupJobPayload(job=None, user_errors=errors)
            job = await job_store.create_job(
                conn, tenant_id, JobKind.CREATE,
                {"solution_interest_id": str(interest_id), "account_list_id": str(list_id)},
                solution_interest_id=interest_id)
        await queue_job(info, job)
        return BuyingGroupJobPayload(job=BuyingGroupJob.from_row(job), user_errors=[])

    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="Queue a job that re-applies the template's rules to the "
                         "solution interest's existing groups (as the daily run does).")
    async def maintain_buying_groups(
        self, info: strawberry.Info, input: MaintainBuyingGroupsInput
    ) -> BuyingGroupJobPayload:
        tenant_id = info.context.tenant_principal.tenant_id
        interest_id = _id_of(input.solution_interest_id, "SolutionInterest")
        async with info.context.write() as conn:
            if interest_id is None or not await interest_store.interests_by_ids(
                    conn, [interest_id]):
                return _job_error(["input", "solutionInterestId"], ErrorCode.NOT_FOUND,
                                  "no such solution interest")
            job = await job_store.create_job(
                conn, tenant_id, JobKind.MAINTAIN, {"solution_interest_id": str(interest_id)},
                solution_interest_id=interest_id)
        await queue_job(info, job)
        return BuyingGroupJobPayload(job=BuyingGroupJob.from_row(job), user_errors=[])

    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="Stop a queued or running job; what it did stays done.")
    async def cancel_buying_group_job(
        self, info: strawberry.Info, input: BuyingGroupJobIdInput
    ) -> BuyingGroupJobPayload:
        job_id = decode_id(input.id, "BuyingGroupJob", ["input", "id"])
        async with info.context.write() as conn:
            job = await job_store.cancel_job(conn, job_id)
            if job is None:
                current = await job_store.get_job(conn, job_id)
                if current is None:
                    return _job_error(["input", "id"], ErrorCode.NOT_FOUND, "no such job")
                return _job_error(["input", "id"], ErrorCode.INVALID_VALUE,
                                  f"the job has already ended ({current.status})")
        return BuyingGroupJobPayload(job=BuyingGroupJob.from_row(job), user_errors=[])

    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="Delete a job record; the groups it created stay.")
    async def delete_buying_group_job(
        self, info: strawberry.Info, input: BuyingGroupJobIdInput
    ) -> DeleteBuyingGroupJobPayload:
        job_id = decode_id(input.id, "BuyingGroupJob", ["input", "id"])
        async with info.context.write() as conn:
            deleted = await job_store.delete_job(conn, job_id)
        if not deleted:
            return DeleteBuyingGroupJobPayload(deleted_job_id=None, user_errors=[
                user_error(["input", "id"], ErrorCode.NOT_FOUND, "no such job")])
        return DeleteBuyingGroupJobPayload(deleted_job_id=input.id, user_errors=[])

    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="Put a person of the group's account in a role (or move "
                         "them to another role).")
    async def assign_buying_group_member(
        self, info: strawberry.Info, input: AssignBuyingGroupMemberInput
    ) -> MembershipPayload:
        principal = info.context.tenant_principal
        group_id = decode_id(input.buying_group_id, "BuyingGroup", ["input", "buyingGroupId"])
        person_id = _id_of(input.person_id, "Person") or UUID(int=0)
        role_id = _id_of(input.role_id, "Role") or UUID(int=0)
        async with info.context.write() as conn:
            group = await group_store.lock_group(conn, group_id)
            if group is None:
                return _member_error(["input", "buyingGroupId"], ErrorCode.NOT_FOUND,
                                     "no such buying group")
            person = (await people_store.people_by_ids(conn, [person_id])).get(person_id)
            if person is None:
                return _member_error(["input", "personId"], ErrorCode.NOT_FOUND, "no such person")
            if person.account_id != group.account_id:
                return _member_error(["input", "personId"], ErrorCode.PERSON_NOT_IN_ACCOUNT,
                                     "the person belongs to another account than the group")
            template = await template_store.get_template(conn, group.role_template_id)
            if template is None or role_id not in {e.role_id for e in template.entries}:
                return _member_error(["input", "roleId"], ErrorCode.ROLE_NOT_IN_TEMPLATE,
                                     "the group's role template has no such role")
            current = await group_store.membership(conn, group.id, person_id)
            if current and not may_change(current.source, principal.member_source):
                return _member_error(["input", "personId"], ErrorCode.OVERRIDDEN,
                                     f"this membership was set by a {current.source} change, "
                                     "which an integration cannot override")
            member = await group_store.assign_member(
                conn, group, person_id, role_id, principal.member_source)
            moves = await stage_store.apply_entry_rules(conn, group.tenant_id, [group.id])
            fresh = await group_store.lock_group(conn, group.id)
        assert fresh is not None
        await publish(info.context.services.redis, [
            Event.of(EventKind.MEMBER_ASSIGNED, group.tenant_id, group.id,
                     solution_interest_id=group.solution_interest_id, person_id=person_id,
                     role_id=role_id,
                     previous_value=str(current.role_id) if current and not current.is_removed
                     else None, new_value=str(role_id)),
            *completeness_events(group, fresh), *stage_changes(group.tenant_id, moves)])
        info.context.loaders.reset()
        return MembershipPayload(buying_group=BuyingGroup.from_row(fresh),
                                 member=BuyingGroupMember.from_row(member), user_errors=[])

    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="Take a person out of the group; the record stays, marked "
                         "removed, and maintenance will not add them back.")
    async def remove_buying_group_member(
        self, info: strawberry.Info, input: RemoveBuyingGroupMemberInput
    ) -> MembershipPayload:
        principal = info.context.tenant_principal
        group_id = decode_id(input.buying_group_id, "BuyingGroup", ["input", "buyingGroupId"])
        person_id = _id_of(input.person_id, "Person")
        async with info.context.write() as conn:
            group = await group_store.lock_group(conn, group_id)
            if group is None:
                return _member_error(["input", "buyingGroupId"], ErrorCode.NOT_FOUND,
                                     "no such buying group")
            current = (await group_store.membership(conn, group.id, person_id)
                       if person_id else None)
            if current is None or current.is_removed:
                return _member_error(["input", "personId"], ErrorCode.NOT_A_MEMBER,
                                     "the person is not an active member of the group")
            if not may_change(current.source, principal.member_source):
                return _member_error(["input", "personId"], ErrorCode.OVERRIDDEN,
                                     f"this membership was set by a {current.source} change, "
                                     "which an integration cannot override")
            member = await group_store.remove_member(conn, group, current.person_id,
                                                     principal.member_source)
            moves = await stage_store.apply_entry_rules(conn, group.tenant_id, [group.id])
            fresh = await group_store.lock_group(conn, group.id)
        assert fresh is not None
        await publish(info.context.services.redis, [
            Event.of(EventKind.MEMBER_REMOVED, group.tenant_id, group.id,
                     solution_interest_id=group.solution_interest_id,
                     person_id=current.person_id, role_id=current.role_id,
                     previous_value=str(current.role_id)),
            *completeness_events(group, fresh), *stage_changes(group.tenant_id, moves)])
        info.context.loaders.reset()
        return MembershipPayload(buying_group=BuyingGroup.from_row(fresh),
                                 member=BuyingGroupMember.from_row(member), user_errors=[])

    @strawberry.mutation(permission_classes=[RequireWrite])
    async def set_buying_group_status(
        self, info: strawberry.Info, input: SetBuyingGroupStatusInput
    ) -> BuyingGroupPayload:
        group_id = decode_id(input.buying_group_id, "BuyingGroup", ["input", "buyingGroupId"])
        status = (input.status or "").strip() or None
        if status is not None and len(status) > MAX_STATUS:
            return BuyingGroupPayload(buying_group=None, user_errors=[user_error(
                ["input", "status"], ErrorCode.TOO_LONG,
                f"a status is at most {MAX_STATUS} characters")])
        async with info.context.write() as conn:
            before = await group_store.lock_group(conn, group_id)
            row = await group_store.set_status(conn, group_id, status) if before else None
        if row is None or before is None:
            return BuyingGroupPayload(buying_group=None, user_errors=[user_error(
                ["input", "buyingGroupId"], ErrorCode.NOT_FOUND, "no such buying group")])
        if before.status != row.status:
            await publish(info.context.services.redis, [Event.of(
                EventKind.STATUS_CHANGED, row.tenant_id, row.id,
                solution_interest_id=row.solution_interest_id, previous_value=before.status,
                new_value=row.status)])
        return BuyingGroupPayload(buying_group=BuyingGroup.from_row(row), user_errors=[])

    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="Move a group to a stage its stage model allows next.")
    async def set_buying_group_stage(
        self, info: strawberry.Info, input: SetBuyingGroupStageInput
    ) -> BuyingGroupPayload:
        principal = info.context.tenant_principal
        group_id = decode_id(input.buying_group_id, "BuyingGroup", ["input", "buyingGroupId"])
        stage_id = _id_of(input.stage_id, "Stage") or UUID(int=0)

        def failed(path: str, code: ErrorCode, message: str) -> BuyingGroupPayload:
            return BuyingGroupPayload(buying_group=None,
                                      user_errors=[user_error(["input", path], code, message)])

        async with info.context.write() as conn:
            group = await group_store.lock_group(conn, group_id)
            if group is None:
                return failed("buyingGroupId", ErrorCode.NOT_FOUND, "no such buying group")
            interest = (await interest_store.interests_by_ids(
                conn, [group.solution_interest_id]))[group.solution_interest_id]
            if interest.stage_model_id is None:
                return failed("buyingGroupId", ErrorCode.NO_STAGE_MODEL,
                              "the group's solution interest has no stage model")
            model = (await stage_store.models_by_ids(conn, [interest.stage_model_id]))[
                interest.stage_model_id]
            target = next((s for s in model.stages if s.id == stage_id), None)
            if target is None:
                return failed("stageId", ErrorCode.UNKNOWN_STAGE,
                              f"no such stage in the stage model {model.name!r}")
            current = next((s for s in model.stages if s.id == group.stage_id), None)
            specs = {s.key: s.spec() for s in model.stages}
            if not allows_move(specs, current.key if current else None, target.key):
                here = repr(current.name) if current else "no stage"
                allowed = ", ".join(repr(specs[k].name) for k in
                                    (current.transitions_to if current else
                                     [s.key for s in model.stages if s.kind == "ENTRY"])
                                    if k in specs) or "none"
                return failed("stageId", ErrorCode.TRANSITION_NOT_ALLOWED,
                              f"the stage model does not allow a move from {here} to "
                              f"{target.name!r}; allowed: {allowed}")
            await stage_store.move_group(
                conn, principal.tenant_id, group.id, group.stage_id, target.id,
                "INTEGRATION" if principal.is_integration else "USER", principal.api_key_id)
            fresh = await group_store.lock_group(conn, group.id)
        assert fresh is not None
        await publish(info.context.services.redis, [Event.of(
            EventKind.STAGE_CHANGED, group.tenant_id, group.id,
            solution_interest_id=group.solution_interest_id,
            previous_value=stage_global_id(group.stage_id), new_value=stage_global_id(target.id))])
        info.context.loaders.reset()
        return BuyingGroupPayload(buying_group=BuyingGroup.from_row(fresh), user_errors=[])

    @strawberry.mutation(permission_classes=[RequireWrite])
    async def delete_buying_group(
        self, info: strawberry.Info, input: DeleteBuyingGroupInput
    ) -> DeleteBuyingGroupPayload:
        group_id = decode_id(input.id, "BuyingGroup", ["input", "id"])
        async with info.context.write() as conn:
            group = await group_store.lock_group(conn, group_id)
            deleted = await group_store.delete_group(conn, group_id) if group else False
        if group is not None and deleted:
            await publish(info.context.services.redis, [Event.of(
                EventKind.DELETED, group.tenant_id, group.id,
                solution_interest_id=group.solution_interest_id, previous_value=group.name)])
        if not deleted:
            return DeleteBuyingGroupPayload(deleted_buying_group_id=None, user_errors=[
                user_error(["input", "id"], ErrorCode.NOT_FOUND, "no such buying group")])
        return DeleteBuyingGroupPayload(deleted_buying_group_id=input.id, user_errors=[])

