-- Members had two indexes on (tenant, person): all of them, and the active ones only. Every
-- member a job writes paid for both, each at a random leaf of an index as large as the
-- tenant's memberships, while a person holds a handful of memberships: reading them all and
-- skipping the removed ones costs nothing. The full one stays: cascades and erasure find
-- removed rows through it too.
DROP INDEX buying_group_members_active_people;
