"""Stage models and buying-group stages through GraphQL."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

import strawberry
from strawberry import UNSET, relay
from strawberry.scalars import JSON

from service.api.errors import ClientError, ErrorCode, UserError, from_problems
from service.api.nodes import convert_all, decode_id, load_nodes
from service.api.pagination import Connection, connection_from_list
from service.api.permissions import RequireWrite
from service.api.stage_rules import StageEntryRule, StageEntryRuleInput, rule_of_input, typed_rule
from service.domain.stages import StageSpec
from service.store import stages as stage_store
from service.usecases import stage_models as model_cases
from service.usecases.change import Change


@strawberry.enum
class StageKind(enum.Enum):
    ENTRY = "ENTRY"
    INTERMEDIATE = "INTERMEDIATE"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"


@strawberry.enum
class StageModelStatus(enum.Enum):
    DRAFT = "DRAFT"
    LIVE = "LIVE"


@strawberry.type(description="A stage a buying group can be in.")
class Stage(relay.Node):
    id: relay.NodeID[str]
    key: str
    name: str
    description: str | None
    kind: StageKind
    transitions_to: list[str] = strawberry.field(
        description="Keys of the stages a group may move to from here, as StageInput takes "
        "them: a model read back can be sent back. nextStages has the stages themselves.")
    entry_rule: JSON | None = strawberry.field(
        description="{match, conditions: [{metric, operator, value, roleId}]}: a group moves "
        "here by itself when this holds, from a stage that allows the move. roleId (for "
        "ROLE_MEMBERS) is a Role's id.", deprecation_reason="Use entersWhen, the same rule typed.")
    row: strawberry.Private[stage_store.Stage]

    @strawberry.field(description="When a group moves here by itself, from a stage that "
                      "allows the move (null: only when moved).")
    def enters_when(self) -> StageEntryRule | None:
        return typed_rule(self.row.entry_rule)

    @classmethod
    def from_row(cls, row: stage_store.Stage) -> Stage:
        return cls(id=str(row.id), key=row.key, name=row.name, description=row.description,
                   kind=StageKind(row.kind), transitions_to=list(row.transitions_to),
                   entry_rule=JSON(_map_role_ids(row.entry_rule, _role_global_id))
                   if row.entry_rule else None, row=row)

    @classmethod
    async def resolve_nodes(
        cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        stages = await load_nodes(info.context.loaders.stage, node_ids)
        return convert_all(stages, cls.from_row)

    @strawberry.field(deprecation_reason="Use transitionsTo (the same keys).")
    def transitions_to_keys(self) -> list[str]:
        return self.transitions_to

    @strawberry.field(description="The stages a group may move to from here.")
    async def next_stages(self, info: strawberry.Info) -> list[Stage]:
        model = await info.context.loaders.stage_model.load(self.row.stage_model_id)
        assert model is not None
        by_key = model.by_key()
        return [Stage.from_row(by_key[k]) for k in self.row.transitions_to if k in by_key]


async def stage_by_id(info: strawberry.Info, stage_id: UUID | None) -> Stage | None:
    if stage_id is None:
        return None
    row = await info.context.loaders.stage.load(stage_id)
    return Stage.from_row(row) if row else None


@strawberry.type(description="The stages a buying group moves through, and the allowed moves.")
class StageModel(relay.Node):
    id: relay.NodeID[str]
    name: str
    description: str | None
    status: StageModelStatus
    stages: list[Stage]
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: stage_store.StageModel) -> StageModel:
        return cls(id=str(row.id), name=row.name, description=row.description,
                   status=StageModelStatus(row.status),
                   stages=[Stage.from_row(s) for s in row.stages], published_at=row.published_at,
                   created_at=row.created_at, updated_at=row.updated_at)

    @classmethod
    async def resolve_nodes(
        cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        return convert_all(await load_nodes(info.context.loaders.stage_model, node_ids),
                           cls.from_row)


@strawberry.input
class StageModelFilter:
    search: str | None = None
    status: StageModelStatus | None = None


async def stage_models(info: strawberry.Info, filter: StageModelFilter | None = None,
                       first: int = 20, after: str | None = None) -> Connection[StageModel]:
    tenant_id = info.context.tenant_principal.tenant_id
    async with info.context.read() as conn:
        rows = await stage_store.list_models(
            conn, tenant_id, search=filter.search if filter else None,
            status=filter.status.value if filter and filter.status else None)
    return connection_from_list(rows, StageModel.from_row, lambda m: m.id, first=first,
                                after=after, maximum=info.context.settings.max_page_size)


@strawberry.input
class StageInput:
    key: str = strawberry.field(description="Stable id within the model (letters, digits, -_).")
    name: str
    kind: StageKind
    description: str | None = None
    transitions_to: list[str] = strawberry.field(default_factory=list,
                                                 description="Keys of the next stages.")
    enters_when: StageEntryRuleInput | None = strawberry.field(default=None, description=(
        "When a group moves here by itself, from a stage that allows the move."))
    entry_rule: JSON | None = strawberry.field(
        default=None, deprecation_reason="Use entersWhen, the same rule typed.")


@strawberry.input
class CreateStageModelInput:
    name: str
    description: str | None = None
    stages: list[StageInput] = strawberry.field(default_factory=list)


@strawberry.input
class UpdateStageModelInput:
    id: relay.GlobalID
    name: str | None = UNSET
    description: str | None = UNSET
    stages: list[StageInput] | None = strawberry.field(
        default=UNSET, description="Replaces every stage when given.")


@strawberry.input
class StageModelIdInput:
    id: relay.GlobalID


@strawberry.type
class StageModelPayload:
    stage_model: StageModel | None
    user_errors: list[UserError]


@strawberry.type
class DeleteStageModelPayload:
    deleted_stage_model_id: relay.GlobalID | None
    user_errors: list[UserError]


def specs(stages: list[StageInput], path: list[str]) -> list[StageSpec]:
    made = []
    for i, s in enumerate(stages):
        if s.enters_when is not None and s.entry_rule is not None:
            raise ClientError("Give a stage's rule as entersWhen or entryRule, not both.",
                              ErrorCode.INVALID_VALUE, field=[*path, str(i), "entersWhen"])
        rule, rule_path = (rule_of_input(s.enters_when), "entersWhen") \
            if s.enters_when is not None else \
            (_map_role_ids(s.entry_rule, _stored_role_id), "entryRule")
        made.append(StageSpec(s.key, s.name, s.kind.value, tuple(s.transitions_to),
                              s.description, rule, rule_path))
    return made


def _map_role_ids(rule: Any, convert: Any) -> Any:
    """The rule with each condition's roleId converted (global id <-> stored UUID); anything
    not shaped like a rule is left for rule_problems to report."""
    if not isinstance(rule, dict) or not isinstance(rule.get("conditions"), list):
        return rule
    return {**rule, "conditions": [
        {**c, "roleId": convert(c["roleId"])} if isinstance(c, dict) and "roleId" in c else c
        for c in rule["conditions"]]}


def _stored_role_id(value: Any) -> Any:
    """A Role's global id as the stored UUID text; other values as they are."""
    if isinstance(value, str):
        try:
            gid = relay.GlobalID.from_id(value)
        except ValueError:
            return value
        if gid.type_name == "Role":
            return gid.node_id
    return value


