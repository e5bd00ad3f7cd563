"""The SYNC_ACTIVITIES and REFRESH_SCORES jobs.

A sync pages through the tenant's activity source, one cursor per chunk of at most 10 activity
types; each page's activities, their rollup and the advanced cursor commit in one transaction, so
a sync killed at any point resumes where its last page ended and never counts an activity twice.
Afterwards only the groups whose members got new activity are rescored, right away."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any
from uuid import UUID

import asyncpg
from arq.connections import ArqRedis

from jobs.rescoring import backfill_history, groups_of_leads, rescore
from jobs.run import JobFailed, JobRetry, JobRun
from service.domain.activity_screen import screen_page
from service.infra.config import Settings
from service.infra.db import Database, retrying
from service.infra.outbound import redact
from service.infra.queue import enqueue
from service.infra.secrets import SecretsUnavailable
from service.sources.activity_api import (
    MAX_TYPES_PER_CALL,
    ActivityApi,
    Page,
    SourceError,
    SourceUnavailable,
)
from service.sources.call_rate import call_rate
from service.store import activities as activity_store
from service.store import activity_sync as sync_store
from service.store import jobs as job_store
from service.store.jobs import EVERYTHING, JobKind
from service.store.scoring_models import active_model
from service.usecases import activity_ingest as ingestion
from service.usecases.unit_of_work import SYSTEM, Actor, unit_of_work

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    base_url: str
    client_id: str
    client_secret: str
    type_ids: list[int] | None
    # The operator's own source (ACTIVITY_API_*), not a URL a tenant chose.
    operators: bool


async def tenant_source(db: Database, tenant_id: UUID, settings: Settings) -> Source:
    """The tenant's own source, whole, or else the service-wide one, whole: never a mix, so the
    service-wide secret goes nowhere but ACTIVITY_API_URL."""
    async with db.tenant(tenant_id, readonly=True) as conn:
        own = await sync_store.source_settings(conn, tenant_id)
    if own.base_url is None:
        return Source(settings.activity_api_url, settings.activity_api_client_id,
                      settings.activity_api_client_secret, own.activity_type_ids, True)
    if not own.client_id or not own.client_secret:
        raise SourceError("the tenant's activity source has no client secret: configure it "
                          "again with its clientSecret")
    try:
        secret = settings.secrets.open(own.client_secret)
    except SecretsUnavailable as exc:
        raise SourceError(f"the tenant's client secret cannot be read: {exc}") from exc
    return Source(own.base_url, own.client_id, secret, own.activity_type_ids, False)


def retention_horizon(today: date, months: int) -> date:
    """The first day of the oldest month kept: activity before it is neither stored nor kept."""
    return date(today.year - (today.month <= months % 12) - months // 12,
                (today.month - months % 12 - 1) % 12 + 1, 1)


class PageNotStored(Exception):
    """A page that could not be written after its retries."""


def activity_months(activities: list[dict[str, Any]]) -> set[date]:
    """The UTC months whose partitions the activities go to. Dates in UTC ("Z", as Marketo
    sends them) name their month in their first seven characters; others are parsed."""
    utc: set[str] = set()
    months: set[date] = set()
    for item in activities:
        moment = str(item["activityDate"])
        if moment.endswith(("Z", "+00:00")):
            utc.add(moment[:7])
        else:
            parsed = datetime.fromisoformat(moment).astimezone(UTC)
            months.add(activity_store.month_start(parsed))
    return months | {date(int(m[:4]), int(m[5:7]), 1) for m in utc}


@dataclass
class SyncOutcome:
    pages: int = 0
    received: int = 0
    ingested: int = 0
    rejected: int = 0
    leads: set[str] = field(default_factory=set)
    latest: datetime | None = None
    remapped: bool = False  # a catalogue entry now stands for another source type
    truncated: bool = False  # stopped at ACTIVITY_SYNC_MAX_SECONDS; the next run goes on


PAGE_WRITE_ATTEMPTS = 3  # a page the database refuses is written again, then reported
PAGE_WRITE_ERRORS = (asyncpg.PostgresError, OSError)
PAGES_PER_WRITE = 4  # pages written together (with the last page's cursor): at most 1,200 rows
CONCURRENT_CHUNKS = 3


async def sync_tenant(db: Database, tenant_id: UUID, settings: Settings,
                      report: Any = None, redis: Any = None, *, actor: Actor = SYSTEM
                      ) -> SyncOutcome:
    """Read everything new from the tenant's source. Per chunk of types, pages are fetched
    ahead while the previous ones are written (a bounded queue keeps memory flat), and chunks
    run side by side."""
    source = await tenant_source(db, tenant_id, settings)
    async with db.tenant(tenant_id, readonly=True) as conn:
        model = await active_model(conn, tenant_id)
    window_days = model.window_days if model else 30
    outcome = SyncOutcome()
    ensured: set[date] = set()
    partitions = asyncio.Lock()

    now = datetime.now(UTC)
    earliest = datetime.combine(retention_horizon(now.date(), settings.activity_retention_months),
                                time.min, UTC)
    latest = now + timedelta(days=1)

    async def write(key: str, pages: list[Page], first_page: int) -> None:
        screened = screen_page([a for page in pages for a in page.activities], earliest, latest)
        rows = screened.accepted
        rejection = screened.last_rejection
        try:
            async for attempt in retrying(PAGE_WRITE_ATTEMPTS, on=PAGE_WRITE_ERRORS):
                with attempt:
                    async with partitions:
                        months = activity_months(rows) - ensured
                        if months:
                            # Partitions change no answer; the rows they will hold do.
                            async with db.system(unseen=True) as conn:
                                await activity_store.ensure_partitions(conn, months,
                                                                       earliest.date())
                            ensured.update(months)
                    async with unit_of_work(db, tenant_id, actor) as work:
                        result = await ingestion.store_pages(
                            work, rows, type_chunk=key,
                            next_page_token=pages[-1].next_page_token,
                            rejected=screened.rejected,
                            rejection=(rejection.reason, rejection.source_id) if rejection
                            else None)
        except PAGE_WRITE_ERRORS as exc:
            raise PageNotStored(
                f"pages {first_page}-{first_page + len(pages) - 1} of activity types {key} "
                f"could not be stored after {PAGE_WRITE_ATTEMPTS} attempts: "
                f"{type(exc).__name__}: {redact(str(exc))[:300]}") from exc
        outcome.pages += len(pages)
        outcome.received += len(rows) + screened.rejected
        outcome.ingested += result.new
        outcome.rejected += screened.rejected
        outcome.leads.update(result.leads)
        if result.latest and (outcome.latest is None or result.latest > outcome.latest):
            outcome.latest = result.latest
        if report is not None:
            await report(outcome)

    async def sync_chunk(api: ActivityApi, chunk: list[int]) -> None:
        key = ",".join(map(str, chunk))
        async with db.tenant(tenant_id, readonly=True) as conn:
            token = await sync_store.load_cursor(conn, tenant_id, key)
        if token is None:
            token = await api.paging_token(datetime.now(UTC) - timedelta(days=window_days))
        # Fetched pages wait here (bounded: memory stays flat); None ends, an error is raised.
        pages: asyncio.Queue[Page | BaseException | None] = asyncio.Queue(
            maxsize=PAGES_PER_WRITE * 2)

        async def fetch(token: str) -> None:
            try:
                while True:
                    page = await api.activities(token, chunk)
                    await pages.put(page)
                    token = page.next_page_token
                    if not page.more:
                        break
            except Exception as exc:
                await pages.put(exc)
            else:
                await pages.put(None)

        fetcher = asyncio.create_task(fetch(token))
        written = 0
        try:
            failure: BaseException | None = None
            finished = False
            while not finished:
                item = await pages.get()
                batch: list[Page] = []
                while True:
                    if item is None or isinstance(item, BaseException):
                        # What was fetched before a failure is still written: a source with a
                        # spent quota must not be asked for those pages again.
                        failure, finished = item, True
                        break
                    batch.append(item)
                    if len(batch) == PAGES_PER_WRITE or pages.empty():
                        break
                    item = pages.get_nowait()
                if batch:
                    await write(key, batch, written + 1)
                    written += len(batch)
            if failure is not None:
                raise failure
        finally:
            fetcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await fetcher

    async def read_source() -> None:
        rate = call_rate(redis, source.base_url, settings.activity_api_max_calls,
                         settings.activity_api_rate_window_seconds,
                         settings.activity_api_daily_calls)
        allowed = None if source.operators else settings.allowed_hosts
        async with ActivityApi(source.base_url, source.client_id, source.client_secret,
                               backoff_base=settings.activity_api_backoff_seconds,
                               timeout=settings.activity_api_timeout_seconds, rate=rate,
                               allowed=allowed) as api:
            types = await api.activity_types()
            async with unit_of_work(db, tenant_id, actor) as work:
                outcome.remapped = await ingestion.map_source_types(work, types) > 0
            type_ids = sorted(source.type_ids or [int(t["id"]) for t in types])
            chunks = [type_ids[i:i + MAX_TYPES_PER_CALL]
                      for i in range(0, len(type_ids), MAX_TYPES_PER_CALL)]
            slots = asyncio.Semaphore(CONCURRENT_CHUNKS)

            async def bounded(chunk: list[int]) -> None:
                async with slots:
                    await sync_chunk(api, chunk)

            running = [asyncio.create_task(bounded(chunk)) for chunk in chunks]
            try:
                await asyncio.gather(*running)
            finally:
                # One chunk's failure ends the others (their committed pages stay) before the
                # client closes under them.
                for task in running:
                    task.cancel()
                await asyncio.gather(*running, return_exceptions=True)

    try:
        async with asyncio.timeout(settings.activity_sync_max_seconds):
            await read_source()
    except TimeoutError:
        # Bounded: what was written stays, with its cursors, and the next run goes on from
        # there. A source that gave nothing in all that time fails the attempt (retried).
        if outcome.pages == 0:
            limit = settings.activity_sync_max_seconds
            raise SourceUnavailable(
                f"the activity source did not answer within {limit:g} s") from None
        outcome.truncated = True
    return outcome


async def sync_activities(run: JobRun) -> None:
    """Read what is new from the tenant's source, then rescore the groups it touches. Safe to
    run again: pages are stored once each (by source id) with their cursor in one transaction,
    so another attempt goes on from the last committed page and counts nothing twice."""
    tenant_id = run.job.tenant_id

    async def report(outcome: SyncOutcome) -> None:
        await run.progress(processed=outcome.pages, total=outcome.pages)

    try:
        outcome = await sync_tenant(run.db, tenant_id, run.settings, report, run.redis,
                                    actor=Actor.job(run.job.id))
    except (SourceError, PageNotStored) as exc:
        message = redact(str(exc))
        async with run.work() as work:
            await ingestion.record_sync(work, error=message, cursor_at=None)
        if isinstance(exc, SourceUnavailable | PageNotStored):
            raise JobRetry(message) from exc  # the source or the database may be back soon
        raise JobFailed(message) from exc
    async with run.work() as work:
        await ingestion.record_sync(work, error=None, cursor_at=outcome.latest)
    # The first sync brings the past weeks of activity: the score history starts with them.
    backfilled = await backfill_history(run.db, tenant_id, Actor.job(run.job.id))
    updated = await rescore_touched(run.db, tenant_id, outcome, Actor.job(run.job.id),
                                    run.settings.rescore_connections)
    await run.progress(processed=outcome.pages, total=outcome.pages, updated=updated)
    log.info("tenant %s: %d activities received, %d new, %d rejected, %d groups rescored, "
             "%d past snapshots", tenant_id, outcome.received, outcome.ingested,
             outcome.rejected, updated, backfilled)


async def rescore_touched(db: Database, tenant_id: UUID, outcome: SyncOutcome, actor: Actor,
                          connections: int) -> int:
    """Rescore the groups whose members got activity in this sync (every group when stored
    activity scores differently now); how many were scored."""
    if outcome.remapped:
        return await rescore(db, tenant_id, None, actor=actor, connections=connections)
    changed = await groups_of_leads(db, tenant_id, outcome.leads)
    return await rescore(db, tenant_id, changed, actor=actor,
                         connections=connections) if changed else 0


async def schedule_for_every_tenant(db: Database, redis: ArqRedis, queue_name: str,
                                    kind: JobKind) -> int:
    """Queue one job of `kind` per tenant that has none waiting or running."""
    async with db.system() as conn:
        tenants = await job_store.tenants_without_job(conn, kind)
    queued = 0
    for tenant_id in tenants:
        async with unit_of_work(db, tenant_id, SYSTEM,
                                enqueue=partial(enqueue, redis, queue_name)) as work:
            _, new = await work.start_job(kind, dedup_key=EVERYTHING)
        queued += new
    return queued


async def drop_old_activity(db: Database, months: int) -> list[str]:
    cutoff = retention_horizon(datetime.now(UTC).date(), months)
    async with db.system() as conn:
        dropped = await activity_store.drop_partitions_before(conn, cutoff)
        await activity_store.drop_rollup_before(conn, cutoff)
    return dropped
