-- A change counter for conditional requests (ETags): every write
-- transaction adds one to one of these rows before it commits, so the sum
-- changes exactly when committed data may have changed, in every process
-- sharing the database. Several rows, so concurrent writers on PostgreSQL
-- rarely wait on the same row lock.
CREATE TABLE data_versions (
    shard INTEGER PRIMARY KEY,
    version BIGINT NOT NULL DEFAULT 0
);
INSERT INTO data_versions (shard, version) VALUES
    (0, 0), (1, 0), (2, 0), (3, 0), (4, 0), (5, 0), (6, 0), (7, 0),
    (8, 0), (9, 0), (10, 0), (11, 0), (12, 0), (13, 0), (14, 0), (15, 0);
