"""The event log (migration 0016): a tenant's change events, numbered 1, 2, 3... in commit order.

A change appends its events in its own transaction (an outbox), taking the tenant's counter row
last, just before it commits: two writers of one tenant queue on that row for the moment
between their append and their commit, so positions commit in order and a reader that has
seen position n has seen every position before it. That is what lets a subscriber resume from
a cursor with no gap, and the relay publish without missing a late commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from service.infra.db import Connection

NOTIFY_CHANNEL = "bg_events"

_APPEND = """
WITH counter AS (
    INSERT INTO event_positions AS p (tenant_id, last_position) VALUES ($1, $2)
    ON CONFLICT (tenant_id) DO UPDATE SET last_position = p.last_position + EXCLUDED.last_position
    RETURNING last_position
), appended AS (
    INSERT INTO events (tenant_id, position, kind, buying_group_id, solution_interest_id,
                        person_id, role_id, previous_value, new_value, occurred_at)
    SELECT $1, c.last_position - $2 + r.ord, r.kind, r.buying_group_id, r.solution_interest_id,
           r.person_id, r.role_id, r.previous_value, r.new_value, r.occurred_at
      FROM counter c,
           jsonb_to_recordset($3::jsonb) AS r (ord bigint, kind text, buying_group_id uuid,
               solution_interest_id uuid, person_id uuid, role_id uuid, previous_value jsonb,
               new_value jsonb, occurred_at timestamptz)
)
SELECT last_position, pg_notify($4, $1::text) FROM counter
"""


async def append(conn: Connection, tenant_id: UUID, rows: Sequence[dict[str, Any]]) -> int:
    """Append events (dicts of the columns) in this tenant transaction; the last position
    given (the events hold the positions up to it, in order). Call it as the transaction's last
    statement: it holds the tenant's counter row until the commit."""
    numbered = [{**row, "ord": i} for i, row in enumerate(rows, start=1)]
    last: int = await conn.fetchval(_APPEND, tenant_id, len(rows), numbered, NOTIFY_CHANNEL)
    return last


def payload(row: asyncpg.Record) -> dict[str, Any]:
    """An event as the relay publishes it and subscribers read it: ids as strings."""
    def text(value: Any) -> str | None:
        return None if value is None else str(value)

    return {"tenant_id": str(row["tenant_id"]), "position": row["position"],
            "kind": row["kind"], "buying_group_id": text(row["buying_group_id"]),
            "solution_interest_id": text(row["solution_interest_id"]),
            "person_id": text(row["person_id"]), "role_id": text(row["role_id"]),
            "previous_value": row["previous_value"], "new_value": row["new_value"],
            "occurred_at": row["occurred_at"].isoformat(), "actor": row["actor"]}


@dataclass(frozen=True)
class Extent:
    """What the log holds for a tenant: positions after `first - 1`, up to `last`."""
    first: int | None  # the oldest still kept (None: none kept)
    last: int          # the newest ever written (0: none yet)

    def expired(self, after: int) -> bool:
        """Whether events after `after` were dropped by retention (a resume would miss them)."""
        if self.first is not None:
            return after < self.first - 1
        return after < self.last


async def extent(conn: Connection, tenant_id: UUID) -> Extent:
    row = await conn.fetchrow(
        """SELECT (SELECT min(position) FROM events WHERE tenant_id = $1) AS first,
                  coalesce((SELECT last_position FROM event_positions WHERE tenant_id = $1), 0)
                  AS last""", tenant_id)
    assert row is not None
    return Extent(row["first"], row["last"])


@dataclass(frozen=True)
class EventFilter:
    kinds: Sequence[str] | None = None
    buying_group_ids: Sequence[UUID] | None = None
    solution_interest_ids: Sequence[UUID] | None = None


_COLUMNS = """e.tenant_id, e.position, e.kind, e.buying_group_id,
              coalesce(e.solution_interest_id, g.solution_interest_id) AS solution_interest_id,
              e.person_id, e.role_id, e.previous_value, e.new_value, e.occurred_at, e.actor"""


