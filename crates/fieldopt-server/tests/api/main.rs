//! End-to-end tests: the real application on a free port, real HTTP, a
//! fresh database per test, on SQLite and on PostgreSQL.

mod helpers;
mod tokens;

mod assignments;
mod auth;
mod browser;
mod compat;
mod concurrency;
mod crash;
mod errors;
mod events;
mod hostile;
mod http_caching;
mod jobs;
mod maintenance;
mod operations;
mod outage;
mod plan_bounds;
mod planning;
mod process;
mod rate_limits;
mod roles;
mod routing;
mod technicians;
mod webhooks;
