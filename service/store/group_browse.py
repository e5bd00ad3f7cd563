"""Browsing a tenant's buying groups: filters, score ranges and the keyset-paged list."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from service.infra.db import Connection
from service.store.buying_groups import BuyingGroup, group_from
from service.store.paging import counted_page
from service.store.row_tallies import tally_sql
from service.store.sql import SqlParams, like_pattern

# Sort expression, how its cursor value is bound, and the attribute the cursor carries.
ORDERS: dict[str, tuple[str, str, str]] = {
    "NAME": ("lower(g.name)", "lower({}::text)", "name"),
    "COMPLETENESS_SCORE": ("g.completeness", "{}::numeric", "completeness"),
    "ENGAGEMENT_SCORE": ("g.engagement", "{}::numeric", "engagement"),
    "CREATED_AT": ("g.created_at", "{}::timestamptz", "created_at"),
    "UPDATED_AT": ("g.updated_at", "{}::timestamptz", "updated_at"),
    "ENGAGEMENT_TREND": ("t.trend", "{}::numeric", "trend"),
}

# The engagement's change against its latest daily snapshot on or before a day (the group's
# `trend`); a group without one counts as unchanged. Read for every matching group: sorting or
# filtering by it costs a snapshot lookup per group.
TREND_JOIN = """LEFT JOIN LATERAL (
    SELECT g.engagement - coalesce((
        SELECT h.engagement FROM buying_group_score_history h
         WHERE h.tenant_id = g.tenant_id AND h.buying_group_id = g.id AND h.day <= {day}
         ORDER BY h.day DESC LIMIT 1), g.engagement) AS trend) t ON true"""


@dataclass(frozen=True)
class Range:
    gt: Decimal | None = None
    gte: Decimal | None = None
    lt: Decimal | None = None
    lte: Decimal | None = None


@dataclass(frozen=True)
class GroupFilter:
    search: str | None = None
    solution_interest_ids: Sequence[UUID] = ()
    account_ids: Sequence[UUID] = ()
    stage_ids: Sequence[UUID] = ()
    missing_role_ids: Sequence[UUID] = ()
    missing_role_match: str = "ALL"  # or ANY
    completeness: Range | None = None
    engagement: Range | None = None
    statuses: Sequence[str] = ()
    trend: Range | None = None
    trend_since: date | None = None  # the day of the trend's snapshot (given with `trend`)


def _range_sql(column: str, r: Range, params: SqlParams) -> list[str]:
    clauses = []
    for bound, op in ((r.gt, ">"), (r.gte, ">="), (r.lt, "<"), (r.lte, "<=")):
        if bound is not None:
            clauses.append(f"{column} {op} {params.add(bound)}::numeric")
    return clauses


def group_filter_sql(tenant_id: UUID, f: GroupFilter, params: SqlParams) -> str:
    clauses = [f"g.tenant_id = {params.add(tenant_id)}"]
    if f.search:
        clauses.append(f"g.name ILIKE {params.add(like_pattern(f.search))}")
    for values, column in ((f.solution_interest_ids, "solution_interest_id"),
                           (f.account_ids, "account_id"), (f.stage_ids, "stage_id")):
        if values:
            clauses.append(f"g.{column} = ANY({params.add(list(values))}::uuid[])")
    if f.statuses:
        clauses.append(f"lower(g.status) = ANY({params.add([s.lower() for s in f.statuses])})")
    if f.completeness:
        clauses += _range_sql("g.completeness", f.completeness, params)
    if f.engagement:
        clauses += _range_sql("g.engagement", f.engagement, params)
    if f.trend:
        clauses += _range_sql("t.trend", f.trend, params)
    if f.missing_role_ids:
        # A listed role is missing: in the template, with fewer active members than required.
        # ALL: no listed role is not missing; ANY: some listed role is.
        missing = """EXISTS (
                SELECT 1 FROM role_template_entries e
                 WHERE e.tenant_id = g.tenant_id AND e.role_template_id = g.role_template_id
                   AND e.role_id = wanted.role_id
                   AND (SELECT count(*) FROM buying_group_members m
                         WHERE m.tenant_id = g.tenant_id AND m.buying_group_id = g.id
                           AND m.role_id = e.role_id AND NOT m.is_removed)
                       < e.members_required)"""
        wanted = f"unnest({params.add(list(f.missing_role_ids))}::uuid[]) AS wanted (role_id)"
        clauses.append(f"NOT EXISTS (SELECT 1 FROM {wanted} WHERE NOT {missing})"
                       if f.missing_role_match == "ALL" else
                       f"EXISTS (SELECT 1 FROM {wanted} WHERE {missing})")
    return " AND ".join(clauses)


async def list_groups(
    conn: Connection, tenant_id: UUID, f: GroupFilter, *, order: str, descending: bool,
    limit: int, after: tuple[Any, UUID] | None,
) -> tuple[list[BuyingGroup], list[Any], bool, int]:
    """A page of groups, their sort values (for cursors), whether more follow, and the total
    matching `f` (one statement unless the page is empty). The trend (filter or order) needs
    `f.trend_since`."""
    params = SqlParams()
    source = "buying_groups g"
    if f.trend is not None or order == "ENGAGEMENT_TREND":
        assert f.trend_since is not None, "the trend is measured from a day"
        source += " " + TREND_JOIN.format(day=f"{params.add(f.trend_since)}::date")
    where = group_filter_sql(tenant_id, f, params)
    expression, bind, _ = ORDERS[order]
    direction = "DESC" if descending else "ASC"
    def past(params: SqlParams) -> str:
        assert after is not None
        value = bind.format(params.add(after[0]))
        comparison = "<" if descending else ">"
        return f"({expression}, g.id) {comparison} ({value}, {params.add(after[1])})"

    rows, has_next, total = await counted_page(
        conn, columns=f"g.*, {expression} AS sort_value", source=source, where=where,
        params=params, after=past if after is not None else None,
        order=f"{expression} {direction}, g.id {direction}", limit=limit,
        count=tally_sql("buying_groups", "$1") if f == GroupFilter() else None)
    return [group_from(r) for r in rows], [r["sort_value"] for r in rows], has_next, total
