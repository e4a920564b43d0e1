ALTER TABLE job_events DROP COLUMN actor;
ALTER TABLE assignments DROP COLUMN actor;
