-- Which roles of its template a group has filled, kept with its completeness: the overview's
-- role coverage then reads groups alone, not every membership.
ALTER TABLE buying_groups ADD COLUMN filled_role_ids uuid[] NOT NULL DEFAULT '{}';

UPDATE buying_groups g
   SET filled_role_ids = coalesce((
       SELECT array_agg(e.role_id ORDER BY e.position)
         FROM role_template_entries e
        WHERE e.tenant_id = g.tenant_id AND e.role_template_id = g.role_template_id
          AND (SELECT count(*) FROM buying_group_members m
                WHERE m.tenant_id = g.tenant_id AND m.buying_group_id = g.id
                  AND m.role_id = e.role_id AND NOT m.is_removed) >= e.members_required), '{}');
