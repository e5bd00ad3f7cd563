-- Catalogue: accounts, people, audiences, roles, role templates, solution interests,
-- activity types and scoring models. Tenant-owned rows lead every key with tenant_id.

CREATE TABLE accounts (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    external_id text NOT NULL CHECK (length(external_id) BETWEEN 1 AND 255),
    name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 255),
    parent_id uuid,
    industry text,
    region text,
    country text,
    annual_revenue numeric CHECK (annual_revenue >= 0),
    employee_count integer CHECK (employee_count >= 0),
    attributes jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attributes) = 'object'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, external_id),
    FOREIGN KEY (tenant_id, parent_id) REFERENCES accounts (tenant_id, id) ON DELETE SET NULL (parent_id),
    CHECK (parent_id IS DISTINCT FROM id)
);
CREATE INDEX accounts_by_name ON accounts (tenant_id, lower(name), id);
CREATE INDEX accounts_by_parent ON accounts (tenant_id, parent_id) WHERE parent_id IS NOT NULL;

CREATE TABLE people (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    external_id text NOT NULL CHECK (length(external_id) BETWEEN 1 AND 255),
    account_id uuid NOT NULL,
    email text,
    first_name text,
    last_name text,
    job_title text,
    department text,
    seniority text,
    city text,
    country text,
    attributes jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attributes) = 'object'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, external_id),
    FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX people_by_account ON people (tenant_id, account_id, id);
CREATE INDEX people_by_name
    ON people (tenant_id, lower(coalesce(last_name, '')), lower(coalesce(first_name, '')), id);

CREATE TABLE account_lists (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    description text,
    kind text NOT NULL CHECK (kind IN ('STATIC', 'DYNAMIC')),
    filter jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CHECK ((kind = 'DYNAMIC') = (filter IS NOT NULL))
);
CREATE UNIQUE INDEX account_lists_name ON account_lists (tenant_id, lower(name));

CREATE TABLE account_list_members (
    tenant_id uuid NOT NULL,
    account_list_id uuid NOT NULL,
    account_id uuid NOT NULL,
    PRIMARY KEY (tenant_id, account_list_id, account_id),
    FOREIGN KEY (tenant_id, account_list_id) REFERENCES account_lists (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE roles (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    description text,
    is_default boolean NOT NULL DEFAULT false,
    position integer NOT NULL DEFAULT 100,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX roles_name ON roles (tenant_id, lower(name));

CREATE TABLE role_templates (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    description text,
    status text NOT NULL DEFAULT 'DRAFT' CHECK (status IN ('DRAFT', 'LIVE')),
    copied_from_id uuid,
    published_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX role_templates_name ON role_templates (tenant_id, lower(name));

CREATE TABLE role_template_entries (
    tenant_id uuid NOT NULL,
    role_template_id uuid NOT NULL,
    position integer NOT NULL CHECK (position >= 0),
    role_id uuid NOT NULL,
    weighting text NOT NULL CHECK (weighting IN ('TRIVIAL', 'MINOR', 'NORMAL', 'IMPORTANT', 'VITAL')),
    members_required integer NOT NULL DEFAULT 1 CHECK (members_required >= 1),
    counts_toward_completeness boolean NOT NULL DEFAULT true,
    conditions jsonb,
    PRIMARY KEY (tenant_id, role_template_id, position),
    UNIQUE (tenant_id, role_template_id, role_id),
    FOREIGN KEY (tenant_id, role_template_id) REFERENCES role_templates (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, role_id) REFERENCES roles (tenant_id, id) ON DELETE RESTRICT
);
CREATE INDEX role_template_entries_role ON role_template_entries (tenant_id, role_id);

CREATE TABLE solution_interests (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    description text,
    products text[] NOT NULL DEFAULT '{}',
    role_template_id uuid NOT NULL,
    -- The stage model arrives with the stages issue; its foreign key is added then.
    stage_model_id uuid,
    update_existing_buying_groups boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, role_template_id) REFERENCES role_templates (tenant_id, id) ON DELETE RESTRICT
);
CREATE UNIQUE INDEX solution_interests_name ON solution_interests (tenant_id, lower(name));

-- A solution interest cannot go while jobs refer to it.
ALTER TABLE jobs ADD FOREIGN KEY (tenant_id, solution_interest_id)
    REFERENCES solution_interests (tenant_id, id) ON DELETE RESTRICT;
CREATE INDEX jobs_by_solution_interest ON jobs (tenant_id, solution_interest_id, created_at DESC)
    WHERE solution_interest_id IS NOT NULL;

CREATE TABLE activity_types (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    engagement_type text NOT NULL,
    max_daily_frequency integer NOT NULL DEFAULT 20 CHECK (max_daily_frequency >= 0),
    weight integer NOT NULL CHECK (weight BETWEEN 0 AND 100),
    -- The id the activity source uses for this type, once mapped by name.
    source_type_id integer,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX activity_types_name ON activity_types (tenant_id, lower(name));

CREATE TABLE scoring_models (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    version integer NOT NULL,
    status text NOT NULL DEFAULT 'DRAFT' CHECK (status IN ('DRAFT', 'ACTIVE', 'ARCHIVED')),
    mode text NOT NULL DEFAULT 'COUNT' CHECK (mode IN ('COUNT', 'WEIGHTED')),
    window_days integer NOT NULL DEFAULT 30 CHECK (window_days BETWEEN 1 AND 365),
    -- {activity type id: weight 0..100}; a type without an entry uses its catalogue weight.
    weights jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(weights) = 'object'),
    activated_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, version)
);
CREATE UNIQUE INDEX scoring_models_one_active ON scoring_models (tenant_id) WHERE status = 'ACTIVE';

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['accounts', 'people', 'account_lists', 'account_list_members', 'roles',
                             'role_templates', 'role_template_entries', 'solution_interests',
                             'activity_types', 'scoring_models']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant_id()) '
                       'WITH CHECK (tenant_id = app_tenant_id())', t);
    END LOOP;
