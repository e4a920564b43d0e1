//! Values that cannot be invalid: each has a `parse`/`new` that checks it
//! and private fields, so holding one is proof it was checked.

use std::collections::BTreeSet;
use std::fmt;

use crate::{DomainError, patterns};

/// Identifier of a technician (assigned by the store).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TechnicianId(pub i64);

/// Identifier of a job (assigned by the store).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub i64);

/// Identifier of an assignment (assigned by the store).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AssignmentId(pub i64);

macro_rules! impl_id_display {
    ($($id:ident),+) => {$(
        impl fmt::Display for $id {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    )+};
}
impl_id_display!(TechnicianId, JobId, AssignmentId);

/// Whether a text may span lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// Names, addresses, areas: no control characters at all.
    Single,
    /// Notes and reasons: line breaks and tabs allowed.
    Multi,
}

/// Normalises `value` (Unicode NFC, so one text has one form and compares
/// equal however it was typed) and checks it: `min..=max` characters as
/// sent, no NUL (PostgreSQL cannot store it), and the shape of
/// [`patterns::LINE`] (no control character, something visible) or, for
/// `Multi` text, [`patterns::TEXT`] (line breaks and tabs allowed).
pub fn normalize_text(
    value: &str,
    min: usize,
    max: usize,
    lines: Lines,
) -> Result<String, DomainError> {
    use unicode_normalization::UnicodeNormalization;
    let chars = value.chars().count();
    if chars < min || chars > max {
        return Err(DomainError::invalid(format!(
            "must be {min} to {max} characters long (got {chars})"
        )));
    }
    if value.contains('\0') {
        return Err(DomainError::invalid("must not contain NUL characters"));
    }
    let shaped = match lines {
        Lines::Single if min > 0 => patterns::LINE_RE.is_match(value),
        Lines::Single => value.is_empty() || patterns::LINE_RE.is_match(value),
        Lines::Multi => patterns::TEXT_RE.is_match(value),
    };
    if !shaped {
        return Err(DomainError::invalid(match lines {
            Lines::Single => "must show a visible character and hold no control characters",
            Lines::Multi => "must not contain control characters other than line breaks and tabs",
        }));
    }
    Ok(value.nfc().collect())
}

/// Text as it is compared when searching without regard to case: NFC,
/// then Unicode lowercase (`"ÉCOLE"` and `"école"` fold alike).
pub fn fold_case(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    text.nfc().collect::<String>().to_lowercase()
}

/// Checks single-line text as [`normalize_text`] does, without keeping
/// the normalised form.
pub fn check_text(value: &str, min: usize, max: usize) -> Result<(), DomainError> {
    normalize_text(value, min, max, Lines::Single).map(drop)
}

