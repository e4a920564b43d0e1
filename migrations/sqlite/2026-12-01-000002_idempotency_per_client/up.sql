-- Idempotency keys belong to a client (token subject, else address), and a
-- reservation is a lease that expires, so a request lost to a crash does not
-- hold its key for a day. Stored responses are a 24-hour cache: the old rows
-- are dropped, not converted.
DROP TABLE idempotency_keys;
CREATE TABLE idempotency_keys (
    client TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status_code INTEGER NOT NULL,
    response_body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    lease_until TIMESTAMP,
    PRIMARY KEY (client, idempotency_key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
