"""Buying groups end to end: generation job, rule assignment and priority, completeness,
membership precedence, maintenance, idempotent and resumable jobs."""

from __future__ import annotations

import uuid
from typing import Any, cast

import pytest
from arq.connections import ArqRedis

from jobs import buying_groups as group_jobs
from jobs.run import JobRun
from jobs.sweeper import sweep
from service.api.nodes import decode_id
from service.infra.config import Settings
from service.infra.db import Database
from service.store import group_generation as generation_store
from service.store import role_templates as template_store
from tests.support import (
    ASSIGN,
    CREATE_GROUPS,
    JOB,
    REMOVE,
    Explaining,
    GraphQLClient,
    TenantKeys,
    generate,
    global_id,
    groups,
    maintain,
    plan_nodes,
    run_jobs,
    scans_of,
    setup_catalogue,
    upsert_people,
)


async def test_generation_creates_one_group_per_account_with_rule_assigned_members(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys
) -> None:
    cat = await setup_catalogue(gql, tenant.write)
    job = await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    assert job["status"] == "SUCCEEDED", job
    assert job["progress"] == {"total": 3, "processed": 3}
    assert job["buyingGroupsCreated"] == 3 and job["solutionInterest"] == {"name": "Cloud"}
    found = await groups(gql, tenant.read)
    assert [g["name"] for g in found] == ["Cloud for Account 0", "Cloud for Account 1",
                                          "Cloud for Account 2"]
    group = found[0]
    members = {m["person"]["externalId"]: (m["role"]["name"], m["source"])
               for m in group["members"]["nodes"]}
    # First matching role wins: the CEO matches DM and Influencer, and is only DM.
    assert members == {"A0-ceo": ("Decision Maker", "SYSTEM"),
                       "A0-vp": ("Influencer", "SYSTEM"),
                       "A0-eng": ("Practitioner", "SYSTEM")}
    # DM 1/1, Influencer 1/1, Practitioner 1/2, Champion 0/1 → (1 + 1 + 0.5 + 0) / 4 = 62.5
    assert group["completeness"]["value"] == 62.5
    assert group["completeness"]["display"] == 63  # half up
    assert (group["completeness"]["rolesFilled"], group["completeness"]["rolesTotal"]) == (2, 4)
    assert group["memberCount"] == 3
    assert [r["name"] for r in group["missingRoles"]] == ["Practitioner", "Champion"]
    practitioner = group["roles"][2]
    assert (practitioner["memberCount"], practitioner["isFilled"]) == (1, False)
    assert group["engagement"] == {"value": 0.0, "display": 0}


async def test_running_the_job_again_creates_nothing_new(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys
) -> None:
    cat = await setup_catalogue(gql, tenant.write)
    await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    again = await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    assert again["status"] == "SUCCEEDED" and again["buyingGroupsCreated"] == 0
    assert len(await groups(gql, tenant.read)) == 3


async def test_a_job_killed_half_way_finishes_with_one_group_per_account(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, db: Database,
    redis: ArqRedis, monkeypatch: pytest.MonkeyPatch,
) -> None:
    cat = await setup_catalogue(gql, tenant.write, accounts=5)
    monkeypatch.setattr(group_jobs, "CHUNK", 2)
    original = JobRun.progress
    calls = {"n": 0}

    class WorkerKilled(BaseException):
        """Not an Exception: like a killed process, nothing records how the job ended."""

    async def dies_after_first_chunk(self: JobRun, **kwargs: Any) -> None:
        await original(self, **kwargs)
        calls["n"] += 1
        if calls["n"] == 2:  # the first chunk's groups are committed, then the worker dies
            raise WorkerKilled

    monkeypatch.setattr(JobRun, "progress", dies_after_first_chunk)
    job = (await gql.data(CREATE_GROUPS, {"si": cat["si"], "list": cat["list"]},
                          key=tenant.write))["createBuyingGroups"]["job"]
    with pytest.raises(WorkerKilled):
        await run_jobs(settings)
    monkeypatch.setattr(JobRun, "progress", original)
    half = (await gql.data(JOB, {"id": job["id"]}, key=tenant.read))["node"]
    assert half["status"] == "RUNNING" and half["buyingGroupsCreated"] == 2
    assert len(await groups(gql, tenant.read)) == 2

    async with db.as_login() as conn:  # its lease runs out
        await conn.execute("UPDATE jobs SET lease_expires_at = now() - interval '1 second' "
                           "WHERE tenant_id = $1 AND kind = 'CREATE'", tenant.id)
    # … and Redis forgot it, too.
    await redis.delete(settings.queue_name, f"arq:job:{decode_id(job['id'], 'BuyingGroupJob', [])}",
                       f"arq:in-progress:{decode_id(job['id'], 'BuyingGroupJob', [])}")
    assert await sweep(db, redis, settings.queue_name, queued_grace_seconds=60,
                   max_attempts=settings.job_max_attempts) >= 1
    await run_jobs(settings)
    done = (await gql.data(JOB, {"id": job["id"]}, key=tenant.read))["node"]
    assert done["status"] == "SUCCEEDED" and done["buyingGroupsCreated"] == 5
    names = [g["name"] for g in await groups(gql, tenant.read)]
    assert names == [f"Cloud for Account {i}" for i in range(5)]


