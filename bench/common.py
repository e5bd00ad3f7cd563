"""Shared set-up for the benchmarks: a fresh database on the configured (or embedded) server."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.db import Database, create_pool, drop_database, ensure_database  # noqa: E402
from service.embedded import EmbeddedServices, start_missing, with_database  # noqa: E402
from service.migrate import migrate  # noqa: E402


def servers() -> EmbeddedServices:
    return start_missing(ROOT / ".data" / "bench", os.environ.get("DATABASE_URL"),
                         os.environ.get("REDIS_URL"))


@asynccontextmanager
async def fresh_database(services: EmbeddedServices) -> AsyncIterator[tuple[str, Database]]:
    assert services.database_url
    name = f"bg_bench_{uuid.uuid4().hex[:8]}"
    await ensure_database(services.database_url, name)
    url = with_database(services.database_url, name)
    await migrate(url)
    # Benchmarks build large data sets in single statements.
    pool = await create_pool(url, min_size=1, max_size=4, command_timeout=3600)
    try:
        yield url, Database(pool)
    finally:
        await pool.close()
        await drop_database(services.database_url, name)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
