"""Solution interests through GraphQL."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import strawberry
from strawberry import UNSET, relay

from service.api.errors import UserError, from_problems
from service.api.nodes import convert_all, decode_id, graph_type, load_nodes, parse_uuid
from service.api.pagination import Connection, check_first, decode_cursor, to_connection
from service.api.permissions import RequireWrite
from service.api.role_templates import RoleTemplate, name_key
from service.api.stages import StageModel
from service.store import solution_interests as interest_store
from service.usecases import solution_interests as interests
from service.usecases.change import Change

if TYPE_CHECKING:
    from service.api.jobs import BuyingGroupJob


@strawberry.type(description="Something you sell; each account gets one buying group for it.")
class SolutionInterest(relay.Node):
    id: relay.NodeID[str]
    name: str
    description: str | None
    products: list[str]
    update_existing_buying_groups: bool = strawberry.field(
        description="When on, the daily maintenance job re-applies the template's rules."
    )
    created_at: datetime
    updated_at: datetime
    row: strawberry.Private[interest_store.SolutionInterest]

    @classmethod
    def from_row(cls, row: interest_store.SolutionInterest) -> SolutionInterest:
        return cls(
            id=str(row.id), name=row.name, description=row.description,
            products=list(row.products),
            update_existing_buying_groups=row.update_existing_buying_groups,
            created_at=row.created_at, updated_at=row.updated_at, row=row,
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        return convert_all(await load_nodes(info.context.loaders.solution_interest, node_ids),
                           cls.from_row)

    @strawberry.field(description="The stages its buying groups move through, if any.")
    async def stage_model(
        self, info: strawberry.Info
    ) -> StageModel | None:
        if self.row.stage_model_id is None:
            return None
        row = await info.context.loaders.stage_model.load(self.row.stage_model_id)
        return StageModel.from_row(row) if row else None

    @strawberry.field(description="The LIVE role template; fixed when the interest is created.")
    async def role_template(self, info: strawberry.Info) -> RoleTemplate:
        row = await info.context.loaders.role_template.load(self.row.role_template_id)
        assert row is not None  # a template in use cannot be deleted
        return RoleTemplate.from_row(row)


@strawberry.input
class SolutionInterestFilter:
    search: str | None = strawberry.field(
        default=None, description="Part of the name, description or a product."
    )


async def solution_interests(
    info: strawberry.Info, filter: SolutionInterestFilter | None = None, first: int = 20,
    after: str | None = None,
) -> Connection[SolutionInterest]:
    context = info.context
    limit = check_first(first, context.settings.max_page_size)
    cursor = decode_cursor(after, name_key)
    tenant_id = context.tenant_principal.tenant_id
    async with context.read() as conn:
        page = await interest_store.list_interests(
            conn, tenant_id, search=filter.search if filter else None, limit=limit, after=cursor
        )
    return to_connection(page, SolutionInterest.from_row, lambda s: (s.name, s.id),
                         has_previous=cursor is not None)


@strawberry.input
class CreateSolutionInterestInput:
    name: str
    role_template_id: relay.GlobalID
    description: str | None = None
    products: list[str] = strawberry.field(default_factory=list)
    stage_model_id: relay.GlobalID | None = None
    update_existing_buying_groups: bool = False


@strawberry.input
class UpdateSolutionInterestInput:
    id: relay.GlobalID
    name: str | None = UNSET
    description: str | None = UNSET
    products: list[str] | None = UNSET
    stage_model_id: relay.GlobalID | None = UNSET
    update_existing_buying_groups: bool | None = UNSET
    role_template_id: relay.GlobalID | None = strawberry.field(
        default=UNSET, description="Cannot change after creation; given only to be refused."
    )


@strawberry.input
class DeleteSolutionInterestInput:
    id: relay.GlobalID


@strawberry.type
class SolutionInterestPayload:
    solution_interest: SolutionInterest | None
    user_errors: list[UserError]
    restaging: Annotated[BuyingGroupJob, strawberry.lazy("service.api.jobs")] | None = (
        strawberry.field(default=None, description=(
            "When the stage model changed: the job that puts the existing groups in its entry "
            "stage (then moves them by its entry rules), or out of any stage when the model "
            "was taken away; their stage history stays.")))


@strawberry.type
class DeleteSolutionInterestPayload:
    deleted_solution_interest_id: relay.GlobalID | None
    user_errors: list[UserError]


def _id(gid: relay.GlobalID | None, type_name: str) -> UUID | None:
    """An id of another type reads as one nothing has (NOT_FOUND)."""
    if gid is None:
        return None
    return parse_uuid(gid.node_id) if gid.type_name == type_name else interests.NO_ID


def _payload(change: Change[interest_store.SolutionInterest]) -> SolutionInterestPayload:
    if change.value is None:
        return SolutionInterestPayload(solution_interest=None,
                                       user_errors=from_problems(change.problems, "input"))
    return SolutionInterestPayload(solution_interest=SolutionInterest.from_row(change.value),
                                   user_errors=[])


@strawberry.type
class SolutionInterestMutations:
    @strawberry.mutation(permission_classes=[RequireWrite])
    async def create_solution_interest(
        self, info: strawberry.Info, input: CreateSolutionInterestInput
    ) -> SolutionInterestPayload:
        async with info.context.work(info) as work:
            return _payload(await interests.create_interest(
                work, name=input.name, description=input.description, products=input.products,
                role_template_id=_id(input.role_template_id, "RoleTemplate") or interests.NO_ID,
                stage_model_id=_id(input.stage_model_id, "StageModel"),
                update_existing=input.update_existing_buying_groups))

    @strawberry.mutation(permission_classes=[RequireWrite])
    async def update_solution_interest(
        self, info: strawberry.Info, input: UpdateSolutionInterestInput
    ) -> SolutionInterestPayload:
        interest_id = decode_id(input.id, "SolutionInterest", ["input", "id"])
        given: dict[str, Any] = {name: value for name, value in (
            ("name", input.name), ("description", input.description),
            ("products", input.products),
            ("updateExistingBuyingGroups", input.update_existing_buying_groups)
        ) if value is not UNSET}
        if input.role_template_id is not UNSET:
            given["roleTemplateId"] = _id(input.role_template_id, "RoleTemplate")
        if input.stage_model_id is not UNSET:
            given["stageModelId"] = _id(input.stage_model_id, "StageModel")
        async with info.context.work(info) as work:
            change = await interests.update_interest(work, interest_id, given)
        if change.value is None:
            return SolutionInterestPayload(solution_interest=None,
                                           user_errors=from_problems(change.problems, "input"))
        job = change.value.restaging
        return SolutionInterestPayload(
            solution_interest=SolutionInterest.from_row(change.value.interest), user_errors=[],
            restaging=graph_type(info, "BuyingGroupJob").from_row(
                job, info.context.settings.job_max_attempts) if job else None)

    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="Refused while buying groups or jobs use it.")
    async def delete_solution_interest(
        self, info: strawberry.Info, input: DeleteSolutionInterestInput
    ) -> DeleteSolutionInterestPayload:
        interest_id = decode_id(input.id, "SolutionInterest", ["input", "id"])
        async with info.context.work(info) as work:
            change = await interests.delete_interest(work, interest_id)
        if change.value is None:
            return DeleteSolutionInterestPayload(
                deleted_solution_interest_id=None,
                user_errors=from_problems(change.problems, "input"))
        return DeleteSolutionInterestPayload(deleted_solution_interest_id=input.id,
                                             user_errors=[])
