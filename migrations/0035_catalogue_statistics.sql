-- A bulk import into a new tenant grows accounts and people tenfold within minutes, faster than
-- autovacuum analyzes them: the plans made from the statistics of a nearly empty table then
-- read the tenant's whole table for every batch of 1,000 (importing 1,000,000 people took 40
-- times as long as 100,000). The importer asks for fresh statistics as it goes (each time the
-- rows it wrote doubled). ANALYZE takes the owner: this function runs as the owner for the
-- system role, and analyzes those two tables only.
CREATE FUNCTION analyze_catalogue() RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    ANALYZE public.accounts, public.people;
END
$$;

REVOKE ALL ON FUNCTION analyze_catalogue() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION analyze_catalogue() TO buying_groups_system;
