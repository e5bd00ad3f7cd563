"""Two deployments pointed at the same Redis database never share work: each names its job
queue after its database's identity, so one's worker never takes the other's job message."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from arq.connections import ArqRedis
from asgi_lifespan import LifespanManager

from service.api.nodes import decode_id
from service.app import create_app
from service.dev.embedded import EmbeddedServices, with_database
from service.infra.config import Settings
from service.infra.db import Database, create_pool, drop_database, ensure_database
from service.infra.migrate import migrate
from service.infra.queue import enqueue
from service.store import deployment as deployment_store
from service.store import jobs as job_store
from service.store.jobs import JobKind
from service.usecases.deployment import resolved
from tests.support import TenantKeys, end_unfinished_jobs, make_tenant, run_jobs


@pytest.fixture
async def second_database(servers: EmbeddedServices) -> AsyncIterator[str]:
    """Another deployment's database on the same server (as its owner)."""
    assert servers.database_url
    name = f"bg_other_{uuid.uuid4().hex[:8]}"
    await ensure_database(servers.database_url, name)
    url = with_database(servers.database_url, name)
    await migrate(url)
    yield url
    await drop_database(servers.database_url, name)


def deployment(settings: Settings, url: str) -> Settings:
    """A deployment's settings as an operator leaves them: no QUEUE_NAME."""
    return settings.model_copy(update={"database_url": url, "queue_name": "",
                                       "allow_privileged_database_login": True})


async def queued(redis: ArqRedis, queue: str) -> set[str]:
    return {member.decode() for member in await redis.zrange(queue, 0, -1)}


async def test_a_worker_never_takes_another_deployments_job(
    settings: Settings, database_url: str, second_database: str, redis: ArqRedis
) -> None:
    ours = await resolved(deployment(settings, database_url), database_url)
    theirs = await resolved(deployment(settings, second_database), second_database)
    assert ours.queue_name != theirs.queue_name
    pool = await create_pool(second_database, min_size=1, max_size=2)
    try:
        other = Database(pool)
        async with other.system() as conn:
            identity = await deployment_store.deployment_id(conn)
        assert theirs.queue_name == f"buying-groups:{identity}:queue"
        tenant = await make_tenant(other, "Theirs")
        async with other.tenant(tenant.id) as conn:
            job = await job_store.create_job(conn, tenant.id, JobKind.REFRESH_SCORES)
        assert await enqueue(redis, theirs.queue_name, job.id)

        await run_jobs(ours)  # our worker, on the Redis database both use
        assert str(job.id) in await queued(redis, theirs.queue_name)  # untouched
        async with other.as_login() as conn:
            waiting = await job_store.get_job(conn, job.id)
            assert waiting is not None and waiting.status.value == "QUEUED"

        await run_jobs(theirs)
        async with other.as_login() as conn:
            done = await job_store.get_job(conn, job.id)
            assert done is not None and done.status.value == "SUCCEEDED"
    finally:
        await pool.close()
        await redis.delete(ours.queue_name, theirs.queue_name)


async def test_the_api_queues_jobs_under_its_databases_name(
    settings: Settings, database_url: str, tenant: TenantKeys, db: Database, redis: ArqRedis
) -> None:
    async with db.system() as conn:
        queue = f"buying-groups:{await deployment_store.deployment_id(conn)}:queue"
    app = create_app(deployment(settings, database_url))
    try:
        async with LifespanManager(app) as manager, httpx.AsyncClient(
                transport=httpx.ASGITransport(app=manager.app), base_url="http://t") as client:
            answer = (await client.post(
                "/graphql", json={"query": "mutation { refreshScores(input: {}) { job { id } } }"},
                headers={"Authorization": f"Bearer {tenant.write}"})).json()
        job = decode_id(answer["data"]["refreshScores"]["job"]["id"], "BuyingGroupJob", [])
        assert str(job) in await queued(redis, queue)
    finally:
        await redis.delete(queue)
        await end_unfinished_jobs(db, tenant.id)


async def test_a_job_is_never_queued_under_an_unresolved_name(redis: ArqRedis) -> None:
    with pytest.raises(RuntimeError, match="not resolved"):
        await enqueue(redis, "", uuid.uuid4())
    assert await redis.zcard("") == 0
