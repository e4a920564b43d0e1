//! Conversions between database columns and domain values.

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use fieldopt_domain::{Actor, ClockTime, DomainError, GeoPoint, TimeWindow};

use crate::StoreResult;

/// The current time, truncated to microseconds so that what is returned
/// equals what both backends store.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// When and by whom a change is made. Every command that writes history
/// (job events, assignments) takes one, so the audit trail is never
/// optional; commands also note on it what they changed, for the outbox
/// (see [`crate::outbox`]).
#[derive(Debug)]
pub struct Stamp {
    /// The request's time, truncated like [`now`].
    pub at: DateTime<Utc>,
    /// Who asked for the change.
    pub actor: Actor,
    pub(crate) changes: std::sync::Mutex<Vec<crate::outbox::Change>>,
}

impl Stamp {
    /// A change made now by `actor`.
    pub fn now(actor: Actor) -> Self {
        Self::at(now(), actor)
    }

    /// A change made at `at` by `actor`.
    pub fn at(at: DateTime<Utc>, actor: Actor) -> Self {
        Self {
            at,
            actor,
            changes: std::sync::Mutex::default(),
        }
    }
}

impl Clone for Stamp {
    /// The same time and actor, with no changes noted yet.
    fn clone(&self) -> Self {
        Self::at(self.at, self.actor.clone())
    }
}

pub(crate) fn to_db_time(time: DateTime<Utc>) -> NaiveDateTime {
    time.trunc_subsecs(6).naive_utc()
}

pub(crate) fn from_db_time(time: NaiveDateTime) -> DateTime<Utc> {
    time.and_utc()
}

pub(crate) fn from_db_opt_time(time: Option<NaiveDateTime>) -> Option<DateTime<Utc>> {
    time.map(from_db_time)
}

pub(crate) fn window_from_db(start: i32, end: i32) -> StoreResult<TimeWindow> {
    let minute = |m: i32| ClockTime::from_minutes(u32::try_from(m).unwrap_or(u32::MAX));
    Ok(TimeWindow::new(minute(start)?, minute(end)?)?)
}

pub(crate) fn opt_window_from_db(
    start: Option<i32>,
    end: Option<i32>,
) -> StoreResult<Option<TimeWindow>> {
    match (start, end) {
        (Some(start), Some(end)) => window_from_db(start, end).map(Some),
        _ => Ok(None),
    }
}

pub(crate) fn window_to_db(window: TimeWindow) -> (i32, i32) {
    (
        int_to_db(window.start().minutes()),
        int_to_db(window.end().minutes()),
    )
}

pub(crate) fn int_to_db(minutes: u32) -> i32 {
    i32::try_from(minutes).unwrap_or(i32::MAX)
}

pub(crate) fn point_from_db(lat: Option<f64>, lon: Option<f64>) -> StoreResult<Option<GeoPoint>> {
    Ok(GeoPoint::from_optional(lat, lon)?)
}

pub(crate) fn point_to_db(point: Option<GeoPoint>) -> (Option<f64>, Option<f64>) {
    (
        point.map(GeoPoint::latitude),
        point.map(GeoPoint::longitude),
    )
}

pub(crate) fn parse_opt<T>(
    value: Option<String>,
    parse: impl FnOnce(String) -> Result<T, DomainError>,
) -> StoreResult<Option<T>> {
    Ok(value.map(parse).transpose()?)
}

pub(crate) fn count_to_u32(value: i64) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(u32::MAX)
}
