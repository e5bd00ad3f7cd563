"""Solution interests through GraphQL."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

import strawberry
from strawberry import UNSET, relay

from service.api.errors import ErrorCode, UserError, failed, user_error
from service.api.nodes import convert_all, decode_id, load_nodes, parse_uuid
from service.api.pagination import Connection, check_first, decode_cursor, to_connection
from service.api.permissions import RequireWrite
from service.api.role_templates import RoleTemplate, name_key
from service.api.roles import name_problems
from service.api.stages import StageModel
from service.infra.db import Connection as Db
from service.store import buying_groups as group_store
from service.store import role_templates as template_store
from service.store import solution_interests as interest_store
from service.store import stages as stage_store

MAX_PRODUCTS = 50


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


@strawberry.type
class DeleteSolutionInterestPayload:
    deleted_solution_interest_id: relay.GlobalID | None
    user_errors: list[UserError]


def _products(products: list[str]) -> tuple[list[str], list[UserError]]:
    cleaned: list[str] = []
    errors = []
    if len(products) > MAX_PRODUCTS:
        errors.append(user_error(["input", "products"], ErrorCode.TOO_MANY_ITEMS,
                                 f"at most {MAX_PRODUCTS} products"))
    for i, product in enumerate(products):
        text = product.strip()
        if not text:
            errors.append(user_error(["input", "products", str(i)], ErrorCode.REQUIRED,
                                     "a product name cannot be empty"))
        elif len(text) > 200:
            errors.append(user_error(["input", "products", str(i)], ErrorCode.TOO_LONG,
                                     "a product name is at most 200 characters"))
        elif text not in cleaned:
            cleaned.append(text)
    return cleaned, errors


async def _stage_model(conn: Db, gid: relay.GlobalID | None) -> tuple[UUID | None, list[UserError]]:
    if gid is None:
        return None, []
    model_id = parse_uuid(gid.node_id) if gid.type_name == "StageModel" else None
    model = (await stage_store.models_by_ids(conn, [model_id])).get(model_id) if model_id \
        else None
    if model is None:
        return None, [user_error(["input", "stageModelId"], ErrorCode.NOT_FOUND,
                                 "no such stage model")]
    if model.status != "LIVE":
        return None, [user_error(["input", "stageModelId"], ErrorCode.STAGE_MODEL_NOT_LIVE,
                                 f"publish {model.name!r} first")]
    return model.id, []


@strawberry.type
class SolutionInterestMutations:
    @strawberry.mutation(permission_classes=[RequireWrite])
    async def create_solution_interest(
        self, info: strawberry.Info, input: CreateSolutionInterestInput
    ) -> SolutionInterestPayload:
        errors = name_problems(input.name, ["input", "name"])
        products, product_errors = _products(input.products)
        errors += product_errors
        tenant_id = info.context.tenant_principal.tenant_id
        async with info.context.write() as conn:
            template_id = (parse_uuid(input.role_template_id.node_id)
                           if input.role_template_id.type_name == "RoleTemplate" else None)
            template = (await template_store.get_template(conn, template_id)
                        if template_id else None)
            if template is None:
                errors.append(user_error(["input", "roleTemplateId"], ErrorCode.NOT_FOUND,
                                         "no such role template"))
            elif template.status != "LIVE":
                errors.append(user_error(["input", "roleTemplateId"], ErrorCode.TEMPLATE_NOT_LIVE,
                                         f"publish {template.name!r} first: a solution interest "
                                         "needs a LIVE template"))
            stage_model_id, stage_errors = await _stage_model(conn, input.stage_model_id)
            errors += stage_errors
            if errors or template is None:
                return SolutionInterestPayload(solution_interest=None, user_errors=errors)
            try:
                row = await interest_store.create_interest(
                    conn, tenant_id, name=input.name.strip(), description=input.description,
                    products=products, role_template_id=template.id,
                    stage_model_id=stage_model_id,
                    update_existing=input.update_existing_buying_groups,
                )
            except interest_store.NameTaken:
                return failed(SolutionInterestPayload, ["input", "name"], ErrorCode.DUPLICATE,
                               f"a solution interest named {input.name.strip()!r} exists")
        return SolutionInterestPayload(solution_interest=SolutionInterest.from_row(row),
                                       user_errors=[])

    @strawberry.mutation(permission_classes=[RequireWrite])
    async def update_solution_interest(
        self, info: strawberry.Info, input: UpdateSolutionInterestInput
    ) -> SolutionInterestPayload:
        interest_id = decode_id(input.id, "SolutionInterest", ["input", "id"])
        changes: dict[str, Any] = {}
        errors: list[UserError] = []
        async with info.context.write() as conn:
            current = (await interest_store.interests_by_ids(conn, [interest_id])).get(interest_id)
            if current is None:
                return failed(SolutionInterestPayload, ["input", "id"], ErrorCode.NOT_FOUND,
                              "no such solution interest")
            if input.role_template_id is not UNSET and (
                input.role_template_id is None
                or parse_uuid(input.role_template_id.node_id) != current.role_template_id
            ):
                errors.append(user_error(["input", "roleTemplateId"], ErrorCode.IMMUTABLE,
                                         "the role template of a solution interest never "
                                         "changes; create a new solution interest instead"))
            if input.name is not UNSET:
                errors += name_problems(input.name or "", ["input", "name"])
                changes["name"] = (input.name or "").strip()
            if input.description is not UNSET:
                changes["description"] = input.description
            if input.products is not UNSET:
                changes["products"], product_errors = _products(input.products or [])
                errors += product_errors
            if input.update_existing_buying_groups is not UNSET:
                changes["update_existing_buying_groups"] = bool(
                    input.update_existing_buying_groups)
            if input.stage_model_id is not UNSET:
                changes["stage_model_id"], stage_errors = await _stage_model(
                    conn, input.stage_model_id)
                errors += stage_errors
            if errors:
                return SolutionInterestPayload(solution_interest=None, user_errors=errors)
            try:
                row = await interest_store.update_interest(conn, interest_id, changes)
            except interest_store.NameTaken:
                return failed(SolutionInterestPayload, ["input", "name"], ErrorCode.DUPLICATE,
                               f"a solution interest named {changes['name']!r} exists")
            if row is not None and "name" in changes:
                await group_store.follow_renames(conn, row.tenant_id, interest_ids=[row.id])
        assert row is not None
        return SolutionInterestPayload(solution_interest=SolutionInterest.from_row(row),
                                       user_errors=[])

    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="Refused while buying groups or jobs use it.")
    async def delete_solution_interest(
        self, info: strawberry.Info, input: DeleteSolutionInterestInput
    ) -> DeleteSolutionInterestPayload:
        interest_id = decode_id(input.id, "SolutionInterest", ["input", "id"])
        async with info.context.write() as conn:
            try:
                deleted = await interest_store.delete_interest(conn, interest_id)
            except interest_store.InUse:
                return DeleteSolutionInterestPayload(
                    deleted_solution_interest_id=None,
                    user_errors=[user_error(["input", "id"], ErrorCode.IN_USE,
                                            "buying groups or jobs use this solution interest; "
                                            "delete them first")])
        if not deleted:
            return DeleteSolutionInterestPayload(
                deleted_solution_interest_id=None,
                user_errors=[user_error(["input", "id"], ErrorCode.NOT_FOUND,
                                        "no such solution interest")])
        return DeleteSolutionInterestPayload(deleted_solution_interest_id=input.id,
                                             user_errors=[])
