"""Activity types and scoring models through GraphQL (docs/guide.md)."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

import strawberry
from strawberry import UNSET, relay

from service.api.errors import UserError, from_problems
from service.api.jobs import BuyingGroupJob, job_of
from service.api.nodes import convert_all, decode_id, load_nodes, parse_uuid
from service.api.pagination import Connection, connection_from_list
from service.api.permissions import RequireWrite
from service.domain.scoring import activity_factor
from service.store import activity_types as type_store
from service.store import scoring_models as model_store
from service.usecases import scoring
from service.usecases.change import Change
from service.usecases.jobs import Started


@strawberry.type(description="A kind of activity from the activity log, with its scoring.")
class ActivityType(relay.Node):
    id: relay.NodeID[str]
    name: str
    engagement_type: str
    max_daily_frequency: int = strawberry.field(
        description="Daily count per person above which activities of this type stop counting."
    )
    weight: int = strawberry.field(description="0 to 100; 0 means the type is not scored.")
    source_type_id: int | None = strawberry.field(
        description="The activity source's id for this type, once mapped by name."
    )
    source_type_name: str = strawberry.field(
        description="The source's name for this type, which the sync maps it by.")

    @classmethod
    def from_row(cls, row: type_store.ActivityType) -> ActivityType:
        return cls(id=str(row.id), name=row.name, engagement_type=row.engagement_type,
                   max_daily_frequency=row.max_daily_frequency, weight=row.weight,
                   source_type_id=row.source_type_id,
                   source_type_name=row.source_type_name or row.name)

    @classmethod
    async def resolve_nodes(
        cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        return convert_all(await load_nodes(info.context.loaders.activity_type, node_ids),
                           cls.from_row)


@strawberry.enum
class ScoringMode(enum.Enum):
    COUNT = "COUNT"
    WEIGHTED = "WEIGHTED"


@strawberry.enum
class ScoringModelStatus(enum.Enum):
    DRAFT = "DRAFT"
    ACTIVE = "ACTIVE"
    ARCHIVED = "ARCHIVED"


@strawberry.type
class ScoringWeight:
    activity_type: ActivityType
    weight: int
    factor: float = strawberry.field(description="Points one activity of this type earns.")
    is_override: bool = strawberry.field(
        description="True when the model sets this weight; false when it uses the catalogue's."
    )


@strawberry.type(description="How activity turns into engagement points; one is ACTIVE.")
class ScoringModel(relay.Node):
    id: relay.NodeID[str]
    name: str
    version: int
    status: ScoringModelStatus
    mode: ScoringMode
    window_days: int
    activated_at: datetime | None
    created_at: datetime
    updated_at: datetime
    row: strawberry.Private[model_store.ScoringModel]

    @classmethod
    def from_row(cls, row: model_store.ScoringModel) -> ScoringModel:
        return cls(id=str(row.id), name=row.name, version=row.version,
                   status=ScoringModelStatus(row.status), mode=ScoringMode(row.mode),
                   window_days=row.window_days, activated_at=row.activated_at,
                   created_at=row.created_at, updated_at=row.updated_at, row=row)

    @classmethod
    async def resolve_nodes(
        cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        return convert_all(await load_nodes(info.context.loaders.scoring_model, node_ids),
                           cls.from_row)

    @strawberry.field(description="The weight and factor of every activity type.")
    async def weights(self, info: strawberry.Info) -> list[ScoringWeight]:
        types = await _all_types(info)
        result = []
        for t in types:
            weight = self.row.weight_of(t.id, t.weight)
            result.append(ScoringWeight(
                activity_type=ActivityType.from_row(t), weight=weight,
                factor=float(activity_factor(self.row.mode, weight)),
                is_override=str(t.id) in self.row.weights,
            ))
        return result


async def _all_types(info: strawberry.Info) -> list[type_store.ActivityType]:
    tenant_id = info.context.tenant_principal.tenant_id
    async with info.context.read() as conn:
        return await type_store.list_activity_types(conn, tenant_id)


async def activity_types(info: strawberry.Info, first: int = 50, after: str | None = None
                         ) -> Connection[ActivityType]:
    return connection_from_list(await _all_types(info), ActivityType.from_row, lambda t: t.id,
                                first=first, after=after,
                                maximum=info.context.settings.max_page_size)


async def scoring_models(info: strawberry.Info, first: int = 20, after: str | None = None
                         ) -> Connection[ScoringModel]:
    tenant_id = info.context.tenant_principal.tenant_id
    async with info.context.read() as conn:
        rows = await model_store.list_models(conn, tenant_id)
    return connection_from_list(rows, ScoringModel.from_row, lambda m: m.id, first=first,
                                after=after, maximum=info.context.settings.max_page_size)


@strawberry.input
class CreateActivityTypeInput:
    name: str = strawberry.field(description="Unique in the catalogue (case-insensitive).")
    source_type_name: str | None = strawberry.field(
        default=None, description="The activity source's name for the type (as its "
        "activity-type list says it); left out: the same as name.")
    weight: int = strawberry.field(description="0 to 100; 0 stores the activity unscored.")
    max_daily_frequency: int = strawberry.field(
        default=20, description="Daily count per person above which activities stop counting.")


@strawberry.input
class UpdateActivityTypeInput:
    id: relay.GlobalID
    weight: int | None = None
    max_daily_frequency: int | None = None


RESCORING = ("The rescoring of every group this change started (scores follow the catalogue "
             "within seconds, as the breakdown does at once); null when nothing changed.")


@strawberry.type
class ActivityTypePayload:
    activity_type: ActivityType | None
    rescoring: BuyingGroupJob | None = strawberry.field(default=None, description=RESCORING)
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class ScoringWeightInput:
    activity_type_id: relay.GlobalID
    weight: int


@strawberry.input
class CreateScoringModelInput:
    name: str
    mode: ScoringMode = ScoringMode.COUNT
    window_days: int = 30
    weights: list[ScoringWeightInput] = strawberry.field(
        default_factory=list, description="Overrides of the catalogue weights."
    )


@strawberry.input
class UpdateScoringModelInput:
    id: relay.GlobalID
    name: str | None = UNSET
    mode: ScoringMode | None = UNSET
    window_days: int | None = UNSET
    weights: list[ScoringWeightInput] | None = strawberry.field(
        default=UNSET, description="Replaces all overrides."
    )


@strawberry.input
class ActivateScoringModelInput:
    id: relay.GlobalID


@strawberry.type
class ScoringModelPayload:
    scoring_model: ScoringModel | None
    rescoring: BuyingGroupJob | None = strawberry.field(default=None, description=RESCORING)
    user_errors: list[UserError] = strawberry.field(default_factory=list)


def _weights(weights: list[ScoringWeightInput]) -> list[tuple[UUID | None, int]]:
    """An id of another type reads as no type (NOT_FOUND), as an unknown one does."""
    return [(parse_uuid(w.activity_type_id.node_id)
             if w.activity_type_id.type_name == "ActivityType" else None, w.weight)
            for w in weights]


def _rescoring(info: strawberry.Info, started: Started | None) -> BuyingGroupJob | None:
    return job_of(info, started.job) if started else None


def _model_payload(change: Change[Any]) -> ScoringModelPayload:
    if change.value is None:
        return ScoringModelPayload(scoring_model=None,
                                   user_errors=from_problems(change.problems, "input"))
    return ScoringModelPayload(scoring_model=ScoringModel.from_row(change.value), user_errors=[])


@strawberry.type
class ScoringMutations:
    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="Score a type of the activity source that the catalogue "
                         "does not know yet. The next sync (every few minutes, or "
                         "syncActivities) maps it by sourceTypeName and rescores every group "
                         "with the activity already stored.")
    async def create_activity_type(
        self, info: strawberry.Info, input: CreateActivityTypeInput
    ) -> ActivityTypePayload:
        async with info.context.work(info) as work:
            change = await scoring.create_activity_type(
                work, name=input.name, source_type_name=input.source_type_name,
                weight=input.weight, max_daily_frequency=input.max_daily_frequency)
        if change.value is None:
            return ActivityTypePayload(activity_type=None,
                                       user_errors=from_problems(change.problems, "input"))
        return ActivityTypePayload(activity_type=ActivityType.from_row(change.value),
                                   user_errors=[])

    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="Change a type's catalogue weight or daily maximum.")
    async def update_activity_type(
        self, info: strawberry.Info, input: UpdateActivityTypeInput
    ) -> ActivityTypePayload:
        type_id = decode_id(input.id, "ActivityType", ["input", "id"])
        async with info.context.work(info) as work:
            change = await scoring.update_activity_type(
                work, type_id, weight=input.weight, max_daily_frequency=input.max_daily_frequency)
        if change.value is None:
            return ActivityTypePayload(activity_type=None,
                                       user_errors=from_problems(change.problems, "input"))
        return ActivityTypePayload(activity_type=ActivityType.from_row(change.value.value),
                                   rescoring=_rescoring(info, change.value.rescoring),
                                   user_errors=[])

    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="A new DRAFT model, numbered after the latest version.")
    async def create_scoring_model(
        self, info: strawberry.Info, input: CreateScoringModelInput
    ) -> ScoringModelPayload:
        async with info.context.work(info) as work:
            change = await scoring.create_model(
                work, name=input.name, mode=input.mode.value, window_days=input.window_days,
                weights=_weights(input.weights))
        return _model_payload(change)

    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="Change a DRAFT model; ACTIVE and ARCHIVED ones are fixed.")
    async def update_scoring_model(
        self, info: strawberry.Info, input: UpdateScoringModelInput
    ) -> ScoringModelPayload:
        model_id = decode_id(input.id, "ScoringModel", ["input", "id"])
        async with info.context.work(info) as work:
            change = await scoring.update_model(
                work, model_id,
                name=None if input.name is UNSET else (input.name or ""),
                mode=None if input.mode is UNSET or input.mode is None else input.mode.value,
                window_days=None if input.window_days is UNSET else input.window_days,
                weights=None if input.weights is UNSET else _weights(input.weights or []))
        return _model_payload(change)

    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="Make the model ACTIVE; the previous ACTIVE one is archived.")
    async def activate_scoring_model(
        self, info: strawberry.Info, input: ActivateScoringModelInput
    ) -> ScoringModelPayload:
        model_id = decode_id(input.id, "ScoringModel", ["input", "id"])
        async with info.context.work(info) as work:
            change = await scoring.activate_model(work, model_id)
        if change.value is None:
            return _model_payload(change)
        return ScoringModelPayload(scoring_model=ScoringModel.from_row(change.value.value),
                                   rescoring=_rescoring(info, change.value.rescoring),
                                   user_errors=[])
