"""Row-level security: the second wall between tenants, below the queries' own filters."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from asgi_lifespan import LifespanManager

from service.app import create_app
from service.infra.config import Settings
from service.infra.db import APP_ROLE, SYSTEM_ROLE, Database, create_pool
from service.infra.login import (
    PrivilegedLogin,
    grant_roles,
    inherited_roles,
    missing_roles,
    privileges,
)
from service.store.api_keys import list_api_keys
from tests.support import TenantKeys


async def test_a_transaction_with_no_tenant_sees_no_rows(db: Database, tenant: TenantKeys) -> None:
    async with db.pool.acquire() as conn, conn.transaction():
        await conn.execute(f"SET LOCAL ROLE {APP_ROLE}")
        assert await conn.fetchval("SELECT count(*) FROM api_keys") == 0
        assert await conn.fetchval("SELECT count(*) FROM tenants") == 0
        assert await conn.fetchval("SELECT count(*) FROM jobs") == 0


async def test_tenant_a_cannot_see_or_write_tenant_b_rows(
    db: Database, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    async with db.tenant(tenant.id) as conn:
        # No WHERE on tenant: only the policy stands between the tenants here.
        owners = {r["tenant_id"] for r in await conn.fetch("SELECT tenant_id FROM api_keys")}
        assert owners == {tenant.id}
        page = await list_api_keys(conn, limit=100, after=None, include_revoked=True)
        assert page.total_count == 3
        updated = await conn.execute(
            "UPDATE api_keys SET name = 'hijacked' WHERE tenant_id = $1", other_tenant.id
        )
        assert updated == "UPDATE 0"
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        async with db.tenant(tenant.id) as conn:
            await conn.execute(
                "INSERT INTO jobs (tenant_id, kind) VALUES ($1, 'CREATE')", other_tenant.id
            )


async def test_every_tenant_owned_table_has_rls_and_a_policy(db: Database) -> None:
    async with db.as_login() as conn:
        rows = await conn.fetch(
            """SELECT c.relname, c.relrowsecurity,
                      EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid) AS has_policy
                 FROM pg_class c
                 JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
                WHERE c.relkind IN ('r', 'p')
                  AND (c.relname = 'tenants' OR EXISTS (
                        SELECT 1 FROM pg_attribute a
                         WHERE a.attrelid = c.oid AND a.attname = 'tenant_id'
                           AND NOT a.attisdropped))
                  AND NOT c.relispartition"""
        )
    assert rows
    unprotected = [r["relname"] for r in rows if not (r["relrowsecurity"] and r["has_policy"])]
    assert unprotected == []


async def test_the_app_role_cannot_bypass_rls(db: Database) -> None:
    async with db.as_login() as conn:
        row = await conn.fetchrow(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1", APP_ROLE
        )
    assert row is not None and not row["rolsuper"] and not row["rolbypassrls"]


async def test_tenant_transactions_run_as_the_app_role(db: Database, tenant: TenantKeys) -> None:
    async with db.tenant(tenant.id) as conn:
        assert await conn.fetchval("SELECT current_user") == APP_ROLE
    async with db.system() as conn:
        assert await conn.fetchval("SELECT current_user") == SYSTEM_ROLE


# What the system role may read across tenants: the job machinery, key lookups, retention,
# sync health, and whether migrations are current (migration 0015). Anything more is a leak.
SYSTEM_READS = {
    "activity_daily", "activity_sync_state", "activity_tallies", "activity_tally_deltas",
    "alerts",  # when each fired, for retention (migration 0027): no column of its content
    "export_files",  # when each expires, for retention (migration 0030)
    "audit_log",  # when each change was, for retention (migration 0028)
    "api_keys", "buying_group_score_history", "buying_group_stage_history",
    "buying_group_tallies", "deployment", "event_positions", "event_relay", "events", "jobs",
    "row_tallies",
    "schema_migrations", "solution_interests", "tenants", "webhook_deliveries",
}


async def readable_by(conn: asyncpg.Connection[Any] | Any, role: str) -> dict[str, Any]:
    """Every relation in the schema `role` may SELECT from (a column of, at least)."""
    rows = await conn.fetch(
        """SELECT c.relname, c.relkind::text, c.relispartition, c.relrowsecurity,
                  c.relforcerowsecurity,
                  (SELECT array_agg(pg_get_expr(p.polqual, p.polrelid)) FROM pg_policy p
                    WHERE p.polrelid = c.oid AND p.polroles = '{0}') AS public_policies
             FROM pg_class c
            WHERE c.relnamespace = 'public'::regnamespace
              AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
              AND (has_table_privilege($1, c.oid, 'SELECT')
                   OR has_any_column_privilege($1, c.oid, 'SELECT'))""", role)
    return {r["relname"]: r for r in rows}


async def test_every_table_the_app_role_can_read_is_fenced_by_tenant(
    db: Database, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    """Listed from the catalogue, not from a list kept by hand: a new table the app role can
    read must hold its owner to row-level security under a tenant policy, and a tenant's
    transaction sees exactly its own rows of it."""
    async with db.as_login() as conn:
        readable = await readable_by(conn, APP_ROLE)
    assert {"tenants", "buying_groups", "activities", "jobs"} <= set(readable)
    for name, row in readable.items():
        assert not row["relispartition"], f"{name}: a partition is reached through its parent"
        assert row["relkind"] in ("r", "p"), f"{name}: a view would run as its owner"
        assert row["relrowsecurity"] and row["relforcerowsecurity"], f"{name}: not FORCEd"
        column = "id" if name == "tenants" else "tenant_id"
        assert row["public_policies"] == [f"({column} = app_tenant_id())"], name
    for name in readable:
        column = "id" if name == "tenants" else "tenant_id"
        async with db.as_login() as conn:
            mine = await conn.fetchval(f"SELECT count(*) FROM {name} WHERE {column} = $1",
                                       tenant.id)
            everyone = await conn.fetchval(f"SELECT count(*) FROM {name}")
        async with db.tenant(tenant.id, readonly=True) as conn:
            assert await conn.fetchval(f"SELECT count(*) FROM {name}") == mine, name
        if name in ("tenants", "api_keys", "roles", "activity_types", "scoring_models"):
            assert everyone > mine > 0, name  # rows of others exist, and stay unseen


async def test_the_system_role_reads_only_what_its_work_needs(db: Database) -> None:
    async with db.as_login() as conn:
        readable = await readable_by(conn, SYSTEM_ROLE)
        secrets = await conn.fetchval("SELECT has_any_column_privilege($1, 'activity_sources',"
                                      " 'SELECT')", SYSTEM_ROLE)
    assert set(readable) == SYSTEM_READS
    assert not secrets


async def test_activity_partitions_are_unreachable_but_through_their_parent(
    db: Database, tenant: TenantKeys
) -> None:
    async with db.as_login() as conn:
        parts = [r["relname"] for r in await conn.fetch(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'activities'::regclass")]
        fenced = await conn.fetch(
            "SELECT relname FROM pg_class WHERE relname = ANY($1) "
            "AND relrowsecurity AND relforcerowsecurity", parts)
    assert "activities_default" in parts and len(fenced) == len(parts)
    for part in parts:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with db.tenant(tenant.id) as conn:
                await conn.fetchval(f"SELECT count(*) FROM {part}")


@pytest.fixture
async def service_db(service_database_url: str) -> AsyncIterator[Database]:
    pool = await create_pool(service_database_url, min_size=1, max_size=2)
    yield Database(pool)
    await pool.close()


async def test_an_injection_that_resets_the_role_is_left_with_nothing(
    service_db: Database, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    """The attack the superuser login allowed: SQL smuggled into a tenant transaction steps
    out of the app role. As the service's own login it finds no privilege at all, and no way
    up to a role that has more."""
    async with service_db.as_login() as conn:
        assert await privileges(conn) == []
    for escape in ("RESET ROLE; SELECT count(*) FROM api_keys",
                   "RESET ROLE; SELECT count(*) FROM activity_sources",
                   "SET ROLE postgres; SELECT 1",
                   "RESET ROLE; ALTER TABLE api_keys NO FORCE ROW LEVEL SECURITY",
                   "SET ROLE buying_groups_system; SELECT count(*) FROM activity_sources",
                   "SET ROLE buying_groups_system; SELECT count(*) FROM buying_groups"):
        with pytest.raises((asyncpg.InsufficientPrivilegeError,
                            asyncpg.InvalidParameterValueError)):
            async with service_db.tenant(tenant.id) as conn:
                await conn.execute(escape)


async def test_the_service_refuses_a_login_that_steps_around_row_level_security(
    settings: Settings, database_url: str
) -> None:
    """The owner's URL on the test server is a superuser's: serve (the app's lifespan) refuses
    it with a message that says what to do, unless the embedded development path allows it."""
    privileged = settings.model_copy(update={"database_url": database_url})
    with pytest.raises(PrivilegedLogin, match=r"superuser.*ALLOW_PRIVILEGED_DATABASE_LOGIN"):
        async with LifespanManager(create_app(privileged)):
            pass
    allowed = privileged.model_copy(update={"allow_privileged_database_login": True})
    async with LifespanManager(create_app(allowed)):
        pass


@pytest.mark.parametrize(("attributes", "complaint"), [
    ("BYPASSRLS", "has BYPASSRLS"), ("OWNER", "owns tables"), ("", None),
])
async def test_a_login_that_could_bypass_rls_is_named_and_never_granted_the_roles(
    database_url: str, attributes: str, complaint: str | None
) -> None:
    role = f"bg_login_check_{uuid.uuid4().hex[:8]}"  # roles are cluster-wide: a scratch one
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f"CREATE ROLE {role} LOGIN "
                           + ("BYPASSRLS" if attributes == "BYPASSRLS" else ""))
        if attributes == "OWNER":
            await conn.execute(f"CREATE TABLE {role}_owned (x int)")
            await conn.execute(f"ALTER TABLE {role}_owned OWNER TO {role}")
        found = await privileges(conn, role)
        if complaint is None:
            assert found == []
            await grant_roles(conn, role)
            assert await missing_roles(conn, role) == []
            assert await inherited_roles(conn, role) == []
        else:
            assert len(found) == 1 and complaint in found[0]
            with pytest.raises(PrivilegedLogin, match=complaint):
                await grant_roles(conn, role)
            assert await missing_roles(conn, role) == [APP_ROLE, SYSTEM_ROLE]
    finally:
        await conn.execute(f"DROP TABLE IF EXISTS {role}_owned")
        await conn.execute(f"DROP OWNED BY {role}")
        await conn.execute(f"DROP ROLE IF EXISTS {role}")
        await conn.close()
