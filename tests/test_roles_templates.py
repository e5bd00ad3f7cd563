"""Role catalogue, role templates and solution interests, with every userErrors code."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import CREATE_TEMPLATE, PUBLISH, ROLES, GraphQLClient, TenantKeys, role_ids

CREATE_ROLE = """mutation($name: String!) { createRole(input: {name: $name}) {
  role { id name isDefault } userErrors { field code message } } }"""
UPDATE_TEMPLATE = """mutation($input: UpdateRoleTemplateInput!) {
 updateRoleTemplate(input: $input) {
  roleTemplate { id name status roles { role { name } } } userErrors { field code message } } }"""
DELETE_TEMPLATE = """mutation($id: ID!) { deleteRoleTemplate(input: {id: $id}) {
  deletedRoleTemplateId userErrors { field code message } } }"""
COPY = """mutation($id: ID!, $name: String!) { copyRoleTemplate(input: {id: $id, name: $name}) {
  roleTemplate { id name status copiedFrom { id } roles { role { name } weighting } }
  userErrors { field code message } } }"""
CREATE_SI = """mutation($input: CreateSolutionInterestInput!) {
 createSolutionInterest(input: $input) {
  solutionInterest { id name products updateExistingBuyingGroups roleTemplate { name } }
  userErrors { field code message } } }"""


def codes(payload: dict[str, Any]) -> set[tuple[str, str]]:
    return {(".".join(e["field"]), e["code"]) for e in payload["userErrors"]}




async def live_template(gql: GraphQLClient, key: str, name: str = "Standard") -> str:
    ids = await role_ids(gql, key)
    created = (await gql.data(CREATE_TEMPLATE, {"input": {"name": name, "roles": [
        {"roleId": ids["Decision Maker"], "weighting": "VITAL"}]}}, key=key))
    template_id: str = created["createRoleTemplate"]["roleTemplate"]["id"]
    await gql.data(PUBLISH, {"id": template_id}, key=key)
    return template_id


# --- roles -----------------------------------------------------------------------------------


async def test_a_tenant_starts_with_six_immutable_default_roles(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    data = await gql.data(ROLES, key=tenant.read)
    names = [r["name"] for r in data["roles"]["nodes"]]
    assert names == ["Decision Maker", "Influencer", "Practitioner",
                     "Executive Steering Committee", "Champion", "Other"]
    assert all(r["isDefault"] for r in data["roles"]["nodes"])
    dm = data["roles"]["nodes"][0]["id"]
    update = await gql.data("""mutation($id: ID!) { updateRole(input: {id: $id, name: "Boss"}) {
        role { name } userErrors { code } } }""", {"id": dm}, key=tenant.write)
    assert update["updateRole"]["userErrors"] == [{"code": "IMMUTABLE"}]
    delete = await gql.data("""mutation($id: ID!) { deleteRole(input: {id: $id}) {
        deletedRoleId userErrors { code } } }""", {"id": dm}, key=tenant.write)
    assert delete["deleteRole"]["userErrors"] == [{"code": "IMMUTABLE"}]


async def test_custom_roles_are_unique_and_limited_to_20_in_all(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    first = (await gql.data(CREATE_ROLE, {"name": "Security"}, key=tenant.write))["createRole"]
    assert first["role"]["name"] == "Security" and not first["role"]["isDefault"]
    duplicate = (await gql.data(CREATE_ROLE, {"name": "security"}, key=tenant.write))
    assert codes(duplicate["createRole"]) == {("input.name", "DUPLICATE")}
    blank = (await gql.data(CREATE_ROLE, {"name": "  "}, key=tenant.write))["createRole"]
    assert codes(blank) == {("input.name", "REQUIRED")}
    long = (await gql.data(CREATE_ROLE, {"name": "x" * 101}, key=tenant.write))["createRole"]
    assert codes(long) == {("input.name", "TOO_LONG")}
    for i in range(13):  # 6 default + Security + 13 = 20
        made = (await gql.data(CREATE_ROLE, {"name": f"Role {i}"}, key=tenant.write))
        assert made["createRole"]["userErrors"] == []
    over = (await gql.data(CREATE_ROLE, {"name": "One too many"}, key=tenant.write))
    assert codes(over["createRole"]) == {("input", "LIMIT_REACHED")}
    assert (await gql.data(ROLES, key=tenant.read))["roles"]["totalCount"] == 20


async def test_a_role_used_by_a_template_cannot_be_deleted(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    role = (await gql.data(CREATE_ROLE, {"name": "Security"}, key=tenant.write))
    role_id = role["createRole"]["role"]["id"]
    await gql.data(CREATE_TEMPLATE, {"input": {"name": "T", "roles": [{"roleId": role_id}]}},
                   key=tenant.write)
    delete = """mutation($id: ID!) { deleteRole(input: {id: $id}) {
        deletedRoleId userErrors { code } } }"""
    refused = await gql.data(delete, {"id": role_id}, key=tenant.write)
    assert refused["deleteRole"]["userErrors"] == [{"code": "IN_USE"}]
    unused = (await gql.data(CREATE_ROLE, {"name": "Spare"}, key=tenant.write))
    spare = unused["createRole"]["role"]["id"]
    done = await gql.data(delete, {"id": spare}, key=tenant.write)
    assert done["deleteRole"] == {"deletedRoleId": spare, "userErrors": []}
    renamed = await gql.data("""mutation($id: ID!) { updateRole(input: {id: $id,
        name: "InfoSec", description: "Security team"}) { role { name description } } }""",
                             {"id": role_id}, key=tenant.write)
    assert renamed["updateRole"]["role"] == {"name": "InfoSec", "description": "Security team"}


# --- role templates --------------------------------------------------------------------------


async def test_template_roles_keep_order_weights_and_rules(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    ids = await role_ids(gql, tenant.read)
    payload = (await gql.data(CREATE_TEMPLATE, {"input": {"name": "Enterprise", "roles": [
        {"roleId": ids["Decision Maker"], "weighting": "VITAL",
         "conditions": {"match": "ANY", "rules": [
             {"attribute": "jobTitle", "operator": "CONTAINS", "values": ["CMO", "CEO"]}]}},
        {"roleId": ids["Influencer"], "weighting": "IMPORTANT", "membersRequired": 2},
        {"roleId": ids["Practitioner"], "weighting": "NORMAL",
         "countsTowardCompleteness": False},
    ]}}, key=tenant.write))["createRoleTemplate"]
    assert payload["userErrors"] == []
    template = payload["roleTemplate"]
    assert template["status"] == "DRAFT"
    roles = template["roles"]
    assert [r["role"]["name"] for r in roles] == ["Decision Maker", "Influencer", "Practitioner"]
    assert [r["weightPercent"] for r in roles] == [41.67, 33.33, 25.0]
    assert [r["weightingValue"] for r in roles] == [100, 80, 60]
    assert [r["priority"] for r in roles] == [1, 2, 3]
    assert roles[1]["membersRequired"] == 2 and roles[2]["countsTowardCompleteness"] is False
    assert roles[0]["conditions"] == {"match": "ANY", "rules": [
        {"attribute": "jobTitle", "operator": "CONTAINS", "values": ["CMO", "CEO"]}]}
    assert roles[1]["conditions"] is None


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"roleId": "Um9sZTowMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDA="},
         ("input.roles.0.roleId", "NOT_FOUND")),
        ({"membersRequired": 0}, ("input.roles.0.membersRequired", "INVALID_VALUE")),
        ({"conditions": {"rules": [{"attribute": "shoeSize", "operator": "EQUALS",
                                    "values": ["42"]}]}},
         ("input.roles.0.conditions.rules.0.attribute", "UNKNOWN_ATTRIBUTE")),
        ({"conditions": {"rules": [{"attribute": "jobTitle", "operator": "STARTS_WITH"}]}},
         ("input.roles.0.conditions.rules.0.values", "VALUE_REQUIRED")),
        ({"conditions": {"rules": [{"attribute": "attributes.score",
                                    "operator": "GREATER_THAN", "values": ["lots"]}]}},
         ("input.roles.0.conditions.rules.0.values.0", "INVALID_NUMBER")),
    ],
)
async def test_invalid_template_roles_are_user_errors(
    gql: GraphQLClient, tenant: TenantKeys, entry: dict[str, Any], expected: tuple[str, str]
) -> None:
    ids = await role_ids(gql, tenant.read)
    payload = (await gql.data(CREATE_TEMPLATE, {"input": {"name": "Bad", "roles": [
        {"roleId": ids["Champion"], **entry}]}}, key=tenant.write))["createRoleTemplate"]
    assert payload["roleTemplate"] is None
    assert codes(payload) == {expected}
    listed = await gql.data("{ roleTemplates { totalCount } }", key=tenant.read)
    assert listed["roleTemplates"]["totalCount"] == 0


async def test_duplicate_roles_and_names_are_refused(gql: GraphQLClient, tenant: TenantKeys
                                                     ) -> None:
    ids = await role_ids(gql, tenant.read)
    twice = (await gql.data(CREATE_TEMPLATE, {"input": {"name": "Twice", "roles": [
        {"roleId": ids["Champion"]}, {"roleId": ids["Champion"]}]}}, key=tenant.write))
    assert codes(twice["createRoleTemplate"]) == {("input.roles.1.roleId", "DUPLICATE")}
    await gql.data(CREATE_TEMPLATE, {"input": {"name": "Taken"}}, key=tenant.write)
    again = (await gql.data(CREATE_TEMPLATE, {"input": {"name": "taken"}}, key=tenant.write))
    assert codes(again["createRoleTemplate"]) == {("input.name", "DUPLICATE")}
    empty = (await gql.data(CREATE_TEMPLATE, {"input": {"name": ""}}, key=tenant.write))
    assert codes(empty["createRoleTemplate"]) == {("input.name", "REQUIRED")}


async def test_publish_needs_a_role_and_makes_the_template_immutable(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    ids = await role_ids(gql, tenant.read)
    draft = (await gql.data(CREATE_TEMPLATE, {"input": {"name": "Empty"}}, key=tenant.write))
    template_id = draft["createRoleTemplate"]["roleTemplate"]["id"]
    refused = (await gql.data(PUBLISH, {"id": template_id}, key=tenant.write))
    assert codes(refused["publishRoleTemplate"]) == {("input.id", "NO_ROLES")}

    edited = (await gql.data(UPDATE_TEMPLATE, {"input": {"id": template_id, "name": "Renamed",
        "roles": [{"roleId": ids["Influencer"]}]}}, key=tenant.write))["updateRoleTemplate"]
    assert edited["roleTemplate"]["name"] == "Renamed"
    assert [r["role"]["name"] for r in edited["roleTemplate"]["roles"]] == ["Influencer"]

    published = (await gql.data(PUBLISH, {"id": template_id}, key=tenant.write))
    assert published["publishRoleTemplate"]["roleTemplate"]["status"] == "LIVE"
    assert published["publishRoleTemplate"]["roleTemplate"]["publishedAt"]

    frozen = (await gql.data(UPDATE_TEMPLATE, {"input": {"id": template_id, "name": "Again"}},
                             key=tenant.write))
    assert codes(frozen["updateRoleTemplate"]) == {("input.id", "IMMUTABLE")}
    undeletable = await gql.data(DELETE_TEMPLATE, {"id": template_id}, key=tenant.write)
    assert codes(undeletable["deleteRoleTemplate"]) == {("input.id", "IMMUTABLE")}

    copy = (await gql.data(COPY, {"id": template_id, "name": "Renamed v2"},
                           key=tenant.write))["copyRoleTemplate"]
    assert copy["roleTemplate"]["status"] == "DRAFT"
    assert copy["roleTemplate"]["copiedFrom"] == {"id": template_id}
    assert copy["roleTemplate"]["roles"] == [{"role": {"name": "Influencer"},
                                              "weighting": "NORMAL"}]
    gone = await gql.data(DELETE_TEMPLATE, {"id": copy["roleTemplate"]["id"]}, key=tenant.write)
    assert gone["deleteRoleTemplate"]["userErrors"] == []


async def test_templates_filter_by_status_and_search(gql: GraphQLClient, tenant: TenantKeys
                                                     ) -> None:
    await live_template(gql, tenant.write, "Alpha live")
    await gql.data(CREATE_TEMPLATE, {"input": {"name": "Beta draft"}}, key=tenant.write)
    query = """query($f: RoleTemplateFilter) { roleTemplates(filter: $f) { nodes { name } } }"""
    live = await gql.data(query, {"f": {"status": "LIVE"}}, key=tenant.read)
    assert live["roleTemplates"]["nodes"] == [{"name": "Alpha live"}]
    search = await gql.data(query, {"f": {"search": "beta"}}, key=tenant.read)
    assert search["roleTemplates"]["nodes"] == [{"name": "Beta draft"}]


# --- solution interests ----------------------------------------------------------------------


async def test_a_solution_interest_needs_a_live_template(gql: GraphQLClient, tenant: TenantKeys
                                                          ) -> None:
    draft = (await gql.data(CREATE_TEMPLATE, {"input": {"name": "Draft"}}, key=tenant.write))
    draft_id = draft["createRoleTemplate"]["roleTemplate"]["id"]
    refused = (await gql.data(CREATE_SI, {"input": {"name": "Cloud", "roleTemplateId": draft_id}},
                              key=tenant.write))["createSolutionInterest"]
    assert codes(refused) == {("input.roleTemplateId", "TEMPLATE_NOT_LIVE")}
    template_id = await live_template(gql, tenant.write)
    created = (await gql.data(CREATE_SI, {"input": {
        "name": "Cloud", "roleTemplateId": template_id, "products": ["Compute", " Storage "],
        "updateExistingBuyingGroups": True}}, key=tenant.write))["createSolutionInterest"]
    assert created["userErrors"] == []
    si = created["solutionInterest"]
    assert si["products"] == ["Compute", "Storage"] and si["updateExistingBuyingGroups"] is True
    assert si["roleTemplate"] == {"name": "Standard"}
    duplicate = (await gql.data(CREATE_SI, {"input": {"name": "cloud",
                                                      "roleTemplateId": template_id}},
                                key=tenant.write))["createSolutionInterest"]
    assert codes(duplicate) == {("input.name", "DUPLICATE")}
    unknown_stage = (await gql.data(CREATE_SI, {"input": {
        "name": "Edge", "roleTemplateId": template_id,
        "stageModelId": "U3RhZ2VNb2RlbDowMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDA="}},
        key=tenant.write))["createSolutionInterest"]
    assert codes(unknown_stage) == {("input.stageModelId", "NOT_FOUND")}


async def test_a_solution_interest_template_never_changes(gql: GraphQLClient, tenant: TenantKeys
                                                          ) -> None:
    template_id = await live_template(gql, tenant.write)
    other_id = await live_template(gql, tenant.write, "Other")
    si = (await gql.data(CREATE_SI, {"input": {"name": "Data", "roleTemplateId": template_id}},
                         key=tenant.write))["createSolutionInterest"]["solutionInterest"]
    update = """mutation($input: UpdateSolutionInterestInput!) { updateSolutionInterest(
        input: $input) { solutionInterest { name description products roleTemplate { name } }
        userErrors { field code } } }"""
    refused = await gql.data(update, {"input": {"id": si["id"], "roleTemplateId": other_id}},
                             key=tenant.write)
    assert refused["updateSolutionInterest"]["userErrors"] == [
        {"field": ["input", "roleTemplateId"], "code": "IMMUTABLE"}]
    changed = await gql.data(update, {"input": {"id": si["id"], "name": "Data Platform",
                                                "description": "Warehouse", "products": ["DW"]}},
                             key=tenant.write)
    assert changed["updateSolutionInterest"]["solutionInterest"] == {
        "name": "Data Platform", "description": "Warehouse", "products": ["DW"],
        "roleTemplate": {"name": "Standard"}}


async def test_a_solution_interest_used_by_a_job_cannot_be_deleted(
    gql: GraphQLClient, tenant: TenantKeys, db: Any
) -> None:
    from service.api.nodes import decode_id
    from service.store.jobs import JobKind, create_job

    template_id = await live_template(gql, tenant.write)
    si = (await gql.data(CREATE_SI, {"input": {"name": "Sec", "roleTemplateId": template_id}},
                         key=tenant.write))["createSolutionInterest"]["solutionInterest"]
    delete = """mutation($id: ID!) { deleteSolutionInterest(input: {id: $id}) {
        deletedSolutionInterestId userErrors { code } } }"""
    async with db.tenant(tenant.id) as conn:
        await create_job(conn, tenant.id, JobKind.CREATE,
                         solution_interest_id=decode_id(si["id"], "SolutionInterest", ["id"]))
    refused = await gql.data(delete, {"id": si["id"]}, key=tenant.write)
    assert refused["deleteSolutionInterest"]["userErrors"] == [{"code": "IN_USE"}]
    other = (await gql.data(CREATE_SI, {"input": {"name": "Free", "roleTemplateId": template_id}},
                            key=tenant.write))["createSolutionInterest"]["solutionInterest"]
    done = await gql.data(delete, {"id": other["id"]}, key=tenant.write)
    assert done["deleteSolutionInterest"] == {"deletedSolutionInterestId": other["id"],
                                              "userErrors": []}
    search = await gql.data('{ solutionInterests(filter: {search: "sec"}) { nodes { name } } }',
                            key=tenant.read)
    assert search["solutionInterests"]["nodes"] == [{"name": "Sec"}]


async def test_named_catalogues_page_by_name(gql: GraphQLClient, tenant: TenantKeys) -> None:
    for name in ("beta", "Alpha", "gamma"):
        await gql.data(CREATE_TEMPLATE, {"input": {"name": name}}, key=tenant.write)
    query = """query($after: String) { roleTemplates(first: 1, after: $after) {
      totalCount nodes { name } pageInfo { hasNextPage endCursor } } }"""
    seen, after = [], None
    while True:
        page = (await gql.data(query, {"after": after}, key=tenant.read))["roleTemplates"]
        assert page["totalCount"] == 3
        seen += [n["name"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["Alpha", "beta", "gamma"]


async def test_an_operator_is_one_of_the_enum_before_anything_runs(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    """ConditionRuleInput.operator is the ConditionOperator enum, as ConditionRule.operator is:
    a typed client cannot send another value, and the server refuses one before execution."""
    ids = await role_ids(gql, tenant.read)
    body = await gql(CREATE_TEMPLATE, {"input": {"name": "Bad", "roles": [
        {"roleId": ids["Champion"], "conditions": {"rules": [
            {"attribute": "jobTitle", "operator": "SOUNDS_LIKE", "values": ["x"]}]}}]}},
        key=tenant.write)
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "ConditionOperator" in error["message"] and body["data"] is None
    listed = await gql.data("{ roleTemplates { totalCount } }", key=tenant.read)
    assert listed["roleTemplates"]["totalCount"] == 0
