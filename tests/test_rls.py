"""Row-level security: the second wall between tenants, below the queries' own filters."""

from __future__ import annotations

import asyncpg
import pytest

from service.db import APP_ROLE, Database
from service.store.api_keys import list_api_keys
from tests.conftest import TenantKeys


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
    async with db.system() as conn:
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
    async with db.system() as conn:
        row = await conn.fetchrow(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1", APP_ROLE
        )
    assert row is not None and not row["rolsuper"] and not row["rolbypassrls"]


async def test_tenant_transactions_run_as_the_app_role(db: Database, tenant: TenantKeys) -> None:
    async with db.tenant(tenant.id) as conn:
        assert await conn.fetchval("SELECT current_user") == APP_ROLE
    async with db.system() as conn:
        assert await conn.fetchval("SELECT current_user") != APP_ROLE
