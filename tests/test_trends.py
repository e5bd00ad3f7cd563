"""EngagementScore.trend: the score now against the group's score some days ago (its latest
snapshot on or before that day)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from service.infra.config import Settings
from service.infra.db import Database
from tests.support import GraphQLClient, TenantKeys, generate, global_id, setup_catalogue

TREND = """query($id: ID!, $days: Int!) { node(id: $id) { ... on BuyingGroup {
  engagement { value windowEnd trend(days: $days) { change days previousValue } } } } }"""


async def test_the_trend_compares_with_the_latest_snapshot_that_old(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, db: Database
) -> None:
    cat = await setup_catalogue(gql, tenant.write, accounts=2)
    await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    async with db.as_login() as conn:
        groups = [r["id"] for r in await conn.fetch(
            "SELECT id FROM buying_groups WHERE tenant_id = $1 ORDER BY name", tenant.id)]
        await conn.execute("UPDATE buying_groups SET engagement = 30 WHERE tenant_id = $1",
                           tenant.id)
    first = global_id("BuyingGroup", groups[0])
    today = date.fromisoformat((await gql.data(TREND, {"id": first, "days": 7},
                                               key=tenant.read))["node"]["engagement"]["windowEnd"])
    async with db.as_login() as conn:
        await conn.execute("DELETE FROM buying_group_score_history WHERE tenant_id = $1",
                           tenant.id)
        for ago, value in ((10, Decimal("12.5")), (3, Decimal(25))):
            await conn.execute(
                "INSERT INTO buying_group_score_history (tenant_id, buying_group_id, day, "
                "completeness, engagement) VALUES ($1, $2, $3, 0, $4)",
                tenant.id, groups[0], today - timedelta(days=ago), value)

    async def trend(group: str, days: int) -> object:
        data = await gql.data(TREND, {"id": group, "days": days}, key=tenant.read)
        return data["node"]["engagement"]["trend"]

    # A snapshot holds until the next one: 7 days ago the score was the one of 10 days ago.
    assert await trend(first, 7) == {"change": 17.5, "days": 7, "previousValue": 12.5}
    assert await trend(first, 2) == {"change": 5.0, "days": 2, "previousValue": 25.0}
    assert await trend(first, 30) is None  # no snapshot that old
    assert await trend(global_id("BuyingGroup", groups[1]), 7) is None  # none at all


BROWSE = """query($filter: BuyingGroupFilter, $order: BuyingGroupOrder, $after: String) {
  buyingGroups(filter: $filter, orderBy: $order, first: 2, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { account { externalId } engagement { trend { change } } } } }"""


async def test_groups_are_sorted_and_filtered_by_their_trend(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, db: Database
) -> None:
    cat = await setup_catalogue(gql, tenant.write, accounts=3)
    await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    today = date.fromisoformat((await gql.data(
        "{ buyingGroups(first: 1) { nodes { engagement { windowEnd } } } }",
        key=tenant.read))["buyingGroups"]["nodes"][0]["engagement"]["windowEnd"])
    async with db.as_login() as conn:
        await conn.execute("DELETE FROM buying_group_score_history WHERE tenant_id = $1",
                           tenant.id)
        # A0 rose by 20, A1 fell by 5, A2 has no snapshot a week old (counts as unchanged).
        for account, now, before in (("A0", 30, 10), ("A1", 5, 10), ("A2", 40, None)):
            group = await conn.fetchval(
                "UPDATE buying_groups g SET engagement = $3 FROM accounts a WHERE "
                "g.tenant_id = $1 AND a.tenant_id = $1 AND a.id = g.account_id "
                "AND a.external_id = $2 RETURNING g.id", tenant.id, account, now)
            if before is not None:
                await conn.execute(
                    "INSERT INTO buying_group_score_history (tenant_id, buying_group_id, day, "
                    "completeness, engagement) VALUES ($1, $2, $3, 0, $4)",
                    tenant.id, group, today - timedelta(days=8), before)

    order = {"field": "ENGAGEMENT_TREND", "direction": "DESC"}
    first = (await gql.data(BROWSE, {"order": order}, key=tenant.read))["buyingGroups"]
    rest = (await gql.data(BROWSE, {"order": order, "after": first["pageInfo"]["endCursor"]},
                           key=tenant.read))["buyingGroups"]
    assert [n["account"]["externalId"] for n in first["nodes"] + rest["nodes"]] == [
        "A0", "A2", "A1"]
    assert first["nodes"][0]["engagement"]["trend"] == {"change": 20.0}
    rising = (await gql.data(BROWSE, {"filter": {"engagementTrend": {"gte": 10}}},
                             key=tenant.read))["buyingGroups"]
    assert rising["totalCount"] == 1 and rising["nodes"][0]["account"]["externalId"] == "A0"
    falling = (await gql.data(BROWSE, {"filter": {"engagementTrend": {"lt": 0}}},
                              key=tenant.read))["buyingGroups"]
    assert [n["account"]["externalId"] for n in falling["nodes"]] == ["A1"]
