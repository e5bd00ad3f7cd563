"""The migration runner: ordered, idempotent, safe under concurrency, strict about edits."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import shutil
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from service.dev.embedded import EmbeddedServices, with_database, with_login
from service.infra.auth import Scope
from service.infra.db import (
    APP_ROLE,
    SYSTEM_ROLE,
    Database,
    create_pool,
    drop_database,
    ensure_database,
)
from service.infra.login import PrivilegedLogin, check_login
from service.infra.migrate import (
    MIGRATIONS_DIR,
    REWORDED,
    MigrationError,
    check_app_role,
    is_current,
    load_migrations,
    migrate,
    readiness,
)
from service.store import tenants as tenant_store
from service.store.activities import ensure_partitions, month_start
from service.store.api_keys import authenticate
from service.usecases.tenants import create_tenant


@pytest.fixture
async def empty_database(servers: EmbeddedServices) -> AsyncIterator[str]:
    assert servers.database_url
    name = f"bg_mig_{uuid.uuid4().hex[:8]}"
    await ensure_database(servers.database_url, name)
    yield with_database(servers.database_url, name)
    await drop_database(servers.database_url, name)


def migrations_copy(tmp_path: Path, name: str) -> Path:
    """This release's migration files, copied into a folder a test may change."""
    folder = tmp_path / name
    shutil.copytree(MIGRATIONS_DIR, folder)
    return folder


