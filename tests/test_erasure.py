"""Erasure on request: a person or an account goes with everything kept about them, the groups
are rescored, the event log keeps no trace of them but one PERSON_ERASED event, and neither a
re-sync nor an import brings them back."""

from __future__ import annotations

from typing import Any

from service.infra.config import Settings
from service.infra.db import Database
from tests.support import (
    VISIT,
    GraphQLClient,
    TenantKeys,
    at,
    generate,
    run_jobs,
    setup_catalogue,
    sim,
    sync,
    synced_activity,
    upsert_people,
)

ERASE_PERSON = """mutation($id: ID!) { erasePerson(input: {id: $id}) {
  erasedPersonIds buyingGroupsRescored buyingGroupsDeleted activitiesDeleted
  userErrors { field code } } }"""
ERASE_ACCOUNT = """mutation($id: ID!) { eraseAccount(input: {id: $id}) {
  erasedPersonIds buyingGroupsRescored buyingGroupsDeleted activitiesDeleted
  userErrors { field code } } }"""
GROUP = """query($id: ID!) { node(id: $id) { ... on BuyingGroup {
  completeness { value } engagement { value }
  members(first: 50) { nodes { person { externalId } } } } } }"""
LOG = """{ buyingGroupEventLog(first: 100) { nodes {
  kind buyingGroupId previousValue newValue person { id } actor } } }"""
RAW_LOG = "SELECT kind, person_id, previous_value, new_value FROM events WHERE tenant_id = $1"
ERASED_TALLY = "{ activitySync { activitiesIngested activitiesOfErasedPeople } }"


async def group_of(gql: GraphQLClient, key: str) -> dict[str, Any]:
    data = await gql.data("{ buyingGroups(first: 1) { nodes { id } } }", key=key)
    group_id = data["buyingGroups"]["nodes"][0]["id"]
    node: dict[str, Any] = (await gql.data(GROUP, {"id": group_id}, key=key))["node"]
    return {"id": group_id, **node}


async def test_an_erased_person_is_gone_and_never_comes_back(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, simulator: str, db: Database
) -> None:
    cat = await setup_catalogue(gql, tenant.write, accounts=1)
    await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    visits = [{"leadId": who, "activityTypeId": VISIT, "activityDate": at(-1, i)}
              for i, who in enumerate(["A0-ceo"] * 30 + ["A0-vp"] * 5)]
    await synced_activity(gql, settings, tenant, simulator, visits)
    before = await group_of(gql, tenant.read)
    assert "A0-ceo" in {m["person"]["externalId"] for m in before["members"]["nodes"]}
    ceo = cat["people"]["A0-ceo"]

    done = (await gql.data(ERASE_PERSON, {"id": ceo}, key=tenant.admin))["erasePerson"]
    assert done == {"erasedPersonIds": [ceo], "buyingGroupsRescored": 1,
                    "buyingGroupsDeleted": 0, "activitiesDeleted": 30, "userErrors": []}
    after = await group_of(gql, tenant.read)
    assert "A0-ceo" not in {m["person"]["externalId"] for m in after["members"]["nodes"]}
    assert after["completeness"]["value"] < before["completeness"]["value"]
    assert 0 < after["engagement"]["value"] < before["engagement"]["value"]
    lookup = '{ person(externalId: "A0-ceo") { id } }'
    assert (await gql.data(lookup, key=tenant.read))["person"] is None

    # One PERSON_ERASED with the id only; no other event names the person any more.
    log = (await gql.data(LOG, key=tenant.read))["buyingGroupEventLog"]["nodes"]
    erased = [e for e in log if e["kind"] == "PERSON_ERASED"]
    assert len(erased) == 1 and erased[0]["buyingGroupId"] is None
    assert erased[0]["previousValue"] is None and erased[0]["newValue"] is None
    assert erased[0]["actor"].startswith("api_key.")
    async with db.tenant(tenant.id) as conn:
        rows = await conn.fetch(RAW_LOG, tenant.id)
        assert [r["kind"] for r in rows if r["person_id"] is not None
                and str(r["person_id"]) in ceo] == []
        kept = await conn.fetchval(
            "SELECT count(*) FROM activities WHERE tenant_id = $1 AND lead_id = 'A0-ceo'",
            tenant.id)
        assert kept == 0
    assert {e["kind"] for e in log} >= {"COMPLETENESS_CHANGED", "ENGAGEMENT_CHANGED"}

    # The source sends the person's activities again: skipped and counted, the person stays
    # away; an upsert of the same externalId is refused.
    await sim(simulator, "/_sim/activities", [
        {"leadId": "A0-ceo", "activityTypeId": VISIT, "activityDate": at(-1, 100 + i)}
        for i in range(3)])
    tally_before = (await gql.data(ERASED_TALLY, key=tenant.read))["activitySync"]
    synced = await sync(gql, settings, tenant.write)
    assert synced["status"] == "SUCCEEDED"
    tally = (await gql.data(ERASED_TALLY, key=tenant.read))["activitySync"]
    assert tally["activitiesOfErasedPeople"] >= tally_before["activitiesOfErasedPeople"] + 3
    async with db.tenant(tenant.id) as conn:
        assert await conn.fetchval(
            "SELECT count(*) FROM activities WHERE tenant_id = $1 AND lead_id = 'A0-ceo'",
            tenant.id) == 0
    again = await upsert_people(gql, tenant.write, [
        {"externalId": "A0-ceo", "accountExternalId": "A0", "jobTitle": "CEO"},
        {"externalId": "A0-new", "accountExternalId": "A0", "jobTitle": "CFO"}])
    assert [(e["field"], e["code"]) for e in again["userErrors"]] == \
        [(["input", "people", "0", "externalId"], "ERASED")]
    await run_jobs(settings)
    assert (await gql.data(lookup, key=tenant.read))["person"] is None


