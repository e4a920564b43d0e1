-- fieldopt schema, SQLite flavour. Keep in step with ../../postgres.
-- Times are UTC; shift and slot times are minutes after midnight.

CREATE TABLE technicians (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    phone TEXT,
    email TEXT,
    capacity INTEGER NOT NULL,
    shift_start INTEGER NOT NULL,
    shift_end INTEGER NOT NULL,
    home_latitude DOUBLE,
    home_longitude DOUBLE,
    latitude DOUBLE,
    longitude DOUBLE,
    location_updated_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP
);
CREATE INDEX technicians_live ON technicians (deleted_at, id);

CREATE TABLE technician_skills (
    technician_id BIGINT NOT NULL REFERENCES technicians (id) ON DELETE CASCADE,
    skill TEXT NOT NULL,
    PRIMARY KEY (technician_id, skill)
);
CREATE INDEX technician_skills_by_skill ON technician_skills (skill, technician_id);

CREATE TABLE technician_areas (
    technician_id BIGINT NOT NULL REFERENCES technicians (id) ON DELETE CASCADE,
    area TEXT NOT NULL,
    PRIMARY KEY (technician_id, area)
);
CREATE INDEX technician_areas_by_area ON technician_areas (area, technician_id);

CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_type TEXT NOT NULL,
    customer TEXT NOT NULL,
    address TEXT NOT NULL,
    status TEXT NOT NULL,
    scheduled_date DATE,
    slot_start INTEGER,
    slot_end INTEGER,
    technician_id BIGINT REFERENCES technicians (id),
    priority INTEGER NOT NULL,
    duration_minutes INTEGER NOT NULL,
    latitude DOUBLE,
    longitude DOUBLE,
    area TEXT,
    notes TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    started_at TIMESTAMP,
    completed_at TIMESTAMP
);
CREATE INDEX jobs_by_date ON jobs (scheduled_date, id);
CREATE INDEX jobs_by_status ON jobs (status, id);
CREATE INDEX jobs_by_technician ON jobs (technician_id, status);

CREATE TABLE job_skills (
    job_id BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    skill TEXT NOT NULL,
    PRIMARY KEY (job_id, skill)
);

-- Ended assignments stay as history; at most one live row per job.
CREATE TABLE assignments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    technician_id BIGINT NOT NULL REFERENCES technicians (id),
    work_date DATE NOT NULL,
    assigned_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP,
    sequence INTEGER,
    estimated_arrival TIMESTAMP
);
CREATE UNIQUE INDEX assignments_one_live_per_job ON assignments (job_id) WHERE ended_at IS NULL;
CREATE INDEX assignments_by_technician ON assignments (technician_id, work_date);

-- Active jobs per technician and day: the capacity rule is a conditional
-- UPDATE of this row, so it holds under concurrency on both backends.
CREATE TABLE technician_day_loads (
    technician_id BIGINT NOT NULL REFERENCES technicians (id) ON DELETE CASCADE,
    work_date DATE NOT NULL,
    active_jobs INTEGER NOT NULL CHECK (active_jobs >= 0),
    PRIMARY KEY (technician_id, work_date)
);

CREATE TABLE job_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    at TIMESTAMP NOT NULL,
    kind TEXT NOT NULL,
    old_status TEXT,
    new_status TEXT NOT NULL,
    technician_id BIGINT,
    previous_technician_id BIGINT,
    reason TEXT
);
CREATE INDEX job_events_by_job ON job_events (job_id, id);

CREATE TABLE idempotency_keys (
    idempotency_key TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,
    status_code INTEGER NOT NULL,
    response_body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
