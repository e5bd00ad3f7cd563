"""The overview's numbers on a known data set."""

from __future__ import annotations

from service.infra.config import Settings
from service.infra.db import Database
from tests.support import GraphQLClient, TenantKeys, spread

OVERVIEW = """query($filter: BuyingGroupsOverviewFilter) { buyingGroupsOverview(filter: $filter) {
  total averageCompleteness averageEngagement
  bySolutionInterest { solutionInterest { name } count }
  byStage { stage { key } count }
  completenessBands { from to count } engagementBands { count }
  topEngaged { name } stagnant { name } stagnantCount
  roleCoverage { role { name } groups filled share } } }"""


async def test_overview_figures_on_a_known_set(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, db: Database
) -> None:
    cat = await spread(gql, settings, tenant.write)  # completeness 62.5, 37.5, 87.5, 12.5
    async with db.tenant(tenant.id) as conn:  # account 2's group has not moved for 40 days
        await conn.execute("UPDATE buying_groups SET created_at = now() - interval '40 days' "
                           "WHERE name = 'Cloud for Account 2'")
    data = (await gql.data(OVERVIEW, key=tenant.read))["buyingGroupsOverview"]
    assert data["total"] == 4
    assert data["averageCompleteness"] == 50.0 and data["averageEngagement"] == 0.0
    assert data["bySolutionInterest"] == [{"solutionInterest": {"name": "Cloud"}, "count": 4}]
    assert data["byStage"] == [{"stage": None, "count": 4}]
    assert data["completenessBands"] == [
        {"from": 0, "to": 25, "count": 1}, {"from": 25, "to": 50, "count": 1},
        {"from": 50, "to": 75, "count": 1}, {"from": 75, "to": 100, "count": 1}]
    # Engagement follows the tenant's distribution by default: all four at 0, one band.
    assert [b["count"] for b in data["engagementBands"]] == [4]
    assert len(data["topEngaged"]) == 4
    assert data["stagnant"] == [{"name": "Cloud for Account 2"}]
    assert data["stagnantCount"] == 1
    coverage = {c["role"]["name"]: (c["groups"], c["filled"], c["share"])
                for c in data["roleCoverage"]}
    assert coverage == {"Decision Maker": (4, 2, 0.5), "Influencer": (4, 3, 0.75),
                        "Practitioner": (4, 0, 0.0), "Champion": (4, 1, 0.25)}
    # In the catalogue's order, every time (the fuzzer once compared two reads that differed).
    async with db.tenant(tenant.id, readonly=True) as conn:
        catalogue = [r["name"] for r in await conn.fetch(
            "SELECT name FROM roles ORDER BY position, id")]
    listed = [c["role"]["name"] for c in data["roleCoverage"]]
    assert listed == [name for name in catalogue if name in coverage]
    filtered = (await gql.data(OVERVIEW, {"filter": {"industries": ["Mining"]}},
                               key=tenant.read))["buyingGroupsOverview"]
    assert filtered["total"] == 0 and filtered["roleCoverage"] == []
    by_interest = (await gql.data(OVERVIEW, {"filter": {"solutionInterestIds": [cat["si"]]}},
                                  key=tenant.read))["buyingGroupsOverview"]
    assert by_interest["total"] == 4


BANDS = """query($bands: OverviewBandsInput, $filter: BuyingGroupsOverviewFilter) {
  buyingGroupsOverview(bands: $bands, filter: $filter) {
  completenessBands { low high count } engagementBands { low high count } } }"""


async def test_bands_follow_the_distribution_or_the_bounds_a_team_sets(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, db: Database
) -> None:
    cat = await spread(gql, settings, tenant.write)  # completeness 62.5, 37.5, 87.5, 12.5
    async with db.tenant(tenant.id) as conn:  # engagement as a small tenant's: all below 25
        await conn.execute("""UPDATE buying_groups SET engagement = v.e FROM (VALUES
            ('Cloud for Account 0', 0), ('Cloud for Account 1', 2.5),
            ('Cloud for Account 2', 7), ('Cloud for Account 3', 19)) AS v (name, e)
            WHERE buying_groups.name = v.name""")

    async def bands(given: dict[str, object]) -> dict[str, list[dict[str, object]]]:
        found: dict[str, list[dict[str, object]]] = (await gql.data(
            BANDS, {"bands": given}, key=tenant.read))["buyingGroupsOverview"]
        return found

    fixed = await bands({"engagement": {"fixed": True}})
    assert [b["count"] for b in fixed["engagementBands"]] == [4, 0, 0, 0]
    # The default: quantiles of the groups above 0 (2.5, 7, 19), so they are told apart.
    default = await bands({})
    assert default["engagementBands"] == [
        {"low": 0.0, "high": 2.5, "count": 1}, {"low": 2.5, "high": 7.0, "count": 1},
        {"low": 7.0, "high": 19.0, "count": 1}, {"low": 19.0, "high": None, "count": 1}]
    assert default["completenessBands"][-1] == {"low": 75.0, "high": 100.0, "count": 1}
    own = await bands({"engagement": {"bounds": [5, 10]},
                       "completeness": {"bounds": [50]}})
    assert own["engagementBands"] == [
        {"low": 0.0, "high": 5.0, "count": 2}, {"low": 5.0, "high": 10.0, "count": 1},
        {"low": 10.0, "high": None, "count": 1}]
    assert own["completenessBands"] == [
        {"low": 0.0, "high": 50.0, "count": 2}, {"low": 50.0, "high": 100.0, "count": 2}]
    # Under a filter the groups are counted in one pass: the same figures.
    filtered = (await gql.data(BANDS, {"bands": {"engagement": {"bounds": [5, 10]}},
                                       "filter": {"solutionInterestIds": [cat["si"]]}},
                               key=tenant.read))["buyingGroupsOverview"]
    assert filtered["engagementBands"] == own["engagementBands"]
    halves = await bands({"engagement": {"quantiles": 2}})
    assert [b["count"] for b in halves["engagementBands"]] == [2, 2]
    for wrong, code in (({"bounds": [10, 5]}, "INVALID_VALUE"),
                        ({"bounds": [0, 5]}, "INVALID_VALUE"),
                        ({"bounds": list(range(1, 12))}, "TOO_MANY_ITEMS"),
                        ({"quantiles": 1}, "INVALID_VALUE")):
        body = await gql(BANDS, {"bands": {"engagement": wrong}}, key=tenant.read)
        assert body["errors"][0]["extensions"]["code"] == code, (wrong, body)

