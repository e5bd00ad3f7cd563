"""The condition engine: validation, the Python evaluator, and its agreement with the SQL
compiler."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from service.domain.conditions import (
    ACCOUNT_FIELDS,
    PERSON_FIELDS,
    ConditionGroup,
    Field,
    Match,
    Operator,
    Rule,
    evaluate,
    validate,
)
from service.store.conditions_sql import compile_sql
from service.store.sql import SqlParams

CMO_RULES = [("jobTitle", "CONTAINS", ["CMO"])]


def person(**fields: Any) -> dict[str, Any]:
    return {"attributes": {}, **fields}


def group(match: str, *rules: tuple[str, str, list[str]]) -> ConditionGroup:
    built, problems = validate(match, list(rules), PERSON_FIELDS)
    assert built is not None, problems
    return built


# --- the rules as docs/guide.md states them ---------------------------------------------


def test_starts_with_any_of_several_values() -> None:
    director = group("ALL", ("jobTitle", "STARTS_WITH", ["Director", "Sr Director"]))
    assert evaluate(director, person(jobTitle="Sr Director of IT"), PERSON_FIELDS)
    assert evaluate(director, person(jobTitle="director, marketing"), PERSON_FIELDS)
    assert not evaluate(director, person(jobTitle="Managing Director"), PERSON_FIELDS)
    assert not evaluate(director, person(jobTitle=None), PERSON_FIELDS)


def test_cmo_in_job_title_is_case_insensitive() -> None:
    cmo = group("ALL", *CMO_RULES)
    assert evaluate(cmo, person(jobTitle="Global cmo"), PERSON_FIELDS)


def test_negations_match_empty_attributes() -> None:
    not_ceo = group("ALL", ("jobTitle", "NOT_EQUALS", ["CEO"]))
    assert evaluate(not_ceo, person(jobTitle=None), PERSON_FIELDS)
    assert not evaluate(not_ceo, person(jobTitle="ceo"), PERSON_FIELDS)


def test_is_empty_counts_blank_text_as_empty() -> None:
    empty = group("ALL", ("department", "IS_EMPTY", []))
    assert evaluate(empty, person(department="   "), PERSON_FIELDS)
    assert evaluate(empty, person(), PERSON_FIELDS)
    assert not evaluate(empty, person(department="IT"), PERSON_FIELDS)


def test_numeric_comparison_on_a_custom_attribute() -> None:
    big = group("ANY", ("attributes.score", "GREATER_THAN", ["50"]))
    assert evaluate(big, person(attributes={"score": 51}), PERSON_FIELDS)
    assert evaluate(big, person(attributes={"score": " 50.5 "}), PERSON_FIELDS)
    assert not evaluate(big, person(attributes={"score": "high"}), PERSON_FIELDS)
    assert not evaluate(big, person(attributes={}), PERSON_FIELDS)


def test_match_all_and_any_of_no_rules() -> None:
    assert evaluate(ConditionGroup(Match.ALL, ()), person(), PERSON_FIELDS)
    assert not evaluate(ConditionGroup(Match.ANY, ()), person(), PERSON_FIELDS)


def test_account_filter_from_the_spec() -> None:
    software_big = ConditionGroup(Match.ALL, (
        Rule("industry", Operator.EQUALS, ("Software",)),
        Rule("annualRevenue", Operator.GREATER_THAN, ("1000000",)),
    ))
    account = {"industry": "software", "annualRevenue": Decimal("2500000"), "attributes": {}}
    assert evaluate(software_big, account, ACCOUNT_FIELDS)
    assert not evaluate(software_big, {**account, "annualRevenue": 1000000}, ACCOUNT_FIELDS)


@pytest.mark.parametrize(
    ("rules", "code", "path"),
    [
        ([("title", "EQUALS", ["x"])], "UNKNOWN_ATTRIBUTE", ("rules", 0, "attribute")),
        ([("attributes.", "EQUALS", ["x"])], "UNKNOWN_ATTRIBUTE", ("rules", 0, "attribute")),
        ([("jobTitle", "LIKE", ["x"])], "UNKNOWN_OPERATOR", ("rules", 0, "operator")),
        ([("jobTitle", "EQUALS", [])], "VALUE_REQUIRED", ("rules", 0, "values")),
        ([("jobTitle", "GREATER_THAN", ["ten"])], "INVALID_NUMBER", ("rules", 0, "values", 0)),
        ([("jobTitle", "EQUALS", ["x"] * 101)], "TOO_MANY_VALUES", ("rules", 0, "values")),
        ([("jobTitle", "IS_EMPTY", [])] * 51, "TOO_MANY_RULES", ("rules",)),
    ],
)
def test_invalid_rules_are_reported_with_a_code_and_path(
    rules: list[tuple[str, str, list[str]]], code: str, path: tuple[Any, ...]
) -> None:
    built, problems = validate("ALL", rules, PERSON_FIELDS)
    assert built is None
    assert (code, path) in {(p.code, p.path) for p in problems}


def test_text_operators_are_refused_on_number_attributes() -> None:
    _, problems = validate("ALL", [("annualRevenue", "CONTAINS", ["1"])], ACCOUNT_FIELDS)
    assert [p.code for p in problems] == ["OPERATOR_NOT_ALLOWED"]
    _, problems = validate("ALL", [("employeeCount", "EQUALS", ["many"])], ACCOUNT_FIELDS)
    assert [p.code for p in problems] == ["INVALID_NUMBER"]


def test_an_unknown_match_is_reported() -> None:
    _, problems = validate("SOME", [], PERSON_FIELDS)
    assert [p.code for p in problems] == ["UNKNOWN_MATCH"]


def test_values_are_bound_as_parameters_never_pasted() -> None:
    hostile = "x'); DROP TABLE people; --"
    built = group("ALL", ("jobTitle", "EQUALS", [hostile]), ("attributes.a'b", "IS_EMPTY", []))
    params = SqlParams()
    sql = compile_sql(built, PERSON_FIELDS, "p", params)
    assert hostile not in sql and "a'b" not in sql
    assert [hostile] in params.values and "a'b" in params.values


# --- Python and SQL agree ---------------------------------------------------------------------

ALPHABET = "aAbBéÉöÖ 1.-"
short_text = st.text(alphabet=ALPHABET, max_size=4)
number_text = st.sampled_from(["0", "1", "-1", "1.5", " 2 ", "10", ".5", "1e2", "abc", ""])
json_value = st.one_of(st.none(), short_text, number_text, st.integers(-3, 3), st.booleans())


def rules_for(fields: Mapping[str, Field]) -> st.SearchStrategy[tuple[str, str, list[str]]]:
    attribute = st.sampled_from([*fields, "attributes.k", "attributes.n"])
    operator = st.sampled_from(list(Operator.__members__))
    values = st.lists(st.one_of(short_text, number_text), max_size=3)
    return st.tuples(attribute, operator, values)


def groups_for(fields: Mapping[str, Field]) -> st.SearchStrategy[ConditionGroup]:
    raw = st.tuples(st.sampled_from(["ALL", "ANY"]), st.lists(rules_for(fields), max_size=4))

    def build(item: tuple[str, list[tuple[str, str, list[str]]]]) -> ConditionGroup:
        built, _ = validate(item[0], item[1], fields)
        assume(built is not None)
        assert built is not None
        return built

    return raw.map(build)


people = st.fixed_dictionaries(
    {name: st.one_of(st.none(), short_text, number_text) for name in PERSON_FIELDS},
    optional={"attributes": st.dictionaries(st.sampled_from(["k", "n"]), json_value)},
)
accounts = st.fixed_dictionaries(
    {
        **{n: st.one_of(st.none(), short_text, number_text)
           for n, f in ACCOUNT_FIELDS.items() if f.kind == "TEXT"},
        "annualRevenue": st.one_of(st.none(), st.decimals(-5, 5, places=1)),
        "employeeCount": st.one_of(st.none(), st.integers(-3, 200)),
    },
    optional={"attributes": st.dictionaries(st.sampled_from(["k", "n"]), json_value)},
)


class SqlEvaluator:
    """Evaluates compiled conditions in PostgreSQL on one row built from parameters."""

    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.conn: asyncpg.Connection[Any] = self.loop.run_until_complete(asyncpg.connect(url))

    def evaluate(self, built: ConditionGroup, record: Mapping[str, Any],
                 fields: Mapping[str, Field]) -> bool:
        params = SqlParams()
        columns = []
        for name, field in fields.items():
            sql_type = "numeric" if field.kind == "NUMBER" else "text"
            columns.append(f"{params.add(record.get(name))}::{sql_type} AS {field.column}")
        import json

        columns.append(f"{params.add(json.dumps(record.get('attributes') or {}))}::jsonb "
                       "AS attributes")
        condition = compile_sql(built, fields, "r", params)
        query = f"SELECT {condition} FROM (SELECT {', '.join(columns)}) r"
        result = self.loop.run_until_complete(self.conn.fetchval(query, *params.values))
        assert result is not None, "a compiled condition is never NULL"
        return bool(result)

    def close(self) -> None:
        self.loop.run_until_complete(self.conn.close())
        self.loop.close()


@pytest.fixture(scope="module")
def sql_evaluator(database_url: str) -> Iterator[SqlEvaluator]:
    evaluator = SqlEvaluator(database_url)
    yield evaluator
    evaluator.close()


@settings(max_examples=400, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(built=groups_for(PERSON_FIELDS), record=people)
def test_python_and_sql_agree_on_people(
    sql_evaluator: SqlEvaluator, built: ConditionGroup, record: dict[str, Any]
) -> None:
    expected = evaluate(built, record, PERSON_FIELDS)
    assert sql_evaluator.evaluate(built, record, PERSON_FIELDS) == expected


@settings(max_examples=300, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(built=groups_for(ACCOUNT_FIELDS), record=accounts)
def test_python_and_sql_agree_on_accounts(
    sql_evaluator: SqlEvaluator, built: ConditionGroup, record: dict[str, Any]
) -> None:
    expected = evaluate(built, record, ACCOUNT_FIELDS)
    assert sql_evaluator.evaluate(built, record, ACCOUNT_FIELDS) == expected
