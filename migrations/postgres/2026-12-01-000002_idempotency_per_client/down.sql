DROP TABLE idempotency_keys;
CREATE TABLE idempotency_keys (
    idempotency_key TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,
    status_code INTEGER NOT NULL,
    response_body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
