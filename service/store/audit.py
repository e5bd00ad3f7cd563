"""The audit log: one entry per committed change, in its actor's name (migration 0028)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from service.infra.db import Connection
from service.store.paging import Page, counted_page
from service.store.rows import converter
from service.store.sql import SqlParams

MAX_SUBJECTS = 20


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    last_at: datetime
    actor: str
    actor_name: str | None
    kind: str
    subjects: list[str]
    events: int
    units: int


_COLUMNS = "id, at, last_at, actor, actor_name, kind, subjects, events, units"
_entry = converter(AuditEntry)

# The actor's name as it is at the time of the change: a key's name, a job's kind.
_NOTE = f"""
    INSERT INTO audit_log AS a (tenant_id, actor, actor_name, kind, subjects, events)
    SELECT $1, $2, coalesce(n.key_name, n.job_kind, $2), coalesce($5, n.job_kind, 'change'),
           $6, $7
      FROM (SELECT (SELECT k.name FROM api_keys k WHERE k.tenant_id = $1 AND k.id = $3)
                       AS key_name,
                   (SELECT j.kind FROM jobs j WHERE j.tenant_id = $1 AND j.id = $4)
                       AS job_kind) n
     WHERE pg_current_xact_id_if_assigned() IS NOT NULL
        ON CONFLICT (tenant_id, actor) WHERE actor LIKE 'job.%'
        DO UPDATE SET last_at = now(), units = a.units + 1, events = a.events + excluded.events,
                      subjects = CASE WHEN cardinality(a.subjects) + cardinality(excluded.subjects)
                                           <= {MAX_SUBJECTS}
                                      THEN a.subjects || excluded.subjects
                                      ELSE a.subjects END
"""


async def note(conn: Connection, tenant_id: UUID, actor: str, *, key_id: UUID | None,
               job_id: UUID | None, kind: str | None, subjects: Sequence[str],
               events: int) -> None:
    """The entry of this transaction's change, if it wrote anything, in the name of `actor`
    (a key's or a job's, whose name it looks up); a job's transactions add to the job's one
    entry, whose `kind` (None) is the job's."""
    await conn.execute(_NOTE, tenant_id, actor, key_id, job_id,
                       kind[:100] if kind else None, list(subjects)[:MAX_SUBJECTS], events)


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    kind: str | None = None
    since: datetime | None = None


async def entries(conn: Connection, tenant_id: UUID, given: AuditFilter, *, limit: int,
                  after: tuple[datetime, int] | None) -> Page[AuditEntry]:
    """Entries, newest first."""
    params = SqlParams()
    where = [f"tenant_id = {params.add(tenant_id)}"]
    if given.actor is not None:
        where.append(f"actor = {params.add(given.actor)}")
    if given.kind is not None:
        where.append(f"kind = {params.add(given.kind)}")
    if given.since is not None:
        where.append(f"at >= {params.add(given.since)}")

    def past(p: SqlParams) -> str:
        assert after is not None
        return f"(at, id) < ({p.add(after[0])}, {p.add(after[1])}::bigint)"

    rows, has_next, total = await counted_page(
        conn, columns=_COLUMNS, source="audit_log", where=" AND ".join(where), params=params,
        after=past if after else None, order="at DESC, id DESC", limit=limit)
    return Page([_entry(r) for r in rows], has_next, total)


async def delete_before(conn: Connection, days: int) -> int:
    """Retention, across tenants (the system role)."""
    result = await conn.execute(
        "DELETE FROM audit_log WHERE at < now() - make_interval(days => $1)", days)
    return int(result.split()[-1])
