"""Query cost, computed before execution, and throttling by cost points per key (and failed
authentications per address), shared through Redis."""

from __future__ import annotations

from typing import Any

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

import graphql
from service.api.execution.charges import parse_points
from service.api.execution.cost import LIST_SIZES, Pricing, requested_cost
from service.infra.config import Settings
from tests.support import ROOT, GraphQLClient, TenantKeys, app_with

SCHEMA = graphql.build_schema((ROOT / "graphql" / "schema.graphql").read_text())
HUGE = """{ accounts(first: 100) { nodes { children(first: 100) { nodes { people(first: 100) {
  nodes { activities(first: 100) { nodes { sourceId } } } } } } } } }"""


def cost(document: str, variables: dict[str, Any] | None = None) -> int:
    return requested_cost(SCHEMA, graphql.parse(document), None, variables)


def test_every_list_of_objects_has_a_bound() -> None:
    unbounded = []
    for type_ in SCHEMA.type_map.values():
        if not isinstance(type_, graphql.GraphQLObjectType) or type_.name.startswith("__"):
            continue
        for name, field in type_.fields.items():
            inner = graphql.get_nullable_type(field.type)
            leaf = graphql.is_leaf_type(graphql.get_named_type(field.type))
            if (not isinstance(inner, graphql.GraphQLList) or leaf or name == "userErrors"
                    or (type_.name.endswith("Connection") and name in ("edges", "nodes"))):
                continue
            bound = LIST_SIZES.get((type_.name, name))
            if bound is None or (isinstance(bound, str) and bound not in field.args):
                unbounded.append(f"{type_.name}.{name}")
    assert unbounded == []


def test_a_connection_costs_first_times_its_selection() -> None:
    assert cost("{ viewer { scopes } }") == 2
    assert cost("{ roles(first: 10) { nodes { id name } } }") == 1 + 10 * (1 + 2)
    assert cost("{ roles(first: 10) { totalCount edges { cursor node { id } } } }") == (
        1 + 10 * (1 + 1 + 1 + 1 + 1))
    # The default `first`, a variable, and a variable's default.
    assert cost("{ roles { nodes { id } } }") == 1 + 20 * 2
    assert cost("query($n: Int!) { roles(first: $n) { nodes { id } } }", {"n": 3}) == 1 + 3 * 2
    assert cost("query($n: Int = 4) { roles(first: $n) { nodes { id } } }") == 1 + 4 * 2
    # Lists take their bound: an argument or the declared size; fragments count once each.
    assert cost("""{ buyingGroups(first: 2) { nodes { stageHistory(last: 7) { at } } } }""") == (
        1 + 2 * (1 + 1 + 7 * 1))
    assert cost("""query { node(id: "x") { ... on BuyingGroup { ...G } } }
                   fragment G on BuyingGroup { name missingRoles { name } }""") == (
        1 + 1 + 1 + int(LIST_SIZES[("BuyingGroup", "missingRoles")]) * 1)
    assert cost(HUGE) > 10**8


def _plain_count(plan: list[Any], data: Any) -> int:
    """The actual cost as first written: a recursive walk of the plan over the data (the
    specification the counters made once per plan must agree with)."""
    if isinstance(data, list):
        return sum(_plain_count(plan, item) for item in data)
    if not isinstance(data, dict):
        return 0
    total = 0
    for key, kind, inner in plan:
        if key not in data:
            continue
        total += 1
        value = data[key]
        if value is None or inner is None:
            continue
        if kind == "connection":
            if isinstance(value, dict):
                items = max((len(v) for k, kd, _ in inner if kd == "items"
                             and isinstance(v := value.get(k), list)), default=0)
                for k, kd, sub in inner:
                    if k not in value:
                        continue
                    returned = value[k]
                    if kd == "items" and isinstance(returned, list):
                        total += sum(1 + _plain_count(sub, item) if item is not None else 1
                                     for item in returned)
                    else:
                        total += items * (1 + (_plain_count(sub, returned)
                                               if returned is not None and sub else 0))
        else:
            total += _plain_count(inner, value)
    return total


COUNTED = """query { people(first: 3) { totalCount pageInfo { hasNextPage }
  edges { cursor node { id } }
  nodes { id fullName fullName account { name parent { name } }
    buyingGroupMemberships { source role { name } buyingGroup { name completeness { value } } }
    activities(first: 2) { totalCount nodes { sourceId activityDate } } } }
  node(id: "x") { id ... on Account { name } ... on Person { email } } }"""


