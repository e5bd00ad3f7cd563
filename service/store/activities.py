"""Raw activities (partitioned by month) and their daily rollup, written a page at a time
together with the paging cursor that produced the page."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from service.infra.db import Connection
from service.store.paging import Page, group_pages
from service.store.rows import columns, converter


@dataclass(frozen=True)
class IngestResult:
    new: int
    leads: list[str]
    latest: datetime | None
    erased: int = 0     # activities of erased people, skipped


def month_start(moment: date) -> date:
    """The first day of the moment's month (a datetime is a date too)."""
    return date(moment.year, moment.month, 1)


def next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


async def ensure_partitions(conn: Connection, months: Iterable[date],
                            horizon: date | None = None) -> None:
    """Create the monthly partitions (UTC months) that rows of these months go to; with a
    horizon, only months from it to next month (a source must not make the database create
    tables at will). DDL takes the owner: migration 0015's function does it for the system
    role, within a window of its own (ten years back to next month)."""
    wanted = sorted(set(months))
    if horizon is not None:
        last = next_month(month_start(datetime.now(UTC)))
        outside = [m for m in wanted if not month_start(horizon) <= m <= last]
        if outside:
            raise ValueError(f"no partition outside {horizon:%Y-%m} .. {last:%Y-%m}: {outside}")
    await conn.execute("SELECT ensure_activity_partitions($1::date[])", wanted)


async def drop_partitions_before(conn: Connection, cutoff: date) -> list[str]:
    """Drop whole monthly partitions that end before `cutoff` (retention; migration 0015's
    function, as the owner, refuses a cutoff less than two months back), and their months'
    tallies (0019) in the same transaction. Only the months of dropped partitions: rows of
    other months that sit in the default partition stay, and so do their tallies."""
    rows = await conn.fetch("SELECT drop_activity_partitions_before($1) AS name", cutoff)
    dropped = [r["name"] for r in rows]
    months = [partition_month(name) for name in dropped]
    if months:
        # A compaction under way would write a dropped month back after these deletes: wait
        # for it, and keep the next one out until this commits.
        await conn.execute("LOCK TABLE activity_tallies IN SHARE ROW EXCLUSIVE MODE")
        for table in ("activity_tallies", "activity_tally_deltas"):
            await conn.execute(f"DELETE FROM {table} WHERE month = ANY($1::date[])", months)
        # Dropping a partition fires no trigger: every tenant's cached answers go stale at
        # this commit (migration 0020).
        await conn.execute("SELECT pg_notify('response_cache', '*:' || pg_current_xact_id())")
    return dropped


def partition_month(name: str) -> date:
    """The month of a monthly partition, from its name (activities_y2026m11)."""
    return date(int(name[-7:-3]), int(name[-2:]), 1)


async def compact_tallies(conn: Connection, tenant_id: UUID) -> None:
    """Move the tenant's activity tally deltas into one row per person and month (0019)."""
    await conn.execute("SELECT compact_activity_tallies($1)", tenant_id)


# The page goes in as the source sent it (Marketo's field names): mapping in SQL spares a
# Python object per activity. An activity is the source's marketoGUID, else its id.
_INGEST = """
WITH input AS (
    SELECT DISTINCT ON (r."activityDate", source_id) r.*,
           coalesce(r."marketoGUID", r.id) AS source_id
      FROM jsonb_to_recordset($2::jsonb) AS r ("marketoGUID" text, id text,
           "activityDate" timestamptz, "leadId" text, "activityTypeId" integer,
           "primaryAttributeValue" text, attributes jsonb)
),
-- An erased person's activities are skipped (migration 0029), and counted. A tenant that
-- erased nobody hashes no lead id (the first test runs once per statement).
kept AS (
    SELECT * FROM input i
     WHERE NOT EXISTS (SELECT 1 FROM erasures x WHERE x.tenant_id = $1 AND x.kind = 'PERSON')
        OR NOT EXISTS (SELECT 1 FROM erasures x
                        WHERE x.tenant_id = $1 AND x.kind = 'PERSON'
                          AND x.key_hash = erasure_key($1, i."leadId"))
),
inserted AS (
    INSERT INTO activities (tenant_id, activity_date, source_id, lead_id, source_type_id,
                            primary_attribute_value, attributes)
    SELECT $1, "activityDate", source_id, "leadId", "activityTypeId", "primaryAttributeValue",
           attributes
      FROM kept
        ON CONFLICT DO NOTHING
    RETURNING lead_id, source_type_id, activity_date
),
rolled AS (
    INSERT INTO activity_daily AS d (tenant_id, lead_id, source_type_id, day, count)
    SELECT $1, lead_id, source_type_id, (activity_date AT TIME ZONE z.time_zone)::date, count(*)
      FROM inserted, (SELECT time_zone FROM tenants WHERE id = $1) z GROUP BY 2, 3, 4
        ON CONFLICT (tenant_id, lead_id, day, source_type_id)
        DO UPDATE SET count = d.count + EXCLUDED.count
)
SELECT count(*) AS new, coalesce(array_agg(DISTINCT lead_id), '{}') AS leads,
       max(activity_date) AS latest,
       (SELECT count(*) FROM input) - (SELECT count(*) FROM kept) AS erased
  FROM inserted
"""


