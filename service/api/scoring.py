"""Activity types and scoring models through GraphQL (docs/guide.md)."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

import strawberry
from strawberry import UNSET, relay

from service.api.errors import ErrorCode, UserError, failed, user_error
from service.api.jobs import BuyingGroupJob, handed_over
from service.api.nodes import convert_all, decode_id, load_nodes, parse_uuid
from service.api.pagination import Connection, connection_from_list
from service.api.permissions import RequireWrite
from service.api.roles import name_problems
from service.domain.scoring import activity_factor
from service.infra.db import Connection as Db
from service.store import activity_types as type_store
from service.store import jobs as job_store
from service.store import scoring_models as model_store
from service.store.jobs import Job, JobKind

MAX_WINDOW_DAYS = 365
# One rescoring at a time after catalogue changes (a sync's or a tenant's is another).
CATALOGUE_CHANGED = "catalogue"


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


async def record_rescoring(conn: Db, info: strawberry.Info) -> tuple[Job, bool]:
    """A change to how activity scores, in this transaction: rescore every group (one such job
    at a time), recorded with the change so neither commits without the other."""
    return await job_store.create_job_once(conn, info.context.tenant_principal.tenant_id,
                                           JobKind.REFRESH_SCORES, {},
                                           dedup_key=CATALOGUE_CHANGED)


def _weight_problem(weight: int, path: list[str]) -> list[UserError]:
    if not 0 <= weight <= 100:
        return [user_error(path, ErrorCode.INVALID_VALUE, "a weight is between 0 and 100")]
    return []


def _window_problem(days: int) -> list[UserError]:
    if not 1 <= days <= MAX_WINDOW_DAYS:
        return [user_error(["input", "windowDays"], ErrorCode.INVALID_VALUE,
                           f"the window is 1 to {MAX_WINDOW_DAYS} days")]
    return []


async def _weights(conn: Db, weights: list[ScoringWeightInput]
                   ) -> tuple[dict[str, int], list[UserError]]:
    ids = [parse_uuid(w.activity_type_id.node_id)
           if w.activity_type_id.type_name == "ActivityType" else None for w in weights]
    known = await type_store.activity_types_by_ids(conn, [i for i in ids if i is not None])
    result: dict[str, int] = {}
    errors: list[UserError] = []
    for i, (type_id, w) in enumerate(zip(ids, weights, strict=True)):
        path = ["input", "weights", str(i)]
        if type_id not in known:
            errors.append(user_error([*path, "activityTypeId"], ErrorCode.NOT_FOUND,
                                     "no such activity type"))
        elif str(type_id) in result:
            errors.append(user_error([*path, "activityTypeId"], ErrorCode.DUPLICATE,
                                     "this activity type already has a weight here"))
        errors += _weight_problem(w.weight, [*path, "weight"])
        if type_id is not None:
            result[str(type_id)] = w.weight
    return result, errors


async def _model(conn: Db, model_id: UUID) -> model_store.ScoringModel | None:
    return (await model_store.models_by_ids(conn, [model_id])).get(model_id)


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
        source_name = (input.source_type_name or "").strip() or None
        errors = (name_problems(input.name, ["input", "name"])
                  + name_problems(source_name, ["input", "sourceTypeName"])
                  + _weight_problem(input.weight, ["input", "weight"]))
        if input.max_daily_frequency < 0:
            errors.append(user_error(["input", "maxDailyFrequency"], ErrorCode.INVALID_VALUE,
                                     "the daily maximum cannot be negative"))
        if errors:
            return ActivityTypePayload(activity_type=None, user_errors=errors)
        async with info.context.write() as conn:
            try:
                row = await type_store.create_activity_type(
                    conn, info.context.tenant_principal.tenant_id, name=input.name.strip(),
                    source_type_name=source_name, weight=input.weight,
                    max_daily_frequency=input.max_daily_frequency)
            except type_store.NameTaken:
                return failed(ActivityTypePayload, ["input", "name"], ErrorCode.DUPLICATE,
                              "an activity type has this name, or already stands for this "
                              "source type")
        return ActivityTypePayload(activity_type=ActivityType.from_row(row), user_errors=[])

    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="Change a type's catalogue weight or daily maximum.")
    async def update_activity_type(
        self, info: strawberry.Info, input: UpdateActivityTypeInput
    ) -> ActivityTypePayload:
        type_id = decode_id(input.id, "ActivityType", ["input", "id"])
        errors = _weight_problem(input.weight, ["input", "weight"]) if input.weight is not None \
            else []
        if input.max_daily_frequency is not None and input.max_daily_frequency < 0:
            errors.append(user_error(["input", "maxDailyFrequency"], ErrorCode.INVALID_VALUE,
                                     "the daily maximum cannot be negative"))
        if errors:
            return ActivityTypePayload(activity_type=None, user_errors=errors)
        rescoring = None
        async with info.context.write() as conn:
            row = await type_store.update_activity_type(
                conn, type_id, weight=input.weight, max_daily_frequency=input.max_daily_frequency)
            if row is not None and (input.weight, input.max_daily_frequency) != (None, None):
                rescoring = await record_rescoring(conn, info)
        if row is None:
            return ActivityTypePayload(activity_type=None, user_errors=[
                user_error(["input", "id"], ErrorCode.NOT_FOUND, "no such activity type")])
        return ActivityTypePayload(
            activity_type=ActivityType.from_row(row),
            rescoring=await handed_over(info, *rescoring) if rescoring else None, user_errors=[])

    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="A new DRAFT model, numbered after the latest version.")
    async def create_scoring_model(
        self, info: strawberry.Info, input: CreateScoringModelInput
    ) -> ScoringModelPayload:
        errors = name_problems(input.name, ["input", "name"]) + _window_problem(input.window_days)
        tenant_id = info.context.tenant_principal.tenant_id
        async with info.context.write() as conn:
            weights, weight_errors = await _weights(conn, input.weights)
            errors += weight_errors
            if errors:
                return ScoringModelPayload(scoring_model=None, user_errors=errors)
            row = await model_store.create_model(
                conn, tenant_id, name=input.name.strip(), mode=input.mode.value,
                window_days=input.window_days, weights=weights)
        return ScoringModelPayload(scoring_model=ScoringModel.from_row(row), user_errors=[])

    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="Change a DRAFT model; ACTIVE and ARCHIVED ones are fixed.")
    async def update_scoring_model(
        self, info: strawberry.Info, input: UpdateScoringModelInput
    ) -> ScoringModelPayload:
        model_id = decode_id(input.id, "ScoringModel", ["input", "id"])
        errors: list[UserError] = []
        changes: dict[str, Any] = {}
        async with info.context.write() as conn:
            current = await _model(conn, model_id)
            if current is None:
                return failed(ScoringModelPayload, ["input", "id"], ErrorCode.NOT_FOUND,
                              "no such scoring model")
            if current.status != "DRAFT":
                return failed(ScoringModelPayload, ["input", "id"], ErrorCode.IMMUTABLE,
                               f"a {current.status} model cannot change; create a new version")
            if input.name is not UNSET:
                errors += name_problems(input.name or "", ["input", "name"])
                changes["name"] = (input.name or "").strip()
            if input.mode is not UNSET and input.mode is not None:
                changes["mode"] = input.mode.value
            if input.window_days is not UNSET and input.window_days is not None:
                errors += _window_problem(input.window_days)
                changes["window_days"] = input.window_days
            if input.weights is not UNSET:
                changes["weights"], weight_errors = await _weights(conn, input.weights or [])
                errors += weight_errors
            if errors:
                return ScoringModelPayload(scoring_model=None, user_errors=errors)
            row = await model_store.update_model(conn, model_id, changes)
        assert row is not None
        return ScoringModelPayload(scoring_model=ScoringModel.from_row(row), user_errors=[])

    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="Make the model ACTIVE; the previous ACTIVE one is archived.")
    async def activate_scoring_model(
        self, info: strawberry.Info, input: ActivateScoringModelInput
    ) -> ScoringModelPayload:
        model_id = decode_id(input.id, "ScoringModel", ["input", "id"])
        tenant_id = info.context.tenant_principal.tenant_id
        async with info.context.write() as conn:
            if await _model(conn, model_id) is None:
                return failed(ScoringModelPayload, ["input", "id"], ErrorCode.NOT_FOUND,
                              "no such scoring model")
            row = await model_store.activate_model(conn, tenant_id, model_id)
            job, new = await record_rescoring(conn, info)
        return ScoringModelPayload(scoring_model=ScoringModel.from_row(row),
                                   rescoring=await handed_over(info, job, new), user_errors=[])
