"""Alert rules and the alerts they fired (migration 0024)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from service.domain.alerts import AlertCondition, AlertRule, When
from service.infra.db import Connection
from service.store.paging import Page, counted_page
from service.store.rows import converter
from service.store.sql import SqlParams


@dataclass(frozen=True)
class StoredRule:
    id: UUID
    name: str
    solution_interest_ids: list[UUID]
    condition: str
    threshold: Decimal | None
    days: int | None
    role_id: UUID | None
    stage_id: UUID | None
    enabled: bool
    created_by: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def when(self) -> When:
        return When(AlertCondition(self.condition), self.threshold, self.days, self.role_id,
                    self.stage_id)

    @property
    def rule(self) -> AlertRule:
        return AlertRule(self.id, self.name, frozenset(self.solution_interest_ids), self.when)


@dataclass(frozen=True)
class Alert:
    id: UUID
    alert_rule_id: UUID
    buying_group_id: UUID
    condition: str
    previous_value: Decimal | None
    value: Decimal | None
    baseline: Decimal | None
    role_id: UUID | None
    stage_id: UUID | None
    triggered_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None


@dataclass(frozen=True)
class NewAlert:
    """An alert a check found, before it is stored."""
    alert_rule_id: UUID
    buying_group_id: UUID
    condition: str
    previous_value: Decimal | None = None
    value: Decimal | None = None
    baseline: Decimal | None = None
    role_id: UUID | None = None
    stage_id: UUID | None = None


_RULE = """id, name, solution_interest_ids, condition, threshold, days, role_id, stage_id,
           enabled, created_by, created_at, updated_at"""
_ALERT = """id, alert_rule_id, buying_group_id, condition, previous_value, value, baseline,
            role_id, stage_id, triggered_at, acknowledged_at, acknowledged_by"""
_rule = converter(StoredRule)
_alert = converter(Alert)


async def create_rule(conn: Connection, tenant_id: UUID, name: str, interest_ids: list[UUID],
                      when: When) -> StoredRule:
    row = await conn.fetchrow(
        f"""INSERT INTO alert_rules (tenant_id, name, solution_interest_ids, condition,
                                     threshold, days, role_id, stage_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {_RULE}""",
        tenant_id, name, interest_ids, when.condition.value, when.threshold, when.days,
        when.role_id, when.stage_id)
    assert row is not None
    return _rule(row)


async def lock_rules(conn: Connection, tenant_id: UUID) -> None:
    """Serialise creations of one tenant, so two cannot both pass the limit."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('alert_rules:' || $1, 0))",
                       str(tenant_id))


async def count_rules(conn: Connection) -> int:
    count: int = await conn.fetchval("SELECT count(*) FROM alert_rules")
    return count


async def name_taken(conn: Connection, name: str, other_than: UUID | None = None) -> bool:
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM alert_rules WHERE lower(name) = lower($1) "
        "AND id IS DISTINCT FROM $2)", name, other_than))


async def rules(conn: Connection, *, enabled_only: bool = False) -> list[StoredRule]:
    where = "WHERE enabled" if enabled_only else ""
    rows = await conn.fetch(f"SELECT {_RULE} FROM alert_rules {where} ORDER BY lower(name), id")
    return [_rule(r) for r in rows]


async def rules_by_id(conn: Connection, ids: Sequence[UUID]) -> dict[UUID, StoredRule]:
    rows = await conn.fetch(f"SELECT {_RULE} FROM alert_rules WHERE id = ANY($1)", list(ids))
    return {r["id"]: _rule(r) for r in rows}


async def update_rule(conn: Connection, rule_id: UUID, *, name: str | None,
                      enabled: bool | None) -> StoredRule | None:
    row = await conn.fetchrow(
        f"""UPDATE alert_rules SET name = coalesce($2, name), enabled = coalesce($3, enabled),
                   updated_at = now()
             WHERE id = $1 RETURNING {_RULE}""", rule_id, name, enabled)
    return _rule(row) if row else None


async def delete_rule(conn: Connection, rule_id: UUID) -> bool:
    status = await conn.execute("DELETE FROM alert_rules WHERE id = $1", rule_id)
    return status.endswith(" 1")


async def insert_alerts(conn: Connection, tenant_id: UUID, alerts: Sequence[NewAlert]
                        ) -> list[Alert]:
    """Store the alerts (one statement), in the order given."""
    rows = await conn.fetch(
        f"""INSERT INTO alerts (tenant_id, alert_rule_id, buying_group_id, condition,
                                previous_value, value, baseline, role_id, stage_id)
            SELECT $1, a.alert_rule_id, a.buying_group_id, a.condition, a.previous_value,
                   a.value, a.baseline, a.role_id, a.stage_id
              FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::numeric[], $6::numeric[],
                          $7::numeric[], $8::uuid[], $9::uuid[]) WITH ORDINALITY
                   AS a (alert_rule_id, buying_group_id, condition, previous_value, value,
                         baseline, role_id, stage_id, ord)
             ORDER BY a.ord
            RETURNING {_ALERT}""",
        tenant_id, [a.alert_rule_id for a in alerts], [a.buying_group_id for a in alerts],
        [a.condition for a in alerts], [a.previous_value for a in alerts],
        [a.value for a in alerts], [a.baseline for a in alerts], [a.role_id for a in alerts],
        [a.stage_id for a in alerts])
    return [_alert(r) for r in rows]