async def test_manual_changes_and_their_precedence_over_maintenance(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, db: Database
) -> None:
    cat = await setup_catalogue(gql, tenant.write, accounts=1)
    await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    group = (await groups(gql, tenant.read))[0]
    people, roles = cat["people"], cat["roles"]

    # A user removes the VP and makes the intern Champion.
    removed = (await gql.data(REMOVE, {"group": group["id"], "person": people["A0-vp"]},
                              key=tenant.write))["removeBuyingGroupMember"]
    assert removed["member"]["isRemoved"] and removed["member"]["source"] == "MANUAL"
    assert removed["buyingGroup"]["memberCount"] == 2
    assigned = (await gql.data(ASSIGN, {"group": group["id"], "person": people["A0-intern"],
                                        "role": roles["Champion"]}, key=tenant.write))[
        "assignBuyingGroupMember"]
    assert assigned["member"] == {"source": "MANUAL", "isRemoved": False,
                                  "role": {"name": "Champion"}}
    # DM 1, Influencer 0, Practitioner 0.5, Champion 1 → 62.5
    assert assigned["buyingGroup"]["completeness"] == {"value": 62.5, "rolesFilled": 2}

    # The data changes: a second engineer joins, the engineer's title no longer matches.
    await upsert_people(gql, tenant.write, [
        {"externalId": "A0-eng2", "accountExternalId": "A0", "jobTitle": "Data Engineer"},
        {"externalId": "A0-eng", "accountExternalId": "A0", "jobTitle": "Architect"},
        {"externalId": "A0-intern", "accountExternalId": "A0", "jobTitle": "CFO"},
    ])
    job = await maintain(gql, settings, tenant, cat["si"])
    assert job["status"] == "SUCCEEDED" and job["buyingGroupsUpdated"] == 1

    after = (await groups(gql, tenant.read))[0]
    members = {m["person"]["externalId"]: (m["role"]["name"], m["source"], m["isRemoved"])
               for m in after["members"]["nodes"]}
    assert members == {
        "A0-ceo": ("Decision Maker", "SYSTEM", False),
        "A0-vp": ("Influencer", "MANUAL", True),       # a manual removal survives
        "A0-intern": ("Champion", "MANUAL", False),    # a manual role survives (now a CFO)
        "A0-eng": ("Practitioner", "SYSTEM", True),    # no longer matches: removed
        "A0-eng2": ("Practitioner", "SYSTEM", False),  # newly matching: added
    }
    # DM 1, Influencer 0, Practitioner 0.5, Champion 1
    assert after["completeness"]["value"] == 62.5


async def test_a_maintenance_with_nothing_to_change_writes_no_member(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, db: Database
) -> None:
    """Every member still matches: the job changes nothing, and it does not even lock the
    members' rows (an upsert locks each row it meets, a WAL record and a dirtied page each:
    a million at a large tenant's daily maintenance)."""
    cat = await setup_catalogue(gql, tenant.write, accounts=3)
    await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    job = await maintain(gql, settings, tenant, cat["si"])
    assert job["status"] == "SUCCEEDED" and job["buyingGroupsUpdated"] == 0
    async with db.as_login() as conn:
        counted = await conn.fetchrow(
            "SELECT count(*) AS members, count(*) FILTER (WHERE xmax <> 0) AS locked "
            "FROM buying_group_members WHERE tenant_id = $1", tenant.id)
    assert counted is not None and counted["members"] > 0 and counted["locked"] == 0


