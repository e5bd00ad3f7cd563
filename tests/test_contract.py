"""The breaking-change guard: every break of the released API is named in the changelog."""

from __future__ import annotations

import uuid
from pathlib import Path

import graphql
from service.dev import contract
from tests.support import FUNNEL, GraphQLClient, TenantKeys, global_id, live_model, role_ids

ROOT = Path(__file__).resolve().parent.parent

RELEASED = """
type Query { stage: Stage, groups(first: Int): [String!]! }
type Stage { key: String!, transitionsTo: [Stage!]! }
input StageInput { key: String!, operator: String! }
enum Kind { A B }
"""
CURRENT = """
type Query { stage: Stage, groups(first: Int, after: String!): [String!]!, extra: Int }
type Stage { key: String!, transitionsTo: [String!]! }
input StageInput { key: String!, operator: Kind! }
enum Kind { A B C }
"""


def changelog(*named: str) -> str:
    return ("# Changelog\n\n## [Unreleased]\n### Breaking\n"
            + "".join(f"- `{n}` changed.\n" for n in named)
            + "\n## [0.1.0] - 2026-11-29\n- `Query.groups` and everything else.\n")


def test_each_breaking_change_must_be_named_in_the_unreleased_section() -> None:
    missing = contract.unlisted(RELEASED, CURRENT, changelog())
    assert sorted(contract.coordinate(c) for c in missing) == [
        "Query.groups(after:)", "Stage.transitionsTo", "StageInput.operator"]
    # Named in an older release's section does not count; named under Unreleased does.
    partly = contract.unlisted(RELEASED, CURRENT, changelog("Stage.transitionsTo"))
    assert sorted(contract.coordinate(c) for c in partly) == [
        "Query.groups(after:)", "StageInput.operator"]
    assert contract.unlisted(RELEASED, CURRENT, changelog(
        "Stage.transitionsTo", "StageInput.operator", "Query.groups(after:)")) == []


def test_additions_are_not_breaking() -> None:
    added = RELEASED.replace("enum Kind { A B }", "enum Kind { A B C }\ntype Extra { x: Int }")
    assert contract.unlisted(RELEASED, added, changelog()) == []


def test_the_schema_keeps_its_released_contract_or_says_so() -> None:
    missing = contract.unlisted((ROOT / "graphql" / "released.graphql").read_text(),
                                (ROOT / "graphql" / "schema.graphql").read_text(),
                                (ROOT / "CHANGELOG.md").read_text())
    assert missing == [], [c.description for c in missing]


# --- a contract that round-trips

async def test_a_stage_model_read_back_can_be_sent_back(gql: GraphQLClient,
                                                        tenant: TenantKeys) -> None:
    roles = await role_ids(gql, tenant.read)
    stages = [dict(s) for s in FUNNEL]
    rule = {"match": "ANY", "conditions": [
        {"metric": "ROLE_MEMBERS", "operator": "GTE", "value": 1, "roleId": roles["Champion"]}]}
    stages[1] = {**stages[1], "description": "Talking", "entryRule": rule}
    model = await live_model(gql, tenant.write, stages)
    read = """query($id: ID!) { node(id: $id) { ... on StageModel {
      stages { key name description kind transitionsTo entryRule } } } }"""
    first = (await gql.data(read, {"id": model["id"]}, key=tenant.read))["node"]["stages"]
    again = await live_model(gql, tenant.write, first, name="Copy")
    second = (await gql.data(read, {"id": again["id"]}, key=tenant.read))["node"]["stages"]
    assert second == first
    assert first[1]["entryRule"]["conditions"][0]["roleId"] == roles["Champion"]


def test_every_mutation_that_starts_a_job_returns_the_same_payload() -> None:
    sdl = graphql.build_schema((ROOT / "graphql" / "schema.graphql").read_text())
    mutation = sdl.mutation_type
    assert mutation is not None
    payloads = {name: graphql.get_named_type(field.type).name
                for name, field in mutation.fields.items()
                if name in ("createBuyingGroups", "maintainBuyingGroups", "refreshScores",
                            "syncActivities", "cancelBuyingGroupJob")}
    assert set(payloads.values()) == {"BuyingGroupJobPayload"}, payloads
    payload = sdl.get_type("BuyingGroupJobPayload")
    assert isinstance(payload, graphql.GraphQLObjectType)
    assert set(payload.fields) == {"job", "deduplicated", "userErrors"}


async def test_nodes_answers_in_the_order_asked_with_nulls(gql: GraphQLClient,
                                                          tenant: TenantKeys) -> None:
    roles = await role_ids(gql, tenant.read)
    other = (await gql.data('{ viewer { tenant { id } } }', key=tenant.read))["viewer"]["tenant"]
    missing = global_id("Role", uuid.uuid4())
    ids = [roles["Champion"], missing, other["id"], roles["Influencer"], "Rm9vOmJhcg=="]
    query = """query($ids: [ID!]!) { nodes(ids: $ids) { __typename id
      ... on Role { name } } }"""
    found = (await gql.data(query, {"ids": ids}, key=tenant.read))["nodes"]
    assert found == [{"__typename": "Role", "id": roles["Champion"], "name": "Champion"}, None,
                     {"__typename": "Tenant", "id": other["id"]},
                     {"__typename": "Role", "id": roles["Influencer"], "name": "Influencer"},
                     None]
    too_many = await gql(query, {"ids": [missing] * 101}, key=tenant.read)
    assert too_many["errors"][0]["extensions"]["code"] in ("PAGE_SIZE_EXCEEDED",
                                                          "MAX_COST_EXCEEDED")


def test_the_shipped_operations_are_valid_against_the_schema() -> None:
    """graphql/operations/ is what front ends copy: every document validates."""
    sdl = graphql.build_schema((ROOT / "graphql" / "schema.graphql").read_text())
    for path in sorted((ROOT / "graphql" / "operations").glob("*.graphql")):
        errors = graphql.validate(sdl, graphql.parse(path.read_text()))
        assert errors == [], (path.name, [e.message for e in errors])
