-- Activities a source sends that cannot be stored (no lead id, no source id, a date in the
-- future or before retention, a shape we do not know) are skipped and counted, never fatal: the
-- tally and the last one (reason and an example source id) are shown in `activitySync`.
ALTER TABLE activity_sync_state
    ADD COLUMN activities_rejected bigint NOT NULL DEFAULT 0 CHECK (activities_rejected >= 0),
    ADD COLUMN last_rejection_reason text,
    ADD COLUMN last_rejection_source_id text,
    ADD COLUMN last_rejection_at timestamptz;

-- A tenant's own source carries its own secret: one stored without a secret used to borrow the
-- service-wide one, which must never be sent to a tenant's host. Such sources stay configured,
-- and their next sync says a secret is needed.
COMMENT ON COLUMN activity_sources.client_secret IS
    'Write-only; required for a tenant''s own source and dropped when base_url or client_id change';
