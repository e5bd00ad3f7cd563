"""Ready for a distributed PostgreSQL (Citus, sharded by tenant_id): every primary key, unique
index and foreign key of a tenant's table leads with tenant_id, and the tables without one are
the few docs/operations.md names (distributed by their own tenant id, or reference tables)."""

from __future__ import annotations

from service.infra.db import Database

# tenants is distributed by its id (colocated with every tenant table); the other two are
# the deployment's own, copied to every node (reference tables).
NOT_PER_TENANT = {"tenants", "schema_migrations", "deployment"}


async def test_every_key_of_a_tenant_table_leads_with_tenant_id(db: Database) -> None:
    async with db.as_login() as conn:
        loose = await conn.fetch("""
            SELECT t.relname::text AS table_name, c.relname::text AS key, 'unique index' AS kind
              FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
              JOIN pg_class c ON c.oid = i.indexrelid
             WHERE i.indisunique AND t.relnamespace = 'public'::regnamespace
               AND NOT t.relispartition
               AND EXISTS (SELECT 1 FROM pg_attribute a
                            WHERE a.attrelid = t.oid AND a.attname = 'tenant_id')
               AND (i.indkey[0] = 0 OR (SELECT attname FROM pg_attribute
                                         WHERE attrelid = t.oid AND attnum = i.indkey[0])
                                        <> 'tenant_id')
            UNION ALL
            SELECT t.relname::text, c.conname::text, 'foreign key'
              FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
             WHERE c.contype = 'f' AND t.relnamespace = 'public'::regnamespace
               AND NOT t.relispartition
               AND EXISTS (SELECT 1 FROM pg_attribute a
                            WHERE a.attrelid = t.oid AND a.attname = 'tenant_id')
               AND (SELECT attname FROM pg_attribute
                     WHERE attrelid = t.oid AND attnum = c.conkey[1]) <> 'tenant_id'
             ORDER BY 1, 2""")
        without = {r["relname"] for r in await conn.fetch("""
            SELECT t.relname::text AS relname FROM pg_class t
             WHERE t.relnamespace = 'public'::regnamespace AND t.relkind IN ('r', 'p')
               AND NOT t.relispartition
               AND NOT EXISTS (SELECT 1 FROM pg_attribute a
                                WHERE a.attrelid = t.oid AND a.attname = 'tenant_id')""")}
    assert [dict(r) for r in loose] == []
    assert without == NOT_PER_TENANT
