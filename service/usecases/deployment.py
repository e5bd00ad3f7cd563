"""The job queue's name, from the database's identity unless QUEUE_NAME says otherwise: two
deployments pointed at the same Redis database (a common mistake, and what parallel test runs
do) never take each other's job messages. Every process resolves it when it starts."""

from __future__ import annotations

from service.infra.config import Settings
from service.infra.db import Database, create_pool
from service.store import deployment as deployment_store


async def with_queue(settings: Settings, db: Database) -> Settings:
    if settings.queue_name:
        return settings
    async with db.system() as conn:
        identity = await deployment_store.deployment_id(conn)
    return settings.model_copy(update={"queue_name": f"buying-groups:{identity}:queue"})


async def resolved(settings: Settings, database_url: str) -> Settings:
    """`with_queue` for a process that has no pool yet (the worker, before arq's)."""
    if settings.queue_name:
        return settings
    pool = await create_pool(database_url, min_size=1, max_size=1,
                             statement_cache_size=settings.db_statement_cache_size)
    try:
        return await with_queue(settings, Database(pool))
    finally:
        await pool.close()
