-- A tenant that grows through the API (upsertAccounts, upsertPeople) grows faster than
-- autovacuum analyzes: the planner still estimates its rows from statistics taken when it had
-- none, and plans for one row what touches thousands (a CREATE job over 4,000 accounts just
-- upserted: 1.1 s a chunk of 1,000 instead of 0.2). After each bulk write, in the tenant's
-- transaction, this compares the tenant's rows (row_tallies, exact) with the planner's
-- estimate for them, and analyzes a table whose estimate is off tenfold (past 1,000 rows), at
-- most once a minute. It runs as the owner (ANALYZE needs it), held to the tenant's
-- rows by row-level security like any owner's statement here.
CREATE FUNCTION analyze_catalogue_if_stale() RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    tenant uuid := public.app_tenant_id();
    name text;
    actual bigint;
    plan json;
    analyzed timestamptz;
    done boolean := false;
BEGIN
    IF tenant IS NULL THEN
        RETURN false;
    END IF;
    FOREACH name IN ARRAY ARRAY['accounts', 'people'] LOOP
        SELECT coalesce(sum(t.rows), 0) INTO actual FROM public.row_tallies t
         WHERE t.tenant_id = tenant AND t.table_name = name;
        CONTINUE WHEN actual <= 1000;
        EXECUTE format('EXPLAIN (FORMAT JSON) SELECT 1 FROM public.%I WHERE tenant_id = %L',
                       name, tenant) INTO plan;
        CONTINUE WHEN actual <= 10 * (plan -> 0 -> 'Plan' ->> 'Plan Rows')::numeric;
        SELECT greatest(s.last_analyze, s.last_autoanalyze) INTO analyzed
          FROM pg_stat_user_tables s WHERE s.relid = format('public.%I', name)::regclass;
        CONTINUE WHEN analyzed > now() - interval '1 minute';
        EXECUTE format('ANALYZE public.%I', name);
        done := true;
    END LOOP;
    RETURN done;
END
$$;

REVOKE ALL ON FUNCTION analyze_catalogue_if_stale() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION analyze_catalogue_if_stale() TO buying_groups_app;