def _role_global_id(value: Any) -> Any:
    return str(relay.GlobalID("Role", value)) if isinstance(value, str) else value


def _payload(change: Change[stage_store.StageModel], *prefix: str) -> StageModelPayload:
    if change.value is None:
        return StageModelPayload(stage_model=None,
                                 user_errors=from_problems(change.problems, *prefix))
    return StageModelPayload(stage_model=StageModel.from_row(change.value), user_errors=[])


@strawberry.type
class StageMutations:
    @strawberry.mutation(permission_classes=[RequireWrite])
    async def create_stage_model(self, info: strawberry.Info, input: CreateStageModelInput
                                 ) -> StageModelPayload:
        stages = specs(input.stages, ["input", "stages"])
        async with info.context.work(info) as work:
            return _payload(await model_cases.create_model(
                work, input.name, input.description, stages), "input")

    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="Change a DRAFT stage model; LIVE ones are immutable.")
    async def update_stage_model(self, info: strawberry.Info, input: UpdateStageModelInput
                                 ) -> StageModelPayload:
        model_id = decode_id(input.id, "StageModel", ["input", "id"])
        stages = specs(input.stages, ["input", "stages"]) \
            if input.stages not in (UNSET, None) else None
        async with info.context.work(info) as work:
            return _payload(await model_cases.update_model(
                work, model_id, name=None if input.name is UNSET else input.name,
                description=None if input.description is UNSET else input.description,
                set_description=input.description is not UNSET, stages=stages), "input")

    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="Validate the stage graph and make the model LIVE.")
    async def publish_stage_model(self, info: strawberry.Info, input: StageModelIdInput
                                  ) -> StageModelPayload:
        model_id = decode_id(input.id, "StageModel", ["input", "id"])
        async with info.context.work(info) as work:
            change = await model_cases.publish_model(work, model_id)
        # The graph's problems point into the stored model's stages, not the input.
        graph = change.problems and change.problems[0].path[0] == "stages"
        return _payload(change, *(() if graph else ("input",)))

    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="Delete a DRAFT model, or a LIVE one no solution interest "
                         "uses.")
    async def delete_stage_model(self, info: strawberry.Info, input: StageModelIdInput
                                 ) -> DeleteStageModelPayload:
        model_id = decode_id(input.id, "StageModel", ["input", "id"])
        async with info.context.work(info) as work:
            change = await model_cases.delete_model(work, model_id)
        if change.value is None:
            return DeleteStageModelPayload(deleted_stage_model_id=None,
                                           user_errors=from_problems(change.problems, "input"))
        return DeleteStageModelPayload(deleted_stage_model_id=input.id, user_errors=[])


@strawberry.enum(description="Who moved a group: a user, an integration, an entry rule, "
                 "the system (the entry stage of a new group), or an ADMIN's OVERRIDE of the "
                 "model's transitions.")
class StageChangedBy(enum.Enum):
    USER = "USER"
    INTEGRATION = "INTEGRATION"
    RULE = "RULE"
    SYSTEM = "SYSTEM"
    OVERRIDE = "OVERRIDE"


@strawberry.type(name="StageChange")
class StageChangeType:
    by: StageChangedBy
    at: datetime
    from_stage_id: strawberry.Private[UUID | None]
    to_stage_id: strawberry.Private[UUID]
    actor: str | None = strawberry.field(description=(
        "Who made the move: `api_key.<id>`, `job.<id>`, `cli`; null before actors were "
        "recorded."))

    @strawberry.field(name="from")
    async def from_(self, info: strawberry.Info) -> Stage | None:
        return await stage_by_id(info, self.from_stage_id)

    @strawberry.field
    async def to(self, info: strawberry.Info) -> Stage | None:
        return await stage_by_id(info, self.to_stage_id)
