-- A tenant can score an activity type of its source that the seeded catalogue does not know:
-- the catalogue entry names the source's type it stands for (source_type_name; NULL: its own
-- name), and the sync maps types by that name. Two entries may not claim one source type.
ALTER TABLE activity_types
    ADD COLUMN source_type_name text
        CHECK (source_type_name IS NULL OR length(btrim(source_type_name)) BETWEEN 1 AND 200);
CREATE UNIQUE INDEX activity_types_source_name
    ON activity_types (tenant_id, lower(coalesce(source_type_name, name)));
