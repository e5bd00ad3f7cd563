"""The buying-groups overview (dashboard) through GraphQL."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any
from uuid import UUID

import strawberry
from strawberry import UNSET, relay

from service.api.buying_groups import BuyingGroup
from service.api.errors import ClientError, ErrorCode
from service.api.nodes import decode_id
from service.api.roles import Role, role_by_id
from service.api.solution_interests import SolutionInterest
from service.api.stages import Stage, stage_by_id
from service.domain.bands import (
    FIXED_BOUNDS,
    MAX_BOUNDS,
    MAX_QUANTILES,
    Band,
    bands,
    bounds_problems,
    distinct_bounds,
    quantile_fractions,
)
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


@strawberry.type(description="Groups whose score lies in [low, high); the last band ends at "
                 "100 for completeness (included) and is open for engagement.")
class ScoreBand:
    low: float
    high: float | None = strawberry.field(description="Null: open above.")
    count: int

    @strawberry.field(name="from", deprecation_reason="Use low (bands may have fractional "
                      "boundaries); this is low rounded down.")
    def from_(self) -> int:
        return math.floor(self.low)

    @strawberry.field(deprecation_reason="Use high; this is high rounded up, 100 for an open "
                      "band.")
    def to(self) -> int:
        return math.ceil(self.high) if self.high is not None else 100


@strawberry.input(one_of=True, description="How a score's bands are drawn; exactly one.")
class BandsInput:
    fixed: bool | None = strawberry.field(default=UNSET, description=(
        "true: the four bands 0 to 25, 25 to 50, 50 to 75, 75 to 100 (from the overview's "
        "running tallies: fastest)."))
    bounds: list[float] | None = strawberry.field(default=UNSET, description=(
        f"Your own inner boundaries, ascending and above 0 (at most {MAX_BOUNDS}): [10, 20, "
        "40] draws 0 to 10, 10 to 20, 20 to 40 and 40 and above."))
    quantiles: int | None = strawberry.field(default=UNSET, description=(
        f"This many bands (2 to {MAX_QUANTILES}) holding about as many groups each: the "
        "tenant's own distribution, among the groups scoring above 0 (those at 0 are in the "
        "first band). Fewer when many groups share a score."))


@strawberry.input
class OverviewBandsInput:
    engagement: BandsInput | None = strawberry.field(default=None, description=(
        "Default: quantiles: 4."))
    completeness: BandsInput | None = strawberry.field(default=None, description=(
        "Default: fixed."))


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


def _band_rows(found: list[Band]) -> list[ScoreBand]:
    return [ScoreBand(low=b.low, high=b.high, count=b.count) for b in found]


# A distribution's boundaries move slowly (a sync, the nightly pass), and finding them sorts
# every matching group's score: each process keeps them BOUNDS_SECONDS per tenant, score,
# count and filter, while the counts in the bands are read anew every time.
BOUNDS_SECONDS = 300.0
_BOUNDS_KEPT = 1024
_bounds: OrderedDict[Hashable, tuple[float, list[float]]] = OrderedDict()


async def _quantile_bounds(conn: Any, tenant_id: UUID, f: overview_store.OverviewFilter,
                           score: str, count: int) -> list[float]:
    key = (tenant_id, score, count, tuple(f.solution_interest_ids), tuple(f.stage_ids),
           tuple(f.industries), tuple(f.regions))
    now = time.monotonic()
    kept = _bounds.get(key)
    if kept is not None and kept[0] > now:
        _bounds.move_to_end(key)
        return kept[1]
    found = distinct_bounds(await overview_store.quantiles(
        conn, tenant_id, f, score, quantile_fractions(count)))
    _bounds[key] = (now + BOUNDS_SECONDS, found)
    while len(_bounds) > _BOUNDS_KEPT:
        _bounds.popitem(last=False)
    return found


async def _score_bands(conn: Any, tenant_id: UUID, f: overview_store.OverviewFilter,
                       score: str, given: BandsInput, tallied: list[int]) -> list[Band]:
    """The bands the caller asked for; the fixed ones from the tallies already read."""
    maximum = 100.0 if score == "completeness" else None
    path = ["bands", score]
    if given.fixed:
        return bands(FIXED_BOUNDS, tallied, maximum)
    if given.bounds is not None and given.bounds is not UNSET:
        if problems := bounds_problems(given.bounds, [*path, "bounds"]):
            raise ClientError(problems[0].message, ErrorCode(problems[0].code),
                              field=[str(p) for p in problems[0].path])
        bounds_ = list(given.bounds)
    elif given.quantiles is not None and given.quantiles is not UNSET:
        if not 2 <= given.quantiles <= MAX_QUANTILES:
            raise ClientError(f"quantiles is between 2 and {MAX_QUANTILES}",
                              ErrorCode.INVALID_VALUE, field=[*path, "quantiles"])
        bounds_ = await _quantile_bounds(conn, tenant_id, f, score, given.quantiles)
    else:
        raise ClientError("say how the bands are drawn: fixed, bounds or quantiles",
                          ErrorCode.REQUIRED, field=path)
    return bands(bounds_, await overview_store.band_counts(conn, tenant_id, f, score,
                                                           bounds_), maximum)


async def buying_groups_overview(
    info: strawberry.Info, filter: BuyingGroupsOverviewFilter | None = None,
    bands: OverviewBandsInput | None = None,
) -> BuyingGroupsOverview:
    f = filter or BuyingGroupsOverviewFilter()
    store_filter = overview_store.OverviewFilter(
        solution_interest_ids=[decode_id(g, "SolutionInterest", ["filter", "solutionInterestIds"])
                               for g in f.solution_interest_ids or []],
        stage_ids=[decode_id(g, "Stage", ["filter", "stageIds"]) for g in f.stage_ids or []],
        industries=f.industries or (), regions=f.regions or ())
    tenant_id = info.context.tenant_principal.tenant_id
    given = bands or OverviewBandsInput()
    async with info.context.read() as conn:
        o = await overview_store.overview(conn, tenant_id, store_filter)
        completeness_bands = await _score_bands(
            conn, tenant_id, store_filter, "completeness",
            given.completeness or BandsInput(fixed=True), o.completeness_bands)
        engagement_bands = await _score_bands(
            conn, tenant_id, store_filter, "engagement",
            given.engagement or BandsInput(quantiles=4), o.engagement_bands)
    return BuyingGroupsOverview(
        total=o.total, average_completeness=float(o.average_completeness),
        average_engagement=float(o.average_engagement),
        by_solution_interest=[SolutionInterestCount(count=n, solution_interest_id=i)
                              for i, n in o.by_solution_interest],
        by_stage=[StageCount(count=n, stage_id=i) for i, n in o.by_stage],
        completeness_bands=_band_rows(completeness_bands),
        engagement_bands=_band_rows(engagement_bands),
        stagnant_count=o.stagnant_count,
        role_coverage=[RoleCoverage(groups=g, filled=n, share=n / g if g else 0.0, role_id=r)
                       for r, g, n in o.role_coverage],
        top_engaged_ids=o.top_engaged, stagnant_ids=o.stagnant,
    )
