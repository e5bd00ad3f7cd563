"""Rescoring: the groups whose members got new activity after a sync, every group at night
(set-based, in slices), and the refreshScores job."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from uuid import UUID

from jobs.run import JobRun
from service.events.changes import EventKind, score_changes, stage_changes
from service.infra.db import Database, retrying
from service.store import activities as activity_store
from service.store import buying_groups as group_store
from service.store import engagement as engagement_store
from service.store import overview as overview_store
from service.store import row_tallies as tallies
from service.store import stages as stage_store
from service.store.buying_groups import ScoreChange
from service.usecases.unit_of_work import Actor, unit_of_work


async def groups_of_leads(db: Database, tenant_id: UUID, leads: set[str]) -> list[UUID]:
    if not leads:
        return []
    async with db.tenant(tenant_id, readonly=True) as conn:
        return await group_store.groups_of_leads(conn, tenant_id, sorted(leads))


# Rescoring given groups reads each member's activity through the rollup's (tenant, lead) key;
# the pass over every group reads the rollup once, in parallel, and writes only what moved.
# Past a fifth of a tenant's groups the pass costs less (a day's sync at a large tenant
# touches most of them), and it holds no lock on all of them in one transaction.
WHOLE_PASS_SHARE = 0.2
WHOLE_PASS_MIN = 2_000  # below this many groups both ways are quick: no count is asked


def rescore_all_instead(touched: int, groups: int) -> bool:
    """Whether rescoring `touched` of a tenant's `groups` groups is better done as the pass
    over all of them."""
    return touched >= WHOLE_PASS_MIN and touched >= WHOLE_PASS_SHARE * groups


WRITE_SLICE = 10_000  # groups per transaction of the nightly pass


async def rescore_everything(db: Database, tenant_id: UUID, connections: int,
                             actor: Actor) -> int:
    """Score every group in one statement (PostgreSQL runs it in parallel), then write the
    scores in slices on `connections` connections side by side: PostgreSQL never runs a
    writing statement in parallel, and updating every group through its indexes is as much
    work as scoring. The scores stay in the database and come out a slice at a time, so the
    worker's memory does not grow with the tenant. Each slice commits on its own and announces
    its changes; a score depends only on the activity, so a pass cut short leaves some scores
    a day old, never wrong ones. Only scores that moved are written, and only the groups
    that moved or changed since the last pass are looked at again for the day's snapshot: the
    pass, recorded (with its start) when every slice is stored, says when the others were
    computed. Returns how many groups were scored."""
    writers = max(1, connections)
    slices: asyncio.Queue[list[ScoreChange] | None] = asyncio.Queue(maxsize=writers)

    async def write() -> None:
        while (part := await slices.get()) is not None:
            async for attempt in retrying():
                with attempt:
                    async with unit_of_work(db, tenant_id, actor) as work:
                        moved = await engagement_store.write_scores(work.conn, tenant_id, part,
                                                                    day)
                        work.record(score_changes(EventKind.ENGAGEMENT_CHANGED, tenant_id,
                                                  moved))

    async with db.tenant(tenant_id) as conn:  # its temporary table holds the scores
        inputs = await engagement_store.scoring_inputs(conn, tenant_id)
        day = inputs.window[1]
        scoring = await engagement_store.score_all(conn, tenant_id, inputs)
        # A writer that fails ends the group: the others and this reader are cancelled.
        async with asyncio.TaskGroup() as tasks:
            for _ in range(writers):
                tasks.create_task(write())
            async for part in engagement_store.scored(conn, WRITE_SLICE, inputs.scored_at):
                await slices.put(part)
            for _ in range(writers):
                await slices.put(None)
    async with unit_of_work(db, tenant_id, actor) as work:
        await engagement_store.record_pass(work.conn, tenant_id, scoring.at)
    return scoring.groups


async def rescore(db: Database, tenant_id: UUID, group_ids: list[UUID] | None, *,
                  actor: Actor, connections: int = 2) -> int:
    """Rescore the groups (None: all, on up to `connections` connections, which many groups
    of the tenant get too), then let stage entry rules move them (one set-based pass); each
    transaction records its events. How many groups were scored."""
    if group_ids is not None and len(group_ids) >= WHOLE_PASS_MIN:
        async with db.tenant(tenant_id, readonly=True) as conn:
            groups = await tallies.rows_of(conn, tenant_id, "buying_groups")
        if rescore_all_instead(len(group_ids), groups):
            group_ids = None
    if group_ids is None:
        rescored = await rescore_everything(db, tenant_id, connections, actor)
        async for attempt in retrying():
            with attempt:
                async with unit_of_work(db, tenant_id, actor) as work:
                    moves = await stage_store.apply_entry_rules(work.conn, tenant_id, None)
                    work.record(stage_changes(tenant_id, moves))
        # Every group moved through the tallies: fold them right away.
        async with unit_of_work(db, tenant_id, actor) as work:
            await overview_store.compact_tallies(work.conn, tenant_id)
        return rescored
    async for attempt in retrying():
        with attempt:
            async with unit_of_work(db, tenant_id, actor) as work:
                conn = work.conn
                inputs = await engagement_store.scoring_inputs(conn, tenant_id)
                changes = await engagement_store.refresh_engagement(conn, tenant_id, inputs,
                                                                    group_ids)
                moves = await stage_store.apply_entry_rules(conn, tenant_id, group_ids)
                interest_of = {c.buying_group_id: c.solution_interest_id for c in changes}
                work.record(score_changes(EventKind.ENGAGEMENT_CHANGED, tenant_id, changes))
                work.record(stage_changes(tenant_id, moves, interest_of))
    return len(changes)


async def backfill_history(db: Database, tenant_id: UUID, actor: Actor) -> int:
    """A tenant's first sync: the daily snapshots of the days of the scoring window before
    today, scored from the activity just fetched (with the members of today), so that trends
    and charts have a history from the start. Days that have a snapshot keep it; the groups'
    own scores are not touched (no events). How many snapshots were stored."""
    async with db.tenant(tenant_id, readonly=True) as conn:
        inputs = await engagement_store.scoring_inputs(conn, tenant_id)
        if not await engagement_store.history_missing(conn, tenant_id, inputs.today):
            return 0
    stored = 0
    for back in range(inputs.window_days - 1, 0, -1):
        day = inputs.today - timedelta(days=back)
        async with unit_of_work(db, tenant_id, actor) as work:
            past = await engagement_store.scoring_inputs(work.conn, tenant_id, today=day)
            await engagement_store.score_all(work.conn, tenant_id, past)
            stored += await engagement_store.snapshot_scored(work.conn, tenant_id, day)
    return stored


async def refresh_scores(run: JobRun) -> None:
    """Rescore the given groups (or all); with `rebuild_rollup` (the tenant's time zone
    changed) count the stored activity into the new zone's days first. Safe to run again."""
    tenant_id = run.job.tenant_id
    if run.job.payload.get("rebuild_rollup"):
        async with run.work() as work:
            await activity_store.rebuild_rollup(work.conn, tenant_id)
    ids = run.job.payload.get("buying_group_ids")
    group_ids = [UUID(i) for i in ids] if ids else None
    await run.progress(total=len(group_ids) if group_ids else 0, processed=0)
    updated = await rescore(run.db, tenant_id, group_ids, actor=Actor.job(run.job.id),
                            connections=run.settings.rescore_connections)
    await run.progress(total=updated, processed=updated, updated=updated)
