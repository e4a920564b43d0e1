//! # fieldopt-server
//!
//! The `fieldopt` binary: reads configuration, installs logging and wires
//! the store, the HTTP API and the engine together. The library half exists
//! so integration tests can start the real application in-process.

pub mod config;
pub mod maintenance;
pub mod seed;
pub mod solve;
pub mod startup;
pub mod telemetry;
pub mod token;
