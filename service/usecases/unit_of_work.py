"""The one door every write goes through: a unit of work.

A use case receives a `UnitOfWork` and writes through its `conn`, one transaction bound to the
tenant. The unit of work does what no caller may forget:
- it names **who** makes the change (`Actor`): the events and jobs the transaction writes carry
  it (migration 0021);
- it records the events the use case adds, as the transaction's last statement (the tenant's
  log position is held from then until the commit, so positions commit in order), with the
  alerts those events fire (service/usecases/alert_checks.py);
- it hands the jobs the use case started to the workers, after the commit (a job is never
  queued for a change that rolled back; if Redis is away the sweeper queues it later);
- it notes the change in the audit log (service/store/audit.py) under the name the caller gave
  it (`audit`: the mutation, the command, the job's kind) with the ids it concerned, when the
  transaction wrote anything;
- `discard()` rolls everything back: a use case that finds a problem after it wrote leaves
  nothing behind.
The response cache needs nothing from it: every write announces its tenant at commit
(migration 0020).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from service.events.changes import Event, record
from service.infra.db import Connection, Database, Limits
from service.store import audit as audit_store
from service.store import jobs as job_store
from service.store.jobs import Job, JobKind
from service.usecases.alert_checks import alert_events

log = logging.getLogger(__name__)

# Called after the commit with each job the work started.
Enqueue = Callable[[UUID], Awaitable[Any]]


@dataclass(frozen=True)
class Actor:
    """Who makes a change, as the events and jobs it writes record it."""

    kind: str              # API_KEY, CLI, JOB or SYSTEM
    id: UUID | None = None

    @classmethod
    def api_key(cls, key_id: UUID) -> Actor:
        return cls("API_KEY", key_id)

    @classmethod
    def job(cls, job_id: UUID) -> Actor:
        return cls("JOB", job_id)

    @property
    def label(self) -> str:
        """`api_key.<id>`, `job.<id>`, `cli`, `system`: the transaction's `app.actor`."""
        return self.kind.lower() + (f".{self.id}" if self.id else "")


CLI = Actor("CLI")
SYSTEM = Actor("SYSTEM")


class _Discarded(Exception):
    """Raised inside the transaction to roll it back; never leaves `unit_of_work`."""


class UnitOfWork:
    def __init__(self, conn: Connection, tenant_id: UUID, actor: Actor,
                 audit: str | None = None, subjects: Iterable[str] = ()) -> None:
        self.conn = conn
        self.tenant_id = tenant_id
        self.actor = actor
        self.audit = audit      # what the audit log calls this change; None: not audited
        self.subjects = list(subjects)  # global ids of what it concerned
        self.events: list[Event] = []
        self.jobs: list[Job] = []   # started by this work, to queue after the commit
        self.discarded = False

    def record(self, events: Iterable[Event]) -> None:
        """Events of this change, recorded with it at the end of the transaction."""
        self.events.extend(events)

    async def start_job(self, kind: JobKind, payload: dict[str, Any] | None = None, *,
                        dedup_key: str | None = None, solution_interest_id: UUID | None = None
                        ) -> tuple[Job, bool]:
        """A job recorded in this transaction, queued once it commits; with `dedup_key`, the
        job of this kind and key already waiting or running instead (False: not new)."""
        job, new = await job_store.create_job_once(self.conn, self.tenant_id, kind,
                                                   payload or {}, solution_interest_id,
                                                   dedup_key)
        if new:
            self.jobs.append(job)
        return job, new

    def discard(self) -> None:
        """Roll back everything this work wrote, when it ends."""
        self.discarded = True


@asynccontextmanager
async def unit_of_work(db: Database, tenant_id: UUID, actor: Actor, *,
                       enqueue: Enqueue | None = None, limits: Limits | None = None,
                       unseen: bool = False, audit: str | None = None,
                       subjects: Iterable[str] = ()) -> AsyncIterator[UnitOfWork]:
    """One transaction for one change: events recorded last, jobs queued after the commit.
    `unseen`: it writes only bookkeeping no answer shows (the relay's position), so cached
    answers stay valid. `audit`: the change's name in the audit log, with the global ids of
    what it concerned (`subjects`); a job's changes are audited under the job's kind; the
    worker's upkeep (retention, delivery bookkeeping) names none and is not audited."""
    work: UnitOfWork | None = None
    try:
        async with db.tenant(tenant_id, limits=limits, actor=actor.label,
                             unseen=unseen) as conn:
            work = UnitOfWork(conn, tenant_id, actor, audit, subjects)
            yield work
            if work.discarded:
                raise _Discarded
            work.events.extend(await alert_events(conn, tenant_id, work.events))
            await record(conn, tenant_id, work.events)
            if work.audit is not None or actor.kind == "JOB":  # a job's: named by its kind
                await audit_store.note(
                    conn, tenant_id, actor.label,
                    key_id=actor.id if actor.kind == "API_KEY" else None,
                    job_id=actor.id if actor.kind == "JOB" else None, kind=work.audit,
                    subjects=work.subjects, events=len(work.events))
    except _Discarded:
        return
    if enqueue is None:
        return
    for job in work.jobs:
        try:
            await enqueue(job.id)
        except Exception:  # committed: the sweeper queues what Redis did not take
            log.warning("could not queue job %s now; the sweeper will", job.id, exc_info=True)
