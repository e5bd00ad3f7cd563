"""Engagement through GraphQL: the explained score, score history, activity sync and rescoring."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from operator import attrgetter
from typing import TYPE_CHECKING, Annotated, Any, cast
from uuid import UUID

import strawberry
from strawberry import relay

from service.api.execution.lookahead import ready, row_field
from service.api.execution.values import moment
from service.api.jobs import BuyingGroupJobPayload, started
from service.api.nodes import decode_id, graph_type
from service.api.pagination import (
    Connection,
    SortKeys,
    check_first,
    decode_cursor,
    make_connection,
)
from service.api.permissions import RequireWrite
from service.api.role_templates import Weighting
from service.api.roles import Role, role_by_id
from service.api.scoring import ActivityType
from service.domain.engagement import Engagement, engagement
from service.domain.templates import weight_percent
from service.store import activities as activity_store
from service.store import activity_sync as sync_store
from service.store import buying_groups as group_store
from service.store import engagement as engagement_store
from service.store.paging import NOT_COUNTED, Page
from service.usecases import jobs

if TYPE_CHECKING:
    from service.api.people import Person


@strawberry.type
class EngagementDay:
    date: date
    count: int
    capped: int


@strawberry.type
class EngagementActivity:
    activity_type: ActivityType
    raw_count: int
    capped_count: int
    points: float
    days: list[EngagementDay]


@strawberry.type
class EngagementMember:
    points: float
    activities: list[EngagementActivity]
    person_id: strawberry.Private[UUID]

    @strawberry.field
    async def person(self, info: strawberry.Info
                     ) -> Annotated[Person, strawberry.lazy("service.api.people")]:
        row = await info.context.loaders.person.load(self.person_id)
        assert row is not None
        person: Person = graph_type(info, "Person").from_row(row)
        return person


@strawberry.type(description="One role's share of the score: points x weight = weightedPoints.")
class EngagementRole:
    weighting: Weighting
    weight_percent: float
    points: float
    weighted_points: float
    members: list[EngagementMember]
    role_id: strawberry.Private[UUID]

    @strawberry.field
    async def role(self, info: strawberry.Info) -> Role:
        return await role_by_id(info, self.role_id)


async def explain(info: strawberry.Info, group: group_store.BuyingGroup) -> Engagement:
    """The score recomputed with its breakdown by the reference implementation."""
    context = info.context
    template = await context.loaders.role_template.load(group.role_template_id)
    members = await context.loaders.group_members.load(group.id)
    assert template is not None
    active = {m.person_id: m.role_id for m in members if not m.is_removed}
    inputs = await context.loaders.scoring_inputs.load(context.tenant_principal.tenant_id)
    activity = [a for found in await context.loaders.person_activity.load_many(list(active))
                for a in found]
    start, end = inputs.window
    return engagement(template.entries, active, activity, inputs.types, start, end)


async def breakdown(info: strawberry.Info, group: group_store.BuyingGroup
                    ) -> list[EngagementRole]:
    result = await explain(info, group)
    type_ids = list({a.activity_type_id for r in result.roles for m in r.members
                     for a in m.activities})
    types = {t.id: t for t in await info.context.loaders.activity_type.load_many(type_ids)
             if t is not None}
    return [
        EngagementRole(
            weighting=Weighting(r.weighting), weight_percent=weight_percent(r.weight),
            points=float(r.points), weighted_points=float(r.weighted_points), role_id=r.role_id,
            members=[EngagementMember(
                points=float(m.points), person_id=m.person_id,
                activities=[EngagementActivity(
                    activity_type=ActivityType.from_row(types[a.activity_type_id]),
                    raw_count=a.raw_count, capped_count=a.capped_count,
                    points=float(a.points),
                    days=[EngagementDay(date=d.day, count=d.count, capped=d.capped)
                          for d in a.days])
                    for a in m.activities])
                for m in r.members],
        )
        for r in result.roles
    ]


async def window(info: strawberry.Info) -> tuple[date, date]:
    inputs: engagement_store.ScoringInputs = await info.context.loaders.scoring_inputs.load(
        info.context.tenant_principal.tenant_id)
    return inputs.window


@strawberry.type
class ScoreSnapshot:
    date: date
    completeness: float
    engagement: float


async def history(info: strawberry.Info, group_id: UUID, days: int) -> list[ScoreSnapshot]:
    today = (await window(info))[1]
    since = today - timedelta(days=days - 1)
    async with info.context.read() as conn:
        rows = (await engagement_store.score_history(conn, [group_id], since, today))[group_id]
    return [ScoreSnapshot(date=r["day"], completeness=float(r["completeness"]),
                          engagement=float(r["engagement"])) for r in rows]


# --- activity sync, rescoring and the activity source ------------------------------------------


@strawberry.type
class ActivitySourceInfo:
    base_url: str | None
    client_id: str | None
    has_client_secret: bool
    activity_type_ids: list[int] | None


@strawberry.type(description="An activity from the source that was skipped.")
class ActivityRejection:
    reason: str
    source_id: str | None = strawberry.field(description="Its marketoGUID (or id), if any.")
    at: datetime


@strawberry.type(description="How activity arrives from the activity-log API for this tenant.")
class ActivitySync:
    last_run_at: datetime | None
    last_success_at: datetime | None
    cursor_at: datetime | None = strawberry.field(
        description="The newest activity date stored so far.")
    activities_ingested: int = strawberry.field(
        description="Distinct activities stored so far (a running tally: retention dropping "
        "old months does not lower it).")
    activities_rejected: int = strawberry.field(
        description="Activities the source sent that could not be stored (no lead id, no "
        "source id, a date in the future or before retention, an unknown shape): skipped and "
        "counted, never fatal to a sync.")
    last_rejection: ActivityRejection | None = strawberry.field(
        description="The most recent activity skipped, and why.")
    activities_of_erased_people: int = strawberry.field(
        description="Activities the source sent for people erased here (erasePerson, "
        "eraseAccount): skipped, so an erased person never comes back, and counted.")
    last_error: str | None
    source: ActivitySourceInfo = strawberry.field(
        description="The tenant's own source; fields left null use the service defaults.")


async def activity_sync(info: strawberry.Info) -> ActivitySync:
    tenant_id = info.context.tenant_principal.tenant_id
    async with info.context.read() as conn:
        state = await sync_store.sync_state(conn, tenant_id)
        source = await sync_store.source_settings(conn, tenant_id)
    return ActivitySync(
        last_run_at=state.last_run_at, last_success_at=state.last_success_at,
        cursor_at=state.cursor_at, activities_ingested=state.activities_ingested,
        activities_rejected=state.activities_rejected,
        activities_of_erased_people=state.activities_of_erased,
        last_rejection=ActivityRejection(
            reason=state.last_rejection.reason, source_id=state.last_rejection.source_id,
            at=state.last_rejection.at) if state.last_rejection else None,
        last_error=state.last_error,
        source=ActivitySourceInfo(
            base_url=source.base_url, client_id=source.client_id,
            has_client_secret=bool(source.client_secret),
            activity_type_ids=source.activity_type_ids),
    )


@strawberry.type
class PersonActivity:
    # The columns are read from the row (lookahead.row_field): a page of people shows
    # hundreds of activities.
    activity_date: datetime = row_field("PersonActivity", "activity_date")
    source_id: str = row_field("PersonActivity", "source_id",
                               description="marketoGUID (or id) at the source.")
    source_type_id: int = row_field("PersonActivity", "source_type_id",
                                    description="The source's id for its type.")
    primary_attribute_value: str | None = row_field("PersonActivity", "primary_attribute_value")
    attributes: strawberry.scalars.JSON | None = row_field("PersonActivity", "attributes")
    row: strawberry.Private[activity_store.Activity]

    @strawberry.field(description="The catalogue entry of this activity's type; null while the "
                      "catalogue has none for it (such activity is kept, unscored).")
    async def activity_type(self, info: strawberry.Info) -> ActivityType | None:
        inputs: engagement_store.ScoringInputs = await info.context.loaders.scoring_inputs.load(
            info.context.tenant_principal.tenant_id)
        type_id = inputs.source_types.get(self.row.source_type_id)
        if type_id is None:
            return None
        row = await info.context.loaders.activity_type.load(type_id)
        return ActivityType.from_row(row) if row else None


def person_activities(context: Any, lead_id: str, first: int, after: str | None,
                      since: datetime | None, *, counted: bool = True
                      ) -> Connection[PersonActivity]:
    """A person's activities, newest first. The first page of a page of people is read for
    all of them in one statement (the loader), and answers at once when loaded ahead. Not
    `counted`: no totalCount is read (none is selected)."""
    limit = check_first(first, context.settings.max_page_size)
    if after is None:
        return ready(context.loaders.lead_activities, (lead_id, limit, since, counted),
                     _first_activity_page)
    return cast(Connection[PersonActivity],
                _later_activity_page(context, lead_id, limit, after, since, counted))


def _first_activity_page(page: Page[activity_store.Activity]) -> Connection[PersonActivity]:
    return _activity_connection(page.items, page.has_next, False, page.total_count)


async def _later_activity_page(context: Any, lead_id: str, limit: int, after: str,
                               since: datetime | None, counted: bool
                               ) -> Connection[PersonActivity]:
    def parse(raw: list[Any]) -> tuple[datetime, str]:
        return moment(raw[0]), str(raw[1])

    cursor = decode_cursor(after, parse)
    tenant_id = context.tenant_principal.tenant_id
    async with context.read() as conn:
        items, has_next = await activity_store.activities_of_lead(
            conn, tenant_id, lead_id, since=since, limit=limit, after=cursor)
        total = await activity_store.count_activities_of_lead(
            conn, tenant_id, lead_id, since) if counted else NOT_COUNTED
    return _activity_connection(items, has_next, cursor is not None, total)


def _activity_connection(items: list[activity_store.Activity], has_next: bool,
                         has_previous: bool, total: int) -> Connection[PersonActivity]:
    return make_connection(
        [PersonActivity(row=a) for a in items], SortKeys(items, _activity_key),
        has_next=has_next, has_previous=has_previous, total_count=total)


_activity_key = attrgetter("activity_date", "source_id")


@strawberry.input
class RefreshScoresInput:
    buying_group_ids: list[relay.GlobalID] | None = strawberry.field(
        default=None, description="The groups to rescore; all of them when left out.")


@strawberry.input
class SyncActivitiesInput:
    restart_from_window: bool = strawberry.field(
        default=False, description="Forget the saved cursors and read the whole scoring window "
        "again (nothing is counted twice).")




@strawberry.type
class EngagementMutations:
    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="Queue a rescoring of the given groups, or of all groups.")
    async def refresh_scores(self, info: strawberry.Info, input: RefreshScoresInput
                             ) -> BuyingGroupJobPayload:
        ids = [decode_id(gid, "BuyingGroup", ["input", "buyingGroupIds", str(i)])
               for i, gid in enumerate(input.buying_group_ids or [])]
        async with info.context.work(info) as work:
            change = await jobs.refresh_scores(work, ids)
        return started(info, change)

    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="Queue an activity sync now (it also runs every few "
                         "minutes by itself).")
    async def sync_activities(self, info: strawberry.Info,
                              input: SyncActivitiesInput | None = None
                              ) -> BuyingGroupJobPayload:
        async with info.context.work(info) as work:
            change = await jobs.sync_activities(
                work, restart_from_window=input is not None and input.restart_from_window)
        return started(info, change)
