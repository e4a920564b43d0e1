-- The customer folded for case-insensitive search the same way on both
-- backends (Unicode lowercase in Rust; SQLite's lower() is ASCII only).
-- Existing rows are filled in by the server at start.
ALTER TABLE jobs ADD COLUMN customer_search TEXT;
