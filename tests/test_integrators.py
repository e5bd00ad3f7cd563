"""What an integrator meets: ids in events that node(id:) resolves, typed stage rules, and
payloads that answer whatever they are asked."""

from __future__ import annotations

from typing import Any

import httpx

from service.events.changes import webhook_body
from service.infra.config import Settings
from service.infra.db import Database
from service.store import event_log
from tests.support import (
    ASSIGN,
    FUNNEL,
    REMOVE,
    GraphQLClient,
    TenantKeys,
    one_generated_group,
    role_ids,
    sim,
    use_simulator,
)

LOG = """{ buyingGroupEventLog(first: 100) { nodes { kind previousValue newValue cursor
  role { id name } previousRole { id name } stage { key } previousStage { key } } } }"""
NODE = """query($id: ID!) { node(id: $id) { __typename ... on Role { name } } }"""
MODEL = """mutation($input: CreateStageModelInput!) { createStageModel(input: $input) {
  stageModel { stages { key entryRule entersWhen { match conditions {
    metric operator value roleId role { name } } } } }
  userErrors { field code } } }"""


async def test_every_id_in_a_member_event_is_one_node_resolves(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, db: Database
) -> None:
    cat, group = await one_generated_group(gql, settings, tenant)
    roles = cat["roles"]
    vp = cat["people"]["A0-vp"]
    await gql.data(ASSIGN, {"group": group, "person": vp, "role": roles["Champion"]},
                   key=tenant.write)
    await gql.data(REMOVE, {"group": group, "person": vp}, key=tenant.write)
    log = (await gql.data(LOG, key=tenant.read))["buyingGroupEventLog"]["nodes"]
    moved = [e for e in log if e["kind"] == "MEMBER_ASSIGNED" and e["previousValue"]]
    removed = [e for e in log if e["kind"] == "MEMBER_REMOVED"]
    assert moved and removed
    assert moved[-1]["newValue"] == roles["Champion"] == moved[-1]["role"]["id"]
    assert moved[-1]["previousRole"]["id"] == moved[-1]["previousValue"] == roles["Influencer"]
    assert removed[-1]["previousValue"] == roles["Champion"] == \
        removed[-1]["previousRole"]["id"]
    for event in [*moved, *removed]:
        for value in (event["previousValue"], event["newValue"]):
            if value is not None:
                found = (await gql.data(NODE, {"id": value}, key=tenant.read))["node"]
                assert found["__typename"] == "Role"
    # Webhooks send the same values.
    async with db.tenant(tenant.id, readonly=True) as conn:
        rows = await event_log.events_after(conn, tenant.id, 0, 500)
    bodies = [httpx.Response(200, content=webhook_body(event_log.payload(r))).json()["data"]
              for r in rows if r["kind"] == "MEMBER_REMOVED"]
    assert bodies[-1]["previousValue"] == roles["Champion"]


