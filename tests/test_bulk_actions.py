"""Acting on many groups at once: each item done or refused on its own with its index, one
transaction per call, one event per change, and a call over the limit changes nothing."""

from __future__ import annotations

from typing import Any

from service.infra.config import Settings
from service.infra.db import Database
from tests.support import (
    GraphQLClient,
    TenantKeys,
    generate,
    groups_with_stages,
    live_model,
    one_generated_group,
    run_jobs,
    setup_catalogue,
)

ASSIGN_MANY = """mutation($items: [MemberAssignmentInput!]!) {
  assignBuyingGroupMembers(input: {assignments: $items}) {
    members { person { externalId } role { name } source }
    userErrors { field code } } }"""
MOVE_MANY = """mutation($ids: [ID!]!, $stage: ID!) {
  setBuyingGroupsStage(input: {buyingGroupIds: $ids, stageId: $stage}) {
    buyingGroups { id stage { key } } userErrors { field code } } }"""


async def event_kinds(db: Database, tenant: TenantKeys) -> list[str]:
    async with db.as_login() as conn:
        return [r["kind"] for r in await conn.fetch(
            "SELECT kind FROM events WHERE tenant_id = $1 AND kind IN "
            "('MEMBER_ASSIGNED', 'STAGE_CHANGED') ORDER BY position", tenant.id)]


async def test_assignments_are_made_or_refused_each_on_its_own(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, db: Database
) -> None:
    cat = await setup_catalogue(gql, tenant.write, accounts=2)
    await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    found = (await gql.data("{ buyingGroups(first: 5) { nodes { id account { externalId } } } }",
                            key=tenant.read))["buyingGroups"]["nodes"]
    group = {g["account"]["externalId"]: g["id"] for g in found}
    people, roles = cat["people"], cat["roles"]
    before = len(await event_kinds(db, tenant))
    items: list[dict[str, Any]] = [
        {"buyingGroupId": group["A0"], "personId": people["A0-intern"],
         "roleId": roles["Champion"]},
        {"buyingGroupId": group["A0"], "personId": people["A1-intern"],  # another account's
         "roleId": roles["Champion"]},
        {"buyingGroupId": group["A1"], "personId": people["A1-intern"],
         "roleId": roles["Champion"]},
    ]
    done = (await gql.data(ASSIGN_MANY, {"items": items},
                           key=tenant.write))["assignBuyingGroupMembers"]
    assert done["members"] == [
        {"person": {"externalId": "A0-intern"}, "role": {"name": "Champion"}, "source": "MANUAL"},
        {"person": {"externalId": "A1-intern"}, "role": {"name": "Champion"}, "source": "MANUAL"}]
    assert done["userErrors"] == [{"field": ["input", "assignments", "1", "personId"],
                                   "code": "PERSON_NOT_IN_ACCOUNT"}]
    assert (await event_kinds(db, tenant))[before:] == ["MEMBER_ASSIGNED", "MEMBER_ASSIGNED"]


async def test_more_than_fifty_assignments_change_nothing(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, db: Database
) -> None:
    cat, group = await one_generated_group(gql, settings, tenant)
    item = {"buyingGroupId": group, "personId": cat["people"]["A0-intern"],
            "roleId": cat["roles"]["Champion"]}
    before = await event_kinds(db, tenant)
    refused = (await gql.data(ASSIGN_MANY, {"items": [item] * 51},
                              key=tenant.write))["assignBuyingGroupMembers"]
    assert refused == {"members": [], "userErrors": [
        {"field": ["input", "assignments"], "code": "TOO_MANY_ITEMS"}]}
    assert await event_kinds(db, tenant) == before


async def test_groups_move_to_a_stage_each_as_its_model_allows(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, db: Database
) -> None:
    _, stage, groups = await groups_with_stages(gql, settings, tenant.write)
    first, second = groups[0]["id"], groups[1]["id"]
    moved = (await gql.data(MOVE_MANY, {"ids": [first], "stage": stage["engaged"]},
                            key=tenant.write))["setBuyingGroupsStage"]
    assert moved == {"buyingGroups": [{"id": first, "stage": {"key": "engaged"}}],
                     "userErrors": []}
    before = len(await event_kinds(db, tenant))
    # "won" is allowed from "engaged" (the first group), not from "new" (the second).
    moved = (await gql.data(MOVE_MANY, {"ids": [first, second], "stage": stage["won"]},
                            key=tenant.write))["setBuyingGroupsStage"]
    assert moved == {"buyingGroups": [{"id": first, "stage": {"key": "won"}}],
                     "userErrors": [{"field": ["input", "buyingGroupIds", "1"],
                                     "code": "TRANSITION_NOT_ALLOWED"}]}
    assert (await event_kinds(db, tenant))[before:] == ["STAGE_CHANGED"]
    too_many = (await gql.data(MOVE_MANY, {"ids": [second] * 101, "stage": stage["engaged"]},
                               key=tenant.write))["setBuyingGroupsStage"]
    assert too_many["userErrors"] == [{"field": ["input", "buyingGroupIds"],
                                       "code": "TOO_MANY_ITEMS"}]


