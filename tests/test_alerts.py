"""Alerts: rules fire once per crossing where groups change, as ALERT_TRIGGERED events and
entries a team lists and acknowledges; a rule that cannot fire is refused."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal
from typing import Any

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.common import build_groups
from service.domain.alerts import AlertCondition, When, crossed, holds, score_crossing
from service.events.changes import EventKind, score_changes
from service.infra.config import Settings
from service.infra.db import Database
from service.store import alerts as alert_store
from service.store import engagement as engagement_store
from service.store.buying_groups import ScoreChange
from service.usecases.alert_checks import alert_events
from tests.support import (
    REMOVE,
    GraphQLClient,
    Scenario,
    TenantKeys,
    groups_with_stages,
    one_generated_group,
)

CREATE_RULE = """mutation($input: CreateAlertRuleInput!) { createAlertRule(input: $input) {
  alertRule { id name enabled when { condition threshold days role { name } stage { key } }
              solutionInterests { name } }
  userErrors { field code message } } }"""
ALERTS = """query($filter: AlertFilter) { alerts(filter: $filter, first: 50) { totalCount
  nodes { id condition previousValue value baseline acknowledgedAt acknowledgedBy
          rule { name } buyingGroup { id } role { name } stage { key } } } }"""
ASSIGN = """mutation($group: ID!, $person: ID!, $role: ID!) {
  assignBuyingGroupMember(input: {buyingGroupId: $group, personId: $person, roleId: $role}) {
    userErrors { code } } }"""
ACKNOWLEDGE = """mutation($id: ID!) { acknowledgeAlert(input: {id: $id}) {
  alert { acknowledgedAt acknowledgedBy } userErrors { field code } } }"""


async def rule(gql: GraphQLClient, key: str, **given: Any) -> dict[str, Any]:
    made = (await gql.data(CREATE_RULE, {"input": given}, key=key))["createAlertRule"]
    assert made["userErrors"] == [], made
    found: dict[str, Any] = made["alertRule"]
    return found


async def alert_events_of(db: Database, tenant: TenantKeys) -> list[dict[str, Any]]:
    async with db.as_login() as conn:
        rows = await conn.fetch("SELECT new_value FROM events WHERE tenant_id = $1 AND "
                                "kind = 'ALERT_TRIGGERED' ORDER BY position", tenant.id)
    return [r["new_value"] for r in rows]


async def test_a_role_emptied_and_completeness_falling_fire_once_per_crossing(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, db: Database
) -> None:
    cat, group = await one_generated_group(gql, settings, tenant)
    ceo, dm = cat["people"]["A0-ceo"], cat["roles"]["Decision Maker"]
    emptied = await rule(gql, tenant.write, name="No decision maker",
                         solutionInterestIds=[cat["si"]],
                         when={"roleEmptied": {"roleId": dm}})
    assert emptied["when"] == {"condition": "ROLE_EMPTIED", "threshold": None, "days": None,
                               "role": {"name": "Decision Maker"}, "stage": None}
    assert emptied["solutionInterests"] == [{"name": "Cloud"}]
    await rule(gql, tenant.write, name="Falling apart", when={"completenessBelow": 50})

    for _ in range(2):  # removed, then back (re-armed), then removed again
        removed = await gql.data(REMOVE, {"group": group, "person": ceo}, key=tenant.write)
        assert removed["removeBuyingGroupMember"]["buyingGroup"]["completeness"]["value"] < 50
        # Still below and still empty: no second alert while the conditions keep holding.
        back = await gql.data(ASSIGN, {"group": group, "person": cat["people"]["A0-intern"],
                                       "role": cat["roles"]["Influencer"]}, key=tenant.write)
        assert back["assignBuyingGroupMember"]["userErrors"] == []
        await gql.data(REMOVE, {"group": group, "person": cat["people"]["A0-intern"]},
                       key=tenant.write)
        await gql.data(ASSIGN, {"group": group, "person": ceo, "role": dm}, key=tenant.write)

    listed = (await gql.data(ALERTS, key=tenant.read))["alerts"]
    assert listed["totalCount"] == 4
    kinds = sorted((a["condition"], a["rule"]["name"]) for a in listed["nodes"])
    assert kinds == [("COMPLETENESS_BELOW", "Falling apart")] * 2 + \
        [("ROLE_EMPTIED", "No decision maker")] * 2
    role_alert = next(a for a in listed["nodes"] if a["condition"] == "ROLE_EMPTIED")
    assert role_alert["role"] == {"name": "Decision Maker"}
    assert role_alert["buyingGroup"] == {"id": group}
    falling = next(a for a in listed["nodes"] if a["condition"] == "COMPLETENESS_BELOW")
    assert falling["previousValue"] >= 50 > falling["value"]

    # Each alert is an event too, with global ids a partner can follow.
    events = await alert_events_of(db, tenant)
    assert len(events) == 4
    alert_ids = {a["id"] for a in listed["nodes"]}
    assert {e["alertId"] for e in events} == alert_ids
    found = await gql.data("query($id: ID!) { node(id: $id) { ... on AlertRule { name } } }",
                           {"id": events[0]["alertRuleId"]}, key=tenant.read)
    assert found["node"]["name"] in {"No decision maker", "Falling apart"}

    # Acknowledged once, by the caller's key; the filter leaves it out.
    done = (await gql.data(ACKNOWLEDGE, {"id": role_alert["id"]},
                           key=tenant.write))["acknowledgeAlert"]
    assert done["userErrors"] == [] and done["alert"]["acknowledgedBy"].startswith("api_key.")
    again = (await gql.data(ACKNOWLEDGE, {"id": role_alert["id"]},
                            key=tenant.write))["acknowledgeAlert"]
    assert again["alert"] == done["alert"]
    open_ones = (await gql.data(ALERTS, {"filter": {"acknowledged": False}},
                                key=tenant.read))["alerts"]
    assert open_ones["totalCount"] == 3
    assert role_alert["id"] not in {a["id"] for a in open_ones["nodes"]}


async def test_a_stage_entered_fires_and_a_paused_rule_does_not(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, db: Database
) -> None:
    _, stage, groups = await groups_with_stages(gql, settings, tenant.write)
    engaged = await rule(gql, tenant.write, name="Engaged",
                         when={"stageEntered": stage["engaged"]})
    assert engaged["when"]["stage"] == {"key": "engaged"}
    move = """mutation($g: ID!, $s: ID!) { setBuyingGroupStage(input:
        {buyingGroupId: $g, stageId: $s}) { userErrors { code } } }"""
    await gql.data(move, {"g": groups[0]["id"], "s": stage["engaged"]}, key=tenant.write)
    paused = await gql.data("""mutation($id: ID!) { updateAlertRule(input:
        {id: $id, enabled: false}) { alertRule { enabled } userErrors { code } } }""",
                            {"id": engaged["id"]}, key=tenant.write)
    assert paused["updateAlertRule"] == {"alertRule": {"enabled": False}, "userErrors": []}
    await gql.data(move, {"g": groups[1]["id"], "s": stage["engaged"]}, key=tenant.write)
    listed = (await gql.data(ALERTS, key=tenant.read))["alerts"]
    assert [(a["stage"], a["buyingGroup"]["id"]) for a in listed["nodes"]] == [
        ({"key": "engaged"}, groups[0]["id"])]
    assert [e["condition"] for e in await alert_events_of(db, tenant)] == ["STAGE_ENTERED"]


async def test_rules_that_cannot_fire_are_refused_and_change_nothing(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys
) -> None:
    _, stage, _ = await groups_with_stages(gql, settings, tenant.write)
    interests = (await gql.data("{ solutionInterests { nodes { id name } } }",
                                key=tenant.read))["solutionInterests"]["nodes"]
    cloud = next(i["id"] for i in interests if i["name"] == "Cloud")  # no stage model

    async def errors(**given: Any) -> list[dict[str, Any]]:
        made = (await gql.data(CREATE_RULE, {"input": {"name": "R", **given}},
                               key=tenant.write))["createAlertRule"]
        return [{"field": e["field"], "code": e["code"]} for e in made["userErrors"]]

    assert await errors(when={"engagementAtLeast": 0}) == [
        {"field": ["input", "when", "engagementAtLeast"], "code": "NEVER_FIRES"}]
    assert await errors(when={"completenessBelow": 150}) == [
        {"field": ["input", "when", "completenessBelow"], "code": "NEVER_FIRES"}]
    assert await errors(when={"engagementRise": {"points": 10, "days": 0}}) == [
        {"field": ["input", "when", "engagementRise", "days"], "code": "INVALID_VALUE"}]
    assert await errors(solutionInterestIds=[cloud],
                        when={"stageEntered": stage["won"]}) == [
        {"field": ["input", "when", "stageEntered"], "code": "NEVER_FIRES"}]
    assert await errors(name="", when={"engagementAtLeast": 10}) == [
        {"field": ["input", "name"], "code": "REQUIRED"}]
    await rule(gql, tenant.write, name="Hot", when={"engagementAtLeast": 50})
    assert await errors(name="hot", when={"engagementAtLeast": 60}) == [
        {"field": ["input", "name"], "code": "DUPLICATE"}]
    # Two conditions at once: the input type admits exactly one.
    two = await gql(CREATE_RULE, {"input": {"name": "Two", "when": {
        "engagementAtLeast": 10, "completenessBelow": 20}}}, key=tenant.write)
    assert two["errors"][0]["extensions"]["code"] == "INVALID_VALUE"
    rules = (await gql.data("{ alertRules { name } }", key=tenant.read))["alertRules"]
    assert rules == [{"name": "Hot"}]


def crossings(when: When, values: list[Decimal]) -> int:
    """The times the condition starts to hold along the values: counted as runs of holding
    that begin after a value where it did not hold."""
    runs, before = 0, holds(when, values[0])
    for value in values[1:]:
        now = holds(when, value)
        runs += now and not before
        before = now
    return runs


scores = st.decimals(min_value=0, max_value=200, places=2)


@given(threshold=st.decimals(min_value=1, max_value=150, places=1),
       condition=st.sampled_from([AlertCondition.ENGAGEMENT_AT_LEAST,
                                  AlertCondition.COMPLETENESS_BELOW]),
       values=st.lists(scores, min_size=2, max_size=30))
def test_a_crossing_is_a_change_into_holding(threshold: Decimal, condition: AlertCondition,
                                             values: list[Decimal]) -> None:
    when = When(condition, threshold)
    fired = sum(crossed(when, a, b) for a, b in itertools.pairwise(values))
    assert fired == crossings(when, values)
    # The check's fast test, on the floats events carry, decides as the reference does.
    fast = score_crossing(when)
    assert [fast(float(a), float(b)) for a, b in itertools.pairwise(values)] == \
        [crossed(when, a, b) for a, b in itertools.pairwise(values)]


@settings(max_examples=40, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(threshold=st.integers(min_value=1, max_value=100),
       values=st.lists(st.integers(min_value=0, max_value=120), min_size=1, max_size=25))
def test_an_alert_fires_exactly_once_per_crossing_of_stored_scores(
    scenario: Scenario, threshold: int, values: list[int]
) -> None:
    """Scores written as the rescoring writes them, each change checked as the unit of work
    checks it: as many alerts as the sequence has crossings (from 0, the new group's score)."""
    async def example(conn: asyncpg.Connection[Any]) -> tuple[int, int]:
        tenant = await Scenario.new_tenant(conn, "Alerts")
        await build_groups(conn, tenant, groups=1, per_group=1, days_per_person=0)
        group = await conn.fetchval("SELECT id FROM buying_groups")
        when = When(AlertCondition.ENGAGEMENT_AT_LEAST, Decimal(threshold))
        await alert_store.create_rule(conn, tenant, "Hot", [], when)
        day = engagement_store.tenant_today("UTC")
        previous = Decimal(0)
        for value in map(Decimal, values):
            stored = await engagement_store.write_scores(
                conn, tenant, [ScoreChange(group, previous, value)], day)
            await alert_events(conn, tenant, score_changes(EventKind.ENGAGEMENT_CHANGED,
                                                           tenant, stored))
            previous = value
        fired = await conn.fetchval("SELECT count(*) FROM alerts")
        return fired, crossings(when, [Decimal(0), *map(Decimal, values)])

    fired, expected = scenario.rolled_back(example)
    assert fired == expected


def test_a_rise_is_measured_from_the_score_days_ago(scenario: Scenario) -> None:
    async def example(conn: asyncpg.Connection[Any]) -> list[tuple[Any, ...]]:
        tenant = await Scenario.new_tenant(conn, "Rise")
        await build_groups(conn, tenant, groups=1, per_group=1, days_per_person=0)
        group = await conn.fetchval("SELECT id FROM buying_groups")
        today = engagement_store.tenant_today("UTC")
        for days_ago, score in ((10, 5), (7, 10), (1, 12)):
            await engagement_store.write_scores(
                conn, tenant, [ScoreChange(group, Decimal(0), Decimal(score))],
                today - timedelta(days=days_ago))
        await alert_store.create_rule(conn, tenant, "Rising", [], When(
            AlertCondition.ENGAGEMENT_RISE, Decimal(20), days=7))
        for previous, current in ((12, 29), (29, 31), (31, 40)):
            await alert_events(conn, tenant, score_changes(
                EventKind.ENGAGEMENT_CHANGED, tenant,
                [ScoreChange(group, Decimal(previous), Decimal(current), None)]))
        rows = await conn.fetch("SELECT previous_value, value, baseline FROM alerts")
        return [tuple(r) for r in rows]

    # From 10 (the score 7 days ago): 29 is a rise of 19, 31 of 21 (fires), 40 stays above.
    assert scenario.rolled_back(example) == [(Decimal(29), Decimal(31), Decimal(10))]


async def test_alerts_older_than_their_retention_go(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, db: Database
) -> None:
    from jobs.worker import retention

    cat, group = await one_generated_group(gql, settings, tenant)
    await rule(gql, tenant.write, name="No decision maker",
               when={"roleEmptied": {"roleId": cat["roles"]["Decision Maker"]}})
    for _ in range(2):  # two crossings: two alerts
        await gql.data(REMOVE, {"group": group, "person": cat["people"]["A0-ceo"]},
                       key=tenant.write)
        await gql.data(ASSIGN, {"group": group, "person": cat["people"]["A0-ceo"],
                                "role": cat["roles"]["Decision Maker"]}, key=tenant.write)
    async with db.as_login() as conn:
        await conn.execute(
            """UPDATE alerts SET triggered_at = now() - make_interval(days => $2)
                WHERE id = (SELECT id FROM alerts WHERE tenant_id = $1
                             ORDER BY triggered_at LIMIT 1)""",
            tenant.id, settings.alert_retention_days + 1)
    await retention({"settings": settings, "db": db})
    left = (await gql.data(ALERTS, key=tenant.read))["alerts"]
    assert left["totalCount"] == 1
