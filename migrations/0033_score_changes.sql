-- Rescoring writes only what moved. A group's row is written when its engagement changed, and
-- a score snapshot is added when either score differs from the group's latest one: a snapshot
-- stands for every day from its own to the next one's (readers take the latest on or before a
-- day). The daily snapshots kept so far are such a history too, so they stay as they are; the
-- days on which nothing changed age out with retention, which keeps each group's latest
-- snapshot before its cutoff.
--
-- The nightly pass scores every group of a tenant; a group it did not write was computed when
-- the pass ended: its engagement's computedAt is the later of its own time and this one.

CREATE TABLE engagement_passes (
    tenant_id uuid        PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    scored_at timestamptz NOT NULL
);

ALTER TABLE engagement_passes ENABLE ROW LEVEL SECURITY;
ALTER TABLE engagement_passes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON engagement_passes USING (tenant_id = app_tenant_id())
    WITH CHECK (tenant_id = app_tenant_id());
SELECT announce_writes('engagement_passes');
