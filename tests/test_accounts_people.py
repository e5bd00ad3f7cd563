"""Accounts and people: bulk upsert with per-item errors, hierarchy, browsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from service.infra.db import Database
from service.store.activities import ensure_partitions, first_pages_of_leads, month_start
from service.store.paging import NOT_COUNTED
from tests.support import GraphQLClient, TenantKeys, statements_sent, upsert_accounts, upsert_people


def errors_of(payload: dict[str, Any]) -> set[tuple[str, str]]:
    return {(".".join(e["field"]), e["code"]) for e in payload["userErrors"]}


async def test_accounts_are_created_then_updated_by_external_id(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    created = await upsert_accounts(gql, tenant.write, [
        {"externalId": "A1", "name": "Acme", "industry": "Software", "annualRevenue": 2.5e6,
         "employeeCount": 120, "attributes": {"tier": "gold"}},
    ])
    assert created["userErrors"] == []
    acme = created["accounts"][0]
    assert (acme["name"], acme["industry"], acme["annualRevenue"]) == ("Acme", "Software", 2.5e6)
    updated = await upsert_accounts(gql, tenant.write, [
        {"externalId": "A1", "name": "Acme Inc."},
    ])
    again = updated["accounts"][0]
    assert again["id"] == acme["id"]
    assert again["name"] == "Acme Inc."
    # Fields left out keep their values.
    assert (again["industry"], again["employeeCount"], again["attributes"]) == (
        "Software", 120, {"tier": "gold"})
    cleared = await upsert_accounts(gql, tenant.write, [
        {"externalId": "A1", "name": "Acme Inc.", "industry": None},
    ])
    assert cleared["accounts"][0]["industry"] is None


async def test_valid_accounts_land_while_bad_ones_get_user_errors(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    payload = await upsert_accounts(gql, tenant.write, [
        {"externalId": "P", "name": "Parent"},
        {"externalId": "C", "name": "Child", "parentExternalId": "P"},
        {"externalId": "X", "name": " "},
        {"externalId": "Y", "name": "Orphan", "parentExternalId": "nobody"},
        {"externalId": "P", "name": "Parent again"},
        {"externalId": "Z", "name": "Negative", "employeeCount": -1},
        {"externalId": "S", "name": "Self", "parentExternalId": "S"},
    ])
    assert [a["externalId"] for a in payload["accounts"]] == ["P", "C"]
    assert payload["accounts"][1]["parent"] == {"externalId": "P"}
    assert errors_of(payload) == {
        ("input.accounts.2.name", "REQUIRED"),
        ("input.accounts.3.parentExternalId", "UNKNOWN_PARENT"),
        ("input.accounts.4.externalId", "DUPLICATE"),
        ("input.accounts.5.employeeCount", "INVALID_VALUE"),
        ("input.accounts.6.parentExternalId", "CYCLE"),
    }


async def test_a_parent_change_that_closes_a_loop_is_refused(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    await upsert_accounts(gql, tenant.write, [
        {"externalId": "G", "name": "Grandparent"},
        {"externalId": "M", "name": "Middle", "parentExternalId": "G"},
        {"externalId": "L", "name": "Leaf", "parentExternalId": "M"},
    ])
    payload = await upsert_accounts(gql, tenant.write, [
        {"externalId": "G", "name": "Grandparent", "parentExternalId": "L"},
    ])
    assert payload["accounts"] == []
    assert errors_of(payload) == {("input.accounts.0.parentExternalId", "CYCLE")}
    tree = await gql.data("""{ account(externalId: "G") {
        parent { name } children { totalCount nodes { externalId
          children { nodes { externalId } } } } } }""", key=tenant.read)
    assert tree["account"]["parent"] is None
    assert tree["account"]["children"]["nodes"] == [
        {"externalId": "M", "children": {"nodes": [{"externalId": "L"}]}}]


async def test_more_than_1000_items_are_refused_whole(gql: GraphQLClient, tenant: TenantKeys
                                                      ) -> None:
    items = [{"externalId": f"B{i}", "name": f"B {i}"} for i in range(1001)]
    payload = await upsert_accounts(gql, tenant.write, items)
    assert payload["accounts"] == []
    assert errors_of(payload) == {("input.accounts", "TOO_MANY_ITEMS")}
    count = await gql.data("{ accounts { totalCount } }", key=tenant.read)
    assert count["accounts"]["totalCount"] == 0


async def test_people_land_with_per_item_errors(gql: GraphQLClient, tenant: TenantKeys) -> None:
    await upsert_accounts(gql, tenant.write, [{"externalId": "A", "name": "Acme"}])
    payload = await upsert_people(gql, tenant.write, [
        {"externalId": "1", "accountExternalId": "A", "firstName": "Ada", "lastName": "Lovelace",
         "email": "ada@acme.io", "jobTitle": "CMO"},
        {"externalId": "2", "accountExternalId": "missing", "firstName": "Bob"},
        {"externalId": "3", "accountExternalId": "A", "email": "not-an-email"},
        {"externalId": "", "accountExternalId": "A"},
    ])
    assert [p["fullName"] for p in payload["people"]] == ["Ada Lovelace"]
    assert payload["people"][0]["account"] == {"externalId": "A"}
    assert errors_of(payload) == {
        ("input.people.1.accountExternalId", "UNKNOWN_ACCOUNT"),
        ("input.people.2.email", "INVALID_EMAIL"),
        ("input.people.3.externalId", "REQUIRED"),
    }


async def test_a_person_can_move_to_another_account(gql: GraphQLClient, tenant: TenantKeys
                                                    ) -> None:
    await upsert_accounts(gql, tenant.write, [{"externalId": "A", "name": "A"},
                                              {"externalId": "B", "name": "B"}])
    first = await upsert_people(gql, tenant.write, [
        {"externalId": "9", "accountExternalId": "A", "lastName": "Doe", "jobTitle": "CTO"}])
    moved = await upsert_people(gql, tenant.write, [
        {"externalId": "9", "accountExternalId": "B"}])
    assert moved["people"][0]["id"] == first["people"][0]["id"]
    assert moved["people"][0]["account"] == {"externalId": "B"}
    assert moved["people"][0]["jobTitle"] == "CTO"


async def test_browsing_people_pages_by_name_and_filters(gql: GraphQLClient, tenant: TenantKeys
                                                         ) -> None:
    await upsert_accounts(gql, tenant.write, [{"externalId": "A", "name": "A"},
                                              {"externalId": "B", "name": "B"}])
    names = ["Young", "adams", "Baker", "Clark", "Zed"]
    await upsert_people(gql, tenant.write, [
        {"externalId": str(i), "accountExternalId": "A" if i % 2 else "B", "lastName": n,
         "jobTitle": "VP Sales" if i < 2 else "Engineer"}
        for i, n in enumerate(names)])
    query = """query($after: String, $filter: PersonFilterInput) {
      people(first: 2, after: $after, filter: $filter) {
        totalCount nodes { lastName } pageInfo { hasNextPage endCursor } } }"""
    seen, after = [], None
    while True:
        page = (await gql.data(query, {"after": after}, key=tenant.read))["people"]
        seen += [n["lastName"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["adams", "Baker", "Clark", "Young", "Zed"]
    vp = (await gql.data(query, {"filter": {"jobTitle": "vp"}}, key=tenant.read))["people"]
    assert vp["totalCount"] == 2
    search = (await gql.data(query, {"filter": {"search": "ze"}}, key=tenant.read))["people"]
    assert [n["lastName"] for n in search["nodes"]] == ["Zed"]


async def test_account_people_are_batched_per_page(gql: GraphQLClient, tenant: TenantKeys
                                                   ) -> None:
    await upsert_accounts(gql, tenant.write, [
        {"externalId": f"A{i}", "name": f"Account {i}"} for i in range(3)])
    await upsert_people(gql, tenant.write, [
        {"externalId": f"p{i}", "accountExternalId": f"A{i % 3}", "lastName": f"L{i}"}
        for i in range(7)])
    data = await gql.data("""{ accounts(first: 10) { nodes { name
        people(first: 2) { totalCount nodes { lastName } pageInfo { hasNextPage } } } } }""",
                          key=tenant.read)
    by_name = {a["name"]: a["people"] for a in data["accounts"]["nodes"]}
    assert by_name["Account 0"]["totalCount"] == 3
    assert [n["lastName"] for n in by_name["Account 0"]["nodes"]] == ["L0", "L3"]
    assert by_name["Account 0"]["pageInfo"]["hasNextPage"] is True
    assert by_name["Account 2"]["totalCount"] == 2


async def test_accounts_of_another_tenant_stay_invisible(
    gql: GraphQLClient, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    mine = await upsert_accounts(gql, tenant.write, [{"externalId": "SAME", "name": "Mine"}])
    theirs = await upsert_accounts(gql, other_tenant.write,
                                   [{"externalId": "SAME", "name": "Theirs"}])
    assert mine["accounts"][0]["id"] != theirs["accounts"][0]["id"]
    node = await gql.data("query($id: ID!) { node(id: $id) { id } }",
                          {"id": theirs["accounts"][0]["id"]}, key=tenant.read)
    assert node["node"] is None
    listed = await gql.data("{ accounts { nodes { name } } }", key=tenant.read)
    assert listed["accounts"]["nodes"] == [{"name": "Mine"}]


async def test_accounts_page_by_name(gql: GraphQLClient, tenant: TenantKeys) -> None:
    await upsert_accounts(gql, tenant.write, [{"externalId": str(i), "name": n}
                                              for i, n in enumerate(["b", "A", "c"])])
    query = """query($after: String) { accounts(first: 1, after: $after) {
      totalCount nodes { name } pageInfo { hasNextPage endCursor } } }"""
    seen, after = [], None
    while True:
        page = (await gql.data(query, {"after": after}, key=tenant.read))["accounts"]
        assert page["totalCount"] == 3
        seen += [n["name"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["A", "b", "c"]


PEOPLE_PAGE = """query($first: Int!, $size: Int!, $since: DateTime) { people(first: $first) {
  nodes { externalId account { name }
    recent: activities(first: $size) { totalCount pageInfo { hasNextPage endCursor }
                                       nodes { sourceId } }
    lately: activities(first: 5, since: $since) { totalCount nodes { sourceId } }
    none: activities(first: 0) { totalCount pageInfo { hasNextPage } nodes { sourceId } } } } }"""

ACCOUNTS_PAGE = """query($first: Int!) { accounts(first: $first) { nodes { name parent { name }
  people(first: 2) { totalCount nodes { externalId } }
  few: people(first: 1) { nodes { externalId } }
  none: people(first: 0) { totalCount pageInfo { hasNextPage } nodes { externalId } }
  children(first: 1) { totalCount nodes { name } } buyingGroups { name } } } }"""


async def people_with_activities(gql: GraphQLClient, db: Database, tenant: TenantKeys
                                 ) -> datetime:
    """Accounts A0 (parent of A1 and A2) and people p0..p5, person i in account A(i % 3) with
    i + 1 activities a day apart; the time they were made."""
    await upsert_accounts(gql, tenant.write, [
        {"externalId": "A0", "name": "Account 0"},
        {"externalId": "A1", "name": "Account 1", "parentExternalId": "A0"},
        {"externalId": "A2", "name": "Account 2", "parentExternalId": "A0"}])
    await upsert_people(gql, tenant.write, [
        {"externalId": f"p{i}", "accountExternalId": f"A{i % 3}", "lastName": f"L{i}"}
        for i in range(6)])
    now = datetime.now(UTC)
    dates = [now - timedelta(days=day, hours=1) for day in range(6)]
    async with db.system() as conn:  # rows go to their month's partition, as ingestion's do
        await ensure_partitions(conn, {month_start(d) for d in dates})
    async with db.tenant(tenant.id) as conn:
        await conn.executemany(
            """INSERT INTO activities (tenant_id, activity_date, source_id, lead_id,
                                       source_type_id) VALUES ($1, $2, $3, $4, 1)""",
            [(tenant.id, dates[day], f"p{i}-{day}", f"p{i}")
             for i in range(6) for day in range(i + 1)])
    return now


async def test_pages_of_people_and_accounts_read_nested_lists_set_based(
        gql: GraphQLClient, db: Database, tenant: TenantKeys) -> None:
    """Their nested lists come in a fixed number of statements whatever the page's size, and
    say what they say one by one: each person's newest activities, in the sizes and windows
    asked for (aliases), and each account's first people and children."""
    now = await people_with_activities(gql, db, tenant)
    variables = {"size": 2, "since": (now - timedelta(days=2)).isoformat()}
    counts = {}
    for first in (1, 6, 6):  # the first request of a connection asks about types
        body = await gql(PEOPLE_PAGE, {**variables, "first": first}, key=tenant.read)
        assert "errors" not in body, body["errors"]
        counts[first] = body["extensions"]["sqlStatements"]
    assert counts[1] == counts[6], counts
    for person in body["data"]["people"]["nodes"]:
        i = int(person["externalId"][1:])
        recent, lately = person["recent"], person["lately"]
        assert recent["totalCount"] == i + 1
        assert [n["sourceId"] for n in recent["nodes"]] == [f"p{i}-{d}"
                                                            for d in range(min(i + 1, 2))]
        assert recent["pageInfo"]["hasNextPage"] is (i + 1 > 2)
        assert [n["sourceId"] for n in lately["nodes"]] == [f"p{i}-{d}"
                                                           for d in range(min(i + 1, 2))]
        assert lately["totalCount"] == min(i + 1, 2)
        # An empty page still says how many there are and that more follow.
        assert person["none"] == {"totalCount": i + 1, "pageInfo": {"hasNextPage": True},
                                  "nodes": []}
        assert person["account"]["name"] == f"Account {i % 3}"
        if recent["pageInfo"]["hasNextPage"]:  # the next page, one person at a time
            rest = await gql.data("""query($id: ID!, $after: String) { node(id: $id) {
              ... on Person { activities(first: 10, after: $after) { nodes { sourceId } } } } }""",
                                  {"id": await person_id(gql, tenant, person["externalId"]),
                                   "after": recent["pageInfo"]["endCursor"]}, key=tenant.read)
            assert [n["sourceId"] for n in rest["node"]["activities"]["nodes"]] == [
                f"p{i}-{d}" for d in range(2, i + 1)]
    accounts = {}
    for first in (2, 3, 2):  # the first two: one with a parent, one without
        body = await gql(ACCOUNTS_PAGE, {"first": first}, key=tenant.read)
        assert "errors" not in body, body["errors"]
        accounts[first] = body["extensions"]["sqlStatements"]
    assert accounts[2] == accounts[3], accounts
    body = await gql(ACCOUNTS_PAGE, {"first": 3}, key=tenant.read)
    by_name = {a["name"]: a for a in body["data"]["accounts"]["nodes"]}
    top = by_name["Account 0"]
    assert top["parent"] is None and by_name["Account 1"]["parent"] == {"name": "Account 0"}
    assert top["people"] == {"totalCount": 2, "nodes": [{"externalId": "p0"},
                                                        {"externalId": "p3"}]}
    assert top["few"] == {"nodes": [{"externalId": "p0"}]}
    assert top["none"] == {"totalCount": 2, "pageInfo": {"hasNextPage": True}, "nodes": []}
    assert top["children"] == {"totalCount": 2, "nodes": [{"name": "Account 1"}]}
    assert by_name["Account 2"]["children"] == {"totalCount": 0, "nodes": []}


