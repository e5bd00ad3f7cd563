"""Retention of the histories every group keeps: daily score snapshots and stage changes."""

from __future__ import annotations

from service.infra.db import Connection


async def delete_history_before(conn: Connection, days: int) -> int:
    """Every tenant's snapshots and stage changes older than `days` days; rows deleted. A
    snapshot holds until the next one (migration 0033): each group keeps its latest before the
    cutoff, its scores on the cutoff's day. A group's current stage stays whatever its history
    keeps."""
    snapshots = await conn.execute(
        """DELETE FROM buying_group_score_history h
            WHERE h.day < current_date - $1::int
              AND EXISTS (SELECT 1 FROM buying_group_score_history n
                           WHERE n.tenant_id = h.tenant_id
                             AND n.buying_group_id = h.buying_group_id
                             AND n.day > h.day AND n.day <= current_date - $1::int)""", days)
    changes = await conn.execute(
        """DELETE FROM buying_group_stage_history
            WHERE changed_at < now() - make_interval(days => $1)""", days)
    return int(snapshots.split()[-1]) + int(changes.split()[-1])