async def alerts_by_id(conn: Connection, ids: Sequence[UUID]) -> dict[UUID, Alert]:
    rows = await conn.fetch(f"SELECT {_ALERT} FROM alerts WHERE id = ANY($1)", list(ids))
    return {r["id"]: _alert(r) for r in rows}


async def list_alerts(conn: Connection, tenant_id: UUID, *, rule_id: UUID | None,
                      group_id: UUID | None, acknowledged: bool | None,
                      since: datetime | None, limit: int,
                      after: tuple[datetime, UUID] | None) -> Page[Alert]:
    """Alerts, newest first."""
    params = SqlParams()
    where = [f"tenant_id = {params.add(tenant_id)}"]
    if rule_id is not None:
        where.append(f"alert_rule_id = {params.add(rule_id)}")
    if group_id is not None:
        where.append(f"buying_group_id = {params.add(group_id)}")
    if acknowledged is not None:
        where.append("acknowledged_at IS NOT NULL" if acknowledged
                     else "acknowledged_at IS NULL")
    if since is not None:
        where.append(f"triggered_at >= {params.add(since)}")

    def past(p: SqlParams) -> str:
        assert after is not None
        return f"(triggered_at, id) < ({p.add(after[0])}, {p.add(after[1])}::uuid)"

    rows, has_next, total = await counted_page(
        conn, columns=_ALERT, source="alerts", where=" AND ".join(where), params=params,
        after=past if after else None, order="triggered_at DESC, id DESC", limit=limit)
    return Page([_alert(r) for r in rows], has_next, total)


async def acknowledge(conn: Connection, alert_id: UUID, actor: str) -> Alert | None:
    """Mark the alert seen (once: a second acknowledgement keeps the first's time and actor)."""
    row = await conn.fetchrow(
        f"""UPDATE alerts SET acknowledged_at = coalesce(acknowledged_at, now()),
                   acknowledged_by = CASE WHEN acknowledged_at IS NULL THEN $2
                                          ELSE acknowledged_by END
             WHERE id = $1 RETURNING {_ALERT}""", alert_id, actor)
    return _alert(row) if row else None


async def emptied_roles(conn: Connection, tenant_id: UUID,
                        pairs: Sequence[tuple[UUID, UUID]]) -> set[tuple[UUID, UUID]]:
    """Of these (group, role) pairs, those with no active member now."""
    rows = await conn.fetch(
        """SELECT c.g, c.r FROM unnest($2::uuid[], $3::uuid[]) AS c (g, r)
            WHERE NOT EXISTS (SELECT 1 FROM buying_group_members m
                               WHERE m.tenant_id = $1 AND m.buying_group_id = c.g
                                 AND m.role_id = c.r AND NOT m.is_removed)""",
        tenant_id, [g for g, _ in pairs], [r for _, r in pairs])
    return {(r["g"], r["r"]) for r in rows}



async def interests_of_groups(conn: Connection, group_ids: Sequence[UUID]
                              ) -> dict[UUID, UUID]:
    rows = await conn.fetch("SELECT id, solution_interest_id FROM buying_groups "
                            "WHERE id = ANY($1)", list(group_ids))
    return {r["id"]: r["solution_interest_id"] for r in rows}


async def roles_in_scope(conn: Connection, interest_ids: Sequence[UUID]) -> set[UUID]:
    """The roles of the templates of these solution interests."""
    rows = await conn.fetch(
        """SELECT DISTINCT e.role_id FROM solution_interests si
             JOIN role_template_entries e
               ON e.tenant_id = si.tenant_id AND e.role_template_id = si.role_template_id
            WHERE si.id = ANY($1)""", list(interest_ids))
    return {r["role_id"] for r in rows}


async def stages_in_scope(conn: Connection, interest_ids: Sequence[UUID]) -> set[UUID]:
    """The stages of the stage models of these solution interests."""
    rows = await conn.fetch(
        """SELECT s.id FROM solution_interests si
             JOIN stages s ON s.tenant_id = si.tenant_id AND s.stage_model_id = si.stage_model_id
            WHERE si.id = ANY($1)""", list(interest_ids))
    return {r["id"] for r in rows}


async def delete_alerts_before(conn: Connection, days: int) -> int:
    """Every tenant's alerts fired more than `days` days ago (a system transaction)."""
    status = await conn.execute(
        "DELETE FROM alerts WHERE triggered_at < now() - make_interval(days => $1)", days)
    return int(status.split()[-1])
