"""The operator's commands for tenants and API keys: `tenant list|delete`, `keys list|create|
revoke`, and the tenant named by `--tenant` (by id or name; an ambiguous or unknown name says
so)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from uuid import UUID

from service.events.changes import global_id
from service.infra.auth import Scope
from service.infra.config import Settings
from service.infra.db import Database, create_pool
from service.store import api_keys as key_store
from service.store import tenants as tenant_store


def database_url(settings: Settings) -> str:
    if not settings.database_url:
        sys.exit("DATABASE_URL is not set, and no `make run` (`buying-groups dev`) runs from "
                 "this folder: set it, or start `make run`, whose embedded servers the "
                 "commands then find.")
    return settings.database_url


@asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[Database]:
    pool = await create_pool(database_url(settings), min_size=1, max_size=2,
                             statement_cache_size=settings.db_statement_cache_size)
    try:
        yield Database(pool)
    finally:
        await pool.close()


def choose_tenant(rows: Sequence[tuple[UUID, str]], wanted: str | None) -> tuple[UUID, str]:
    """The tenant named by id or name (names compared without case); with none given, the only
    tenant there is. Exits with a sentence that says what was wrong."""
    listed = ", ".join(f"{name} ({tenant_id})" for tenant_id, name in rows) or "none yet"
    if not wanted:
        if len(rows) == 1:
            return rows[0]
        sys.exit(f"say which tenant with --tenant NAME_OR_ID; tenants: {listed}")
    by_id = [r for r in rows if str(r[0]) == wanted.strip().lower()]
    if by_id:
        return by_id[0]
    by_name = [r for r in rows if r[1].casefold() == wanted.strip().casefold()]
    if len(by_name) == 1:
        return by_name[0]
    if by_name:
        ids = ", ".join(str(tenant_id) for tenant_id, _ in by_name)
        sys.exit(f"{len(by_name)} tenants are named {wanted!r}: give the id of one ({ids})")
    sys.exit(f"no tenant is named {wanted!r} or has that id; tenants: {listed}")


async def resolve_tenant(db: Database, wanted: str | None) -> tuple[UUID, str]:
    async with db.system() as conn:
        rows = await tenant_store.tenant_names(conn)
    return choose_tenant(rows, wanted)


def cmd_tenant_list(settings: Settings, args: argparse.Namespace) -> None:
    async def run() -> list[tuple[UUID, str]]:
        async with database(settings) as db, db.system() as conn:
            return await tenant_store.tenant_names(conn)

    rows = asyncio.run(run())
    if args.json:
        print(json.dumps([{"id": str(i), "name": n} for i, n in rows]))
        return
    for tenant_id, name in rows:
        print(f"{tenant_id}  {name}")
    if not rows:
        print("no tenants yet: `buying-groups tenant create NAME`", file=sys.stderr)


def cmd_tenant_delete(settings: Settings, args: argparse.Namespace) -> None:
    from service.usecases.tenants import delete_tenant

    async def named() -> tuple[UUID, str]:
        async with database(settings) as db:
            return await resolve_tenant(db, args.tenant)

    tenant_id, name = asyncio.run(named())
    if not args.yes:
        if not sys.stdin.isatty():
            sys.exit(f"deleting {name!r} ({tenant_id}) cannot be undone: add --yes")
        typed = input(f"This deletes {name!r} ({tenant_id}) and all its data, for good.\n"
                      "Type its name to go on: ")
        if typed.strip() != name:
            sys.exit("not deleted")

    async def delete() -> bool:
        async with database(settings) as db:
            return await delete_tenant(db, tenant_id)

    if not asyncio.run(delete()):
        sys.exit(f"no tenant {tenant_id} any more")
    print(f"deleted {name!r} ({tenant_id}) and every row it owned")


def cmd_keys_list(settings: Settings, args: argparse.Namespace) -> None:
    async def run() -> list[key_store.ApiKey]:
        async with database(settings) as db:
            tenant_id, _ = await resolve_tenant(db, args.tenant)
            async with db.tenant(tenant_id, readonly=True) as conn:
                page = await key_store.list_api_keys(conn, limit=1000, after=None,
                                                     include_revoked=args.all)
            return page.items

    keys = asyncio.run(run())
    if args.json:
        print(json.dumps([{"id": str(k.id), "name": k.name, "prefix": k.prefix,
                           "scopes": k.scopes, "createdAt": k.created_at.isoformat(),
                           "lastUsedAt": k.last_used_at.isoformat() if k.last_used_at else None,
                           "revokedAt": k.revoked_at.isoformat() if k.revoked_at else None}
                          for k in keys]))
        return
    for k in keys:
        used = k.last_used_at.strftime("%Y-%m-%d %H:%M") if k.last_used_at else "never used"
        state = f"  revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else ""
        print(f"{k.id}  {k.prefix}…  {','.join(k.scopes):<16}  {used:<16}  {k.name}{state}")


def cmd_keys_create(settings: Settings, args: argparse.Namespace) -> None:
    from service.usecases.api_keys import create_key
    from service.usecases.unit_of_work import CLI, unit_of_work

    try:
        scopes = {Scope(s.strip().upper()) for s in args.scopes.split(",") if s.strip()}
    except ValueError:
        sys.exit("--scopes takes READ, WRITE and ADMIN, comma-separated")

    async def run() -> tuple[str, str]:
        async with database(settings) as db:
            tenant_id, tenant = await resolve_tenant(db, args.tenant)
            async with unit_of_work(db, tenant_id, CLI, audit="keys create") as work:
                made = await create_key(work, args.name, scopes,
                                        is_integration=args.integration)
            if made.value is None:
                sys.exit("; ".join(p.message for p in made.problems))
            return tenant, made.value.secret

    tenant, secret = asyncio.run(run())
    if args.json:
        print(json.dumps({"apiKey": secret}))
    else:
        print(f"API key for {tenant!r} ({', '.join(sorted(scopes))}; shown once): {secret}")


def cmd_keys_revoke(settings: Settings, args: argparse.Namespace) -> None:
    from service.usecases.api_keys import revoke_key
    from service.usecases.unit_of_work import CLI, unit_of_work

    try:
        key_id = UUID(args.key_id)
    except ValueError:
        sys.exit("give the key's id, as `buying-groups keys list` shows it")

    async def run() -> str:
        async with database(settings) as db:
            tenant_id, _ = await resolve_tenant(db, args.tenant)
            async with unit_of_work(db, tenant_id, CLI, audit="keys revoke",
                                    subjects=[global_id("ApiKey", key_id)]) as work:
                done = await revoke_key(work, key_id)
            if done.value is None:
                sys.exit(f"no API key {key_id} in this tenant")
            return done.value.name

    print(f"revoked {asyncio.run(run())!r}: it is refused from now on")


def add_commands(sub: argparse._SubParsersAction,  # type: ignore[type-arg]
                 tenant_sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    listing = tenant_sub.add_parser("list", help="list the tenants, oldest first")
    listing.add_argument("--json", action="store_true", help="print one JSON array")
    listing.set_defaults(fn=cmd_tenant_list)

    delete = tenant_sub.add_parser("delete", help="delete a tenant and every row it owns, "
                                   "for good (asks for its name, or --yes)")
    delete.add_argument("tenant", help="the tenant's name or id")
    delete.add_argument("--yes", action="store_true", help="do not ask")
    delete.set_defaults(fn=cmd_tenant_delete)

    keys = sub.add_parser("keys", help="a tenant's API keys: list, create, revoke")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    which = "tenant name or id (optional when there is only one)"
    key_list = keys_sub.add_parser("list", help="the tenant's keys (not their secrets)")
    key_list.add_argument("--tenant", help=which)
    key_list.add_argument("--all", action="store_true", help="revoked keys too")
    key_list.add_argument("--json", action="store_true", help="print one JSON array")
    key_list.set_defaults(fn=cmd_keys_list)
    create = keys_sub.add_parser("create", help="a new key; its secret is printed once")
    create.add_argument("name", help="what the key is for, e.g. 'CRM sync'")
    create.add_argument("--scopes", default="READ",
                        help="READ, WRITE and/or ADMIN, comma-separated (default READ)")
    create.add_argument("--integration", action="store_true",
                        help="an integration's key: its membership changes count as API, "
                        "below a user's")
    create.add_argument("--tenant", help=which)
    create.add_argument("--json", action="store_true", help="print one JSON line")
    create.set_defaults(fn=cmd_keys_create)
    revoke = keys_sub.add_parser("revoke", help="refuse a key from now on (a lost ADMIN key "
                                 "is replaced with `keys create --scopes ADMIN`)")
    revoke.add_argument("key_id", help="the key's id, as `keys list` shows it")
    revoke.add_argument("--tenant", help=which)
    revoke.set_defaults(fn=cmd_keys_revoke)
