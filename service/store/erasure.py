"""Erasure (migration 0029): a person's data removed, their id out of the event log, and a
tombstone (a hash of the tenant and the external id) that keeps syncs and imports from
bringing them back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from service.infra.db import Connection


@dataclass(frozen=True)
class ErasedPeople:
    person_ids: list[UUID]
    groups: list[UUID]        # groups in which they were active members: to rescore
    activities: int           # activities deleted


@dataclass(frozen=True)
class DeletedGroup:
    id: UUID
    solution_interest_id: UUID


async def erase_people(conn: Connection, tenant_id: UUID, person_ids: Sequence[UUID]
                       ) -> ErasedPeople:
    """Remove these people (those that exist) and everything kept about them, in this
    transaction: their activities with their daily counts and tallies, their memberships and
    dismissed recommendations (with the person row), and their id in the event log."""
    people = await conn.fetch(
        "SELECT id, external_id FROM people WHERE tenant_id = $1 AND id = ANY($2) FOR UPDATE",
        tenant_id, list(person_ids))
    ids = [r["id"] for r in people]
    leads = [r["external_id"] for r in people]
    if not ids:
        return ErasedPeople([], [], 0)
    groups = [r["buying_group_id"] for r in await conn.fetch(
        """SELECT DISTINCT buying_group_id FROM buying_group_members
            WHERE tenant_id = $1 AND person_id = ANY($2) AND NOT is_removed
            ORDER BY buying_group_id""", tenant_id, ids)]
    deleted = await conn.execute(
        "DELETE FROM activities WHERE tenant_id = $1 AND lead_id = ANY($2)", tenant_id, leads)
    # After the activities: their delete adds (negative) deltas for these leads.
    for table in ("activity_daily", "activity_tallies", "activity_tally_deltas"):
        await conn.execute(f"DELETE FROM {table} WHERE tenant_id = $1 AND lead_id = ANY($2)",
                           tenant_id, leads)
    await conn.execute(
        "UPDATE events SET person_id = NULL WHERE tenant_id = $1 AND person_id = ANY($2)",
        tenant_id, ids)
    await conn.execute(
        """INSERT INTO erasures (tenant_id, kind, key_hash)
           SELECT $1, 'PERSON', erasure_key($1, x) FROM unnest($2::text[]) AS x
           ON CONFLICT DO NOTHING""", tenant_id, leads)
    await conn.execute("DELETE FROM people WHERE tenant_id = $1 AND id = ANY($2)",
                       tenant_id, ids)
    return ErasedPeople(ids, groups, int(deleted.split()[-1]))


async def lock_account(conn: Connection, tenant_id: UUID, account_id: UUID
                       ) -> tuple[str, list[UUID]] | None:
    """The account's external id and its people's ids, the account locked; None: no such
    account."""
    external_id = await conn.fetchval(
        "SELECT external_id FROM accounts WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
        tenant_id, account_id)
    if external_id is None:
        return None
    people = await conn.fetch("SELECT id FROM people WHERE tenant_id = $1 AND account_id = $2",
                              tenant_id, account_id)
    return external_id, [r["id"] for r in people]


async def erase_account(conn: Connection, tenant_id: UUID, account_id: UUID, external_id: str
                        ) -> list[DeletedGroup]:
    """Remove the account (its people already erased) with its buying groups, leaving a
    tombstone; the values of its groups' CREATED and DELETED events (their names, which name
    the account) are taken out of the event log. The deleted groups."""
    rows = await conn.fetch(
        """DELETE FROM buying_groups WHERE tenant_id = $1 AND account_id = $2
           RETURNING id, solution_interest_id""", tenant_id, account_id)
    groups = [DeletedGroup(r["id"], r["solution_interest_id"]) for r in rows]
    if groups:
        await conn.execute(
            """UPDATE events SET previous_value = NULL, new_value = NULL
                WHERE tenant_id = $1 AND buying_group_id = ANY($2)
                  AND kind IN ('CREATED', 'DELETED')""", tenant_id, [g.id for g in groups])
    await conn.execute(
        """INSERT INTO erasures (tenant_id, kind, key_hash)
           VALUES ($1, 'ACCOUNT', erasure_key($1, $2)) ON CONFLICT DO NOTHING""",
        tenant_id, external_id)
    await conn.execute("DELETE FROM accounts WHERE tenant_id = $1 AND id = $2",
                       tenant_id, account_id)
    return groups


async def erased(conn: Connection, tenant_id: UUID, kind: str, external_ids: Sequence[str]
                 ) -> set[str]:
    """Which of these external ids were erased (people: kind PERSON; accounts: ACCOUNT)."""
    if not external_ids:
        return set()
    rows = await conn.fetch(
        """SELECT x FROM unnest($3::text[]) AS x
            WHERE EXISTS (SELECT 1 FROM erasures e WHERE e.tenant_id = $1 AND e.kind = $2
                             AND e.key_hash = erasure_key($1, x))""",
        tenant_id, kind, list(external_ids))
    return {r["x"] for r in rows}
