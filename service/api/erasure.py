"""Erasure through GraphQL (ADMIN): a person, or an account with its people, removed on request."""

from __future__ import annotations

import strawberry
from strawberry import relay

from service.api.errors import UserError, from_problems
from service.api.nodes import decode_id
from service.api.permissions import RequireAdmin
from service.usecases import erasure as erasure_cases
from service.usecases.change import Change
from service.usecases.erasure import Erasure

_AFTER = ("A PERSON_ERASED event with the person's id only tells partners to erase their "
          "copies. A later activity sync skips the person's activities (counted in "
          "activitySync.activitiesOfErasedPeople) and an upsert or import of the same "
          "externalId is refused with ERASED.")


@strawberry.input
class ErasePersonInput:
    id: relay.GlobalID


@strawberry.input
class EraseAccountInput:
    id: relay.GlobalID


@strawberry.type(description="What an erasure removed.")
class ErasurePayload:
    erased_person_ids: list[relay.GlobalID] = strawberry.field(
        description="The people erased (empty when nothing was).")
    buying_groups_rescored: int = strawberry.field(
        description="Groups they were members of, rescored without them.")
    buying_groups_deleted: int = strawberry.field(
        description="An account's own buying groups, deleted with it.")
    activities_deleted: int
    user_errors: list[UserError]

    @classmethod
    def of(cls, change: Change[Erasure]) -> ErasurePayload:
        done = change.value
        if done is None:
            return cls(erased_person_ids=[], buying_groups_rescored=0, buying_groups_deleted=0,
                       activities_deleted=0, user_errors=from_problems(change.problems, "input"))
        return cls(erased_person_ids=[relay.GlobalID("Person", str(p)) for p in done.person_ids],
                   buying_groups_rescored=done.groups_rescored,
                   buying_groups_deleted=done.groups_deleted,
                   activities_deleted=done.activities_deleted, user_errors=[])


@strawberry.type
class ErasureMutations:
    @strawberry.mutation(permission_classes=[RequireAdmin], description=(
        "Erase a person on request (ADMIN): the person, their memberships, activities and "
        "daily counts, and their id in the event log; the groups they were in are rescored in "
        "the same transaction. " + _AFTER))
    async def erase_person(self, info: strawberry.Info, input: ErasePersonInput
                           ) -> ErasurePayload:
        person_id = decode_id(input.id, "Person", ["input", "id"])
        async with info.context.work(info) as work:
            change = await erasure_cases.erase_person(work, person_id)
        return ErasurePayload.of(change)

    @strawberry.mutation(permission_classes=[RequireAdmin], description=(
        "Erase an account on request (ADMIN): each of its people as erasePerson does, its "
        "buying groups (DELETED events, their names taken out of the log) and the account; "
        "its sub-accounts stay, without a parent. " + _AFTER))
    async def erase_account(self, info: strawberry.Info, input: EraseAccountInput
                            ) -> ErasurePayload:
        account_id = decode_id(input.id, "Account", ["input", "id"])
        async with info.context.work(info) as work:
            change = await erasure_cases.erase_account(work, account_id)
        return ErasurePayload.of(change)
