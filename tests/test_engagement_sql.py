"""Production scoring (set-based SQL) against the reference implementation, on random data;
and the window and cap edges in SQL."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.common import build_groups
from jobs import rescoring
from service.domain.engagement import ActivityCount, engagement
from service.domain.templates import WEIGHTINGS, Entry
from service.infra.db import Database
from service.store import engagement as engagement_store
from service.store import event_log
from service.usecases.unit_of_work import SYSTEM
from tests.support import Scenario, TenantKeys, plan_nodes

TODAY = date(2026, 11, 26)


async def score_both(conn: asyncpg.Connection[Any], weightings: list[str],
                     members: list[tuple[int, int, bool]], counts: list[tuple[int, int, int, int]],
                     mode: str, types: list[tuple[int, int]], window_days: int,
                     second_group: list[tuple[int, int, bool]] | None = None,
                     ) -> list[tuple[Decimal, Fraction]]:
    """SQL and reference scores of one group (two when `second_group` gives the members of
    another group, of another solution interest, at the same account: people in both); the
    SQL scores of the path after a sync (given groups) and of the nightly pass (all) agree."""
    tenant = await Scenario.new_tenant(conn, "prop")
    await conn.execute("UPDATE scoring_models SET mode = $1, window_days = $2", mode, window_days)
    type_rows = await conn.fetch("SELECT id FROM activity_types ORDER BY name LIMIT 3")
    type_ids = [r["id"] for r in type_rows]
    for (cap, weight), type_id, source in zip(types, type_ids, (11, 12, 13), strict=True):
        await conn.execute("UPDATE activity_types SET max_daily_frequency = $2, weight = $3, "
                           "source_type_id = $4 WHERE id = $1", type_id, cap, weight, source)
    role_rows = await conn.fetch("SELECT id FROM roles ORDER BY position LIMIT 3")
    roles = [r["id"] for r in role_rows]
    account = await conn.fetchval(
        "INSERT INTO accounts (tenant_id, external_id, name) VALUES ($1, 'a', 'A') RETURNING id",
        tenant)
    people = [await conn.fetchval(
        "INSERT INTO people (tenant_id, external_id, account_id) VALUES ($1, $2, $3) "
        "RETURNING id", tenant, f"lead{i}", account) for i in range(6)]
    plans = [(weightings, members)]
    if second_group is not None:
        plans.append((list(reversed(weightings)), second_group))
    groups = []
    for n, (group_weightings, group_members) in enumerate(plans):
        template = await conn.fetchval(
            "INSERT INTO role_templates (tenant_id, name, status) VALUES ($1, $2, 'LIVE') "
            "RETURNING id", tenant, f"t{n}")
        for position, (role, weighting) in enumerate(zip(roles, group_weightings,
                                                         strict=False)):
            await conn.execute(
                "INSERT INTO role_template_entries (tenant_id, role_template_id, position, "
                "role_id, weighting) VALUES ($1, $2, $3, $4, $5)", tenant, template, position,
                role, weighting)
        interest = await conn.fetchval(
            "INSERT INTO solution_interests (tenant_id, name, role_template_id) "
            "VALUES ($1, $2, $3) RETURNING id", tenant, f"s{n}", template)
        group = await conn.fetchval(
            "INSERT INTO buying_groups (tenant_id, account_id, solution_interest_id, "
            "role_template_id, name) VALUES ($1, $2, $3, $4, 'g') RETURNING id",
            tenant, account, interest, template)
        for person_index, role_index, removed in group_members:
            if role_index >= len(group_weightings):
                continue
            await conn.execute(
                "INSERT INTO buying_group_members (tenant_id, buying_group_id, person_id, "
                "role_id, source, is_removed) VALUES ($1, $2, $3, $4, 'SYSTEM', $5) "
                "ON CONFLICT DO NOTHING",
                tenant, group, people[person_index], roles[role_index], removed)
        active = {r["person_id"]: r["role_id"] for r in await conn.fetch(
            "SELECT person_id, role_id FROM buying_group_members "
            "WHERE buying_group_id = $1 AND NOT is_removed", group)}
        entries = [Entry(r, w) for r, w in zip(roles, group_weightings, strict=False)]
        groups.append((group, active, entries))
    activity = []
    for person_index, type_index, days_ago, count in counts:
        day = TODAY - timedelta(days=days_ago)
        await conn.execute(
            "INSERT INTO activity_daily (tenant_id, lead_id, source_type_id, day, count) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, lead_id, day, source_type_id) "
            "DO UPDATE SET count = activity_daily.count + EXCLUDED.count",
            tenant, f"lead{person_index}", 11 + type_index, day, count)
        activity.append(ActivityCount(people[person_index], type_ids[type_index], day, count))
    inputs = await engagement_store.scoring_inputs(conn, tenant, today=TODAY)
    changes = {c.buying_group_id: c.current for c in await engagement_store.refresh_engagement(
        conn, tenant, inputs, [g for g, _, _ in groups])}
    # The nightly pass scores every group in another plan (hash joins): the same values.
    await engagement_store.score_all(conn, tenant, inputs)
    everything = {r["id"]: r["engagement"]
                  for r in await conn.fetch("SELECT id, engagement FROM engagement_scores")}
    assert everything == changes
    start, end = inputs.window
    return [(changes[group], engagement(entries, active, activity, inputs.types, start,
                                        end).value)
            for group, active, entries in groups]


@settings(max_examples=120, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    weightings=st.lists(st.sampled_from(list(WEIGHTINGS)), min_size=1, max_size=3),
    members=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 2), st.booleans()),
                     max_size=8),
    counts=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 2), st.integers(0, 40),
                              st.integers(0, 30)), max_size=25),
    mode=st.sampled_from(["COUNT", "WEIGHTED"]),
    types=st.lists(st.tuples(st.integers(0, 25), st.integers(0, 100)), min_size=3,
                   max_size=3),
    window_days=st.sampled_from([1, 7, 30, 31]),
    second_group=st.one_of(st.none(), st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 2), st.booleans()), max_size=8)),
)
def test_sql_scores_equal_the_reference_implementation(
    scenario: Scenario, weightings: list[str], members: list[tuple[int, int, bool]],
    counts: list[tuple[int, int, int, int]], mode: str, types: list[tuple[int, int]],
    window_days: int, second_group: list[tuple[int, int, bool]] | None,
) -> None:
    async def example(conn: asyncpg.Connection[Any]) -> list[tuple[Decimal, Fraction]]:
        return await score_both(conn, weightings, members, counts, mode, types, window_days,
                                second_group)

    for sql, reference in scenario.rolled_back(example):
        exact = (Decimal(reference.numerator) / Decimal(reference.denominator)).quantize(
            Decimal("1e-12"), rounding=ROUND_HALF_UP)
        assert sql == exact, (sql, reference)


def test_window_and_cap_edges_in_sql(scenario: Scenario) -> None:
    async def example(conn: asyncpg.Connection[Any]) -> Decimal:
        [(sql, reference)] = await score_both(
            conn, ["VITAL"], [(0, 0, False)],
            [(0, 0, 29, 1),    # day 29 before today: inside a 30-day window
             (0, 0, 30, 100),  # day 30 before: outside
             (0, 1, 0, 21)],   # 21 in a day with a cap of 20: 20
            "COUNT", [(20, 50), (20, 50), (20, 50)], 30)
        assert Fraction(sql) == reference
        return sql

    assert scenario.rolled_back(example) == Decimal(21)


async def groups_with_activity(db: Database, tenant_id: Any, groups: int) -> None:
    """`groups` groups of three members, each with four days of activity of mapped types."""
    async with db.as_login() as conn:
        await conn.execute("UPDATE activity_types SET source_type_id = n FROM ("
                           "SELECT id, row_number() OVER (ORDER BY name) AS n "
                           "FROM activity_types WHERE tenant_id = $1) t "
                           "WHERE activity_types.id = t.id", tenant_id)
        await build_groups(conn, tenant_id, groups=groups, per_group=3, days_per_person=4)


async def scores_of_a_pass(db: Database, tenant_id: Any) -> dict[Any, Decimal]:
    """Every group's score as the nightly pass computes it now, by group id."""
    async with db.tenant(tenant_id) as conn:
        inputs = await engagement_store.scoring_inputs(conn, tenant_id)
        await engagement_store.score_all(conn, tenant_id, inputs)
        return {s.buying_group_id: s.current
                for part in [p async for p in engagement_store.scored(conn, 4)] for s in part}


