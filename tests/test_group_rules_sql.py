"""Production's set-based SQL for completeness and stage entry rules against their reference
implementations in service/domain, on random templates, members, scores and rules."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.domain.completeness import completeness, missing_roles
from service.domain.conditions import PERSON_FIELDS, ConditionGroup, validate
from service.domain.stages import COMPARISONS, rule_holds
from service.domain.templates import WEIGHTINGS, Entry
from service.store import buying_groups as group_store
from service.store import engagement as engagement_store
from service.store.group_generation import create_groups_chunk
from service.store.group_scores import settle_scores
from service.store.sql import SqlParams
from service.store.stages import rule_sql
from tests.support import Scenario

PEOPLE = 6


async def world(conn: asyncpg.Connection[Any], entries: list[tuple[int, int, bool]],
                members: list[tuple[int, int, bool]]) -> tuple[UUID, UUID, list[Entry],
                                                              list[UUID], Counter[UUID]]:
    """A tenant with one group whose template has `entries` (role, required, counts) and whose
    members are (person, role, removed); returns the tenant, group, entries, roles, and the
    active members per role."""
    tenant = await Scenario.new_tenant(conn, "prop")
    roles = [r["id"] for r in await conn.fetch("SELECT id FROM roles ORDER BY position LIMIT 4")]
    account = await conn.fetchval(
        "INSERT INTO accounts (tenant_id, external_id, name) VALUES ($1, 'a', 'A') RETURNING id",
        tenant)
    people = [await conn.fetchval(
        "INSERT INTO people (tenant_id, external_id, account_id) VALUES ($1, $2, $3) "
        "RETURNING id", tenant, f"lead{i}", account) for i in range(PEOPLE)]
    template = await conn.fetchval(
        "INSERT INTO role_templates (tenant_id, name, status) VALUES ($1, 't', 'LIVE') "
        "RETURNING id", tenant)
    chosen: list[Entry] = []
    for position, (role, required, counts) in enumerate(entries):
        await conn.execute(
            "INSERT INTO role_template_entries (tenant_id, role_template_id, position, role_id, "
            "members_required, counts_toward_completeness, weighting) "
            "VALUES ($1, $2, $3, $4, $5, $6, 'IMPORTANT')",
            tenant, template, position, roles[role], required, counts)
        chosen.append(Entry(role_id=roles[role], weighting="IMPORTANT", members_required=required,
                            counts_toward_completeness=counts))
    interest = await conn.fetchval(
        "INSERT INTO solution_interests (tenant_id, name, role_template_id) VALUES ($1, 's', $2) "
        "RETURNING id", tenant, template)
    group = await conn.fetchval(
        "INSERT INTO buying_groups (tenant_id, account_id, solution_interest_id, "
        "role_template_id, name) VALUES ($1, $2, $3, $4, 'g') RETURNING id",
        tenant, account, interest, template)
    active: Counter[UUID] = Counter()
    for person, role, removed in {p: (p, r, x) for p, r, x in members}.values():
        await conn.execute(
            "INSERT INTO buying_group_members (tenant_id, buying_group_id, person_id, role_id, "
            "source, is_removed) VALUES ($1, $2, $3, $4, 'SYSTEM', $5)",
            tenant, group, people[person], roles[role], removed)
        if not removed:
            active[roles[role]] += 1
    return tenant, group, chosen, roles, active


ENTRIES = st.lists(st.tuples(st.integers(0, 3), st.integers(1, 3), st.booleans()),
                   min_size=1, max_size=4, unique_by=lambda e: e[0])
MEMBERS = st.lists(st.tuples(st.integers(0, PEOPLE - 1), st.integers(0, 3), st.booleans()),
                   max_size=10)
SLOW = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


@settings(max_examples=80, deadline=None, suppress_health_check=SLOW)
@given(entries=ENTRIES, members=MEMBERS)
def test_completeness_sql_equals_the_reference(
    scenario: Scenario, entries: list[tuple[int, int, bool]],
    members: list[tuple[int, int, bool]],
) -> None:
    async def body(conn: asyncpg.Connection[Any]) -> None:
        tenant, group, chosen, _, active = await world(conn, entries, members)
        [change] = await group_store.recompute_completeness(conn, tenant, [group])
        row = await conn.fetchrow("SELECT * FROM buying_groups WHERE id = $1", group)
        assert row is not None
        expected = completeness(chosen, active)
        # numeric division keeps 16+ significant digits: equal far below what anyone reads.
        assert abs(Fraction(change.current) - expected.value) < Fraction(1, 10**12)
        assert (row["roles_filled"], row["roles_total"], row["member_count"]) == (
            expected.roles_filled, expected.roles_total, sum(active.values()))
        missing = set(missing_roles(chosen, active))
        assert set(row["filled_role_ids"]) == {e.role_id for e in chosen} - missing

    scenario.rolled_back(body)


VALUES = st.one_of(st.integers(-1, 101).map(Decimal),
                   st.decimals(min_value=0, max_value=100, places=2))


def conditions(roles: int) -> st.SearchStrategy[dict[str, Any]]:
    metric = st.sampled_from(["COMPLETENESS", "ENGAGEMENT", "DAYS_IN_STAGE", "ROLE_MEMBERS"])
    return st.builds(
        lambda m, op, v, r: {"metric": m, "operator": op, "value": float(v) if v % 1 else int(v),
                             **({"roleId": r} if m == "ROLE_MEMBERS" else {})},
        metric, st.sampled_from(list(COMPARISONS)),
        st.one_of(VALUES, st.integers(0, 4).map(Decimal)), st.integers(0, roles - 1))


@settings(max_examples=150, deadline=None, suppress_health_check=SLOW)
@given(entries=ENTRIES, members=MEMBERS, match=st.sampled_from(["ALL", "ANY"]),
       raw=st.lists(conditions(4), min_size=1, max_size=4),
       scores=st.tuples(VALUES, VALUES), days=st.integers(0, 12))
def test_entry_rule_sql_equals_the_reference(
    scenario: Scenario, entries: list[tuple[int, int, bool]],
    members: list[tuple[int, int, bool]], match: str, raw: list[dict[str, Any]],
    scores: tuple[Decimal, Decimal], days: int,
) -> None:
    async def body(conn: asyncpg.Connection[Any]) -> None:
        _, group, _, roles, active = await world(conn, entries, members)
        completeness_value, engagement_value = scores
        # Half a day past whole days: the rule's "days in stage" is never on a boundary.
        await conn.execute(
            "UPDATE buying_groups SET completeness = $2, engagement = $3, "
            "stage_entered_at = now() - make_interval(days => $4, hours => 12) WHERE id = $1",
            group, completeness_value, engagement_value, days)
        rule = {"match": match, "conditions": [
            {**c, "roleId": str(roles[c["roleId"]])} if "roleId" in c else c for c in raw]}
        params = SqlParams()
        holds = await conn.fetchval(
            f"SELECT {rule_sql(rule, params)} FROM buying_groups g "
            f"WHERE g.id = {params.add(group)}", *params.values)
        metrics = {"COMPLETENESS": completeness_value, "ENGAGEMENT": engagement_value,
                   "DAYS_IN_STAGE": Decimal(days) + Decimal("0.5"),
                   **{f"ROLE_MEMBERS:{role}": Decimal(active[role]) for role in roles}}
        assert holds == rule_holds(rule, metrics), (rule, metrics)

    scenario.rolled_back(body)


async def world_to_generate(conn: asyncpg.Connection[Any], entries: list[tuple[int, int, bool]]
                            ) -> tuple[UUID, UUID, UUID, UUID, list[Entry], list[UUID]]:
    """`world` with no group yet: tenant, account, solution interest, template, entries and
    roles, for a CREATE chunk to make the group."""
    tenant, group, chosen, roles, _ = await world(conn, entries, [])
    found = await conn.fetchrow(
        "SELECT account_id, solution_interest_id, role_template_id FROM buying_groups "
        "WHERE id = $1", group)
    assert found is not None
    account, interest, template = found
    await conn.execute("DELETE FROM buying_groups WHERE id = $1", group)
    return tenant, account, interest, template, chosen, roles


TITLES = st.lists(st.sampled_from(["CEO", "CTO", "VP Sales", "Engineer", "Intern", None]),
                  min_size=2, max_size=10)


@settings(max_examples=60, deadline=None, suppress_health_check=SLOW)
@given(entries=ENTRIES, titles=TITLES)
def test_generation_stores_the_completeness_the_recomputation_gives(
    scenario: Scenario, entries: list[tuple[int, int, bool]], titles: list[str | None]
) -> None:
    """A CREATE chunk computes completeness in its own statement: it must store exactly what
    recompute_completeness (held to the reference above) computes for the same members."""
    async def body(conn: asyncpg.Connection[Any]) -> None:
        tenant, account, interest, template, chosen, roles = await world_to_generate(
            conn, entries)
        for i, title in enumerate(titles):
            await conn.execute(
                "INSERT INTO people (tenant_id, external_id, account_id, job_title) "
                "VALUES ($1, $2, $3, $4)", tenant, f"t{i}", account, title)
        # Each entry takes the titles of one kind, by the entry's role's place.
        kinds = [["CEO", "CTO"], ["VP"], ["Engineer"], ["Intern"]]
        ruled = [Entry(e.role_id, e.weighting, e.members_required, e.counts_toward_completeness,
                       group_for_titles(kinds[roles.index(e.role_id)])) for e in chosen]
        params = SqlParams()
        chunk = await create_groups_chunk(
            conn, tenant, solution_interest_id=interest, solution_interest_name="s",
            role_template_id=template, entries=ruled, audience_sql="true", params=params,
            after=None, limit=10, job_id=None,
            inputs=await engagement_store.scoring_inputs(conn, tenant))
        (created,) = chunk.changed
        stored = await conn.fetchrow(
            "SELECT completeness, roles_filled, roles_total, member_count, filled_role_ids "
            "FROM buying_groups WHERE id = $1", created)
        [change] = await group_store.recompute_completeness(conn, tenant, [created])
        again = await conn.fetchrow(
            "SELECT completeness, roles_filled, roles_total, member_count, filled_role_ids "
            "FROM buying_groups WHERE id = $1", created)
        assert change.previous == change.current
        assert stored is not None and again is not None
        assert dict(stored) == dict(again)

    scenario.rolled_back(body)


async def generated_with_activity(
    conn: asyncpg.Connection[Any], entries: list[tuple[int, int, bool]], titles: list[str | None],
    weightings: list[str], counts: list[tuple[int, int, int, int]], mode: str,
    types: list[tuple[int, int]], window_days: int,
) -> tuple[UUID, UUID, engagement_store.ScoringInputs, list[UUID]]:
    """A group made by a CREATE chunk from people with titles and activity, under a scoring
    model of `mode` and `window_days`, with three activity types (cap, weight) and the
    template's `weightings`: the tenant, the group, the scoring inputs and the roles."""
    tenant, account, interest, template, chosen, roles = await world_to_generate(
        conn, entries)
    await conn.execute("UPDATE scoring_models SET mode = $1, window_days = $2", mode,
                       window_days)
    type_ids = [r["id"] for r in await conn.fetch(
        "SELECT id FROM activity_types WHERE tenant_id = $1 ORDER BY name LIMIT 3", tenant)]
    for (cap, weight), type_id, source in zip(types, type_ids, (11, 12, 13), strict=True):
        await conn.execute("UPDATE activity_types SET max_daily_frequency = $2, "
                           "weight = $3, source_type_id = $4 WHERE id = $1",
                           type_id, cap, weight, source)
    for e in chosen:
        await conn.execute(
            "UPDATE role_template_entries SET weighting = $3 WHERE role_template_id = $1 "
            "AND role_id = $2", template, e.role_id, weightings[roles.index(e.role_id)])
    for i, title in enumerate(titles):
        await conn.execute(
            "INSERT INTO people (tenant_id, external_id, account_id, job_title) "
            "VALUES ($1, $2, $3, $4)", tenant, f"t{i}", account, title)
    inputs = await engagement_store.scoring_inputs(conn, tenant)
    for person, type_index, days_ago, count in counts:
        await conn.execute(
            "INSERT INTO activity_daily (tenant_id, lead_id, source_type_id, day, count) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, lead_id, day, "
            "source_type_id) DO UPDATE SET count = activity_daily.count + EXCLUDED.count",
            tenant, f"t{person}", 11 + type_index,
            inputs.today - timedelta(days=days_ago), count)
    kinds = [["CEO", "CTO"], ["VP"], ["Engineer"], ["Intern"]]
    ruled = [Entry(e.role_id, weightings[roles.index(e.role_id)], e.members_required,
                   e.counts_toward_completeness,
                   group_for_titles(kinds[roles.index(e.role_id)])) for e in chosen]
    chunk = await create_groups_chunk(
        conn, tenant, solution_interest_id=interest, solution_interest_name="s",
        role_template_id=template, entries=ruled, audience_sql="true",
        params=SqlParams(), after=None, limit=10, job_id=None, inputs=inputs)
    (created,) = chunk.changed
    return tenant, created, inputs, roles


