-- Alerts: a tenant's rules ("engagement at least 50", "a role emptied", ...) and the alerts they
-- fired. A rule fires when a change makes its condition hold for a group where it did not hold
-- just before (a crossing), so it fires once and re-arms when the condition stops holding; the
-- check runs in the transaction of the change (service/usecases/alert_checks.py), which also
-- records an ALERT_TRIGGERED event per alert.

CREATE TABLE alert_rules (
    tenant_id             uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                    uuid        NOT NULL DEFAULT gen_random_uuid(),
    name                  text        NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    -- The solution interests whose groups it watches; empty: every one.
    solution_interest_ids uuid[]      NOT NULL DEFAULT '{}',
    condition             text        NOT NULL CHECK (condition IN (
                              'ENGAGEMENT_AT_LEAST', 'ENGAGEMENT_RISE', 'COMPLETENESS_BELOW',
                              'ROLE_EMPTIED', 'STAGE_ENTERED')),
    threshold             numeric,
    days                  integer     CHECK (days BETWEEN 1 AND 366),
    role_id               uuid,       -- ROLE_EMPTIED: this role (null: any role)
    stage_id              uuid,       -- STAGE_ENTERED
    enabled               boolean     NOT NULL DEFAULT true,
    created_by            text        DEFAULT nullif(current_setting('app.actor', true), '')
                                      CHECK (length(created_by) <= 100),
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, role_id) REFERENCES roles (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, stage_id) REFERENCES stages (tenant_id, id) ON DELETE CASCADE,
    CHECK ((condition IN ('ENGAGEMENT_AT_LEAST', 'ENGAGEMENT_RISE', 'COMPLETENESS_BELOW'))
           = (threshold IS NOT NULL)),
    CHECK ((condition = 'ENGAGEMENT_RISE') = (days IS NOT NULL)),
    CHECK (condition = 'ROLE_EMPTIED' OR role_id IS NULL),
    CHECK ((condition = 'STAGE_ENTERED') = (stage_id IS NOT NULL))
);

CREATE UNIQUE INDEX alert_rules_name ON alert_rules (tenant_id, lower(name));

CREATE TABLE alerts (
    tenant_id        uuid        NOT NULL,
    id               uuid        NOT NULL DEFAULT gen_random_uuid(),
    alert_rule_id    uuid        NOT NULL,
    buying_group_id  uuid        NOT NULL,
    condition        text        NOT NULL,
    -- The score before and after the change (score conditions), the score it rose from
    -- (ENGAGEMENT_RISE), the role emptied, the stage entered.
    previous_value   numeric,
    value            numeric,
    baseline         numeric,
    role_id          uuid,
    stage_id         uuid,
    triggered_at     timestamptz NOT NULL DEFAULT now(),
    acknowledged_at  timestamptz,
    acknowledged_by  text        CHECK (length(acknowledged_by) <= 100),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, alert_rule_id) REFERENCES alert_rules (tenant_id, id)
        ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, buying_group_id) REFERENCES buying_groups (tenant_id, id)
        ON DELETE CASCADE
);
CREATE INDEX alerts_newest ON alerts (tenant_id, triggered_at DESC, id DESC);
CREATE INDEX alerts_unacknowledged ON alerts (tenant_id, triggered_at DESC, id DESC)
    WHERE acknowledged_at IS NULL;
CREATE INDEX alerts_by_group ON alerts (tenant_id, buying_group_id);
CREATE INDEX alerts_by_rule ON alerts (tenant_id, alert_rule_id);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['alert_rules', 'alerts'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant_id()) '
                       'WITH CHECK (tenant_id = app_tenant_id())', t);
        PERFORM announce_writes(t);
    END LOOP;
END
$$;
