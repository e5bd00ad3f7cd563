"""Bulk exports (migration 0030): the rows of each kind of export as one query that COPY streams
out, and the file's chunks kept for the download."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from service.infra.db import Connection
from service.store.group_browse import TREND_JOIN, GroupFilter, Range, group_filter_sql
from service.store.rows import columns
from service.store.sql import SqlParams

KINDS = ("BUYING_GROUPS", "MEMBERS", "SCORE_HISTORY", "EVENTS")
FORMATS = ("CSV", "NDJSON")

# Each kind's columns: (name as the API spells it, SQL expression, whether it is text a
# spreadsheet might run as a formula). Ids are global ids, times ISO 8601 in UTC.
_GROUP = [
    ("id", "global_id('BuyingGroup', g.id)", False),
    ("name", "g.name", True),
]
_ACCOUNT = [
    ("accountId", "global_id('Account', a.id)", False),
    ("accountExternalId", "a.external_id", True),
]
# A member event's value is a role's raw id in the log: shown as its global id, as the API
# shows it (service/events/changes.py: shown_value).
_SHOWN = ("CASE WHEN e.kind IN ('MEMBER_ASSIGNED', 'MEMBER_REMOVED') "
          "AND jsonb_typeof({value}) = 'string' "
          "AND ({value} #>> '{{}}') ~ '^[0-9a-f]{{8}}-([0-9a-f]{{4}}-){{3}}[0-9a-f]{{12}}$' "
          "THEN to_jsonb(global_id('Role', ({value} #>> '{{}}')::uuid)) ELSE {value} END")
_COLUMNS: dict[str, list[tuple[str, str, bool]]] = {
    "BUYING_GROUPS": [
        *_GROUP, *_ACCOUNT,
        ("accountName", "a.name", True),
        ("solutionInterest", "si.name", True),
        ("stage", "st.name", True),
        ("status", "g.status", True),
        ("completeness", "g.completeness", False),
        ("engagement", "g.engagement", False),
        ("rolesFilled", "g.roles_filled", False),
        ("rolesTotal", "g.roles_total", False),
        ("memberCount", "g.member_count", False),
        ("createdAt", "iso_utc(g.created_at)", False),
        ("updatedAt", "iso_utc(g.updated_at)", False),
    ],
    "MEMBERS": [
        ("buyingGroupId", "global_id('BuyingGroup', g.id)", False),
        ("buyingGroupName", "g.name", True),
        *_ACCOUNT,
        ("personId", "global_id('Person', p.id)", False),
        ("personExternalId", "p.external_id", True),
        ("email", "p.email", True),
        ("firstName", "p.first_name", True),
        ("lastName", "p.last_name", True),
        ("jobTitle", "p.job_title", True),
        ("role", "r.name", True),
        ("source", "m.source", False),
        ("isRemoved", "m.is_removed", False),
        ("assignedAt", "iso_utc(m.assigned_at)", False),
        ("assignedBy", "m.assigned_by", True),
    ],
    "SCORE_HISTORY": [
        ("buyingGroupId", "global_id('BuyingGroup', g.id)", False),
        ("buyingGroupName", "g.name", True),
        ("day", "to_char(h.day, 'YYYY-MM-DD')", False),
        ("completeness", "h.completeness", False),
        ("engagement", "h.engagement", False),
    ],
    "EVENTS": [
        ("position", "e.position", False),
        ("kind", "e.kind", False),
        ("buyingGroupId", "global_id('BuyingGroup', e.buying_group_id)", False),
        ("solutionInterestId", "global_id('SolutionInterest', e.solution_interest_id)", False),
        ("personId", "global_id('Person', e.person_id)", False),
        ("roleId", "global_id('Role', e.role_id)", False),
        ("previousValue", _SHOWN.format(value="e.previous_value"), True),
        ("newValue", _SHOWN.format(value="e.new_value"), True),
        ("occurredAt", "iso_utc(e.occurred_at)", False),
        ("actor", "e.actor", True),
    ],
}

_FROM = {
    "BUYING_GROUPS": """buying_groups g
        JOIN accounts a ON a.tenant_id = g.tenant_id AND a.id = g.account_id
        JOIN solution_interests si
          ON si.tenant_id = g.tenant_id AND si.id = g.solution_interest_id
        LEFT JOIN stages st ON st.tenant_id = g.tenant_id AND st.id = g.stage_id""",
    "MEMBERS": """buying_groups g
        JOIN accounts a ON a.tenant_id = g.tenant_id AND a.id = g.account_id
        JOIN buying_group_members m ON m.tenant_id = g.tenant_id AND m.buying_group_id = g.id
        JOIN people p ON p.tenant_id = m.tenant_id AND p.id = m.person_id
        JOIN roles r ON r.tenant_id = m.tenant_id AND r.id = m.role_id""",
    "SCORE_HISTORY": """buying_groups g
        JOIN buying_group_score_history h
          ON h.tenant_id = g.tenant_id AND h.buying_group_id = g.id""",
}
_ORDER = {
    "BUYING_GROUPS": "lower(g.name), g.id",
    "MEMBERS": "lower(g.name), g.id, m.is_removed, lower(r.name), p.external_id",
    "SCORE_HISTORY": "lower(g.name), g.id, h.day",
    "EVENTS": "e.position",
}


@dataclass(frozen=True)
class ExportRequest:
    kind: str
    format: str
    filter: GroupFilter
    since: datetime | None = None


def export_query(tenant_id: UUID, request: ExportRequest) -> tuple[str, list[Any]]:
    """The SELECT of the export's rows, in order, with its parameters: for CSV one column per
    field (text a spreadsheet might run neutralised), for NDJSON one JSON object per row."""
    params = SqlParams()
    f = request.filter
    columns = _COLUMNS[request.kind]
    if request.format == "CSV":
        select = ", ".join(f'{f"csv_cell(({sql})::text)" if text else sql} AS "{name}"'
                           for name, sql, text in columns)
    else:
        select = "json_build_object(" + ", ".join(
            f"'{name}', {sql}" for name, sql, _ in columns) + ")::text"
    if request.kind == "EVENTS":
        where = [f"e.tenant_id = {params.add(tenant_id)}"]
        if f != GroupFilter():
            trend = _trend_join(f, params)
            where.append(f"""e.buying_group_id IN (SELECT g.id FROM buying_groups g {trend}
                              WHERE {group_filter_sql(tenant_id, f, params)})""")
        if request.since is not None:
            where.append(f"e.occurred_at >= {params.add(request.since)}")
        source = "events e"
    else:
        source = _FROM[request.kind] + " " + _trend_join(f, params)
        where = [group_filter_sql(tenant_id, f, params)]
        if request.kind == "SCORE_HISTORY" and request.since is not None:
            where.append(f"h.day >= {params.add(request.since.date())}::date")
    sql = (f"SELECT {select} FROM {source} WHERE {' AND '.join(where)} "
           f"ORDER BY {_ORDER[request.kind]}")
    return sql, params.values


def _trend_join(f: GroupFilter, params: SqlParams) -> str:
    if f.trend is None:
        return ""
    assert f.trend_since is not None, "the trend is measured from a day"
    return TREND_JOIN.format(day=f"{params.add(f.trend_since)}::date")


# --- the job's payload: a filter as JSON -----------------------------------------------------

def filter_to_json(f: GroupFilter) -> dict[str, Any]:
    def bounds(r: Range | None) -> dict[str, str] | None:
        return None if r is None else {k: str(v) for k, v in vars(r).items() if v is not None}

    return {"search": f.search,
            "solution_interest_ids": [str(i) for i in f.solution_interest_ids],
            "account_ids": [str(i) for i in f.account_ids],
            "stage_ids": [str(i) for i in f.stage_ids],
            "missing_role_ids": [str(i) for i in f.missing_role_ids],
            "missing_role_match": f.missing_role_match,
            "completeness": bounds(f.completeness), "engagement": bounds(f.engagement),
            "statuses": list(f.statuses), "trend": bounds(f.trend),
            "trend_since": f.trend_since.isoformat() if f.trend_since else None}


def filter_from_json(raw: dict[str, Any]) -> GroupFilter:
    def bounds(given: dict[str, str] | None) -> Range | None:
        return None if given is None else Range(**{k: Decimal(v) for k, v in given.items()})

    return GroupFilter(
        search=raw.get("search"),
        solution_interest_ids=[UUID(i) for i in raw.get("solution_interest_ids", [])],
        account_ids=[UUID(i) for i in raw.get("account_ids", [])],
        stage_ids=[UUID(i) for i in raw.get("stage_ids", [])],
        missing_role_ids=[UUID(i) for i in raw.get("missing_role_ids", [])],
        missing_role_match=raw.get("missing_role_match", "ALL"),
        completeness=bounds(raw.get("completeness")), engagement=bounds(raw.get("engagement")),
        statuses=list(raw.get("statuses", [])), trend=bounds(raw.get("trend")),
        trend_since=date.fromisoformat(raw["trend_since"]) if raw.get("trend_since") else None)


# --- the file ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ExportFile:
    job_id: UUID
    kind: str
    format: str
    rows: int
    bytes: int
    chunks: int
    completed_at: datetime | None
    expires_at: datetime | None


_FILE = "job_id, kind, format, rows, bytes, chunks, completed_at, expires_at"


async def start_file(conn: Connection, tenant_id: UUID, job_id: UUID, kind: str, fmt: str
                     ) -> None:
    """The job's file, empty (a retried job starts it again)."""
    await conn.execute("DELETE FROM export_files WHERE tenant_id = $1 AND job_id = $2",
                       tenant_id, job_id)
    await conn.execute("INSERT INTO export_files (tenant_id, job_id, kind, format) "
                       "VALUES ($1, $2, $3, $4)", tenant_id, job_id, kind, fmt)


