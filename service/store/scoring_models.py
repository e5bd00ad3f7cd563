"""Scoring models: versioned per tenant, exactly one ACTIVE; they hold the mode, the window and
per-type weights (a type without its own weight uses the catalogue's)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from service.infra.db import Connection
from service.store.rows import columns
from service.store.sql import SqlParams, set_clause


@dataclass(frozen=True)
class ScoringModel:
    tenant_id: UUID
    id: UUID
    name: str
    version: int
    status: str
    mode: str
    window_days: int
    weights: dict[str, int]
    activated_at: datetime | None
    created_at: datetime
    updated_at: datetime

    def weight_of(self, activity_type_id: UUID, catalogue_weight: int) -> int:
        return self.weights.get(str(activity_type_id), catalogue_weight)


def model_from(row: Any) -> ScoringModel:
    return ScoringModel(**columns(ScoringModel, row))


async def list_models(conn: Connection, tenant_id: UUID) -> list[ScoringModel]:
    rows = await conn.fetch(
        "SELECT * FROM scoring_models WHERE tenant_id = $1 ORDER BY version DESC", tenant_id
    )
    return [model_from(r) for r in rows]


async def models_by_ids(conn: Connection, ids: list[UUID]) -> dict[UUID, ScoringModel]:
    rows = await conn.fetch("SELECT * FROM scoring_models WHERE id = ANY($1)", ids)
    return {r["id"]: model_from(r) for r in rows}


async def active_model(conn: Connection, tenant_id: UUID) -> ScoringModel | None:
    row = await conn.fetchrow(
        "SELECT * FROM scoring_models WHERE tenant_id = $1 AND status = 'ACTIVE'", tenant_id
    )
    return model_from(row) if row else None


async def _lock(conn: Connection, tenant_id: UUID) -> None:
    # Versions and the single ACTIVE model are per tenant: serialise their writers.
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('scoring_models:' || $1::uuid::text))", tenant_id
    )


async def create_model(
    conn: Connection, tenant_id: UUID, *, name: str, mode: str, window_days: int,
    weights: dict[str, int],
) -> ScoringModel:
    await _lock(conn, tenant_id)
    row = await conn.fetchrow(
        """INSERT INTO scoring_models (tenant_id, name, version, mode, window_days, weights)
           SELECT $1, $2, coalesce(max(version), 0) + 1, $3, $4, $5
             FROM scoring_models WHERE tenant_id = $1
        RETURNING *""",
        tenant_id, name, mode, window_days, weights,
    )
    return model_from(row)


async def update_model(conn: Connection, model_id: UUID, changes: dict[str, Any]
                       ) -> ScoringModel | None:
    params = SqlParams()
    row = await conn.fetchrow(
        f"UPDATE scoring_models SET {set_clause(changes, params)} "
        f"WHERE id = {params.add(model_id)} AND status = 'DRAFT' RETURNING *",
        *params.values,
    )
    return model_from(row) if row else None


async def activate_model(conn: Connection, tenant_id: UUID, model_id: UUID) -> ScoringModel:
    """Make the model ACTIVE and archive the one that was."""
    await _lock(conn, tenant_id)
    await conn.execute(
        """UPDATE scoring_models SET status = 'ARCHIVED', updated_at = now()
            WHERE tenant_id = $1 AND status = 'ACTIVE' AND id <> $2""",
        tenant_id, model_id,
    )
    row = await conn.fetchrow(
        """UPDATE scoring_models SET status = 'ACTIVE', activated_at = now(), updated_at = now()
            WHERE id = $1 RETURNING *""",
        model_id,
    )
    return model_from(row)
