-- Every primary key, unique index and foreign key of a tenant's table leads with tenant_id: a
-- distributed PostgreSQL (Citus) shards these tables by tenant_id and enforces uniqueness only
-- over keys that hold it. Four indexes were unique on their own, for lookups that do not know
-- the tenant: a job or a group by id (the worker, node lookups), a webhook endpoint by id, a
-- key by its hash (authentication). Ids are random UUIDs and hashes SHA-256 of random secrets,
-- and each is already unique with its tenant (the primary keys): plain indexes serve those
-- lookups. No statement relies on the old uniqueness (no ON CONFLICT names these columns).
-- tests/test_tenant_keys.py keeps it so.
CREATE INDEX jobs_by_id ON jobs (id);
DROP INDEX jobs_id;

CREATE INDEX buying_groups_by_id ON buying_groups (id);
DROP INDEX buying_groups_id;

CREATE INDEX webhook_endpoints_by_id ON webhook_endpoints (id);
ALTER TABLE webhook_endpoints DROP CONSTRAINT webhook_endpoints_id_key;

CREATE UNIQUE INDEX api_keys_by_tenant_and_hash ON api_keys (tenant_id, key_hash);
CREATE INDEX api_keys_by_hash ON api_keys (key_hash);
ALTER TABLE api_keys DROP CONSTRAINT api_keys_key_hash_key;