async def test_the_nightly_pass_writes_every_group_in_slices(
    db: Database, tenant: TenantKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rescoring, "WRITE_SLICE", 7)  # 30 groups: five slices, 3 writers
    await groups_with_activity(db, tenant.id, 30)
    expected = await scores_of_a_pass(db, tenant.id)
    assert len(expected) == 30 and len({v for v in expected.values() if v > 0}) > 5

    assert await rescoring.rescore(db, tenant.id, None, actor=SYSTEM, connections=3) == 30
    announced = {}
    async with db.tenant(tenant.id, readonly=True) as conn:
        for event in await event_log.events_after(conn, tenant.id, 0, 1000):
            if event["kind"] == "ENGAGEMENT_CHANGED":
                assert event["buying_group_id"] not in announced
                announced[event["buying_group_id"]] = event["new_value"]
    # Every slice recorded its changes with them: each group that left 0, once.
    assert announced == {g: float(v) for g, v in expected.items() if v != 0}

    async with db.tenant(tenant.id, readonly=True) as conn:
        inputs = await engagement_store.scoring_inputs(conn, tenant.id)
        stored = {r["id"]: r["engagement"] for r in await conn.fetch(
            "SELECT id, engagement FROM buying_groups WHERE engagement_computed_at IS NOT NULL")}
        history = {r["buying_group_id"]: r["engagement"] for r in await conn.fetch(
            "SELECT buying_group_id, engagement FROM buying_group_score_history WHERE day = $1",
            inputs.today)}
    assert stored == expected and history == expected


