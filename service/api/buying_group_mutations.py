"""Changes to one buying group through GraphQL: membership, status, stage, deletion. Each
resolver decodes its input, calls the use case in `service.usecases.groups` in the request's
unit of work (which records the events with the change), and maps problems to `userErrors`."""

from __future__ import annotations

from typing import TypeVar

import strawberry
from strawberry import relay

from service.api.buying_groups import BuyingGroup, BuyingGroupMember
from service.api.errors import UserError, from_problems
from service.api.nodes import decode_id
from service.api.permissions import RequireWrite
from service.store import buying_groups as group_store
from service.usecases import groups
from service.usecases.change import Change

T = TypeVar("T")


@strawberry.input
class AssignBuyingGroupMemberInput:
    buying_group_id: relay.GlobalID
    person_id: relay.GlobalID
    role_id: relay.GlobalID


@strawberry.input
class RemoveBuyingGroupMemberInput:
    buying_group_id: relay.GlobalID
    person_id: relay.GlobalID


@strawberry.input
class SetBuyingGroupStatusInput:
    buying_group_id: relay.GlobalID
    status: str | None = strawberry.field(description="At most 50 characters; null clears it.")


@strawberry.input
class SetBuyingGroupStageInput:
    buying_group_id: relay.GlobalID
    stage_id: relay.GlobalID
    override: bool = strawberry.field(default=False, description=(
        "ADMIN only: move to any stage of the group's model, against its transitions (to undo "
        "a mistaken move to Won, say); recorded in the stage history as OVERRIDE."))


@strawberry.input
class RenameBuyingGroupInput:
    id: relay.GlobalID
    name: str | None = strawberry.field(description=(
        "At most 200 characters. A name of your own stays when the account or solution "
        "interest is renamed; null (or blank) gives the group its generated name again, "
        "\"<solution interest> for <account>\", which follows such renames."))


@strawberry.input
class DeleteBuyingGroupInput:
    id: relay.GlobalID


@strawberry.type
class BuyingGroupPayload:
    buying_group: BuyingGroup | None
    user_errors: list[UserError]


@strawberry.type
class MembershipPayload:
    buying_group: BuyingGroup | None
    member: BuyingGroupMember | None
    user_errors: list[UserError]


@strawberry.type
class DeleteBuyingGroupPayload:
    deleted_buying_group_id: relay.GlobalID | None
    user_errors: list[UserError]


def membership(change: Change[groups.Membership]) -> MembershipPayload:
    done = change.value
    if done is None:
        return MembershipPayload(buying_group=None, member=None,
                                 user_errors=from_problems(change.problems, "input"))
    return MembershipPayload(buying_group=BuyingGroup.from_row(done.group),
                             member=BuyingGroupMember.from_row(done.member), user_errors=[])


def _group(change: Change[group_store.BuyingGroup]) -> BuyingGroupPayload:
    done = change.value
    if done is None:
        return BuyingGroupPayload(buying_group=None,
                                  user_errors=from_problems(change.problems, "input"))
    return BuyingGroupPayload(buying_group=BuyingGroup.from_row(done), user_errors=[])


@strawberry.type
class BuyingGroupMutations:
    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="Put a person of the group's account in a role (or move "
                         "them to another role).")
    async def assign_buying_group_member(
        self, info: strawberry.Info, input: AssignBuyingGroupMemberInput
    ) -> MembershipPayload:
        group_id = decode_id(input.buying_group_id, "BuyingGroup", ["input", "buyingGroupId"])
        person_id = decode_id(input.person_id, "Person", ["input", "personId"])
        role_id = decode_id(input.role_id, "Role", ["input", "roleId"])
        async with info.context.work(info) as work:
            change = await groups.assign_member(work, info.context.tenant_principal,
                                                group_id, person_id, role_id)
        return membership(change)

    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="Take a person out of the group; the record stays, marked "
                         "removed, and maintenance will not add them back.")
    async def remove_buying_group_member(
        self, info: strawberry.Info, input: RemoveBuyingGroupMemberInput
    ) -> MembershipPayload:
        group_id = decode_id(input.buying_group_id, "BuyingGroup", ["input", "buyingGroupId"])
        person_id = decode_id(input.person_id, "Person", ["input", "personId"])
        async with info.context.work(info) as work:
            change = await groups.remove_member(work, info.context.tenant_principal,
                                                group_id, person_id)
        return membership(change)

    @strawberry.mutation(permission_classes=[RequireWrite])
    async def set_buying_group_status(
        self, info: strawberry.Info, input: SetBuyingGroupStatusInput
    ) -> BuyingGroupPayload:
        group_id = decode_id(input.buying_group_id, "BuyingGroup", ["input", "buyingGroupId"])
        async with info.context.work(info) as work:
            change = await groups.set_status(work, group_id, input.status)
        return _group(change)

    @strawberry.mutation(permission_classes=[RequireWrite])
    async def rename_buying_group(
        self, info: strawberry.Info, input: RenameBuyingGroupInput
    ) -> BuyingGroupPayload:
        group_id = decode_id(input.id, "BuyingGroup", ["input", "id"])
        async with info.context.work(info) as work:
            change = await groups.rename(work, group_id, input.name)
        return _group(change)

    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="Move a group to a stage its stage model allows next.")
    async def set_buying_group_stage(
        self, info: strawberry.Info, input: SetBuyingGroupStageInput
    ) -> BuyingGroupPayload:
        group_id = decode_id(input.buying_group_id, "BuyingGroup", ["input", "buyingGroupId"])
        stage_id = decode_id(input.stage_id, "Stage", ["input", "stageId"])
        async with info.context.work(info) as work:
            change = await groups.move_to_stage(work, info.context.tenant_principal,
                                                group_id, stage_id, override=input.override)
        return _group(change)

    @strawberry.mutation(permission_classes=[RequireWrite])
    async def delete_buying_group(
        self, info: strawberry.Info, input: DeleteBuyingGroupInput
    ) -> DeleteBuyingGroupPayload:
        group_id = decode_id(input.id, "BuyingGroup", ["input", "id"])
        async with info.context.work(info) as work:
            change = await groups.delete_group(work, group_id)
        if change.value is None:
            return DeleteBuyingGroupPayload(deleted_buying_group_id=None,
                                            user_errors=from_problems(change.problems, "input"))
        return DeleteBuyingGroupPayload(deleted_buying_group_id=input.id, user_errors=[])
