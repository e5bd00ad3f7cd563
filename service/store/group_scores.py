"""Both scores of groups whose members changed, computed and written in one statement: each
group's row is written once, where recomputing completeness and then rescoring wrote it twice
(every index of the table, twice per group, in a maintenance job over thousands of groups)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from service.infra.db import Connection
from service.store.buying_groups import COMPLETENESS_OF_IDS, NAMED_GROUPS, ScoreChange
from service.store.engagement import ScoringInputs, for_groups, scores_sql, snapshot_sql


def _settle(scope: str) -> str:
    """SOME: the groups of $2; ONE: the group $2 (its cached generic plan is the index plan).
    $3-$11 are the scoring parameters, $7 (the window's end) the snapshot's day."""
    ids = {"SOME": "unnest($2::uuid[]) AS ids (id)", "ONE": "(SELECT $2::uuid AS id) ids"}[scope]
    named = NAMED_GROUPS[scope]
    # Both CTEs read the groups as they were before this statement; the snapshot takes the new
    # scores from them, not from the updated rows, which no part of the statement can see.
    both = """(SELECT c.id, c.completeness, e.engagement
                 FROM completeness c JOIN scores e ON e.id = c.id) x"""
    return f"""
WITH scores AS MATERIALIZED ({scores_sql(scope)}
),
completeness AS MATERIALIZED (
    SELECT ids.id, s.* FROM {ids} {COMPLETENESS_OF_IDS}
),
updated AS (
    UPDATE buying_groups g
       SET completeness = c.completeness, roles_filled = c.roles_filled,
           roles_total = c.roles_total, member_count = c.member_count,
           filled_role_ids = c.filled_role_ids, completeness_computed_at = now(),
           engagement = e.engagement, engagement_computed_at = now(), updated_at = now()
      FROM completeness c JOIN scores e ON e.id = c.id
     WHERE g.tenant_id = $1 AND g.id = c.id AND {named}
    RETURNING g.id, g.solution_interest_id, c.previous AS previous_completeness,
              g.completeness, e.previous AS previous_engagement, g.engagement
),
history AS ({snapshot_sql("$7", "x.id, $7, x.completeness, x.engagement", both)}
)
SELECT * FROM updated"""


_SETTLE_SOME = _settle("SOME")
_SETTLE_ONE = _settle("ONE")


@dataclass(frozen=True)
class Settled:
    completeness: list[ScoreChange]
    engagement: list[ScoreChange]


async def settle_scores(conn: Connection, tenant_id: UUID, inputs: ScoringInputs,
                        group_ids: Sequence[UUID]) -> Settled:
    """Recompute the completeness, member counts and engagement of these groups, mark them
    updated, and record today's snapshot where a score moved. Groups deleted meanwhile are left
    out."""
    if not group_ids:
        return Settled([], [])
    rows = await for_groups(conn, _SETTLE_ONE, _SETTLE_SOME, tenant_id, inputs, group_ids)
    return Settled(
        [ScoreChange(r["id"], r["previous_completeness"], r["completeness"],
                     r["solution_interest_id"]) for r in rows],
        [ScoreChange(r["id"], r["previous_engagement"], r["engagement"],
                     r["solution_interest_id"]) for r in rows])
