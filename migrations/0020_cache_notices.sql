-- Cached API answers go stale when any process writes, not only when a writer that reaches
-- Redis remembers to say so: the CLI without REDIS_URL, a job, a psql session. Every statement
-- that writes a tenant's rows announces the tenant on the channel `response_cache`; PostgreSQL
-- delivers the notice when (and only if) the transaction commits, once per tenant however many
-- statements named it. The notice names the transaction too: the API processes key cached
-- answers by the last notice heard for the tenant (service/infra/write_notices.py).
--
-- A transaction that sets `app.unseen` to 'on' writes only bookkeeping no answer shows (the
-- event relay's position, a webhook attempt's outcome): it announces nothing. The tally tables
-- are written by other tables' triggers or folded without changing any answer, and announce
-- nothing either. A test (tests/test_response_cache.py) lists the tables with no announcement.

CREATE FUNCTION announce_tenant_write() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tenant uuid;
BEGIN
    IF current_setting('app.unseen', true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        FOR tenant IN SELECT DISTINCT tenant_id FROM old_rows LOOP
            PERFORM pg_notify('response_cache', tenant::text || ':' || pg_current_xact_id()::text);
        END LOOP;
    ELSE  -- an update never moves a row to another tenant (every key leads with tenant_id)
        FOR tenant IN SELECT DISTINCT tenant_id FROM new_rows LOOP
            PERFORM pg_notify('response_cache', tenant::text || ':' || pg_current_xact_id()::text);
        END LOOP;
    END IF;
    RETURN NULL;
END
$$;

-- The tenants table names its tenant in `id`.
CREATE FUNCTION announce_tenant_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tenant uuid;
BEGIN
    IF current_setting('app.unseen', true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        FOR tenant IN SELECT id FROM old_rows LOOP
            PERFORM pg_notify('response_cache', tenant::text || ':' || pg_current_xact_id()::text);
        END LOOP;
    ELSE
        FOR tenant IN SELECT id FROM new_rows LOOP
            PERFORM pg_notify('response_cache', tenant::text || ':' || pg_current_xact_id()::text);
        END LOOP;
    END IF;
    RETURN NULL;
END
$$;

-- Three statement-level triggers (transition tables take one event each) on every table that
-- holds tenants' rows, but the derived ones; a later migration adding such a table adds them
-- with `announce_writes('name')`.
CREATE FUNCTION announce_writes(table_name text, announce text DEFAULT 'announce_tenant_write')
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TRIGGER announce_inserted AFTER INSERT ON %I '
                   'REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION %I()',
                   table_name, announce);
    EXECUTE format('CREATE TRIGGER announce_updated AFTER UPDATE ON %I '
                   'REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION %I()',
                   table_name, announce);
    EXECUTE format('CREATE TRIGGER announce_deleted AFTER DELETE ON %I '
                   'REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION %I()',
                   table_name, announce);
END
$$;

SELECT announce_writes('tenants', 'announce_tenant_row');
SELECT announce_writes(c.relname::text)
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
 WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
   AND EXISTS (SELECT 1 FROM pg_attribute a
                WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
   AND c.relname NOT IN ('activity_tallies', 'activity_tally_deltas', 'row_tallies',
                         'buying_group_tallies', 'event_positions', 'event_relay')
 ORDER BY c.relname;
