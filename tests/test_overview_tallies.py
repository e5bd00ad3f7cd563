"""The overview from the running tallies equals the overview from scanning the groups, after
any sequence of inserts, updates, deletes and compactions (the tallies' triggers see them all)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.store.overview import BANDS, OverviewFilter, compact_tallies, overview
from tests.support import Scenario

SCORES = st.decimals(min_value=0, max_value=130, places=2).map(Decimal)

OPERATIONS = st.lists(st.one_of(
    st.tuples(st.just("insert"), st.integers(0, 5), st.integers(0, 1)),
    st.tuples(st.just("update"), st.integers(0, 11), st.integers(-1, 2), SCORES, SCORES,
              st.lists(st.integers(0, 2), max_size=3, unique=True)),
    st.tuples(st.just("update_all"), SCORES),
    st.tuples(st.just("delete"), st.integers(0, 11)),
    st.tuples(st.just("compact"),),
), max_size=25)


async def apply(conn: Any, operations: list[tuple[Any, ...]]) -> tuple[uuid.UUID, list[Any]]:
    tenant = await Scenario.new_tenant(conn, "tallies")
    roles = [r["id"] for r in await conn.fetch("SELECT id FROM roles ORDER BY position LIMIT 3")]
    accounts = [await conn.fetchval(
        "INSERT INTO accounts (tenant_id, external_id, name, industry) VALUES ($1, $2, $2, $3) "
        "RETURNING id", tenant, f"a{i}", "Mining" if i % 2 else "Retail") for i in range(6)]
    interests = []
    for n in range(2):
        template = await conn.fetchval(
            "INSERT INTO role_templates (tenant_id, name, status) VALUES ($1, $2, 'LIVE') "
            "RETURNING id", tenant, f"t{n}")
        for position, role in enumerate(roles[n:]):
            await conn.execute(
                "INSERT INTO role_template_entries (tenant_id, role_template_id, position, "
                "role_id, weighting) VALUES ($1, $2, $3, $4, 'NORMAL')", tenant, template,
                position, role)
        interests.append((await conn.fetchval(
            "INSERT INTO solution_interests (tenant_id, name, role_template_id) "
            "VALUES ($1, $2, $3) RETURNING id", tenant, f"s{n}", template), template))
    model = await conn.fetchval("INSERT INTO stage_models (tenant_id, name, status) "
                                "VALUES ($1, 'm', 'LIVE') RETURNING id", tenant)
    stages = [await conn.fetchval(
        "INSERT INTO stages (tenant_id, stage_model_id, key, name, kind, position) "
        "VALUES ($1, $2, $3, $3, 'INTERMEDIATE', $4) RETURNING id", tenant, model, f"k{i}", i)
        for i in range(3)]
    for op, *args in operations:
        groups = [r["id"] for r in await conn.fetch(
            "SELECT id FROM buying_groups ORDER BY created_at, id")]
        if op == "insert":
            interest, template = interests[args[1]]
            await conn.execute(
                "INSERT INTO buying_groups (tenant_id, account_id, solution_interest_id, "
                "role_template_id, name) VALUES ($1, $2, $3, $4, 'g') ON CONFLICT DO NOTHING",
                tenant, accounts[args[0]], interest, template)
        elif op == "update" and groups:
            group, stage, completeness, engagement, filled = args
            await conn.execute(
                "UPDATE buying_groups SET stage_id = $2, completeness = $3, engagement = $4, "
                "filled_role_ids = $5 WHERE id = $1", groups[group % len(groups)],
                stages[stage] if stage >= 0 else None, completeness, engagement,
                [roles[i] for i in filled])
        elif op == "update_all":
            await conn.execute("UPDATE buying_groups SET engagement = engagement + $1", args[0])
        elif op == "delete" and groups:
            await conn.execute("DELETE FROM buying_groups WHERE id = $1",
                               groups[args[0] % len(groups)])
        elif op == "compact":
            await compact_tallies(conn, tenant)
    return tenant, [interests[0][0], stages[0]]


def comparable(o: Any) -> Any:
    """Counts as sets (their order is not part of the contract), averages rounded."""
    return replace(o, by_solution_interest=sorted(map(str, o.by_solution_interest)),
                   by_stage=sorted(map(str, o.by_stage)), role_coverage=sorted(
                       map(str, o.role_coverage)),
                   average_completeness=round(o.average_completeness, 9),
                   average_engagement=round(o.average_engagement, 9))


@settings(max_examples=60, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(operations=OPERATIONS)
def test_tallies_agree_with_the_groups(scenario: Scenario, operations: list[Any]) -> None:
    async def check() -> None:
        conn = scenario.conn
        async with conn.transaction():
            tenant, (interest, stage) = await apply(conn, operations)
            for f in (OverviewFilter(), OverviewFilter(solution_interest_ids=[interest]),
                      OverviewFilter(stage_ids=[stage])):
                tallied = await overview(conn, tenant, f, from_tallies=True)
                scanned = await overview(conn, tenant, f, from_tallies=False)
                assert comparable(tallied) == comparable(scanned)
                assert len(tallied.completeness_bands) == len(BANDS)
            await compact_tallies(conn, tenant)
            cells = await conn.fetchval(
                "SELECT count(*) FROM (SELECT DISTINCT solution_interest_id, stage_id, "
                "role_template_id, filled_role_ids, score_band(completeness), "
                "score_band(engagement) FROM buying_groups) c")
            # Compacted: one row per occupied cell, nothing for emptied ones.
            assert await conn.fetchval("SELECT count(*) FROM buying_group_tallies") == cells
            raise Rollback

    with pytest.raises(Rollback):
        scenario.run(check())


class Rollback(Exception):
    pass


@pytest.mark.parametrize(("score", "band"), [
    (Decimal(0), 0), (Decimal("24.999999999999"), 0), (Decimal(25), 1), (Decimal(50), 2),
    (Decimal("74.99"), 2), (Decimal(75), 3), (Decimal(100), 3), (Decimal(130), 3)])
def test_score_band_edges(scenario: Scenario, score: Decimal, band: int) -> None:
    assert scenario.run(scenario.conn.fetchval("SELECT score_band($1)", score)) == band
    low, high = BANDS[band]
    assert low <= score and (score < high or band == len(BANDS) - 1)