async def test_maintenance_checks_against_the_chunks_members_whatever_the_statistics(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, db: Database
) -> None:
    """With fresh statistics the planner found it cheaper to hash every member of the table
    than to look up whether a chunk's desired members are there already, so each chunk of a
    maintenance read the whole table: at a million members, a quarter of a second a chunk,
    growing with the tenant. (How the chunk's groups' members are read is the planner's to
    choose: a scan of the table only pays off while it is small.)"""
    cat = await setup_catalogue(gql, tenant.write, accounts=300)
    await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    async with db.pool.acquire() as raw:
        await raw.execute("ANALYZE buying_groups, buying_group_members, people")
    interest = decode_id(cat["si"], "SolutionInterest", [])
    async with db.tenant(tenant.id) as conn:
        template_id = await conn.fetchval(
            "SELECT role_template_id FROM solution_interests WHERE id = $1", interest)
        template = await template_store.get_template(conn, template_id)
        assert template is not None
        explaining = Explaining(conn)
        chunk = await generation_store.maintain_groups_chunk(
            cast(Any, explaining), tenant.id, solution_interest_id=interest,
            entries=template.entries, after=None, limit=1000)
    assert chunk.processed == 300 and chunk.member_changes == ()
    upserts = [n for n in plan_nodes(explaining.plans[0])
               if n.get("Subplan Name") == "CTE upserted"]
    # The upsert checks the desired members against the chunk's (read once, by the groups'
    # key), not against the table.
    assert [scans_of(n, "buying_group_members") for n in upserts] == [["ModifyTable"]]


async def test_an_integration_cannot_undo_a_users_change(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys
) -> None:
    cat = await setup_catalogue(gql, tenant.write, accounts=1)
    await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    group = (await groups(gql, tenant.read))[0]
    key = (await gql.data("""mutation { createApiKey(input: {name: "journey", scopes: [WRITE],
        isIntegration: true}) { secret } }""", key=tenant.admin))["createApiKey"]["secret"]
    people, roles = cat["people"], cat["roles"]
    # The integration may change what the system did …
    by_api = (await gql.data(ASSIGN, {"group": group["id"], "person": people["A0-eng"],
                                      "role": roles["Champion"]}, key=key))
    assert by_api["assignBuyingGroupMember"]["member"]["source"] == "API"
    # … but not what a user did.
    await gql.data(REMOVE, {"group": group["id"], "person": people["A0-vp"]}, key=tenant.write)
    refused = (await gql.data(ASSIGN, {"group": group["id"], "person": people["A0-vp"],
                                       "role": roles["Influencer"]}, key=key))
    assert refused["assignBuyingGroupMember"]["userErrors"] == [
        {"field": ["input", "personId"], "code": "OVERRIDDEN"}]
    # A user may change what the integration did.
    by_user = (await gql.data(REMOVE, {"group": group["id"], "person": people["A0-eng"]},
                              key=tenant.write))
    assert by_user["removeBuyingGroupMember"]["member"]["source"] == "MANUAL"


async def test_membership_input_errors(gql: GraphQLClient, settings: Settings,
                                       tenant: TenantKeys) -> None:
    cat = await setup_catalogue(gql, tenant.write, accounts=2)
    await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    group = (await groups(gql, tenant.read))[0]
    people, roles = cat["people"], cat["roles"]
    other_account = await gql.data(ASSIGN, {"group": group["id"], "person": people["A1-ceo"],
                                            "role": roles["Champion"]}, key=tenant.write)
    assert other_account["assignBuyingGroupMember"]["userErrors"] == [
        {"field": ["input", "personId"], "code": "PERSON_NOT_IN_ACCOUNT"}]
    not_in_template = await gql.data(ASSIGN, {"group": group["id"], "person": people["A0-intern"],
                                              "role": roles["Other"]}, key=tenant.write)
    assert not_in_template["assignBuyingGroupMember"]["userErrors"] == [
        {"field": ["input", "roleId"], "code": "ROLE_NOT_IN_TEMPLATE"}]
    not_member = await gql.data(REMOVE, {"group": group["id"], "person": people["A0-intern"]},
                                key=tenant.write)
    assert not_member["removeBuyingGroupMember"]["userErrors"] == [
        {"field": ["input", "personId"], "code": "NOT_A_MEMBER"}]
    status = """mutation($id: ID!, $status: String) { setBuyingGroupStatus(input:
        {buyingGroupId: $id, status: $status}) { buyingGroup { status } userErrors { code } } }"""
    too_long = await gql.data(status, {"id": group["id"], "status": "x" * 51}, key=tenant.write)
    assert too_long["setBuyingGroupStatus"]["userErrors"] == [{"code": "TOO_LONG"}]
    ok = await gql.data(status, {"id": group["id"], "status": "Qualified"}, key=tenant.write)
    assert ok["setBuyingGroupStatus"]["buyingGroup"] == {"status": "Qualified"}
    no_list = global_id("AccountList", uuid.uuid4())
    missing = await gql.data(CREATE_GROUPS, {"si": cat["si"], "list": no_list},
                             key=tenant.write)
    assert missing["createBuyingGroups"]["userErrors"] == [
        {"field": ["input", "accountListId"], "code": "NOT_FOUND"}]
    # An id of another type is refused the same way everywhere: INVALID_ID, nothing queued.
    body = await gql(CREATE_GROUPS, {"si": cat["si"], "list": cat["si"]}, key=tenant.write)
    [error] = body["errors"]
    assert (error["extensions"]["code"], error["extensions"]["field"]) == (
        "INVALID_ID", ["input", "accountListId"])


