"""Why a member holds a role (BuyingGroupMember.assignment): the reasons come from the SQL that
assigns, so they always agree with the assignment."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.domain.conditions import PERSON_FIELDS, ConditionGroup, Match, evaluate, rule_matches
from service.infra.config import Settings
from service.infra.db import Database
from service.store.conditions_sql import compile_sql, explanation_sql
from service.store.sql import SqlParams
from tests.support import (
    ASSIGN,
    GraphQLClient,
    SqlEvaluator,
    TenantKeys,
    generate,
    groups_for,
    one_generated_group,
    person_records,
    setup_catalogue,
)

MEMBERS = """{ buyingGroups(first: 1) { nodes { id roles { role { name } members(first: 10) {
  person { externalId jobTitle }
  assignment { source actor match matched
               conditionResults { attribute operator expected actual matched } } } } } } }"""


def members(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    group = data["buyingGroups"]["nodes"][0]
    return {m["person"]["externalId"]: {"role": r["role"]["name"], **m}
            for r in group["roles"] for m in r["members"]}


async def ids(db: Database, tenant: TenantKeys) -> tuple[str, str]:
    async with db.as_login() as conn:
        writer = await conn.fetchval(
            "SELECT id FROM api_keys WHERE tenant_id = $1 AND name = 'WRITE key'", tenant.id)
        job = await conn.fetchval(
            "SELECT id FROM jobs WHERE tenant_id = $1 AND kind = 'CREATE'", tenant.id)
    return f"api_key.{writer}", f"job.{job}"


async def test_a_rule_assigned_member_shows_the_rules_its_values_met(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, db: Database
) -> None:
    cat = await setup_catalogue(gql, tenant.write, accounts=1)
    await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    writer, job = await ids(db, tenant)
    found = members(await gql.data(MEMBERS, key=tenant.read))
    assert found["A0-ceo"]["role"] == "Decision Maker"
    assert found["A0-ceo"]["assignment"] == {
        "source": "SYSTEM", "actor": job, "match": "ANY", "matched": True,
        "conditionResults": [{"attribute": "jobTitle", "operator": "EQUALS",
                              "expected": ["CEO", "CFO"], "actual": "CEO", "matched": True}]}
    assert found["A0-vp"]["assignment"]["conditionResults"] == [
        {"attribute": "jobTitle", "operator": "STARTS_WITH", "expected": ["VP", "CEO"],
         "actual": "VP Sales", "matched": True}]

    # Put the intern in the Decision Maker's role by hand: a user did it, against the rules.
    group = (await gql.data("{ buyingGroups(first: 1) { nodes { id } } }",
                            key=tenant.read))["buyingGroups"]["nodes"][0]["id"]
    await gql.data(ASSIGN, {"group": group, "person": cat["people"]["A0-intern"],
                            "role": cat["roles"]["Decision Maker"]}, key=tenant.write)
    intern = members(await gql.data(MEMBERS, key=tenant.read))["A0-intern"]
    assert intern["role"] == "Decision Maker"
    assert intern["assignment"]["source"] == "MANUAL"
    assert intern["assignment"]["actor"] == writer
    assert intern["assignment"]["matched"] is False
    assert intern["assignment"]["conditionResults"][0]["actual"] == "Intern"


async def test_a_role_without_rules_explains_by_source_and_actor_alone(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, db: Database
) -> None:
    cat, group = await one_generated_group(gql, settings, tenant)
    await gql.data(ASSIGN, {"group": group, "person": cat["people"]["A0-intern"],
                            "role": cat["roles"]["Champion"]}, key=tenant.write)
    intern = members(await gql.data(MEMBERS, key=tenant.read))["A0-intern"]
    writer, _ = await ids(db, tenant)
    assert intern["assignment"] == {"source": "MANUAL", "actor": writer, "match": None,
                                    "matched": None, "conditionResults": []}


# --- the reasons always agree with the assignment ------------------------------------------


class Explainer(SqlEvaluator):
    """The explanation's columns and the assignment's condition, on one row built from
    parameters, in one statement."""

    def explain(self, built: ConditionGroup, record: dict[str, Any]
                ) -> tuple[list[bool], list[str | None], bool, bool]:
        params = SqlParams()
        source = self.row(record, PERSON_FIELDS, params)
        explained = explanation_sql(built, PERSON_FIELDS, "r", params)
        assigned = compile_sql(built, PERSON_FIELDS, "r", params)
        query = f"SELECT {', '.join(explained)}, {assigned} FROM {source}"
        row = self.loop.run_until_complete(self.conn.fetchrow(query, *params.values))
        assert row is not None
        values = list(row)
        n = len(built.rules)
        return ([bool(values[2 * i]) for i in range(n)], [values[2 * i + 1] for i in range(n)],
                bool(values[2 * n]), bool(values[2 * n + 1]))


@pytest.fixture(scope="module")
def explainer(database_url: str) -> Iterator[Explainer]:
    evaluator = Explainer(database_url)
    yield evaluator
    evaluator.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(built=groups_for(PERSON_FIELDS), record=person_records)
def test_the_reasons_given_always_agree_with_the_assignment(
    explainer: Explainer, built: ConditionGroup, record: dict[str, Any]
) -> None:
    matched, actual, overall, assigned = explainer.explain(built, record)
    # The group's verdict is the assignment's, and follows from the rules' verdicts.
    assert overall == assigned
    assert overall == (all(matched) if built.match is Match.ALL else any(matched))
    # Each rule's verdict is the reference implementation's.
    assert matched == [rule_matches(r, record, PERSON_FIELDS) for r in built.rules]
    assert assigned == evaluate(built, record, PERSON_FIELDS)
    # The value shown is the one tested.
    for rule, shown in zip(built.rules, actual, strict=True):
        if not rule.attribute.startswith("attributes."):
            value = record.get(rule.attribute)
            assert shown == (None if value is None else str(value))


@given(st.just(None))
def test_no_rules_means_no_reasons(_: None) -> None:
    assert explanation_sql(ConditionGroup(Match.ALL, ()), PERSON_FIELDS, "p", SqlParams()) == [
        "true"]
