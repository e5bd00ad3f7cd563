"""Activity you can read and score: each activity names its catalogue type, and a tenant can
add a catalogue entry for a source type the seeded catalogue does not know."""

from __future__ import annotations

from typing import Any

import pytest

from service.infra.config import Settings
from tests.support import (
    VISIT,
    GraphQLClient,
    TenantKeys,
    at,
    generate,
    groups,
    setup_catalogue,
    sync,
    synced_activity,
)

CHANGE_DATA_VALUE = 40  # the simulator's type the seeded catalogue does not know

CREATE = """mutation($input: CreateActivityTypeInput!) { createActivityType(input: $input) {
  activityType { id name sourceTypeName sourceTypeId weight maxDailyFrequency }
  userErrors { field code } } }"""

ACTIVITY = """query($id: ID!) { node(id: $id) { ... on Person {
  activities(first: 50) { nodes { sourceTypeId activityType { name } } } } } }"""

ENGAGEMENT = """query($id: ID!) { node(id: $id) { ... on BuyingGroup {
  engagement { value breakdown { weightedPoints } } } } }"""


async def kinds(gql: GraphQLClient, key: str, person: str) -> set[tuple[int, str | None]]:
    nodes = (await gql.data(ACTIVITY, {"id": person}, key=key))["node"]["activities"]["nodes"]
    return {(a["sourceTypeId"], a["activityType"] and a["activityType"]["name"]) for a in nodes}


async def engagement(gql: GraphQLClient, key: str, group: str) -> float:
    found: dict[str, Any] = (await gql.data(ENGAGEMENT, {"id": group}, key=key))["node"][
        "engagement"]
    assert found["value"] == pytest.approx(
        sum(r["weightedPoints"] for r in found["breakdown"]), abs=1e-9)
    value: float = found["value"]
    return value


async def test_a_custom_type_is_mapped_by_the_next_sync_and_scored(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, simulator: str
) -> None:
    cat = await setup_catalogue(gql, tenant.write, accounts=1)
    await synced_activity(gql, settings, tenant, simulator, [
        {"leadId": "A0-ceo", "activityTypeId": type_id, "activityDate": at(-day, i)}
        for i, (type_id, day) in enumerate([(VISIT, 1), (CHANGE_DATA_VALUE, 1),
                                            (CHANGE_DATA_VALUE, 2), (CHANGE_DATA_VALUE, 3)])])
    await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    [group] = await groups(gql, tenant.read)
    ceo = cat["people"]["A0-ceo"]
    assert await kinds(gql, tenant.read, ceo) == {(VISIT, "Visit Webpage"),
                                                 (CHANGE_DATA_VALUE, None)}
    before = await engagement(gql, tenant.read, group["id"])
    assert before > 0

    made = (await gql.data(CREATE, {"input": {
        "name": "Data change", "sourceTypeName": "Change Data Value", "weight": 50,
        "maxDailyFrequency": 5}}, key=tenant.write))["createActivityType"]
    assert made["userErrors"] == []
    assert made["activityType"] | {"id": None} == {
        "id": None, "name": "Data change", "sourceTypeName": "Change Data Value",
        "sourceTypeId": None, "weight": 50, "maxDailyFrequency": 5}
    # The next sync maps it by the source's name and rescores with the activity stored.
    assert (synced := await sync(gql, settings, tenant.write))["status"] == "SUCCEEDED", synced
    assert await kinds(gql, tenant.read, ceo) == {(VISIT, "Visit Webpage"),
                                                 (CHANGE_DATA_VALUE, "Data change")}
    after = await engagement(gql, tenant.read, group["id"])
    assert after > before
    types = await gql.data("{ activityTypes { nodes { name sourceTypeId } } }", key=tenant.read)
    assert {"name": "Data change", "sourceTypeId": CHANGE_DATA_VALUE} in types[
        "activityTypes"]["nodes"]


@pytest.mark.parametrize(("given", "expected"), [
    ({"name": "Visit Webpage", "weight": 10}, (["input", "name"], "DUPLICATE")),
    ({"name": "Web visit", "sourceTypeName": "visit webpage", "weight": 10},
     (["input", "name"], "DUPLICATE")),
    ({"name": " ", "weight": 10}, (["input", "name"], "REQUIRED")),
    ({"name": "Heavy", "weight": 101}, (["input", "weight"], "INVALID_VALUE")),
    ({"name": "Odd", "weight": 1, "maxDailyFrequency": -1},
     (["input", "maxDailyFrequency"], "INVALID_VALUE")),
    ({"name": "Long", "sourceTypeName": "x" * 101, "weight": 1},
     (["input", "sourceTypeName"], "TOO_LONG")),
])
async def test_a_custom_type_is_checked(gql: GraphQLClient, tenant: TenantKeys,
                                        given: dict[str, Any],
                                        expected: tuple[list[str], str]) -> None:
    refused = (await gql.data(CREATE, {"input": given}, key=tenant.write))["createActivityType"]
    assert refused["activityType"] is None
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [expected]
