"""The `buying-groups` command (SPEC.md §8)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence

from service.config import Settings, get_settings
from service.logging import configure_logging


def _require(url: str | None, name: str) -> str:
    if not url:
        sys.exit(f"{name} is not set; `buying-groups dev` starts embedded servers instead.")
    return url


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> None:
    from service.migrate import MigrationError, migrate

    try:
        applied = asyncio.run(migrate(_require(settings.database_url, "DATABASE_URL")))
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
    )


def cmd_worker(settings: Settings, args: argparse.Namespace) -> None:
    from jobs.worker import build_worker

    database_url = _require(settings.database_url, "DATABASE_URL")
    redis_url = _require(settings.redis_url, "REDIS_URL")

    async def main() -> None:
        # Built inside the running loop: arq binds its signal handlers to the current loop.
        worker = build_worker(settings, database_url, redis_url, burst=args.burst)
        try:
            await worker.async_run()
        finally:
            await worker.close()

    asyncio.run(main())


async def create_tenant_with_key(database_url: str, name: str) -> tuple[str, str]:
    from service.auth import Scope
    from service.db import Database, create_pool
    from service.store.api_keys import create_api_key
    from service.store.tenants import create_tenant

    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        async with Database(pool).system() as conn:
            tenant = await create_tenant(conn, name)
            _, secret = await create_api_key(conn, tenant.id, "initial admin key", {Scope.ADMIN})
        return str(tenant.id), secret
    finally:
        await pool.close()


def cmd_tenant_create(settings: Settings, args: argparse.Namespace) -> None:
    name = args.name.strip()
    if not name or len(name) > 200:
        sys.exit("tenant name must be 1 to 200 characters")
    tenant_id, key = asyncio.run(
        create_tenant_with_key(_require(settings.database_url, "DATABASE_URL"), name)
    )
    if args.json:
        print(json.dumps({"tenantId": tenant_id, "apiKey": key}))
    else:
        print(f"tenant {name!r} created: {tenant_id}")
        print(f"ADMIN API key (shown once): {key}")


def cmd_dev(settings: Settings, args: argparse.Namespace) -> None:
    from service.dev import run_dev

    run_dev(settings, host=args.host or settings.api_host, port=args.port or settings.api_port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="buying-groups", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("migrate", help="apply pending migrations").set_defaults(fn=cmd_migrate)

    serve = sub.add_parser("serve", help="serve the API")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(fn=cmd_serve)

    worker = sub.add_parser("worker", help="run the background worker and its cron jobs")
    worker.add_argument("--burst", action="store_true", help="stop when the queue is empty")
    worker.set_defaults(fn=cmd_worker)

    tenant = sub.add_parser("tenant", help="manage tenants")
    tenant_sub = tenant.add_subparsers(dest="tenant_command", required=True)
    create = tenant_sub.add_parser("create", help="create a tenant and print an ADMIN API key")
    create.add_argument("name")
    create.add_argument("--json", action="store_true", help="print one JSON line")
    create.set_defaults(fn=cmd_tenant_create)

    dev = sub.add_parser("dev", help="everything at once, with embedded servers when needed")
    dev.add_argument("--host")
    dev.add_argument("--port", type=int)
    dev.set_defaults(fn=cmd_dev)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    settings = get_settings()
    configure_logging(settings.log_level)
    args.fn(settings, args)


if __name__ == "__main__":
    main()
