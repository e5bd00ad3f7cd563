"""Webhook delivery: each event POSTed as JSON to every matching endpoint, signed the Standard
Webhooks way, at least once.

The worker runs a `WebhookSender`: it wakes when the relay queues deliveries (NOTIFY) and once a
second for retries that came due, claims what is due (leased, so senders of several workers
share the work and one that dies hands its deliveries on), and posts them side by side. A
non-2xx answer, a timeout or a refused connection is retried on WEBHOOK_RETRY_SECONDS under the
same webhook-id; an endpoint that keeps failing for WEBHOOK_DISABLE_AFTER_HOURS is disabled.
Endpoint URLs follow the outbound rule (service/infra/outbound.py), checked again at each dial.
"""

from __future__ import annotations

import asyncio
import logging
import time
from urllib.parse import urlsplit

import httpx

from service.events.changes import webhook_body
from service.events.signing import signed_headers
from service.infra.config import Settings
from service.infra.db import Database, listen, woken
from service.infra.outbound import AddressNotAllowed, default_port, guarded_client
from service.infra.tasks import cancel_all
from service.store import event_log
from service.store import webhooks as webhook_store
from service.store.webhooks import Due
from service.usecases import deliveries
from service.usecases.deliveries import Outcome
from service.usecases.unit_of_work import Actor, unit_of_work

SENDER = Actor("WEBHOOKS")
# How much of an endpoint's answer each attempt keeps, for the tenant to debug with.
HEAD_BYTES = 1024

log = logging.getLogger(__name__)

LEASE_SECONDS = 60


async def post_signed(client: httpx.AsyncClient, settings: Settings, url: str, secret: str,
                      message_id: str, body: bytes) -> Outcome:
    """POST a signed body; how it went. The answer's first bytes are kept unless the host is
    one the operator listed in OUTBOUND_ALLOWED_HOSTS (an internal service's answers are not
    the tenant's to read)."""
    parts = urlsplit(url)
    shown = not settings.allowed_hosts.allows(parts.hostname or "", default_port(parts))
    started = time.perf_counter()
    status: int | None = None
    head: str | None = None
    try:
        async with client.stream("POST", url, content=body,
                                 headers=signed_headers(secret, message_id, body)) as response:
            status = response.status_code
            if shown:
                head = await _head(response)
        error = None if 200 <= status < 300 else f"the endpoint answered HTTP {status}"
    except AddressNotAllowed as exc:
        error = f"not sent: {exc}"
    except httpx.TimeoutException:
        error = f"the endpoint did not answer within {settings.webhook_timeout_seconds:g} s"
    except httpx.HTTPError:
        # One text for every way a connection fails: no port-scanning through lastError.
        error = "could not reach the endpoint"
    return Outcome(status, error, int((time.perf_counter() - started) * 1000), head)


async def _head(response: httpx.Response) -> str:
    got = bytearray()
    async for chunk in response.aiter_bytes():
        got.extend(chunk)
        if len(got) >= HEAD_BYTES:
            break
    return bytes(got[:HEAD_BYTES]).decode("utf-8", "replace").replace("\x00", "\ufffd")


def webhook_client(settings: Settings) -> httpx.AsyncClient:
    """The client webhooks are POSTed with: the outbound rule's, never redirected."""
    return guarded_client("", settings.allowed_hosts, timeout=settings.webhook_timeout_seconds)


class WebhookSender:
    def __init__(self, db: Database, settings: Settings, dsn: str | None = None, *,
                 client: httpx.AsyncClient | None = None) -> None:
        self._db = db
        self._settings = settings
        self._dsn = dsn
        self._schedule = settings.webhook_retry_schedule
        self._client = client or webhook_client(settings)
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._in_flight = asyncio.Semaphore(settings.webhook_concurrency)

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run())]
        if self._dsn:
            self._tasks.append(asyncio.create_task(self._listen()))

    async def stop(self) -> None:
        await cancel_all(self._tasks)
        await self._client.aclose()

    async def _listen(self) -> None:
        assert self._dsn is not None
        await listen(self._dsn, webhook_store.NOTIFY_CHANNEL, lambda _: self._wake.set(),
                     connected=lambda _conn: self._wake.set(), what="webhooks")

    async def _run(self) -> None:
        running: set[asyncio.Task[None]] = set()
        while True:
            await woken(self._wake, 1)
            self._wake.clear()
            try:
                while True:
                    free = self._settings.webhook_concurrency - len(running)
                    if free <= 0:
                        await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                        continue
                    async with self._db.system(unseen=True) as conn:
                        due = await webhook_store.claim_due(conn, free, LEASE_SECONDS)
                    for item in due:
                        task = asyncio.create_task(self.send(item))
                        running.add(task)
                        task.add_done_callback(running.discard)
                    if len(due) < free:
                        break
            except asyncio.CancelledError:
                for task in running:
                    task.cancel()
                raise
            except Exception:
                log.warning("webhooks: could not claim deliveries", exc_info=True)

    async def deliver_due(self) -> int:
        """Send everything due now and wait for the outcomes (tests, a one-off run); how many
        attempts were made."""
        sent = 0
        while True:
            async with self._db.system(unseen=True) as conn:
                due = await webhook_store.claim_due(conn, self._settings.webhook_concurrency,
                                                    LEASE_SECONDS)
            if not due:
                return sent
            await asyncio.gather(*(self.send(item) for item in due))
            sent += len(due)

    async def send(self, due: Due) -> None:
        async with self._in_flight:
            try:
                await self._send(due)
            except asyncio.CancelledError:
                raise
            except Exception:  # the lease runs out and another attempt follows
                log.exception("webhooks: delivery %s failed unexpectedly", due.id)

    async def _send(self, due: Due) -> None:
        async with unit_of_work(self._db, due.tenant_id, SENDER) as work:
            target = await deliveries.delivery_target(work, due)
        if target is None:
            return  # gone with its endpoint or event, or given up: the endpoint is disabled
        body = webhook_body(event_log.payload(target.event))
        secret = self._settings.secrets.open(target.sealed_secret)
        outcome = await post_signed(self._client, self._settings, target.url, secret, due.id,
                                    body)
        attempt = due.attempts + 1
        retry_in = self._schedule[due.attempts] if attempt <= len(self._schedule) else None
        async with unit_of_work(self._db, due.tenant_id, SENDER) as work:
            disabled = await deliveries.record_attempt(
                work, due, outcome, retry_in=retry_in,
                disable_after_seconds=self._settings.webhook_disable_after_hours * 3600)
        if disabled:
            log.warning("webhooks: endpoint %s disabled after failing for %g hours",
                        due.endpoint_id, self._settings.webhook_disable_after_hours)
