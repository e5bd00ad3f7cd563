"""The buying-groups overview (dashboard) through GraphQL."""

from __future__ import annotations

from uuid import UUID

import strawberry
from strawberry import relay

from service.api.buying_groups import BuyingGroup
from service.api.nodes import decode_id
from service.api.roles import Role, role_by_id
from service.api.solution_interests import SolutionInterest
from service.api.stages import Stage, stage_by_id
from service.store import overview as overview_store


@strawberry.type
class SolutionInterestCount:
    count: int
    solution_interest_id: strawberry.Private[UUID]

    @strawberry.field
    async def solution_interest(self, info: strawberry.Info) -> SolutionInterest:
        row = await info.context.loaders.solution_interest.load(self.solution_interest_id)
        assert row is not None
        return SolutionInterest.from_row(row)


@strawberry.type
class StageCount:
    count: int
    stage_id: strawberry.Private[UUID | None]

    @strawberry.field(description="Null counts groups without a stage (no stage model).")
    async def stage(self, info: strawberry.Info) -> Stage | None:
        return await stage_by_id(info, self.stage_id)


@strawberry.type(description="Groups whose score lies in [from, to); the last band is "
                 "[75, 100] for completeness and [75, ∞) for engagement.")
class ScoreBand:
    from_: int = strawberry.field(name="from")
    to: int
    count: int


@strawberry.type
class RoleCoverage:
    groups: int = strawberry.field(description="Groups whose template has this role.")
    filled: int = strawberry.field(description="Of those, groups where the role is filled.")
    share: float = strawberry.field(description="filled / groups, 0 to 1.")
    role_id: strawberry.Private[UUID]

    @strawberry.field
    async def role(self, info: strawberry.Info) -> Role:
        return await role_by_id(info, self.role_id)


@strawberry.type
class BuyingGroupsOverview:
    total: int
    average_completeness: float
    average_engagement: float
    by_solution_interest: list[SolutionInterestCount]
    by_stage: list[StageCount]
    completeness_bands: list[ScoreBand]
    engagement_bands: list[ScoreBand]
    stagnant_count: int = strawberry.field(
        description="Groups with completeness >= 75 and no stage change in 30 days.")
    role_coverage: list[RoleCoverage] = strawberry.field(
        description="Per role of the groups' templates, in the role catalogue's order.")
    top_engaged_ids: strawberry.Private[list[UUID]]
    stagnant_ids: strawberry.Private[list[UUID]]

    @strawberry.field(description="The 5 most engaged groups.")
    async def top_engaged(self, info: strawberry.Info) -> list[BuyingGroup]:
        return await _groups(info, self.top_engaged_ids)

    @strawberry.field(description="Up to 20 stagnant groups, most complete first.")
    async def stagnant(self, info: strawberry.Info) -> list[BuyingGroup]:
        return await _groups(info, self.stagnant_ids)


async def _groups(info: strawberry.Info, ids: list[UUID]) -> list[BuyingGroup]:
    rows = await info.context.loaders.buying_group.load_many(ids)
    return [BuyingGroup.from_row(r) for r in rows if r is not None]


@strawberry.input
class BuyingGroupsOverviewFilter:
    solution_interest_ids: list[relay.GlobalID] | None = None
    stage_ids: list[relay.GlobalID] | None = None
    industries: list[str] | None = None
    regions: list[str] | None = None


def _bands(counts: list[int]) -> list[ScoreBand]:
    return [ScoreBand(from_=low, to=high, count=n)
            for (low, high), n in zip(overview_store.BANDS, counts, strict=True)]


async def buying_groups_overview(
    info: strawberry.Info, filter: BuyingGroupsOverviewFilter | None = None
) -> BuyingGroupsOverview:
    f = filter or BuyingGroupsOverviewFilter()
    store_filter = overview_store.OverviewFilter(
        solution_interest_ids=[decode_id(g, "SolutionInterest", ["filter", "solutionInterestIds"])
                               for g in f.solution_interest_ids or []],
        stage_ids=[decode_id(g, "Stage", ["filter", "stageIds"]) for g in f.stage_ids or []],
        industries=f.industries or (), regions=f.regions or ())
    tenant_id = info.context.tenant_principal.tenant_id
    async with info.context.read() as conn:
        o = await overview_store.overview(conn, tenant_id, store_filter)
    return BuyingGroupsOverview(
        total=o.total, average_completeness=float(o.average_completeness),
        average_engagement=float(o.average_engagement),
        by_solution_interest=[SolutionInterestCount(count=n, solution_interest_id=i)
                              for i, n in o.by_solution_interest],
        by_stage=[StageCount(count=n, stage_id=i) for i, n in o.by_stage],
        completeness_bands=_bands(o.completeness_bands),
        engagement_bands=_bands(o.engagement_bands),
        stagnant_count=o.stagnant_count,
        role_coverage=[RoleCoverage(groups=g, filled=n, share=n / g if g else 0.0, role_id=r)
                       for r, g, n in o.role_coverage],
        top_engaged_ids=o.top_engaged, stagnant_ids=o.stagnant,
    )
