"""Background jobs: the rows that are the truth about every job, whatever Redis holds."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from service.db import Connection
from service.store.paging import Page, split_page


class JobKind(enum.StrEnum):
    CREATE = "CREATE"
    MAINTAIN = "MAINTAIN"
    SYNC_ACTIVITIES = "SYNC_ACTIVITIES"
    REFRESH_SCORES = "REFRESH_SCORES"


class JobStatus(enum.StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


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


def _job(row: Any) -> Job:
    data = dict(row)
    data["status"] = JobStatus(data["status"])
    return Job(**data)


async def create_job(
    conn: Connection,
    tenant_id: UUID,
    kind: JobKind,
    payload: dict[str, Any] | None = None,
    solution_interest_id: UUID | None = None,
) -> Job:
    row = await conn.fetchrow(
        """INSERT INTO jobs (tenant_id, kind, payload, solution_interest_id)
           VALUES ($1, $2, $3, $4) RETURNING *""",
        tenant_id,
        kind,
        payload or {},
        solution_interest_id,
    )
    return _job(row)


async def jobs_by_ids(conn: Connection, ids: list[UUID]) -> dict[UUID, Job]:
    rows = await conn.fetch("SELECT * FROM jobs WHERE id = ANY($1)", ids)
    return {r["id"]: _job(r) for r in rows}


async def get_job(conn: Connection, job_id: UUID) -> Job | None:
    row = await conn.fetchrow("SELECT * FROM jobs WHERE id = $1", job_id)
    return _job(row) if row else None


async def mark_enqueued(conn: Connection, job_ids: list[UUID]) -> None:
    await conn.execute("UPDATE jobs SET enqueued_at = now() WHERE id = ANY($1)", job_ids)


async def claim_job(conn: Connection, job_id: UUID, lease_seconds: int) -> Job | None:
    """Take a queued job, or a running one whose worker stopped renewing its lease."""
    row = await conn.fetchrow(
        """UPDATE jobs
              SET status = 'RUNNING', attempts = attempts + 1,
                  lease_expires_at = now() + make_interval(secs => $2),
                  started_at = coalesce(started_at, now()), updated_at = now()
            WHERE id = $1
              AND (status = 'QUEUED' OR (status = 'RUNNING' AND lease_expires_at < now()))
        RETURNING *""",
        job_id,
        lease_seconds,
    )
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
    attempt: int | None = None,
) -> Job | None:
    """Record how the job ended; with `attempt`, only if no later attempt took it over."""
    row = await conn.fetchrow(
        """UPDATE jobs
              SET status = $2, error = $3, finished_at = now(), lease_expires_at = NULL,
                  updated_at = now()
            WHERE id = $1 AND status = 'RUNNING' AND ($4::int IS NULL OR attempts = $4)
        RETURNING *""",
        job_id,
        str(status),
        error,
        attempt,
    )
    return _job(row) if row else None


async def stranded_jobs(conn: Connection, queued_grace_seconds: int) -> list[Job]:
    """Jobs that may have no worker and no queue entry: queued a while ago, or lease expired.

    Runs in a system transaction: the sweeper looks after every tenant.
    """
    rows = await conn.fetch(
        """SELECT * FROM jobs
            WHERE (status = 'QUEUED'
                   AND coalesce(enqueued_at, created_at) < now() - make_interval(secs => $1))
               OR (status = 'RUNNING' AND lease_expires_at < now())
            ORDER BY created_at
            LIMIT 1000""",
        queued_grace_seconds,
    )
    return [_job(r) for r in rows]


async def job_counts(conn: Connection) -> list[tuple[str, str, int]]:
    rows = await conn.fetch("SELECT kind, status, count(*) AS n FROM jobs GROUP BY kind, status")
    return [(r["kind"], r["status"], r["n"]) for r in rows]


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
