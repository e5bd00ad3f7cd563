"""Stage entry rules as typed GraphQL objects (`Stage.entersWhen`, `StageInput.entersWhen`),
beside the JSON form they replace (`entryRule`, deprecated for one release). Both are the same
stored rule: {match, conditions: [{metric, operator, value, roleId}]}."""

from __future__ import annotations

import enum
from typing import Any

import strawberry
from strawberry import relay

from service.api.conditions import ConditionMatch
from service.api.nodes import parse_uuid
from service.api.roles import Role, role_if_any
from service.domain.stages import COMPARISONS, Metric

strawberry.enum(Metric, name="StageMetric", description=(
    "COMPLETENESS and ENGAGEMENT: the group's scores; DAYS_IN_STAGE: days since it entered "
    "its current stage; ROLE_MEMBERS: its active members in `roleId`'s role."))


@strawberry.enum(description="How a condition compares the metric with its value.")
class StageComparison(enum.Enum):
    GT = "GT"
    GTE = "GTE"
    LT = "LT"
    LTE = "LTE"
    EQ = "EQ"


assert {c.value for c in StageComparison} == set(COMPARISONS)


@strawberry.input(description="One condition of an entry rule.")
class StageConditionInput:
    metric: Metric
    operator: StageComparison
    value: float
    role_id: relay.GlobalID | None = strawberry.field(
        default=None, description="ROLE_MEMBERS: the role whose members are counted.")


@strawberry.input(description="When a group enters the stage by itself.")
class StageEntryRuleInput:
    match: ConditionMatch = ConditionMatch.ALL
    conditions: list[StageConditionInput] = strawberry.field(default_factory=list)


@strawberry.type(description="One condition of an entry rule.")
class StageCondition:
    metric: Metric
    operator: StageComparison
    value: float
    role_id: relay.GlobalID | None = strawberry.field(
        description="ROLE_MEMBERS: the role's id.")

    @strawberry.field(description="ROLE_MEMBERS: the role whose members are counted.")
    async def role(self, info: strawberry.Info) -> Role | None:
        return await role_if_any(info, parse_uuid(self.role_id.node_id)
                                 if self.role_id else None)


@strawberry.type(description=(
    "A group moves to the stage by itself when this holds (`match` ALL: every condition; "
    "ANY: one), from a stage that allows the move."))
class StageEntryRule:
    match: ConditionMatch
    conditions: list[StageCondition]


def rule_of_input(given: StageEntryRuleInput) -> dict[str, Any]:
    """The stored form of a typed rule (role ids as stored; checked by the domain as the JSON
    form is)."""
    def condition(c: StageConditionInput) -> dict[str, Any]:
        made: dict[str, Any] = {"metric": c.metric.value, "operator": c.operator.value,
                                "value": c.value}
        if c.role_id is not None:
            made["roleId"] = c.role_id.node_id if c.role_id.type_name == "Role" else "?"
        return made

    return {"match": given.match.value, "conditions": [condition(c) for c in given.conditions]}


def typed_rule(stored: Any) -> StageEntryRule | None:
    """A stored rule as the typed object (None without one)."""
    if not isinstance(stored, dict):
        return None
    return StageEntryRule(match=ConditionMatch(stored.get("match", "ALL")), conditions=[
        StageCondition(metric=Metric(c["metric"]), operator=StageComparison(c["operator"]),
                       value=float(c["value"]),
                       role_id=relay.GlobalID("Role", str(c["roleId"]))
                       if c.get("roleId") else None)
        for c in stored.get("conditions", [])])
