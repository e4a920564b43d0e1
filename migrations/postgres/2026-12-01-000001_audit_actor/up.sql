-- Who made each change: the token's subject, or 'dev' without authentication.
-- Rows older than this migration keep NULL (unknown).
ALTER TABLE job_events ADD COLUMN actor TEXT;
ALTER TABLE assignments ADD COLUMN actor TEXT;
