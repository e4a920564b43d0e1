DROP INDEX live_technicians_by_external_id;
DROP INDEX jobs_by_external_id;
ALTER TABLE technicians DROP COLUMN external_id;
ALTER TABLE jobs DROP COLUMN external_id;
