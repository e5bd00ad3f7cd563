-- Who this database is to the infrastructure it shares: one id, made with the schema. The job
-- queue in Redis is named after it (and so are the caches named after the queue), so two
-- deployments pointed at the same Redis database never take each other's job messages. A
-- copy of the database (a restored backup) is the same deployment: docs/operations.md says
-- how to give a copy that runs beside its original an id of its own.
CREATE TABLE deployment (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    id       uuid    NOT NULL DEFAULT gen_random_uuid()
);
INSERT INTO deployment DEFAULT VALUES;

-- Read by the API and the worker as the system role, when they start; a tenant's transaction
-- has no business with it.
REVOKE ALL ON deployment FROM buying_groups_app;
ALTER TABLE deployment ENABLE ROW LEVEL SECURITY;
ALTER TABLE deployment FORCE ROW LEVEL SECURITY;
GRANT SELECT ON deployment TO buying_groups_system;
CREATE POLICY system_read ON deployment FOR SELECT TO buying_groups_system USING (true);