async def applied_versions(url: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
        return [r["version"] for r in rows]
    finally:
        await conn.close()


async def test_migrate_applies_every_file_in_order_then_nothing(empty_database: str) -> None:
    names = [f"{m.version}_{m.name}" for m in load_migrations()]
    assert await migrate(empty_database) == names
    assert await migrate(empty_database) == []
    assert await applied_versions(empty_database) == [m.version for m in load_migrations()]


async def test_two_concurrent_migrations_apply_each_file_once(empty_database: str) -> None:
    first, second = await asyncio.gather(migrate(empty_database), migrate(empty_database))
    assert sorted(first + second) == sorted(f"{m.version}_{m.name}" for m in load_migrations())
    assert await applied_versions(empty_database) == [m.version for m in load_migrations()]


async def test_an_edited_applied_migration_is_refused(empty_database: str, tmp_path: Path) -> None:
    folder = migrations_copy(tmp_path, "migrations")
    await migrate(empty_database, folder)
    first = sorted(folder.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- changed\n")
    with pytest.raises(MigrationError, match="edited after it was applied"):
        await migrate(empty_database, folder)


async def schema_word(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        return await readiness(conn)
    finally:
        await conn.close()


async def test_a_database_a_newer_release_migrated_is_ready_for_this_one(
    empty_database: str, tmp_path: Path
) -> None:
    """A rolling deploy: the next release migrated the database while this release's
    processes still serve. They stay ready (0.1.0 said "not ready" and was taken out of
    service); a missing older file or a gap before the newer ones is still refused."""
    newer = migrations_copy(tmp_path, "newer")
    (newer / "9990_next_release.sql").write_text("CREATE TABLE next_release (id int);")
    await migrate(empty_database, newer)
    assert await schema_word(empty_database) == "ok"
    assert await migrate(empty_database) == []  # nothing of this release's left to apply
    # An applied migration older than the release's newest, whose file is gone: refused.
    gone = migrations_copy(tmp_path, "gone")
    sorted(gone.glob("*.sql"))[3].unlink()
    with pytest.raises(MigrationError, match="applied but its file is missing"):
        await migrate(empty_database, gone)


async def test_a_newer_release_applied_past_a_gap_is_refused(
    empty_database: str, tmp_path: Path
) -> None:
    folder = migrations_copy(tmp_path, "migrations")
    (folder / "9990_next_release.sql").write_text("SELECT 1;")
    await migrate(empty_database, folder)
    newest = load_migrations()[-1]
    conn = await asyncpg.connect(empty_database)
    try:
        await conn.execute("DELETE FROM schema_migrations WHERE version = $1", newest.version)
        word = await readiness(conn)
    finally:
        await conn.close()
    assert word.startswith(f"migration {newest.version}_{newest.name} is not applied, yet")
    with pytest.raises(MigrationError, match="apply this release's migrations in order"):
        await migrate(empty_database)


async def test_readiness_names_what_is_pending(empty_database: str, tmp_path: Path) -> None:
    folder = migrations_copy(tmp_path, "migrations")
    sorted(folder.glob("*.sql"))[-1].unlink()
    await migrate(empty_database, folder)
    newest = load_migrations()[-1]
    assert await schema_word(empty_database) == f"1 pending, from {newest.version}: run migrate"


async def test_a_failing_migration_leaves_nothing_half_applied(
    empty_database: str, tmp_path: Path
) -> None:
    folder = migrations_copy(tmp_path, "migrations")
    (folder / "9998_good.sql").write_text("CREATE TABLE probe_ok (id int);")
    (folder / "9999_broken.sql").write_text("CREATE TABLE probe_bad (id int); SELECT 1/0;")
    with pytest.raises(asyncpg.DivisionByZeroError):
        await migrate(empty_database, folder)
    conn = await asyncpg.connect(empty_database)
    try:
        assert await conn.fetchval("SELECT to_regclass('probe_ok') IS NOT NULL")
        assert not await conn.fetchval("SELECT to_regclass('probe_bad') IS NOT NULL")
    finally:
        await conn.close()
    assert "9999" not in await applied_versions(empty_database)


async def test_the_ingest_tally_starts_from_the_activities_already_stored(
    empty_database: str, tmp_path: Path
) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if path.name < "0010":
            shutil.copy(path, folder)
    await migrate(empty_database, folder)
    conn = await asyncpg.connect(empty_database)
    try:
        tenants = [await conn.fetchval("INSERT INTO tenants (name) VALUES ($1) RETURNING id",
                                       name) for name in ("A", "B", "C")]
        for tenant, count in zip(tenants, (3, 1, 0), strict=True):
            await conn.execute(
                "INSERT INTO activities (tenant_id, activity_date, source_id, lead_id, "
                "source_type_id) SELECT $1, now(), g::text, 'L', 1 "
                "FROM generate_series(1, $2) g", tenant, count)
        await conn.execute("INSERT INTO activity_sync_state (tenant_id, last_error) "
                           "VALUES ($1, 'kept')", tenants[0])
        assert (await migrate(empty_database))[0] == "0010_ingest_tally"
        rows = await conn.fetch("SELECT tenant_id, activities_ingested, last_error "
                                "FROM activity_sync_state")
        assert {(r["tenant_id"], r["activities_ingested"], r["last_error"]) for r in rows} == {
            (tenants[0], 3, "kept"), (tenants[1], 1, None)}
    finally:
        await conn.close()


def test_badly_named_migration_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1_x.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"NNNN_name\.sql"):
        load_migrations(tmp_path)


@pytest.mark.parametrize(("attributes", "complaint"), [
    ("NOLOGIN BYPASSRLS", "can bypass row-level security"),
    ("LOGIN NOBYPASSRLS", "can log in"),
    ("NOLOGIN NOBYPASSRLS", None),
])
async def test_a_misconfigured_app_role_fails_migrate_loudly(
    empty_database: str, attributes: str, complaint: str | None
) -> None:
    await migrate(empty_database)
    role = f"bg_role_check_{uuid.uuid4().hex[:8]}"  # roles are cluster-wide: a scratch one
    conn = await asyncpg.connect(empty_database)
    try:
        await conn.execute(f"CREATE ROLE {role} {attributes}")
        await conn.execute(f"GRANT {role} TO current_user")
        if complaint is None:
            await check_app_role(conn, role)
        else:
            with pytest.raises(MigrationError, match=complaint):
                await check_app_role(conn, role)
        with pytest.raises(MigrationError, match="does not exist"):
            await check_app_role(conn, f"{role}_missing")
    finally:
        await conn.execute(f"DROP ROLE IF EXISTS {role}")
        await conn.close()


@contextlib.asynccontextmanager
async def managed_database(servers: EmbeddedServices) -> AsyncIterator[tuple[str, str, str]]:
    """As on a managed PostgreSQL: a database that belongs to a login with CREATEROLE but no
    superuser, and a login for the service: (its URL, the owner, the service's login)."""
    assert servers.database_url
    tag = uuid.uuid4().hex[:8]
    owner, login, name = f"bg_owner_{tag}", f"bg_service_{tag}", f"bg_managed_{tag}"
    admin = await asyncpg.connect(servers.database_url)
    try:
        await admin.execute(f"CREATE ROLE {owner} LOGIN PASSWORD 'owner' CREATEROLE")
        await admin.execute(f"CREATE ROLE {login} LOGIN PASSWORD 'service'")
        # The service roles are cluster-wide and exist already (other test databases); on a
        # fresh server the owner's first migration creates them and may grant them (ADMIN).
        for role in (APP_ROLE, SYSTEM_ROLE):
            await admin.execute(f"GRANT {role} TO {owner} WITH ADMIN OPTION")
        await admin.execute(f"CREATE DATABASE {name} OWNER {owner}")
        yield with_database(servers.database_url, name), owner, login
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"DROP ROLE IF EXISTS {login}")
        await admin.execute(f"DROP ROLE IF EXISTS {owner}")
        await admin.close()


async def test_a_managed_postgresql_owner_migrates_and_the_service_runs_as_its_own_login(
    servers: EmbeddedServices,
) -> None:
    """The owner migrates (and is then held to row-level security itself, FORCEd), grants the
    service's login the two roles, and the service does its work as that login."""
    async with managed_database(servers) as (url, owner, login):
        applied = await migrate(with_login(url, owner, "owner"), service_login=login)
        assert applied[-1] == sorted(MIGRATIONS_DIR.glob("*.sql"))[-1].stem  # all of them

        pool = await create_pool(with_login(url, login, "service"), min_size=1, max_size=2)
        try:
            async with pool.acquire() as conn:
                await check_login(conn, allow_privileged=False)  # refuses unless least
            db = Database(pool)
            tenant, [key] = await create_tenant(db, "Managed", keys=[
                ("admin", frozenset({Scope.ADMIN}))])
            async with db.system() as conn:
                principal = await authenticate(conn, key)
                assert principal is not None and principal.tenant_id == tenant.id
                await ensure_partitions(conn, [month_start(datetime.now(UTC))])
            async with db.tenant(tenant.id) as conn:
                assert await conn.fetchval("SELECT count(*) FROM roles") > 0
        finally:
            await pool.close()
        as_owner = await asyncpg.connect(with_login(url, owner, "owner"))
        try:
            # FORCE: the owner sees no tenant's catalogue unless it binds a tenant, as the app
            # does (the service's roles are granted to it, so it reads what they read).
            assert await as_owner.fetchval("SELECT count(*) FROM roles") == 0
            with pytest.raises(PrivilegedLogin, match="owns tables"):
                await check_login(as_owner, allow_privileged=False)
        finally:
            await as_owner.close()


async def test_the_tallies_begin_with_every_tenants_rows_under_a_managed_owner(
    servers: EmbeddedServices, tmp_path: Path
) -> None:
    """Migrations 0018 and 0019 count the people, accounts and activities already there, which
    the owner, held to row-level security since 0015, cannot see without lifting it for that
    transaction."""
    earlier = tmp_path / "migrations"
    earlier.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if path.name < "0018":
            shutil.copy(path, earlier / path.name)
    async with managed_database(servers) as (url, owner, login):
        await migrate(with_login(url, owner, "owner"), earlier, service_login=login)
        pool = await create_pool(with_login(url, login, "service"), min_size=1, max_size=2)
        try:
            db = Database(pool)
            # Created as the code of 0017's time did: the store's statement, no audit log yet.
            tenants = [uuid.uuid4() for _ in range(2)]
            for n, tenant_id in enumerate(tenants):
                async with db.tenant(tenant_id) as conn:
                    await tenant_store.create_tenant(conn, f"T{n}", tenant_id=tenant_id)
            now = datetime.now(UTC)
            async with db.system() as conn:
                await ensure_partitions(conn, [month_start(now)])
            for n, tenant_id in enumerate(tenants):
                async with db.tenant(tenant_id) as conn:
                    account = await conn.fetchval(
                        "INSERT INTO accounts (tenant_id, external_id, name) "
                        "VALUES ($1, 'a', 'A') RETURNING id", tenant_id)
                    await conn.execute(
                        "INSERT INTO people (tenant_id, external_id, account_id) "
                        "SELECT $1, 'p' || i, $2 FROM generate_series(1, $3) AS i",
                        tenant_id, account, 3 + n)
                    await conn.execute(
                        "INSERT INTO activities (tenant_id, activity_date, source_id, lead_id, "
                        "source_type_id) SELECT $1, $2, 's' || i, 'p' || (i % 2), 1 "
                        "FROM generate_series(1, $3) AS i", tenant_id, now, 5 + n)
            await migrate(with_login(url, owner, "owner"), service_login=login)
            for n, tenant_id in enumerate(tenants):
                async with db.tenant(tenant_id, readonly=True) as conn:
                    rows = await conn.fetch("SELECT table_name, rows FROM row_tallies ORDER BY 1")
                    assert [tuple(r) for r in rows] == [("accounts", 1), ("people", 3 + n)]
                    rows = await conn.fetch(
                        "SELECT lead_id, month, activities FROM activity_tallies ORDER BY 1")
                    this_month = month_start(now)
                    assert [tuple(r) for r in rows] == [("p0", this_month, 2 + n),
                                                        ("p1", this_month, 3)]
            as_owner = await asyncpg.connect(with_login(url, owner, "owner"))
            try:
                forced = await as_owner.fetch(
                    "SELECT relname FROM pg_class WHERE relname IN ('people', 'accounts', "
                    "'row_tallies', 'activities', 'activity_tallies', 'activity_tally_deltas') "
                    "AND relforcerowsecurity ORDER BY 1")
                assert [r["relname"] for r in forced] == [
                    "accounts", "activities", "activity_tallies", "activity_tally_deltas",
                    "people", "row_tallies"]
            finally:
                await as_owner.close()
        finally:
            await pool.close()


OLD_0002_COMMENT = (
    "-- What every tenant starts with: the six default roles, the seeded activity types "
    "(SPEC" ".md §3)\n-- and an ACTIVE scoring model in COUNT mode.\n")
NEW_0002_COMMENT = (
    "-- What every tenant starts with: the six default roles, the seeded activity types (as the\n"
    "-- guide lists them) and an ACTIVE scoring model in COUNT mode.\n")


def without_comments(sql: str) -> str:
    return "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))


def test_a_reworded_migration_changed_only_its_comments() -> None:
    current = next(m for m in load_migrations() if m.version == "0002").sql
    assert NEW_0002_COMMENT in current
    old = current.replace(NEW_0002_COMMENT, OLD_0002_COMMENT)
    assert hashlib.sha256(old.encode()).hexdigest() in REWORDED["0002"]
    assert without_comments(old) == without_comments(current)


async def test_a_database_that_applied_a_reworded_migration_is_current(
    empty_database: str, tmp_path: Path
) -> None:
    folder = migrations_copy(tmp_path, "migrations")
    reworded = next(folder.glob("0002_*.sql"))
    reworded.write_text(reworded.read_text().replace(NEW_0002_COMMENT, OLD_0002_COMMENT))
    await migrate(empty_database, folder)
    assert await migrate(empty_database) == []
    conn = await asyncpg.connect(empty_database)
    try:
        recorded = await conn.fetchval(
            "SELECT checksum FROM schema_migrations WHERE version = '0002'")
        assert await is_current(conn)
    finally:
        await conn.close()
    assert recorded == next(m for m in load_migrations() if m.version == "0002").checksum