# Arguments of generated_with_activity: random weightings, caps, factors, modes and windows.
SCORED_WORLDS = st.fixed_dictionaries({
    "entries": ENTRIES, "titles": TITLES,
    "weightings": st.lists(st.sampled_from(list(WEIGHTINGS)), min_size=4, max_size=4),
    "counts": st.lists(st.tuples(st.integers(0, 9), st.integers(0, 2), st.integers(0, 40),
                                 st.integers(1, 30)), max_size=25),
    "mode": st.sampled_from(["COUNT", "WEIGHTED"]),
    "types": st.lists(st.tuples(st.integers(0, 25), st.integers(0, 100)), min_size=3,
                      max_size=3),
    "window_days": st.sampled_from([1, 7, 30])})


@settings(max_examples=60, deadline=None, suppress_health_check=SLOW)
@given(scored=SCORED_WORLDS)
def test_generation_stores_the_engagement_the_rescoring_gives(
    scenario: Scenario, scored: dict[str, Any]
) -> None:
    """A CREATE chunk scores its groups in its own statement, and records the day's snapshot:
    it must store exactly what the rescoring (held to the reference in test_engagement_sql)
    computes for the same members and activity, whatever the weightings, types and window."""
    async def body(conn: asyncpg.Connection[Any]) -> None:
        tenant, created, inputs, _ = await generated_with_activity(conn, **scored)
        [change] = await engagement_store.refresh_engagement(conn, tenant, inputs, [created])
        assert change.previous == change.current
        snapshot = await conn.fetchrow(
            "SELECT day, completeness, engagement FROM buying_group_score_history "
            "WHERE buying_group_id = $1", created)
        stored = await conn.fetchrow(
            "SELECT completeness, engagement FROM buying_groups WHERE id = $1", created)
        assert snapshot is not None and stored is not None
        assert tuple(snapshot) == (inputs.today, *stored)

    scenario.rolled_back(body)


