-- Alerts are kept ALERT_RETENTION_DAYS: the worker's daily retention deletes older ones across
-- tenants, as the system role (it reads only when an alert fired).

CREATE INDEX alerts_triggered_at ON alerts (triggered_at);

GRANT SELECT (tenant_id, triggered_at), DELETE ON alerts TO buying_groups_system;
CREATE POLICY system_read ON alerts FOR SELECT TO buying_groups_system USING (true);
CREATE POLICY system_retention ON alerts FOR DELETE TO buying_groups_system USING (true);
