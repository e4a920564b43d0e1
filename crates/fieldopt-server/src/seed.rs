//! The demo data set: a realistic two-day dispatch board around New York.
//!
//! Deterministic: the same date gives the same data, so curl examples in
//! the docs keep working.

use anyhow::{Context, bail};
use chrono::{Days, NaiveDate};
use fieldopt_domain::{
    Actor, Address, Area, Capacity, CustomerName, DurationMinutes, ExternalId, GeoPoint, JobType,
    PersonName, Phone, Priority, Skill, TechnicianStatus, TimeWindow, parse_unique,
};
use fieldopt_engine::random::SplitMix64;
use fieldopt_store::jobs::{self, NewJob};
use fieldopt_store::technicians::{self, NewTechnician};
use fieldopt_store::{DbPool, Stamp, write_transaction};

/// Technicians in the demo set.
pub const TECHNICIANS: usize = 40;
/// Jobs per day in the demo set.
pub const JOBS_PER_DAY: usize = 150;

const AREAS: [(&str, f64, f64); 5] = [
    ("manhattan", 40.7831, -73.9712),
    ("brooklyn", 40.6782, -73.9442),
    ("queens", 40.7282, -73.7949),
    ("bronx", 40.8448, -73.8648),
    ("staten_island", 40.5795, -74.1502),
];

const FIRST_NAMES: [&str; 20] = [
    "Miles",
    "John",
    "Chet",
    "Ella",
    "Billie",
    "Thelonious",
    "Sonny",
    "Nina",
    "Herbie",
    "Wayne",
    "Sarah",
    "Charles",
    "Dizzy",
    "Art",
    "Cannonball",
    "Dexter",
    "Horace",
    "Mary Lou",
    "Bud",
    "Abbey",
];
const LAST_NAMES: [&str; 20] = [
    "Davis",
    "Coltrane",
    "Baker",
    "Fitzgerald",
    "Holiday",
    "Monk",
    "Rollins",
    "Simone",
    "Hancock",
    "Shorter",
    "Vaughan",
    "Mingus",
    "Gillespie",
    "Blakey",
    "Adderley",
    "Gordon",
    "Silver",
    "Williams",
    "Powell",
    "Lincoln",
];
const COMPANIES: [&str; 12] = [
    "Acme Corp",
    "Hudson Deli",
    "Empire Dental",
    "Bright Loft Studio",
    "Bowery Books",
    "Harbor Freight Co",
    "Liberty Bakery",
    "Queensboro Gym",
    "Union Square Law",
    "Pier 17 Cafe",
    "Astoria Florist",
    "Flatiron Labs",
];
const STREETS: [&str; 10] = [
    "Main St",
    "Broadway",
    "Atlantic Ave",
    "Queens Blvd",
    "Grand Concourse",
    "Bedford Ave",
    "Lexington Ave",
    "Victory Blvd",
    "Fordham Rd",
    "Flatbush Ave",
];
const SKILLS: [&str; 8] = [
    "install",
    "repair",
    "maintenance",
    "disconnect",
    "service_change",
    "inspection",
    "fiber",
    "ladder",
];
const SHIFTS: [&str; 4] = ["07:00-15:00", "08:00-17:00", "09:00-18:00", "10:00-19:00"];
const SLOTS: [Option<&str>; 6] = [
    Some("08:00-12:00"),
    Some("12:00-16:00"),
    Some("13:00-17:00"),
    Some("09:00-11:00"),
    Some("15:00-18:00"),
    None,
];

/// The demo set's dice: the engine's deterministic generator.
type Dice = SplitMix64;

/// Uniform in `-spread..spread`.
fn jitter(dice: &mut Dice, spread: f64) -> f64 {
    (dice.unit() * 2.0 - 1.0) * spread
}

fn point_near(dice: &mut Dice, area: usize) -> GeoPoint {
    let (_, lat, lon) = AREAS[area];
    GeoPoint::new(lat + jitter(dice, 0.04), lon + jitter(dice, 0.05)).expect("near New York")
}