def _answer(plan: list[Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Answers shaped like the plan's selection, with fields left out (@skip, another type's
    fragment), nulls, lists of objects and values of the wrong shape."""
    def value(kind: str, inner: Any) -> st.SearchStrategy[Any]:
        if inner is None or depth > 4:
            return st.one_of(st.none(), st.integers(0, 3), st.text(max_size=2))
        if kind == "connection":
            return st.one_of(st.none(), st.fixed_dictionaries({}, optional={
                key: value(k, sub) if k != "items" else
                st.lists(st.one_of(st.none(), _answer(sub, depth + 1)), max_size=3)
                for key, k, sub in inner}))
        one = _answer(inner, depth + 1)
        return st.one_of(st.none(), one, st.lists(st.one_of(st.none(), one), max_size=3))

    return st.fixed_dictionaries({}, optional={key: value(kind, inner)
                                               for key, kind, inner in plan})


_PRICING = Pricing.of(SCHEMA, graphql.parse(COUNTED))
assert _PRICING is not None
_ROOT = SCHEMA.query_type
_COUNTED = graphql.parse(COUNTED).definitions[0]
assert isinstance(_COUNTED, graphql.OperationDefinitionNode)
_PLAN = _PRICING._walk._plan(_COUNTED.selection_set, _ROOT)


@settings(max_examples=300, deadline=None)
@given(data=_answer(_PLAN))
def test_the_actual_cost_is_the_plain_walk_of_the_answer(data: dict[str, Any]) -> None:
    assert _PRICING is not None
    assert _PRICING.actual(data) == _plain_count(_PLAN, data)


def test_the_actual_cost_counts_what_came_back() -> None:
    """Priced per item returned: connections by their edges or nodes, lists by their items,
    aliases and fragments as selected, nulls as one field."""
    document = graphql.parse("""query { page: buyingGroups(first: 50) { totalCount
      nodes { ...G roles { memberCount members(first: 5) { person { fullName } } } } } }
      fragment G on BuyingGroup { name stage { name } members { edges { node { source } } } }""")
    member = {"person": {"fullName": "A"}}
    group = {"name": "g", "stage": None,
             "members": {"edges": [{"node": {"source": "API"}}] * 3},
             "roles": [{"memberCount": 2, "members": [member] * 2}, {"memberCount": 0,
                                                                     "members": []}]}
    data = {"page": {"totalCount": 9, "nodes": [group, group]}}
    pricing = Pricing.of(SCHEMA, document)
    assert pricing is not None
    # Per group: name, stage (null), members + 3 edges x (edge, node, source), roles + the
    # first role (memberCount, members + 2 x (person, fullName)) + the second (2 fields). A
    # list's items are priced by their fields, a connection's by one more each, as requested.
    per_group = 1 + 1 + (1 + 3 * 3) + 1 + (1 + 1 + 2 * 2) + 2
    assert pricing.actual(data) == 1 + 2 * 1 + 2 * (1 + per_group)
    assert pricing.actual({"page": {"totalCount": 0, "nodes": []}}) == 1 + 0
    assert pricing.actual(None) == 0


async def test_a_document_above_the_maximum_cost_is_refused_before_any_sql(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    body = await gql(HUGE, key=tenant.read)
    [error] = body["errors"]
    assert error["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert error["extensions"]["cost"] == cost(HUGE)
    assert error["extensions"]["maximumCost"] == 50_000
    assert body["data"] is None
    assert body["extensions"]["sqlStatements"] == 0


async def test_every_answer_tells_its_cost_and_the_bucket(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    body = await gql("{ roles(first: 50) { nodes { id name } } }", key=tenant.read)
    costs = body["extensions"]["cost"]
    assert costs["requestedQueryCost"] == 1 + 50 * 3
    assert costs["actualQueryCost"] == 1 + 6 * 3  # six default roles came back
    body = await gql("{ roles(first: 50) { totalCount edges { node { id } } } }",
                     key=tenant.read)
    assert body["extensions"]["cost"]["actualQueryCost"] == 1 + 6 * (1 + 1 + 1 + 1)
    status = costs["throttleStatus"]
    assert status["maximumAvailable"] == 100_000
    assert status["restoreRate"] == 5_000
    # What was not used went back: at most the actual cost is missing.
    assert status["currentlyAvailable"] >= 100_000 - costs["requestedQueryCost"]


async def post(client: httpx.AsyncClient, key: str, query: str) -> httpx.Response:
    return await client.post("/graphql", json={"query": query},
                             headers={"Authorization": f"Bearer {key}"})


async def test_an_empty_bucket_gets_429_with_retry_after(
    settings: Settings, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    query = "{ roles(first: 30) { nodes { id name } } }"  # 91 points requested
    assert parse_points(query, 5000) == 11  # and 4 fields to check, once: new to the process
    async with app_with(settings, rate_limit_points=110, rate_limit_restore_per_second=2) as c:
        first = await post(c, tenant.read, query)
        assert first.status_code == 200 and "errors" not in first.json()
        # 15 points checked it, 19 of the 91 were used (six roles came back): about 76 remain.
        second = await post(c, tenant.read, query)
        assert second.status_code == 429
        assert int(second.headers["retry-after"]) >= 4
        [error] = second.json()["errors"]
        assert error["extensions"]["code"] == "THROTTLED"
        assert error["extensions"]["retryAfterSeconds"] == int(second.headers["retry-after"])
        assert second.json()["data"] is None
        # Another key has its own bucket.
        assert (await post(c, other_tenant.read, query)).status_code == 200


async def test_checking_a_new_document_costs_its_weight_refused_or_not(
    settings: Settings, tenant: TenantKeys
) -> None:
    """A document the process has not validated costs a point per 4 characters before it is
    parsed, and a point per field written out (and per pair of same-name fields) before it is
    validated. A refused one is never kept, so sending it again costs as much again: without
    the charge, a key could keep a process parsing and validating for free (errors cost no
    operation points)."""
    refused = "{ " + " ".join(f"nope{i}" for i in range(300)) + " }"
    valid = "{ roles(first: 1) { nodes { id } } }"  # 1 + 3 points to run
    each = parse_points(refused, 5000) + 300
    assert (parse_points(valid, 5000), parse_points(refused, 5000)) == (9, 574)
    async with app_with(settings, rate_limit_points=2700, rate_limit_restore_per_second=1) as c:
        first = await post(c, tenant.read, valid)
        assert first.json()["extensions"]["cost"]["documentCost"] == 9 + 3  # roles nodes id
        again = await post(c, tenant.read, valid)  # validated before: free to check
        assert "documentCost" not in again.json()["extensions"]["cost"]
        for _ in range(3):
            answer = await post(c, tenant.read, refused)
            assert answer.status_code == 200
            assert answer.json()["errors"][0]["extensions"]["code"] == \
                "GRAPHQL_VALIDATION_FAILED"
            assert answer.json()["extensions"]["cost"] == {"documentCost": each}
        # About 60 points left: not enough to parse it again.
        throttled = await post(c, tenant.read, refused)
        assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) >= 400
        [error] = throttled.json()["errors"]
        assert error["extensions"]["code"] == "THROTTLED"
        assert error["extensions"]["retryAfterSeconds"] == int(throttled.headers["retry-after"])
        assert "parsing this new document needs 574 points" in error["message"]
        # The valid document, known, still runs on what is left.
        assert (await post(c, tenant.read, valid)).status_code == 200


async def test_a_document_that_does_not_parse_costs_its_length_on_every_path(
    settings: Settings, tenant: TenantKeys
) -> None:
    """No weight without a document, yet parsing it was work: charged before anything parses
    it, over POST, GET (which parses to refuse mutations) and the WebSocket."""
    broken = "{ " + " ".join(f"field{i:03d}" for i in range(120)) + " "
    assert parse_points(broken, 5000) == 271  # three fit in 1,000 points, a fourth does not
    async with app_with(settings, rate_limit_points=1000, rate_limit_restore_per_second=1) as c:
        for _ in range(2):
            answer = await post(c, tenant.read, broken)
            assert answer.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
            assert answer.json()["extensions"]["cost"] == {"documentCost": 271}
        got = await c.get("/graphql", params={"query": broken},
                          headers={"Authorization": f"Bearer {tenant.read}"})
        assert got.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
        for refused in (await post(c, tenant.read, broken),
                        await c.get("/graphql", params={"query": broken},
                                    headers={"Authorization": f"Bearer {tenant.read}"})):
            assert refused.status_code == 429
            assert refused.json()["errors"][0]["extensions"]["code"] == "THROTTLED"
    async with app_with(settings, max_tokens=50) as c:
        long = await post(c, tenant.read, broken * 10)
        assert long.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
        assert long.json()["extensions"]["cost"] == {"documentCost": 50}


async def test_failed_authentication_is_limited_per_address(
    settings: Settings, tenant: TenantKeys
) -> None:
    async with app_with(settings, auth_failures_per_minute=3,
                        queue_name=f"{settings.queue_name}:auth") as c:
        for _ in range(3):
            assert (await post(c, "bgk_wrong", "{ viewer { scopes } }")).status_code == 401
        refused = await post(c, "bgk_wrong", "{ viewer { scopes } }")
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "60"
        assert refused.json()["errors"][0]["extensions"]["code"] == "THROTTLED"
        # The address is refused before any key is looked at, a right one included.
        assert (await post(c, tenant.read, "{ viewer { scopes } }")).status_code == 429


async def test_an_astronomical_cost_saturates_and_is_still_answered(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    # The largest Int a client may send for `first`, three levels deep: about 10^28 points.
    big = 2**31 - 1
    nested = (f"{{ accounts(first: {big}) {{ nodes {{ children(first: {big}) {{ nodes {{ "
              f"children(first: {big}) {{ nodes {{ id }} }} }} }} }} }} }}")
    assert cost(nested) == 2**53 - 1
    body = await gql(nested, key=tenant.read)
    assert body["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert body["errors"][0]["extensions"]["cost"] == 2**53 - 1
