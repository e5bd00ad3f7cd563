"""Background jobs: the rows that are the truth about every job, whatever Redis holds."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from service.infra.db import Connection
from service.store.paging import Page, split_page
from service.store.rows import columns


class JobKind(enum.StrEnum):
    CREATE = "CREATE"
    MAINTAIN = "MAINTAIN"
    SYNC_ACTIVITIES = "SYNC_ACTIVITIES"
    REFRESH_SCORES = "REFRESH_SCORES"
    APPLY_STAGE_MODEL = "APPLY_STAGE_MODEL"  # a solution interest's model changed
    EXPORT = "EXPORT"  # a bulk export's file (startExport)


class JobStatus(enum.StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
EVERYTHING = "all"  # the dedup key of a sync, and of a rescoring of every group


@dataclass(frozen=True)
class Job:
    tenant_id: UUID
    id: UUID
    kind: str
    status: JobStatus
    payload: dict[str, Any]
    solution_interest_id: UUID | None
    progress_total: int
    progress_processed: int
    buying_groups_created: int
    buying_groups_updated: int
    error: str | None
    attempts: int
    lease_expires_at: datetime | None
    enqueued_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    dedup_key: str | None = None
    gave_up: bool = False  # FAILED because its attempts ran out: a dead job
    created_by: str | None = None  # who started it (migration 0021)


def _job(row: Any) -> Job:
    data = columns(Job, row)
    data["status"] = JobStatus(data["status"])
    return Job(**data)


async def create_job(
    conn: Connection,
    tenant_id: UUID,
    kind: JobKind,
    payload: dict[str, Any] | None = None,
    solution_interest_id: UUID | None = None,
    dedup_key: str | None = None,
) -> Job:
    """A new QUEUED job. With `dedup_key`, one of a kind: while a job of this tenant, kind and
    key is queued or running, that job is returned instead (see `created`)."""
    job, _ = await create_job_once(conn, tenant_id, kind, payload, solution_interest_id,
                                   dedup_key)
    return job


async def count_unfinished(conn: Connection, kind: JobKind) -> int:
    """The tenant's jobs of this kind waiting or running."""
    count: int = await conn.fetchval(
        "SELECT count(*) FROM jobs WHERE kind = $1 AND status IN ('QUEUED', 'RUNNING')", kind)
    return count


async def create_job_once(
    conn: Connection, tenant_id: UUID, kind: JobKind, payload: dict[str, Any] | None = None,
    solution_interest_id: UUID | None = None, dedup_key: str | None = None,
) -> tuple[Job, bool]:
    """The job and whether it is new (False: an equal one was queued or running already)."""
    while True:
        row = await conn.fetchrow(
            """INSERT INTO jobs (tenant_id, kind, payload, solution_interest_id, dedup_key)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (tenant_id, kind, dedup_key)
                  WHERE status IN ('QUEUED', 'RUNNING') AND dedup_key IS NOT NULL DO NOTHING
               RETURNING *""",
            tenant_id, kind, payload or {}, solution_interest_id, dedup_key)
        if row is not None:
            return _job(row), True
        existing = await conn.fetchrow(
            """SELECT * FROM jobs WHERE tenant_id = $1 AND kind = $2 AND dedup_key = $3
                 AND status IN ('QUEUED', 'RUNNING')""", tenant_id, kind, dedup_key)
        if existing is not None:  # else it finished in between: insert again
            return _job(existing), False


async def jobs_by_ids(conn: Connection, ids: list[UUID]) -> dict[UUID, Job]:
    rows = await conn.fetch("SELECT * FROM jobs WHERE id = ANY($1)", ids)
    return {r["id"]: _job(r) for r in rows}


async def get_job(conn: Connection, job_id: UUID) -> Job | None:
    row = await conn.fetchrow("SELECT * FROM jobs WHERE id = $1", job_id)
    return _job(row) if row else None


