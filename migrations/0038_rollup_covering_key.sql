-- Scoring a few groups (creating them, maintaining them, a sync's touched groups) reads each
-- member's days through the rollup's (tenant, lead) key. A lead's rows lie on as many heap
-- pages as it has days with activity, since ingest appends a day at a time: about ten random
-- pages per member, most of them outside shared buffers once a tenant's rollup outgrows them,
-- so each chunk of such a job grew slower as the tenant grew. With the count in the key's
-- index, a lead's days are one index leaf, read by an index-only scan (the heap only for pages
-- written since the last vacuum). The price: an ingest that adds to an existing day's count
-- now writes an index entry too (that update was HOT before).
ALTER TABLE activity_daily
    DROP CONSTRAINT activity_daily_pkey,
    ADD PRIMARY KEY (tenant_id, lead_id, day, source_type_id) INCLUDE (count);
