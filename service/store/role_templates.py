"""Role templates and their ordered role entries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from service.domain.conditions import ConditionGroup
from service.domain.templates import Entry, entries_to_rows
from service.infra.db import Connection
from service.store.paging import Page, page_by_name
from service.store.roles import Role, role_from_json
from service.store.rows import columns
from service.store.sql import SqlParams, like_pattern


@dataclass(frozen=True)
class RoleTemplate:
    tenant_id: UUID
    id: UUID
    name: str
    description: str | None
    status: str
    copied_from_id: UUID | None
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime
    entries: tuple[Entry, ...]
    member_scope: str = "ACCOUNT"  # or ACCOUNT_AND_DESCENDANTS: the sub-accounts' people too


class TemplateNameTaken(Exception):
    pass


_COLUMNS = """
t.*, coalesce((
    SELECT jsonb_agg(jsonb_build_object(
               'role_id', e.role_id, 'weighting', e.weighting,
               'members_required', e.members_required,
               'counts_toward_completeness', e.counts_toward_completeness,
               'conditions', e.conditions) ORDER BY e.position)
      FROM role_template_entries e
     WHERE e.tenant_id = t.tenant_id AND e.role_template_id = t.id), '[]') AS entries"""
_SELECT = f"SELECT {_COLUMNS} FROM role_templates t"


def template_from(row: Any) -> RoleTemplate:
    data = columns(RoleTemplate, row)
    data["entries"] = tuple(
        Entry(
            role_id=UUID(e["role_id"]), weighting=e["weighting"],
            members_required=e["members_required"],
            counts_toward_completeness=e["counts_toward_completeness"],
            conditions=ConditionGroup.from_json(e["conditions"]) if e["conditions"] else None,
        )
        for e in data["entries"]
    )
    return RoleTemplate(**data)


async def templates_by_ids(conn: Connection, ids: list[UUID]) -> dict[UUID, RoleTemplate]:
    rows = await conn.fetch(f"{_SELECT} WHERE t.id = ANY($1)", ids)
    return {r["id"]: template_from(r) for r in rows}


async def templates_with_roles(
    conn: Connection, ids: list[UUID]
) -> tuple[dict[UUID, RoleTemplate], dict[UUID, Role]]:
    """Templates and the roles they use, in one statement (a browse page needs both)."""
    rows = await conn.fetch(
        f"""SELECT q.*, coalesce((
                SELECT jsonb_agg(to_jsonb(r)) FROM roles r
                 WHERE r.tenant_id = q.tenant_id AND r.id IN (
                     SELECT e.role_id FROM role_template_entries e
                      WHERE e.tenant_id = q.tenant_id AND e.role_template_id = q.id)), '[]')
                AS role_rows
              FROM ({_SELECT} WHERE t.id = ANY($1)) q""",
        ids,
    )
    templates: dict[UUID, RoleTemplate] = {}
    roles: dict[UUID, Role] = {}
    for row in rows:
        data = dict(row)
        for role_row in data.pop("role_rows"):
            role = role_from_json(role_row)
            roles[role.id] = role
        templates[data["id"]] = template_from(data)
    return templates, roles


async def get_template(conn: Connection, template_id: UUID) -> RoleTemplate | None:
    return (await templates_by_ids(conn, [template_id])).get(template_id)


async def list_templates(
    conn: Connection, tenant_id: UUID, *, search: str | None, status: str | None, limit: int,
    after: tuple[str, UUID] | None,
) -> Page[RoleTemplate]:
    params = SqlParams()
    where = f"t.tenant_id = {params.add(tenant_id)}"
    if search:
        where += f" AND t.name ILIKE {params.add(like_pattern(search))}"
    if status:
        where += f" AND t.status = {params.add(status)}"
    return await page_by_name(conn, table="role_templates", alias="t", columns=_COLUMNS,
                              where=where, params=params, convert=template_from, limit=limit,
                              after=after)


async def _write_entries(conn: Connection, tenant_id: UUID, template_id: UUID,
                         entries: Sequence[Entry]) -> None:
    await conn.execute("DELETE FROM role_template_entries WHERE role_template_id = $1",
                       template_id)
    rows = entries_to_rows(entries)
    if rows:
        await conn.execute(
            """INSERT INTO role_template_entries
                   (tenant_id, role_template_id, position, role_id, weighting, members_required,
                    counts_toward_completeness, conditions)
               SELECT $1, $2, r.position, r.role_id, r.weighting, r.members_required,
                      r.counts_toward_completeness, r.conditions
                 FROM jsonb_to_recordset($3::jsonb) AS r (position int, role_id uuid,
                      weighting text, members_required int, counts_toward_completeness boolean,
                      conditions jsonb)""",
            tenant_id, template_id, [{**r, "role_id": str(r["role_id"])} for r in rows],
        )


async def create_template(
    conn: Connection, tenant_id: UUID, name: str, description: str | None,
    entries: Sequence[Entry], copied_from: UUID | None = None, member_scope: str = "ACCOUNT",
) -> RoleTemplate:
    try:
        async with conn.transaction():  # a savepoint: a taken name leaves the outer one usable
            template_id = await conn.fetchval(
                """INSERT INTO role_templates (tenant_id, name, description, copied_from_id,
                                               member_scope)
                   VALUES ($1, $2, $3, $4, $5) RETURNING id""",
                tenant_id, name, description, copied_from, member_scope,
            )
    except asyncpg.UniqueViolationError as exc:
        raise TemplateNameTaken from exc
    await _write_entries(conn, tenant_id, template_id, entries)
    template = await get_template(conn, template_id)
    assert template is not None
    return template


async def update_template(
    conn: Connection, template: RoleTemplate, name: str | None, description: str | None,
    set_description: bool, entries: Sequence[Entry] | None, member_scope: str | None = None,
) -> RoleTemplate:
    try:
        async with conn.transaction():
            await conn.execute(
                """UPDATE role_templates SET name = coalesce($2, name),
                          description = CASE WHEN $3 THEN $4 ELSE description END,
                          member_scope = coalesce($5, member_scope), updated_at = now()
                    WHERE id = $1""",
                template.id, name, set_description, description, member_scope,
            )
    except asyncpg.UniqueViolationError as exc:
        raise TemplateNameTaken from exc
    if entries is not None:
        await _write_entries(conn, template.tenant_id, template.id, entries)
    updated = await get_template(conn, template.id)
    assert updated is not None
    return updated


async def publish_template(conn: Connection, template_id: UUID) -> RoleTemplate:
    await conn.execute(
        """UPDATE role_templates SET status = 'LIVE', published_at = now(), updated_at = now()
            WHERE id = $1 AND status = 'DRAFT'""",
        template_id,
    )
    template = await get_template(conn, template_id)
    assert template is not None
    return template


async def delete_template(conn: Connection, template_id: UUID) -> None:
    await conn.execute("DELETE FROM role_templates WHERE id = $1 AND status = 'DRAFT'",
                       template_id)


async def lock_template(conn: Connection, template_id: UUID) -> RoleTemplate | None:
    """The template, locked against concurrent edits for the rest of the transaction."""
    await conn.execute("SELECT 1 FROM role_templates WHERE id = $1 FOR UPDATE", template_id)
    return await get_template(conn, template_id)
