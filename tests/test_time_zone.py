"""One "today" per tenant: the rollup's days, the scoring window, the stored score and its
breakdown all begin the tenant's days at its midnight; a new time zone recounts them."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from service.infra.config import Settings
from tests.support import (
    JOB,
    VISIT,
    GraphQLClient,
    TenantKeys,
    at,
    generate,
    groups,
    run_jobs,
    setup_catalogue,
    synced_activity,
)

UPDATE = """mutation($tz: String) { updateTenantSettings(input: {timeZone: $tz}) {
  tenant { timeZone } job { id kind status } userErrors { field code message } } }"""

SCORE = """query($id: ID!) { node(id: $id) { ... on BuyingGroup {
  engagement { value windowStart windowEnd breakdown { weightedPoints
    members { person { externalId } activities { days { date count } } } } } } } }"""

# Visits of the CEO (a Decision Maker), at instants around midnight UTC: (days from today,
# seconds after midnight UTC). 23:30 UTC is the next day in Tokyo (UTC+9).
VISITS = [(-1, 23 * 3600 + 1800), (-1, 23 * 3600 + 1900), (-2, 1800), (-3, 23 * 3600 + 1800),
          (-5, 12 * 3600)]


def instants() -> list[datetime]:
    return [datetime.fromisoformat(at(day, second).replace("Z", "+00:00"))
            for day, second in VISITS]


async def days_of(gql: GraphQLClient, key: str, group: str) -> tuple[dict[str, Any], Counter[str]]:
    engagement = (await gql.data(SCORE, {"id": group}, key=key))["node"]["engagement"]
    days: Counter[str] = Counter()
    for role in engagement["breakdown"]:
        for member in role["members"]:
            for activity in member["activities"]:
                for day in activity["days"]:
                    days[day["date"]] += day["count"]
    return engagement, days


def expected_days(zone: str, window_end: str) -> Counter[str]:
    end = date.fromisoformat(window_end)
    start = end - timedelta(days=29)
    found = (i.astimezone(ZoneInfo(zone)).date() for i in instants())
    return Counter(d.isoformat() for d in found if start <= d <= end)


async def test_a_new_time_zone_moves_days_window_and_score_together(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, simulator: str
) -> None:
    cat = await setup_catalogue(gql, tenant.write, accounts=1)
    await synced_activity(gql, settings, tenant, simulator, [
        {"leadId": "A0-ceo", "activityTypeId": VISIT, "activityDate": at(day, second)}
        for day, second in VISITS])
    await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    [group] = await groups(gql, tenant.read)
    for zone in ("UTC", "Asia/Tokyo", "America/Los_Angeles"):
        if zone != "UTC":
            before = datetime.now(ZoneInfo(zone)).date()
            changed = (await gql.data(UPDATE, {"tz": zone}, key=tenant.admin))[
                "updateTenantSettings"]
            assert changed["userErrors"] == [] and changed["tenant"] == {"timeZone": zone}
            assert changed["job"]["kind"] == "REFRESH_SCORES"
            await run_jobs(settings)
            job = (await gql.data(JOB, {"id": changed["job"]["id"]}, key=tenant.read))["node"]
            assert job["status"] == "SUCCEEDED", job
        else:
            before = datetime.now(ZoneInfo(zone)).date()
        engagement, days = await days_of(gql, tenant.read, group["id"])
        after = datetime.now(ZoneInfo(zone)).date()
        # Today is the tenant's today (read on both sides of the request: a test running
        # across the zone's midnight still knows which answers are right).
        assert date.fromisoformat(engagement["windowEnd"]) in (before, after), zone
        assert days == expected_days(zone, engagement["windowEnd"]), zone
        assert sum(days.values()) > 0
        # The stored score was computed over the same days: it is what the breakdown explains.
        assert engagement["value"] == pytest.approx(
            sum(r["weightedPoints"] for r in engagement["breakdown"]), abs=1e-9), zone
    # Tokyo counted the 23:30 UTC visits into the next day; Los Angeles into the same one.
    tokyo = expected_days("Asia/Tokyo", (date.today() + timedelta(days=1)).isoformat())
    utc = expected_days("UTC", (date.today() + timedelta(days=1)).isoformat())
    assert tokyo != utc


@pytest.mark.parametrize("zone", ["UTC+3", "Mars/Olympus_Mons", "", "europe/stockholm",
                                  "Europe/Stockholm\n", "x" * 300])
async def test_only_iana_names_are_time_zones(gql: GraphQLClient, tenant: TenantKeys,
                                              zone: str) -> None:
    refused = (await gql.data(UPDATE, {"tz": zone}, key=tenant.admin))["updateTenantSettings"]
    assert refused["tenant"] is None and refused["job"] is None
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [
        (["input", "timeZone"], "INVALID_TIME_ZONE")]
    viewer = await gql.data("{ viewer { tenant { timeZone } } }", key=tenant.read)
    assert viewer["viewer"]["tenant"]["timeZone"] == "UTC"


async def test_settings_need_the_admin_scope_and_an_unchanged_zone_starts_no_job(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    body = await gql(UPDATE, {"tz": "Europe/Stockholm"}, key=tenant.write)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    same = (await gql.data(UPDATE, {"tz": "UTC"}, key=tenant.admin))["updateTenantSettings"]
    assert same == {"tenant": {"timeZone": "UTC"}, "job": None, "userErrors": []}
