//! Best technician for one job.
//!
//! Only technicians that pass every can-do check are candidates. Each gets a
//! `match_score` in `0..=1`, higher is better:
//!
//! ```text
//! match_score = 0.6 × proximity + 0.4 × spare_capacity
//! proximity      = 1 / (1 + distance_km / 10)    (0.5 when the distance is unknown)
//! spare_capacity = (capacity − active_jobs) / capacity   on the job's day
//! ```
//!
//! A technician on site scores 0.6 for proximity, one 10 km away 0.3; an
//! empty day adds 0.4. Scores are rounded to four decimals and ties go to
//! the lower technician id, so the answer is deterministic.

use fieldopt_domain::{DayLoad, Job, Technician, Unfit, can_do};

/// Weight of proximity in the score.
pub const PROXIMITY_WEIGHT: f64 = 0.6;
/// Weight of spare capacity in the score.
pub const SPARE_CAPACITY_WEIGHT: f64 = 0.4;
/// Distance at which proximity falls to one half.
pub const HALF_PROXIMITY_KM: f64 = 10.0;
/// How many runners-up are reported.
pub const MAX_ALTERNATIVES: usize = 4;

/// A technician and its other active work on the job's day.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// The technician.
    pub technician: &'a Technician,
    /// Its load on the job's day, not counting the job itself.
    pub load: DayLoad,
}

/// A technician that can do the job, with its score.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredTechnician<'a> {
    /// The technician.
    pub technician: &'a Technician,
    /// 0..=1, higher is better.
    pub match_score: f64,
    /// Distance to the job, if both positions are known.
    pub distance_km: Option<f64>,
    /// Whether the technician has room left on the job's day.
    pub capacity_available: bool,
}

/// The answer: the best fit, the next best, or why nobody fits.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranking<'a> {
    /// The best technician, if any can do the job.
    pub recommended: Option<ScoredTechnician<'a>>,
    /// Next best, at most [`MAX_ALTERNATIVES`].
    pub alternatives: Vec<ScoredTechnician<'a>>,
    /// Why nobody fits, when `recommended` is `None`.
    pub reason: Option<String>,
}

fn score(technician: &Technician, load: DayLoad, distance_km: Option<f64>) -> f64 {
    let proximity = distance_km.map_or(0.5, |d| 1.0 / (1.0 + d.max(0.0) / HALF_PROXIMITY_KM));
    let capacity = f64::from(technician.capacity.get());
    let spare = (capacity - f64::from(load.active_jobs)).max(0.0) / capacity;
    let raw = PROXIMITY_WEIGHT * proximity + SPARE_CAPACITY_WEIGHT * spare;
    (raw.clamp(0.0, 1.0) * 10_000.0).round() / 10_000.0
}

/// Ranks the candidates for `job`.
pub fn rank_technicians<'a>(job: &Job, candidates: &[Candidate<'a>]) -> Ranking<'a> {
    let mut fitting = Vec::new();
    let mut tally = Tally::default();
    for candidate in candidates {
        let answer = can_do::evaluate(job, candidate.technician, candidate.load);
        if answer.can_do() {
            fitting.push(ScoredTechnician {
                technician: candidate.technician,
                match_score: score(candidate.technician, candidate.load, answer.distance_km),
                distance_km: answer.distance_km,
                capacity_available: answer.capacity_ok,
            });
        } else {
            tally.add(&answer.failures);
        }
    }
    fitting.sort_by(|a, b| {
        b.match_score
            .total_cmp(&a.match_score)
            .then(a.technician.id.cmp(&b.technician.id))
    });
    let mut ranked = fitting.into_iter();
    let recommended = ranked.next();
    let alternatives = ranked.take(MAX_ALTERNATIVES).collect();
    let reason = recommended
        .is_none()
        .then(|| tally.explain(candidates.len()));
    Ranking {
        recommended,
        alternatives,
        reason,
    }
}

/// Counts of why technicians were turned down.
#[derive(Debug, Default)]
struct Tally {
    skills: usize,
    area: usize,
    capacity: usize,
    status: usize,
    time: usize,
}

impl Tally {
    fn add(&mut self, failures: &[Unfit]) {
        let mut time = false;
        for failure in failures {
            match failure {
                Unfit::MissingSkills(_) => self.skills += 1,
                Unfit::OutsideArea(_) => self.area += 1,
                Unfit::AtCapacity { .. } => self.capacity += 1,
                Unfit::Unavailable(_) => self.status += 1,
                Unfit::SlotOutsideShift { .. } | Unfit::ShiftFull { .. } => time = true,
            }
        }
        self.time += usize::from(time);
    }

