//! Whether one technician can take one job: every check, not just the first
//! that fails.

use std::fmt;

use crate::{Area, Capacity, Job, Skill, Technician, TechnicianStatus, TimeWindow};

/// A technician's active work on the job's day, not counting the job itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayLoad {
    /// Active jobs (assigned or in progress) on that day.
    pub active_jobs: u32,
    /// Their minutes on site, summed.
    pub active_minutes: u32,
}

/// One failed can-do check. `Display` gives the sentence clients read.
#[derive(Debug, Clone, PartialEq)]
pub enum Unfit {
    /// The technician lacks required skills.
    MissingSkills(Vec<Skill>),
    /// The job's area is not one the technician covers.
    OutsideArea(Area),
    /// The technician's day is full.
    AtCapacity {
        /// The technician's capacity.
        capacity: Capacity,
    },
    /// The technician is on break or off duty.
    Unavailable(TechnicianStatus),
    /// The job's slot does not overlap the shift.
    SlotOutsideShift {
        /// The job's slot.
        slot: TimeWindow,
        /// The technician's shift.
        shift: TimeWindow,
    },
    /// The day's work plus this job does not fit in the shift.
    ShiftFull {
        /// Minutes this job needs.
        needed: u32,
        /// Minutes of the shift not yet taken by active jobs.
        free: u32,
    },
}

impl fmt::Display for Unfit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unfit::MissingSkills(skills) => {
                let names: Vec<&str> = skills.iter().map(Skill::as_str).collect();
                write!(f, "Technician lacks required skills: {}", names.join(", "))
            }
            Unfit::OutsideArea(area) => write!(f, "Technician does not cover area {area}"),
            Unfit::AtCapacity { capacity } => write!(
                f,
                "Technician already has maximum capacity ({capacity} active jobs on that day)"
            ),
            Unfit::Unavailable(status) => write!(f, "Technician is {status}"),
            Unfit::SlotOutsideShift { slot, shift } => write!(
                f,
                "Time slot {slot} is outside the technician's shift {shift}"
            ),
            Unfit::ShiftFull { needed, free } => write!(
                f,
                "Job needs {needed} minutes but only {free} minutes of the shift are free"
            ),
        }
    }
}

/// The answer to "can this technician do this job?".
#[derive(Debug, Clone, PartialEq)]
pub struct CanDo {
    /// Required skills the technician lacks.
    pub missing_skills: Vec<Skill>,
    /// Job has no area, technician has no areas, or covers it.
    pub area_ok: bool,
    /// Active jobs on the job's day are below capacity.
    pub capacity_ok: bool,
    /// Status is available or assigned.
    pub status_ok: bool,
    /// Slot overlaps the shift and the day's work plus this job fits in it.
    pub time_ok: bool,
    /// Distance from the technician's position (else home); `None` if unknown.
    pub distance_km: Option<f64>,
    /// Every failed check, in a fixed order.
    pub failures: Vec<Unfit>,
}

impl CanDo {
    /// True exactly when every check passed.
    pub fn can_do(&self) -> bool {
        self.failures.is_empty()
    }

    /// One sentence per failed check.
    pub fn reasons(&self) -> Vec<String> {
        self.failures.iter().map(ToString::to_string).collect()
    }
}

