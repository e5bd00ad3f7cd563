-- Who last changed a membership (migration 0022) was set by a row trigger on every insert: a
-- PL/pgSQL call per member, about a tenth of a generation job's time at 200,000 members. An
-- insert now takes the actor from the column's default, and the trigger runs only for updates
-- that change the role, the source or whether the member is removed (its WHEN clause: no call
-- at all for other updates).

ALTER TABLE buying_group_members
    ALTER COLUMN assigned_by SET DEFAULT nullif(current_setting('app.actor', true), '');

DROP TRIGGER member_assigned_by ON buying_group_members;
CREATE TRIGGER member_assigned_by BEFORE UPDATE ON buying_group_members
    FOR EACH ROW
    WHEN (NEW.role_id IS DISTINCT FROM OLD.role_id OR NEW.source IS DISTINCT FROM OLD.source
          OR NEW.is_removed IS DISTINCT FROM OLD.is_removed)
    EXECUTE FUNCTION member_assigned_by();
