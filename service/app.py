"""The Starlette application: /graphql, health endpoints and metrics; shared clients are opened
in the lifespan."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from service.api.context import Services
from service.api.key_watch import Sockets
from service.delivery.relay import EventRelay
from service.events.changes import Broker
from service.http import console, exports, graphiql
from service.http.bodies import server_away
from service.http.endpoints import healthz, metrics, readyz, root
from service.http.graphql_view import GraphQLApp
from service.http.persisted_queries import PersistedQueries
from service.http.request_context import RequestContextMiddleware
from service.http.response_cache import ResponseCache
from service.infra import outages, tracing
from service.infra.auth import PrincipalCache
from service.infra.config import Settings, get_settings
from service.infra.db import (
    Database,
    close_pool,
    create_pool,
)
from service.infra.login import check_pool
from service.infra.queue import connect as connect_queue
from service.infra.replicas import open_reads
from service.infra.throttle import Throttle
from service.infra.write_notices import WriteNotices
from service.usecases.deployment import with_queue


def create_app(
    settings: Settings | None = None,
    *,
    database_url: str | None = None,
    redis_url: str | None = None,
) -> Starlette:
    settings = settings or get_settings()
    config = settings  # as resolved above, for the lifespan's closure
    database_url = database_url or settings.database_url
    redis_url = redis_url or settings.redis_url
    if not database_url or not redis_url:
        raise RuntimeError(
            "DATABASE_URL and REDIS_URL must be set (or use `buying-groups dev`, which starts "
            "embedded servers)"
        )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        pool = await create_pool(
            database_url, min_size=min(settings.db_pool_min, settings.db_pool_max),
            max_size=settings.db_pool_max, statement_cache_size=settings.db_statement_cache_size
        )
        await check_pool(pool, allow_privileged=settings.allow_privileged_database_login)
        # The queue's name (and so the namespaces below), once the database says who it is.
        named = await with_queue(config, Database(pool))
        # Notices come over LISTEN, which a pooler in transaction mode does not carry.
        listen_url = settings.database_listen_url or database_url
        redis = await connect_queue(redis_url)
        broker = Broker(redis, settings.subscription_queue_size)
        await broker.start()
        db = Database(pool, acquire_timeout=settings.db_acquire_timeout_seconds)
        read_urls = settings.database_read_urls
        # The response cache and the replicas both follow what PostgreSQL says was written.
        notices = (WriteNotices(listen_url, eager_fences=bool(read_urls))
                   if settings.response_cache or read_urls else None)
        cache = (ResponseCache(redis, notices, named.queue_name,
                               settings.response_cache_ttl_seconds)
                 if notices and settings.response_cache else None)
        if notices is not None:
            await notices.start()
        reads = await open_reads(read_urls, db, notices, pool_max=settings.db_pool_max,
                                 statement_cache_size=settings.db_statement_cache_size,
                                 max_lag_seconds=settings.replica_max_lag_seconds,
                                 allow_privileged=settings.allow_privileged_database_login)
        await reads.start()
        relay = EventRelay(db, redis, listen_url,
                           sweep_seconds=settings.event_relay_sweep_seconds)
        await relay.start()
        thresholds = gc.get_threshold()
        if settings.gc_threshold:
            gc.set_threshold(settings.gc_threshold, *thresholds[1:])
        if settings.gc_freeze:
            gc.collect()
            gc.freeze()
        try:
            sockets = Sockets(redis, named.queue_name, settings.max_connections_per_key,
                              lapse_seconds=3 * settings.ws_key_check_seconds)
            throttle = Throttle(redis, settings.rate_limit_points,
                                settings.rate_limit_restore_per_second,
                                settings.auth_failures_per_minute,
                                namespace=named.queue_name)
            yield {"services": Services(settings=named, db=db, redis=redis, broker=broker,
                                        throttle=throttle, sockets=sockets,
                                        cache=cache, reads=reads,
                                        principals=PrincipalCache(settings.auth_cache_seconds),
                                        persisted=PersistedQueries(
                                            redis, named.queue_name,
                                            settings.persisted_query_ttl_seconds,
                                            only=settings.persisted_queries_only,
                                            max_document_bytes=settings.max_document_bytes))}
        finally:
            if settings.gc_freeze:
                gc.unfreeze()
            gc.set_threshold(*thresholds)
            await relay.stop()
            await reads.stop()
            if notices is not None:
                await notices.stop()
            await broker.stop()
            await redis.aclose()
            await db.drain()
            await close_pool(pool)

    # Before the schema is built: it adds the GraphQL spans when tracing is on.
    tracing.start(settings.otel_exporter_otlp_endpoint, settings.otel_service_name)
    graphql_app = GraphQLApp(settings)
    # One handler, for HTTP and WebSocket both, which Starlette's types keep apart.
    away_handlers: dict[Any, Any] = {kind: server_away for kind in outages.CANDIDATES}
    app = Starlette(
        routes=[
            Route("/", root),
            Route("/console", partial(console.page, static=graphiql.STATIC)),
            Route("/console/operations.js", console.operations_module),
            Mount("/console/app", StaticFiles(directory=console.CONSOLE, check_dir=False)),
            Route("/graphql", graphql_app),
            Route("/exports/{job_id:path}", exports.download),
            WebSocketRoute("/graphql", graphql_app),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            Mount("/static", StaticFiles(directory=graphiql.STATIC, check_dir=False)),
        ],
        lifespan=lifespan,
        exception_handlers=away_handlers,
    )
    if settings.cors_origins:
        # Inside the request-id middleware: preflight answers carry an id too. Keys travel in
        # the Authorization header, never in cookies: credentials stay off.
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"], allow_headers=["Authorization", "Content-Type",
                                                          "X-Request-Id"],
            expose_headers=["ETag", "Retry-After", "X-Request-Id"],
            allow_credentials=False, max_age=settings.cors_max_age_seconds)
    app.add_middleware(RequestContextMiddleware)
    if tracing.enabled():  # outermost: the request's span holds everything else
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        app.add_middleware(OpenTelemetryMiddleware, tracer_provider=tracing.provider())
    return app
