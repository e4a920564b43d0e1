//! Property tests of the domain rules.

use fieldopt_domain::fixtures::{job, technician};
use fieldopt_domain::{
    ClockTime, DayLoad, GeoPoint, JobAction, JobStatus, Skill, TechnicianStatus, TimeWindow, can_do,
};
use proptest::prelude::*;

fn any_action() -> impl Strategy<Value = JobAction> {
    proptest::sample::select(JobAction::ALL.to_vec())
}

fn any_status() -> impl Strategy<Value = TechnicianStatus> {
    proptest::sample::select(TechnicianStatus::ALL.to_vec())
}

proptest! {
    #[test]
    fn the_status_machine_never_leaves_a_final_state(actions in proptest::collection::vec(any_action(), 0..40)) {
        let mut status = JobStatus::Pending;
        let mut finished = false;
        for action in actions {
            match status.apply(action) {
                Ok(next) => {
                    prop_assert!(!finished, "{status} moved after finishing");
                    prop_assert_ne!(next, status);
                    status = next;
                    finished = status.is_final();
                }
                Err(_) => prop_assert!(status.is_final() || !matches!(
                    (status, action),
                    (JobStatus::Pending, JobAction::Assign) | (JobStatus::Assigned, JobAction::Start)
                )),
            }
            prop_assert_eq!(status.is_active(), matches!(status, JobStatus::Assigned | JobStatus::InProgress));
        }
    }

    #[test]
    fn automatic_status_touches_only_available_and_assigned(status in any_status(), jobs in 0u32..10) {
        let next = status.after_workload_change(jobs);
        match status {
            TechnicianStatus::OnBreak | TechnicianStatus::OffDuty => prop_assert_eq!(next, status),
            _ => prop_assert_eq!(next, if jobs > 0 { TechnicianStatus::Assigned } else { TechnicianStatus::Available }),
        }
    }

    #[test]
    fn clock_times_round_trip(minutes in 0u32..1440) {
        let time = ClockTime::from_minutes(minutes).unwrap();
        prop_assert_eq!(ClockTime::parse(&time.to_string()).unwrap(), time);
    }

    #[test]
    fn slot_parsing_never_panics_and_keeps_start_before_end(text in "\\PC{0,14}") {
        if let Ok(slot) = TimeWindow::parse_slot(&text) {
            prop_assert!(slot.start() < slot.end());
            prop_assert_eq!(TimeWindow::parse_slot(&slot.to_string()).unwrap(), slot);
        }
    }

    #[test]
    fn valid_skill_tokens_are_accepted(token in "[a-z0-9_-]{1,40}") {
        let skill = Skill::parse(token.clone()).unwrap();
        prop_assert_eq!(skill.as_str(), token.as_str());
    }

    #[test]
    fn skills_with_other_characters_are_refused(token in "[a-z]{0,5}[A-Z !.@][a-z]{0,5}") {
        prop_assert!(Skill::parse(token).is_err());
    }

    #[test]
    fn distances_are_symmetric_and_non_negative(
        a in (-90.0f64..=90.0, -180.0f64..=180.0),
        b in (-90.0f64..=90.0, -180.0f64..=180.0),
    ) {
        let p = GeoPoint::new(a.0, a.1).unwrap();
        let q = GeoPoint::new(b.0, b.1).unwrap();
        let d = p.distance_km(q);
        prop_assert!(d >= 0.0);
        prop_assert!(d <= std::f64::consts::PI * GeoPoint::EARTH_RADIUS_KM + 1e-6);
        prop_assert!((d - q.distance_km(p)).abs() < 1e-6);
    }

    #[test]
    fn can_do_is_true_exactly_when_no_check_fails(
        capacity in 1i64..=50,
        active_jobs in 0u32..60,
        active_minutes in 0u32..800,
        duration in 1i64..=600,
        status in any_status(),
        needs_fiber in any::<bool>(),
    ) {
        let skills: &[&str] = if needs_fiber { &["install", "fiber"] } else { &["install"] };
        let job = job(1).skills(skills).duration(duration).build();
        let tech = technician(1).skills(&["install"]).capacity(capacity).status(status).build();
        let load = DayLoad { active_jobs, active_minutes };
        let answer = can_do::evaluate(&job, &tech, load);
        prop_assert_eq!(answer.capacity_ok, i64::from(active_jobs) < capacity);
        prop_assert_eq!(answer.status_ok, status.takes_work());
        prop_assert_eq!(answer.missing_skills.is_empty(), !needs_fiber);
        let all = answer.missing_skills.is_empty() && answer.area_ok && answer.capacity_ok && answer.status_ok && answer.time_ok;
        prop_assert_eq!(answer.can_do(), all);
        prop_assert_eq!(answer.reasons().len(), answer.failures.len());
        // More work never makes a full day fit.
        let busier = can_do::evaluate(&job, &tech, DayLoad { active_jobs: active_jobs + 1, active_minutes: active_minutes + 60 });
        prop_assert!(answer.capacity_ok || !busier.capacity_ok);
        prop_assert!(answer.time_ok || !busier.time_ok);
    }
}

