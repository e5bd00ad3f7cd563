"""Stage models: validation, transitions (including back out of a FAILURE stage), history,
automatic entry rules."""

from __future__ import annotations

import pytest

from service.domain.stages import StageSpec, allows, publish_problems
from service.infra.config import Settings
from service.infra.db import Database
from tests.support import (
    ASSIGN,
    CREATE_MODEL,
    CREATE_TEMPLATE,
    FUNNEL,
    PUBLISH,
    PUBLISH_MODEL,
    REMOVE,
    GraphQLClient,
    TenantKeys,
    groups_with_stages,
    live_model,
    role_ids,
)

SET_STAGE = """mutation($group: ID!, $stage: ID!) { setBuyingGroupStage(input:
  {buyingGroupId: $group, stageId: $stage}) { buyingGroup { stage { key } }
  userErrors { field code message } } }"""

def spec(key: str, kind: str, *to: str) -> StageSpec:
    return StageSpec(key, key.title(), kind, to)


@pytest.mark.parametrize(
    ("stages", "code"),
    [
        ([spec("a", "INTERMEDIATE", "b"), spec("b", "SUCCESS")], "NO_ENTRY_STAGE"),
        ([spec("a", "ENTRY", "b"), spec("b", "FAILURE")], "SUCCESS_STAGE_COUNT"),
        ([spec("a", "ENTRY", "b", "c"), spec("b", "SUCCESS"), spec("c", "SUCCESS")],
         "SUCCESS_STAGE_COUNT"),
        ([spec("a", "ENTRY", "b"), spec("b", "INTERMEDIATE"), spec("c", "SUCCESS")],
         "NO_WAY_OUT"),
        ([spec("a", "ENTRY", "zz"), spec("b", "SUCCESS")], "UNKNOWN_STAGE"),
        ([spec("a", "ENTRY", "b"), spec("b", "SUCCESS"), spec("c", "FAILURE")], "UNREACHABLE"),
        ([spec("a", "ENTRY", "b"), spec("a", "SUCCESS")], "DUPLICATE"),
    ],
)
def test_publishing_validates_the_graph(stages: list[StageSpec], code: str) -> None:
    assert code in {p.code for p in publish_problems(stages)}


def test_a_valid_funnel_has_no_problems_and_allows_only_its_moves() -> None:
    stages = [StageSpec(s["key"], s["name"], s["kind"], tuple(s.get("transitionsTo", [])))
              for s in FUNNEL]
    assert publish_problems(stages) == []
    by_key = {s.key: s for s in stages}
    assert allows(by_key, None, "new") and not allows(by_key, None, "engaged")
    assert allows(by_key, "lost", "resurgence") and allows(by_key, "resurgence", "engaged")
    assert not allows(by_key, "new", "won") and not allows(by_key, "won", "lost")


async def test_publish_errors_come_back_as_user_errors(gql: GraphQLClient, tenant: TenantKeys
                                                       ) -> None:
    made = (await gql.data(CREATE_MODEL, {"input": {"name": "Broken", "stages": [
        {"key": "a", "name": "A", "kind": "ENTRY", "transitionsTo": ["b"]},
        {"key": "b", "name": "B", "kind": "INTERMEDIATE"}]}}, key=tenant.write))
    model = made["createStageModel"]["stageModel"]
    refused = (await gql.data(PUBLISH_MODEL, {"id": model["id"]}, key=tenant.write))
    codes = {e["code"] for e in refused["publishStageModel"]["userErrors"]}
    assert codes == {"SUCCESS_STAGE_COUNT", "NO_WAY_OUT"}
    bad_target = (await gql.data(CREATE_MODEL, {"input": {"name": "Typo", "stages": [
        {"key": "a", "name": "A", "kind": "ENTRY", "transitionsTo": ["nope"]}]}},
        key=tenant.write))["createStageModel"]
    assert bad_target["userErrors"][0]["code"] == "UNKNOWN_STAGE"
    assert bad_target["userErrors"][0]["field"] == ["input", "stages", "0", "transitionsTo", "0"]