async def mark_enqueued(conn: Connection, job_ids: list[UUID]) -> None:
    await conn.execute("UPDATE jobs SET enqueued_at = now() WHERE id = ANY($1)", job_ids)


# A job a worker may start now: queued and due, or running under a lapsed lease (its worker
# died) with attempts left. `j` is the jobs row; $1 is the attempts cap.
_STARTABLE = """((j.status = 'QUEUED' AND (j.next_attempt_at IS NULL OR j.next_attempt_at <= now()))
                 OR (j.status = 'RUNNING' AND j.lease_expires_at < now()))
                AND j.attempts < $1"""

_CLAIM = """UPDATE jobs
               SET status = 'RUNNING', attempts = attempts + 1, next_attempt_at = NULL,
                   lease_expires_at = now() + make_interval(secs => $2),
                   started_at = coalesce(started_at, now()), updated_at = now()
             WHERE id = $3 RETURNING *"""


async def claim_job(conn: Connection, job_id: UUID, lease_seconds: int,
                    max_attempts: int) -> Job | None:
    """Take this job if it may start now (see _STARTABLE)."""
    row = await conn.fetchrow(
        f"""WITH chosen AS (SELECT j.id FROM jobs j WHERE j.id = $3 AND {_STARTABLE}
                             FOR UPDATE SKIP LOCKED)
            {_CLAIM.replace("WHERE id = $3", "WHERE id = (SELECT id FROM chosen)")}""",
        max_attempts, lease_seconds, job_id)
    return _job(row) if row else None


# Claims are taken one at a time (this advisory lock, per transaction): the per-tenant cap
# must hold across every worker, and a claim takes a millisecond.
_CLAIM_LOCK = 0x6A6F6273  # "jobs"


