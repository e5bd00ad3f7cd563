"""Prometheus metrics of the API process, and the GraphQL extension that records operations."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from strawberry.extensions import SchemaExtension

from service.infra.config import OPERATIONS

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "bg_http_requests_total", "HTTP requests by route and status.", ["route", "status"],
    registry=REGISTRY,
)
GRAPHQL_OPERATIONS = Counter(
    "bg_graphql_operations_total",
    "GraphQL operations by operation name, type and outcome (ok or error).",
    ["operation", "type", "outcome"],
    registry=REGISTRY,
)
GRAPHQL_LATENCY = Histogram(
    "bg_graphql_operation_seconds",
    "Time to execute a GraphQL operation, by operation name and type.",
    ["operation", "type"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SUBSCRIPTION_EXECUTIONS = Counter(
    "bg_subscription_event_executions_total",
    "Subscription events by how their answer was made: executed, or shared with subscribers "
    "of the same document, variables, tenant and scopes (multiplexed).",
    ["outcome"], registry=REGISTRY,
)
JOBS = Gauge(
    "bg_jobs", "Background jobs by kind and status (all tenants), read from PostgreSQL at scrape.",
    ["kind", "status"], registry=REGISTRY,
)
JOB_RETRIES = Gauge(
    "bg_job_retries", "Attempts beyond the first, by kind, over the jobs kept (a retry after a "
    "passing failure or after a worker died), read from PostgreSQL at scrape.",
    ["kind"], registry=REGISTRY,
)
DEAD_JOBS = Gauge(
    "bg_jobs_dead", "Jobs that gave up after their last attempt, by kind, over the jobs kept: "
    "alert when it grows.", ["kind"], registry=REGISTRY,
)

ACTIVITIES_INGESTED = Gauge(
    "bg_activities_ingested",
    "Distinct activities stored by every sync so far (all tenants), read at scrape.",
    registry=REGISTRY,
)
ACTIVITIES_REJECTED = Gauge(
    "bg_activities_rejected",
    "Activities sources sent that could not be stored and were skipped (all tenants), read at "
    "scrape.", registry=REGISTRY,
)
ACTIVITY_SYNCS = Gauge(
    "bg_activity_sync_tenants",
    "Tenants by the outcome of their last activity sync (ok or failing), read at scrape.",
    ["outcome"], registry=REGISTRY,
)
ACTIVITY_SYNC_AGE = Gauge(
    "bg_activity_sync_oldest_success_age_seconds",
    "Seconds since the least recent successful sync of any tenant: alert when it exceeds a few "
    "sync intervals.", registry=REGISTRY,
)
EVENT_RELAY_LAG = Gauge(
    "bg_event_relay_lag_events",
    "Committed events (all tenants) the relay has not yet published to subscribers and "
    "webhooks, read at scrape.", registry=REGISTRY,
)
EVENT_RELAY_AGE = Gauge(
    "bg_event_relay_oldest_unpublished_age_seconds",
    "Seconds the oldest unpublished event has waited (0: none waits): alert when it exceeds a "
    "few seconds, as subscribers and webhooks then fall behind.", registry=REGISTRY,
)
WEBHOOK_PENDING = Gauge(
    "bg_webhook_deliveries_pending",
    "Webhook deliveries (all tenants) not yet made: due now or waiting for a retry, read at "
    "scrape.", registry=REGISTRY,
)
WEBHOOK_AGE = Gauge(
    "bg_webhook_oldest_pending_age_seconds",
    "Seconds the oldest pending webhook delivery has waited (0: none): an endpoint that fails "
    "for hours shows here before its deliveries are given up.", registry=REGISTRY,
)
WEBHOOK_ABANDONED = Gauge(
    "bg_webhook_deliveries_abandoned",
    "Webhook deliveries given up (retries ran out, or the endpoint was disabled), over the "
    "deliveries kept.", registry=REGISTRY,
)
READS = Counter(
    "bg_database_reads_total",
    "Read transactions of queries and subscriptions by the server that served them: primary, "
    "or replica (DATABASE_READ_URL).", ["server"], registry=REGISTRY,
)
REPLICA_LAG = Gauge(
    "bg_replica_lag_seconds",
    "How long ago the primary was where the replica is now (0: caught up; -1: never heard "
    "from). A replica beyond REPLICA_MAX_LAG_SECONDS serves no reads.", ["replica"],
    registry=REGISTRY,
)
REPLICA_UP = Gauge(
    "bg_replica_up", "Whether the replica answers as a standby (1) or is left out (0).",
    ["replica"], registry=REGISTRY,
)


def _shipped_operations() -> frozenset[str]:
    return frozenset(match.group(1) for path in OPERATIONS.glob("*.graphql")
                     for match in _OPERATION.finditer(path.read_text()))


_OPERATION = re.compile(r"^(?:query|mutation|subscription)\s+(\w+)", re.MULTILINE)
# Operation names are chosen by clients: one of theirs could name a customer, and every new
# name would be a new time series. Only the names of our own operations
# (graphql/operations/) are labels; every other named operation is "other".
SHIPPED_OPERATIONS = _shipped_operations()


def _label(name: str | None) -> str:
    if name is None:
        return "anonymous"
    return name if name in SHIPPED_OPERATIONS else "other"


class OperationMetrics(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        ctx = self.execution_context
        try:
            op_type = ctx.operation_type.value
        except Exception:  # unparsable document: there is no operation type to report
            op_type = "unknown"
        name = _label(ctx.operation_name)
        GRAPHQL_LATENCY.labels(name, op_type).observe(time.perf_counter() - started)
        outcome = "error" if ctx.result is not None and ctx.result.errors else "ok"
        GRAPHQL_OPERATIONS.labels(name, op_type, outcome).inc()


class StatementCount(SchemaExtension):
    """Reports `extensions.sqlStatements`, the statements a request's reads sent, and
    `readFrom`, the server each of its read transactions ran on (turned on by the
    EXPOSE_SQL_STATEMENTS setting, for tests and benchmarks)."""

    async def get_results(self) -> dict[str, Any]:
        await asyncio.sleep(0)  # query loggers run on the next turn of the loop
        session = getattr(self.execution_context.context, "read_session", None)
        if session is None:
            return {}
        return {"sqlStatements": session.statements, "readFrom": session.read_from}
