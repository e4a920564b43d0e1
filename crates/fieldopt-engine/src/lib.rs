//! # fieldopt-engine
//!
//! Decisions over a snapshot of dispatch data: which technician fits a job
//! best ([`ranking`]). Pure functions: the caller loads the data, the engine
//! answers, nothing here does I/O or reads the clock.

pub mod ranking;

pub use ranking::{Candidate, Ranking, ScoredTechnician, rank_technicians};
