"""Job messages in Redis are JSON: a pickle placed there is dropped, never run."""

from __future__ import annotations

import pickle
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from arq.connections import ArqRedis
from arq.constants import job_key_prefix

from service.infra.config import Settings
from service.infra.queue import RUN_JOB, enqueue
from tests.support import run_jobs


class Planted:
    """What an attacker able to write to Redis would plant: unpickling it creates a file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


async def test_messages_are_json_and_a_planted_pickle_never_runs(
    settings: Settings, redis: ArqRedis, tmp_path: Path
) -> None:
    job_id = uuid.uuid4()
    assert await enqueue(redis, settings.queue_name, job_id)
    raw = await redis.get(f"{job_key_prefix}{job_id}")
    message = orjson.loads(raw)
    assert message["f"] == RUN_JOB and message["a"] == [str(job_id)]

    marker = tmp_path / "pwned"
    planted = f"planted-{uuid.uuid4().hex}"
    await redis.set(f"{job_key_prefix}{planted}", pickle.dumps(
        {"t": 1, "f": RUN_JOB, "a": [Planted(marker)], "k": {}, "et": int(time.time() * 1000)}))
    await redis.zadd(settings.queue_name, {planted: time.time() * 1000})
    await run_jobs(settings)  # the worker reads the queue, the planted message included
    assert not marker.exists()
    assert await redis.zscore(settings.queue_name, planted) is None  # dropped, not retried
