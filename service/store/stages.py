"""Stage models and their stages; moving buying groups between stages, with history; the
set-based pass of automatic entry rules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from service.domain.stages import COMPARISONS, StageSpec
from service.infra.db import Connection
from service.store.rows import columns
from service.store.sql import SqlParams, like_pattern


@dataclass(frozen=True)
class Stage:
    id: UUID
    stage_model_id: UUID
    key: str
    name: str
    description: str | None
    kind: str
    position: int
    transitions_to: tuple[str, ...]
    entry_rule: dict[str, Any] | None

    def spec(self) -> StageSpec:
        return StageSpec(self.key, self.name, self.kind, self.transitions_to, self.description,
                         self.entry_rule)


@dataclass(frozen=True)
class StageModel:
    tenant_id: UUID
    id: UUID
    name: str
    description: str | None
    status: str
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime
    stages: tuple[Stage, ...]

    def entry_stage(self) -> Stage | None:
        return next((s for s in self.stages if s.kind == "ENTRY"), None)

    def by_key(self) -> dict[str, Stage]:
        return {s.key: s for s in self.stages}


class NameTaken(Exception):
    pass


class InUse(Exception):
    pass


_SELECT = """
SELECT m.*, coalesce((SELECT jsonb_agg(to_jsonb(s) ORDER BY s.position) FROM stages s
                       WHERE s.tenant_id = m.tenant_id AND s.stage_model_id = m.id), '[]')
           AS stage_rows
  FROM stage_models m
"""


def model_from(row: Any) -> StageModel:
    stages = tuple(
        Stage(UUID(s["id"]), UUID(s["stage_model_id"]), s["key"], s["name"], s["description"],
              s["kind"], s["position"], tuple(s["transitions_to"]), s["entry_rule"])
        for s in row["stage_rows"])
    return StageModel(**columns(StageModel, row, stages=stages))


async def models_by_ids(conn: Connection, ids: list[UUID]) -> dict[UUID, StageModel]:
    rows = await conn.fetch(f"{_SELECT} WHERE m.id = ANY($1)", ids)
    return {r["id"]: model_from(r) for r in rows}


async def model_of_stages(conn: Connection, stage_ids: list[UUID]) -> dict[UUID, StageModel]:
    """The model of each stage id, in one statement."""
    rows = await conn.fetch(
        f"{_SELECT} WHERE m.id IN (SELECT stage_model_id FROM stages WHERE id = ANY($1))",
        stage_ids)
    models = [model_from(r) for r in rows]
    return {s.id: m for m in models for s in m.stages if s.id in set(stage_ids)}


async def list_models(conn: Connection, tenant_id: UUID, *, search: str | None,
                      status: str | None) -> list[StageModel]:
    params = SqlParams()
    where = f"m.tenant_id = {params.add(tenant_id)}"
    if search:
        where += f" AND m.name ILIKE {params.add(like_pattern(search))}"
    if status:
        where += f" AND m.status = {params.add(status)}"
    rows = await conn.fetch(f"{_SELECT} WHERE {where} ORDER BY lower(m.name), m.id",
                            *params.values)
    return [model_from(r) for r in rows]


async def _write_stages(conn: Connection, tenant_id: UUID, model_id: UUID,
                        stages: Sequence[StageSpec]) -> None:
    await conn.execute("DELETE FROM stages WHERE stage_model_id = $1", model_id)
    await conn.execute(
        """INSERT INTO stages (tenant_id, stage_model_id, key, name, description, kind, position,
                               transitions_to, entry_rule)
           SELECT $1, $2, s.key, s.name, s.description, s.kind, s.position,
                  ARRAY(SELECT jsonb_array_elements_text(s.transitions_to)), s.entry_rule
             FROM jsonb_to_recordset($3::jsonb) AS s (key text, name text, description text,
                  kind text, position int, transitions_to jsonb, entry_rule jsonb)""",
        tenant_id, model_id,
        [{"key": s.key, "name": s.name.strip(), "description": s.description, "kind": s.kind,
          "position": i, "transitions_to": list(s.transitions_to), "entry_rule": s.entry_rule}
         for i, s in enumerate(stages)],
    )


async def create_model(conn: Connection, tenant_id: UUID, name: str, description: str | None,
                       stages: Sequence[StageSpec]) -> StageModel:
    try:
        async with conn.transaction():
            model_id = await conn.fetchval(
                "INSERT INTO stage_models (tenant_id, name, description) VALUES ($1, $2, $3) "
                "RETURNING id", tenant_id, name, description)
    except asyncpg.UniqueViolationError as exc:
        raise NameTaken from exc
    await _write_stages(conn, tenant_id, model_id, stages)
    return (await models_by_ids(conn, [model_id]))[model_id]


async def update_model(conn: Connection, model: StageModel, name: str | None,
                       description: str | None, set_description: bool,
                       stages: Sequence[StageSpec] | None) -> StageModel:
    try:
        async with conn.transaction():
            await conn.execute(
                """UPDATE stage_models SET name = coalesce($2, name),
                          description = CASE WHEN $3 THEN $4 ELSE description END,
                          updated_at = now() WHERE id = $1""",
                model.id, name, set_description, description)
    except asyncpg.UniqueViolationError as exc:
        raise NameTaken from exc
    if stages is not None:
        await _write_stages(conn, model.tenant_id, model.id, stages)
    return (await models_by_ids(conn, [model.id]))[model.id]


async def lock_model(conn: Connection, model_id: UUID) -> StageModel | None:
    await conn.execute("SELECT 1 FROM stage_models WHERE id = $1 FOR UPDATE", model_id)
    return (await models_by_ids(conn, [model_id])).get(model_id)


async def publish_model(conn: Connection, model_id: UUID) -> StageModel:
    await conn.execute("UPDATE stage_models SET status = 'LIVE', published_at = now(), "
                       "updated_at = now() WHERE id = $1", model_id)
    return (await models_by_ids(conn, [model_id]))[model_id]


async def delete_model(conn: Connection, model_id: UUID) -> None:
    try:
        async with conn.transaction():
            await conn.execute("DELETE FROM stage_models WHERE id = $1", model_id)
    # PostgreSQL 18 reports a RESTRICT rule as its own error; older versions as a foreign key one.
    except (asyncpg.ForeignKeyViolationError, asyncpg.RestrictViolationError) as exc:
        raise InUse from exc


# --- moving groups -------------------------------------------------------------------------


async def move_group(conn: Connection, tenant_id: UUID, group_id: UUID, from_stage: UUID | None,
                     to_stage: UUID, changed_by: str, api_key_id: UUID | None) -> None:
    await conn.execute(
        """UPDATE buying_groups SET stage_id = $2, stage_entered_at = now(), updated_at = now()
            WHERE id = $1""", group_id, to_stage)
    await conn.execute(
        """INSERT INTO buying_group_stage_history (tenant_id, buying_group_id, from_stage_id,
                                                   to_stage_id, changed_by, api_key_id)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        tenant_id, group_id, from_stage, to_stage, changed_by, api_key_id)


