-- A CREATE job writes a tenant's groups and members faster than autovacuum analyzes them: the
-- planner then estimated the members of a page of 50 groups from statistics taken when there
-- were none, and served it by hashing every person of the table (with a million members, 0.8
-- to 1.8 s a page instead of 13 ms, until autovacuum came). A job that wrote groups or members
-- asks at its end for fresh statistics of a table it grew by more than a tenth (and 1,000
-- rows): by its own count, which the statistics collector may not have yet. It runs as the
-- owner (ANALYZE needs it); the statistics describe the whole table, as autovacuum's would.
CREATE FUNCTION analyze_groups_if_grown(groups bigint, members bigint) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    name text;
    written bigint;
    planned real;
    done boolean := false;
BEGIN
    FOREACH name IN ARRAY ARRAY['buying_groups', 'buying_group_members'] LOOP
        written := CASE name WHEN 'buying_groups' THEN groups ELSE members END;
        SELECT c.reltuples INTO planned FROM pg_class c
         WHERE c.oid = format('public.%I', name)::regclass;
        CONTINUE WHEN written < 1000 + 0.1 * greatest(planned, 0);
        EXECUTE format('ANALYZE public.%I', name);
        done := true;
    END LOOP;
    RETURN done;
END
$$;

REVOKE ALL ON FUNCTION analyze_groups_if_grown(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION analyze_groups_if_grown(bigint, bigint) TO buying_groups_app;
