"""Stage models: the rules a stage graph must follow to be published, which moves it allows,
and automatic entry rules over a group's scores."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from service.domain.problems import Problem

KEY = re.compile(r"^[A-Za-z0-9_-]{1,50}$")
FINAL = {"SUCCESS", "FAILURE"}
KINDS = ("ENTRY", "INTERMEDIATE", "SUCCESS", "FAILURE")
MAX_STAGE_NAME = 100


@dataclass(frozen=True)
class StageSpec:
    key: str
    name: str
    kind: str
    transitions_to: tuple[str, ...] = ()
    description: str | None = None
    # As the client sent it (any JSON value) until shape_problems has found none.
    entry_rule: Any = None
    rule_path: str = "entryRule"  # the input field it came in (its problems' path)


def shape_problems(stages: Sequence[StageSpec]) -> list[Problem]:
    """Problems a draft may not have either: bad or repeated keys, unknown transition targets."""
    problems = []
    keys = [s.key for s in stages]
    for i, stage in enumerate(stages):
        if not KEY.match(stage.key):
            problems.append(Problem((i, "key"), "INVALID_VALUE",
                                    "a key is 1 to 50 letters, digits, '-' or '_'"))
        elif keys.index(stage.key) != i:
            problems.append(Problem((i, "key"), "DUPLICATE", f"key {stage.key!r} is used twice"))
        if not stage.name.strip():
            problems.append(Problem((i, "name"), "REQUIRED", "a stage needs a name"))
        elif len(stage.name.strip(" ")) > MAX_STAGE_NAME:  # as the column's CHECK measures
            problems.append(Problem((i, "name"), "TOO_LONG",
                                    f"a stage name is at most {MAX_STAGE_NAME} characters"))
        for j, target in enumerate(stage.transitions_to):
            if target not in keys:
                problems.append(Problem((i, "transitionsTo", j), "UNKNOWN_STAGE",
                                        f"no stage has key {target!r}"))
        if stage.entry_rule is not None:
            problems += [p.under(i, stage.rule_path) for p in rule_problems(stage.entry_rule)]
    return problems


def publish_problems(stages: Sequence[StageSpec]) -> list[Problem]:
    """Everything that keeps a stage graph from going LIVE."""
    problems = shape_problems(stages)
    if not any(s.kind == "ENTRY" for s in stages):
        problems.append(Problem((), "NO_ENTRY_STAGE", "a stage model needs an ENTRY stage"))
    successes = sum(1 for s in stages if s.kind == "SUCCESS")
    if successes != 1:
        problems.append(Problem((), "SUCCESS_STAGE_COUNT",
                                f"a stage model needs exactly one SUCCESS stage, not {successes}"))
    keys = {s.key for s in stages}
    for i, stage in enumerate(stages):
        if stage.kind not in FINAL and not [t for t in stage.transitions_to if t in keys]:
            problems.append(Problem((i, "transitionsTo"), "NO_WAY_OUT",
                                    f"{stage.name!r} is not final but leads nowhere"))
    reachable = reachable_keys(stages)
    for i, stage in enumerate(stages):
        if stage.key not in reachable:
            problems.append(Problem((i,), "UNREACHABLE",
                                    f"{stage.name!r} cannot be reached from any ENTRY stage"))
    return problems


def reachable_keys(stages: Sequence[StageSpec]) -> set[str]:
    by_key = {s.key: s for s in stages}
    seen = {s.key for s in stages if s.kind == "ENTRY"}
    frontier = list(seen)
    while frontier:
        for target in by_key[frontier.pop()].transitions_to:
            if target in by_key and target not in seen:
                seen.add(target)
                frontier.append(target)
    return seen


def allows(stages: Mapping[str, StageSpec], from_key: str | None, to_key: str) -> bool:
    """Can a group move from `from_key` (None: no stage yet) to `to_key`?"""
    if to_key not in stages:
        return False
    if from_key is None or from_key not in stages:
        return stages[to_key].kind == "ENTRY"
    return to_key in stages[from_key].transitions_to


# --- automatic entry rules -----------------------------------------------------------------


class Metric(enum.StrEnum):
    COMPLETENESS = "COMPLETENESS"
    ENGAGEMENT = "ENGAGEMENT"
    DAYS_IN_STAGE = "DAYS_IN_STAGE"
    ROLE_MEMBERS = "ROLE_MEMBERS"


COMPARISONS = {"GT": ">", "GTE": ">=", "LT": "<", "LTE": "<=", "EQ": "="}


def rule_problems(rule: Any) -> list[Problem]:
    """What is wrong with an entry rule as a client sent it (any JSON value)."""
    if not isinstance(rule, Mapping):
        return [Problem((), "INVALID_VALUE", "an entry rule is an object {match, conditions}")]
    problems = []
    if rule.get("match", "ALL") not in ("ALL", "ANY"):
        problems.append(Problem(("match",), "UNKNOWN_MATCH", "match is ALL or ANY"))
    conditions = rule.get("conditions") or []
    if not isinstance(conditions, list):
        return [*problems, Problem(("conditions",), "INVALID_VALUE", "conditions is a list")]
    if not conditions:
        problems.append(Problem(("conditions",), "REQUIRED", "an entry rule needs a condition"))
    for i, c in enumerate(conditions):
        problems += [p.under("conditions", i) for p in condition_problems(c)]
    return problems


def condition_problems(condition: Any) -> list[Problem]:
    if not isinstance(condition, Mapping):
        return [Problem((), "INVALID_VALUE",
                        "a condition is an object {metric, operator, value, roleId}")]
    problems = []
    metric = condition.get("metric")
    if not isinstance(metric, str) or metric not in Metric.__members__:
        problems.append(Problem(("metric",), "INVALID_VALUE",
                                "metric is one of " + ", ".join(Metric.__members__)))
    operator = condition.get("operator")
    if not isinstance(operator, str) or operator not in COMPARISONS:
        problems.append(Problem(("operator",), "UNKNOWN_OPERATOR",
                                "operator is one of " + ", ".join(COMPARISONS)))
    if rule_number(condition.get("value")) is None:
        problems.append(Problem(("value",), "INVALID_NUMBER",
                                f"value must be a number between -{MAX_VALUE} and {MAX_VALUE}"))
    if metric == "ROLE_MEMBERS":
        role_id = condition.get("roleId")
        if not role_id:
            problems.append(Problem(("roleId",), "REQUIRED", "ROLE_MEMBERS needs a roleId"))
        elif not isinstance(role_id, str) or _uuid(role_id) is None:
            problems.append(Problem(("roleId",), "INVALID_ID", "roleId is the id of a Role"))
    return problems


MAX_VALUE = 10**9


def rule_number(value: Any) -> Decimal | None:
    """A condition's value as a number, if it is a finite one of sane size."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() and abs(number) <= MAX_VALUE else None


def _uuid(value: str) -> UUID | None:
    try:
        return UUID(value)
    except ValueError:
        return None


def rule_holds(rule: Mapping[str, Any], metrics: Mapping[str, Decimal]) -> bool:
    """The reference reading of an entry rule, `metrics` keyed COMPLETENESS, ENGAGEMENT,
    DAYS_IN_STAGE and ROLE_MEMBERS:<role id>: production evaluates `store.stages.rule_sql`,
    and tests/test_group_rules_sql.py holds the two equal on random groups and rules. A rule
    without conditions never holds (none can be published)."""
    if not rule.get("conditions"):
        return False
    results = []
    for c in rule.get("conditions") or []:
        key = c["metric"] if c["metric"] != "ROLE_MEMBERS" else f"ROLE_MEMBERS:{c['roleId']}"
        left, right = metrics.get(key, Decimal(0)), Decimal(str(c["value"]))
        results.append({">": left > right, ">=": left >= right, "<": left < right,
                        "<=": left <= right, "=": left == right}[COMPARISONS[c["operator"]]])
    return all(results) if rule.get("match", "ALL") == "ALL" else any(results)