async def add_chunk(conn: Connection, tenant_id: UUID, job_id: UUID, seq: int, data: bytes
                    ) -> None:
    await conn.execute("INSERT INTO export_chunks (tenant_id, job_id, seq, data) "
                       "VALUES ($1, $2, $3, $4)", tenant_id, job_id, seq, data)


async def complete_file(conn: Connection, tenant_id: UUID, job_id: UUID, *, rows: int,
                        size: int, chunks: int, keep_hours: float) -> None:
    await conn.execute(
        """UPDATE export_files SET rows = $3, bytes = $4, chunks = $5, completed_at = now(),
                  expires_at = now() + make_interval(secs => $6)
            WHERE tenant_id = $1 AND job_id = $2""",
        tenant_id, job_id, rows, size, chunks, keep_hours * 3600)


async def export_file(conn: Connection, job_id: UUID) -> ExportFile | None:
    row = await conn.fetchrow(f"SELECT {_FILE} FROM export_files WHERE job_id = $1", job_id)
    return ExportFile(**columns(ExportFile, row)) if row else None


async def files_of_jobs(conn: Connection, job_ids: list[UUID]) -> dict[UUID, ExportFile]:
    rows = await conn.fetch(f"SELECT {_FILE} FROM export_files WHERE job_id = ANY($1)", job_ids)
    return {r["job_id"]: ExportFile(**columns(ExportFile, r)) for r in rows}


