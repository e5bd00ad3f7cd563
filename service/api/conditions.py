"""Condition groups in GraphQL: the shape shared by role assignment rules and dynamic audiences."""

from __future__ import annotations

import enum

import strawberry

from service.domain.conditions import ConditionGroup


@strawberry.enum
class ConditionMatch(enum.Enum):
    ALL = "ALL"
    ANY = "ANY"


@strawberry.enum
class ConditionOperator(enum.Enum):
    EQUALS = "EQUALS"
    NOT_EQUALS = "NOT_EQUALS"
    CONTAINS = "CONTAINS"
    NOT_CONTAINS = "NOT_CONTAINS"
    STARTS_WITH = "STARTS_WITH"
    ENDS_WITH = "ENDS_WITH"
    IS_EMPTY = "IS_EMPTY"
    IS_NOT_EMPTY = "IS_NOT_EMPTY"
    GREATER_THAN = "GREATER_THAN"
    GREATER_OR_EQUAL = "GREATER_OR_EQUAL"
    LESS_THAN = "LESS_THAN"
    LESS_OR_EQUAL = "LESS_OR_EQUAL"


@strawberry.type
class ConditionRule:
    attribute: str
    operator: ConditionOperator
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
                              operator=ConditionOperator(r.operator.value),
                              values=list(r.values))
                for r in group.rules
            ],
        )


@strawberry.input
class ConditionRuleInput:
    attribute: str = strawberry.field(
        description="A field name (e.g. jobTitle, industry) or attributes.<key>."
    )
    operator: str = strawberry.field(
        description="One of the ConditionOperator values; text comparison ignores case."
    )
    values: list[str] = strawberry.field(
        default_factory=list, description="Several values mean: any of these."
    )


@strawberry.input
class ConditionGroupInput:
    match: ConditionMatch = ConditionMatch.ALL
    rules: list[ConditionRuleInput]

    def raw(self) -> tuple[str, list[tuple[str, str, list[str]]]]:
        return self.match.value, [(r.attribute, r.operator, list(r.values)) for r in self.rules]