END
$$;

-- What every tenant starts with: the six default roles, the seeded activity types (as the
-- guide lists them) and an ACTIVE scoring model in COUNT mode.
CREATE FUNCTION seed_tenant(p_tenant uuid) RETURNS void LANGUAGE sql AS $$
    INSERT INTO roles (tenant_id, name, description, is_default, position)
    SELECT p_tenant, r.name, r.description, true, r.position
      FROM (VALUES
        (1, 'Decision Maker', 'Signs off the purchase and owns the budget.'),
        (2, 'Influencer', 'Shapes the requirements and the shortlist.'),
        (3, 'Practitioner', 'Will use the solution day to day.'),
        (4, 'Executive Steering Committee', 'Senior leaders who set direction and approve.'),
        (5, 'Champion', 'Advocates for the solution inside the account.'),
        (6, 'Other', 'Involved in the purchase in another way.')
      ) AS r (position, name, description)
    ON CONFLICT DO NOTHING;

    INSERT INTO activity_types (tenant_id, name, engagement_type, max_daily_frequency, weight)
    SELECT p_tenant, a.name, a.engagement_type, 20, a.weight
      FROM (VALUES
        ('Register for Event', 'Event', 60), ('Attend Event', 'Event', 90),
        ('Open Email', 'Email', 30), ('Click Email', 'Email', 30),
        ('Open Sales Email', 'Email', 30), ('Click Sales Email', 'Email', 30),
        ('Interesting Moment', 'Curated', 60), ('Tap Push Notification', 'Mobile', 30),
        ('Mobile App Activity', 'Mobile', 30), ('Mobile App Session', 'Mobile', 30),
        ('Fill Out Facebook Lead Ads Form', 'Social', 30), ('Click RTP Call to Action', 'Web', 60),
        ('View In-App Message', 'Mobile', 30), ('Tap In-App Message', 'Mobile', 30),
        ('Subscribe to SMS', 'SMS', 90), ('Reply to Sales Email', 'Email', 30),
        ('Engaged with a Dialogue', 'Chat', 90), ('Interacted with Document in Dialogue', 'Chat', 90),
        ('Scheduled Meeting in Dialogue', 'Chat', 90), ('Reached Dialogue Goal', 'Chat', 90),
        ('Responded to Poll in Webinar', 'Chat', 90),
        ('Call to Action Clicked in Webinar', 'Call to action', 30),
        ('Asset Downloads in Webinar', 'Event', 60), ('Asked Questions in Webinar', 'Event', 60),
        ('Has Attended Event', 'Event', 60), ('Engaged with an Agent in Dialogue', 'Chat', 90),
        ('Clicked Link in Chat in Dialogue', 'Chat', 90),
        ('Engaged with a Conversational Flow', 'Chat', 90),
        ('Scheduled Meeting in Conversational Flow', 'Chat', 90),
        ('Reached Conversational Flow Goal', 'Chat', 90),
        ('Interacted with Document in Conversational Flow', 'Chat', 90),
        ('Engaged with an Agent in Conversational Flow', 'Chat', 90),
        ('Clicked Link in Chat in Conversational Flow', 'Chat', 90),
        ('Click Link in SMS V2', 'SMS', 90),
        ('Visit Webpage', 'Web', 40), ('Fill Out Form', 'Web', 40), ('Click Link', 'Web', 40),
        ('Download Asset', 'Web', 40)
      ) AS a (name, engagement_type, weight)
    ON CONFLICT DO NOTHING;

    INSERT INTO scoring_models (tenant_id, name, version, status, mode, window_days, activated_at)
    SELECT p_tenant, 'Default', 1, 'ACTIVE', 'COUNT', 30, now()
     WHERE NOT EXISTS (SELECT 1 FROM scoring_models WHERE tenant_id = p_tenant);
$$;

SELECT seed_tenant(id) FROM tenants;
