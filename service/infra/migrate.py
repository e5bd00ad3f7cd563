"""Applies migrations/NNNN_name.sql in order, each in its own transaction, under an advisory lock.

Applied files are recorded with a checksum; a file edited after it was applied is refused, because
the database would silently differ from what the file now says.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from service.infra.db import APP_ROLE, SYSTEM_ROLE, Connection, through_pooler
from service.infra.login import PrivilegedLogin, grant_roles
from service.infra.shipped import shipped

MIGRATIONS_DIR = shipped("migrations")
# An arbitrary constant shared by every process that migrates this database.
ADVISORY_LOCK_KEY = 0x6267_6D69_6772  # "bgmigr"
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    pass


# Migrations whose comments were reworded after they were applied, with the checksums they were
# applied with. Their statements are the same (tests/test_migrations.py compares them without
# comments), so a database that applied the old text is current, and `migrate` records the new
# checksum. Anything else edited after it was applied is refused.
REWORDED: dict[str, frozenset[str]] = {
    # 0002's comment cited a document the repository does not have.
    "0002": frozenset({"e05fad8b8b3fdad3d0b0920665a2a83cf657ed60a606ef625219f98b6b7552c5"}),
}


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
        migrations.append(Migration(match[1], match[2], path.read_text()))
    if not migrations:  # an installation without its migrations must not report success
        raise MigrationError(f"no migrations in {directory}: the installation is incomplete")
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a version number")
    return migrations


_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version text PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class SchemaState:
    pending: list[Migration]   # this release's migrations not applied yet
    ahead: list[str]           # applied by a newer release, unknown to this one ("0036_name")


async def schema_state(conn: Connection, migrations: list[Migration]) -> SchemaState:
    """What this release's migrations are to the database. A database ahead of the release
    (migrations newer than its newest, applied by the next release) is normal in a rolling
    deploy: migrations only expand until every process runs the new code (docs/operations.md,
    Upgrades). Raises if an applied migration was edited, or one this release should know is
    missing: the database differs from what the files say."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    applied: dict[str, asyncpg.Record] = (
        {r["version"]: r for r in await conn.fetch("SELECT * FROM schema_migrations")}
        if exists
        else {}
    )
    known = {m.version for m in migrations}
    newest = max(known, default="")
    ahead: list[str] = []
    for version, row in sorted(applied.items()):
        if version in known:
            continue
        if version < newest:
            raise MigrationError(
                f"migration {version}_{row['name']} is applied but its file is missing"
            )
        ahead.append(f"{version}_{row['name']}")
    pending: list[Migration] = []
    for migration in migrations:
        if migration.version not in applied:
            pending.append(migration)
        elif applied[migration.version]["checksum"] not in {
                migration.checksum, *REWORDED.get(migration.version, ())}:
            raise MigrationError(
                f"migration {migration.version}_{migration.name}.sql was edited after it was "
                "applied (checksum differs); add a new migration instead of changing this one"
            )
    if pending and ahead:
        raise MigrationError(
            f"migration {pending[0].version}_{pending[0].name} is not applied, yet a newer "
            f"release's {ahead[0]} is: apply this release's migrations in order first")
    return SchemaState(pending, ahead)


async def pending_migrations(
    conn: Connection, migrations: list[Migration]
) -> list[Migration]:
    """The migrations still to apply; raises as schema_state does."""
    return (await schema_state(conn, migrations)).pending


async def migrate(dsn: str, directory: Path = MIGRATIONS_DIR, *,
                  service_login: str | None = None) -> list[str]:
    """Apply pending migrations; returns the names applied. Safe to run concurrently.

    `dsn` logs in as the owner of the tables. With `service_login` (the role `serve` and
    `worker` log in as, when it is another), that login is checked to be least-privileged and
    granted the roles it switches to."""
    migrations = load_migrations(directory)
    conn = await asyncpg.connect(dsn, statement_cache_size=0)
    try:
        if await through_pooler(conn):
            raise MigrationError(
                "migrate reaches PostgreSQL through a connection pooler (PgBouncer), which "
                "would hand its session lock to others: set MIGRATION_DATABASE_URL to the "
                "server itself")
        await conn.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
        try:
            await conn.execute(_CREATE_TABLE)
            applied = []
            pending = await pending_migrations(conn, migrations)
            for migration in migrations:
                if migration.version in REWORDED and migration not in pending:
                    await conn.execute("UPDATE schema_migrations SET checksum = $2 "
                                       "WHERE version = $1 AND checksum <> $2",
                                       migration.version, migration.checksum)
            for migration in pending:
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) "
                        "VALUES ($1, $2, $3)",
                        migration.version,
                        migration.name,
                        migration.checksum,
                    )
                applied.append(f"{migration.version}_{migration.name}")
            for role in (APP_ROLE, SYSTEM_ROLE):
                await check_app_role(conn, role)
            if service_login is not None and service_login != await conn.fetchval(
                    "SELECT current_user"):
                try:
                    await grant_roles(conn, service_login)
                except PrivilegedLogin as exc:
                    raise MigrationError(str(exc)) from None
            return applied
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)
    finally:
        await conn.close()


async def check_app_role(conn: Connection, role: str = APP_ROLE) -> None:
    """Fail loudly when row-level security could be stepped around through a role the
    service switches to (the app role, the system role): it
    must exist, not bypass RLS, not be a superuser, and the migrating login must be able to
    switch to it (every tenant transaction does). Checked on every `migrate`, not only when the
    first migration created the role, because an operator may have changed it since."""
    row = await conn.fetchrow(
        """SELECT r.rolbypassrls, r.rolsuper, r.rolcanlogin,
                  pg_has_role(current_user, r.oid, 'MEMBER') AS member,
                  (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS i_am_super
             FROM pg_roles r WHERE r.rolname = $1""", role)
    if row is None:
        raise MigrationError(f"the role {role} does not exist; the migrations create it")
    if row["rolbypassrls"] or row["rolsuper"]:
        raise MigrationError(
            f"the role {role} can bypass row-level security (BYPASSRLS or SUPERUSER), so tenants "
            f"would not be fenced: ALTER ROLE {role} NOBYPASSRLS NOSUPERUSER; then migrate again")
    if row["rolcanlogin"]:
        raise MigrationError(f"the role {role} can log in; it is only ever switched to: "
                             f"ALTER ROLE {role} NOLOGIN")
    if not (row["member"] or row["i_am_super"]):
        raise MigrationError(f"this login cannot switch to {role} (SET ROLE): GRANT {role} TO "
                             "this login, as the owner of the database")


async def is_current(conn: Connection) -> bool:
    return await readiness(conn) == "ok"


async def readiness(conn: Connection) -> str:
    """`/readyz`'s word on the schema: "ok" when this release's migrations are all applied,
    a newer release's as well or not (a rolling deploy); otherwise what is wrong."""
    try:
        state = await schema_state(conn, load_migrations())
    except MigrationError as exc:
        return str(exc)
    if state.pending:
        return f"{len(state.pending)} pending, from {state.pending[0].version}: run migrate"
    return "ok"
