"""Why a member holds their role (BuyingGroupMember.assignment): how, when and by whom they were
put there, and the role's rules evaluated against the person by the SQL that assigns them."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry

from service.api.conditions import ConditionMatch, ConditionOperator
from service.domain.conditions import Operator
from service.store import buying_groups as group_store


@strawberry.enum(description="Who last changed a membership: MANUAL > API > SYSTEM.")
class MemberSource(enum.Enum):
    MANUAL = "MANUAL"
    API = "API"
    SYSTEM = "SYSTEM"


@strawberry.type(description="One rule of the role, tested against the person.")
class ConditionResult:
    attribute: str
    operator: ConditionOperator  # type: ignore[valid-type]
    expected: list[str] = strawberry.field(description="The rule's values.")
    actual: str | None = strawberry.field(description="The person's value it tested.")
    matched: bool


@strawberry.type(description=(
    "How a member came to hold their role. `source` SYSTEM: the role's rules put them there "
    "(a generation or maintenance job); MANUAL: a user; API: an integration. The rules are "
    "evaluated against the person's values as they are now, by the same SQL that assigns."))
class MemberAssignment:
    source: MemberSource
    at: datetime = strawberry.field(description="When the membership last changed.")
    actor: str | None = strawberry.field(description=(
        "Who changed it: `api_key.<id>`, `job.<id>`, `cli`; null for changes made before "
        "actors were recorded."))
    match: ConditionMatch | None = strawberry.field(description=(
        "ALL or ANY of the role's rules; null when the role has no rules (assigned by hand "
        "only)."))
    matched: bool | None = strawberry.field(description=(
        "Whether the person meets the role's rules now; null when it has none."))
    condition_results: list[ConditionResult]


async def member_assignment(member: group_store.Member, info: strawberry.Info
                            ) -> MemberAssignment:
    loaders = info.context.loaders
    group = await loaders.buying_group.load(member.buying_group_id)
    template = await loaders.role_template.load(group.role_template_id) if group else None
    entry = next((e for e in template.entries if e.role_id == member.role_id),
                 None) if template else None
    rules = entry.conditions if entry else None
    evaluation = (await loaders.role_rules.load((template.id, member.role_id,
                                                  member.person_id))
                  if template is not None and rules is not None else None)
    results = [] if rules is None or evaluation is None else [
        ConditionResult(attribute=rule.attribute, operator=Operator(rule.operator),
                        expected=list(rule.values), actual=result.actual,
                        matched=result.matched)
        for rule, result in zip(rules.rules, evaluation.rules, strict=True)]
    return MemberAssignment(
        source=MemberSource(member.source), at=member.assigned_at, actor=member.assigned_by,
        match=ConditionMatch(rules.match.value) if rules is not None else None,
        matched=evaluation.matched if evaluation is not None else None,
        condition_results=results)