/// Runs every can-do check of `technician` against `job`, given the
/// technician's other active work on the job's day.
pub fn evaluate(job: &Job, technician: &Technician, load: DayLoad) -> CanDo {
    let mut failures = Vec::new();

    let missing_skills: Vec<Skill> = job
        .skills_required
        .iter()
        .filter(|skill| technician.skills.binary_search(skill).is_err())
        .cloned()
        .collect();
    if !missing_skills.is_empty() {
        failures.push(Unfit::MissingSkills(missing_skills.clone()));
    }

    let area_ok = job.area.as_ref().is_none_or(|area| technician.covers(area));
    if let (false, Some(area)) = (area_ok, &job.area) {
        failures.push(Unfit::OutsideArea(area.clone()));
    }

    let capacity_ok = load.active_jobs < technician.capacity.get();
    if !capacity_ok {
        failures.push(Unfit::AtCapacity {
            capacity: technician.capacity,
        });
    }

    let status_ok = technician.status.takes_work();
    if !status_ok {
        failures.push(Unfit::Unavailable(technician.status));
    }

    let shift = technician.shift;
    let slot_ok = job.time_slot.is_none_or(|slot| slot.overlaps(shift));
    if let (false, Some(slot)) = (slot_ok, job.time_slot) {
        failures.push(Unfit::SlotOutsideShift { slot, shift });
    }
    let free = shift.minutes().saturating_sub(load.active_minutes);
    let needed = job.duration.get();
    let fits = needed <= free;
    if !fits {
        failures.push(Unfit::ShiftFull { needed, free });
    }

    let distance_km = technician
        .origin()
        .zip(job.location)
        .map(|(from, to)| from.distance_km(to));

    CanDo {
        missing_skills,
        area_ok,
        capacity_ok,
        status_ok,
        time_ok: slot_ok && fits,
        distance_km,
        failures,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{job, technician};

    fn load(active_jobs: u32, active_minutes: u32) -> DayLoad {
        DayLoad {
            active_jobs,
            active_minutes,
        }
    }

    #[test]
    fn a_fitting_technician_passes_every_check() {
        let job = job(1)
            .skills(&["install"])
            .area("north")
            .slot("09:00-11:00")
            .build();
        let tech = technician(1)
            .skills(&["install", "repair"])
            .areas(&["north"])
            .build();
        let answer = evaluate(&job, &tech, load(0, 0));
        assert!(answer.can_do(), "{:?}", answer.reasons());
        assert!(answer.area_ok && answer.capacity_ok && answer.status_ok && answer.time_ok);
        assert_eq!(answer.distance_km, None);
    }

    #[test]
    fn checks_table() {
        use TechnicianStatus::*;
        struct Case {
            name: &'static str,
            job: Job,
            tech: Technician,
            load: DayLoad,
            missing: usize,
            area_ok: bool,
            capacity_ok: bool,
            status_ok: bool,
            time_ok: bool,
        }
        let base_job = || job(1).skills(&["install"]);
        let base_tech = || technician(1).skills(&["install"]);
        let cases = [
            Case {
                name: "missing skills",
                job: job(1).skills(&["install", "fiber", "ladder"]).build(),
                tech: base_tech().build(),
                load: load(0, 0),
                missing: 2,
                area_ok: true,
                capacity_ok: true,
                status_ok: true,
                time_ok: true,
            },
            Case {
                name: "no areas covers all",
                job: base_job().area("x").build(),
                tech: base_tech().build(),
                load: load(0, 0),
                missing: 0,
                area_ok: true,
                capacity_ok: true,
                status_ok: true,
                time_ok: true,
            },
            Case {
                name: "wrong area",
                job: base_job().area("x").build(),
                tech: base_tech().areas(&["y"]).build(),
                load: load(0, 0),
                missing: 0,
                area_ok: false,
                capacity_ok: true,
                status_ok: true,
                time_ok: true,
            },
            Case {
                name: "job without area",
                job: base_job().build(),
                tech: base_tech().areas(&["y"]).build(),
                load: load(0, 0),
                missing: 0,
                area_ok: true,
                capacity_ok: true,
                status_ok: true,
                time_ok: true,
            },
            Case {
                name: "full day",
                job: base_job().build(),
                tech: base_tech().capacity(2).build(),
                load: load(2, 120),
                missing: 0,
                area_ok: true,
                capacity_ok: false,
                status_ok: true,
                time_ok: true,
            },
            Case {
                name: "one slot left",
                job: base_job().build(),
                tech: base_tech().capacity(2).build(),
                load: load(1, 60),
                missing: 0,
                area_ok: true,
                capacity_ok: true,
                status_ok: true,
                time_ok: true,
            },
            Case {
                name: "on break",
                job: base_job().build(),
                tech: base_tech().status(OnBreak).build(),
                load: load(0, 0),
                missing: 0,
                area_ok: true,
                capacity_ok: true,
                status_ok: false,
                time_ok: true,
            },
            Case {
                name: "off duty",
                job: base_job().build(),
                tech: base_tech().status(OffDuty).build(),
                load: load(0, 0),
                missing: 0,
                area_ok: true,
                capacity_ok: true,
                status_ok: false,
                time_ok: true,
            },
            Case {
                name: "assigned still works",
                job: base_job().build(),
                tech: base_tech().status(Assigned).build(),
                load: load(1, 60),
                missing: 0,
                area_ok: true,
                capacity_ok: true,
                status_ok: true,
                time_ok: true,
            },
            Case {
                name: "slot before shift",
                job: base_job().slot("06:00-08:00").build(),
                tech: base_tech().build(),
                load: load(0, 0),
                missing: 0,
                area_ok: true,
                capacity_ok: true,
                status_ok: true,
                time_ok: false,
            },
            Case {
                name: "slot overlapping shift start",
                job: base_job().slot("07:00-08:30").build(),
                tech: base_tech().build(),
                load: load(0, 0),
                missing: 0,
                area_ok: true,
                capacity_ok: true,
                status_ok: true,
                time_ok: true,
            },
            Case {
                name: "shift minutes used up",
                job: base_job().duration(120).build(),
                tech: base_tech().capacity(10).build(),
                load: load(3, 480),
                missing: 0,
                area_ok: true,
                capacity_ok: true,
                status_ok: true,
                time_ok: false,
            },
            Case {
                name: "exactly fits",
                job: base_job().duration(60).build(),
                tech: base_tech().capacity(10).build(),
                load: load(3, 480),
                missing: 0,
                area_ok: true,
                capacity_ok: true,
                status_ok: true,
                time_ok: true,
            },
        ];
        for case in cases {
            let answer = evaluate(&case.job, &case.tech, case.load);
            assert_eq!(answer.missing_skills.len(), case.missing, "{}", case.name);
            assert_eq!(answer.area_ok, case.area_ok, "{}", case.name);
            assert_eq!(answer.capacity_ok, case.capacity_ok, "{}", case.name);
            assert_eq!(answer.status_ok, case.status_ok, "{}", case.name);
            assert_eq!(answer.time_ok, case.time_ok, "{}", case.name);
            let all_ok = case.missing == 0
                && case.area_ok
                && case.capacity_ok
                && case.status_ok
                && case.time_ok;
            assert_eq!(answer.can_do(), all_ok, "{}", case.name);
        }
    }

    #[test]
    fn every_failure_is_reported() {
        let job = job(1)
            .skills(&["fiber"])
            .area("north")
            .slot("05:00-06:00")
            .duration(600)
            .build();
        let tech = technician(1)
            .areas(&["south"])
            .status(TechnicianStatus::OffDuty)
            .capacity(1)
            .build();
        let answer = evaluate(&job, &tech, load(1, 60));
        assert_eq!(
            answer.reasons(),
            vec![
                "Technician lacks required skills: fiber",
                "Technician does not cover area north",
                "Technician already has maximum capacity (1 active jobs on that day)",
                "Technician is off_duty",
                "Time slot 05:00-06:00 is outside the technician's shift 08:00-17:00",
                "Job needs 600 minutes but only 480 minutes of the shift are free",
            ]
        );
    }

    #[test]
    fn distance_prefers_current_position_over_home() {
        let job = job(1).location(40.0, -74.0).build();
        let at_home = technician(1).home(40.0, -74.0).build();
        let moved = technician(2)
            .home(40.0, -74.0)
            .position(41.0, -74.0)
            .build();
        assert_eq!(
            evaluate(&job, &at_home, DayLoad::default()).distance_km,
            Some(0.0)
        );
        let d = evaluate(&job, &moved, DayLoad::default())
            .distance_km
            .unwrap();
        assert!((d - 111.2).abs() < 0.5, "{d}");
    }
}
