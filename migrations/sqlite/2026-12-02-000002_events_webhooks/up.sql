-- The outbox: one row per change, written in the transaction that makes the
-- change. Ids grow in commit order (writers append under one lock), so a
-- reader that keeps the last id it saw never misses an event.
-- Keep in step with ../../postgres.
-- Lean on purpose, since every write pays for it: no AUTOINCREMENT (a new
-- row takes the largest id plus one, and retention never deletes the
-- newest row, so ids are never reused) and no index on age (purging walks
-- the ids, which grow with time).
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    event_type TEXT NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    actor TEXT,
    -- The technician the event concerns, for technicians' own scope.
    technician_id BIGINT,
    -- The resource as the API returns it (JSON), or its id for deletions.
    data TEXT NOT NULL
);
CREATE INDEX events_by_technician ON events (technician_id, id);

-- Webhook endpoints and their delivery state: every event up to
-- delivered_through is done; the next one is retried on next_attempt_at.
-- A process delivering to an endpoint holds its lease.
CREATE TABLE webhook_endpoints (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    url TEXT NOT NULL,
    description TEXT,
    event_types TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    secret TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    delivered_through BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    failing_since TIMESTAMP,
    lease_until TIMESTAMP,
    lease_owner TEXT,
    disabled_reason TEXT
);

-- Every attempt to deliver an event to an endpoint.
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id BIGINT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id BIGINT NOT NULL,
    attempt INTEGER NOT NULL,
    attempted_at TIMESTAMP NOT NULL,
    status_code INTEGER,
    latency_ms INTEGER NOT NULL,
    error TEXT,
    response_body TEXT,
    next_retry_at TIMESTAMP,
    manual BOOLEAN NOT NULL
);
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_by_age ON webhook_deliveries (attempted_at);

-- How far retention has purged the outbox: a reader asking for events
-- after an id below this one has missed some for good (410).
CREATE TABLE event_retention (
    singleton INTEGER PRIMARY KEY,
    purged_through BIGINT NOT NULL
);
INSERT INTO event_retention (singleton, purged_through) VALUES (1, 0);
