"""Putting job ids on the arq queue. Jobs go by name, so the API never imports worker code.

Messages are JSON (a job id and arq's bookkeeping), never pickles: arq's default would run
whatever code a pickle in Redis names, so anyone able to write to Redis would run code in the
worker. A message that is not JSON is dropped unread."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import orjson
from arq import create_pool
from arq.connections import ArqRedis, RedisSettings

RUN_JOB = "run_job"


def serialize(message: dict[str, Any]) -> bytes:
    return orjson.dumps(message)


def deserialize(data: bytes) -> dict[str, Any]:
    message: dict[str, Any] = orjson.loads(data)
    if not isinstance(message, dict):
        raise ValueError("an arq message is a JSON object")
    return message


# What Worker and create_pool take, so both ends speak JSON.
SERIALIZERS: dict[str, Any] = {"job_serializer": serialize, "job_deserializer": deserialize}


async def connect(redis_url: str) -> ArqRedis:
    """A Redis pool whose arq messages are JSON."""
    return await create_pool(RedisSettings.from_dsn(redis_url), **SERIALIZERS)


def _named(queue_name: str) -> str:
    if not queue_name:  # a process that did not resolve it would share one with any other
        raise RuntimeError("the queue name is not resolved (service/usecases/deployment.py)")
    return queue_name


async def enqueue(redis: ArqRedis, queue_name: str, job_id: UUID) -> bool:
    """Queue a job row for a worker; False when arq already holds that job id."""
    queued = await redis.enqueue_job(
        RUN_JOB, str(job_id), _job_id=str(job_id), _queue_name=_named(queue_name)
    )
    return queued is not None


async def enqueue_wakeup(redis: ArqRedis, queue_name: str, job_id: UUID, attempt: int,
                         delay_seconds: float) -> bool:
    """Wake a worker when a job's retry is due. Its own id would clash with the arq job still
    running it, so the message has one per attempt; whichever worker wakes claims fairly."""
    queued = await redis.enqueue_job(
        RUN_JOB, str(job_id), _job_id=f"{job_id}:retry:{attempt}", _queue_name=_named(queue_name),
        _defer_by=delay_seconds)
    return queued is not None
