"""The condition engine: validation, the Python evaluator, and its agreement with the SQL
compiler."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from service.domain.conditions import (
    ACCOUNT_FIELDS,
    PERSON_FIELDS,
    ConditionGroup,
    Match,
    Operator,
    Rule,
    evaluate,
    validate,
)
from service.store.conditions_sql import compile_sql
from service.store.sql import SqlParams
from tests.support import SqlEvaluator, account_records, groups_for, person_records

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


# --- Python and SQL agree (random rules and records: tests/support.py) -------------------------


@pytest.fixture(scope="module")
def sql_evaluator(database_url: str) -> Iterator[SqlEvaluator]:
    evaluator = SqlEvaluator(database_url)
    yield evaluator
    evaluator.close()


@settings(max_examples=400, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(built=groups_for(PERSON_FIELDS), record=person_records)
def test_python_and_sql_agree_on_people(
    sql_evaluator: SqlEvaluator, built: ConditionGroup, record: dict[str, Any]
) -> None:
    expected = evaluate(built, record, PERSON_FIELDS)
    assert sql_evaluator.evaluate(built, record, PERSON_FIELDS) == expected


@settings(max_examples=300, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(built=groups_for(ACCOUNT_FIELDS), record=account_records)
def test_python_and_sql_agree_on_accounts(
    sql_evaluator: SqlEvaluator, built: ConditionGroup, record: dict[str, Any]
) -> None:
    expected = evaluate(built, record, ACCOUNT_FIELDS)
    assert sql_evaluator.evaluate(built, record, ACCOUNT_FIELDS) == expected


@pytest.mark.parametrize("operator", ["CONTAINS", "STARTS_WITH", "ENDS_WITH",
                                      "NOT_CONTAINS"])
@pytest.mark.parametrize("value", ["%", "_", "\\", "a%b", "_x", "\\%"])
def test_like_wildcards_in_values_are_taken_literally(
    sql_evaluator: SqlEvaluator, operator: str, value: str
) -> None:
    """The SQL matches text with LIKE patterns: a value's own % _ and \\ must not act as
    wildcards or escapes (the random examples seldom draw them)."""
    built = group("ALL", ("jobTitle", operator, [value]))
    for title in ["plain", "a%b", "axb", "_x", "yx", "\\", "\\%", "%", "_", ""]:
        record = person(jobTitle=title)
        assert sql_evaluator.evaluate(built, record, PERSON_FIELDS) == \
            evaluate(built, record, PERSON_FIELDS), (operator, value, title)
