"""The pure rules for values that enter: JSON read exactly and refused rather than changed,
date-times PostgreSQL can hold, entry rules of any shape judged without an exception."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.api.errors import InvalidValue
from service.api.execution.values import moment, nul_path
from service.domain import json_values
from service.domain.stages import rule_problems


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children,
                                                            max_size=4)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    _containers,  # not a lambda: hypothesis reads its source to see that it recurses
    max_leaves=20,
)


def ints_in(value: Any) -> list[int]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, list):
        return [i for v in value for i in ints_in(v)]
    if isinstance(value, dict):
        return [i for v in value.values() for i in ints_in(v)]
    return []


@given(JSON)
def test_loads_keeps_every_integer_exact(value: Any) -> None:
    assert json_values.loads(json.dumps(value).encode()) == value
    assert ints_in(json_values.loads(json.dumps(value))) == ints_in(value)


@given(JSON)
def test_a_value_is_storable_exactly_when_its_integers_fit_and_it_holds_no_nul(value: Any) -> None:
    text = json.dumps(value)
    fits = all(json_values.SMALLEST_INT <= i <= json_values.LARGEST_INT for i in ints_in(value))
    assert (json_values.problem(value) is None) == (fits and "\\u0000" not in text)


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a": -Infinity, "n": 1' + "0" * 30 + "}"])
def test_loads_refuses_what_json_does_not_have(text: str) -> None:
    with pytest.raises(ValueError):
        json_values.loads(text)


def test_problem_names_the_reason() -> None:
    assert "64-bit" in (json_values.problem({"n": 2**64}) or "")
    assert json_values.problem({"n": 2**64 - 1}) is None
    assert "NUL" in (json_values.problem(["a\x00"]) or "")
    assert "key" in (json_values.problem({"\x00": 1}) or "")
    assert json_values.problem([float("inf")]) is not None
    deep: Any = 1
    for _ in range(json_values.MAX_DEPTH + 2):
        deep = [deep]
    assert "nested" in (json_values.problem(deep) or "")


@given(JSON)
def test_nul_path_finds_exactly_the_nul(value: Any) -> None:
    assert (nul_path(value) is None) == ("\\u0000" not in json.dumps(value))


@given(st.datetimes(timezones=st.sampled_from(
    [UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-14))])))
def test_moment_is_the_same_instant_in_utc_or_refused(value: datetime) -> None:
    try:
        parsed = moment(value.isoformat())
    except InvalidValue:
        with pytest.raises(OverflowError):
            value.astimezone(UTC)
        return
    assert parsed == value and parsed.tzinfo is UTC


def test_moment_reads_a_time_without_offset_as_utc() -> None:
    assert moment("2026-01-02T03:04:05") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    for bad in ("", "x", 5, "2026-01-01T00:00:00" * 4):
        with pytest.raises(InvalidValue):
            moment(bad)


@given(JSON)
def test_rule_problems_judges_any_json_without_an_exception(rule: Any) -> None:
    problems = rule_problems(rule)
    assert all(p.code for p in problems)
    if not isinstance(rule, dict):
        assert [p.code for p in problems] == ["INVALID_VALUE"]


@given(st.fixed_dictionaries({
    "match": st.sampled_from(["ALL", "ANY", "x", 1]),
    "conditions": st.lists(st.fixed_dictionaries({
        "metric": st.sampled_from(["ENGAGEMENT", "COMPLETENESS", "ROLE_MEMBERS", [], "x"]),
        "operator": st.sampled_from(["GT", "GTE", {}, "x"]),
        "value": st.none() | st.booleans() | st.integers() | st.lists(st.integers(), max_size=2)
        | st.floats(allow_nan=False, allow_infinity=False),
    }), max_size=3),
}))
def test_rule_problems_on_rule_shaped_input(rule: dict[str, Any]) -> None:
    problems = rule_problems(rule)
    valid = (rule["match"] in ("ALL", "ANY") and rule["conditions"] and all(
        c["metric"] in ("ENGAGEMENT", "COMPLETENESS") and c["operator"] in ("GT", "GTE")
        and not isinstance(c["value"], bool) and isinstance(c["value"], int | float)
        and abs(c["value"]) <= 10**9
        for c in rule["conditions"]))
    assert (problems == []) == bool(valid)


TROUBLE = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats()
    | st.text() | st.sampled_from(["null", "a\x00", "[{"]),
    lambda children: _containers(children) | st.dictionaries(st.integers(), children, max_size=2),
    max_leaves=30,
)


def nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value] if levels % 2 else {"k": value}
    return value


@given(TROUBLE | st.integers(min_value=0, max_value=80).map(nested))
def test_encoded_agrees_with_problem_and_writes_what_orjson_writes(value: Any) -> None:
    """The fast path is held to `problem`, the reference: the same verdict on any value made of
    what a JSON parser returns, and the bytes of a storable one are orjson's."""
    data, found = json_values.encoded(value)
    reference = json_values.problem(value)
    assert (found is None) == (reference is None)
    if reference is None:
        assert data == orjson.dumps(value)
    else:
        assert found == reference and data is None


def test_loads_takes_the_exact_parser_only_for_a_long_run_of_digits() -> None:
    assert json_values.loads(b'{"n": 123456789012345678}') == {"n": 123456789012345678}
    assert json_values.loads(b'{"n": 12345678901234567890123}') == {"n": 12345678901234567890123}
    assert json_values.loads(b'{"s": "1234567890 1234567890", "n": 1}')["n"] == 1