def _rollup_lock(tenant_id: UUID) -> int:
    """The advisory lock key of a tenant's rollup: pages share it, a rebuild takes it alone."""
    return int.from_bytes(tenant_id.bytes[:8], "big", signed=True) ^ 0x726F6C6C7570  # "rollup"


async def rebuild_rollup(conn: Connection, tenant_id: UUID) -> int:
    """Count the tenant's stored activity into days again, in its time zone (after the tenant
    changed it: a day is the tenant's day). The rollup and the activities keep the same
    retention, so nothing counted before is lost. Returns the number of daily rows."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _rollup_lock(tenant_id))
    await conn.execute("DELETE FROM activity_daily WHERE tenant_id = $1", tenant_id)
    status = await conn.execute(
        """INSERT INTO activity_daily (tenant_id, lead_id, source_type_id, day, count)
           SELECT $1, a.lead_id, a.source_type_id, (a.activity_date AT TIME ZONE z.time_zone)::date,
                  count(*)
             FROM activities a, (SELECT time_zone FROM tenants WHERE id = $1) z
            WHERE a.tenant_id = $1 GROUP BY 2, 3, 4""", tenant_id)
    return int(status.split()[-1])


async def ingest_page(conn: Connection, tenant_id: UUID, activities: Sequence[dict[str, Any]],
                      *, durable: bool = True) -> IngestResult:
    """Store a page of activities (as the source sent them) once each; the rollup counts only
    the new ones, into days of the tenant's time zone as it is when the page commits.
    `durable=False`: the transaction's commit does not wait for the disk (a sync's page, whose
    cursor is lost with it in a crash, so the next sync fetches it again: twice the rate)."""
    if not activities:
        return IngestResult(0, [], None)
    if not durable:
        await conn.execute("SET LOCAL synchronous_commit = off")
    # Pages share the tenant's rollup; a rebuild (a new time zone) has it to itself.
    await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", _rollup_lock(tenant_id))
    row = await conn.fetchrow(_INGEST, tenant_id, activities)
    assert row is not None
    return IngestResult(row["new"], list(row["leads"]), row["latest"], row["erased"])


async def drop_rollup_before(conn: Connection, cutoff: date) -> int:
    """Retention of the daily rollup: the days before `cutoff`, every tenant."""
    status = await conn.execute("DELETE FROM activity_daily WHERE day < $1", cutoff)
    return int(status.split()[-1])


@dataclass(frozen=True)
class Activity:
    activity_date: datetime
    source_id: str
    lead_id: str
    source_type_id: int
    primary_attribute_value: str | None
    attributes: Any


async def activities_of_lead(
    conn: Connection, tenant_id: UUID, lead_id: str, *, since: datetime | None, limit: int,
    after: tuple[datetime, str] | None,
) -> tuple[list[Activity], bool]:
    """A person's activities, newest first."""
    rows = await conn.fetch(
        """SELECT activity_date, source_id, lead_id, source_type_id, primary_attribute_value,
                  attributes
             FROM activities
            WHERE tenant_id = $1 AND lead_id = $2
              AND ($3::timestamptz IS NULL OR activity_date >= $3)
              AND ($4::timestamptz IS NULL OR (activity_date, source_id) < ($4, $5::text))
            ORDER BY activity_date DESC, source_id DESC LIMIT $6""",
        tenant_id, lead_id, since, after[0] if after else None, after[1] if after else None,
        limit + 1,
    )
    items = [Activity(**columns(Activity, r)) for r in rows]
    return items[:limit], len(items) > limit


