"""The endpoints beside /graphql: liveness, readiness, Prometheus metrics, and the root."""

from __future__ import annotations

import hmac
import logging

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from service.api.context import Services
from service.infra import migrate
from service.infra.metrics import (
    ACTIVITIES_INGESTED,
    ACTIVITIES_REJECTED,
    ACTIVITY_SYNC_AGE,
    ACTIVITY_SYNCS,
    DEAD_JOBS,
    EVENT_RELAY_AGE,
    EVENT_RELAY_LAG,
    JOB_RETRIES,
    JOBS,
    REGISTRY,
    WEBHOOK_ABANDONED,
    WEBHOOK_AGE,
    WEBHOOK_PENDING,
)
from service.store import activity_sync as sync_store
from service.store import event_log
from service.store import jobs as job_store
from service.store import webhooks as webhook_store

log = logging.getLogger(__name__)


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    services: Services = request.state.services
    checks: dict[str, str] = {}
    try:
        async with services.db.system() as conn:
            checks["database"] = "ok"  # the transaction began: the server answers
            checks["migrations"] = await migrate.readiness(conn)
    except Exception as exc:
        checks.setdefault("database", f"unreachable: {type(exc).__name__}")
        checks.setdefault("migrations", "unknown")
    try:
        await services.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"unreachable: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )


def _metrics_allowed(request: Request, token: str | None) -> bool:
    """With METRICS_TOKEN set, /metrics asks for it as a bearer token (compared in constant
    time); without, it is open to whoever reaches the port."""
    if not token:
        return True
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(),
                                                              token.encode())


async def metrics(request: Request) -> Response:
    services: Services = request.state.services
    if not _metrics_allowed(request, services.settings.metrics_token):
        return JSONResponse({"error": "METRICS_TOKEN is set: send it as a bearer token"},
                            status_code=401, headers={"WWW-Authenticate": "Bearer"})
    try:
        async with services.db.system() as conn:
            counts = await job_store.job_counts(conn)
            retries = await job_store.retry_counts(conn)
            health = await sync_store.sync_health(conn)
            lag = await event_log.relay_lag(conn)
            backlog = await webhook_store.backlog(conn)
        JOBS.clear()
        for kind, status, n in counts:
            JOBS.labels(kind, status).set(n)
        JOB_RETRIES.clear()
        DEAD_JOBS.clear()
        for kind, retried, dead in retries:
            JOB_RETRIES.labels(kind).set(retried)
            DEAD_JOBS.labels(kind).set(dead)
        ACTIVITIES_INGESTED.set(health.activities_ingested)
        ACTIVITIES_REJECTED.set(health.activities_rejected)
        ACTIVITY_SYNCS.labels("ok").set(health.tenants_ok)
        ACTIVITY_SYNCS.labels("failing").set(health.tenants_failing)
        ACTIVITY_SYNC_AGE.set(health.oldest_success_age_seconds or 0)
        EVENT_RELAY_LAG.set(lag.events)
        EVENT_RELAY_AGE.set(lag.oldest_seconds or 0)
        WEBHOOK_PENDING.set(backlog.pending)
        WEBHOOK_AGE.set(backlog.oldest_pending_seconds or 0)
        WEBHOOK_ABANDONED.set(backlog.abandoned)
    except Exception:
        log.warning("could not read job, sync and event figures for /metrics", exc_info=True)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


ROOT_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Buying Groups</title></head><body><h1>Buying Groups</h1><ul>
<li><a href="/console">Console</a>: the web front end for marketing teams</li>
<li><a href="/graphql">GraphiQL</a>: the GraphQL API, to explore and try</li>
</ul></body></html>"""


async def root(request: Request) -> Response:
    """Where a person lands: the console and GraphiQL. A client that asks for JSON (or no
    HTML) goes to the API, as it did before."""
    if "text/html" not in request.headers.get("accept", ""):
        return RedirectResponse("/graphql")
    return HTMLResponse(ROOT_PAGE, headers={
        "Content-Security-Policy": "default-src 'none'; base-uri 'none'; form-action 'none'; "
                                   "frame-ancestors 'none'",
        "X-Content-Type-Options": "nosniff"})
