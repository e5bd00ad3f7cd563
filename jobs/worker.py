"""The arq worker: one task that runs a job row by id, and the cron jobs.

Shared clients live in the worker ctx, opened in on_startup and closed in on_shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from arq import cron
from arq.connections import RedisSettings
from arq.worker import Worker as ArqWorker

from jobs import activity_sync, buying_groups, runner, sweeper
from service.delivery.relay import EventRelay
from service.delivery.webhooks import WebhookSender
from service.infra import outages
from service.infra.config import Settings
from service.infra.db import Connection, Database, close_pool, create_pool
from service.infra.login import check_pool
from service.infra.queue import RUN_JOB, SERIALIZERS
from service.store import activities as activity_store
from service.store import alerts as alert_store
from service.store import audit as audit_store
from service.store import event_log, row_tallies
from service.store import exports as export_store
from service.store import history as history_store
from service.store import jobs as job_store
from service.store import overview as overview_store
from service.store.jobs import JobKind
from service.usecases.unit_of_work import SYSTEM, unit_of_work

log = logging.getLogger(__name__)

REDIS_AWAY_POLL_SECONDS = 1.0


class Worker(ArqWorker):
    """arq's worker, which ends for good when Redis fails one poll (its process exits); this
    one polls again until Redis is back. Jobs running meanwhile go on: a job's truth is its
    row, and the sweeper queues again whatever a restarted Redis forgot."""

    async def _poll_iteration(self) -> None:
        try:
            await super()._poll_iteration()
        except Exception as exc:
            if outages.away(exc) != outages.REDIS:
                raise
            log.warning("Redis away (%s): polling again in %s s", exc, REDIS_AWAY_POLL_SECONDS)
            await asyncio.sleep(REDIS_AWAY_POLL_SECONDS)

# A full rescoring adds at most two rows per overview cell; API writes one or two each.
TALLY_ROWS_BEFORE_COMPACTION = 500


async def run_job(ctx: dict[str, Any], job_id: str) -> int:
    """A message names a job, but the worker runs jobs fairly: the next of the tenant served
    least recently, then the next, until none may start (see jobs/runner.py)."""
    settings: Settings = ctx["settings"]
    return await runner.run_available(ctx["db"], settings, ctx["redis"])


run_job.__qualname__ = RUN_JOB


async def sweep(ctx: dict[str, Any]) -> int:
    settings: Settings = ctx["settings"]
    return await sweeper.sweep(
        ctx["db"], ctx["redis"], settings.queue_name, settings.sweeper_interval_seconds,
        settings.job_max_attempts)


async def retention(ctx: dict[str, Any]) -> int:
    """Daily: finished jobs after JOB_RETENTION_DAYS, score and stage history after
    HISTORY_RETENTION_DAYS, the event log (and its webhook deliveries) after
    EVENT_RETENTION_DAYS, alerts after ALERT_RETENTION_DAYS, the audit log after
    AUDIT_RETENTION_DAYS."""
    settings: Settings = ctx["settings"]
    db: Database = ctx["db"]
    async with db.system() as conn:
        tenants = await job_store.tenants_with_finished_before(conn, settings.job_retention_days)
        history = await history_store.delete_history_before(conn,
                                                            settings.history_retention_days)
        events = await event_log.delete_before(conn, settings.event_retention_days)
        alerts = await alert_store.delete_alerts_before(conn, settings.alert_retention_days)
        audited = await audit_store.delete_before(conn, settings.audit_retention_days)
    jobs = 0
    for tenant_id in tenants:
        async with unit_of_work(db, tenant_id, SYSTEM) as work:
            jobs += await job_store.delete_finished_before(work.conn,
                                                           settings.job_retention_days)
    if jobs or history or events or alerts or audited:
        log.info("retention: deleted %d finished job(s), %d history row(s), %d event(s), "
                 "%d alert(s), %d audit entries", jobs, history, events, alerts, audited)
    return jobs + history + events + alerts + audited


async def expire_exports(ctx: dict[str, Any]) -> int:
    """Every few minutes: export files past EXPORT_RETENTION_HOURS, with their chunks."""
    db: Database = ctx["db"]
    async with db.system() as conn:
        deleted = await export_store.delete_expired(conn)
    if deleted:
        log.info("retention: deleted %d expired export file(s)", deleted)
    return deleted


async def maintain(ctx: dict[str, Any]) -> int:
    settings: Settings = ctx["settings"]
    return await buying_groups.schedule_maintenance(ctx["db"], ctx["redis"], settings.queue_name)


async def sync_all(ctx: dict[str, Any]) -> int:
    settings: Settings = ctx["settings"]
    return await activity_sync.schedule_for_every_tenant(
        ctx["db"], ctx["redis"], settings.queue_name, JobKind.SYNC_ACTIVITIES)


async def rescore_all(ctx: dict[str, Any]) -> int:
    settings: Settings = ctx["settings"]
    queued = await activity_sync.schedule_for_every_tenant(
        ctx["db"], ctx["redis"], settings.queue_name, JobKind.REFRESH_SCORES)
    await activity_sync.drop_old_activity(ctx["db"], settings.activity_retention_months)
    return queued


# Each table of tally deltas, with how a tenant's are folded.
COMPACTIONS: dict[row_tallies.DeltaTable, Callable[[Connection, UUID], Awaitable[None]]] = {
    "buying_group_tallies": overview_store.compact_tallies,
    "row_tallies": row_tallies.compact,
    "activity_tally_deltas": activity_store.compact_tallies,
}


async def compact_tallies(ctx: dict[str, Any]) -> int:
    """Fold the tally deltas of busy tenants: the overview's (migration 0007), the row
    counts' (0018) and the activity counts' (0019). Returns how many foldings ran."""
    db: Database = ctx["db"]
    async with db.system() as conn:
        due = [(fold, tenant_id) for table, fold in COMPACTIONS.items()
               for tenant_id in await row_tallies.tenants_to_compact(
                   conn, table, TALLY_ROWS_BEFORE_COMPACTION)]
    for fold, tenant_id in due:
        async with unit_of_work(db, tenant_id, SYSTEM) as work:
            await fold(work.conn, tenant_id)
    return len(due)


def _every(seconds: int) -> tuple[set[int] | None, set[int]]:
    """arq cron (minute, second) for "every `seconds`" (whole minutes above a minute)."""
    if seconds < 60:
        return None, set(range(0, 60, seconds))
    return set(range(0, 60, max(1, seconds // 60))), {30}


def build_worker(
    settings: Settings,
    database_url: str,
    redis_url: str,
    *,
    burst: bool = False,
    handle_signals: bool = True,
    crons: bool = True,
) -> Worker:
    """The worker; `crons=False` runs only queued jobs (a burst run in tests: a scheduled sync
    of every tenant landing inside it would keep it from ever finding the queue empty).
    `settings.queue_name` is resolved (service/usecases/deployment.py)."""
    if not settings.queue_name:
        raise RuntimeError("the worker's queue name is not resolved")
    async def on_startup(ctx: dict[str, Any]) -> None:
        ctx["settings"] = settings
        # Jobs run statements far longer than a request's (scoring every group of a large
        # tenant): a generous timeout; the lease heartbeat keeps such a job claimed meanwhile.
        pool = await create_pool(database_url, min_size=1, max_size=settings.db_pool_max,
                                 command_timeout=1800,
                                 statement_cache_size=settings.db_statement_cache_size)
        await check_pool(pool, allow_privileged=settings.allow_privileged_database_login)
        # What a job writes makes the API's cached answers stale at its commit (migration
        # 0020): nothing to do here.
        ctx["db"] = db = Database(pool)
        # The outbox relay and the webhook sender run beside the jobs: a deployment with no
        # API process running still publishes and delivers.
        listen_url = settings.database_listen_url or database_url  # not through a pooler
        ctx["relay"] = relay = EventRelay(db, ctx["redis"], listen_url,
                                          sweep_seconds=settings.event_relay_sweep_seconds)
        await relay.start()
        if not burst:
            ctx["webhooks"] = sender = WebhookSender(db, settings, listen_url)
            await sender.start()
        # A restarted worker first picks up whatever its predecessor left behind.
        await sweep(ctx)

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        for name in ("webhooks", "relay"):
            if (service := ctx.get(name)) is not None:
                await service.stop()
        db: Database | None = ctx.get("db")
        if db is not None:
            await close_pool(db.pool)

    interval = max(1, min(60, settings.sweeper_interval_seconds))
    sync_minutes, sync_seconds = _every(settings.activity_sync_interval_seconds)
    return Worker(
        functions=[run_job],
        cron_jobs=[] if not crons else [
            cron(sweep, second=set(range(0, 60, interval)), run_at_startup=False, unique=True),
            # Daily maintenance of buying groups, at a quiet hour (UTC).
            cron(maintain, hour={settings.maintenance_hour_utc}, minute={0}, unique=True),
            cron(sync_all, minute=sync_minutes, second=sync_seconds, unique=True,
                 run_at_startup=settings.activity_sync_at_start),
            # Nightly: every score, so activity leaving the window lowers scores too.
            cron(rescore_all, hour={settings.rescore_hour_utc}, minute={15}, unique=True),
            cron(compact_tallies, second={45}, unique=True),
            cron(retention, hour={settings.rescore_hour_utc}, minute={45}, unique=True),
            cron(expire_exports, minute=set(range(0, 60, 5)), unique=True),
        ],
        redis_settings=RedisSettings.from_dsn(redis_url),
        queue_name=settings.queue_name,
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        burst=burst,
        handle_signals=handle_signals,
        **SERIALIZERS,
        keep_result=0,
        job_timeout=6 * 3600,
        max_jobs=8,
    )