async def test_a_live_model_is_immutable_and_deletable_only_while_unused(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    model = await live_model(gql, tenant.write)
    frozen = await gql.data("""mutation($id: ID!) { updateStageModel(input: {id: $id,
        name: "X"}) { userErrors { code } } }""", {"id": model["id"]}, key=tenant.write)
    assert frozen["updateStageModel"]["userErrors"] == [{"code": "IMMUTABLE"}]
    roles = await role_ids(gql, tenant.read)
    template = (await gql.data(CREATE_TEMPLATE, {"input": {"name": "T", "roles": [
        {"roleId": roles["Champion"]}]}}, key=tenant.write))["createRoleTemplate"]
    await gql.data(PUBLISH, {"id": template["roleTemplate"]["id"]}, key=tenant.write)
    await gql.data("""mutation($t: ID!, $m: ID!) { createSolutionInterest(input: {name: "S",
        roleTemplateId: $t, stageModelId: $m}) { userErrors { code } } }""",
                   {"t": template["roleTemplate"]["id"], "m": model["id"]}, key=tenant.write)
    delete = """mutation($id: ID!) { deleteStageModel(input: {id: $id}) {
        deletedStageModelId userErrors { code } } }"""
    refused = await gql.data(delete, {"id": model["id"]}, key=tenant.write)
    assert refused["deleteStageModel"]["userErrors"] == [{"code": "IN_USE"}]
    spare = await live_model(gql, tenant.write, name="Spare")
    gone = await gql.data(delete, {"id": spare["id"]}, key=tenant.write)
    assert gone["deleteStageModel"]["deletedStageModelId"] == spare["id"]


async def test_new_groups_start_in_the_entry_stage_and_move_only_as_allowed(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys
) -> None:
    _, stage, groups = await groups_with_stages(gql, settings, tenant.write)
    group = groups[0]
    assert group["stage"] == {"key": "new"}
    assert group["stageHistory"] == [{"from": None, "to": {"key": "new"}, "by": "SYSTEM"}]
    refused = (await gql.data(SET_STAGE, {"group": group["id"], "stage": stage["won"]},
                              key=tenant.write))["setBuyingGroupStage"]
    assert refused["buyingGroup"] is None
    assert refused["userErrors"][0]["code"] == "TRANSITION_NOT_ALLOWED"
    assert "'Engaged', 'Lost'" in refused["userErrors"][0]["message"]
    for key in ("lost", "resurgence", "engaged", "won"):  # back out of a FAILURE stage
        moved = (await gql.data(SET_STAGE, {"group": group["id"], "stage": stage[key]},
                                key=tenant.write))["setBuyingGroupStage"]
        assert moved["userErrors"] == [] and moved["buyingGroup"]["stage"] == {"key": key}
    history = (await gql.data("""query($id: ID!) { node(id: $id) { ... on BuyingGroup {
        stageHistory { from { key } to { key } by at } } } }""", {"id": group["id"]},
                              key=tenant.read))["node"]["stageHistory"]
    assert [(h["from"] and h["from"]["key"], h["to"]["key"], h["by"]) for h in history] == [
        (None, "new", "SYSTEM"), ("new", "lost", "USER"), ("lost", "resurgence", "USER"),
        ("resurgence", "engaged", "USER"), ("engaged", "won", "USER")]
    by_stage = await gql.data("""query($s: ID!) { buyingGroups(filter: {stageIds: [$s]}) {
        totalCount } }""", {"s": stage["won"]}, key=tenant.read)
    assert by_stage["buyingGroups"]["totalCount"] == 1
    other_model = await live_model(gql, tenant.write, name="Other")
    foreign = (await gql.data(SET_STAGE, {"group": groups[1]["id"],
                                          "stage": other_model["stages"][1]["id"]},
                              key=tenant.write))["setBuyingGroupStage"]
    assert foreign["userErrors"][0]["code"] == "UNKNOWN_STAGE"


async def test_entry_rules_move_groups_once_and_only_along_allowed_moves(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, db: Database
) -> None:
    from jobs.rescoring import rescore
    from service.usecases.unit_of_work import SYSTEM

    rule = {"match": "ALL", "conditions": [
        {"metric": "COMPLETENESS", "operator": "GTE", "value": 60}]}
    stages = [dict(s) for s in FUNNEL]
    stages[1] = {**stages[1], "entryRule": rule}   # new → engaged when completeness >= 60
    stages[2] = {**stages[2], "entryRule": rule}   # engaged → won: same rule, must not chain
    _, stage, groups = await groups_with_stages(gql, settings, tenant.write, stages)
    query = """{ buyingGroups(filter: {search: "Staged"}) { nodes { id
        stage { key } stageHistory { by } } } }"""
    # Completeness is 62.5 for both groups from their creation on: the rule saw it then, and
    # moved each one step (not on to "won").
    created = (await gql.data(query, key=tenant.read))["buyingGroups"]["nodes"]
    assert [(g["stage"]["key"], [h["by"] for h in g["stageHistory"]]) for g in created] == [
        ("engaged", ["SYSTEM", "RULE"])] * 2
    lost_group = groups[1]["id"]
    await gql.data(SET_STAGE, {"group": lost_group, "stage": stage["lost"]}, key=tenant.write)
    await rescore(db, tenant.id, None, actor=SYSTEM)  # the next pass may go on: engaged → won
    after = (await gql.data(query, key=tenant.read))["buyingGroups"]["nodes"]
    stage_of = {g["id"]: g["stage"]["key"] for g in after}
    assert stage_of[groups[0]["id"]] == "won"
    assert stage_of[lost_group] == "lost"  # "lost" allows no move to "engaged"
    assert [h["by"] for h in next(g for g in after if g["id"] == groups[0]["id"])[
        "stageHistory"]] == ["SYSTEM", "RULE", "RULE"]


async def test_a_solution_interest_needs_a_live_stage_model(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    draft = (await gql.data(CREATE_MODEL, {"input": {"name": "Draft", "stages": FUNNEL}},
                            key=tenant.write))["createStageModel"]["stageModel"]
    roles = await role_ids(gql, tenant.read)
    template = (await gql.data(CREATE_TEMPLATE, {"input": {"name": "T2", "roles": [
        {"roleId": roles["Champion"]}]}}, key=tenant.write))["createRoleTemplate"]
    await gql.data(PUBLISH, {"id": template["roleTemplate"]["id"]}, key=tenant.write)
    refused = await gql.data("""mutation($t: ID!, $m: ID!) { createSolutionInterest(input:
        {name: "S2", roleTemplateId: $t, stageModelId: $m}) { userErrors { code } } }""",
        {"t": template["roleTemplate"]["id"], "m": draft["id"]}, key=tenant.write)
    assert refused["createSolutionInterest"]["userErrors"] == [{"code": "STAGE_MODEL_NOT_LIVE"}]


async def test_a_membership_change_applies_entry_rules_at_once(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys
) -> None:
    rule = {"match": "ALL", "conditions": [
        {"metric": "COMPLETENESS", "operator": "GTE", "value": 80}]}
    stages = [dict(s) for s in FUNNEL]
    stages[1] = {**stages[1], "entryRule": rule}  # new → engaged when completeness >= 80
    _, _, groups = await groups_with_stages(gql, settings, tenant.write, stages)
    group = next(g for g in groups if g["stage"] == {"key": "new"})  # 62.5 at creation
    people = (await gql.data("""query($id: ID!) { node(id: $id) { ... on BuyingGroup {
        account { people { nodes { id externalId } } } } } }""", {"id": group["id"]},
                             key=tenant.read))["node"]["account"]["people"]["nodes"]
    intern = next(p["id"] for p in people if p["externalId"].endswith("-intern"))
    roles = await role_ids(gql, tenant.read)
    assigned = (await gql.data(ASSIGN, {"group": group["id"], "person": intern,
                                        "role": roles["Champion"]}, key=tenant.write))
    assert assigned["assignBuyingGroupMember"]["buyingGroup"]["completeness"]["value"] == 87.5
    moved = (await gql.data("""query($id: ID!) { node(id: $id) { ... on BuyingGroup {
        stage { key } stageHistory { from { key } to { key } by } } } }""",
                            {"id": group["id"]}, key=tenant.read))["node"]
    assert moved["stage"] == {"key": "engaged"}  # no rescoring needed
    assert moved["stageHistory"][-1] == {"from": {"key": "new"}, "to": {"key": "engaged"},
                                         "by": "RULE"}
    # Taking the champion out again lowers completeness; rules never move a group back.
    await gql.data(REMOVE, {"group": group["id"], "person": intern}, key=tenant.write)
    again = (await gql.data("query($id: ID!) { node(id: $id) { ... on BuyingGroup { "
                            "stage { key } } } }", {"id": group["id"]}, key=tenant.read))
    assert again["node"]["stage"] == {"key": "engaged"}
