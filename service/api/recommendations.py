"""Candidates for a group's role through GraphQL: BuyingGroup.recommendations, and accepting
or dismissing one."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry import relay

from service.api.assignments import ConditionResult
from service.api.errors import ClientError, ErrorCode
from service.api.nodes import decode_id
from service.api.pagination import (
    Connection,
    check_first,
    decode_cursor,
    make_connection,
)
from service.api.people import Person
from service.api.roles import Role, role_if_any
from service.domain.conditions import ConditionGroup, Operator
from service.store.recommendations import Recommendation
from service.usecases import recommendations as cases

MAX_RECOMMENDATIONS = 50


@strawberry.type(description=(
    "A person who could fill the role, with the reasons: each of the role's rules tested "
    "against them by the SQL that assigns, and their activity in the scoring window."))
class MemberRecommendation:
    matched: bool = strawberry.field(description=(
        "They meet the role's rules as a whole (ALL or ANY); false for a role without rules."))
    conditions_met: int = strawberry.field(description="How many of the role's rules they meet.")
    conditions_total: int
    reasons: list[ConditionResult]
    engagement_points: float = strawberry.field(description=(
        "Their activity points in the scoring window (daily counts capped, as scores count "
        "them)."))
    row: strawberry.Private[Recommendation]

    @strawberry.field
    async def person(self, info: strawberry.Info) -> Person:
        found = await info.context.loaders.person.load(self.row.person_id)
        return Person.from_row(found)

    @strawberry.field(description=(
        "Their role in this group when they are a member already (in another role): accepting "
        "moves them."))
    async def assigned_role(self, info: strawberry.Info) -> Role | None:
        return await role_if_any(info, self.row.current_role_id)

    @classmethod
    def of(cls, row: Recommendation, conditions: ConditionGroup | None) -> MemberRecommendation:
        rules = conditions.rules if conditions else ()
        return cls(matched=row.matched, conditions_met=row.met, conditions_total=len(rules),
                   reasons=[ConditionResult(attribute=rule.attribute,
                                            operator=Operator(rule.operator),
                                            expected=list(rule.values), actual=result.actual,
                                            matched=result.matched)
                            for rule, result in zip(rules, row.rules, strict=True)],
                   engagement_points=float(row.points), row=row)


def _offset(raw: list[Any]) -> int:
    offset = raw[0]
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise ValueError("not an offset")
    return offset


async def group_recommendations(
    root: strawberry.Parent[Any], info: strawberry.Info, role_id: relay.GlobalID,
    first: int = 10, after: str | None = None,
) -> Connection[MemberRecommendation]:
    """The resolver of BuyingGroup.recommendations (`root`: the BuyingGroup)."""
    limit = check_first(first, MAX_RECOMMENDATIONS)
    start = decode_cursor(after, _offset)
    offset = 0 if start is None else start + 1
    role = decode_id(role_id, "Role", ["roleId"])
    context = info.context
    tenant_id = context.tenant_principal.tenant_id
    template = await context.loaders.role_template.load(root.row.role_template_id)
    inputs = await context.loaders.scoring_inputs.load(tenant_id)
    async with context.read() as conn:
        found, problems = await cases.candidates(conn, tenant_id, root.row, template, role,
                                                 inputs=inputs, limit=limit, offset=offset)
    if found is None:
        problem = problems[0]
        raise ClientError(problem.message, ErrorCode(problem.code), field=["roleId"])
    nodes = [MemberRecommendation.of(r, found.conditions) for r in found.items]
    return make_connection(nodes, [[offset + i] for i in range(len(nodes))],
                           has_next=found.has_next, has_previous=offset > 0,
                           total_count=found.total)
