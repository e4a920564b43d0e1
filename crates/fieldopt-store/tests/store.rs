//! Store tests on a real database: a temporary SQLite file, and a fresh
//! PostgreSQL database per test when `FIELDOPT_TEST_POSTGRES_URL` is set.

use chrono::{NaiveDate, TimeZone, Utc};
use fieldopt_domain::{
    Actor, Address, Capacity, CustomerName, DurationMinutes, JobAction, JobType, PersonName,
    Priority, Skill, Technician, TechnicianStatus,
};
use fieldopt_store::jobs::{self, NewJob};
use fieldopt_store::technicians::{self, NewTechnician};
use fieldopt_store::{
    DatabaseTarget, DbPool, PoolOptions, Stamp, StoreError, assignments, build_pool,
    revert_all_migrations, run_migrations, workload, write_transaction,
};

struct TestDb {
    pool: DbPool,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((server, name)) = &self.postgres {
            let _ = fieldopt_store::admin::drop_postgres_database(server, name);
        }
    }
}

fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let pool = build_pool(PoolOptions::new(DatabaseTarget::parse(&url).unwrap())).unwrap();
    TestDb {
        pool,
        _dir: Some(dir),
        postgres: None,
    }
}

fn postgres() -> Option<TestDb> {
    let Ok(server) = std::env::var("FIELDOPT_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("FIELDOPT_REQUIRE_POSTGRES").is_none(),
            "FIELDOPT_TEST_POSTGRES_URL is required"
        );
        eprintln!("PostgreSQL store test not run: FIELDOPT_TEST_POSTGRES_URL is not set");
        return None;
    };
    let name = format!("fieldopt_s_{}", uuid_like());
    let url = fieldopt_store::admin::create_postgres_database(&server, &name).unwrap();
    let pool = build_pool(PoolOptions::new(DatabaseTarget::parse(&url).unwrap())).unwrap();
    Some(TestDb {
        pool,
        _dir: None,
        postgres: Some((server, name)),
    })
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{nanos:x}_{}", std::process::id())
}

