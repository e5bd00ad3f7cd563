-- How many people and accounts each tenant has, kept as deltas as migration 0007 keeps the
-- overview's tallies: each statement that inserts or deletes rows inserts its net change per
-- tenant, an unfiltered page of people or accounts sums a few rows instead of counting the
-- whole table (a sequential scan growing with the tenant: 0.7 ms of a 1 ms page statement at
-- 3,000 people), and `compact_row_tallies` (run by the worker) folds the deltas. Inserting
-- instead of updating one counter row keeps concurrent importers of a tenant from queueing on
-- it. No foreign key to tenants, as in 0007: deleting a tenant cascades into its people,
-- whose trigger then inserts a row for a tenant that is gone.

CREATE TABLE row_tallies (
    tenant_id  uuid   NOT NULL,
    table_name text   NOT NULL CHECK (table_name IN ('people', 'accounts')),
    rows       bigint NOT NULL
);
CREATE INDEX row_tallies_by_tenant ON row_tallies (tenant_id, table_name) INCLUDE (rows);

-- An upsert's rows that already existed are updates: they are in neither transition table
-- below, and an update never moves a row between tenants.
CREATE FUNCTION tally_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO row_tallies
        SELECT tenant_id, TG_TABLE_NAME, count(*) FROM new_rows GROUP BY tenant_id;
    ELSE
        INSERT INTO row_tallies
        SELECT tenant_id, TG_TABLE_NAME, -count(*) FROM old_rows GROUP BY tenant_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER tally_inserted AFTER INSERT ON people
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tally_rows();
CREATE TRIGGER tally_deleted AFTER DELETE ON people
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tally_rows();
CREATE TRIGGER tally_inserted AFTER INSERT ON accounts
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tally_rows();
CREATE TRIGGER tally_deleted AFTER DELETE ON accounts
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tally_rows();

-- Fold a tenant's deltas into one row per table. Rows inserted by transactions still open are
-- not visible here, so they are neither deleted nor counted: they stay as deltas.
CREATE FUNCTION compact_row_tallies(tenant uuid) RETURNS void LANGUAGE sql AS $$
    WITH gone AS (
        DELETE FROM row_tallies WHERE tenant_id = tenant RETURNING *
    )
    INSERT INTO row_tallies
    SELECT tenant_id, table_name, sum(rows) FROM gone GROUP BY 1, 2 HAVING sum(rows) <> 0;
$$;

-- The counts so far. Every tenant's rows are counted here, so row security is lifted for the
-- owner during this transaction (0015 holds the owner to it) and row_tallies gets its policy
-- after; the ALTERs lock both tables until the migration commits, so no write falls between.
ALTER TABLE people NO FORCE ROW LEVEL SECURITY;
ALTER TABLE accounts NO FORCE ROW LEVEL SECURITY;
INSERT INTO row_tallies SELECT tenant_id, 'people', count(*) FROM people GROUP BY tenant_id;
INSERT INTO row_tallies SELECT tenant_id, 'accounts', count(*) FROM accounts GROUP BY tenant_id;
ALTER TABLE people FORCE ROW LEVEL SECURITY;
ALTER TABLE accounts FORCE ROW LEVEL SECURITY;

ALTER TABLE row_tallies ENABLE ROW LEVEL SECURITY;
ALTER TABLE row_tallies FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON row_tallies
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

-- The worker's choice of tenants to compact.
GRANT SELECT (tenant_id) ON row_tallies TO buying_groups_system;
CREATE POLICY system_read ON row_tallies FOR SELECT TO buying_groups_system USING (true);
