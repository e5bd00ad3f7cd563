"""Starting and stopping background jobs: every mutation that starts one records it in its unit
of work (one of a kind: while a job of the same kind and key waits or runs, that job is the
answer), and the unit of work hands it to the workers once the change commits."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from uuid import UUID

from service.domain.problems import Problem
from service.store import account_lists as list_store
from service.store import activity_sync as sync_store
from service.store import jobs as job_store
from service.store import solution_interests as interest_store
from service.store.jobs import EVERYTHING, Job, JobKind
from service.usecases.change import Change, applied, refused
from service.usecases.unit_of_work import UnitOfWork

# The dedup key of a rescoring after the catalogue changed how activity scores.
CATALOGUE_CHANGED = "catalogue"


@dataclass(frozen=True)
class Started:
    job: Job
    new: bool  # False: the job of this kind and key already waiting or running


async def _start(work: UnitOfWork, kind: JobKind, payload: dict[str, object] | None = None, *,
                 dedup_key: str, solution_interest_id: UUID | None = None) -> Change[Started]:
    job, new = await work.start_job(kind, dict(payload or {}), dedup_key=dedup_key,
                                    solution_interest_id=solution_interest_id)
    return Change(Started(job, new))


async def generate_groups(work: UnitOfWork, interest_id: UUID, list_id: UUID
                          ) -> Change[Started]:
    """A group for every account of the list that has none for the interest yet."""
    problems = []
    if not await interest_store.interests_by_ids(work.conn, [interest_id]):
        problems.append(Problem(("solutionInterestId",), "NOT_FOUND", "no such solution interest"))
    if not await list_store.lists_by_ids(work.conn, [list_id]):
        problems.append(Problem(("accountListId",), "NOT_FOUND", "no such account list"))
    if problems:
        return applied(work, Change(problems=problems))
    return await _start(work, JobKind.CREATE, {"solution_interest_id": str(interest_id),
                                               "account_list_id": str(list_id)},
                        dedup_key=f"{interest_id}:{list_id}", solution_interest_id=interest_id)


async def maintain_groups(work: UnitOfWork, interest_id: UUID) -> Change[Started]:
    """Re-apply the template's rules to the interest's existing groups."""
    if not await interest_store.interests_by_ids(work.conn, [interest_id]):
        return applied(work, refused("solutionInterestId", "NOT_FOUND",
                                     "no such solution interest"))
    return await _start(work, JobKind.MAINTAIN, {"solution_interest_id": str(interest_id)},
                        dedup_key=str(interest_id), solution_interest_id=interest_id)


async def refresh_scores(work: UnitOfWork, group_ids: list[UUID]) -> Change[Started]:
    """Rescore these groups (none given: every group); one of a kind per set of groups."""
    ids = sorted({str(i) for i in group_ids})
    key = hashlib.sha256(",".join(ids).encode()).hexdigest() if ids else EVERYTHING
    return await _start(work, JobKind.REFRESH_SCORES, {"buying_group_ids": ids} if ids else {},
                        dedup_key=key)


async def rescore_after_catalogue_change(work: UnitOfWork) -> Started:
    """How activity scores changed (a model, a weight): rescore every group, recorded with the
    change so neither commits without the other."""
    job, new = await work.start_job(JobKind.REFRESH_SCORES, {}, dedup_key=CATALOGUE_CHANGED)
    return Started(job, new)


async def sync_activities(work: UnitOfWork, *, restart_from_window: bool = False
                          ) -> Change[Started]:
    """Read what is new from the tenant's activity source now; `restart_from_window`: forget
    the cursors and read the whole scoring window again."""
    if restart_from_window:
        await sync_store.reset_cursors(work.conn, work.tenant_id)
    return await _start(work, JobKind.SYNC_ACTIVITIES, dedup_key=EVERYTHING)


async def cancel_job(work: UnitOfWork, job_id: UUID) -> Change[Job]:
    """Stop a queued or running job; what it did stays done."""
    job = await job_store.cancel_job(work.conn, job_id)
    if job is not None:
        return Change(job)
    current = await job_store.get_job(work.conn, job_id)
    if current is None:
        return applied(work, refused("id", "NOT_FOUND", "no such job"))
    return applied(work, refused("id", "INVALID_VALUE",
                                 f"the job has already ended ({current.status})"))


async def delete_job(work: UnitOfWork, job_id: UUID) -> Change[UUID]:
    """Delete a job's record; the groups it created stay."""
    if not await job_store.delete_job(work.conn, job_id):
        return applied(work, refused("id", "NOT_FOUND", "no such job"))
    return Change(job_id)