MOVES = st.lists(st.tuples(st.integers(0, PEOPLE + 9), st.one_of(st.none(), st.integers(0, 3))),
                 max_size=6)


@settings(max_examples=60, deadline=None, suppress_health_check=SLOW)
@given(scored=SCORED_WORLDS, moves=MOVES, many=st.booleans())
def test_settling_writes_what_recomputing_then_rescoring_writes(
    scenario: Scenario, scored: dict[str, Any], moves: list[tuple[int, int | None]], many: bool
) -> None:
    """After members moved, settling computes both scores in one statement: it must store,
    snapshot and report exactly what recompute_completeness and refresh_engagement (each held
    to its reference) do one after the other, for one group or for several."""
    async def body(conn: asyncpg.Connection[Any]) -> None:
        tenant, group, inputs, _ = await generated_with_activity(conn, **scored)
        people = [r["id"] for r in await conn.fetch(
            "SELECT id FROM people WHERE tenant_id = $1 ORDER BY external_id", tenant)]
        template_roles = [r["role_id"] for r in await conn.fetch(
            "SELECT e.role_id FROM role_template_entries e JOIN buying_groups g "
            "ON g.role_template_id = e.role_template_id WHERE g.id = $1 ORDER BY e.position",
            group)]
        for person, role in moves:
            if person >= len(people):
                continue
            await conn.execute(
                "INSERT INTO buying_group_members AS m (tenant_id, buying_group_id, person_id, "
                "role_id, source, is_removed) VALUES ($1, $2, $3, $4, 'MANUAL', $5) "
                "ON CONFLICT (tenant_id, buying_group_id, person_id) DO UPDATE "
                "SET is_removed = EXCLUDED.is_removed, role_id = coalesce("
                "CASE WHEN EXCLUDED.is_removed THEN m.role_id END, EXCLUDED.role_id)",
                tenant, group, people[person],
                template_roles[(role or 0) % len(template_roles)], role is None)
        # An id of no group: the statement for several groups, which leaves it out.
        groups = [group, uuid4()] if many else [group]

        async def state() -> tuple[Any, ...]:
            row = await conn.fetchrow(
                "SELECT completeness, roles_filled, roles_total, member_count, filled_role_ids, "
                "engagement FROM buying_groups WHERE id = $1", group)
            history = await conn.fetch(
                "SELECT day, completeness, engagement FROM buying_group_score_history "
                "WHERE buying_group_id = $1 ORDER BY day", group)
            assert row is not None
            return tuple(row), [tuple(h) for h in history]

        merged = conn.transaction()
        await merged.start()
        settled = await settle_scores(conn, tenant, inputs, groups)
        after_settling = await state()
        await merged.rollback()
        completeness = await group_store.recompute_completeness(conn, tenant, groups,
                                                                touched=True)
        engagement = await engagement_store.refresh_engagement(conn, tenant, inputs, groups)
        assert (settled.completeness, settled.engagement) == (completeness, engagement)
        assert after_settling == await state()

    scenario.rolled_back(body)


def group_for_titles(prefixes: list[str]) -> ConditionGroup:
    built, problems = validate("ANY", [("jobTitle", "STARTS_WITH", prefixes)], PERSON_FIELDS)
    assert built is not None, problems
    return built
