//! The change feed's vocabulary: the type of every event and the filters
//! clients subscribe with (`job.*,assignment.created`).

use std::fmt;
use std::str::FromStr;

use crate::DomainError;

/// Declares the event types with their wire names.
macro_rules! event_types {
    ($($(#[$meta:meta])* $variant:ident = $name:literal,)+) => {
        /// What happened, as the feed names it (`resource.change`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventType {
            $($(#[$meta])* $variant,)+
        }

        impl EventType {
            /// Every event type.
            pub const ALL: &'static [EventType] = &[$(EventType::$variant,)+];

            /// The wire name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(EventType::$variant => $name,)+
                }
            }
        }
    };
}

event_types! {
    /// A technician was created.
    TechnicianCreated = "technician.created",
    /// A technician's details changed.
    TechnicianUpdated = "technician.updated",
    /// A technician was deleted.
    TechnicianDeleted = "technician.deleted",
    /// A technician's status changed (by hand or by its workload).
    TechnicianStatusChanged = "technician.status_changed",
    /// A technician reported its position.
    TechnicianLocated = "technician.located",
    /// A job was created.
    JobCreated = "job.created",
    /// A job's details changed.
    JobUpdated = "job.updated",
    /// A job was deleted.
    JobDeleted = "job.deleted",
    /// A job's status changed.
    JobStatusChanged = "job.status_changed",
    /// A job was assigned to a technician.
    AssignmentCreated = "assignment.created",
    /// An assignment ended (unassigned, reassigned away or cancelled).
    AssignmentEnded = "assignment.ended",
    /// A day plan was applied.
    PlanApplied = "plan.applied",
    /// A webhook endpoint was disabled after failing for too long.
    WebhookDisabled = "webhook.disabled",
}

impl EventType {
    /// The resource part of the name (`job` of `job.created`).
    pub fn resource(self) -> &'static str {
        self.as_str().split('.').next().unwrap_or_default()
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = DomainError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        EventType::ALL
            .iter()
            .copied()
            .find(|t| t.as_str() == text)
            .ok_or_else(|| DomainError::InvalidValue(format!("{text:?} is not an event type")))
    }
}

/// The regular expression of a valid filter text (for the OpenAPI
/// document): empty, or 1..=32 comma-separated items, each `*`, a
/// `resource.*` or an exact type.
pub fn type_filter_pattern() -> &'static str {
    static PATTERN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATTERN.get_or_init(|| {
        let mut items: Vec<String> = vec![r"\*".to_string()];
        let mut resources: Vec<&str> = EventType::ALL.iter().map(|t| t.resource()).collect();
        resources.dedup();
        items.extend(resources.iter().map(|r| format!(r"{r}\.\*")));
        items.extend(
            EventType::ALL
                .iter()
                .map(|t| t.as_str().replace('.', r"\.")),
        );
        let item = format!("(?:{})", items.join("|"));
        format!(
            "^(?:{item}(?:,{item}){{0,{}}})?$",
            EventTypeFilter::MAX_PATTERNS - 1
        )
    })
}

/// Which event types a subscriber wants: a comma-separated list of exact
/// types, `resource.*` wildcards, or `*` for all. Never empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventTypeFilter {
    /// Sorted, without repeats; every type when the filter is `*`.
    types: Vec<EventType>,
}

impl EventTypeFilter {
    /// Most patterns in one filter.
    pub const MAX_PATTERNS: usize = 32;

    /// Every type.
    pub fn all() -> Self {
        Self {
            types: EventType::ALL.to_vec(),
        }
    }

    /// Parses `job.*,assignment.created`; `*` (or an empty text) is all.
    /// Exactly what [`type_filter_pattern`] matches is accepted.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        if text.is_empty() {
            return Ok(Self::all());
        }
        let patterns: Vec<&str> = text.split(',').collect();
        if patterns.len() > Self::MAX_PATTERNS {
            return Err(DomainError::InvalidValue(format!(
                "at most {} patterns",
                Self::MAX_PATTERNS
            )));
        }
        let mut types = Vec::new();
        for pattern in patterns {
            let matched: Vec<EventType> = if pattern == "*" {
                EventType::ALL.to_vec()
            } else if let Some(resource) = pattern.strip_suffix(".*") {
                EventType::ALL
                    .iter()
                    .copied()
                    .filter(|t| t.resource() == resource)
                    .collect()
            } else {
                pattern.parse::<EventType>().into_iter().collect()
            };
            if matched.is_empty() {
                return Err(DomainError::InvalidValue(format!(
                    "{pattern:?} matches no event type (expected a type such as job.created, \
                     a wildcard such as job.*, or *)"
                )));
            }
            types.extend(matched);
        }
        types.sort();
        types.dedup();
        Ok(Self { types })
    }

    /// Whether the filter lets `event_type` through.
    pub fn matches(&self, event_type: EventType) -> bool {
        self.types.binary_search(&event_type).is_ok()
    }

    /// Whether every type passes.
    pub fn is_all(&self) -> bool {
        self.types.len() == EventType::ALL.len()
    }

    /// The types that pass, sorted.
    pub fn types(&self) -> &[EventType] {
        &self.types
    }
}

impl fmt::Display for EventTypeFilter {
    /// The canonical form: `*`, or the exact types joined by commas.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            return f.write_str("*");
        }
        let names: Vec<&str> = self.types.iter().map(|t| t.as_str()).collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>().unwrap(), *t);
        }
    }

    #[test]
    fn filters_take_types_wildcards_and_all() {
        let filter = EventTypeFilter::parse("job.*,assignment.created").unwrap();
        assert!(filter.matches(EventType::JobDeleted));
        assert!(filter.matches(EventType::AssignmentCreated));
        assert!(!filter.matches(EventType::AssignmentEnded));
        assert!(!filter.matches(EventType::TechnicianCreated));
        assert_eq!(
            filter.to_string(),
            "job.created,job.updated,job.deleted,job.status_changed,assignment.created"
        );
        assert!(EventTypeFilter::parse("*").unwrap().is_all());
        assert!(EventTypeFilter::parse("").unwrap().is_all());
        assert_eq!(EventTypeFilter::parse("*").unwrap().to_string(), "*");
    }

    #[test]
    fn filters_refuse_what_matches_nothing() {
        for bad in [
            "jobs.*",
            "job.finished",
            "job",
            "*.created",
            "job.**",
            " job.*",
            "job.*,",
        ] {
            assert!(EventTypeFilter::parse(bad).is_err(), "{bad}");
        }
        let many = vec!["job.*"; 33].join(",");
        assert!(EventTypeFilter::parse(&many).is_err());
    }

    #[test]
    fn the_documented_pattern_and_the_parser_agree() {
        let pattern = regex::Regex::new(type_filter_pattern()).unwrap();
        let mut texts: Vec<String> = [
            "",
            "*",
            "job.*",
            "job.*,assignment.created",
            "*,job.created",
            "jobs.*",
            "job.finished",
            "job",
            "*.created",
            "job.**",
            " job.*",
            "job.*,",
            ",job.*",
            "job.*, assignment.created",
            "JOB.*",
            "webhook.disabled",
            "plan.applied,plan.*",
        ]
        .iter()
        .map(|t| t.to_string())
        .collect();
        texts.extend(EventType::ALL.iter().map(|t| t.as_str().to_string()));
        texts.push(vec!["job.*"; 32].join(","));
        texts.push(vec!["job.*"; 33].join(","));
        for text in &texts {
            assert_eq!(
                pattern.is_match(text),
                EventTypeFilter::parse(text).is_ok(),
                "{text:?}"
            );
        }
    }
}
