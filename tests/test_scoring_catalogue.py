"""Activity types and scoring models: the seeded catalogue, weights, versions, activation."""

from __future__ import annotations

from fractions import Fraction

import pytest

from service.domain.scoring import activity_factor
from tests.support import GraphQLClient, TenantKeys

TYPES = "{ activityTypes(first: 100) { totalCount nodes { id name engagementType " \
        "maxDailyFrequency weight } } }"
MODELS = "{ scoringModels { nodes { id name version status mode windowDays } } }"
CREATE = """mutation($input: CreateScoringModelInput!) { createScoringModel(input: $input) {
  scoringModel { id name version status mode windowDays
    weights { activityType { name } weight factor isOverride } }
  userErrors { field code message } } }"""
ACTIVATE = """mutation($id: ID!) { activateScoringModel(input: {id: $id}) {
  scoringModel { id status activatedAt } userErrors { code } } }"""


def test_count_mode_counts_every_scored_type_once() -> None:
    assert activity_factor("COUNT", 40) == 1
    assert activity_factor("COUNT", 0) == 0


def test_weighted_mode_uses_weight_over_100() -> None:
    assert activity_factor("WEIGHTED", 30) == Fraction(3, 10)
    with pytest.raises(ValueError, match="unknown scoring mode"):
        activity_factor("FANCY", 30)


async def test_a_tenant_starts_with_the_38_seeded_activity_types(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    data = (await gql.data(TYPES, key=tenant.read))["activityTypes"]
    assert data["totalCount"] == 38
    by_name = {t["name"]: t for t in data["nodes"]}
    assert by_name["Attend Event"]["weight"] == 90
    assert by_name["Visit Webpage"] == {**by_name["Visit Webpage"], "engagementType": "Web",
                                        "maxDailyFrequency": 20, "weight": 40}
    assert by_name["Call to Action Clicked in Webinar"]["engagementType"] == "Call to action"
    assert all(t["maxDailyFrequency"] == 20 for t in data["nodes"])


async def test_a_tenant_starts_with_one_active_count_model(gql: GraphQLClient, tenant: TenantKeys
                                                           ) -> None:
    models = (await gql.data(MODELS, key=tenant.read))["scoringModels"]["nodes"]
    assert [(m["version"], m["status"], m["mode"], m["windowDays"]) for m in models] == [
        (1, "ACTIVE", "COUNT", 30)]


async def test_activity_type_weights_are_editable_and_checked(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    types = {t["name"]: t["id"] for t in
             (await gql.data(TYPES, key=tenant.read))["activityTypes"]["nodes"]}
    update = """mutation($input: UpdateActivityTypeInput!) { updateActivityType(input: $input) {
      activityType { name weight maxDailyFrequency } userErrors { field code } } }"""
    done = await gql.data(update, {"input": {"id": types["Open Email"], "weight": 0,
                                             "maxDailyFrequency": 5}}, key=tenant.write)
    assert done["updateActivityType"]["activityType"] == {
        "name": "Open Email", "weight": 0, "maxDailyFrequency": 5}
    bad = await gql.data(update, {"input": {"id": types["Open Email"], "weight": 101}},
                         key=tenant.write)
    assert bad["updateActivityType"]["userErrors"] == [
        {"field": ["input", "weight"], "code": "INVALID_VALUE"}]


async def test_models_are_versioned_and_exactly_one_is_active(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    types = {t["name"]: t["id"] for t in
             (await gql.data(TYPES, key=tenant.read))["activityTypes"]["nodes"]}
    created = (await gql.data(CREATE, {"input": {
        "name": "Weighted", "mode": "WEIGHTED", "windowDays": 14,
        "weights": [{"activityTypeId": types["Visit Webpage"], "weight": 10}]}},
        key=tenant.write))["createScoringModel"]
    assert created["userErrors"] == []
    model = created["scoringModel"]
    assert (model["version"], model["status"], model["windowDays"]) == (2, "DRAFT", 14)
    weights = {w["activityType"]["name"]: w for w in model["weights"]}
    assert weights["Visit Webpage"] == {"activityType": {"name": "Visit Webpage"}, "weight": 10,
                                        "factor": 0.1, "isOverride": True}
    assert weights["Attend Event"]["factor"] == 0.9 and not weights["Attend Event"]["isOverride"]

    activated = (await gql.data(ACTIVATE, {"id": model["id"]}, key=tenant.write))
    assert activated["activateScoringModel"]["scoringModel"]["status"] == "ACTIVE"
    statuses = [(m["version"], m["status"]) for m in
                (await gql.data(MODELS, key=tenant.read))["scoringModels"]["nodes"]]
    assert statuses == [(2, "ACTIVE"), (1, "ARCHIVED")]

    frozen = await gql.data("""mutation($id: ID!) { updateScoringModel(input: {id: $id,
        windowDays: 7}) { userErrors { field code } } }""", {"id": model["id"]}, key=tenant.write)
    assert frozen["updateScoringModel"]["userErrors"] == [
        {"field": ["input", "id"], "code": "IMMUTABLE"}]


async def test_scoring_model_input_errors(gql: GraphQLClient, tenant: TenantKeys) -> None:
    types = [t["id"] for t in
             (await gql.data(TYPES, key=tenant.read))["activityTypes"]["nodes"]]
    payload = (await gql.data(CREATE, {"input": {
        "name": "", "windowDays": 0,
        "weights": [{"activityTypeId": types[0], "weight": 150},
                    {"activityTypeId": types[0], "weight": 10}]}},
        key=tenant.write))["createScoringModel"]
    assert {(".".join(e["field"]), e["code"]) for e in payload["userErrors"]} == {
        ("input.name", "REQUIRED"), ("input.windowDays", "INVALID_VALUE"),
        ("input.weights.0.weight", "INVALID_VALUE"),
        ("input.weights.1.activityTypeId", "DUPLICATE")}
