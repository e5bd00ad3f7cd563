"""Stage models: the stages a buying group moves through and the moves between them. A DRAFT
may change; publishing checks the graph and makes it LIVE and fixed."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from service.domain.lifecycle import draft_problem
from service.domain.names import name_problems
from service.domain.stages import StageSpec, publish_problems, shape_problems
from service.store import stages as stage_store
from service.store.stages import StageModel
from service.usecases.change import Change, applied, refused
from service.usecases.unit_of_work import UnitOfWork

WHAT = "stage model"


async def _draft(work: UnitOfWork, model_id: UUID, action: str) -> Change[StageModel]:
    model = await stage_store.lock_model(work.conn, model_id)
    if (problem := draft_problem(model, WHAT, action)) is not None:
        return Change(problems=[problem])
    assert model is not None
    return Change(model)


def _taken(name: str) -> Change[StageModel]:
    return refused("name", "DUPLICATE", f"a stage model named {name!r} exists")


async def create_model(work: UnitOfWork, name: str, description: str | None,
                       stages: Sequence[StageSpec]) -> Change[StageModel]:
    problems = name_problems(name) + [p.under("stages") for p in shape_problems(stages)]
    if problems:
        return applied(work, Change(problems=problems))
    try:
        return Change(await stage_store.create_model(work.conn, work.tenant_id, name.strip(),
                                                     description, list(stages)))
    except stage_store.NameTaken:
        return applied(work, _taken(name.strip()))


async def update_model(work: UnitOfWork, model_id: UUID, *, name: str | None,
                       description: str | None, set_description: bool,
                       stages: Sequence[StageSpec] | None) -> Change[StageModel]:
    """Change a DRAFT (None: keep); `set_description`: replace the description."""
    problems = name_problems(name)
    if stages is not None:
        problems += [p.under("stages") for p in shape_problems(stages)]
    draft = await _draft(work, model_id, "edited")
    if draft.value is None:
        return applied(work, draft)
    if problems:
        return applied(work, Change(problems=problems))
    try:
        return Change(await stage_store.update_model(
            work.conn, draft.value, name.strip() if name else None, description,
            set_description, list(stages) if stages is not None else None))
    except stage_store.NameTaken:
        return applied(work, _taken(name or ""))


async def publish_model(work: UnitOfWork, model_id: UUID) -> Change[StageModel]:
    """Check the stage graph (one entry, one success stage, a way out of every stage, …) and
    make the model LIVE."""
    draft = await _draft(work, model_id, "published again")
    if draft.value is None:
        return applied(work, draft)
    if problems := publish_problems([s.spec() for s in draft.value.stages]):
        return applied(work, Change(problems=[p.under("stages") for p in problems]))
    return Change(await stage_store.publish_model(work.conn, model_id))


async def delete_model(work: UnitOfWork, model_id: UUID) -> Change[UUID]:
    """Delete a DRAFT model, or a LIVE one no solution interest uses."""
    if not await stage_store.models_by_ids(work.conn, [model_id]):
        return applied(work, refused("id", "NOT_FOUND", "no such stage model"))
    try:
        await stage_store.delete_model(work.conn, model_id)
    except stage_store.InUse:
        return applied(work, refused("id", "IN_USE",
                                     "a solution interest uses this stage model"))
    return Change(model_id)