@dataclass(frozen=True)
class StageChange:
    from_stage_id: UUID | None
    to_stage_id: UUID
    changed_by: str
    changed_at: datetime
    actor: str | None = None  # who made the move (migration 0023; none before it)


async def history_of_groups(conn: Connection, group_ids: list[UUID]
                            ) -> dict[UUID, list[StageChange]]:
    rows = await conn.fetch(
        """SELECT * FROM buying_group_stage_history WHERE buying_group_id = ANY($1)
            ORDER BY changed_at, id""", group_ids)
    result: dict[UUID, list[StageChange]] = {g: [] for g in group_ids}
    for r in rows:
        result[r["buying_group_id"]].append(
            StageChange(r["from_stage_id"], r["to_stage_id"], r["changed_by"], r["changed_at"],
                        r["actor"]))
    return result


def rule_sql(rule: dict[str, Any], params: SqlParams) -> str:
    """An entry rule as a SQL condition on buying group row `g`."""
    parts = []
    for c in rule.get("conditions") or []:
        metric = c["metric"]
        if metric == "COMPLETENESS":
            left = "g.completeness"
        elif metric == "ENGAGEMENT":
            left = "g.engagement"
        elif metric == "DAYS_IN_STAGE":
            entered = "coalesce(g.stage_entered_at, g.created_at)"
            left = f"(extract(epoch FROM now() - {entered}) / 86400)"
        else:
            left = (f"(SELECT count(*) FROM buying_group_members m WHERE m.tenant_id = g.tenant_id "
                    f"AND m.buying_group_id = g.id AND NOT m.is_removed "
                    f"AND m.role_id = {params.add(UUID(c['roleId']))}::uuid)")
        parts.append(f"{left} {COMPARISONS[c['operator']]} {params.add(str(c['value']))}::numeric")
    joiner = " AND " if rule.get("match", "ALL") == "ALL" else " OR "
    return "(" + joiner.join(parts) + ")" if parts else "false"


