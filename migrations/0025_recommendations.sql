-- Member scope and recommendations. A template's groups may take people of their account only
-- (ACCOUNT, as before) or of its sub-accounts too (ACCOUNT_AND_DESCENDANTS: a parent company's
-- group with its subsidiaries' people). A recommendation dismissed for a group's role is not
-- offered for it again.

ALTER TABLE role_templates ADD COLUMN member_scope text NOT NULL DEFAULT 'ACCOUNT'
    CHECK (member_scope IN ('ACCOUNT', 'ACCOUNT_AND_DESCENDANTS'));

CREATE TABLE recommendation_dismissals (
    tenant_id       uuid        NOT NULL,
    buying_group_id uuid        NOT NULL,
    role_id         uuid        NOT NULL,
    person_id       uuid        NOT NULL,
    dismissed_at    timestamptz NOT NULL DEFAULT now(),
    dismissed_by    text        DEFAULT nullif(current_setting('app.actor', true), '')
                                CHECK (length(dismissed_by) <= 100),
    PRIMARY KEY (tenant_id, buying_group_id, role_id, person_id),
    FOREIGN KEY (tenant_id, buying_group_id) REFERENCES buying_groups (tenant_id, id)
        ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, role_id) REFERENCES roles (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, person_id) REFERENCES people (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX recommendation_dismissals_by_person
    ON recommendation_dismissals (tenant_id, person_id);

ALTER TABLE recommendation_dismissals ENABLE ROW LEVEL SECURITY;
ALTER TABLE recommendation_dismissals FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON recommendation_dismissals
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());
SELECT announce_writes('recommendation_dismissals');
