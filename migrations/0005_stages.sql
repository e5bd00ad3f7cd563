-- Stage models, the stage of every buying group, and its history.

CREATE TABLE stage_models (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    description text,
    status text NOT NULL DEFAULT 'DRAFT' CHECK (status IN ('DRAFT', 'LIVE')),
    published_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX stage_models_name ON stage_models (tenant_id, lower(name));

CREATE TABLE stages (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    stage_model_id uuid NOT NULL,
    key text NOT NULL CHECK (key ~ '^[A-Za-z0-9_-]{1,50}$'),
    name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    description text,
    kind text NOT NULL CHECK (kind IN ('ENTRY', 'INTERMEDIATE', 'SUCCESS', 'FAILURE')),
    position integer NOT NULL,
    transitions_to text[] NOT NULL DEFAULT '{}',
    -- Move a group here automatically when this holds (evaluated after every rescoring).
    entry_rule jsonb,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, stage_model_id, key),
    FOREIGN KEY (tenant_id, stage_model_id) REFERENCES stage_models (tenant_id, id)
        ON DELETE CASCADE
);

ALTER TABLE solution_interests ADD FOREIGN KEY (tenant_id, stage_model_id)
    REFERENCES stage_models (tenant_id, id) ON DELETE RESTRICT;
ALTER TABLE buying_groups ADD FOREIGN KEY (tenant_id, stage_id)
    REFERENCES stages (tenant_id, id) ON DELETE SET NULL (stage_id);
CREATE INDEX buying_groups_by_stage ON buying_groups (tenant_id, stage_id);

CREATE TABLE buying_group_stage_history (
    tenant_id uuid NOT NULL,
    buying_group_id uuid NOT NULL,
    id bigint GENERATED ALWAYS AS IDENTITY,
    from_stage_id uuid,
    to_stage_id uuid NOT NULL,
    changed_by text NOT NULL CHECK (changed_by IN ('USER', 'INTEGRATION', 'RULE', 'SYSTEM')),
    api_key_id uuid,
    changed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, buying_group_id, id),
    FOREIGN KEY (tenant_id, buying_group_id) REFERENCES buying_groups (tenant_id, id)
        ON DELETE CASCADE
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['stage_models', 'stages', 'buying_group_stage_history']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant_id()) '
                       'WITH CHECK (tenant_id = app_tenant_id())', t);
    END LOOP;
END
$$;
