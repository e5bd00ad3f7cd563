-- Defence in depth (PostgreSQL's "Row Security Policies" and "Writing SECURITY DEFINER
-- Functions Safely"): the owner is held to row-level security too, the work that spans tenants
-- runs as a narrow role of its own instead of as the owner, and activity partitions are reached
-- only through their parent.

-- 1. The system role: what the job machinery, authentication and the metrics need across
-- tenants, and nothing more. The service's login is a member of it and of buying_groups_app,
-- switches to one of the two in every transaction, and may itself do nothing.
DO $$
BEGIN
    CREATE ROLE buying_groups_system NOLOGIN NOBYPASSRLS;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL; -- cluster-wide: another database on this server created it
END
$$;

-- As 0001 does for the app role, but loudly: a login that cannot switch to the role cannot run.
DO $$
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE format('GRANT buying_groups_system TO %I', current_user);
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO buying_groups_system;

-- Authentication: a key by its hash, and its last use (written once a minute).
GRANT SELECT ON tenants, api_keys TO buying_groups_system;
GRANT UPDATE (last_used_at) ON api_keys TO buying_groups_system;
CREATE POLICY system_read ON tenants FOR SELECT TO buying_groups_system USING (true);
CREATE POLICY system_read ON api_keys FOR SELECT TO buying_groups_system USING (true);
CREATE POLICY system_last_use ON api_keys FOR UPDATE TO buying_groups_system
    USING (true) WITH CHECK (true);

-- Jobs: fair claims, leases, retries, the sweeper, retention. Jobs are created by tenants.
GRANT SELECT, UPDATE, DELETE ON jobs TO buying_groups_system;
CREATE POLICY system_jobs ON jobs FOR SELECT TO buying_groups_system USING (true);
CREATE POLICY system_job_updates ON jobs FOR UPDATE TO buying_groups_system
    USING (true) WITH CHECK (true);
CREATE POLICY system_job_retention ON jobs FOR DELETE TO buying_groups_system USING (true);

-- The daily fan-out to solution interests that keep their groups up to date.
GRANT SELECT (tenant_id, id, update_existing_buying_groups) ON solution_interests
    TO buying_groups_system;
CREATE POLICY system_read ON solution_interests FOR SELECT TO buying_groups_system USING (true);

-- Retention of history and rollup, and which tenants' tallies to fold.
GRANT SELECT, DELETE ON buying_group_score_history, buying_group_stage_history, activity_daily
    TO buying_groups_system;
GRANT SELECT (tenant_id) ON buying_group_tallies TO buying_groups_system;
CREATE POLICY system_read ON buying_group_score_history FOR SELECT TO buying_groups_system
    USING (true);
CREATE POLICY system_retention ON buying_group_score_history FOR DELETE TO buying_groups_system
    USING (true);
CREATE POLICY system_read ON buying_group_stage_history FOR SELECT TO buying_groups_system
    USING (true);
CREATE POLICY system_retention ON buying_group_stage_history FOR DELETE TO buying_groups_system
    USING (true);
CREATE POLICY system_read ON activity_daily FOR SELECT TO buying_groups_system USING (true);
CREATE POLICY system_retention ON activity_daily FOR DELETE TO buying_groups_system
    USING (true);
CREATE POLICY system_read ON buying_group_tallies FOR SELECT TO buying_groups_system
    USING (true);

-- /metrics: sync health summed over tenants (no secrets in this table).
GRANT SELECT ON activity_sync_state TO buying_groups_system;
CREATE POLICY system_read ON activity_sync_state FOR SELECT TO buying_groups_system
    USING (true);

-- /readyz: are the migrations current. Tenants have no business here.
REVOKE ALL ON schema_migrations FROM buying_groups_app;
GRANT SELECT ON schema_migrations TO buying_groups_system;

-- 2. Every table with a policy holds its owner to it as well: only a superuser or a BYPASSRLS
-- role (which the service refuses to log in as) steps around it.
DO $$
DECLARE
    t regclass;
BEGIN
    FOR t IN SELECT c.oid FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
              WHERE c.relkind IN ('r', 'p') AND c.relrowsecurity AND NOT c.relispartition
    LOOP
        EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', t);
    END LOOP;
END
$$;

-- 3. Activity partitions: queried through `activities`, whose policy applies; reached directly,
-- they grant nothing and (a second fence) have row security with no policy, which denies all.
CREATE FUNCTION fence_activity_partition(p regclass) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    EXECUTE format('REVOKE ALL ON %s FROM buying_groups_app, buying_groups_system, PUBLIC', p);
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', p);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', p);
END
$$;
REVOKE ALL ON FUNCTION fence_activity_partition(regclass) FROM PUBLIC;

SELECT fence_activity_partition(i.inhrelid::regclass)
  FROM pg_inherits i WHERE i.inhparent = 'activities'::regclass;

-- Creating or dropping a partition takes the parent's owner. The system role may do exactly
-- that through these two functions, which run as the owner: months in a bounded window only
-- (a source's dates must not make the database create tables at will), and only whole months
-- before a cutoff at least two months back (retention is 2 months or more).
CREATE FUNCTION ensure_activity_partitions(months date[]) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    m date;
    this_month date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
    part text;
BEGIN
    FOREACH m IN ARRAY coalesce(months, '{}') LOOP
        IF m IS NULL OR m <> date_trunc('month', m)::date
           OR m < this_month - interval '10 years' OR m > this_month + interval '1 month' THEN
            RAISE EXCEPTION 'no activity partition for %: months from % to % only',
                m, this_month - interval '10 years', this_month + interval '1 month'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        part := format('activities_y%sm%s', to_char(m, 'YYYY'), to_char(m, 'MM'));
        CONTINUE WHEN to_regclass('public.' || part) IS NOT NULL;
        BEGIN
            EXECUTE format(
                'CREATE TABLE public.%I PARTITION OF public.activities FOR VALUES FROM (%L) TO (%L)',
                part, (m::timestamp AT TIME ZONE 'UTC'),
                ((m + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
            PERFORM fence_activity_partition(('public.' || part)::regclass);
        EXCEPTION WHEN duplicate_table OR unique_violation THEN
            NULL; -- a concurrent sync created it first
        END;
    END LOOP;
END
$$;

CREATE FUNCTION drop_activity_partitions_before(cutoff date) RETURNS SETOF text
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    part text;
    latest date := date_trunc('month', now() AT TIME ZONE 'UTC')::date - interval '2 months';
BEGIN
    IF cutoff IS NULL OR cutoff > latest THEN
        RAISE EXCEPTION 'retention keeps two months at least: no cutoff after %', latest
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR part IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'public.activities'::regclass
           AND c.relname ~ '^activities_y[0-9]{4}m[0-9]{2}$'
           AND make_date(substr(c.relname, 13, 4)::int, substr(c.relname, 18, 2)::int, 1)
               + interval '1 month' <= cutoff
         ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TABLE IF EXISTS public.%I', part);
        RETURN NEXT part;
    END LOOP;
END
$$;

REVOKE ALL ON FUNCTION ensure_activity_partitions(date[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION drop_activity_partitions_before(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ensure_activity_partitions(date[]) TO buying_groups_system;
GRANT EXECUTE ON FUNCTION drop_activity_partitions_before(date) TO buying_groups_system;
