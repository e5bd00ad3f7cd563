-- Buying groups, their members, and integration keys (their member changes count as API).

ALTER TABLE api_keys ADD COLUMN is_integration boolean NOT NULL DEFAULT false;

CREATE TABLE buying_groups (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    account_id uuid NOT NULL,
    solution_interest_id uuid NOT NULL,
    -- The solution interest's template, which never changes; kept here for set-based joins.
    role_template_id uuid NOT NULL,
    name text NOT NULL,
    status text CHECK (length(status) <= 50),
    -- The stage model arrives with the stages feature; its foreign key is added then.
    stage_id uuid,
    stage_entered_at timestamptz,
    completeness numeric NOT NULL DEFAULT 0,
    roles_filled integer NOT NULL DEFAULT 0,
    roles_total integer NOT NULL DEFAULT 0,
    completeness_computed_at timestamptz,
    engagement numeric NOT NULL DEFAULT 0,
    engagement_computed_at timestamptz,
    member_count integer NOT NULL DEFAULT 0,
    created_by_job_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, account_id, solution_interest_id),
    FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, solution_interest_id)
        REFERENCES solution_interests (tenant_id, id) ON DELETE RESTRICT,
    FOREIGN KEY (tenant_id, role_template_id) REFERENCES role_templates (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by_job_id) REFERENCES jobs (tenant_id, id)
        ON DELETE SET NULL (created_by_job_id)
);
CREATE UNIQUE INDEX buying_groups_id ON buying_groups (id);
CREATE INDEX buying_groups_by_name ON buying_groups (tenant_id, lower(name), id);
CREATE INDEX buying_groups_by_interest ON buying_groups (tenant_id, solution_interest_id, id);
CREATE INDEX buying_groups_by_completeness ON buying_groups (tenant_id, completeness, id);
CREATE INDEX buying_groups_by_engagement ON buying_groups (tenant_id, engagement, id);
CREATE INDEX buying_groups_by_created ON buying_groups (tenant_id, created_at, id);
CREATE INDEX buying_groups_by_updated ON buying_groups (tenant_id, updated_at, id);

CREATE TABLE buying_group_members (
    tenant_id uuid NOT NULL,
    buying_group_id uuid NOT NULL,
    person_id uuid NOT NULL,
    role_id uuid NOT NULL,
    -- Who last changed the membership: MANUAL (a user) > API (an integration) > SYSTEM (jobs).
    source text NOT NULL CHECK (source IN ('MANUAL', 'API', 'SYSTEM')),
    is_removed boolean NOT NULL DEFAULT false,
    assigned_at timestamptz NOT NULL DEFAULT now(),
    removed_at timestamptz,
    PRIMARY KEY (tenant_id, buying_group_id, person_id),
    FOREIGN KEY (tenant_id, buying_group_id) REFERENCES buying_groups (tenant_id, id)
        ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, person_id) REFERENCES people (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, role_id) REFERENCES roles (tenant_id, id)
);
CREATE INDEX buying_group_members_by_person ON buying_group_members (tenant_id, person_id);
CREATE INDEX buying_group_members_active_roles
    ON buying_group_members (tenant_id, buying_group_id, role_id) WHERE NOT is_removed;

ALTER TABLE buying_groups ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON buying_groups
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());
ALTER TABLE buying_group_members ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON buying_group_members
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());
