-- Bulk exports: an export job streams its rows out of PostgreSQL (COPY) into chunks of a file
-- kept here, so that any API process can serve the download, and nothing holds the rows in
-- memory. The file is kept EXPORT_RETENTION_HOURS after it is complete, then deleted.

CREATE TABLE export_files (
    tenant_id    uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    job_id       uuid        NOT NULL,
    kind         text        NOT NULL CHECK (kind IN ('BUYING_GROUPS', 'MEMBERS',
                                                      'SCORE_HISTORY', 'EVENTS')),
    format       text        NOT NULL CHECK (format IN ('CSV', 'NDJSON')),
    rows         bigint      NOT NULL DEFAULT 0 CHECK (rows >= 0),
    bytes        bigint      NOT NULL DEFAULT 0 CHECK (bytes >= 0),
    chunks       integer     NOT NULL DEFAULT 0 CHECK (chunks >= 0),
    completed_at timestamptz,
    expires_at   timestamptz,
    PRIMARY KEY (tenant_id, job_id),
    FOREIGN KEY (tenant_id, job_id) REFERENCES jobs (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX export_files_expiry ON export_files (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE export_chunks (
    tenant_id uuid    NOT NULL,
    job_id    uuid    NOT NULL,
    seq       integer NOT NULL CHECK (seq >= 1),
    data      bytea   NOT NULL,
    PRIMARY KEY (tenant_id, job_id, seq),
    FOREIGN KEY (tenant_id, job_id) REFERENCES export_files (tenant_id, job_id)
        ON DELETE CASCADE
);
-- Stored as written: compressing megabytes of CSV on the way in cost more than the write.
ALTER TABLE export_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['export_files', 'export_chunks'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant_id()) '
                       'WITH CHECK (tenant_id = app_tenant_id())', t);
        PERFORM announce_writes(t);
    END LOOP;
END
$$;

-- A text cell a spreadsheet would run as a formula (=, +, -, @, or a tab or carriage return
-- first) gets a leading apostrophe, which spreadsheets show as text.
CREATE FUNCTION csv_cell(value text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN value ~ '^[-=+@\t\r]' THEN '''' || value ELSE value END $$;

-- Retention across tenants, as the system role: which files expired, and their deletion.
GRANT SELECT (tenant_id, job_id, expires_at), DELETE ON export_files TO buying_groups_system;
CREATE POLICY system_read ON export_files FOR SELECT TO buying_groups_system USING (true);
CREATE POLICY system_retention ON export_files FOR DELETE TO buying_groups_system USING (true);
GRANT DELETE ON export_chunks TO buying_groups_system;
CREATE POLICY system_retention ON export_chunks FOR DELETE TO buying_groups_system USING (true);

-- An object's global id as the API writes it (base64 of "<Type>:<uuid>"), and a time as the
-- API writes it (ISO 8601, UTC): an exported row says what the API says.
CREATE FUNCTION global_id(type_name text, id uuid) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT translate(encode(convert_to(type_name || ':' || id::text, 'UTF8'), 'base64'),
                           E'\n', '') $$;
CREATE FUNCTION iso_utc(moment timestamptz) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT to_char(moment AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') $$;
