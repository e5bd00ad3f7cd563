-- Accounts pages show the first few people of each account and the first few children of each
-- parent, in name order. Read in that order from an index, such a page reads its own rows and
-- counts from the index alone, instead of sorting every person of a large account. Each new
-- index begins as the one it replaces did, so it serves their lookups too.
CREATE INDEX people_by_account_and_name ON people
    (tenant_id, account_id, lower(coalesce(last_name, '')), lower(coalesce(first_name, '')), id);
DROP INDEX people_by_account;
CREATE INDEX accounts_by_parent_and_name ON accounts (tenant_id, parent_id, lower(name), id)
    WHERE parent_id IS NOT NULL;
DROP INDEX accounts_by_parent;