SET_STAGE = """mutation($group: ID!, $stage: ID!, $override: Boolean!) {
  setBuyingGroupStage(input: {buyingGroupId: $group, stageId: $stage, override: $override}) {
    buyingGroup { stage { key } stageHistory { from { key } to { key } by actor } }
    userErrors { field code } } }"""


async def test_an_admin_undoes_a_mistaken_move_to_won_as_an_override(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, db: Database
) -> None:
    _, stage, groups = await groups_with_stages(gql, settings, tenant.write)
    group = groups[0]["id"]
    for key in ("engaged", "won"):
        await gql.data(SET_STAGE, {"group": group, "stage": stage[key], "override": False},
                       key=tenant.write)
    back = {"group": group, "stage": stage["engaged"], "override": False}
    refused = (await gql.data(SET_STAGE, back, key=tenant.admin))["setBuyingGroupStage"]
    assert refused["userErrors"] == [{"field": ["input", "stageId"],
                                      "code": "TRANSITION_NOT_ALLOWED"}]
    forbidden = (await gql.data(SET_STAGE, {**back, "override": True},
                                key=tenant.write))["setBuyingGroupStage"]
    assert forbidden["userErrors"] == [{"field": ["input", "override"], "code": "FORBIDDEN"}]
    undone = (await gql.data(SET_STAGE, {**back, "override": True},
                             key=tenant.admin))["setBuyingGroupStage"]
    assert undone["userErrors"] == []
    assert undone["buyingGroup"]["stage"] == {"key": "engaged"}
    async with db.as_login() as conn:
        admin = await conn.fetchval(
            "SELECT id FROM api_keys WHERE tenant_id = $1 AND name = 'ADMIN key'", tenant.id)
    assert undone["buyingGroup"]["stageHistory"][-1] == {
        "from": {"key": "won"}, "to": {"key": "engaged"}, "by": "OVERRIDE",
        "actor": f"api_key.{admin}"}
    assert (await event_kinds(db, tenant))[-1] == "STAGE_CHANGED"


UPDATE_MODEL = """mutation($id: ID!, $model: ID) {
  updateSolutionInterest(input: {id: $id, stageModelId: $model}) {
    solutionInterest { stageModel { name } } restaging { kind status } userErrors { code } } }"""
STAGES = """query($si: ID!) { buyingGroups(filter: {solutionInterestIds: [$si]}) {
  nodes { stage { key } stageHistory { from { key } to { key } by } } } }"""


async def test_a_model_given_to_an_interest_puts_its_groups_in_stages_and_taken_out_of_them(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, db: Database
) -> None:
    model = await live_model(gql, tenant.write)
    cat = await setup_catalogue(gql, tenant.write, accounts=2)
    await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    before = await gql.data(STAGES, {"si": cat["si"]}, key=tenant.read)
    assert [g["stage"] for g in before["buyingGroups"]["nodes"]] == [None, None]
    given = (await gql.data(UPDATE_MODEL, {"id": cat["si"], "model": model["id"]},
                            key=tenant.write))["updateSolutionInterest"]
    assert given["restaging"] == {"kind": "APPLY_STAGE_MODEL", "status": "QUEUED"}
    events = len(await event_kinds(db, tenant))
    await run_jobs(settings)
    placed = (await gql.data(STAGES, {"si": cat["si"]}, key=tenant.read))["buyingGroups"]
    assert [g["stage"] for g in placed["nodes"]] == [{"key": "new"}] * 2
    assert [g["stageHistory"] for g in placed["nodes"]] == [
        [{"from": None, "to": {"key": "new"}, "by": "SYSTEM"}]] * 2
    assert (await event_kinds(db, tenant))[events:] == ["STAGE_CHANGED"] * 2
    # The same model again: nothing to do, no job.
    again = (await gql.data(UPDATE_MODEL, {"id": cat["si"], "model": model["id"]},
                            key=tenant.write))["updateSolutionInterest"]
    assert again["restaging"] is None
    taken = (await gql.data(UPDATE_MODEL, {"id": cat["si"], "model": None},
                            key=tenant.write))["updateSolutionInterest"]
    assert taken["restaging"]["kind"] == "APPLY_STAGE_MODEL"
    await run_jobs(settings)
    out = (await gql.data(STAGES, {"si": cat["si"]}, key=tenant.read))["buyingGroups"]
    assert [g["stage"] for g in out["nodes"]] == [None, None]
    assert [len(g["stageHistory"]) for g in out["nodes"]] == [1, 1]  # kept