async def apply_entry_rules(conn: Connection, tenant_id: UUID,
                            group_ids: Sequence[UUID] | None) -> list[tuple[UUID, UUID, UUID]]:
    """Move groups whose next stage's entry rule now holds, along allowed transitions only,
    at most one step per pass. Returns (group, from stage, to stage) for each move."""
    rows = await conn.fetch(
        f"{_SELECT} WHERE m.tenant_id = $1 AND m.status = 'LIVE' AND EXISTS "
        "(SELECT 1 FROM stages s WHERE s.stage_model_id = m.id AND s.entry_rule IS NOT NULL)",
        tenant_id)
    moves: list[tuple[UUID, UUID, UUID]] = []
    moved: set[UUID] = set()
    for model in (model_from(r) for r in rows):
        by_key = model.by_key()
        for source in model.stages:
            targets = sorted((by_key[k] for k in source.transitions_to
                              if k in by_key and by_key[k].entry_rule), key=lambda s: s.position)
            for target in targets:
                params = SqlParams()
                assert target.entry_rule is not None
                condition = rule_sql(target.entry_rule, params)
                scope = (f"AND g.id = ANY({params.add(list(group_ids))}::uuid[])"
                         if group_ids is not None else "")
                skip = f"AND NOT (g.id = ANY({params.add(list(moved))}::uuid[]))"
                result = await conn.fetch(
                    f"""WITH moved AS (
                          UPDATE buying_groups g SET stage_id = {params.add(target.id)},
                                 stage_entered_at = now(), updated_at = now()
                           WHERE g.tenant_id = {params.add(tenant_id)}
                             AND g.stage_id = {params.add(source.id)} {scope} {skip}
                             AND {condition}
                          RETURNING g.tenant_id, g.id)
                        INSERT INTO buying_group_stage_history
                               (tenant_id, buying_group_id, from_stage_id, to_stage_id, changed_by)
                        SELECT tenant_id, id, {params.add(source.id)}::uuid,
                               {params.add(target.id)}::uuid, 'RULE'
                          FROM moved
                        RETURNING buying_group_id""",
                    *params.values)
                for r in result:
                    moved.add(r["buying_group_id"])
                    moves.append((r["buying_group_id"], source.id, target.id))
    return moves


@dataclass(frozen=True)
class Restaged:
    processed: int                                  # groups looked at
    last_id: UUID | None                            # where the next chunk starts
    moves: list[tuple[UUID, UUID | None, UUID | None]]  # (group, from stage, to stage)


async def restage_chunk(conn: Connection, tenant_id: UUID, interest_id: UUID,
                        entry_stage_id: UUID | None, model_stage_ids: Sequence[UUID],
                        after: UUID | None, limit: int) -> Restaged:
    """The next `limit` groups of the solution interest, by id after `after`: those in no stage
    of the model (`model_stage_ids`) go to its entry stage, recorded in their history as the
    SYSTEM's move; with no model (`entry_stage_id` None) every group leaves its stage, and its
    history stays."""
    chunk = await conn.fetch(
        """SELECT id, stage_id FROM buying_groups
            WHERE tenant_id = $1 AND solution_interest_id = $2 AND ($3::uuid IS NULL OR id > $3)
            ORDER BY id LIMIT $4 FOR UPDATE""", tenant_id, interest_id, after, limit)
    if not chunk:
        return Restaged(0, None, [])
    moved = await conn.fetch(
        """UPDATE buying_groups g
              SET stage_id = $3, updated_at = now(),
                  stage_entered_at = CASE WHEN $3::uuid IS NULL THEN NULL ELSE now() END
             FROM unnest($2::uuid[], $5::uuid[]) AS c (id, stage_id)
            WHERE g.tenant_id = $1 AND g.id = c.id AND c.stage_id IS DISTINCT FROM $3
              AND (c.stage_id IS NULL OR NOT (c.stage_id = ANY($4::uuid[])))
        RETURNING g.id, c.stage_id AS from_stage""",
        tenant_id, [r["id"] for r in chunk], entry_stage_id, list(model_stage_ids),
        [r["stage_id"] for r in chunk])
    if entry_stage_id is not None and moved:
        await conn.execute(
            """INSERT INTO buying_group_stage_history (tenant_id, buying_group_id, from_stage_id,
                                                       to_stage_id, changed_by)
               SELECT $1, id, from_stage, $2, 'SYSTEM'
                 FROM unnest($3::uuid[], $4::uuid[]) AS m (id, from_stage)""",
            tenant_id, entry_stage_id, [r["id"] for r in moved], [r["from_stage"] for r in moved])
    return Restaged(len(chunk), chunk[-1]["id"],
                    [(r["id"], r["from_stage"], entry_stage_id) for r in moved])
