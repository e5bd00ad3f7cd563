"""Bulk exports: starting one (a job, one of a kind per request while it waits or runs) and
writing its file, chunk by chunk, in the job's unit of work."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import orjson

from service.store import exports as export_store
from service.store import jobs as job_store
from service.store.exports import ExportRequest, filter_to_json
from service.store.jobs import JobKind
from service.usecases.change import Change, applied, refused
from service.usecases.jobs import Started
from service.usecases.unit_of_work import UnitOfWork

# Exports of a tenant waiting or running at once: each holds a worker and two connections.
MAX_UNFINISHED = 5


def payload(request: ExportRequest) -> dict[str, object]:
    return {"kind": request.kind, "format": request.format,
            "filter": filter_to_json(request.filter),
            "since": request.since.isoformat() if request.since else None}


def request_of(raw: dict[str, Any]) -> ExportRequest:
    """The request a job's payload holds."""
    since = raw.get("since")
    return ExportRequest(str(raw["kind"]), str(raw["format"]),
                         export_store.filter_from_json(raw["filter"]),
                         datetime.fromisoformat(since) if isinstance(since, str) else None)


async def start_export(work: UnitOfWork, request: ExportRequest) -> Change[Started]:
    """An export job; the same request while one waits or runs is that job."""
    body = payload(request)
    key = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
    job, new = await work.start_job(JobKind.EXPORT, body, dedup_key=key)
    if new and await job_store.count_unfinished(work.conn, JobKind.EXPORT) > MAX_UNFINISHED:
        return applied(work, refused((), "LIMIT_REACHED", (
            f"at most {MAX_UNFINISHED} exports may wait or run at once; wait for one to "
            "finish")))
    return Change(Started(job, new))


async def start_file(work: UnitOfWork, request: ExportRequest) -> None:
    job_id = work.actor.id
    assert job_id is not None, "an export's file is written by its job"
    await export_store.start_file(work.conn, work.tenant_id, job_id, request.kind,
                                  request.format)


async def add_chunk(work: UnitOfWork, seq: int, data: bytes) -> None:
    assert work.actor.id is not None
    await export_store.add_chunk(work.conn, work.tenant_id, work.actor.id, seq, data)


async def complete_file(work: UnitOfWork, *, rows: int, size: int, chunks: int,
                        keep_hours: float) -> None:
    assert work.actor.id is not None
    await export_store.complete_file(work.conn, work.tenant_id, work.actor.id, rows=rows,
                                     size=size, chunks=chunks, keep_hours=keep_hours)
