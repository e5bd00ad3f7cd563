"""Generated names follow renames of the account and the solution interest; a name a user gave
a group stays until they clear it."""

from __future__ import annotations

from service.infra.config import Settings
from tests.support import GraphQLClient, TenantKeys, generate, setup_catalogue, upsert_accounts

NAMES = """{ buyingGroups(first: 10, orderBy: {field: CREATED_AT}) {
  nodes { id name nameIsGenerated account { externalId } } } }"""
RENAME = """mutation($id: ID!, $name: String) { renameBuyingGroup(input: {id: $id, name: $name}) {
  buyingGroup { name nameIsGenerated } userErrors { field code } } }"""
RENAME_SI = """mutation($id: ID!, $name: String!) {
  updateSolutionInterest(input: {id: $id, name: $name}) { userErrors { code } } }"""


async def names(gql: GraphQLClient, key: str) -> dict[str, tuple[str, bool]]:
    nodes = (await gql.data(NAMES, key=key))["buyingGroups"]["nodes"]
    return {n["account"]["externalId"]: (n["name"], n["nameIsGenerated"]) for n in nodes}


async def test_generated_names_follow_renames_and_own_names_stay(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys
) -> None:
    cat = await setup_catalogue(gql, tenant.write, accounts=2)
    await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    assert await names(gql, tenant.read) == {"A0": ("Cloud for Account 0", True),
                                             "A1": ("Cloud for Account 1", True)}
    await upsert_accounts(gql, tenant.write, [{"externalId": "A0", "name": "Zenith"}])
    changed = await gql.data(RENAME_SI, {"id": cat["si"], "name": "Edge"}, key=tenant.write)
    assert changed["updateSolutionInterest"]["userErrors"] == []
    assert await names(gql, tenant.read) == {"A0": ("Edge for Zenith", True),
                                             "A1": ("Edge for Account 1", True)}
    group = {n["account"]["externalId"]: n["id"] for n in (await gql.data(
        NAMES, key=tenant.read))["buyingGroups"]["nodes"]}["A1"]
    own = await gql.data(RENAME, {"id": group, "name": "  Key deal  "}, key=tenant.write)
    assert own["renameBuyingGroup"] == {"buyingGroup": {"name": "Key deal",
                                                        "nameIsGenerated": False},
                                        "userErrors": []}
    await upsert_accounts(gql, tenant.write, [{"externalId": "A1", "name": "Nadir"}])
    await gql.data(RENAME_SI, {"id": cat["si"], "name": "Core"}, key=tenant.write)
    assert await names(gql, tenant.read) == {"A0": ("Core for Zenith", True),
                                             "A1": ("Key deal", False)}
    back = await gql.data(RENAME, {"id": group, "name": None}, key=tenant.write)
    assert back["renameBuyingGroup"]["buyingGroup"] == {"name": "Core for Nadir",
                                                        "nameIsGenerated": True}
    too_long = await gql.data(RENAME, {"id": group, "name": "x" * 201}, key=tenant.write)
    assert too_long["renameBuyingGroup"] == {"buyingGroup": None, "userErrors": [
        {"field": ["input", "name"], "code": "TOO_LONG"}]}