async def test_stage_entry_rules_are_typed_and_the_json_form_still_reads(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    roles = await role_ids(gql, tenant.write)
    typed = {"match": "ANY", "conditions": [
        {"metric": "COMPLETENESS", "operator": "GTE", "value": 60},
        {"metric": "ROLE_MEMBERS", "operator": "GTE", "value": 1,
         "roleId": roles["Champion"]}]}
    stages: list[dict[str, Any]] = [dict(s) for s in FUNNEL]
    stages[1] = {**stages[1], "entersWhen": typed}
    made = (await gql.data(MODEL, {"input": {"name": "Typed", "stages": stages}},
                           key=tenant.write))["createStageModel"]
    assert made["userErrors"] == []
    stage = made["stageModel"]["stages"][1]
    assert stage["entersWhen"]["match"] == "ANY"
    conditions = stage["entersWhen"]["conditions"]
    assert conditions[0] == {"metric": "COMPLETENESS", "operator": "GTE", "value": 60.0,
                             "roleId": None, "role": None}
    assert conditions[1]["roleId"] == roles["Champion"] and \
        conditions[1]["role"] == {"name": "Champion"}
    # The deprecated JSON form reads the same rule.
    assert stage["entryRule"]["conditions"][1]["roleId"] == roles["Champion"]
    # Both forms at once, a role id of another type, a ROLE_MEMBERS without a role: refused.
    both = [dict(s) for s in stages]
    both[1] = {**both[1], "entryRule": typed}
    refused = await gql(MODEL, {"input": {"name": "Both", "stages": both}}, key=tenant.write)
    assert refused["errors"][0]["extensions"]["code"] == "INVALID_VALUE"
    wrong = [dict(s) for s in FUNNEL]
    wrong[1] = {**wrong[1], "entersWhen": {"conditions": [
        {"metric": "ROLE_MEMBERS", "operator": "GTE", "value": 1,
         "roleId": "U3RhZ2U6MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw"},
        {"metric": "ROLE_MEMBERS", "operator": "GTE", "value": 1}]}}
    errors = (await gql.data(MODEL, {"input": {"name": "Wrong", "stages": wrong}},
                             key=tenant.write))["createStageModel"]["userErrors"]
    path = ["input", "stages", "1", "entersWhen", "conditions"]
    assert {(tuple(e["field"]), e["code"]) for e in errors} == {
        ((*path, "0", "roleId"), "INVALID_ID"), ((*path, "1", "roleId"), "REQUIRED")}


async def test_a_job_payload_answers_deduplicated_alone_when_refused(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    """`deduplicated` alone, on a call that has userErrors, answered INTERNAL_SERVER_ERROR."""
    unknown_job = "QnV5aW5nR3JvdXBKb2I6MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw"
    unknown_si = "U29sdXRpb25JbnRlcmVzdDowMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDA="
    cancel = await gql(f'mutation {{ cancelBuyingGroupJob(input: {{id: "{unknown_job}"}}) '
                       "{ deduplicated } }", key=tenant.write)
    maintain = await gql("mutation { maintainBuyingGroups(input: {solutionInterestId: "
                         f'"{unknown_si}"}}) {{ deduplicated }} }}', key=tenant.write)
    assert cancel == {**cancel, "data": {"cancelBuyingGroupJob": {"deduplicated": False}}}
    assert "errors" not in cancel and "errors" not in maintain
    assert maintain["data"] == {"maintainBuyingGroups": {"deduplicated": False}}


CONFIGURE = """mutation($url: String!, $secret: String) {
  configureActivitySource(input: {baseUrl: $url, clientId: "demo-client",
                                  clientSecret: $secret}) {
    activitySync { source { baseUrl hasClientSecret } } userErrors { field code message } } }"""
TEST_SOURCE = """mutation { testActivitySource { ok baseUrl userErrors { field code } } }"""
SOURCE = "{ activitySync { source { baseUrl clientId hasClientSecret } } }"


async def test_a_source_is_saved_only_once_it_takes_the_credentials(
    gql: GraphQLClient, tenant: TenantKeys, simulator: str
) -> None:
    await sim(simulator, "/_sim/config", {"reset": True})
    wrong = (await gql.data(CONFIGURE, {"url": simulator, "secret": "not-it"},
                            key=tenant.admin))["configureActivitySource"]
    assert [(e["field"], e["code"]) for e in wrong["userErrors"]] == \
        [(["input", "clientSecret"], "CREDENTIALS_REFUSED")]
    nothing = {"baseUrl": None, "clientId": None, "hasClientSecret": False}
    assert (await gql.data(SOURCE, key=tenant.read))["activitySync"]["source"] == nothing
    await sim(simulator, "/_sim/faults", {"identity_500": 10})
    try:
        down = (await gql.data(CONFIGURE, {"url": simulator, "secret": "demo-secret"},
                               key=tenant.admin))["configureActivitySource"]
    finally:
        await sim(simulator, "/_sim/faults", {})
    assert [(e["field"], e["code"]) for e in down["userErrors"]] == \
        [(["input", "baseUrl"], "SOURCE_UNREACHABLE")]
    assert (await gql.data(SOURCE, key=tenant.read))["activitySync"]["source"] == nothing
    right = (await gql.data(CONFIGURE, {"url": simulator, "secret": "demo-secret"},
                            key=tenant.admin))["configureActivitySource"]
    assert right["userErrors"] == [] and right["activitySync"]["source"]["hasClientSecret"]
    assert (await gql.data(TEST_SOURCE, key=tenant.admin))["testActivitySource"] == \
        {"ok": True, "baseUrl": simulator, "userErrors": []}
    # Saved unchecked, a wrong secret is found by the test, not minutes later by a sync.
    await use_simulator(gql, tenant, simulator, secret="stale", check=False)
    tested = (await gql.data(TEST_SOURCE, key=tenant.admin))["testActivitySource"]
    assert tested == {"ok": False, "baseUrl": simulator,
                      "userErrors": [{"field": ["clientSecret"], "code": "CREDENTIALS_REFUSED"}]}
    refused = await gql(TEST_SOURCE, key=tenant.write)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
