"""Putting a solution interest's existing groups in the stages of the model it was given (the
entry stage, then the entry rules), or out of any stage when its model was taken away: the
APPLY_STAGE_MODEL job runs it a chunk of groups per unit of work."""

from __future__ import annotations

from uuid import UUID

from service.events.changes import Event, EventKind, stage_changes, stage_global_id
from service.store import solution_interests as interest_store
from service.store import stages as stage_store
from service.store.stages import Restaged
from service.usecases.unit_of_work import UnitOfWork


async def restage_chunk(work: UnitOfWork, interest_id: UUID, *, after: UUID | None,
                        limit: int) -> Restaged:
    """The next `limit` groups of the interest: in no stage of its stage model, they enter its
    entry stage and then move as its entry rules say; with no model they leave their stage
    (their history stays). A STAGE_CHANGED event per move."""
    interest = (await interest_store.interests_by_ids(work.conn, [interest_id])).get(interest_id)
    if interest is None:
        return Restaged(0, None, [])
    model = (await stage_store.models_by_ids(work.conn, [interest.stage_model_id])).get(
        interest.stage_model_id) if interest.stage_model_id else None
    entry = model.entry_stage() if model is not None else None
    moved = await stage_store.restage_chunk(
        work.conn, work.tenant_id, interest_id, entry.id if entry else None,
        [s.id for s in model.stages] if model is not None else [], after, limit)
    work.record(Event.of(EventKind.STAGE_CHANGED, work.tenant_id, group,
                         solution_interest_id=interest_id, previous_value=stage_global_id(old),
                         new_value=stage_global_id(new))
                for group, old, new in moved.moves)
    if entry is not None and moved.moves:
        groups = [group for group, _, _ in moved.moves]
        rules = await stage_store.apply_entry_rules(work.conn, work.tenant_id, groups)
        work.record(stage_changes(work.tenant_id, rules, dict.fromkeys(groups, interest_id)))
    return moved
