//! # fieldopt-engine
//!
//! Decisions over a snapshot of dispatch data: which technician fits a job
//! best ([`ranking`]), and how to route a whole day ([`vrp`], wrapped for
//! dispatch data by [`day_plan`]). Pure functions: the caller loads the data, the engine
//! answers, nothing here does I/O or reads the clock.

pub mod day_plan;
pub mod random;
pub mod ranking;
pub mod vrp;

pub use ranking::{Candidate, Ranking, ScoredTechnician, rank_technicians};
