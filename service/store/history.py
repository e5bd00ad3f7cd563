"""Retention of the histories every group keeps: daily score snapshots and stage changes."""

from __future__ import annotations

from service.infra.db import Connection


async def delete_history_before(conn: Connection, days: int) -> int:
    """Every tenant's snapshots and stage changes older than `days` days; rows deleted. A
    group's current stage stays whatever its history keeps."""
    snapshots = await conn.execute(
        "DELETE FROM buying_group_score_history WHERE day < current_date - $1::int", days)
    changes = await conn.execute(
        """DELETE FROM buying_group_stage_history
            WHERE changed_at < now() - make_interval(days => $1)""", days)
    return int(snapshots.split()[-1]) + int(changes.split()[-1])
