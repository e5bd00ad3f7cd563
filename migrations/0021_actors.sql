-- Who made each change. A transaction names its actor in the setting `app.actor` (an API key
-- `api_key.<id>`, the command line `cli`, a job `job.<id>`, the worker's own upkeep `system`);
-- the events it records and the jobs it starts carry it, whichever statement writes them.
-- Rows written before this migration, or by a session that names no actor (psql), have none.

ALTER TABLE events
    ADD COLUMN actor text DEFAULT nullif(current_setting('app.actor', true), '')
        CHECK (length(actor) <= 100);

ALTER TABLE jobs
    ADD COLUMN created_by text DEFAULT nullif(current_setting('app.actor', true), '')
        CHECK (length(created_by) <= 100);
