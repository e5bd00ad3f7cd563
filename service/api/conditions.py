"""Condition groups in GraphQL: the shape shared by role assignment rules and dynamic audiences."""

from __future__ import annotations

import enum

import strawberry

from service.domain.conditions import ConditionGroup, Operator


@strawberry.enum
class ConditionMatch(enum.Enum):
    ALL = "ALL"
    ANY = "ANY"


# The domain's operators, as the API shows them.
ConditionOperator = strawberry.enum(Operator, name="ConditionOperator")


@strawberry.type
class ConditionRule:
    attribute: str
    operator: Operator
    values: list[str]


@strawberry.type(description="Rules combined with ALL (and) or ANY (or).")
class ConditionGroupType:
    match: ConditionMatch
    rules: list[ConditionRule]

    @classmethod
    def from_domain(cls, group: ConditionGroup) -> ConditionGroupType:
        return cls(
            match=ConditionMatch(group.match.value),
            rules=[
                ConditionRule(attribute=r.attribute,
                              operator=r.operator,
                              values=list(r.values))
                for r in group.rules
            ],
        )


@strawberry.input
class ConditionRuleInput:
    attribute: str = strawberry.field(
        description="A field name (e.g. jobTitle, industry) or attributes.<key>."
    )
    operator: Operator = strawberry.field(description="Text comparison ignores case.")
    values: list[str] = strawberry.field(
        default_factory=list, description="Several values mean: any of these."
    )


@strawberry.input
class ConditionGroupInput:
    match: ConditionMatch = ConditionMatch.ALL
    rules: list[ConditionRuleInput]

    def raw(self) -> tuple[str, list[tuple[str, str, list[str]]]]:
        return self.match.value, [(r.attribute, r.operator.value, list(r.values))
                                  for r in self.rules]