fn demo_technician(dice: &mut Dice, index: usize) -> anyhow::Result<NewTechnician> {
    let name = format!(
        "{} {}",
        FIRST_NAMES[index % FIRST_NAMES.len()],
        LAST_NAMES[(index * 7 + index / FIRST_NAMES.len()) % LAST_NAMES.len()]
    );
    let mut skills = vec!["install", "repair"];
    for _ in 0..3 {
        skills.push(*dice.pick(&SKILLS));
    }
    skills.sort();
    skills.dedup();
    let home_area = dice.below(AREAS.len());
    let areas = match dice.below(10) {
        0 => Vec::new(),
        1..=6 => vec![AREAS[home_area].0],
        _ => vec![AREAS[home_area].0, AREAS[(home_area + 1) % AREAS.len()].0],
    };
    let status = match index % 20 {
        7 => TechnicianStatus::OffDuty,
        13 => TechnicianStatus::OnBreak,
        _ => TechnicianStatus::Available,
    };
    Ok(NewTechnician {
        name: PersonName::parse(name)?,
        status,
        phone: Some(Phone::parse(format!("555-{:04}", 100 + index))?),
        email: None,
        skills: parse_unique(skills.into_iter().map(String::from), Skill::parse)?,
        areas: parse_unique(areas.into_iter().map(String::from), Area::parse)?,
        capacity: Capacity::new(3 + dice.below(6) as i64)?,
        shift: TimeWindow::parse_slot(dice.pick::<&str>(&SHIFTS))?,
        home: Some(point_near(dice, home_area)),
        external_id: Some(ExternalId::parse(format!("EMP-{:04}", 1001 + index))?),
    })
}

fn demo_job(dice: &mut Dice, index: usize, date: NaiveDate) -> anyhow::Result<NewJob> {
    let job_type = *dice.pick(JobType::ALL);
    let mut skills = vec![job_type.as_str().to_string()];
    if dice.below(5) == 0 {
        skills.push((*dice.pick(&["fiber", "ladder"])).to_string());
    }
    let area = dice.below(AREAS.len());
    let customer = if dice.below(3) == 0 {
        format!("{} #{}", dice.pick(&COMPANIES), index + 1)
    } else {
        format!("{} {}", dice.pick(&FIRST_NAMES), dice.pick(&LAST_NAMES))
    };
    let priority = [1, 2, 2, 3, 3, 3, 3, 4, 4, 5][dice.below(10)];
    Ok(NewJob {
        job_type,
        customer: CustomerName::parse(customer)?,
        address: Address::parse(format!(
            "{} {}, {}",
            10 + dice.below(990),
            dice.pick(&STREETS),
            AREAS[area].0.replace('_', " ")
        ))?,
        skills_required: parse_unique(skills, Skill::parse)?,
        scheduled_date: Some(date),
        time_slot: dice.pick(&SLOTS).map(TimeWindow::parse_slot).transpose()?,
        priority: Priority::new(priority)?,
        duration: DurationMinutes::new(*dice.pick(&[30, 45, 60, 60, 90, 120]))?,
        location: Some(point_near(dice, area)),
        area: Some(Area::parse(AREAS[area].0)?),
        notes: None,
        external_id: Some(ExternalId::parse(format!("WO-{date}-{:04}", index + 1))?),
    })
}

/// What [`load_demo_day`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seeded {
    /// Technicians created.
    pub technicians: usize,
    /// Jobs created.
    pub jobs: usize,
    /// The first day of jobs.
    pub first_day: NaiveDate,
    /// The second day of jobs.
    pub second_day: NaiveDate,
}

/// Loads 40 technicians and 300 pending jobs on `first_day` and the day
/// after, in one transaction. Refuses a database that already has data.
pub fn load_demo_day(pool: &DbPool, first_day: NaiveDate) -> anyhow::Result<Seeded> {
    let mut conn = pool.get().context("no database connection")?;
    let second_day = first_day
        .checked_add_days(Days::new(1))
        .context("date out of range")?;
    let mut dice = Dice::new(0x5EED_F1E1_D0B7);
    let techs = (0..TECHNICIANS)
        .map(|i| demo_technician(&mut dice, i))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let jobs = (0..2 * JOBS_PER_DAY)
        .map(|i| {
            demo_job(
                &mut dice,
                i,
                if i < JOBS_PER_DAY {
                    first_day
                } else {
                    second_day
                },
            )
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let stamp = Stamp::now(Actor::system());
    let existing = write_transaction(&mut conn, |conn| {
        let existing = technicians::count_live(conn)? + jobs::count(conn)?;
        if existing > 0 {
            return Ok(existing);
        }
        for tech in &techs {
            technicians::create(conn, tech, &stamp)?;
        }
        for job in &jobs {
            jobs::create(conn, job, &stamp)?;
        }
        fieldopt_http::events::append_noted(conn, &stamp)?;
        Ok(0)
    })?;
    if existing > 0 {
        bail!(
            "the database already holds {existing} technicians and jobs; seed needs an empty one"
        );
    }
    Ok(Seeded {
        technicians: techs.len(),
        jobs: jobs.len(),
        first_day,
        second_day,
    })
}