async def events_after(conn: Connection, tenant_id: UUID, after: int, limit: int,
                       where: EventFilter | None = None, upto: int | None = None
                       ) -> list[asyncpg.Record]:
    """The tenant's events after position `after` (and up to `upto`) that match, oldest
    first."""
    f = where or EventFilter()
    return await conn.fetch(
        f"""SELECT {_COLUMNS}
              FROM events e
              LEFT JOIN buying_groups g
                ON g.tenant_id = e.tenant_id AND g.id = e.buying_group_id
                   AND e.solution_interest_id IS NULL
             WHERE e.tenant_id = $1 AND e.position > $2 AND e.position <= $7
               AND ($4::text[] IS NULL OR e.kind = ANY($4))
               AND ($5::uuid[] IS NULL OR e.buying_group_id = ANY($5))
               AND ($6::uuid[] IS NULL
                    OR coalesce(e.solution_interest_id, g.solution_interest_id) = ANY($6))
             ORDER BY e.position
             LIMIT $3""",
        tenant_id, after, limit, list(f.kinds) if f.kinds is not None else None,
        list(f.buying_group_ids) if f.buying_group_ids is not None else None,
        list(f.solution_interest_ids) if f.solution_interest_ids is not None else None,
        upto if upto is not None else 2**63 - 1)


async def count_events(conn: Connection, tenant_id: UUID, where: EventFilter | None = None
                       ) -> int:
    f = where or EventFilter()
    count: int = await conn.fetchval(
        """SELECT count(*) FROM events e
             LEFT JOIN buying_groups g
               ON g.tenant_id = e.tenant_id AND g.id = e.buying_group_id
                  AND e.solution_interest_id IS NULL
            WHERE e.tenant_id = $1
              AND ($2::text[] IS NULL OR e.kind = ANY($2))
              AND ($3::uuid[] IS NULL OR e.buying_group_id = ANY($3))
              AND ($4::uuid[] IS NULL
                   OR coalesce(e.solution_interest_id, g.solution_interest_id) = ANY($4))""",
        tenant_id, list(f.kinds) if f.kinds is not None else None,
        list(f.buying_group_ids) if f.buying_group_ids is not None else None,
        list(f.solution_interest_ids) if f.solution_interest_ids is not None else None)
    return count


async def events_at(conn: Connection, tenant_id: UUID, positions: Sequence[int]
                    ) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT {_COLUMNS} FROM events e
              LEFT JOIN buying_groups g
                ON g.tenant_id = e.tenant_id AND g.id = e.buying_group_id
                   AND e.solution_interest_id IS NULL
             WHERE e.tenant_id = $1 AND e.position = ANY($2) ORDER BY e.position""",
        tenant_id, list(positions))


async def delete_before(conn: Connection, days: int) -> int:
    """Retention (a system transaction): every tenant's events older than `days` days."""
    status = await conn.execute(
        "DELETE FROM events WHERE occurred_at < now() - make_interval(days => $1)", days)
    return int(status.split()[-1])


# The relay (system transactions).

async def pending_tenants(conn: Connection) -> list[UUID]:
    """Tenants with committed events the relay has not published yet."""
    rows = await conn.fetch(
        """SELECT p.tenant_id FROM event_positions p
             LEFT JOIN event_relay r ON r.tenant_id = p.tenant_id
            WHERE p.last_position > coalesce(r.relayed_position, 0)""")
    return [r["tenant_id"] for r in rows]


async def claim_relay(conn: Connection, tenant_id: UUID) -> int:
    """The tenant's relayed position, its row locked to this transaction: relays of several
    processes take turns per tenant, and each reads what the one before it left."""
    await conn.execute("INSERT INTO event_relay (tenant_id) VALUES ($1) ON CONFLICT DO NOTHING",
                       tenant_id)
    position: int = await conn.fetchval(
        "SELECT relayed_position FROM event_relay WHERE tenant_id = $1 FOR UPDATE", tenant_id)
    return position


async def unrelayed(conn: Connection, tenant_id: UUID, after: int, limit: int
                    ) -> list[asyncpg.Record]:
    return await events_after(conn, tenant_id, after, limit)


async def mark_relayed(conn: Connection, tenant_id: UUID, position: int) -> None:
    await conn.execute("UPDATE event_relay SET relayed_position = $2 WHERE tenant_id = $1",
                       tenant_id, position)


@dataclass(frozen=True)
class RelayLag:
    """Across tenants: committed events the relay has not published yet, and how long the
    oldest of them has waited (None: none waits)."""

    events: int
    oldest_seconds: float | None


async def relay_lag(conn: Connection) -> RelayLag:
    """For /metrics (a system transaction)."""
    row = await conn.fetchrow(
        """SELECT coalesce(sum(p.last_position - coalesce(r.relayed_position, 0)), 0) AS behind,
                  extract(epoch FROM now() - min(e.occurred_at))::float8 AS age
             FROM event_positions p
             LEFT JOIN event_relay r ON r.tenant_id = p.tenant_id
             LEFT JOIN events e ON e.tenant_id = p.tenant_id
                               AND e.position = coalesce(r.relayed_position, 0) + 1
            WHERE p.last_position > coalesce(r.relayed_position, 0)""")
    assert row is not None
    return RelayLag(int(row["behind"]), row["age"])
