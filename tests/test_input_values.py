"""Each cause of an internal error the document fuzzer found, as its own regression test: text
with U+0000, `attributes: null`, integers beyond 64 bits in JSON, malformed entry rules, global
ids of types that are no node, a cancelled loader shared by two fields, DateTimes PostgreSQL
cannot hold; and a code on every error, with a last resort for anything that escapes."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest

from service.dev.demo import load_demo
from service.http.graphql_view import GraphQLApp
from service.infra.db import Database
from service.usecases.unit_of_work import CLI, unit_of_work
from tests.support import GraphQLClient, TenantKeys

UPSERT = """mutation($accounts: [AccountInput!]!) { upsertAccounts(input: {accounts: $accounts}) {
  accounts { externalId attributes } userErrors { field code message } } }"""
ACCOUNT = "query($x: String!) { account(externalId: $x) { name attributes } }"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]


async def account_attributes(gql: GraphQLClient, key: str, external_id: str) -> Any:
    account = (await gql.data(ACCOUNT, {"x": external_id}, key=key))["account"]
    return account and account["attributes"]


# --- text ------------------------------------------------------------------------------------

async def test_nul_in_a_literal_is_invalid_value_and_changes_nothing(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    body = await gql('mutation { createRole(input: {name: "a\\u0000b"}) { role { id } } }',
                     key=tenant.admin)
    assert body["data"] is None and codes(body) == ["INVALID_VALUE"]
    assert "U+0000" in body["errors"][0]["message"]
    roles = await gql.data("{ roles(first: 100) { nodes { name } } }", key=tenant.read)
    assert all("\x00" not in r["name"] for r in roles["roles"]["nodes"])
    assert len(roles["roles"]["nodes"]) == 6  # the defaults only

    body = await gql('{ accounts(filter: {search: "\\u0000"}) { totalCount } }', key=tenant.read)
    assert codes(body) == ["INVALID_VALUE"]


async def test_nul_in_variables_names_the_variable(gql: GraphQLClient, tenant: TenantKeys) -> None:
    body = await gql(UPSERT, {"accounts": [{"externalId": "A1", "name": "Acme\x00"}]},
                     key=tenant.write)
    assert codes(body) == ["INVALID_VALUE"]
    assert body["errors"][0]["extensions"]["variable"] == ["accounts", 0, "name"]
    # In a JSON key too: jsonb refuses it as well.
    body = await gql(UPSERT, {"accounts": [{"externalId": "A1", "name": "Acme",
                                            "attributes": {"k\x00": 1}}]}, key=tenant.write)
    assert codes(body) == ["INVALID_VALUE"]
    assert await account_attributes(gql, tenant.read, "A1") is None  # nothing was written


async def test_a_cursor_holding_nul_is_an_invalid_cursor(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    cursor = base64.urlsafe_b64encode(json.dumps(["a\x00", "x"]).encode()).decode()
    body = await gql("query($a: String) { roles(after: $a) { totalCount } }", {"a": cursor},
                     key=tenant.read)
    assert codes(body) == ["INVALID_CURSOR"]


# --- JSON ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["accounts", "people"])
async def test_attributes_null_clears_them(
    gql: GraphQLClient, tenant: TenantKeys, kind: str
) -> None:
    await gql.data(UPSERT, {"accounts": [{"externalId": "A1", "name": "Acme"}]},
                   key=tenant.write)
    mutation = {
        "accounts": UPSERT,
        "people": """mutation($items: [PersonInput!]!) { upsertPeople(input: {people: $items})
                     { people { attributes } userErrors { code } } }""",
    }[kind]
    item = ({"externalId": "A1", "name": "Acme"} if kind == "accounts"
            else {"externalId": "P1", "accountExternalId": "A1", "lastName": "Lind"})
    name = "accounts" if kind == "accounts" else "items"
    field = "upsertAccounts" if kind == "accounts" else "upsertPeople"
    result = await gql.data(mutation, {name: [{**item, "attributes": {"tier": 1}}]},
                            key=tenant.write)
    assert result[field][kind][0]["attributes"] == {"tier": 1}
    result = await gql.data(mutation, {name: [{**item, "attributes": None}]}, key=tenant.write)
    assert result[field]["userErrors"] == []
    assert result[field][kind][0]["attributes"] == {}
    # A new item with null attributes starts empty.
    fresh = {**item, "externalId": "A2" if kind == "accounts" else "P2", "attributes": None}
    result = await gql.data(mutation, {name: [fresh]}, key=tenant.write)
    assert result[field][kind][0]["attributes"] == {}


@pytest.mark.parametrize("number", ["18446744073709551616", "-9223372036854775809",
                                    "1" + "0" * 40, "1e400"])
async def test_a_number_json_cannot_hold_exactly_is_refused_in_a_literal(
    gql: GraphQLClient, tenant: TenantKeys, number: str
) -> None:
    body = await gql(f'mutation {{ upsertAccounts(input: {{accounts: [{{externalId: "B1", '
                     f'name: "B", attributes: {{n: {number}}}}}]}}) {{ accounts {{ id }} }} }}',
                     key=tenant.write)
    assert codes(body) == ["INVALID_VALUE"], body
    assert await account_attributes(gql, tenant.read, "B1") is None


async def test_a_number_beyond_64_bits_in_variables_is_refused_not_rounded(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    # Sent as raw JSON: the body parser must not read it as a float.
    query = json.dumps(UPSERT)
    for number in ("18446744073709551616", "-9223372036854775809"):
        raw = (f'{{"query": {query}, "variables": {{"accounts": [{{"externalId": "C1", '
               f'"name": "C", "attributes": {{"n": {number}}}}}]}}}}')
        response = await gql.http.post("/graphql", content=raw, headers={
            "Authorization": f"Bearer {tenant.write}", "Content-Type": "application/json"})
        assert response.status_code == 200
        body = response.json()
        assert codes(body) == ["INVALID_VALUE"], body
        assert "64-bit" in body["errors"][0]["message"]
    assert await account_attributes(gql, tenant.read, "C1") is None
    # The edges of the range are kept exactly.
    raw = (f'{{"query": {query}, "variables": {{"accounts": [{{"externalId": "C1", "name": "C", '
           f'"attributes": {{"big": 18446744073709551615, "small": -9223372036854775808}}}}]}}}}')
    response = await gql.http.post("/graphql", content=raw, headers={
        "Authorization": f"Bearer {tenant.write}", "Content-Type": "application/json"})
    assert "errors" not in response.json()
    assert b'"big":18446744073709551615' in (await gql.http.post(
        "/graphql", json={"query": ACCOUNT, "variables": {"x": "C1"}},
        headers={"Authorization": f"Bearer {tenant.read}"})).content


# --- entry rules -----------------------------------------------------------------------------

STAGE_MODEL = """mutation($rule: JSON) { createStageModel(input: {name: "M", stages: [
  {key: "a", name: "A", kind: ENTRY, transitionsTo: ["b"]},
  {key: "b", name: "B", kind: SUCCESS, entryRule: $rule}]}) {
  stageModel { stages { key entryRule } } userErrors { field code message } } }"""


@pytest.mark.parametrize("rule, field, code", [
    ({"conditions": "x"}, ["input", "stages", "1", "entryRule", "conditions"], "INVALID_VALUE"),
    ({"conditions": 5}, ["input", "stages", "1", "entryRule", "conditions"], "INVALID_VALUE"),
    (5, ["input", "stages", "1", "entryRule"], "INVALID_VALUE"),
    ([1], ["input", "stages", "1", "entryRule"], "INVALID_VALUE"),
    ({"conditions": [5]}, ["input", "stages", "1", "entryRule", "conditions", "0"],
     "INVALID_VALUE"),
    ({"conditions": [{"metric": ["x"], "operator": "GTE", "value": 1}]},
     ["input", "stages", "1", "entryRule", "conditions", "0", "metric"], "INVALID_VALUE"),
    ({"conditions": [{"metric": "ENGAGEMENT", "operator": {}, "value": 1}]},
     ["input", "stages", "1", "entryRule", "conditions", "0", "operator"], "UNKNOWN_OPERATOR"),
    ({"conditions": [{"metric": "ENGAGEMENT", "operator": "GTE", "value": "1e999999"}]},
     ["input", "stages", "1", "entryRule", "conditions", "0", "value"], "INVALID_NUMBER"),
    ({"conditions": [{"metric": "ROLE_MEMBERS", "operator": "GTE", "value": 1,
                      "roleId": "x"}]},
     ["input", "stages", "1", "entryRule", "conditions", "0", "roleId"], "INVALID_ID"),
])
async def test_a_malformed_entry_rule_is_a_user_error(
    gql: GraphQLClient, tenant: TenantKeys, rule: Any, field: list[str], code: str
) -> None:
    payload = (await gql.data(STAGE_MODEL, {"rule": rule}, key=tenant.write))["createStageModel"]
    assert payload["stageModel"] is None
    assert {"field": field, "code": code} in [
        {"field": e["field"], "code": e["code"]} for e in payload["userErrors"]]


async def test_an_entry_rule_names_its_role_by_global_id(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    role = (await gql.data("{ roles(first: 1) { nodes { id } } }", key=tenant.read))
    role_id = role["roles"]["nodes"][0]["id"]
    rule = {"conditions": [{"metric": "ROLE_MEMBERS", "operator": "GTE", "value": 1,
                            "roleId": role_id}]}
    payload = (await gql.data(STAGE_MODEL, {"rule": rule}, key=tenant.write))["createStageModel"]
    assert payload["userErrors"] == []
    stored = payload["stageModel"]["stages"][1]["entryRule"]
    assert stored["conditions"][0]["roleId"] == role_id


# --- ids -------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", ["Node:x", "Foo:x", ":", "Query:x", "Account:not-a-uuid"])
async def test_an_id_naming_no_node_is_null(
    gql: GraphQLClient, tenant: TenantKeys, raw: str
) -> None:
    body = await gql("query($id: ID!) { node(id: $id) { id } }", {"id": b64(raw)},
                     key=tenant.read)
    assert body == {"data": {"node": None}, "extensions": body.get("extensions")}


@pytest.mark.parametrize("raw", ["x", "%%%", ""])
async def test_a_malformed_id_is_invalid_id(gql: GraphQLClient, tenant: TenantKeys,
                                            raw: str) -> None:
    body = await gql("query($id: ID!) { node(id: $id) { id } }", {"id": raw}, key=tenant.read)
    assert codes(body) == ["INVALID_ID"]
    body = await gql(f'{{ node(id: "{raw}") {{ id }} }}', key=tenant.read)
    assert codes(body) == ["INVALID_ID"]


async def test_an_argument_id_of_the_wrong_type_is_invalid_id(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    for raw in ("Account:00000000-0000-0000-0000-000000000001", "Role:not-a-uuid"):
        body = await gql("mutation($id: ID!) { deleteRole(input: {id: $id}) "
                         "{ deletedRoleId } }", {"id": b64(raw)}, key=tenant.write)
        assert codes(body) == ["INVALID_ID"], body
        assert body["errors"][0]["extensions"]["field"] == ["input", "id"]


# --- a loader shared by two fields -----------------------------------------------------------

async def test_an_error_nulling_a_parent_does_not_cancel_a_shared_loader(
    gql: GraphQLClient, tenant: TenantKeys, db: Database
) -> None:
    async with unit_of_work(db, tenant.id, CLI) as work:
        await load_demo(work)
    # An account with two children and two groups: the page-size error under its second
    # child nulls the account while its `buyingGroups`, asked for by both groups, waits on
    # one loader future.
    data = await gql.data("""{ buyingGroups(first: 100) { nodes { account { id
        children(first: 1) { totalCount edges { cursor } } buyingGroups { id } } } } }""",
                          key=tenant.read)
    account = next(n["account"] for n in data["buyingGroups"]["nodes"]
                   if n["account"]["children"]["totalCount"] >= 2
                   and len(n["account"]["buyingGroups"]) == 2)
    response = await gql.raw(
        """query($after: String, $account: ID!) {
             buyingGroups(first: 2, filter: {accountIds: [$account]}) { nodes { account {
               children(first: 5, after: $after) { nodes { children(first: 120) { totalCount } } }
               buyingGroups { id } } stageHistory { at } } } }""",
        {"after": account["children"]["edges"][0]["cursor"], "account": account["id"]},
        key=tenant.read)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert set(codes(response.json())) == {"PAGE_SIZE_EXCEEDED"}, response.json()


# --- date-times ------------------------------------------------------------------------------

ACTIVITIES = """query($since: DateTime, $after: String) { people(first: 1) { nodes {
  activities(since: $since, after: $after) { totalCount } } } }"""


async def person(gql: GraphQLClient, tenant: TenantKeys) -> None:
    await gql.data(UPSERT, {"accounts": [{"externalId": "A1", "name": "Acme"}]},
                   key=tenant.write)
    await gql.data("""mutation { upsertPeople(input: {people: [{externalId: "P1",
        accountExternalId: "A1", lastName: "Lind"}]}) { userErrors { code } } }""",
                   key=tenant.write)


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
                                    "2026-13-01T00:00:00Z", "soon", "2026-01-01T00:00:00" * 5])
async def test_a_datetime_postgresql_cannot_hold_is_invalid_value(
    gql: GraphQLClient, tenant: TenantKeys, moment: str
) -> None:
    await person(gql, tenant)
    body = await gql(ACTIVITIES, {"since": moment}, key=tenant.read)
    assert codes(body) == ["INVALID_VALUE"], body
    body = await gql(f'{{ people(first: 1) {{ nodes {{ activities(since: "{moment}") '
                     f'{{ totalCount }} }} }} }}', key=tenant.read)
    assert codes(body) == ["INVALID_VALUE"], body


async def test_the_extremes_postgresql_holds_and_a_time_without_offset_work(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    await person(gql, tenant)
    for moment in ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59+00:00", "2026-01-01T12:00:00"):
        data = await gql.data(ACTIVITIES, {"since": moment}, key=tenant.read)
        assert data["people"]["nodes"][0]["activities"]["totalCount"] == 0


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
async def test_a_cursor_holding_such_a_datetime_is_an_invalid_cursor(
    gql: GraphQLClient, tenant: TenantKeys, moment: str
) -> None:
    await person(gql, tenant)
    cursor = base64.urlsafe_b64encode(json.dumps([moment, "x"]).encode()).decode()
    body = await gql(ACTIVITIES, {"after": cursor}, key=tenant.read)
    assert codes(body) == ["INVALID_CURSOR"]
    body = await gql("query($a: String) { apiKeys(after: $a) { totalCount } }",
                     {"a": base64.urlsafe_b64encode(json.dumps(
                         [moment, "00000000-0000-0000-0000-000000000000"]).encode()).decode()},
                     key=tenant.admin)
    assert codes(body) == ["INVALID_CURSOR"]


# --- a code on every error -------------------------------------------------------------------

@pytest.mark.parametrize("document, variables, code", [
    ("{ viewer { ", None, "GRAPHQL_PARSE_FAILED"),
    ("{ nothing }", None, "GRAPHQL_VALIDATION_FAILED"),
    ("{ roles(first: 99999999999) { totalCount } }", None, "GRAPHQL_VALIDATION_FAILED"),
    ("query($id: ID!) { node(id: $id) { id } }", None, "BAD_USER_INPUT"),
    ("query($n: Int!) { roles(first: $n) { totalCount } }", {"n": "x"}, "BAD_USER_INPUT"),
    ("{ roles(first: 101) { totalCount } }", None, "PAGE_SIZE_EXCEEDED"),
])
async def test_every_client_error_has_a_code(
    gql: GraphQLClient, tenant: TenantKeys, document: str, variables: dict[str, Any] | None,
    code: str
) -> None:
    body = await gql(document, variables, key=tenant.read)
    assert codes(body) == [code], body


@pytest.mark.parametrize("failure", [RuntimeError("boom"), asyncio.CancelledError()])
async def test_an_exception_escaping_execution_gets_the_graphql_error_shape(
    gql: GraphQLClient, tenant: TenantKeys, monkeypatch: pytest.MonkeyPatch,
    failure: BaseException
) -> None:
    async def fail(*args: Any, **kwargs: Any) -> None:
        raise failure

    monkeypatch.setattr(GraphQLApp, "execute_operation", fail)
    response = await gql.http.post("/graphql", json={"query": "{ viewer { scopes } }"},
                                   headers={"Authorization": f"Bearer {tenant.read}",
                                            "X-Request-ID": "req-42"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-42"}
    assert "req-42" in error["message"] and "boom" not in error["message"]


@pytest.mark.parametrize("parts", [["Lind", "Anna", 5], ["Lind", "Anna", None], [1, 2, 3],
                                   ["x", "y", "00000000-0000-0000-0000-00000000000g"]])
async def test_a_forged_cursor_of_any_shape_is_an_invalid_cursor(
    gql: GraphQLClient, tenant: TenantKeys, parts: list[Any]
) -> None:
    cursor = base64.urlsafe_b64encode(json.dumps(parts).encode()).decode()
    body = await gql("query($a: String) { people(after: $a) { totalCount } }", {"a": cursor},
                     key=tenant.read)
    assert codes(body) == ["INVALID_CURSOR"]
