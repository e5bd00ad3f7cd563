"""Candidates for a role: ranked by the role's rules with their reasons, members of the role and
dismissed people left out, accepted as an assignment; and a template's member scope, which lets
a parent account's group take its sub-accounts' people."""

from __future__ import annotations

from typing import Any

from service.infra.config import Settings
from service.infra.db import Database
from tests.support import (
    CREATE_GROUPS,
    CREATE_LIST,
    CREATE_SI,
    CREATE_TEMPLATE,
    PUBLISH,
    GraphQLClient,
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
    pageInfo { hasNextPage endCursor }
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
