-- Integrators' own ids (a CRM's work order number, an HR system's employee
-- id), unique among live records so a client can find a record by it.
ALTER TABLE jobs ADD COLUMN external_id TEXT;
ALTER TABLE technicians ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX jobs_by_external_id ON jobs (external_id) WHERE external_id IS NOT NULL;
CREATE UNIQUE INDEX live_technicians_by_external_id ON technicians (external_id)
    WHERE external_id IS NOT NULL AND deleted_at IS NULL;
