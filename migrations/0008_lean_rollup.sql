-- Ingest writes a rollup row for almost every activity it stores; two things on that path cost
-- more than they give:
-- * the foreign key to tenants checks every row (a fifth of an ingest statement's time).
--   Like the partitioned `activities`, the rollup is written only inside a tenant's own
--   transaction, where row-level security already pins tenant_id to an existing tenant.
-- * the (tenant, day) index: scoring reads by lead through the primary key or scans the
--   window, and the nightly retention delete of old days scans once.
ALTER TABLE activity_daily DROP CONSTRAINT IF EXISTS activity_daily_tenant_id_fkey;
DROP INDEX IF EXISTS activity_daily_by_day;