async def test_the_nightly_pass_looks_again_only_at_groups_that_moved_or_changed(
    db: Database, tenant: TenantKeys
) -> None:
    """A pass writes the day's snapshot of every group whose completeness or engagement
    differs from its latest; the next pass looks only at groups whose score moved or that
    had their completeness computed since the last one began."""
    await groups_with_activity(db, tenant.id, 6)
    assert await rescoring.rescore(db, tenant.id, None, actor=SYSTEM) == 6

    async def snapshots() -> dict[Any, tuple[Decimal, Decimal]]:
        async with db.as_login() as conn:
            rows = await conn.fetch(
                "SELECT buying_group_id, completeness, engagement FROM "
                "buying_group_score_history WHERE tenant_id = $1", tenant.id)
        return {r["buying_group_id"]: (r["completeness"], r["engagement"]) for r in rows}

    first = await snapshots()
    assert len(first) == 6
    changed, untouched = sorted(first)[:2]
    async with db.as_login() as conn:
        # The group's completeness changes (as a member leaving makes it), the other's
        # snapshot goes behind the pass's back.
        await conn.execute("UPDATE buying_groups SET completeness = 12.5, "
                           "completeness_computed_at = now() WHERE id = $1", changed)
        await conn.execute("DELETE FROM buying_group_score_history WHERE buying_group_id = $1",
                           untouched)
    assert await rescoring.rescore(db, tenant.id, None, actor=SYSTEM) == 6
    second = await snapshots()
    assert second[changed] == (Decimal("12.5"), first[changed][1])
    assert untouched not in second  # not looked at: nothing of it changed since the last pass
    assert {g: v for g, v in second.items() if g != changed} == {
        g: v for g, v in first.items() if g not in (changed, untouched)}


def test_many_groups_of_a_tenant_are_rescored_by_the_pass_over_all() -> None:
    assert not rescoring.rescore_all_instead(1_999, 2_000)  # too few to ask
    assert rescoring.rescore_all_instead(2_000, 10_000)
    assert not rescoring.rescore_all_instead(2_000, 10_001)
    assert rescoring.rescore_all_instead(50_000, 50_000)


async def test_a_sync_touching_most_groups_rescores_them_all_in_one_pass(
    db: Database, tenant: TenantKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rescoring, "WHOLE_PASS_MIN", 5)
    await groups_with_activity(db, tenant.id, 30)
    async with db.as_login() as conn:
        ids = [r["id"] for r in await conn.fetch(
            "SELECT id FROM buying_groups WHERE tenant_id = $1 ORDER BY id", tenant.id)]

    async def passes() -> int:
        async with db.as_login() as conn:
            count: int = await conn.fetchval(
                "SELECT count(*) FROM engagement_passes WHERE tenant_id = $1", tenant.id)
        return count

    assert await rescoring.rescore(db, tenant.id, ids[:5], actor=SYSTEM) == 5  # a sixth
    assert await passes() == 0
    assert await rescoring.rescore(db, tenant.id, ids[:6], actor=SYSTEM) == 30  # a fifth
    assert await passes() == 1
    async with db.tenant(tenant.id, readonly=True) as conn:
        stored = {r["id"]: r["engagement"]
                  for r in await conn.fetch("SELECT id, engagement FROM buying_groups")}
    expected = await scores_of_a_pass(db, tenant.id)
    assert stored == expected and len(set(stored.values())) > 5


async def test_a_leads_days_are_read_from_the_rollups_key_alone(
    db: Database, tenant: TenantKeys
) -> None:
    """Scoring a few groups reads each member's days by (tenant, lead): from the key's index
    only (migration 0038), not from a heap page per day, which ingest scatters a day at a
    time (the reads that grew a large tenant's jobs faster than the tenant)."""
    async with db.tenant(tenant.id) as conn:
        await conn.execute(
            """INSERT INTO activity_daily (tenant_id, lead_id, source_type_id, day, count)
               SELECT $1, 'lead' || n % 2000, 1 + n % 3, $2::date - n / 2000, 1
                 FROM generate_series(0, 19999) n""", tenant.id, TODAY)
    async with db.pool.acquire() as raw:  # outside a transaction, as autovacuum would
        await raw.execute("VACUUM ANALYZE activity_daily")
    async with db.tenant(tenant.id, readonly=True) as conn:
        plan = await conn.fetchval(
            """EXPLAIN (ANALYZE, FORMAT JSON)
               SELECT sum(d.count) FROM activity_daily d
                WHERE d.tenant_id = $1 AND d.lead_id = 'lead7'
                  AND d.day BETWEEN $2::date - 30 AND $2""", tenant.id, TODAY)
    scans = [n for n in plan_nodes(plan[0]) if n.get("Relation Name") == "activity_daily"]
    assert [(n["Node Type"], n["Actual Rows"], n.get("Heap Fetches")) for n in scans] == [
        ("Index Only Scan", 10, 0)]
