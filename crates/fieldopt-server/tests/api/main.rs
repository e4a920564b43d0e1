//! End-to-end tests: the real application on a free port, real HTTP, a
//! fresh database per test, on SQLite and on PostgreSQL.

mod helpers;
mod tokens;

mod assignments;
mod concurrency;
mod errors;
mod jobs;
mod operations;
mod planning;
mod routing;
mod technicians;
