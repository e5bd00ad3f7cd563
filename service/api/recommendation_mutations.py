"""Accepting or dismissing a recommended member (BuyingGroup.recommendations)."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry import relay

from service.api.buying_group_mutations import MembershipPayload, membership
from service.api.errors import UserError, from_problems
from service.api.nodes import decode_id
from service.api.permissions import RequireWrite
from service.usecases import recommendations as cases


@strawberry.input
class RecommendationInput:
    buying_group_id: relay.GlobalID
    role_id: relay.GlobalID
    person_id: relay.GlobalID


@strawberry.type
class DismissRecommendationPayload:
    dismissed_person_id: relay.GlobalID | None
    user_errors: list[UserError]


def _ids(input: RecommendationInput) -> tuple[Any, Any, Any]:
    return (decode_id(input.buying_group_id, "BuyingGroup", ["input", "buyingGroupId"]),
            decode_id(input.role_id, "Role", ["input", "roleId"]),
            decode_id(input.person_id, "Person", ["input", "personId"]))


@strawberry.type
class RecommendationMutations:
    @strawberry.mutation(permission_classes=[RequireWrite], description=(
        "Assign a recommended person to the role (as assignBuyingGroupMember does)."))
    async def accept_recommendation(self, info: strawberry.Info, input: RecommendationInput
                                    ) -> MembershipPayload:
        group, role, person = _ids(input)
        async with info.context.work(info) as work:
            change = await cases.accept(work, info.context.tenant_principal, group, role,
                                        person)
        return membership(change)

    @strawberry.mutation(permission_classes=[RequireWrite], description=(
        "Offer the person for this group's role no more."))
    async def dismiss_recommendation(self, info: strawberry.Info, input: RecommendationInput
                                     ) -> DismissRecommendationPayload:
        group, role, person = _ids(input)
        async with info.context.work(info) as work:
            change = await cases.dismiss(work, group, role, person)
        if change.value is None:
            return DismissRecommendationPayload(
                dismissed_person_id=None, user_errors=from_problems(change.problems, "input"))
        return DismissRecommendationPayload(dismissed_person_id=input.person_id,
                                            user_errors=[])
