"""Acting on many buying groups at once: assignments (up to 50) and stage moves (up to 100) in
one call and one transaction, each item done or refused on its own with its index."""

from __future__ import annotations

from uuid import UUID

import strawberry
from strawberry import relay

from service.api.buying_groups import BuyingGroup, BuyingGroupMember
from service.api.errors import UserError, from_problems, indexed_problems
from service.api.nodes import decode_id
from service.api.permissions import RequireWrite
from service.domain.problems import Problem
from service.usecases import groups


@strawberry.input
class MemberAssignmentInput:
    buying_group_id: relay.GlobalID
    person_id: relay.GlobalID
    role_id: relay.GlobalID


@strawberry.input
class AssignBuyingGroupMembersInput:
    assignments: list[MemberAssignmentInput] = strawberry.field(
        description=f"At most {groups.MAX_ASSIGNMENTS}.")


@strawberry.type
class AssignBuyingGroupMembersPayload:
    members: list[BuyingGroupMember] = strawberry.field(
        description="The assignments made, in the order asked.")
    user_errors: list[UserError] = strawberry.field(
        description="One entry per refused item; its field carries the item's index.")


@strawberry.input
class SetBuyingGroupsStageInput:
    buying_group_ids: list[relay.GlobalID] = strawberry.field(
        description=f"At most {groups.MAX_STAGE_MOVES}.")
    stage_id: relay.GlobalID


@strawberry.type
class SetBuyingGroupsStagePayload:
    buying_groups: list[BuyingGroup] = strawberry.field(
        description="The groups moved, in the order asked.")
    user_errors: list[UserError] = strawberry.field(
        description="One entry per group refused; its field carries the group's index.")


def _per_item(problems: dict[int, list[Problem]], field: str) -> list[UserError]:
    """Each item's problems under ["input", field, index] (the item's own field dropped where
    the list is of ids)."""
    return indexed_problems({i: [Problem((), p.code, p.message) for p in found]
                             for i, found in problems.items()}, "input", field)


@strawberry.type
class BulkGroupMutations:
    @strawberry.mutation(permission_classes=[RequireWrite], description=(
        "Put people in roles, up to 50 at once, in one transaction: each assignment is made "
        "or refused on its own (userErrors name its index); one event per change."))
    async def assign_buying_group_members(
        self, info: strawberry.Info, input: AssignBuyingGroupMembersInput
    ) -> AssignBuyingGroupMembersPayload:
        items: list[tuple[UUID, UUID, UUID]] = []
        for i, item in enumerate(input.assignments):
            path = ["input", "assignments", str(i)]
            items.append((decode_id(item.buying_group_id, "BuyingGroup", [*path, "buyingGroupId"]),
                          decode_id(item.person_id, "Person", [*path, "personId"]),
                          decode_id(item.role_id, "Role", [*path, "roleId"])))
        async with info.context.work(info) as work:
            change = await groups.assign_members(work, info.context.tenant_principal, items)
        if change.value is None:
            return AssignBuyingGroupMembersPayload(
                members=[], user_errors=from_problems(change.problems, "input"))
        done = change.value
        return AssignBuyingGroupMembersPayload(
            members=[BuyingGroupMember.from_row(done.done[i].member) for i in sorted(done.done)],
            user_errors=indexed_problems(done.problems, "input", "assignments"))

    @strawberry.mutation(permission_classes=[RequireWrite], description=(
        "Move up to 100 groups to a stage in one transaction, each as its stage model allows: "
        "a group refused gets a userErrors entry with its index; one event per move."))
    async def set_buying_groups_stage(
        self, info: strawberry.Info, input: SetBuyingGroupsStageInput
    ) -> SetBuyingGroupsStagePayload:
        group_ids = [decode_id(g, "BuyingGroup", ["input", "buyingGroupIds", str(i)])
                     for i, g in enumerate(input.buying_group_ids)]
        stage_id = decode_id(input.stage_id, "Stage", ["input", "stageId"])
        async with info.context.work(info) as work:
            change = await groups.move_to_stage_many(work, info.context.tenant_principal,
                                                     group_ids, stage_id)
        if change.value is None:
            return SetBuyingGroupsStagePayload(
                buying_groups=[], user_errors=from_problems(change.problems, "input"))
        done = change.value
        return SetBuyingGroupsStagePayload(
            buying_groups=[BuyingGroup.from_row(done.done[i]) for i in sorted(done.done)],
            user_errors=_per_item(done.problems, "buyingGroupIds"))
