"""Previewing a template on an audience: the figures agree with the groups generation then
makes, nothing is written, a draft's roles are checked as a template's, and a preview past its
time limit is stopped with a code that names the limit."""

from __future__ import annotations

from typing import Any

from bench.common import build_groups
from service.infra.config import Settings
from service.infra.db import Database
from tests.support import (
    CREATE_LIST,
    GraphQLClient,
    TenantKeys,
    app_with,
    generate,
    global_id,
    setup_catalogue,
)

PREVIEW = """query($input: PreviewRoleTemplateInput!) { previewRoleTemplate(input: $input) {
  preview { groups members averageCompleteness completenessBands { low high groups }
            roles { role { name } filled withMembers fillRate }
            sample { account { externalId } completeness completenessDisplay rolesFilled
                     memberCount members { person { externalId } role { name } matched
                                           reasons { attribute actual matched } } } }
  userErrors { field code message } } }"""
GROUPS = """{ buyingGroups(first: 50) { nodes { account { externalId }
  completeness { value rolesFilled } roles { role { name } isFilled memberCount } } } }"""


async def rows_written(db: Database, tenant: TenantKeys) -> tuple[int, int, int]:
    async with db.as_login() as conn:
        row = await conn.fetchrow(
            """SELECT (SELECT count(*) FROM buying_groups WHERE tenant_id = $1),
                      (SELECT count(*) FROM buying_group_members WHERE tenant_id = $1),
                      (SELECT count(*) FROM events WHERE tenant_id = $1)""", tenant.id)
    assert row is not None
    return row[0], row[1], row[2]


async def template_of(gql: GraphQLClient, key: str, si: str) -> str:
    found = await gql.data("query($id: ID!) { node(id: $id) { ... on SolutionInterest { "
                           "roleTemplate { id } } } }", {"id": si}, key=key)
    template: str = found["node"]["roleTemplate"]["id"]
    return template


async def test_a_preview_agrees_with_the_groups_generation_makes_and_writes_nothing(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, db: Database
) -> None:
    cat = await setup_catalogue(gql, tenant.write, accounts=3)
    template = await template_of(gql, tenant.write, cat["si"])
    before = await rows_written(db, tenant)
    answer = (await gql.data(PREVIEW, {"input": {"templateId": template,
                                                  "accountListId": cat["list"], "sample": 2}},
                             key=tenant.read))["previewRoleTemplate"]
    assert answer["userErrors"] == []
    assert await rows_written(db, tenant) == before
    preview = answer["preview"]
    assert [g["account"]["externalId"] for g in preview["sample"]] == ["A0", "A1"]

    await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    groups = (await gql.data(GROUPS, key=tenant.read))["buyingGroups"]["nodes"]
    assert preview["groups"] == len(groups) == 3
    values = [g["completeness"]["value"] for g in groups]
    assert abs(preview["averageCompleteness"] - sum(values) / len(values)) < 1e-9
    assert sum(b["groups"] for b in preview["completenessBands"]) == 3
    for fill in preview["roles"]:
        slots = [r for g in groups for r in g["roles"] if r["role"] == fill["role"]]
        assert fill["filled"] == sum(r["isFilled"] for r in slots)
        assert fill["withMembers"] == sum(r["memberCount"] > 0 for r in slots)
    by_account = {g["account"]["externalId"]: g for g in groups}
    for example in preview["sample"]:
        group = by_account[example["account"]["externalId"]]
        assert example["completeness"] == group["completeness"]["value"]
        assert example["rolesFilled"] == group["completeness"]["rolesFilled"]
    ceo = next(m for m in preview["sample"][0]["members"]
               if m["person"]["externalId"] == "A0-ceo")
    assert ceo == {"person": {"externalId": "A0-ceo"}, "role": {"name": "Decision Maker"},
                   "matched": True, "reasons": [{"attribute": "jobTitle", "actual": "CEO",
                                                 "matched": True}]}


async def test_a_draft_is_checked_and_a_bad_request_changes_nothing(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, other_tenant: TenantKeys,
    db: Database
) -> None:
    cat = await setup_catalogue(gql, tenant.write, accounts=2)
    other = await setup_catalogue(gql, other_tenant.write, accounts=1)
    template = await template_of(gql, tenant.write, cat["si"])
    roles = cat["roles"]
    draft = [{"roleId": roles["Practitioner"], "membersRequired": 1, "conditions": {
        "rules": [{"attribute": "jobTitle", "operator": "CONTAINS", "values": ["engineer"]}]}}]
    answer = (await gql.data(PREVIEW, {"input": {"roles": draft, "accountListId": cat["list"],
                                                  "sample": 0}},
                             key=tenant.read))["previewRoleTemplate"]
    assert answer["userErrors"] == []
    assert answer["preview"]["averageCompleteness"] == 100.0
    assert answer["preview"]["completenessBands"][-1] == {"low": 75, "high": 100, "groups": 2}

    async def errors(**given: Any) -> list[dict[str, Any]]:
        body = (await gql.data(PREVIEW, {"input": {"accountListId": cat["list"], **given}},
                               key=tenant.read))["previewRoleTemplate"]
        assert body["preview"] is None
        return [{"field": e["field"], "code": e["code"]} for e in body["userErrors"]]

    assert await errors(templateId=template, roles=draft) == [
        {"field": ["input", "templateId"], "code": "INVALID_VALUE"}]
    assert await errors(templateId=template, accountListId=other["list"]) == [
        {"field": ["input", "accountListId"], "code": "NOT_FOUND"}]
    assert await errors(templateId=template, sample=11) == [
        {"field": ["input", "sample"], "code": "INVALID_VALUE"}]
    assert await errors(roles=[{**draft[0], "membersRequired": 0}]) == [
        {"field": ["input", "roles", "0", "membersRequired"], "code": "INVALID_VALUE"}]


async def test_a_preview_past_its_time_limit_is_stopped_with_a_code(
    settings: Settings, tenant: TenantKeys, db: Database
) -> None:
    async with db.tenant(tenant.id) as conn:
        await build_groups(conn, tenant.id, groups=3000, per_group=5, days_per_person=0)
        template = await conn.fetchval("SELECT id FROM role_templates WHERE name = 'T'")
    async with app_with(settings, preview_timeout_seconds=0.001) as client:
        gql = GraphQLClient(client)
        made = (await gql.data(CREATE_LIST, {"input": {"name": "Everyone", "kind": "DYNAMIC",
                "filter": {"rules": [{"attribute": "name", "operator": "STARTS_WITH",
                                      "values": ["Account"]}]}}},
                               key=tenant.write))["createAccountList"]
        answer = (await gql.data(PREVIEW, {"input": {
            "templateId": global_id("RoleTemplate", template),
            "accountListId": made["accountList"]["id"]}},
            key=tenant.read))["previewRoleTemplate"]
    assert answer["preview"] is None
    assert [e["code"] for e in answer["userErrors"]] == ["PREVIEW_TIMEOUT"]
    assert "PREVIEW_TIMEOUT_SECONDS" in answer["userErrors"][0]["message"]
