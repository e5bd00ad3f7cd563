"""Rescoring writes only what moved: a group's row when its engagement changed, a snapshot when
a score differs from the group's latest; a snapshot holds until the next one, for the history,
the trend and retention alike."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from service.infra.config import Settings
from service.infra.db import Database
from tests.support import (
    GraphQLClient,
    TenantKeys,
    generate,
    global_id,
    run_jobs,
    setup_catalogue,
)

REFRESH = "mutation { refreshScores(input: {}) { job { id } userErrors { code } } }"
GROUPS = """{ buyingGroups(first: 10, orderBy: {field: NAME}) { nodes { id account { externalId }
  engagement { value computedAt } } } }"""
HISTORY = """query($id: ID!, $days: Int!) { node(id: $id) { ... on BuyingGroup {
  engagement { windowEnd } scoreHistory(days: $days) { date completeness engagement } } } }"""


async def full_pass(gql: GraphQLClient, settings: Settings, key: str) -> None:
    answer = (await gql.data(REFRESH, key=key))["refreshScores"]
    assert answer["userErrors"] == [], answer
    await run_jobs(settings)


async def written(db: Database, tenant_id: Any) -> tuple[dict[str, Any], int]:
    """Each group's row version (xmin: a new one for every write) and the snapshots' count."""
    async with db.as_login() as conn:
        versions = {r["id"]: r["xmin"] for r in await conn.fetch(
            "SELECT id, xmin::text FROM buying_groups WHERE tenant_id = $1", tenant_id)}
        snapshots = await conn.fetchval(
            "SELECT count(*) FROM buying_group_score_history WHERE tenant_id = $1", tenant_id)
    return versions, snapshots


async def test_a_full_pass_writes_only_the_scores_that_moved(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, db: Database
) -> None:
    cat = await setup_catalogue(gql, tenant.write, accounts=3)
    await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    await full_pass(gql, settings, tenant.write)
    versions, snapshots = await written(db, tenant.id)

    # Nothing moved: no group is written, no snapshot added; computedAt is the pass's time.
    before = datetime.now().astimezone()
    await full_pass(gql, settings, tenant.write)
    assert await written(db, tenant.id) == (versions, snapshots)
    groups = (await gql.data(GROUPS, key=tenant.read))["buyingGroups"]["nodes"]
    assert all(datetime.fromisoformat(g["engagement"]["computedAt"]) >= before for g in groups)

    # A1's CEO was active today: only A1's group is written, with one snapshot more.
    async with db.as_login() as conn:
        scored = await conn.fetchval(
            "SELECT source_type_id FROM activity_types WHERE tenant_id = $1 AND weight > 0 "
            "AND source_type_id IS NOT NULL LIMIT 1", tenant.id)
        if scored is None:
            scored = 1
            await conn.execute("UPDATE activity_types SET source_type_id = 1 WHERE id = ("
                               "SELECT id FROM activity_types WHERE tenant_id = $1 AND "
                               "weight > 0 LIMIT 1)", tenant.id)
        today = date.fromisoformat((await gql.data(HISTORY, {"id": groups[0]["id"], "days": 1},
                                                   key=tenant.read))["node"]["engagement"]["windowEnd"])
        await conn.execute("INSERT INTO activity_daily (tenant_id, lead_id, source_type_id, day, "
                           "count) VALUES ($1, 'A1-ceo', $2, $3, 3)", tenant.id, scored, today)
    await full_pass(gql, settings, tenant.write)
    after, count = await written(db, tenant.id)
    moved = {g for g in after if after[g] != versions[g]}
    by_account = {g["account"]["externalId"]: g for g in
                  (await gql.data(GROUPS, key=tenant.read))["buyingGroups"]["nodes"]}
    assert by_account["A1"]["engagement"]["value"] > 0
    assert {global_id("BuyingGroup", g) for g in moved} == {by_account["A1"]["id"]}
    assert count == snapshots  # the groups were made today: today's snapshot is rewritten


async def test_a_snapshot_holds_until_the_next_one(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, db: Database
) -> None:
    cat = await setup_catalogue(gql, tenant.write, accounts=1)
    await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    group = (await gql.data(GROUPS, key=tenant.read))["buyingGroups"]["nodes"][0]["id"]
    today = date.fromisoformat((await gql.data(HISTORY, {"id": group, "days": 1},
                                               key=tenant.read))["node"]["engagement"]["windowEnd"])
    async with db.as_login() as conn:
        await conn.execute("DELETE FROM buying_group_score_history WHERE tenant_id = $1",
                           tenant.id)
        for ago, value in ((5, Decimal(10)), (2, Decimal(20))):
            await conn.execute(
                "INSERT INTO buying_group_score_history (tenant_id, buying_group_id, day, "
                "completeness, engagement) SELECT $1, id, $3, 50, $4 FROM buying_groups "
                "WHERE tenant_id = $1 AND id = $2", tenant.id,
                (await conn.fetchval("SELECT id FROM buying_groups WHERE tenant_id = $1",
                                     tenant.id)), today - timedelta(days=ago), value)
    points = (await gql.data(HISTORY, {"id": group, "days": 7},
                             key=tenant.read))["node"]["scoreHistory"]
    # A point for every day from the first snapshot on, none before it.
    assert [(date.fromisoformat(p["date"]), p["engagement"]) for p in points] == [
        (today - timedelta(days=ago), 10.0 if ago > 2 else 20.0) for ago in range(5, -1, -1)]
    assert {p["completeness"] for p in points} == {50.0}