async def person_id(gql: GraphQLClient, tenant: TenantKeys, external_id: str) -> str:
    data = await gql.data("query($s: String) { people(filter: {search: $s}) { nodes { id } } }",
                          {"s": external_id}, key=tenant.read)
    return str(data["people"]["nodes"][0]["id"])


ACTIVITY_COUNT = "count(*) AS total FROM activities"


async def test_activities_are_counted_only_where_a_count_may_be_shown(
        gql: GraphQLClient, db: Database, tenant: TenantKeys,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A person's count of activities since a moment walks their rows since then: a page of
    people whose document selects no `totalCount` of such activities reads none, and answers
    the same pages. A count of all their activities comes from the tallies (migration 0019),
    and no statement counts rows for it."""
    now = await people_with_activities(gql, db, tenant)
    sent = statements_sent(monkeypatch)
    everything = await gql.data(PEOPLE_PAGE, {"first": 6, "size": 2, "since": None},
                                key=tenant.read)
    assert sent and not any("count(*)" in q and "activities" in q for q in sent)
    assert [p["recent"]["totalCount"] for p in everything["people"]["nodes"]] == [
        1, 2, 3, 4, 5, 6]
    uncounted = PEOPLE_PAGE.replace("totalCount ", "")
    assert "totalCount" not in uncounted
    variables = {"first": 6, "size": 2, "since": (now - timedelta(days=30)).isoformat()}
    sent.clear()
    counted = await gql.data(PEOPLE_PAGE, variables, key=tenant.read)
    assert any(ACTIVITY_COUNT in q for q in sent)
    sent.clear()
    plain = await gql.data(uncounted, variables, key=tenant.read)
    assert sent and not any(ACTIVITY_COUNT in q for q in sent)
    for person in counted["people"]["nodes"]:
        for alias in ("recent", "lately", "none"):
            del person[alias]["totalCount"]
    assert plain == counted
    # A count anywhere (here in a fragment, under another person field) is read.
    sent.clear()
    fragment = uncounted.replace("} } } } }", "} } ...Counted } } }") + (
        " fragment Counted on Person { again: activities(first: 2, since: $since) {"
        " ...Total } } fragment Total on PersonActivityConnection { totalCount }")
    body = await gql.data(fragment, variables, key=tenant.read)
    assert any(ACTIVITY_COUNT in q for q in sent)
    assert [p["again"]["totalCount"] for p in body["people"]["nodes"]] == [1, 2, 3, 4, 5, 6]
    # Nor does a later page of a page of people's activities count them, unless selected.
    later = """query($after: String, $since: DateTime) { people(first: 6) { nodes {
      externalId activities(first: 10, after: $after, since: $since) {
      %s nodes { sourceId } } } } }"""
    cursor = plain["people"]["nodes"][5]["recent"]["pageInfo"]["endCursor"]
    for selection, counts in (("", False), ("totalCount", True)):
        sent.clear()
        rest = await gql.data(later % selection,
                              {"after": cursor, "since": variables["since"]}, key=tenant.read)
        assert [n["sourceId"] for n in rest["people"]["nodes"][5]["activities"]["nodes"]] == [
            f"p5-{d}" for d in range(2, 6)]
        assert any("count(*)" in q and "activities" in q for q in sent) is counts


async def test_uncounted_first_pages_hold_what_counted_ones_hold(
        gql: GraphQLClient, db: Database, tenant: TenantKeys) -> None:
    """Pages since a moment (rows counted, or not counted) and pages of all activities (the
    tallies) hold the same rows when the moment precedes them all."""
    now = await people_with_activities(gql, db, tenant)
    leads = [f"p{i}" for i in range(6)] + ["nobody"]
    long_ago = now - timedelta(days=3650)
    async with db.tenant(tenant.id, readonly=True) as conn:
        for limit in (0, 1, 3, 6, 7):
            tallied = await first_pages_of_leads(conn, tenant.id, leads, since=None,
                                                 limit=limit)
            counted = await first_pages_of_leads(conn, tenant.id, leads, since=long_ago,
                                                 limit=limit)
            plain = await first_pages_of_leads(conn, tenant.id, leads, since=long_ago,
                                               limit=limit, counted=False)
            assert set(plain) == set(counted) == set(tallied) == set(leads)
            for lead in leads:
                assert plain[lead].items == counted[lead].items == tallied[lead].items, (
                    lead, limit)
                assert plain[lead].has_next is counted[lead].has_next, (lead, limit)
                assert tallied[lead].has_next is counted[lead].has_next, (lead, limit)
                assert tallied[lead].total_count == counted[lead].total_count, (lead, limit)
                assert plain[lead].total_count is NOT_COUNTED is None
            assert counted["p5"].total_count == 6 and counted["nobody"].total_count == 0
