"""Audiences: STATIC lists of accounts and DYNAMIC filters evaluated when used."""

from __future__ import annotations

from typing import Any

from tests.support import GraphQLClient, TenantKeys, upsert_accounts

CREATE = """mutation($input: CreateAccountListInput!) { createAccountList(input: $input) {
  accountList { id name kind accountCount accounts(first: 50) { totalCount nodes { externalId } }
    filter { match rules { attribute operator values } } }
  userErrors { field code message } } }"""
UPDATE = """mutation($input: UpdateAccountListInput!) { updateAccountList(input: $input) {
  accountList { id name accountCount accounts(first: 50) { nodes { externalId } } }
  userErrors { field code message } } }"""


def codes(payload: dict[str, Any]) -> set[tuple[str, str]]:
    return {(".".join(e["field"]), e["code"]) for e in payload["userErrors"]}


async def seed(gql: GraphQLClient, key: str) -> dict[str, str]:
    payload = await upsert_accounts(gql, key, [
        {"externalId": "soft-big", "name": "Big Soft", "industry": "Software",
         "annualRevenue": 5e6, "region": "EMEA", "attributes": {"tier": "gold"}},
        {"externalId": "soft-small", "name": "Small Soft", "industry": "software",
         "annualRevenue": 2e5, "region": "AMER"},
        {"externalId": "bank", "name": "Bank", "industry": "Finance", "annualRevenue": 9e9},
    ])
    return {a["externalId"]: a["id"] for a in payload["accounts"]}


async def test_a_dynamic_list_evaluates_its_filter_when_used(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    await seed(gql, tenant.write)
    payload = (await gql.data(CREATE, {"input": {"name": "Big software", "kind": "DYNAMIC",
        "filter": {"match": "ALL", "rules": [
            {"attribute": "industry", "operator": "EQUALS", "values": ["Software"]},
            {"attribute": "annualRevenue", "operator": "GREATER_THAN", "values": ["1000000"]}]}}},
        key=tenant.write))["createAccountList"]
    assert payload["userErrors"] == []
    audience = payload["accountList"]
    assert audience["kind"] == "DYNAMIC" and audience["accountCount"] == 1
    assert audience["accounts"]["nodes"] == [{"externalId": "soft-big"}]
    # A new matching account joins without touching the list.
    await upsert_accounts(gql, tenant.write, [{"externalId": "soft-new", "name": "New Soft",
                                               "industry": "SOFTWARE", "annualRevenue": 3e6}])
    again = await gql.data("query($id: ID!) { node(id: $id) { ... on AccountList { "
                           "accountCount } } }", {"id": audience["id"]}, key=tenant.read)
    assert again["node"]["accountCount"] == 2


async def test_a_static_list_holds_the_accounts_it_was_given(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    ids = await seed(gql, tenant.write)
    payload = (await gql.data(CREATE, {"input": {"name": "Targets", "kind": "STATIC",
        "accountIds": [ids["bank"], ids["soft-small"]]}}, key=tenant.write))["createAccountList"]
    audience = payload["accountList"]
    assert audience["accountCount"] == 2
    assert [a["externalId"] for a in audience["accounts"]["nodes"]] == ["bank", "soft-small"]
    updated = (await gql.data(UPDATE, {"input": {"id": audience["id"], "name": "Targets Q3",
        "addAccountIds": [ids["soft-big"]], "removeAccountIds": [ids["bank"]]}},
        key=tenant.write))["updateAccountList"]
    assert updated["accountList"]["name"] == "Targets Q3"
    assert [a["externalId"] for a in updated["accountList"]["accounts"]["nodes"]] == [
        "soft-big", "soft-small"]
    replaced = (await gql.data(UPDATE, {"input": {"id": audience["id"],
        "accountIds": [ids["bank"]]}}, key=tenant.write))["updateAccountList"]
    assert replaced["accountList"]["accountCount"] == 1


async def test_list_input_errors(gql: GraphQLClient, tenant: TenantKeys,
                                 other_tenant: TenantKeys) -> None:
    ids = await seed(gql, tenant.write)
    theirs = await upsert_accounts(gql, other_tenant.write, [{"externalId": "x", "name": "X"}])
    cases = [
        ({"name": "D", "kind": "DYNAMIC"}, {("input.filter", "REQUIRED")}),
        ({"name": "D", "kind": "DYNAMIC", "accountIds": [ids["bank"]],
          "filter": {"rules": []}}, {("input.accountIds", "INVALID_VALUE")}),
        ({"name": "D", "kind": "DYNAMIC", "filter": {"rules": [
            {"attribute": "jobTitle", "operator": "EQUALS", "values": ["CEO"]}]}},
         {("input.filter.rules.0.attribute", "UNKNOWN_ATTRIBUTE")}),
        ({"name": "D", "kind": "DYNAMIC", "filter": {"rules": [
            {"attribute": "employeeCount", "operator": "CONTAINS", "values": ["1"]}]}},
         {("input.filter.rules.0.operator", "OPERATOR_NOT_ALLOWED")}),
        ({"name": "S", "kind": "STATIC", "accountIds": [theirs["accounts"][0]["id"]]},
         {("input.accountIds.0", "NOT_FOUND")}),
        ({"name": "S", "kind": "STATIC", "filter": {"rules": []}},
         {("input.filter", "INVALID_VALUE")}),
        ({"name": " ", "kind": "STATIC"}, {("input.name", "REQUIRED")}),
    ]
    for given, expected in cases:
        payload = (await gql.data(CREATE, {"input": given}, key=tenant.write))
        assert codes(payload["createAccountList"]) == expected, given
    await gql.data(CREATE, {"input": {"name": "Once", "kind": "STATIC"}}, key=tenant.write)
    twice = await gql.data(CREATE, {"input": {"name": "once", "kind": "STATIC"}},
                           key=tenant.write)
    assert codes(twice["createAccountList"]) == {("input.name", "DUPLICATE")}
    listed = await gql.data("{ accountLists { totalCount nodes { name accountCount } } }",
                            key=tenant.read)
    assert listed["accountLists"] == {"totalCount": 1, "nodes": [{"name": "Once",
                                                                  "accountCount": 0}]}


async def test_deleting_a_list_keeps_its_accounts(gql: GraphQLClient, tenant: TenantKeys) -> None:
    ids = await seed(gql, tenant.write)
    made = (await gql.data(CREATE, {"input": {"name": "Tmp", "kind": "STATIC",
                                              "accountIds": [ids["bank"]]}}, key=tenant.write))
    list_id = made["createAccountList"]["accountList"]["id"]
    deleted = await gql.data("""mutation($id: ID!) { deleteAccountList(input: {id: $id}) {
        deletedAccountListId userErrors { code } } }""", {"id": list_id}, key=tenant.write)
    assert deleted["deleteAccountList"] == {"deletedAccountListId": list_id, "userErrors": []}
    assert (await gql.data("{ accounts { totalCount } }", key=tenant.read))[
        "accounts"]["totalCount"] == 3
