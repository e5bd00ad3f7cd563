-- Who changed what: one entry per committed change (a unit of work that wrote something), in
-- the name of its actor (`api_key.<id>` with the key's name as it was then, `cli`, `job.<id>`),
-- with what it did (`kind`: the mutation, the command, the job's kind) and the ids of what it
-- named. Only ids are kept: an entry holds no value a person could be found by, so erasing a
-- person leaves the trail intact. A job's many transactions add to one entry (its `units`).
-- Kept AUDIT_RETENTION_DAYS, deleted by the worker's daily retention.

CREATE TABLE audit_log (
    tenant_id  uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         bigint      GENERATED ALWAYS AS IDENTITY,
    at         timestamptz NOT NULL DEFAULT now(),
    last_at    timestamptz NOT NULL DEFAULT now(),
    actor      text        NOT NULL CHECK (length(actor) <= 100),
    actor_name text        CHECK (length(actor_name) <= 200),
    kind       text        NOT NULL CHECK (length(kind) BETWEEN 1 AND 100),
    subjects   text[]      NOT NULL DEFAULT '{}' CHECK (cardinality(subjects) <= 20),
    events     integer     NOT NULL DEFAULT 0 CHECK (events >= 0),
    units      integer     NOT NULL DEFAULT 1 CHECK (units >= 1),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX audit_log_newest ON audit_log (tenant_id, at DESC, id DESC);
CREATE INDEX audit_log_by_actor ON audit_log (tenant_id, actor, at DESC, id DESC);
CREATE UNIQUE INDEX audit_log_per_job ON audit_log (tenant_id, actor) WHERE actor LIKE 'job.%';
CREATE INDEX audit_log_at ON audit_log (at);

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_log USING (tenant_id = app_tenant_id())
    WITH CHECK (tenant_id = app_tenant_id());
SELECT announce_writes('audit_log');

GRANT SELECT (tenant_id, at), DELETE ON audit_log TO buying_groups_system;
CREATE POLICY system_read ON audit_log FOR SELECT TO buying_groups_system USING (true);
CREATE POLICY system_retention ON audit_log FOR DELETE TO buying_groups_system USING (true);
