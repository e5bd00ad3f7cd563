"""The demo data a newcomer sees with `make run`."""

from __future__ import annotations

from service.dev.demo import load_demo
from service.infra.db import Database
from service.usecases.unit_of_work import CLI, unit_of_work
from tests.support import GraphQLClient, TenantKeys


async def test_demo_data_is_believable_and_loaded_once(
    gql: GraphQLClient, db: Database, tenant: TenantKeys
) -> None:
    async with unit_of_work(db, tenant.id, CLI) as work:
        assert await load_demo(work) is True
    async with unit_of_work(db, tenant.id, CLI) as work:
        assert await load_demo(work) is False
    data = await gql.data("""{
      accounts(filter: {topLevelOnly: true}) { totalCount }
      all: accounts { totalCount }
      people { totalCount }
      roleTemplates(filter: {status: LIVE}) { nodes { name roles { conditions { match } } } }
      solutionInterests { nodes { name roleTemplate { name } } }
      accountLists { nodes { name kind accountCount } }
    }""", key=tenant.read)
    assert 250 <= data["all"]["totalCount"] <= 300
    assert data["accounts"]["totalCount"] < data["all"]["totalCount"]  # some have parents
    assert 2000 <= data["people"]["totalCount"] <= 4000
    assert [t["name"] for t in data["roleTemplates"]["nodes"]] == [
        "Enterprise IT", "Marketing Technology"]
    assert {s["name"]: s["roleTemplate"]["name"] for s in data["solutionInterests"]["nodes"]} == {
        "Cloud Platform": "Enterprise IT", "Marketing Automation": "Marketing Technology"}
    lists = {al["name"]: al for al in data["accountLists"]["nodes"]}
    assert lists["Q4 target accounts"]["accountCount"] == 40
    assert 0 < lists["Large software companies"]["accountCount"] < 300
    groups = await gql.data("""{ buyingGroups(first: 100) { totalCount
        nodes { memberCount completeness { display } } } }""", key=tenant.read)
    assert groups["buyingGroups"]["totalCount"] == 80  # 40 target accounts x 2 interests
    scores = {g["completeness"]["display"] for g in groups["buyingGroups"]["nodes"]}
    assert len(scores) >= 3, scores  # a spread, not all the same
    overview = await gql.data("""{ buyingGroupsOverview { byStage { stage { key } count } } }""",
                              key=tenant.read)
    by_stage = {(s["stage"] or {}).get("key"): s["count"]
                for s in overview["buyingGroupsOverview"]["byStage"]}
    assert by_stage[None] == 40  # Marketing Automation has no stage model
    assert {"new", "engaged", "opportunity", "won", "lost", "resurgence"} <= set(by_stage)