/// Declares a text newtype whose length (in characters) is bounded.
macro_rules! bounded_text {
    ($(#[$meta:meta])* $name:ident, $min:expr, $max:expr) => {
        bounded_text!($(#[$meta])* $name, $min, $max, Lines::Single);
    };
    ($(#[$meta:meta])* $name:ident, $min:expr, $max:expr, $lines:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Fewest characters allowed.
            pub const MIN_CHARS: usize = $min;
            /// Most characters allowed.
            pub const MAX_CHARS: usize = $max;

            /// Normalises the text and checks its length and characters.
            pub fn parse(value: impl Into<String>) -> Result<Self, DomainError> {
                let value = value.into();
                Ok(Self(normalize_text(&value, Self::MIN_CHARS, Self::MAX_CHARS, $lines)?))
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// A value the store wrote, as it is: it was checked when it was
            /// written, and rules that tightened since must not make old
            /// records unreadable.
            pub fn from_storage(value: String) -> Self {
                Self(value)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
    };
}

bounded_text!(
    /// A technician's display name, 1..=100 characters.
    PersonName, 1, 100
);
bounded_text!(
    /// A job's customer, 1..=200 characters.
    CustomerName, 1, 200
);
bounded_text!(
    /// A job's street address, 1..=300 characters.
    Address, 1, 300
);
bounded_text!(
    /// A phone number as the dispatcher typed it, 1..=40 characters.
    Phone, 1, 40
);
bounded_text!(
    /// An e-mail address, 3..=254 characters with an `@`.
    Email, 3, 254
);
bounded_text!(
    /// Free-form notes on a job, up to 4000 characters, over several lines.
    Notes, 0, 4000, Lines::Multi
);
bounded_text!(
    /// Why a job failed or was cancelled, up to 1000 characters.
    Reason, 0, 1000, Lines::Multi
);
bounded_text!(
    /// A management area (a region dispatchers divide work by), 1..=100 characters.
    Area, 1, 100
);
bounded_text!(
    /// An integrator's own id of a record (a CRM's work order number, an HR
    /// system's employee id), 1..=100 characters; unique among live records.
    ExternalId, 1, 100
);

impl Email {
    /// Like [`Email::parse`], and also the shape of [`patterns::EMAIL`]:
    /// a visible first character, an `@` with something after it.
    pub fn parse_address(value: impl Into<String>) -> Result<Self, DomainError> {
        let value = value.into();
        if !patterns::EMAIL_RE.is_match(&value) {
            return Err(DomainError::invalid(
                "must be an e-mail address like name@example.com",
            ));
        }
        Self::parse(value)
    }
}

/// A skill token: 1..=40 characters of `[a-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Skill(String);

impl Skill {
    /// Most characters in a skill.
    pub const MAX_CHARS: usize = 40;

    /// Checks the token rules.
    pub fn parse(value: impl Into<String>) -> Result<Self, DomainError> {
        let value = value.into();
        if !patterns::SKILL_RE.is_match(&value) {
            return Err(DomainError::invalid(format!(
                "{value:?} is not a skill (1 to 40 characters of a-z, 0-9, _ and -)"
            )));
        }
        Ok(Self(value))
    }

    /// A skill the store wrote, as it is (it was checked when written).
    pub fn from_storage(value: String) -> Self {
        Self(value)
    }

    /// The token.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<Skill> for String {
    fn from(value: Skill) -> String {
        value.0
    }
}

impl fmt::Display for Skill {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Most items in a list of skills or areas: enough for any real trade, and
/// a bound on what one request can make the service store and compare.
pub const MAX_LIST_ITEMS: usize = 50;

/// Parses a list in which every item must be valid and appear once, at
/// most [`MAX_LIST_ITEMS`] of them. The result is sorted, so two lists with
/// the same items compare equal (and can be searched by halving).
pub fn parse_unique<T: Ord + fmt::Display>(
    items: impl IntoIterator<Item = String>,
    parse: impl Fn(String) -> Result<T, DomainError>,
) -> Result<Vec<T>, DomainError> {
    let mut seen = BTreeSet::new();
    for (count, item) in items.into_iter().enumerate() {
        if count == MAX_LIST_ITEMS {
            return Err(DomainError::invalid(format!(
                "must hold at most {MAX_LIST_ITEMS} items"
            )));
        }
        let value = parse(item)?;
        if seen.contains(&value) {
            return Err(DomainError::Duplicate(value.to_string()));
        }
        seen.insert(value);
    }
    Ok(seen.into_iter().collect())
}

/// A time of day with minute precision, `00:00..=23:59`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClockTime(u16);

impl ClockTime {
    /// From minutes after midnight (0..1440).
    pub fn from_minutes(minutes: u32) -> Result<Self, DomainError> {
        u16::try_from(minutes)
            .ok()
            .filter(|m| *m < 24 * 60)
            .map(Self)
            .ok_or_else(|| DomainError::invalid(format!("{minutes} is not a minute of the day")))
    }

    /// Parses `HH:MM` on the 24-hour clock (two digits each).
    pub fn parse(value: &str) -> Result<Self, DomainError> {
        let bad =
            || DomainError::invalid(format!("{value:?} is not a time of day (expected HH:MM)"));
        let bytes = value.as_bytes();
        if bytes.len() != 5 || bytes[2] != b':' {
            return Err(bad());
        }
        let two_digits = |s: &str| -> Option<u32> {
            s.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| s.parse().ok())?
        };
        let hours = two_digits(&value[0..2]).ok_or_else(bad)?;
        let minutes = two_digits(&value[3..5]).ok_or_else(bad)?;
        if hours > 23 || minutes > 59 {
            return Err(bad());
        }
        Self::from_minutes(hours * 60 + minutes)
    }

    /// Minutes after midnight.
    pub const fn minutes(self) -> u32 {
        self.0 as u32
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

/// A window of the day, start strictly before end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeWindow {
    start: ClockTime,
    end: ClockTime,
}

impl TimeWindow {
    /// Checks that `start < end`.
    pub fn new(start: ClockTime, end: ClockTime) -> Result<Self, DomainError> {
        if start >= end {
            return Err(DomainError::invalid(format!(
                "start {start} must be before end {end}"
            )));
        }
        Ok(Self { start, end })
    }

    /// Parses a time slot `HH:MM-HH:MM`.
    pub fn parse_slot(value: &str) -> Result<Self, DomainError> {
        let (start, end) = value.split_once('-').ok_or_else(|| {
            DomainError::invalid(format!(
                "{value:?} is not a time slot (expected HH:MM-HH:MM)"
            ))
        })?;
        Self::new(ClockTime::parse(start)?, ClockTime::parse(end)?)
    }

    /// The first minute.
    pub const fn start(self) -> ClockTime {
        self.start
    }

    /// The end (exclusive).
    pub const fn end(self) -> ClockTime {
        self.end
    }

    /// Length in minutes.
    pub const fn minutes(self) -> u32 {
        self.end.minutes() - self.start.minutes()
    }

    /// Whether the two windows share at least one minute.
    pub fn overlaps(self, other: TimeWindow) -> bool {
        self.start < other.end && other.start < self.end
    }
}

impl fmt::Display for TimeWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// Declares an integer newtype restricted to an inclusive range.
macro_rules! ranged_int {
    ($(#[$meta:meta])* $name:ident($inner:ty), $min:expr, $max:expr, $default:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name($inner);

        impl $name {
            /// Smallest value allowed.
            pub const MIN: $inner = $min;
            /// Largest value allowed.
            pub const MAX: $inner = $max;

            /// Checks the range.
            pub fn new(value: i64) -> Result<Self, DomainError> {
                <$inner>::try_from(value)
                    .ok()
                    .filter(|v| (Self::MIN..=Self::MAX).contains(v))
                    .map(Self)
                    .ok_or_else(|| {
                        DomainError::invalid(format!(
                            "{value} is out of range ({}..={})",
                            Self::MIN,
                            Self::MAX
                        ))
                    })
            }

            /// The number.
            pub const fn get(self) -> $inner {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self($default)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

ranged_int!(
    /// Most active jobs a technician takes on one scheduled day: 1..=50, default 4.
    Capacity(u32), 1, 50, 4
);
ranged_int!(
    /// Job priority: 1 (highest) ..= 5, default 3.
    Priority(u32), 1, 5, 3
);
ranged_int!(
    /// How long a job takes on site, in minutes: 1..=1440, default 60.
    DurationMinutes(u32), 1, 1440, 60
);

/// A position on Earth in decimal degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoPoint {
    latitude: f64,
    longitude: f64,
}

impl GeoPoint {
    /// Mean Earth radius used for great-circle distances.
    pub const EARTH_RADIUS_KM: f64 = 6371.0088;

    /// Checks latitude -90..=90 and longitude -180..=180.
    pub fn new(latitude: f64, longitude: f64) -> Result<Self, DomainError> {
        if !(-90.0..=90.0).contains(&latitude) {
            return Err(DomainError::invalid(format!(
                "latitude {latitude} is out of range (-90..=90)"
            )));
        }
        if !(-180.0..=180.0).contains(&longitude) {
            return Err(DomainError::invalid(format!(
                "longitude {longitude} is out of range (-180..=180)"
            )));
        }
        Ok(Self {
            latitude,
            longitude,
        })
    }

    /// Both or neither: `Ok(None)` for neither, an error for only one.
    pub fn from_optional(
        latitude: Option<f64>,
        longitude: Option<f64>,
    ) -> Result<Option<Self>, DomainError> {
        match (latitude, longitude) {
            (None, None) => Ok(None),
            (Some(lat), Some(lon)) => Self::new(lat, lon).map(Some),
            _ => Err(DomainError::invalid(
                "latitude and longitude must be given together",
            )),
        }
    }

    /// Degrees north.
    pub const fn latitude(self) -> f64 {
        self.latitude
    }

    /// Degrees east.
    pub const fn longitude(self) -> f64 {
        self.longitude
    }

    /// Great-circle (haversine) distance in kilometres.
    pub fn distance_km(self, other: GeoPoint) -> f64 {
        let (lat1, lat2) = (self.latitude.to_radians(), other.latitude.to_radians());
        let d_lat = lat2 - lat1;
        let d_lon = (other.longitude - self.longitude).to_radians();
        let h = (d_lat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (d_lon / 2.0).sin().powi(2);
        2.0 * Self::EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_normalised_and_must_show_something() {
        let composed = Area::parse("Montr\u{e9}al").unwrap();
        let decomposed = Area::parse("Montre\u{301}al").unwrap();
        assert_eq!(composed, decomposed, "one area, however it was typed");
        for invisible in [
            "   ",
            "\u{200B}\u{200B}",
            "\u{FEFF}",
            "\u{3164}",
            " \u{2060} ",
        ] {
            assert!(PersonName::parse(invisible).is_err(), "{invisible:?}");
        }
        for control in ["Ann\nSmith", "Ann\u{7}", "tab\there", "nul\0"] {
            assert!(PersonName::parse(control).is_err(), "{control:?}");
        }
        assert!(Notes::parse("line one\nline two\ttabbed").is_ok());
        assert!(Notes::parse("bell\u{7}").is_err());
        assert!(Notes::parse("").is_ok(), "notes may be empty");
        assert_eq!(PersonName::parse("Zoë ").unwrap().as_str(), "Zoë ");
        let long = "é".repeat(100);
        assert!(
            PersonName::parse(long.as_str()).is_ok(),
            "characters, not bytes"
        );
        assert!(PersonName::parse(format!("{long}x")).is_err());
    }

    #[test]
    fn lists_hold_at_most_fifty_items() {
        let items = |n: usize| (0..n).map(|i| format!("s{i}"));
        assert_eq!(parse_unique(items(50), Skill::parse).unwrap().len(), 50);
        let error = parse_unique(items(51), Skill::parse).unwrap_err();
        assert!(error.to_string().contains("at most 50"), "{error}");
        assert!(parse_unique(items(100_000), Skill::parse).is_err());
    }

    #[test]
    fn skills_table() {
        let cases = [
            ("install", true),
            ("fiber_splice-2", true),
            ("", false),
            ("Install", false),
            ("has space", false),
            ("ünïcode", false),
            (&"a".repeat(40), true),
            (&"a".repeat(41), false),
        ];
        for (input, ok) in cases {
            assert_eq!(Skill::parse(input).is_ok(), ok, "{input:?}");
        }
    }

    #[test]
    fn unique_lists_reject_duplicates_and_sort() {
        let parsed = parse_unique(["b".to_string(), "a".to_string()], Skill::parse).unwrap();
        assert_eq!(
            parsed,
            vec![Skill::parse("a").unwrap(), Skill::parse("b").unwrap()]
        );
        let err = parse_unique(["a".to_string(), "a".to_string()], Skill::parse).unwrap_err();
        assert_eq!(err, DomainError::Duplicate("a".into()));
    }

    #[test]
    fn clock_times_table() {
        let cases = [
            ("00:00", Some(0)),
            ("08:30", Some(510)),
            ("23:59", Some(1439)),
            ("24:00", None),
            ("8:30", None),
            ("08:60", None),
            ("08-30", None),
            ("+8:30", None),
            ("08:3a", None),
            ("", None),
        ];
        for (input, minutes) in cases {
            assert_eq!(
                ClockTime::parse(input).ok().map(ClockTime::minutes),
                minutes,
                "{input:?}"
            );
        }
        assert_eq!(ClockTime::parse("07:05").unwrap().to_string(), "07:05");
    }

    #[test]
    fn slots_table() {
        let cases = [
            ("08:00-12:00", true),
            ("12:00-08:00", false),
            ("08:00-08:00", false),
            ("08:00", false),
            ("08:00-12:00-13:00", false),
            ("8:00-12:00", false),
        ];
        for (input, ok) in cases {
            assert_eq!(TimeWindow::parse_slot(input).is_ok(), ok, "{input:?}");
        }
        let slot = TimeWindow::parse_slot("08:00-12:00").unwrap();
        assert_eq!(slot.to_string(), "08:00-12:00");
        assert_eq!(slot.minutes(), 240);
    }

    #[test]
    fn overlap_is_strict() {
        let w = |s| TimeWindow::parse_slot(s).unwrap();
        assert!(w("08:00-12:00").overlaps(w("11:59-13:00")));
        assert!(!w("08:00-12:00").overlaps(w("12:00-13:00")));
        assert!(w("10:00-11:00").overlaps(w("08:00-17:00")));
    }

    #[test]
    fn ranges_table() {
        assert!(Capacity::new(0).is_err());
        assert!(Capacity::new(1).is_ok());
        assert!(Capacity::new(50).is_ok());
        assert!(Capacity::new(51).is_err());
        assert!(Capacity::new(-1).is_err());
        assert!(Priority::new(0).is_err());
        assert!(Priority::new(5).is_ok());
        assert!(Priority::new(6).is_err());
        assert!(DurationMinutes::new(1441).is_err());
        assert!(DurationMinutes::new(i64::MAX).is_err());
        assert_eq!(Capacity::default().get(), 4);
        assert_eq!(Priority::default().get(), 3);
        assert_eq!(DurationMinutes::default().get(), 60);
    }

    #[test]
    fn coordinates_table() {
        assert!(GeoPoint::new(90.0, 180.0).is_ok());
        assert!(GeoPoint::new(-90.0, -180.0).is_ok());
        assert!(GeoPoint::new(90.1, 0.0).is_err());
        assert!(GeoPoint::new(0.0, -180.5).is_err());
        assert!(GeoPoint::new(f64::NAN, 0.0).is_err());
        assert_eq!(GeoPoint::from_optional(None, None), Ok(None));
        assert!(GeoPoint::from_optional(Some(1.0), None).is_err());
    }

    #[test]
    fn haversine_matches_known_distance() {
        // One degree along a meridian is pi * R / 180 = 111.195 km.
        let a = GeoPoint::new(40.0, -74.0).unwrap();
        let b = GeoPoint::new(41.0, -74.0).unwrap();
        assert!(
            (a.distance_km(b) - 111.195).abs() < 0.001,
            "{}",
            a.distance_km(b)
        );
        // A quarter of the equator.
        let c = GeoPoint::new(0.0, 0.0).unwrap();
        let d = GeoPoint::new(0.0, 90.0).unwrap();
        assert!(
            (c.distance_km(d) - 10_007.557).abs() < 0.01,
            "{}",
            c.distance_km(d)
        );
        assert_eq!(a.distance_km(a), 0.0);
    }

    #[test]
    fn text_table() {
        assert!(PersonName::parse("").is_err());
        assert!(PersonName::parse("   ").is_err());
        assert!(PersonName::parse("Miles Davis").is_ok());
        assert!(PersonName::parse("a".repeat(100)).is_ok());
        assert!(PersonName::parse("a".repeat(101)).is_err());
        assert!(PersonName::parse("nul\0byte").is_err());
        assert!(Notes::parse("").is_ok());
        assert!(Email::parse_address("a@b").is_ok());
        assert!(Email::parse_address("ab.com").is_err());
        assert!(Email::parse_address("@b.com").is_err());
    }
}
