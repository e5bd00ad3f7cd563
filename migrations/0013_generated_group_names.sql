-- A generated group is named "<solution interest> for <account>" and follows renames of
-- either; a name a user gave it stays (generated_name false) until they clear it.
ALTER TABLE buying_groups ADD COLUMN generated_name boolean NOT NULL DEFAULT true;