async def test_deleting_groups_and_jobs(gql: GraphQLClient, settings: Settings,
                                        tenant: TenantKeys) -> None:
    cat = await setup_catalogue(gql, tenant.write, accounts=2)
    job = await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    jobs = await gql.data("""query($si: ID!) { buyingGroupJobs(filter: {solutionInterestId: $si})
        { totalCount nodes { id kind status } } }""", {"si": cat["si"]}, key=tenant.read)
    assert jobs["buyingGroupJobs"]["totalCount"] == 1
    job_id = jobs["buyingGroupJobs"]["nodes"][0]["id"]
    assert job["status"] == "SUCCEEDED"
    deleted = await gql.data("""mutation($id: ID!) { deleteBuyingGroupJob(input: {id: $id}) {
        deletedJobId userErrors { code } } }""", {"id": job_id}, key=tenant.write)
    assert deleted["deleteBuyingGroupJob"]["deletedJobId"] == job_id
    assert len(await groups(gql, tenant.read)) == 2  # a deleted job keeps its groups
    group = (await groups(gql, tenant.read))[0]
    gone = await gql.data("""mutation($id: ID!) { deleteBuyingGroup(input: {id: $id}) {
        deletedBuyingGroupId } }""", {"id": group["id"]}, key=tenant.write)
    assert gone["deleteBuyingGroup"]["deletedBuyingGroupId"] == group["id"]
    assert len(await groups(gql, tenant.read)) == 1
    account = await gql.data("""query($id: ID!) { node(id: $id) { ... on Account {
        buyingGroups { name } } } }""", {"id": cat["accounts"]["A1"]}, key=tenant.read)
    assert account["node"]["buyingGroups"] == [{"name": "Cloud for Account 1"}]
    person = await gql.data("""query($id: ID!) { node(id: $id) { ... on Person {
        buyingGroupMemberships { buyingGroup { name } role { name } source } } } }""",
                            {"id": cat["people"]["A1-ceo"]}, key=tenant.read)
    assert person["node"]["buyingGroupMemberships"] == [
        {"buyingGroup": {"name": "Cloud for Account 1"}, "role": {"name": "Decision Maker"},
         "source": "SYSTEM"}]


async def test_a_page_of_people_brings_memberships_groups_and_roles_in_one_statement(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys
) -> None:
    """A people page's memberships come with the groups and roles selected of them in one
    statement, whatever the page's size, and say what each person's own lookup says."""
    cat = await setup_catalogue(gql, tenant.write)
    assert (await generate(gql, settings, tenant.write, cat["si"], cat["list"]))["status"] == \
        "SUCCEEDED"
    # Someone removed still shows, as removed, where removed memberships are asked for.
    group = (await groups(gql, tenant.read))[0]
    ceo = cat["people"][group["account"]["externalId"] + "-ceo"]
    removed = await gql.data(REMOVE, {"group": group["id"], "person": ceo}, key=tenant.write)
    assert removed["removeBuyingGroupMember"]["userErrors"] == []
    selections = {
        "both": "buyingGroup { name } role { name } source isRemoved",
        "groups": "buyingGroup { name status }",
        "roles": "role { name } source",
        "neither": "source assignedAt",
    }
    for name, selection in selections.items():
        page = f"""query($first: Int!) {{ people(first: $first) {{ nodes {{ id
            buyingGroupMemberships(includeRemoved: true) {{ {selection} }} }} }} }}"""
        plain = "query($first: Int!) { people(first: $first) { nodes { id } } }"
        counts = {}
        for first in (2, 12, 12):  # the first request of a connection asks about types
            body = await gql(page, {"first": first}, key=tenant.read)
            assert "errors" not in body, body["errors"]
            bare = await gql(plain, {"first": first}, key=tenant.read)
            counts[first] = (body["extensions"]["sqlStatements"]
                             - bare["extensions"]["sqlStatements"])
        assert counts[2] == counts[12] == 1, (name, counts)
        people = body["data"]["people"]["nodes"]
        assert len(people) == 12 and sum(len(p["buyingGroupMemberships"]) for p in people) > 3
        for person in people:
            alone = await gql.data(f"""query($id: ID!) {{ node(id: $id) {{ ... on Person {{
                buyingGroupMemberships(includeRemoved: true) {{ {selection} }} }} }} }}""",
                                   {"id": person["id"]}, key=tenant.read)
            assert person["buyingGroupMemberships"] == \
                alone["node"]["buyingGroupMemberships"], name
        if name == "both":
            assert [m["isRemoved"] for p in people for m in p["buyingGroupMemberships"]
                    ].count(True) == 1
