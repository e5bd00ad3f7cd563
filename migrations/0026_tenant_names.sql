-- Tenant names are unique without case: the command line addresses tenants by name, and two
-- tenants of one name could only be told apart by id. Names already shared keep the oldest
-- tenant's as it is; the others get their id's first characters appended.

UPDATE tenants t
   SET name = t.name || ' (' || left(t.id::text, 8) || ')'
  FROM (SELECT id, row_number() OVER (PARTITION BY lower(name) ORDER BY created_at, id) AS n
          FROM tenants) d
 WHERE d.id = t.id AND d.n > 1;

CREATE UNIQUE INDEX tenants_name ON tenants (lower(name));
