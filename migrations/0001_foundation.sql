-- Foundation: the application role that row-level security applies to, tenants, API keys, jobs.

-- The role is cluster-wide, so two databases on one server may create it at the same moment.
DO $$
BEGIN
    CREATE ROLE buying_groups_app NOLOGIN NOBYPASSRLS;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

-- The connecting role switches to buying_groups_app in every tenant transaction.
DO $$
BEGIN
    EXECUTE format('GRANT buying_groups_app TO %I', current_user);
EXCEPTION WHEN OTHERS THEN
    NULL; -- a superuser needs no membership
END
$$;

GRANT USAGE ON SCHEMA public TO buying_groups_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO buying_groups_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO buying_groups_app;

-- The tenant bound to the current transaction; NULL when none is, which matches no row.
CREATE FUNCTION app_tenant_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(current_setting('app.tenant_id', true), '')::uuid $$;

CREATE TABLE tenants (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    time_zone text NOT NULL DEFAULT 'UTC',
    created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
    USING (id = app_tenant_id()) WITH CHECK (id = app_tenant_id());

CREATE TABLE api_keys (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    name text NOT NULL CHECK (length(name) <= 200),
    -- The first characters of the key, so a user can tell keys apart; never enough to use it.
    prefix text NOT NULL,
    key_hash bytea NOT NULL UNIQUE,
    scopes text[] NOT NULL CHECK (
        cardinality(scopes) > 0 AND scopes <@ ARRAY['READ', 'WRITE', 'ADMIN']
    ),
    created_at timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX api_keys_created ON api_keys (tenant_id, created_at, id);
ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_keys
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

-- Background jobs. The row is the truth; arq on Redis only carries the id to a worker.
CREATE TABLE jobs (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    kind text NOT NULL,
    status text NOT NULL DEFAULT 'QUEUED'
        CHECK (status IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
    payload jsonb NOT NULL DEFAULT '{}',
    solution_interest_id uuid,
    progress_total integer NOT NULL DEFAULT 0 CHECK (progress_total >= 0),
    progress_processed integer NOT NULL DEFAULT 0 CHECK (progress_processed >= 0),
    buying_groups_created integer NOT NULL DEFAULT 0,
    buying_groups_updated integer NOT NULL DEFAULT 0,
    error text,
    attempts integer NOT NULL DEFAULT 0,
    lease_expires_at timestamptz,
    enqueued_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX jobs_id ON jobs (id);
CREATE INDEX jobs_unfinished ON jobs (status, lease_expires_at)
    WHERE status IN ('QUEUED', 'RUNNING');
CREATE INDEX jobs_listing ON jobs (tenant_id, created_at DESC, id DESC);
ALTER TABLE jobs ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON jobs
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());