async def test_erasure_refuses_what_it_cannot_erase_and_changes_nothing(
    gql: GraphQLClient, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    cat = await setup_catalogue(gql, tenant.write, accounts=1)
    mine = cat["people"]["A0-vp"]
    # Another tenant's person, an unknown one: NOT_FOUND, nothing changed.
    for key in (other_tenant.admin,):
        refused = (await gql.data(ERASE_PERSON, {"id": mine}, key=key))["erasePerson"]
        assert refused["userErrors"] == [{"field": ["input", "id"], "code": "NOT_FOUND"}]
    unknown = "UGVyc29uOjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMA=="
    refused = (await gql.data(ERASE_PERSON, {"id": unknown}, key=tenant.admin))["erasePerson"]
    assert refused["userErrors"] == [{"field": ["input", "id"], "code": "NOT_FOUND"}]
    # Only ADMIN; an id of another type is INVALID_ID.
    forbidden = await gql(ERASE_PERSON, {"id": mine}, key=tenant.write)
    assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    wrong = await gql(ERASE_PERSON, {"id": cat["si"]}, key=tenant.admin)
    assert wrong["errors"][0]["extensions"]["code"] == "INVALID_ID"
    account = await gql(ERASE_ACCOUNT, {"id": mine}, key=tenant.admin)
    assert account["errors"][0]["extensions"]["code"] == "INVALID_ID"
    still = await gql.data('{ person(externalId: "A0-vp") { id } }', key=tenant.read)
    assert still["person"] == {"id": mine}


async def test_an_erased_account_takes_its_people_and_groups_and_stays_erased(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, db: Database
) -> None:
    cat = await setup_catalogue(gql, tenant.write, accounts=2)
    await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    done = (await gql.data(ERASE_ACCOUNT, {"id": cat["accounts"]["A0"]},
                           key=tenant.admin))["eraseAccount"]
    assert done["userErrors"] == [] and len(done["erasedPersonIds"]) == 4
    assert done["buyingGroupsDeleted"] == 1 and done["buyingGroupsRescored"] == 0
    left = await gql.data("{ buyingGroups(first: 10) { nodes { account { externalId } } } }",
                          key=tenant.read)
    assert [g["account"]["externalId"] for g in left["buyingGroups"]["nodes"]] == ["A1"]
    log = (await gql.data(LOG, key=tenant.read))["buyingGroupEventLog"]["nodes"]
    assert sum(e["kind"] == "PERSON_ERASED" for e in log) == 4
    async with db.tenant(tenant.id) as conn:
        names = await conn.fetch(
            "SELECT previous_value, new_value FROM events WHERE tenant_id = $1 "
            "AND kind IN ('CREATED', 'DELETED') AND (previous_value::text LIKE '%Account 0%' "
            "OR new_value::text LIKE '%Account 0%')", tenant.id)
        assert names == []
        assert await conn.fetchval("SELECT count(*) FROM people WHERE tenant_id = $1 "
                                   "AND external_id LIKE 'A0-%'", tenant.id) == 0
    again = await gql.data("""mutation { upsertAccounts(input: {accounts: [
      {externalId: "A0", name: "Account 0"}]}) { userErrors { code } } }""", key=tenant.write)
    assert again["upsertAccounts"]["userErrors"] == [{"code": "ERASED"}]
    gone = await gql.data(ERASE_ACCOUNT, {"id": cat["accounts"]["A0"]}, key=tenant.admin)
    assert gone["eraseAccount"]["userErrors"][0]["code"] == "NOT_FOUND"