async def first_pages_of_leads(
    conn: Connection, tenant_id: UUID, lead_ids: list[str], *, since: datetime | None,
    limit: int, counted: bool = True,
) -> dict[str, Page[Activity]]:
    """The first page of activities_of_lead for many people at once, with each one's count:
    one statement for a page of people instead of two per person. Each lead's page is read
    through its index, newest first, and the set of the leads' rows is never sorted.

    Without `since`, the tallies (migration 0019) give each lead's count and the month from
    which its first page lies: the page's query is bounded there, and every partition before
    it is pruned as the statement runs. With `since`, a lead's count reads its rows since
    then from the index, partition by partition, unless not `counted`: then the pages' totals
    are NOT_COUNTED."""
    if since is None:
        rows = await conn.fetch(
            f"""SELECT q.lead AS lead_id, t.total, {_PAGE_COLUMNS}
                  FROM unnest($2::text[]) AS q (lead)
                  CROSS JOIN LATERAL ({_TALLY_OF_LEAD}) t
                  LEFT JOIN LATERAL ({_FIRST_OF_LEAD.format(since="t.bound")}) c ON true""",
            tenant_id, lead_ids, limit)
        return group_pages(rows, lead_ids, "lead_id", _activity_from, limit,
                           counted_only=lambda row: row["source_id"] is None)
    if not counted:
        rows = await conn.fetch(
            f"""SELECT q.lead AS lead_id, {_PAGE_COLUMNS}
                  FROM unnest($2::text[]) AS q (lead)
                  CROSS JOIN LATERAL ({_FIRST_OF_LEAD.format(since="$4")}) c""",
            tenant_id, lead_ids, limit + 1, since)
        return group_pages(rows, lead_ids, "lead_id", _activity_from, limit, counted=False)
    rows = await conn.fetch(
        f"""SELECT q.lead AS lead_id, n.total, {_PAGE_COLUMNS}
              FROM unnest($2::text[]) AS q (lead)
              CROSS JOIN LATERAL (
                  SELECT count(*) AS total FROM activities a
                   WHERE a.tenant_id = $1 AND a.lead_id = q.lead AND a.activity_date >= $4) n
              LEFT JOIN LATERAL ({_FIRST_OF_LEAD.format(since="$4")}) c ON true""",
        tenant_id, lead_ids, limit, since,
    )
    # A lead with no activity on the page still has its row, for the count.
    return group_pages(rows, lead_ids, "lead_id", _activity_from, limit,
                       counted_only=lambda row: row["source_id"] is None)


# The first $3 activities of the lead q.lead from {since} on, newest first, through its index.
_FIRST_OF_LEAD = """SELECT a.* FROM activities a
                     WHERE a.tenant_id = $1 AND a.lead_id = q.lead AND a.activity_date >= {since}
                     ORDER BY a.activity_date DESC, a.source_id DESC LIMIT $3"""
_PAGE_COLUMNS = ("c.activity_date, c.source_id, c.source_type_id, c.primary_attribute_value, "
                 "c.attributes")

# A lead's tallies (migration 0019): the folded months and the deltas not folded yet.
_KEPT = """SELECT month, activities FROM activity_tallies
            WHERE tenant_id = $1 AND lead_id = {lead}
           UNION ALL
           SELECT month, activities FROM activity_tally_deltas
            WHERE tenant_id = $1 AND lead_id = {lead}"""

# The lead q.lead's count of activities, and the start of the newest month from which it has
# $3 of them (of its oldest month when it has fewer; NULL when it has none, and so no page):
# its first page lies within, and older partitions need not be read. The running sum's frame
# (RANGE, the default) ends with the current row's month, every row of that month included,
# so the rows of a month need not be grouped first.
_TALLY_OF_LEAD = f"""
    SELECT coalesce(sum(activities), 0)::bigint AS total,
           (coalesce(max(month) FILTER (WHERE newer >= $3), min(month))::timestamp
            AT TIME ZONE 'UTC') AS bound
      FROM (SELECT month, activities, sum(activities) OVER (ORDER BY month DESC) AS newer
              FROM ({_KEPT.format(lead="q.lead")}) AS kept) AS running"""


_activity_from = converter(Activity)


async def count_activities_of_lead(conn: Connection, tenant_id: UUID, lead_id: str,
                                   since: datetime | None) -> int:
    """From the tallies without `since`; else counting the rows since then."""
    if since is None:
        count: int = await conn.fetchval(
            f"""SELECT coalesce(sum(activities), 0)::bigint
                  FROM ({_KEPT.format(lead="$2")}) AS kept""", tenant_id, lead_id)
        return count
    count = await conn.fetchval(
        """SELECT count(*) FROM activities
            WHERE tenant_id = $1 AND lead_id = $2 AND activity_date >= $3""",
        tenant_id, lead_id, since)
    return count


