"""Why a member holds a role: a role's rules evaluated against people, rule by rule, by the SQL
that assigns them (service/store/conditions_sql.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from service.domain.conditions import PERSON_FIELDS, ConditionGroup
from service.infra.db import Connection
from service.store.conditions_sql import explanation_sql
from service.store.sql import SqlParams


@dataclass(frozen=True)
class RuleResult:
    actual: str | None  # the person's value the rule tested
    matched: bool


@dataclass(frozen=True)
class Evaluation:
    rules: list[RuleResult]  # in the group's order
    matched: bool            # the group as a whole (its ALL or ANY of the rules)


async def evaluate_people(conn: Connection, group: ConditionGroup, person_ids: Sequence[UUID]
                          ) -> dict[UUID, Evaluation]:
    """The group evaluated against each person, in one statement."""
    params = SqlParams()
    columns = explanation_sql(group, PERSON_FIELDS, "p", params)
    rows = await conn.fetch(
        f"SELECT p.id, {', '.join(f'{c} AS c{i}' for i, c in enumerate(columns))} "
        f"FROM people p WHERE p.id = ANY({params.add(list(person_ids))}::uuid[])",
        *params.values)
    evaluated = {}
    for row in rows:
        values = [row[f"c{i}"] for i in range(len(columns))]
        rules = [RuleResult(actual=values[2 * i + 1], matched=bool(values[2 * i]))
                 for i in range(len(group.rules))]
        evaluated[row["id"]] = Evaluation(rules, bool(values[-1]))
    return evaluated
