-- Running tallies of buying groups per overview cell (solution interest, stage, template,
-- filled roles, completeness band, engagement band), so the overview adds up a few hundred
-- cells instead of scanning every group.
--
-- The tallies are deltas: each statement that changes groups inserts its net change per cell,
-- and the overview sums them. Inserting instead of updating one row per cell keeps concurrent
-- writers of the same tenant from queueing on hot rows; compaction (`compact_tallies`, run by
-- the worker) folds the deltas back into one row per cell. No foreign key to tenants: deleting
-- a tenant cascades into its groups, whose trigger would then insert rows for a gone tenant.

CREATE TABLE buying_group_tallies (
    tenant_id uuid NOT NULL,
    solution_interest_id uuid NOT NULL,
    stage_id uuid,
    role_template_id uuid NOT NULL,
    filled_role_ids uuid[] NOT NULL,
    completeness_band smallint NOT NULL,
    engagement_band smallint NOT NULL,
    groups bigint NOT NULL,
    -- numeric, so that a group's contribution taken back cancels exactly
    completeness_sum numeric NOT NULL,
    engagement_sum numeric NOT NULL
);
CREATE INDEX buying_group_tallies_by_tenant ON buying_group_tallies (tenant_id);

ALTER TABLE buying_group_tallies ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON buying_group_tallies
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

-- The overview's four bands, 0 to 3: [0, 25), [25, 50), [50, 75), [75, ...).
CREATE FUNCTION score_band(score numeric) RETURNS smallint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN score < 25 THEN 0 WHEN score < 50 THEN 1 WHEN score < 75 THEN 2 ELSE 3 END;

CREATE FUNCTION tally_buying_groups() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- An update that moves no group between cells and changes no score nets to nothing.
    IF TG_OP = 'INSERT' THEN
        INSERT INTO buying_group_tallies
        SELECT tenant_id, solution_interest_id, stage_id, role_template_id, filled_role_ids,
               score_band(completeness), score_band(engagement), count(*), sum(completeness),
               sum(engagement)
          FROM new_rows
         GROUP BY 1, 2, 3, 4, 5, 6, 7;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO buying_group_tallies
        SELECT tenant_id, solution_interest_id, stage_id, role_template_id, filled_role_ids,
               score_band(completeness), score_band(engagement), -count(*), -sum(completeness),
               -sum(engagement)
          FROM old_rows
         GROUP BY 1, 2, 3, 4, 5, 6, 7;
    ELSE
        INSERT INTO buying_group_tallies
        SELECT tenant_id, solution_interest_id, stage_id, role_template_id, filled_role_ids,
               completeness_band, engagement_band, sum(groups), sum(completeness_sum),
               sum(engagement_sum)
          FROM (SELECT tenant_id, solution_interest_id, stage_id, role_template_id,
                       filled_role_ids, score_band(completeness) AS completeness_band,
                       score_band(engagement) AS engagement_band, 1 AS groups,
                       completeness AS completeness_sum, engagement AS engagement_sum
                  FROM new_rows
                UNION ALL
                SELECT tenant_id, solution_interest_id, stage_id, role_template_id,
                       filled_role_ids, score_band(completeness), score_band(engagement), -1,
                       -completeness, -engagement
                  FROM old_rows) AS change
         GROUP BY 1, 2, 3, 4, 5, 6, 7
        HAVING sum(groups) <> 0 OR sum(completeness_sum) <> 0 OR sum(engagement_sum) <> 0;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER tally_inserted AFTER INSERT ON buying_groups
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tally_buying_groups();
CREATE TRIGGER tally_updated AFTER UPDATE ON buying_groups
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tally_buying_groups();
CREATE TRIGGER tally_deleted AFTER DELETE ON buying_groups
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tally_buying_groups();

-- Fold a tenant's deltas into one row per cell. Rows inserted by transactions still open are
-- not visible here, so they are neither deleted nor counted: they stay as deltas.
CREATE FUNCTION compact_tallies(tenant uuid) RETURNS void LANGUAGE sql AS $$
    WITH gone AS (
        DELETE FROM buying_group_tallies WHERE tenant_id = tenant RETURNING *
    )
    INSERT INTO buying_group_tallies
    SELECT tenant_id, solution_interest_id, stage_id, role_template_id, filled_role_ids,
           completeness_band, engagement_band, sum(groups), sum(completeness_sum),
           sum(engagement_sum)
      FROM gone
     GROUP BY 1, 2, 3, 4, 5, 6, 7
    HAVING sum(groups) <> 0 OR sum(completeness_sum) <> 0 OR sum(engagement_sum) <> 0;
$$;

INSERT INTO buying_group_tallies
SELECT tenant_id, solution_interest_id, stage_id, role_template_id, filled_role_ids,
       score_band(completeness), score_band(engagement), count(*), sum(completeness),
       sum(engagement)
  FROM buying_groups
 GROUP BY 1, 2, 3, 4, 5, 6, 7;

-- Stagnant groups (completeness >= 75, no stage change in 30 days) are counted through this
-- index; the predicate must match STAGNANT_COMPLETENESS in service/store/overview.py.
CREATE INDEX buying_groups_stagnant
    ON buying_groups (tenant_id, (coalesce(stage_entered_at, created_at)))
    INCLUDE (solution_interest_id, stage_id)
    WHERE completeness >= 75;