async def claim_next(conn: Connection, lease_seconds: int, max_attempts: int,
                     per_tenant: int) -> Job | None:
    """Take the next job fairly: among tenants with fewer than `per_tenant` jobs running and a
    job that may start, the one served least recently, and its oldest such job. A tenant with
    500 queued jobs so delays another's by at most one slot. Call inside a transaction."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _CLAIM_LOCK)
    row = await conn.fetchrow(
        f"""WITH busy AS (
                SELECT tenant_id, count(*) AS running FROM jobs
                 WHERE status = 'RUNNING' AND lease_expires_at >= now() GROUP BY tenant_id),
            startable AS (
                SELECT j.id, j.tenant_id, j.created_at FROM jobs j
                  LEFT JOIN busy b ON b.tenant_id = j.tenant_id
                 WHERE j.status IN ('QUEUED', 'RUNNING') AND {_STARTABLE}
                   AND coalesce(b.running, 0) < $3),
            served AS (
                SELECT j.tenant_id, max(j.started_at) AS last FROM jobs j
                 WHERE j.tenant_id IN (SELECT tenant_id FROM startable) GROUP BY j.tenant_id),
            chosen AS (
                SELECT s.id FROM startable s JOIN served USING (tenant_id)
                 ORDER BY served.last NULLS FIRST, s.created_at, s.id LIMIT 1)
            {_CLAIM.replace("WHERE id = $3", "WHERE id = (SELECT id FROM chosen)")}""",
        max_attempts, lease_seconds, per_tenant)
    return _job(row) if row else None


async def record_progress(
    conn: Connection,
    job_id: UUID,
    lease_seconds: int,
    *,
    attempt: int | None = None,
    total: int | None = None,
    processed: int | None = None,
    created: int | None = None,
    updated: int | None = None,
) -> Job | None:
    """Store progress and renew the lease; None when the job is no longer running (cancelled)."""
    row = await conn.fetchrow(
        """UPDATE jobs
              SET progress_total = coalesce($3, progress_total),
                  progress_processed = coalesce($4, progress_processed),
                  buying_groups_created = coalesce($5, buying_groups_created),
                  buying_groups_updated = coalesce($6, buying_groups_updated),
                  lease_expires_at = now() + make_interval(secs => $2),
                  updated_at = now()
            WHERE id = $1 AND status = 'RUNNING' AND ($7::int IS NULL OR attempts = $7)
        RETURNING *""",
        job_id,
        lease_seconds,
        total,
        processed,
        created,
        updated,
        attempt,
    )
    return _job(row) if row else None


async def finish_job(
    conn: Connection, job_id: UUID, status: JobStatus, error: str | None = None,
    attempt: int | None = None, *, gave_up: bool = False,
) -> Job | None:
    """Record how the job ended; with `attempt`, only if no later attempt took it over."""
    row = await conn.fetchrow(
        """UPDATE jobs
              SET status = $2, error = $3, finished_at = now(), lease_expires_at = NULL,
                  last_error = coalesce($3, last_error), gave_up = $5, updated_at = now()
            WHERE id = $1 AND status = 'RUNNING' AND ($4::int IS NULL OR attempts = $4)
        RETURNING *""",
        job_id,
        str(status),
        error,
        attempt,
        gave_up,
    )
    return _job(row) if row else None


async def retry_later(conn: Connection, job_id: UUID, attempt: int, delay_seconds: float,
                      error: str) -> Job | None:
    """Put a job that failed transiently back in the queue, due after `delay_seconds`."""
    row = await conn.fetchrow(
        """UPDATE jobs
              SET status = 'QUEUED', lease_expires_at = NULL, last_error = $3,
                  next_attempt_at = now() + make_interval(secs => $4), updated_at = now()
            WHERE id = $1 AND status = 'RUNNING' AND attempts = $2
        RETURNING *""",
        job_id, attempt, error, delay_seconds)
    return _job(row) if row else None


async def give_up_lapsed(conn: Connection, max_attempts: int) -> list[Job]:
    """Fail the jobs whose worker stopped (lease lapsed) on their last attempt: a job that
    kills its worker is not run forever."""
    rows = await conn.fetch(
        """UPDATE jobs
              SET status = 'FAILED', gave_up = true, finished_at = now(),
                  lease_expires_at = NULL, updated_at = now(),
                  error = format('gave up after %s attempts; the last one stopped without an '
                                 'answer (its worker crashed or was killed)', attempts)
                          || coalesce('; the one before: ' || last_error, '')
            WHERE status = 'RUNNING' AND lease_expires_at < now() AND attempts >= $1
        RETURNING *""", max_attempts)
    return [_job(r) for r in rows]


async def tenants_with_finished_before(conn: Connection, days: int) -> list[UUID]:
    """Retention, across tenants (a system transaction): whose finished jobs are older than
    `days` days."""
    rows = await conn.fetch(
        """SELECT DISTINCT tenant_id FROM jobs
            WHERE status IN ('SUCCEEDED', 'FAILED', 'CANCELLED')
              AND finished_at < now() - make_interval(days => $1)""", days)
    return [r["tenant_id"] for r in rows]


async def delete_finished_before(conn: Connection, days: int) -> int:
    """Retention, in the tenant's own transaction: its finished jobs older than `days` days.
    Not as the system role: a deleted CREATE job unlinks the groups it made, and that update
    of the groups moves the overview's tallies, which are the tenant's to write."""
    status = await conn.execute(
        """DELETE FROM jobs WHERE status IN ('SUCCEEDED', 'FAILED', 'CANCELLED')
              AND finished_at < now() - make_interval(days => $1)""", days)
    return int(status.split()[-1])


async def stranded_jobs(conn: Connection, queued_grace_seconds: int) -> list[Job]:
    """Jobs that may have no worker and no queue entry: queued a while ago, or lease expired.

    Runs in a system transaction: the sweeper looks after every tenant.
    """
    rows = await conn.fetch(
        """SELECT * FROM jobs
            WHERE (status = 'QUEUED'
                   AND greatest(coalesce(enqueued_at, created_at), next_attempt_at)
                       < now() - make_interval(secs => $1))
               OR (status = 'RUNNING' AND lease_expires_at < now())
            ORDER BY created_at
            LIMIT 1000""",
        queued_grace_seconds,
    )
    return [_job(r) for r in rows]


async def job_counts(conn: Connection) -> list[tuple[str, str, int]]:
    rows = await conn.fetch("SELECT kind, status, count(*) AS n FROM jobs GROUP BY kind, status")
    return [(r["kind"], r["status"], r["n"]) for r in rows]


async def retry_counts(conn: Connection) -> list[tuple[str, int, int]]:
    """Per kind, over the jobs kept: attempts beyond the first (retries, lease take-overs
    included) and jobs that gave up (dead)."""
    rows = await conn.fetch(
        """SELECT kind, sum(greatest(attempts - 1, 0)) AS retries,
                  count(*) FILTER (WHERE gave_up) AS dead
             FROM jobs GROUP BY kind""")
    return [(r["kind"], int(r["retries"]), int(r["dead"])) for r in rows]


async def list_jobs(
    conn: Connection, tenant_id: UUID, *, solution_interest_id: UUID | None,
    status: str | None, kinds: list[str], limit: int, after: tuple[datetime, UUID] | None,
) -> Page[Job]:
    """Jobs, newest first."""
    where = ("tenant_id = $1 AND kind = ANY($2) AND "
             "($3::uuid IS NULL OR solution_interest_id = $3) AND "
             "($4::text IS NULL OR status = $4)")
    args: list[Any] = [tenant_id, kinds, solution_interest_id, status]
    total = await conn.fetchval(f"SELECT count(*) FROM jobs WHERE {where}", *args)
    rows = await conn.fetch(
        f"""SELECT * FROM jobs WHERE {where}
              AND ($5::timestamptz IS NULL OR (created_at, id) < ($5, $6::uuid))
            ORDER BY created_at DESC, id DESC LIMIT $7""",
        *args, after[0] if after else None, after[1] if after else None, limit + 1,
    )
    items, has_next = split_page([_job(r) for r in rows], limit)
    return Page(items, has_next, total)


async def cancel_job(conn: Connection, job_id: UUID) -> Job | None:
    """Cancel a queued or running job (a running one stops at its next progress report)."""
    row = await conn.fetchrow(
        """UPDATE jobs SET status = 'CANCELLED', finished_at = now(), lease_expires_at = NULL,
                  updated_at = now()
            WHERE id = $1 AND status IN ('QUEUED', 'RUNNING') RETURNING *""",
        job_id,
    )
    return _job(row) if row else None


async def delete_job(conn: Connection, job_id: UUID) -> bool:
    return await conn.execute("DELETE FROM jobs WHERE id = $1", job_id) == "DELETE 1"


async def interests_due_for_maintenance(conn: Connection) -> list[tuple[UUID, UUID]]:
    """(tenant, solution interest) of every interest that keeps its groups up to date and has
    no MAINTAIN job waiting or running (the system role's read)."""
    rows = await conn.fetch(
        """SELECT si.tenant_id, si.id FROM solution_interests si
            WHERE si.update_existing_buying_groups
              AND NOT EXISTS (SELECT 1 FROM jobs j
                               WHERE j.tenant_id = si.tenant_id
                                 AND j.solution_interest_id = si.id AND j.kind = 'MAINTAIN'
                                 AND j.status IN ('QUEUED', 'RUNNING'))""")
    return [(r["tenant_id"], r["id"]) for r in rows]


async def tenants_without_job(conn: Connection, kind: str) -> list[UUID]:
    """Every tenant with no job of `kind` waiting or running (the system role's read)."""
    rows = await conn.fetch(
        """SELECT t.id FROM tenants t
            WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.tenant_id = t.id AND j.kind = $1
                                AND j.status IN ('QUEUED', 'RUNNING'))""", kind)
    return [r["id"] for r in rows]
