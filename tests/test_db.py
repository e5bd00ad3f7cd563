"""Transactions that PostgreSQL aborts for a transient reason run again."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from service.db import Database, retrying


async def test_a_transaction_that_lost_a_deadlock_runs_again(db: Database) -> None:
    other_holds_1, main_holds_2 = asyncio.Event(), asyncio.Event()

    async def other() -> None:  # takes lock 1, then waits for lock 2
        async with db.as_login() as conn:
            await conn.execute("SET LOCAL deadlock_timeout = '10s'")  # never the victim
            await conn.execute("SELECT pg_advisory_xact_lock(1)")
            other_holds_1.set()
            await main_holds_2.wait()
            await conn.execute("SELECT pg_advisory_xact_lock(2)")

    contender = asyncio.create_task(other())
    await other_holds_1.wait()
    attempts = 0
    async for attempt in retrying():
        with attempt:
            async with db.as_login() as conn:  # takes lock 2, then waits for lock 1: a cycle
                attempts += 1
                await conn.execute("SET LOCAL deadlock_timeout = '50ms'")
                await conn.execute("SELECT pg_advisory_xact_lock(2)")
                main_holds_2.set()
                await asyncio.sleep(0.3)  # the other transaction now waits for lock 2
                await conn.execute("SELECT pg_advisory_xact_lock(1)")
    await contender
    assert attempts == 2


async def test_other_errors_are_not_retried(db: Database) -> None:
    attempts = 0
    with pytest.raises(asyncpg.DivisionByZeroError):
        async for attempt in retrying():
            with attempt:
                attempts += 1
                await db.fetchval("SELECT 1 / 0")
    assert attempts == 1
