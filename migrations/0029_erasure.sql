-- Erasure: a person (or an account with its people) can be removed on request, with their
-- memberships, activities and daily counts, and their id taken out of the event log. What
-- stays is a tombstone: a hash of the tenant and the external id (never the id itself, which
-- is often an e-mail address), so that a later activity sync or import does not bring the
-- person back. Their activities are then skipped and counted (activity_sync_state).

CREATE FUNCTION erasure_key(tenant uuid, external_id text) RETURNS bytea
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT sha256(convert_to(tenant::text || ':' || external_id, 'UTF8')) $$;

CREATE TABLE erasures (
    tenant_id uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind      text        NOT NULL CHECK (kind IN ('PERSON', 'ACCOUNT')),
    key_hash  bytea       NOT NULL CHECK (length(key_hash) = 32),
    erased_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, kind, key_hash)
);
ALTER TABLE erasures ENABLE ROW LEVEL SECURITY;
ALTER TABLE erasures FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON erasures USING (tenant_id = app_tenant_id())
    WITH CHECK (tenant_id = app_tenant_id());
SELECT announce_writes('erasures');

ALTER TABLE activity_sync_state
    ADD COLUMN activities_of_erased bigint NOT NULL DEFAULT 0 CHECK (activities_of_erased >= 0);

-- PERSON_ERASED concerns a person, not a group.
ALTER TABLE events ALTER COLUMN buying_group_id DROP NOT NULL;
-- Erasure takes a person's id out of the log: found by this index, not a scan of the log.
CREATE INDEX events_by_person ON events (tenant_id, person_id) WHERE person_id IS NOT NULL;
