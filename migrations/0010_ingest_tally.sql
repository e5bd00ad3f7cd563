-- `activitySync.activitiesIngested` counted a tenant's activities on every read: a scan of
-- millions of rows for a status field. Each write now adds what it stored to a tally kept with
-- the sync state, in the transaction that commits the rows and the cursor. It counts what was
-- ever stored: retention dropping old months does not lower it.
ALTER TABLE activity_sync_state ADD COLUMN activities_ingested bigint NOT NULL DEFAULT 0
    CHECK (activities_ingested >= 0);

INSERT INTO activity_sync_state AS s (tenant_id, activities_ingested)
SELECT tenant_id, count(*) FROM activities
 WHERE tenant_id IN (SELECT id FROM tenants)
 GROUP BY tenant_id
    ON CONFLICT (tenant_id) DO UPDATE SET activities_ingested = EXCLUDED.activities_ingested;
