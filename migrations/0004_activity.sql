-- Activity from the external activity log, its daily rollup, sync state, and score history.

-- Where a tenant's activity comes from (Marketo protocol). NULL columns fall back to the
-- ACTIVITY_API_* settings. The secret is write-only through the API.
CREATE TABLE activity_sources (
    tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    base_url text,
    client_id text,
    client_secret text,
    -- Restrict to these source activity type ids; NULL: every type the source lists.
    activity_type_ids integer[],
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One paging cursor per chunk of at most 10 activity type ids, saved together with the
-- activities that page produced.
CREATE TABLE activity_sync_cursors (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    type_chunk text NOT NULL,
    next_page_token text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, type_chunk)
);

CREATE TABLE activity_sync_state (
    tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    last_run_at timestamptz,
    last_success_at timestamptz,
    cursor_at timestamptz,
    last_error text,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Raw activities, partitioned by month so old ones are dropped a partition at a time. The
-- source's id (marketoGUID, else id) with its date identifies an activity: stored once.
CREATE TABLE activities (
    tenant_id uuid NOT NULL,
    activity_date timestamptz NOT NULL,
    source_id text NOT NULL,
    lead_id text NOT NULL,
    source_type_id integer NOT NULL,
    primary_attribute_value text,
    attributes jsonb,
    ingested_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, activity_date, source_id)
) PARTITION BY RANGE (activity_date);
CREATE TABLE activities_default PARTITION OF activities DEFAULT;
CREATE INDEX activities_by_lead ON activities (tenant_id, lead_id, activity_date DESC);

-- Per lead, source type and day (in the tenant's time zone): how many activities. Kept current
-- on ingest; scoring reads only this.
CREATE TABLE activity_daily (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    lead_id text NOT NULL,
    source_type_id integer NOT NULL,
    day date NOT NULL,
    count integer NOT NULL CHECK (count >= 0),
    PRIMARY KEY (tenant_id, lead_id, day, source_type_id)
);
CREATE INDEX activity_daily_by_day ON activity_daily (tenant_id, day);

-- One row per buying group and day: the scores as they were that day.
CREATE TABLE buying_group_score_history (
    tenant_id uuid NOT NULL,
    buying_group_id uuid NOT NULL,
    day date NOT NULL,
    completeness numeric NOT NULL,
    engagement numeric NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, buying_group_id, day),
    FOREIGN KEY (tenant_id, buying_group_id) REFERENCES buying_groups (tenant_id, id)
        ON DELETE CASCADE
);

CREATE INDEX activity_types_by_source ON activity_types (tenant_id, source_type_id)
    WHERE source_type_id IS NOT NULL;
CREATE INDEX buying_group_members_active_people
    ON buying_group_members (tenant_id, person_id) WHERE NOT is_removed;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['activity_sources', 'activity_sync_cursors', 'activity_sync_state',
                             'activities', 'activity_daily', 'buying_group_score_history']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant_id()) '
                       'WITH CHECK (tenant_id = app_tenant_id())', t);
    END LOOP;
END
$$;
