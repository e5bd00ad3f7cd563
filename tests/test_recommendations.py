"""Candidates for a role: ranked by the role's rules with their reasons, members of the role and
dismissed people left out, accepted as an assignment; and a template's member scope, which lets
a parent account's group take its sub-accounts' people."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg

from bench.common import build_groups
from service.infra.config import Settings
from service.infra.db import Database
from service.store import engagement as engagement_store
from service.store import recommendations as recommendation_store
from tests.support import (
    CREATE_GROUPS,
    CREATE_LIST,
    CREATE_SI,
    CREATE_TEMPLATE,
    PUBLISH,
    GraphQLClient,
    Scenario,
    TenantKeys,
    one_generated_group,
    role_ids,
    run_jobs,
    upsert_accounts,
    upsert_people,
)

RECOMMEND = """query($group: ID!, $role: ID!, $first: Int, $after: String) {
  node(id: $group) { ... on BuyingGroup { recommendations(roleId: $role, first: $first,
                                                           after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { person { externalId } matched conditionsMet conditionsTotal engagementPoints
            assignedRole { name }
            reasons { attribute operator expected actual matched } } } } } }"""
ACCEPT = """mutation($input: RecommendationInput!) { acceptRecommendation(input: $input) {
  member { source role { name } person { externalId } } userErrors { field code } } }"""
DISMISS = """mutation($input: RecommendationInput!) { dismissRecommendation(input: $input) {
  dismissedPersonId userErrors { field code } } }"""


async def recommended(gql: GraphQLClient, key: str, group: str, role: str, **more: Any
                      ) -> dict[str, Any]:
    data = await gql.data(RECOMMEND, {"group": group, "role": role, **more}, key=key)
    found: dict[str, Any] = data["node"]["recommendations"]
    return found


async def test_candidates_come_ranked_with_reasons_and_are_accepted_or_dismissed(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys
) -> None:
    cat, group = await one_generated_group(gql, settings, tenant)
    await upsert_people(gql, tenant.write, [
        {"externalId": "A0-data", "accountExternalId": "A0", "jobTitle": "Data Engineer"}])
    practitioner = cat["roles"]["Practitioner"]
    found = await recommended(gql, tenant.read, group, practitioner)
    # The engineer holds the role already: left out. The data engineer meets its one rule.
    assert found["nodes"][0]["person"]["externalId"] == "A0-data"
    assert {n["person"]["externalId"] for n in found["nodes"]} == {
        "A0-data", "A0-ceo", "A0-vp", "A0-intern"}
    best = found["nodes"][0]
    assert best == {"person": {"externalId": "A0-data"}, "matched": True, "conditionsMet": 1,
                    "conditionsTotal": 1, "engagementPoints": 0.0, "assignedRole": None,
                    "reasons": [{"attribute": "jobTitle", "operator": "CONTAINS",
                                 "expected": ["engineer"], "actual": "Data Engineer",
                                 "matched": True}]}
    ceo = next(n for n in found["nodes"] if n["person"]["externalId"] == "A0-ceo")
    assert ceo["assignedRole"] == {"name": "Decision Maker"} and ceo["matched"] is False

    # Pages go on from their cursor.
    first = await recommended(gql, tenant.read, group, practitioner, first=2)
    rest = await recommended(gql, tenant.read, group, practitioner, first=2,
                             after=first["pageInfo"]["endCursor"])
    assert first["pageInfo"]["hasNextPage"] and not rest["pageInfo"]["hasNextPage"]
    assert first["totalCount"] == rest["totalCount"] == 4
    past = await recommended(gql, tenant.read, group, practitioner, first=2,
                             after=rest["pageInfo"]["endCursor"])
    assert past["nodes"] == [] and past["totalCount"] == 4
    assert [n["person"] for n in first["nodes"] + rest["nodes"]] == \
        [n["person"] for n in found["nodes"]]

    item = {"buyingGroupId": group, "roleId": practitioner}
    dismissed = (await gql.data(DISMISS, {"input": {**item, "personId": cat["people"][
        "A0-intern"]}}, key=tenant.write))["dismissRecommendation"]
    assert dismissed == {"dismissedPersonId": cat["people"]["A0-intern"], "userErrors": []}
    data_engineer = next(iter((await gql.data(
        '{ people(filter: {search: "A0-data"}) { nodes { id } } }', key=tenant.read)
    )["people"]["nodes"]))["id"]
    accepted = (await gql.data(ACCEPT, {"input": {**item, "personId": data_engineer}},
                               key=tenant.write))["acceptRecommendation"]
    assert accepted == {"member": {"source": "MANUAL", "role": {"name": "Practitioner"},
                                   "person": {"externalId": "A0-data"}}, "userErrors": []}
    after = await recommended(gql, tenant.read, group, practitioner)
    assert {n["person"]["externalId"] for n in after["nodes"]} == {"A0-ceo", "A0-vp"}
    # The dismissal is for this role only.
    champion = await recommended(gql, tenant.read, group, cat["roles"]["Champion"])
    assert "A0-intern" in {n["person"]["externalId"] for n in champion["nodes"]}


async def test_a_role_outside_the_template_is_refused(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys
) -> None:
    cat, group = await one_generated_group(gql, settings, tenant)
    outside = next(r for name, r in cat["roles"].items() if name not in {
        "Decision Maker", "Influencer", "Practitioner", "Champion"})
    body = await gql(RECOMMEND, {"group": group, "role": outside}, key=tenant.read)
    assert body["errors"][0]["extensions"]["code"] == "ROLE_NOT_IN_TEMPLATE"
    refused = (await gql.data(DISMISS, {"input": {
        "buyingGroupId": group, "roleId": outside, "personId": cat["people"]["A0-ceo"]}},
        key=tenant.write))["dismissRecommendation"]
    assert refused["userErrors"] == [{"field": ["input", "roleId"],
                                      "code": "ROLE_NOT_IN_TEMPLATE"}]


async def test_a_parent_accounts_group_takes_its_sub_accounts_people_when_the_template_says(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, db: Database
) -> None:
    await upsert_accounts(gql, tenant.write, [
        {"externalId": "parent", "name": "Parent"},
        {"externalId": "child", "name": "Child", "parentExternalId": "parent"},
        {"externalId": "grandchild", "name": "Grandchild", "parentExternalId": "child"},
        {"externalId": "other", "name": "Other"}])
    people = {p["externalId"]: p["id"] for p in (await upsert_people(gql, tenant.write, [
        {"externalId": f"{a}-ceo", "accountExternalId": a, "jobTitle": "CEO"}
        for a in ("child", "grandchild", "other")]))["people"]}
    roles = await role_ids(gql, tenant.write)
    accounts = (await gql.data('{ accounts(filter: {search: "parent"}) { nodes { id } } }',
                               key=tenant.read))["accounts"]["nodes"]
    audience = (await gql.data(CREATE_LIST, {"input": {"name": "Parents", "kind": "STATIC",
                                                       "accountIds": [accounts[0]["id"]]}},
                               key=tenant.write))["createAccountList"]["accountList"]["id"]
    groups = {}
    for scope in ("ACCOUNT", "ACCOUNT_AND_DESCENDANTS"):
        template = (await gql.data(CREATE_TEMPLATE, {"input": {
            "name": scope, "memberScope": scope,
            "roles": [{"roleId": roles["Decision Maker"], "weighting": "VITAL", "conditions": {
                "rules": [{"attribute": "jobTitle", "operator": "EQUALS", "values": ["CEO"]}]}},
                      {"roleId": roles["Influencer"], "weighting": "NORMAL"}]}},
            key=tenant.write))["createRoleTemplate"]["roleTemplate"]
        await gql.data(PUBLISH, {"id": template["id"]}, key=tenant.write)
        si = (await gql.data(CREATE_SI, {"input": {"name": scope, "roleTemplateId":
                                                   template["id"]}}, key=tenant.write))
        si_id = si["createSolutionInterest"]["solutionInterest"]["id"]
        await gql.data(CREATE_GROUPS, {"si": si_id, "list": audience}, key=tenant.write)
        await run_jobs(settings)
        groups[scope] = (await gql.data(
            'query($si: ID!) { buyingGroups(filter: {solutionInterestIds: [$si]}) '
            '{ nodes { id roleTemplate { memberScope } members { nodes { person { externalId } '
            '} } } } }', {"si": si_id},
            key=tenant.read))["buyingGroups"]["nodes"][0]
    assert groups["ACCOUNT_AND_DESCENDANTS"]["roleTemplate"] == {
        "memberScope": "ACCOUNT_AND_DESCENDANTS"}
    # Generation: the parent has no CEO of its own; its sub-accounts' CEOs, at any depth, hold
    # the role where the template says so.
    assert groups["ACCOUNT"]["members"]["nodes"] == []
    assert {m["person"]["externalId"] for m in groups["ACCOUNT_AND_DESCENDANTS"]["members"][
        "nodes"]} == {"child-ceo", "grandchild-ceo"}

    assign = """mutation($g: ID!, $p: ID!, $r: ID!) { assignBuyingGroupMember(input:
        {buyingGroupId: $g, personId: $p, roleId: $r}) { userErrors { field code } } }"""

    async def errors(scope: str, person: str) -> list[dict[str, Any]]:
        done = await gql.data(assign, {"g": groups[scope]["id"], "p": people[person],
                                       "r": roles["Decision Maker"]}, key=tenant.write)
        found: list[dict[str, Any]] = done["assignBuyingGroupMember"]["userErrors"]
        return found

    not_in = [{"field": ["input", "personId"], "code": "PERSON_NOT_IN_ACCOUNT"}]
    assert await errors("ACCOUNT", "child-ceo") == not_in
    assert await errors("ACCOUNT_AND_DESCENDANTS", "other-ceo") == not_in
    candidates = await recommended(gql, tenant.read, groups["ACCOUNT_AND_DESCENDANTS"]["id"],
                                   roles["Influencer"])
    assert {(n["person"]["externalId"], n["assignedRole"]["name"])
            for n in candidates["nodes"]} == {("child-ceo", "Decision Maker"),
                                              ("grandchild-ceo", "Decision Maker")}
    assert await errors("ACCOUNT_AND_DESCENDANTS", "grandchild-ceo") == []


def test_candidates_meeting_as_many_rules_rank_by_their_activity(scenario: Scenario) -> None:
    async def example(conn: asyncpg.Connection[Any]) -> list[tuple[str, Decimal]]:
        tenant = await Scenario.new_tenant(conn, "Ranked")
        await conn.execute("UPDATE activity_types SET source_type_id = n FROM ("
                           "SELECT id, row_number() OVER (ORDER BY name) AS n "
                           "FROM activity_types WHERE tenant_id = $1) t "
                           "WHERE activity_types.id = t.id", tenant)
        await build_groups(conn, tenant, groups=1, per_group=6, days_per_person=0)
        group = await conn.fetchrow("SELECT id, account_id FROM buying_groups")
        assert group is not None
        role = await conn.fetchval("SELECT role_id FROM role_template_entries "
                                   "WHERE position = 0")
        await conn.execute("DELETE FROM buying_group_members WHERE role_id = $1", role)
        inputs = await engagement_store.scoring_inputs(conn, tenant)
        today = inputs.window[1]
        # Counts per lead (one activity type, capped per day as scores count them).
        for lead, count in (("A1-1", 3), ("A1-2", 50), ("A1-3", 0), ("A1-4", 7)):
            if count:
                await conn.execute(
                    "INSERT INTO activity_daily (tenant_id, lead_id, source_type_id, day, "
                    "count) VALUES ($1, $2, 1, $3, $4)", tenant, lead, today, count)
        found, _, _ = await recommendation_store.recommend(
            conn, tenant, group_id=group["id"], account_id=group["account_id"],
            descendants=False, role_id=role, conditions=None, inputs=inputs, limit=3,
            offset=0)
        names = {r["id"]: r["external_id"] for r in await conn.fetch(
            "SELECT id, external_id FROM people")}
        return [(names[r.person_id], r.points) for r in found]

    ranked = scenario.rolled_back(example)
    # A1-2's 50 are capped at the type's daily maximum (20 for every seeded type).
    assert ranked == [("A1-2", Decimal(20)), ("A1-4", Decimal(7)), ("A1-1", Decimal(3))]
