-- An ADMIN may move a group to any stage of its model, against the model's transitions (to undo
-- a mistaken move to a terminal stage such as Won): such a move is recorded as an OVERRIDE.
-- Every move also records its actor (migration 0021), whoever made it.

ALTER TABLE buying_group_stage_history
    DROP CONSTRAINT buying_group_stage_history_changed_by_check,
    ADD CONSTRAINT buying_group_stage_history_changed_by_check
        CHECK (changed_by IN ('USER', 'INTEGRATION', 'RULE', 'SYSTEM', 'OVERRIDE')),
    ADD COLUMN actor text DEFAULT nullif(current_setting('app.actor', true), '')
        CHECK (length(actor) <= 100);