proptest! {
    /// Any text into any parser: a value or an error, never a panic; what
    /// is accepted is normalised, bounded and free of control characters.
    #[test]
    fn text_parsers_never_panic_and_keep_their_promises(text in "(\\PC|[\\u{0}-\\u{1f}\\u{200b}\\u{301}\\u{feff}]){0,120}") {
        use fieldopt_domain::{Address, Area, CustomerName, Email, Notes, PersonName, Phone, Reason, fold_case};
        let _ = (Skill::parse(text.clone()), ClockTime::parse(&text), TimeWindow::parse_slot(&text));
        let _ = (Email::parse_address(text.clone()), Phone::parse(text.clone()), fold_case(&text));
        for (accepted, max) in [
            PersonName::parse(text.clone()).map(|v| v.to_string()).map(|v| (v, 100)),
            CustomerName::parse(text.clone()).map(|v| v.to_string()).map(|v| (v, 200)),
            Address::parse(text.clone()).map(|v| v.to_string()).map(|v| (v, 300)),
            Area::parse(text.clone()).map(|v| v.to_string()).map(|v| (v, 100)),
        ].into_iter().flatten().collect::<Vec<_>>() {
            prop_assert!(accepted.chars().count() <= max);
            prop_assert!(!accepted.chars().any(char::is_control), "{accepted:?}");
            prop_assert!(accepted.chars().any(|c| !c.is_whitespace()));
            // Normalising again changes nothing.
            prop_assert_eq!(Area::parse(accepted.clone()).map(|a| a.to_string()).unwrap_or(accepted.clone()), accepted.clone());
        }
        for multi in [Notes::parse(text.clone()).map(|n| n.to_string()), Reason::parse(text.clone()).map(|r| r.to_string())].into_iter().flatten() {
            prop_assert!(!multi.contains('\0'));
        }
    }
}

proptest! {
    /// The published patterns say exactly what the parsers accept.
    #[test]
    fn published_patterns_agree_with_the_parsers(text in "([0-9:\\-]|\\PC){0,12}", h in 0u32..30, m in 0u32..70) {
        use fieldopt_domain::patterns::{CLOCK, SLOT, SKILL, matches};
        prop_assert_eq!(matches(CLOCK, &text), ClockTime::parse(&text).is_ok(), "{:?}", text);
        prop_assert_eq!(matches(SKILL, &text), Skill::parse(text.clone()).is_ok(), "{:?}", text);
        let clock = format!("{h:02}:{m:02}");
        prop_assert_eq!(matches(CLOCK, &clock), ClockTime::parse(&clock).is_ok(), "{}", clock);
        let slot = format!("{clock}-{clock}");
        // A slot of that shape parses unless its start is not before its end.
        prop_assert!(TimeWindow::parse_slot(&slot).is_err());
        prop_assert_eq!(matches(SLOT, &slot), ClockTime::parse(&clock).is_ok());
        if matches(SLOT, &text) {
            let (a, b) = text.split_once('-').unwrap();
            let ordered = ClockTime::parse(a).unwrap() < ClockTime::parse(b).unwrap();
            prop_assert_eq!(TimeWindow::parse_slot(&text).is_ok(), ordered);
        } else {
            prop_assert!(TimeWindow::parse_slot(&text).is_err(), "{:?}", text);
        }
    }
}
