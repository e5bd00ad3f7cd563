"""The `buying-groups` command."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from service.cli.admin import add_commands, resolve_tenant
from service.cli.export import add_export_command
from service.cli.listen import add_webhook_commands
from service.domain.time_zones import time_zone_problem
from service.infra.config import Settings, get_settings
from service.infra.logging import configure_logging

NO_SERVERS = ("is not set, and no `make run` (`buying-groups dev`) runs from this folder: set "
              "it, or start `make run`, whose embedded servers the commands then find.")


def _require(url: str | None, name: str) -> str:
    if not url:
        sys.exit(f"{name} {NO_SERVERS}")
    return url


def with_dev_servers(settings: Settings, command: str) -> Settings:
    """Without DATABASE_URL, the servers of the `make run` that runs from this folder (it
    records them under the data directory while it runs)."""
    if command == "dev" or settings.database_url:
        return settings
    from service.dev.servers_file import running

    found = running(settings.data_dir)
    if found is None:
        return settings
    database_url, redis_url = found
    # The embedded server's one login is its superuser, as `make run` itself uses it.
    return settings.model_copy(update={"database_url": database_url,
                                       "redis_url": settings.redis_url or redis_url,
                                       "allow_privileged_database_login": True})


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> None:
    import asyncpg

    from service.infra.db import login_name
    from service.infra.migrate import MigrationError, migrate

    database_url = _require(settings.database_url, "DATABASE_URL")
    owner_url = settings.migration_database_url or database_url
    try:
        service_login = (asyncio.run(login_name(database_url))
                         if owner_url != database_url else None)
        applied = asyncio.run(migrate(owner_url, service_login=service_login))
    except asyncpg.InsufficientPrivilegeError as exc:
        sys.exit(f"migrate: {exc}: migrations run as the owner of the tables; set "
                 "MIGRATION_DATABASE_URL to its login (DATABASE_URL stays the service's)")
    except MigrationError as exc:
        sys.exit(f"migrate: {exc}")
    print("\n".join(f"applied {name}" for name in applied) or "database is up to date")


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    _require(settings.database_url, "DATABASE_URL")
    _require(settings.redis_url, "REDIS_URL")
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=args.host or settings.api_host,
        port=args.port or settings.api_port,
        workers=args.workers,
        log_config=None,
        proxy_headers=True,
        ws_per_message_deflate=settings.ws_compression,
    )


def cmd_worker(settings: Settings, args: argparse.Namespace) -> None:
    from jobs.worker import build_worker

    database_url = _require(settings.database_url, "DATABASE_URL")
    redis_url = _require(settings.redis_url, "REDIS_URL")

    async def main() -> None:
        from service.infra import tracing
        from service.usecases.deployment import resolved

        tracing.start(settings.otel_exporter_otlp_endpoint, settings.otel_service_name)
        # Built inside the running loop: arq binds its signal handlers to the current loop.
        worker = build_worker(await resolved(settings, database_url), database_url, redis_url,
                              burst=args.burst)
        try:
            await worker.async_run()
        finally:
            await worker.close()

    asyncio.run(main())


async def create_tenant_with_key(database_url: str, name: str, time_zone: str = "UTC",
                                 statement_cache_size: int = 100) -> tuple[str, str]:
    from service.infra.auth import Scope
    from service.infra.db import Database, create_pool
    from service.usecases.tenants import create_tenant

    pool = await create_pool(database_url, min_size=1, max_size=1,
                             statement_cache_size=statement_cache_size)
    try:
        tenant, [secret] = await create_tenant(
            Database(pool), name, time_zone, [("initial admin key", frozenset({Scope.ADMIN}))])
        return str(tenant.id), secret
    finally:
        await pool.close()


def cmd_secrets_new_key(settings: Settings, args: argparse.Namespace) -> None:
    from service.infra.secrets import new_key

    print(new_key())


def cmd_secrets_rotate(settings: Settings, args: argparse.Namespace) -> None:
    from service.infra.db import Database, create_pool
    from service.infra.secrets import SecretsUnavailable
    from service.store.tenants import tenant_ids
    from service.usecases.tenants import reseal_secrets
    from service.usecases.unit_of_work import CLI, unit_of_work

    box = settings.secrets
    if not box.available:
        sys.exit("SECRET_KEY is not set: it is the key to encrypt with")

    async def rotate() -> int:
        pool = await create_pool(_require(settings.database_url, "DATABASE_URL"), min_size=1,
                                 max_size=1,
                                 statement_cache_size=settings.db_statement_cache_size)
        db = Database(pool)
        try:
            async with db.system() as conn:
                tenants = await tenant_ids(conn)
            count = 0
            for tenant_id in tenants:  # one tenant at a time, as row-level security has it
                async with unit_of_work(db, tenant_id, CLI, audit="rotate-secret-key") as work:
                    count += await reseal_secrets(work, box.reseal)
            return count
        finally:
            await pool.close()

    try:
        count = asyncio.run(rotate())
    except SecretsUnavailable as exc:
        # Each tenant's secret is re-encrypted in its own transaction: those done so far are
        # readable with SECRET_KEY, the rest still with the keys that could read them before.
        sys.exit(f"stopped, keep SECRET_KEY_PREVIOUS: {exc}")
    print(f"{count} secret(s) re-encrypted with SECRET_KEY; SECRET_KEY_PREVIOUS may go now")


def cmd_tenant_create(settings: Settings, args: argparse.Namespace) -> None:
    name = args.name.strip()
    if not name or len(name) > 200:
        sys.exit("tenant name must be 1 to 200 characters")
    if (problem := time_zone_problem(args.time_zone)) is not None:
        sys.exit(f"--time-zone: {problem}")
    from service.store.tenants import TenantNameTaken

    try:
        tenant_id, key = asyncio.run(create_tenant_with_key(
            _require(settings.database_url, "DATABASE_URL"), name, args.time_zone,
            settings.db_statement_cache_size))
    except TenantNameTaken:
        sys.exit(f"a tenant named {name!r} exists already (names are compared without case); "
                 "`buying-groups tenant list` shows the tenants")
    if args.json:
        print(json.dumps({"tenantId": tenant_id, "apiKey": key}))
    else:
        print(f"tenant {name!r} created: {tenant_id}")
        print(f"ADMIN API key (shown once): {key}")


def cmd_import(settings: Settings, args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TimeElapsedColumn, TransferSpeedColumn

    from service.cli.importer import import_csv, write_rejects
    from service.infra.db import Database, create_pool

    path = Path(args.file)
    if not path.is_file():
        sys.exit(f"no such file: {path}")
    console = Console(stderr=True)

    async def run() -> Any:
        pool = await create_pool(_require(settings.database_url, "DATABASE_URL"),
                                 min_size=1, max_size=2,
                                 statement_cache_size=settings.db_statement_cache_size)
        try:
            # What the import writes makes cached answers stale at its commit (migration 0020).
            db = Database(pool)
            tenant_id, tenant_name = await resolve_tenant(db, args.tenant)
            with Progress("[progress.description]{task.description}", BarColumn(),
                          "[progress.percentage]{task.percentage:>3.0f}%", TransferSpeedColumn(),
                          TimeElapsedColumn(), console=console) as progress:
                task = progress.add_task(f"{args.kind} → {tenant_name}", total=None)

                def advance(completed: int, total: int) -> None:
                    progress.update(task, completed=completed, total=total)

                return await import_csv(db, tenant_id, args.kind, path, progress=advance)
        finally:
            await pool.close()

    summary = asyncio.run(run())
    console.print(f"{summary.rows} rows read, {summary.written} written, "
                  f"{len(summary.rejected)} rejected")
    for code, count in summary.codes().most_common():
        console.print(f"  {code}: {count}")
    for rejected in summary.rejected[:20]:
        console.print(f"  line {rejected.line} ({rejected.external_id}): {rejected.code} "
                      f"{rejected.message}")
    if args.rejects and summary.rejected:
        with Path(args.rejects).open("w", newline="", encoding="utf-8") as out:
            write_rejects(summary, out)
        console.print(f"rejected rows written to {args.rejects}")
    if summary.rejected and args.strict:
        sys.exit(1)


def cmd_simulator(settings: Settings, args: argparse.Namespace) -> None:
    from service.dev.simulator import run_simulator

    run_simulator(args.host, args.port, settings.activity_api_client_id,
                  settings.activity_api_client_secret)


def cmd_dev(settings: Settings, args: argparse.Namespace) -> None:
    from service.dev.run import run_dev

    run_dev(settings, host=args.host or settings.api_host, port=args.port or settings.api_port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="buying-groups", description=__doc__)
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {package_version('buying-groups')}")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("migrate", help="apply pending migrations").set_defaults(fn=cmd_migrate)

    serve = sub.add_parser("serve", help="serve the API")
    serve.add_argument("--host", help="address to listen on (default API_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default API_PORT, 8000)")
    serve.add_argument("--workers", type=int, default=1,
                       help="API processes (default 1; each has its own connection pool)")
    serve.set_defaults(fn=cmd_serve)

    worker = sub.add_parser("worker", help="run the background worker and its cron jobs")
    worker.add_argument("--burst", action="store_true", help="stop when the queue is empty")
    worker.set_defaults(fn=cmd_worker)

    tenant = sub.add_parser("tenant", help="manage tenants")
    tenant_sub = tenant.add_subparsers(dest="tenant_command", required=True)
    create = tenant_sub.add_parser("create", help="create a tenant and print an ADMIN API key")
    create.add_argument("name", help="the tenant's name (unique without case)")
    create.add_argument("--time-zone", default="UTC",
                        help="IANA name where the tenant's days begin (default UTC)")
    create.add_argument("--json", action="store_true", help="print one JSON line")
    create.set_defaults(fn=cmd_tenant_create)
    add_commands(sub, tenant_sub)
    add_export_command(sub)
    add_webhook_commands(sub)

    imp = sub.add_parser("import", help="bulk import accounts or people from a CSV file")
    imp.add_argument("kind", choices=["accounts", "people"], help="what the file holds")
    imp.add_argument("file", help="a CSV file whose headers are the API's field names")
    imp.add_argument("--tenant", help="tenant name or id (optional when there is only one)")
    imp.add_argument("--rejects", help="write the rejected rows, as the file had them, with "
                     "their line, codes and reasons to this CSV: correct it and import it again "
                     "(the extra columns are ignored)")
    imp.add_argument("--strict", action="store_true", help="exit 1 when any row is rejected")
    imp.set_defaults(fn=cmd_import)

    sim = sub.add_parser("simulator", help="the activity-log API simulator (Marketo protocol)")
    sim.add_argument("--host", default="127.0.0.1", help="address to listen on")
    sim.add_argument("--port", type=int, default=8100, help="port to listen on (default 8100)")
    sim.set_defaults(fn=cmd_simulator)

    secrets = sub.add_parser("secrets", help="the key that encrypts secrets at rest")
    secrets_sub = secrets.add_subparsers(dest="secrets_command", required=True)
    secrets_sub.add_parser("new-key", help="print a new SECRET_KEY").set_defaults(
        fn=cmd_secrets_new_key)
    secrets_sub.add_parser(
        "rotate", help="re-encrypt every stored secret with SECRET_KEY (old keys in "
        "SECRET_KEY_PREVIOUS)").set_defaults(fn=cmd_secrets_rotate)

    dev = sub.add_parser("dev", help="everything at once, with embedded servers when needed")
    dev.add_argument("--host", help="address the API listens on (default API_HOST)")
    dev.add_argument("--port", type=int, help="port the API listens on (default API_PORT)")
    dev.set_defaults(fn=cmd_dev)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    settings = with_dev_servers(get_settings(), args.command)
    configure_logging(settings.log_level)
    args.fn(settings, args)


if __name__ == "__main__":
    main()
