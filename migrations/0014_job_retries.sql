-- Jobs retry transient failures with backoff (next_attempt_at, last_error), give up after
-- JOB_MAX_ATTEMPTS (gave_up: a dead job, by kind on /metrics), are one of a kind while queued
-- or running (dedup_key), and finished ones are deleted after JOB_RETENTION_DAYS.
ALTER TABLE jobs
    ADD COLUMN next_attempt_at timestamptz,
    ADD COLUMN last_error text,
    ADD COLUMN dedup_key text,
    ADD COLUMN gave_up boolean NOT NULL DEFAULT false;
CREATE UNIQUE INDEX jobs_one_of_a_kind ON jobs (tenant_id, kind, dedup_key)
    WHERE status IN ('QUEUED', 'RUNNING') AND dedup_key IS NOT NULL;
CREATE INDEX jobs_finished ON jobs (finished_at)
    WHERE status IN ('SUCCEEDED', 'FAILED', 'CANCELLED');
CREATE INDEX score_history_by_day ON buying_group_score_history (day);
CREATE INDEX stage_history_by_time ON buying_group_stage_history (changed_at);
