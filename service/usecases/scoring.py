"""The activity-type catalogue and the scoring models: how activity counts. A change to how it
counts (a weight, a daily maximum, another active model) starts a rescoring of every group in
the same unit of work, so neither commits without the other."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from uuid import UUID

from service.domain.names import name_problems
from service.domain.problems import Problem
from service.store import activity_types as type_store
from service.store import scoring_models as model_store
from service.usecases.change import Change, applied, refused
from service.usecases.jobs import Started, rescore_after_catalogue_change
from service.usecases.unit_of_work import UnitOfWork

MAX_WINDOW_DAYS = 365
T = TypeVar("T")


@dataclass(frozen=True)
class Rescored(Generic[T]):
    """What changed, and the rescoring it started (None when nothing about scoring did)."""

    value: T
    rescoring: Started | None = None


def _weight_problems(weight: int, path: Sequence[str | int]) -> list[Problem]:
    if not 0 <= weight <= 100:
        return [Problem(tuple(path), "INVALID_VALUE", "a weight is between 0 and 100")]
    return []


def _daily_maximum_problems(maximum: int | None) -> list[Problem]:
    if maximum is not None and maximum < 0:
        return [Problem(("maxDailyFrequency",), "INVALID_VALUE",
                        "the daily maximum cannot be negative")]
    return []


def _window_problems(days: int) -> list[Problem]:
    if not 1 <= days <= MAX_WINDOW_DAYS:
        return [Problem(("windowDays",), "INVALID_VALUE",
                        f"the window is 1 to {MAX_WINDOW_DAYS} days")]
    return []


async def create_activity_type(work: UnitOfWork, *, name: str, source_type_name: str | None,
                               weight: int, max_daily_frequency: int
                               ) -> Change[type_store.ActivityType]:
    """A type of the activity source the catalogue does not know yet; the next sync maps it
    by `source_type_name`."""
    source_name = (source_type_name or "").strip() or None
    problems = (name_problems(name) + name_problems(source_name, ("sourceTypeName",))
                + _weight_problems(weight, ("weight",))
                + _daily_maximum_problems(max_daily_frequency))
    if problems:
        return applied(work, Change(problems=problems))
    try:
        row = await type_store.create_activity_type(
            work.conn, work.tenant_id, name=name.strip(), source_type_name=source_name,
            weight=weight, max_daily_frequency=max_daily_frequency)
    except type_store.NameTaken:
        return applied(work, refused("name", "DUPLICATE",
                                     "an activity type has this name, or already stands for "
                                     "this source type"))
    return Change(row)


async def update_activity_type(work: UnitOfWork, type_id: UUID, *, weight: int | None,
                               max_daily_frequency: int | None
                               ) -> Change[Rescored[type_store.ActivityType]]:
    """A type's weight or daily maximum; either change rescores every group."""
    problems = (_weight_problems(weight, ("weight",)) if weight is not None else []) \
        + _daily_maximum_problems(max_daily_frequency)
    if problems:
        return applied(work, Change(problems=problems))
    row = await type_store.update_activity_type(work.conn, type_id, weight=weight,
                                                max_daily_frequency=max_daily_frequency)
    if row is None:
        return applied(work, refused("id", "NOT_FOUND", "no such activity type"))
    scored = (weight, max_daily_frequency) != (None, None)
    return Change(Rescored(row, await rescore_after_catalogue_change(work) if scored else None))


async def _weights(work: UnitOfWork, weights: Sequence[tuple[UUID | None, int]]
                   ) -> tuple[dict[str, int], list[Problem]]:
    """Per-type weights of a model; a None type is an id of another kind (NOT_FOUND)."""
    known = await type_store.activity_types_by_ids(
        work.conn, [type_id for type_id, _ in weights if type_id is not None])
    result: dict[str, int] = {}
    problems: list[Problem] = []
    for i, (type_id, weight) in enumerate(weights):
        path = ("weights", i)
        if type_id not in known:
            problems.append(Problem((*path, "activityTypeId"), "NOT_FOUND",
                                    "no such activity type"))
        elif str(type_id) in result:
            problems.append(Problem((*path, "activityTypeId"), "DUPLICATE",
                                    "this activity type already has a weight here"))
        problems += _weight_problems(weight, (*path, "weight"))
        if type_id is not None:
            result[str(type_id)] = weight
    return result, problems


async def create_model(work: UnitOfWork, *, name: str, mode: str, window_days: int,
                       weights: Sequence[tuple[UUID | None, int]]
                       ) -> Change[model_store.ScoringModel]:
    """A new DRAFT model, numbered after the latest version."""
    problems = name_problems(name) + _window_problems(window_days)
    by_type, weight_problems = await _weights(work, weights)
    if problems + weight_problems:
        return applied(work, Change(problems=problems + weight_problems))
    return Change(await model_store.create_model(
        work.conn, work.tenant_id, name=name.strip(), mode=mode, window_days=window_days,
        weights=by_type))


async def _model(work: UnitOfWork, model_id: UUID) -> model_store.ScoringModel | None:
    return (await model_store.models_by_ids(work.conn, [model_id])).get(model_id)


async def update_model(work: UnitOfWork, model_id: UUID, *, name: str | None = None,
                       mode: str | None = None, window_days: int | None = None,
                       weights: Sequence[tuple[UUID | None, int]] | None = None
                       ) -> Change[model_store.ScoringModel]:
    """Change a DRAFT model (None: leave as it is); ACTIVE and ARCHIVED ones are fixed."""
    current = await _model(work, model_id)
    if current is None:
        return applied(work, refused("id", "NOT_FOUND", "no such scoring model"))
    if current.status != "DRAFT":
        return applied(work, refused("id", "IMMUTABLE", f"a {current.status} model cannot "
                                     "change; create a new version"))
    problems: list[Problem] = []
    changes: dict[str, Any] = {}
    if name is not None:
        problems += name_problems(name)
        changes["name"] = name.strip()
    if mode is not None:
        changes["mode"] = mode
    if window_days is not None:
        problems += _window_problems(window_days)
        changes["window_days"] = window_days
    if weights is not None:
        changes["weights"], weight_problems = await _weights(work, weights)
        problems += weight_problems
    if problems:
        return applied(work, Change(problems=problems))
    row = await model_store.update_model(work.conn, model_id, changes)
    assert row is not None
    return Change(row)


async def activate_model(work: UnitOfWork, model_id: UUID
                         ) -> Change[Rescored[model_store.ScoringModel]]:
    """Make the model ACTIVE (the previous one is archived) and rescore every group."""
    if await _model(work, model_id) is None:
        return applied(work, refused("id", "NOT_FOUND", "no such scoring model"))
    row = await model_store.activate_model(work.conn, work.tenant_id, model_id)
    return Change(Rescored(row, await rescore_after_catalogue_change(work)))