async def chunk(conn: Connection, job_id: UUID, seq: int) -> bytes | None:
    data: bytes | None = await conn.fetchval(
        "SELECT data FROM export_chunks WHERE job_id = $1 AND seq = $2", job_id, seq)
    return data


async def plan_rows(conn: Connection, sql: str, args: list[Any]) -> int:
    """The planner's estimate of the rows a query returns (for progress, before it runs)."""
    plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args)
    return int((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]["Plan Rows"])


async def copy_out(conn: Connection, sql: str, args: list[Any], fmt: str,
                   output: Callable[[bytes], Coroutine[Any, Any, None]]) -> int:
    """Stream the query's rows through `output` as COPY sends them; how many rows."""
    if fmt == "CSV":
        status = await conn.copy_from_query(sql, *args, output=output, format="csv",
                                            header=True)
    else:  # one JSON text a line: CSV with a quote and delimiter JSON text never holds raw
        status = await conn.copy_from_query(sql, *args, output=output, format="csv",
                                            quote="\x01", delimiter="\x02")
    return int(status.split()[-1])


async def delete_expired(conn: Connection) -> int:
    """Retention, across tenants (the system role): files past their expiry, with their
    chunks."""
    status = await conn.execute("DELETE FROM export_files WHERE expires_at < now()")
    return int(status.split()[-1])