    fn explain(&self, considered: usize) -> String {
        if considered == 0 {
            return "No technicians to choose from".to_string();
        }
        let parts: Vec<String> = [
            (self.skills, "lack required skills"),
            (self.area, "do not cover the area"),
            (self.capacity, "are at capacity on that day"),
            (self.status, "are on break or off duty"),
            (self.time, "have no time for it in their shift"),
        ]
        .into_iter()
        .filter(|(count, _)| *count > 0)
        .map(|(count, why)| format!("{count} {why}"))
        .collect();
        format!(
            "No technician can do this job ({considered} considered: {})",
            parts.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldopt_domain::TechnicianStatus;
    use fieldopt_domain::fixtures::{job, technician};

    fn free(tech: &Technician) -> Candidate<'_> {
        Candidate {
            technician: tech,
            load: DayLoad::default(),
        }
    }

    #[test]
    fn nearest_free_technician_wins_and_runners_up_follow() {
        let job = job(1).skills(&["install"]).location(40.75, -73.99).build();
        let near = technician(3)
            .skills(&["install"])
            .home(40.75, -73.99)
            .build();
        let far = technician(1)
            .skills(&["install"])
            .home(40.85, -73.99)
            .build();
        let unskilled = technician(2).home(40.75, -73.99).build();
        let ranking = rank_technicians(&job, &[free(&far), free(&unskilled), free(&near)]);
        let best = ranking.recommended.unwrap();
        assert_eq!(best.technician.id.0, 3);
        assert_eq!(best.match_score, 1.0);
        assert_eq!(ranking.alternatives.len(), 1);
        assert_eq!(ranking.alternatives[0].technician.id.0, 1);
        assert!(ranking.alternatives[0].match_score < 1.0);
        assert_eq!(ranking.reason, None);
    }

    #[test]
    fn spare_capacity_breaks_equal_distance() {
        let job = job(1).build();
        let busy = technician(1).capacity(4).build();
        let idle = technician(2).capacity(4).build();
        let candidates = [
            Candidate {
                technician: &busy,
                load: DayLoad {
                    active_jobs: 3,
                    active_minutes: 180,
                },
            },
            free(&idle),
        ];
        let ranking = rank_technicians(&job, &candidates);
        assert_eq!(ranking.recommended.unwrap().technician.id.0, 2);
    }

    #[test]
    fn ties_go_to_the_lower_id_and_alternatives_are_capped() {
        let job = job(1).build();
        let techs: Vec<Technician> = (1..=8).rev().map(|id| technician(id).build()).collect();
        let candidates: Vec<Candidate<'_>> = techs.iter().map(free).collect();
        let ranking = rank_technicians(&job, &candidates);
        assert_eq!(ranking.recommended.unwrap().technician.id.0, 1);
        let ids: Vec<i64> = ranking
            .alternatives
            .iter()
            .map(|s| s.technician.id.0)
            .collect();
        assert_eq!(ids, vec![2, 3, 4, 5]);
    }

    #[test]
    fn nobody_fits_explains_why() {
        let job = job(1).skills(&["fiber"]).area("north").build();
        let a = technician(1).build();
        let b = technician(2).skills(&["fiber"]).areas(&["south"]).build();
        let c = technician(3)
            .skills(&["fiber"])
            .status(TechnicianStatus::OffDuty)
            .build();
        let ranking = rank_technicians(&job, &[free(&a), free(&b), free(&c)]);
        assert!(ranking.recommended.is_none());
        assert_eq!(
            ranking.reason.unwrap(),
            "No technician can do this job (3 considered: 1 lack required skills, 1 do not cover the area, 1 are on break or off duty)"
        );
        assert_eq!(
            rank_technicians(&job, &[]).reason.unwrap(),
            "No technicians to choose from"
        );
    }

    #[test]
    fn scores_stay_in_unit_range() {
        let job = job(1).location(0.0, 0.0).build();
        let tech = technician(1).capacity(1).home(60.0, 100.0).build();
        let s = score(&tech, DayLoad::default(), Some(5000.0));
        assert!((0.0..=1.0).contains(&s));
        let s = score(
            &tech,
            DayLoad {
                active_jobs: 5,
                active_minutes: 0,
            },
            None,
        );
        assert!((0.0..=1.0).contains(&s));
        let _ = job;
    }
}
