"""Settings read from the environment; one typed object, built once per process."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.infra.outbound import AllowedHosts
from service.infra.secrets import SecretBox
from service.infra.shipped import shipped

# The operations the project ships (graphql/operations/): persisted by their names, and the
# names /metrics counts operations under.
OPERATIONS = shipped("graphql", "operations")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # Unset means "start the embedded server under data_dir" (dev and tests only).
    database_url: str | None = None
    redis_url: str | None = None
    # `migrate` logs in as the owner of the tables here (default: DATABASE_URL) and grants
    # DATABASE_URL's login the roles it switches to; `serve` and `worker` refuse a login that
    # could step around row-level security unless this is set (the embedded dev server only).
    migration_database_url: str | None = None
    # LISTEN connections (the notices of writes, events and webhook deliveries) go here, the
    # primary itself: a pooler in transaction mode (PgBouncer) delivers no notices. Default:
    # DATABASE_URL.
    database_listen_url: str | None = None
    allow_privileged_database_login: bool = False
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    log_level: str = "INFO"
    activity_api_url: str = "http://127.0.0.1:8100"
    activity_api_client_id: str = "demo-client"
    activity_api_client_secret: str = "demo-secret"
    # Encrypts secrets at rest (a Fernet key: `buying-groups secrets new-key`); keys in
    # SECRET_KEY_PREVIOUS (comma-separated) still decrypt until `secrets rotate` has run.
    secret_key: str | None = None
    metrics_token: str | None = None  # /metrics asks for it as a bearer token when set
    # Traces by OTLP when set (service/infra/tracing.py); the OTEL_* variables configure the rest.
    otel_exporter_otlp_endpoint: str | None = None
    otel_service_name: str = "buying-groups"
    secret_key_previous: str = ""

    data_dir: Path = Path(".data")
    # Name of the embedded database.
    database_name: str = "buying_groups"
    # The arq queue (and the namespace of what Redis keeps for this deployment). Empty: named
    # after the database's identity when a process starts (service/usecases/deployment.py), so
    # deployments sharing a Redis database never meet; tests set their own.
    queue_name: str = ""

    graphiql: bool = True
    introspection: bool = True
    max_query_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 5000
    # Fields a document selects with its fragments written out where spread (api/written_out.py).
    max_fields: int = Field(default=5000, ge=1)
    max_document_bytes: int = 64 * 1024
    # The whole HTTP body, variables included: 1,000 people in one upsert is about 200 KB.
    max_body_bytes: int = 8 * 1024 * 1024
    max_page_size: int = 100
    # An operation's cost, computed before it runs (see service/api/execution/cost.py).
    max_query_cost: int = Field(default=50_000, ge=1)
    # previewRoleTemplate's own limit: it reads a whole audience's people.
    preview_timeout_seconds: float = Field(default=10, gt=0, le=600)
    # Cost points per API key, shared by every API process (0: no throttling), and how many
    # come back each second.
    rate_limit_points: int = Field(default=100_000, ge=0)
    rate_limit_restore_per_second: float = Field(default=5_000, gt=0)
    # Failed authentications per client address and minute before it gets HTTP 429 (0: any).
    auth_failures_per_minute: int = Field(default=30, ge=0)
    max_subscriptions_per_connection: int = 20
    # WebSocket connections one API key may hold across all API processes (4429 beyond), and
    # how often an idle connection's key is checked (a revoked key's sockets close with 4403).
    max_connections_per_key: int = Field(default=50, ge=1)
    ws_key_check_seconds: float = Field(default=30, gt=0)
    # Events waiting for one subscriber; when they overflow, it is closed with 4410.
    subscription_queue_size: int = Field(default=1000, ge=1)
    # permessage-deflate on WebSockets: events are small, and compressing each one for each
    # subscriber costs more CPU than the bytes it saves on a LAN.
    ws_compression: bool = False
    # Execute each subscription event once per (document, variables, tenant, scopes) and send
    # that answer to every such subscriber (api/multiplex.py); off executes it per subscriber.
    subscription_multiplex: bool = True
    # Selections executed by plans made once per request (api/compiled.py); false: by
    # graphql-core field by field.
    compiled_execution: bool = True
    # Once started, move the objects alive then (modules, the schema, clients) out of the
    # garbage collector's sight (gc.freeze): its full collections during requests walk only
    # what requests made, which shortens the slowest requests more than the typical one.
    gc_freeze: bool = True
    # Container objects allocated (net of those freed) before the youngest generation is
    # collected; Python's default is 700. A request frees what it made by reference counting,
    # but a page of people holds a few thousand objects while it is built, and at 700 the
    # collector walked them 3-4 times a request (0.5 ms). 0 keeps Python's default.
    gc_threshold: int = Field(default=10_000, ge=0)
    # Report each request's SQL statement count in the response extensions (tests, benches).
    expose_sql_statements: bool = False
    # The legacy `graphql-ws` subscription protocol; graphql-transport-ws is always on.
    legacy_graphql_ws: bool = False

    # Idle connections let a page's look-ahead read its lists side by side (ReadSession): up
    # to this many reads of one request beside its own connection (0: they take turns on it).
    db_reads_beside: int = Field(default=2, ge=0, le=8)
    # Read replicas: streaming standbys of DATABASE_URL (one URL, or several separated by
    # spaces or commas). Queries and subscriptions read a tenant from one that has replayed
    # every write of the tenant committed before the read began; the primary serves otherwise.
    database_read_url: str = ""
    # A replica further behind the primary than this is left out until it catches up.
    replica_max_lag_seconds: float = Field(default=5, gt=0)
    db_pool_min: int = 4
    # asyncpg's prepared statements per connection: 0 behind PgBouncer in transaction mode
    # (before 1.21, or without max_prepared_statements), which cannot keep them.
    db_statement_cache_size: int = Field(default=100, ge=0)
    db_pool_max: int = 10
    # A request waits at most this long for a pooled connection, then gets HTTP 503.
    db_acquire_timeout_seconds: float = Field(default=10, gt=0)
    # Every statement of a request's transaction; a longer one is cancelled (code TIMEOUT).
    db_statement_timeout_ms: int = Field(default=15_000, ge=1)
    # A transaction left idle this long is ended by PostgreSQL (a stuck request or worker).
    db_idle_in_transaction_timeout_ms: int = Field(default=60_000, ge=1)
    # A running job renews its lease; the sweeper re-enqueues jobs whose lease ran out.
    job_lease_seconds: int = Field(default=120, ge=5)
    sweeper_interval_seconds: int = Field(default=60, ge=1)
    # Attempts a job gets: transient failures (connections, deadlocks, Redis, the source's 5xx
    # and timeouts) and workers that died count; the wait doubles from the base, with jitter.
    job_max_attempts: int = Field(default=5, ge=1)
    job_retry_base_seconds: float = Field(default=5, gt=0)
    job_retry_max_seconds: float = Field(default=600, gt=0)
    # Jobs of one tenant running at once (all workers together); the next job goes to the
    # tenant served least recently.
    jobs_per_tenant: int = Field(default=2, ge=1)
    # Retention: finished jobs; daily score snapshots and stage history.
    job_retention_days: int = Field(default=30, ge=1)
    history_retention_days: int = Field(default=400, ge=1)
    maintenance_hour_utc: int = Field(default=3, ge=0, le=23)
    # Activity sync from the activity-log API, and the nightly rescoring of every group.
    activity_sync_interval_seconds: int = Field(default=300, ge=10)
    # A worker that starts syncs every tenant at once, not only at the next interval.
    activity_sync_at_start: bool = True
    rescore_hour_utc: int = Field(default=1, ge=0, le=23)
    # Connections a full rescoring writes on side by side (PostgreSQL writes serially per
    # statement); about the database server's cores.
    rescore_connections: int = Field(default=2, ge=1)
    activity_retention_months: int = Field(default=13, ge=2)
    # Calls to one activity-source instance per window, shared through Redis by every sync of
    # every worker (Marketo: 100 per 20 s). 0: no limit (606 answers still back off).
    activity_api_max_calls: int = Field(default=100, ge=0)
    activity_api_rate_window_seconds: float = Field(default=20, gt=0)
    # Calls a day to one activity-source instance, shared by every worker; the instance's own
    # daily quota (Marketo: 50,000 by default) also serves its other integrations. 0: no budget.
    activity_api_daily_calls: int = Field(default=0, ge=0)
    activity_api_backoff_seconds: float = Field(default=0.5, gt=0)
    # Hosts (or host:port) a tenant may point an outbound URL at although they are not public
    # (comma-separated): every other tenant-configured URL must resolve to public addresses.
    outbound_allowed_hosts: str = ""
    # Development only: outbound calls may go to loopback addresses (127.0.0.0/8, ::1), so
    # that a webhook receiver or activity source on this machine can be tried. `make run`
    # turns it on; nothing else does, and nothing else about the rule changes with it.
    outbound_allow_loopback: bool = False
    activity_api_timeout_seconds: float = Field(default=30, gt=0)
    # A sync stops after this long with its cursors saved and goes on at the next run; a
    # source that does not answer fails the attempt (retried later) by this deadline.
    activity_sync_max_seconds: float = Field(default=120, gt=0)
    # A key's authentication is reused this long by the process that made it (0: never): a
    # revocation through another API process takes effect within this time.
    auth_cache_seconds: float = Field(default=2, ge=0, le=60)
    # Repeated queries answered from Redis (never stale: every committed write moves its
    # tenant's version); entries live at most this long.
    response_cache: bool = True
    response_cache_ttl_seconds: int = Field(default=300, ge=1)
    # The event log: how long events stay (a cursor older than this is refused with
    # CURSOR_EXPIRED), and how often each relay looks for events a lost notification hid.
    event_retention_days: int = Field(default=7, ge=1)
    # The alerts a team lists and acknowledges; their ALERT_TRIGGERED events go sooner.
    alert_retention_days: int = Field(default=90, ge=1)
    # The audit log: who changed what (a year, as audits of a business year ask).
    audit_retention_days: int = Field(default=365, ge=1)
    # Bulk exports: how long a finished export's file can be downloaded, and the longest a
    # signed download link (one that needs no API key) may live.
    export_retention_hours: float = Field(default=24, gt=0, le=24 * 30)
    export_link_seconds: int = Field(default=3600, ge=1, le=7 * 24 * 3600)
    event_relay_sweep_seconds: float = Field(default=2, gt=0)
    # Webhooks: the waits before each retry of a failed delivery (seconds, comma-separated;
    # the event is given up after the last), the time a receiver has to answer, how long an
    # endpoint may fail before it is disabled, and deliveries in flight per worker.
    webhook_retry_seconds: str = "5,30,120,600,1800,3600,7200,14400,28800"
    webhook_timeout_seconds: float = Field(default=10, gt=0)
    webhook_disable_after_hours: float = Field(default=72, gt=0)
    webhook_concurrency: int = Field(default=32, ge=1)

    # Web pages of these origins may call the API from a browser (comma-separated, e.g.
    # https://app.example.com,http://localhost:5173; `*` for any); empty: none may.
    cors_allow_origins: str = ""
    cors_max_age_seconds: int = Field(default=600, ge=0)
    # Persisted queries (Apollo's automatic persisted queries): documents registered by hash
    # are kept this long after their last registration.
    persisted_query_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=60)
    # Only the operations shipped in graphql/operations/ run (by hash or by their exact text);
    # any other document, and registering one, is refused.
    persisted_queries_only: bool = False

    @field_validator("cors_allow_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        origins = [part.strip().rstrip("/") for part in value.split(",") if part.strip()]
        for origin in origins:
            if origin != "*" and not _ORIGIN.fullmatch(origin):
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port], or *)")
        return ",".join(origins)

    @property
    def cors_origins(self) -> list[str]:
        return self.cors_allow_origins.split(",") if self.cors_allow_origins else []

    @field_validator("database_read_url")
    @classmethod
    def _read_urls(cls, value: str) -> str:
        urls = read_urls(value)
        for url in urls:
            if not _DATABASE_URL.match(url):
                raise ValueError(f"not a PostgreSQL URL (postgresql://...): {url[:40]!r}")
        return " ".join(urls)

    @property
    def listen_url(self) -> str | None:
        return self.database_listen_url or self.database_url

    @property
    def database_read_urls(self) -> list[str]:
        return read_urls(self.database_read_url)

    @field_validator("webhook_retry_seconds")
    @classmethod
    def _retry_schedule(cls, value: str) -> str:
        waits = [part.strip() for part in value.split(",") if part.strip()]
        if not waits or not all(w.isdigit() for w in waits):
            raise ValueError("a comma-separated list of whole seconds, e.g. 5,30,120")
        return ",".join(waits)

    @property
    def webhook_retry_schedule(self) -> list[int]:
        return [int(w) for w in self.webhook_retry_seconds.split(",")]

    @property
    def secrets(self) -> SecretBox:
        return SecretBox(self.secret_key, self.secret_key_previous)

    @property
    def allowed_hosts(self) -> AllowedHosts:
        return AllowedHosts.parse(self.outbound_allowed_hosts,
                                  loopback=self.outbound_allow_loopback)


_DATABASE_URL = re.compile(r"postgres(ql)?://")
# Between URLs, not inside one: a URL's host list (h1,h2) has commas of its own.
_BETWEEN_URLS = re.compile(r"[\s,]+(?=postgres(?:ql)?://)")


def read_urls(value: str) -> list[str]:
    return [url.strip(" ,") for url in _BETWEEN_URLS.split(value.strip()) if url.strip(" ,")]


_ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
