-- Who put each member where they are: the actor (migration 0021) of the transaction that last
-- assigned, moved or removed them, kept beside `source` and `assigned_at`
-- (BuyingGroupMember.assignment). Set by a trigger, so no statement that writes members can
-- leave it out; NULL for memberships written before this migration or by a session that names
-- no actor.

ALTER TABLE buying_group_members
    ADD COLUMN assigned_by text CHECK (length(assigned_by) <= 100);

CREATE FUNCTION member_assigned_by() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.role_id IS DISTINCT FROM OLD.role_id
       OR NEW.source IS DISTINCT FROM OLD.source
       OR NEW.is_removed IS DISTINCT FROM OLD.is_removed THEN
        NEW.assigned_by := nullif(current_setting('app.actor', true), '');
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER member_assigned_by BEFORE INSERT OR UPDATE ON buying_group_members
    FOR EACH ROW EXECUTE FUNCTION member_assigned_by();
