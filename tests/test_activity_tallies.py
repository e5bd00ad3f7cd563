"""The activity tallies of migration 0019: a person's first page of activities and their count,
read through the tallies, equal reading and counting the rows, after any sequence of pages
ingested (some activities sent again), deletes, moves and compactions; the worker folds the
deltas. Retention drops a month's tallies with its partition (test_activity_sync)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs.worker import TALLY_ROWS_BEFORE_COMPACTION, compact_tallies
from service.infra.db import Database
from service.store import activities as activity_store
from service.store.activities import month_start
from tests.support import Scenario, TenantKeys

LEADS = ["L0", "L1", "L2", "L3"]
THIS_MONTH = month_start(datetime.now(UTC))


def months_back(n: int) -> date:
    """The first day of the UTC month n months before this one."""
    index = THIS_MONTH.year * 12 + THIS_MONTH.month - 1 - n
    return date(index // 12, index % 12 + 1, 1)


MONTHS = [months_back(n) for n in range(6)]

# An activity: (lead, month back, day in month, number); its source id is a-<number>, so the
# same activity may be sent again (stored once).
ACTIVITY = st.tuples(st.sampled_from(LEADS), st.integers(0, 5), st.integers(1, 28),
                     st.integers(0, 30))
OPERATIONS = st.lists(st.one_of(
    st.tuples(st.just("ingest"), st.lists(ACTIVITY, max_size=8)),
    st.tuples(st.just("delete"), st.sampled_from(LEADS), st.integers(0, 5)),
    st.tuples(st.just("move"), st.sampled_from(LEADS), st.sampled_from(LEADS)),
    st.tuples(st.just("compact"),),
), max_size=12)


def moment(months: int, day: int, number: int) -> datetime:
    start = MONTHS[months]
    return datetime(start.year, start.month, day, number % 24, tzinfo=UTC)


async def apply(conn: Any, tenant: Any, operations: list[tuple[Any, ...]]) -> None:
    for op, *args in operations:
        if op == "ingest":  # as a sync stores a page of the source's activities
            await activity_store.ingest_page(conn, tenant, [
                {"id": f"a-{number}", "activityDate": moment(months, day, number).isoformat(),
                 "leadId": lead, "activityTypeId": 1} for lead, months, day, number in args[0]])
        elif op == "delete":
            await conn.execute(
                "DELETE FROM activities WHERE lead_id = $1 AND activity_date >= $2 "
                "AND activity_date < $2 + interval '1 month'",
                args[0], datetime.combine(MONTHS[args[1]], datetime.min.time(), UTC))
        elif op == "move":  # nothing updates activities today; if anything did
            await conn.execute("UPDATE activities SET lead_id = $2 WHERE lead_id = $1", *args)
        else:
            await activity_store.compact_tallies(conn, tenant)


async def expected(conn: Any, lead: str, limit: int) -> tuple[list[tuple[Any, ...]], int]:
    """The lead's first `limit` activities and count, read the plain way."""
    rows = await conn.fetch(
        "SELECT activity_date, source_id FROM activities WHERE lead_id = $1 "
        "ORDER BY activity_date DESC, source_id DESC LIMIT $2", lead, limit)
    count = await conn.fetchval("SELECT count(*) FROM activities WHERE lead_id = $1", lead)
    return [tuple(r) for r in rows], count


async def agree(conn: Any, tenant: Any) -> None:
    for limit in (0, 1, 3, 10):
        pages = await activity_store.first_pages_of_leads(
            conn, tenant, [*LEADS, "nobody"], since=None, limit=limit)
        for lead, page in pages.items():
            rows, count = await expected(conn, lead, limit)
            assert [(a.activity_date, a.source_id) for a in page.items] == rows, (lead, limit)
            assert page.total_count == count, (lead, limit)
            assert page.has_next is (count > limit), (lead, limit)
            assert await activity_store.count_activities_of_lead(
                conn, tenant, lead, None) == count


@settings(max_examples=60, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(operations=OPERATIONS)
def test_pages_and_counts_from_the_tallies_equal_reading_the_rows(
        scenario: Scenario, operations: list[Any]) -> None:
    scenario.run(scenario.conn.execute("SELECT ensure_activity_partitions($1::date[])", MONTHS))

    async def check(conn: Any) -> None:
        tenant = await Scenario.new_tenant(conn, "activity tallies")
        await apply(conn, tenant, operations)
        await agree(conn, tenant)
        await activity_store.compact_tallies(conn, tenant)
        await agree(conn, tenant)
        # Compacted: no deltas, and one row per lead and month that holds activities.
        assert await conn.fetchval("SELECT count(*) FROM activity_tally_deltas") == 0
        held = await conn.fetchval(
            "SELECT count(DISTINCT (lead_id, date_trunc('month', activity_date "
            "AT TIME ZONE 'UTC'))) FROM activities")
        assert await conn.fetchval(
            "SELECT count(*) FROM activity_tallies WHERE activities <> 0") == held

    scenario.rolled_back(check)


def test_a_partitions_month_is_read_from_its_name() -> None:
    assert activity_store.partition_month("activities_y2026m01") == date(2026, 1, 1)
    assert activity_store.partition_month("activities_y1999m12") == date(1999, 12, 1)


async def test_the_worker_folds_a_busy_tenants_activity_deltas(
    db: Database, tenant: TenantKeys
) -> None:
    async with db.system() as conn:
        await activity_store.ensure_partitions(conn, [THIS_MONTH, months_back(1)])
    now = datetime.now(UTC)
    async with db.tenant(tenant.id) as conn:
        for i in range(TALLY_ROWS_BEFORE_COMPACTION + 1):  # a delta row per statement
            await activity_store.ingest_page(conn, tenant.id, [
                {"id": f"a-{i}", "activityDate": (now - timedelta(seconds=i)).isoformat(),
                 "leadId": f"L{i % 2}", "activityTypeId": 1}])
    assert await compact_tallies({"db": db}) >= 1
    async with db.tenant(tenant.id, readonly=True) as conn:
        assert await conn.fetchval("SELECT count(*) FROM activity_tally_deltas") == 0
        rows = await conn.fetch("SELECT lead_id, sum(activities) AS n FROM activity_tallies "
                                "GROUP BY 1 ORDER BY 1")
    half = (TALLY_ROWS_BEFORE_COMPACTION + 1) // 2
    assert [tuple(r) for r in rows] == [("L0", TALLY_ROWS_BEFORE_COMPACTION + 1 - half),
                                        ("L1", half)]