macro_rules! store_tests {
    ($($name:ident),+ $(,)?) => {
        mod on_sqlite {
            $( #[test] fn $name() { super::$name(super::sqlite()); } )+
        }
        mod on_postgres {
            $( #[test] fn $name() { if let Some(db) = super::postgres() { super::$name(db); } } )+
        }
    };
}

store_tests!(
    migrations_go_up_down_and_up_again,
    technicians_round_trip_with_microsecond_timestamps,
    capacity_is_a_hard_rule_and_counters_follow_the_jobs,
    failed_work_rolls_the_whole_transaction_back,
);

fn new_technician(capacity: i64) -> NewTechnician {
    NewTechnician {
        name: PersonName::parse("Ella Fitzgerald").unwrap(),
        status: TechnicianStatus::Available,
        phone: None,
        email: None,
        skills: vec![Skill::parse("install").unwrap()],
        areas: vec![],
        capacity: Capacity::new(capacity).unwrap(),
        shift: Technician::default_shift(),
        home: None,
        external_id: None,
    }
}

fn new_job(date: NaiveDate) -> NewJob {
    NewJob {
        job_type: JobType::Install,
        customer: CustomerName::parse("Acme").unwrap(),
        address: Address::parse("1 Main St").unwrap(),
        skills_required: vec![Skill::parse("install").unwrap()],
        scheduled_date: Some(date),
        time_slot: None,
        priority: Priority::default(),
        duration: DurationMinutes::default(),
        location: None,
        area: None,
        notes: None,
        external_id: None,
    }
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2030, 1, 15).unwrap()
}

fn migrations_go_up_down_and_up_again(db: TestDb) {
    let mut conn = db.pool.get().unwrap();
    let all = run_migrations(&mut conn).unwrap();
    assert!(all >= 3, "{all}");
    assert_eq!(run_migrations(&mut conn).unwrap(), 0, "idempotent");
    assert_eq!(revert_all_migrations(&mut conn).unwrap(), all);
    assert_eq!(run_migrations(&mut conn).unwrap(), all);
    let now = fieldopt_store::now();
    technicians::create(&mut conn, &new_technician(2), now).unwrap();
}

fn technicians_round_trip_with_microsecond_timestamps(db: TestDb) {
    let mut conn = db.pool.get().unwrap();
    run_migrations(&mut conn).unwrap();
    let precise = Utc.with_ymd_and_hms(2030, 1, 15, 8, 30, 0).unwrap()
        + chrono::Duration::nanoseconds(123_456_789);
    let created = technicians::create(&mut conn, &new_technician(3), precise).unwrap();
    assert_eq!(created.created_at.timestamp_subsec_nanos(), 123_456_000);
    let found = technicians::find(&mut conn, created.id).unwrap();
    assert_eq!(found, created);
    assert_eq!(found.skills, vec![Skill::parse("install").unwrap()]);
}

fn capacity_is_a_hard_rule_and_counters_follow_the_jobs(db: TestDb) {
    let mut conn = db.pool.get().unwrap();
    run_migrations(&mut conn).unwrap();
    let stamp = Stamp::now(Actor::parse("carol@dispatch").unwrap());
    let now = &stamp;
    let tech = technicians::create(&mut conn, &new_technician(2), stamp.at).unwrap();
    let jobs: Vec<_> = (0..3)
        .map(|_| jobs::create(&mut conn, &new_job(day()), now).unwrap())
        .collect();
    for job in &jobs[..2] {
        write_transaction(&mut conn, |c| {
            assignments::assign(c, job.id, tech.id, false, now)
        })
        .unwrap();
    }
    let third = write_transaction(&mut conn, |c| {
        assignments::assign(c, jobs[2].id, tech.id, true, now)
    });
    assert!(
        matches!(third, Err(StoreError::Conflict(ref m)) if m == workload::CAPACITY_FULL),
        "{third:?}"
    );
    // The audit trail: who assigned, on the assignment and in the history.
    let assignment = assignments::for_job(&mut conn, jobs[0].id).unwrap();
    assert_eq!(assignment.actor, Some(stamp.actor.clone()));
    let history = fieldopt_store::events::for_job(&mut conn, jobs[0].id, Default::default())
        .unwrap()
        .items;
    assert!(
        history.iter().all(|e| e.actor == Some(stamp.actor.clone())),
        "{history:?}"
    );
    assert_eq!(
        workload::active_jobs_on(&mut conn, tech.id, day()).unwrap(),
        2
    );
    assert_eq!(
        technicians::find(&mut conn, tech.id).unwrap().status,
        TechnicianStatus::Assigned
    );
    write_transaction(&mut conn, |c| {
        jobs::transition(c, jobs[0].id, JobAction::Start, None, now)
    })
    .unwrap();
    write_transaction(&mut conn, |c| {
        jobs::transition(c, jobs[0].id, JobAction::Complete, None, now)
    })
    .unwrap();
    assert_eq!(
        workload::active_jobs_on(&mut conn, tech.id, day()).unwrap(),
        1
    );
    write_transaction(&mut conn, |c| assignments::unassign(c, jobs[1].id, now)).unwrap();
    assert_eq!(
        workload::active_jobs_on(&mut conn, tech.id, day()).unwrap(),
        0
    );
    assert_eq!(
        technicians::find(&mut conn, tech.id).unwrap().status,
        TechnicianStatus::Available
    );
    assert!(workload::counter_mismatches(&mut conn).unwrap().is_empty());
}

fn failed_work_rolls_the_whole_transaction_back(db: TestDb) {
    let mut conn = db.pool.get().unwrap();
    run_migrations(&mut conn).unwrap();
    let now = fieldopt_store::now();
    let outcome: Result<(), StoreError> = write_transaction(&mut conn, |c| {
        technicians::create(c, &new_technician(2), now)?;
        Err(StoreError::conflict("changed my mind"))
    });
    assert!(outcome.is_err());
    assert_eq!(technicians::count_live(&mut conn).unwrap(), 0);
}

#[test]
fn a_failed_postgres_connection_reports_the_real_error() {
    let target = DatabaseTarget::parse("postgres://nobody@127.0.0.1:1/none").unwrap();
    let error = build_pool(PoolOptions::new(target))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("127.0.0.1") || error.to_lowercase().contains("connection refused"),
        "{error}"
    );
}
