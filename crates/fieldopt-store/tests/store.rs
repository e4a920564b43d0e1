//! Store tests on a real database: a temporary SQLite file, and a fresh
//! PostgreSQL database per test when `FIELDOPT_TEST_POSTGRES_URL` is set.

use chrono::{NaiveDate, TimeZone, Utc};
use fieldopt_domain::{
    Actor, Address, Capacity, CustomerName, DurationMinutes, JobAction, JobType, PersonName,
    Priority, Skill, Technician, TechnicianStatus,
};
use fieldopt_store::integrity::{self, Kind};
use fieldopt_store::jobs::{self, NewJob};
use fieldopt_store::technicians::{self, NewTechnician};
use fieldopt_store::{
    DatabaseTarget, DbConn, DbPool, PoolOptions, Stamp, StoreError, admin, assignments, build_pool,
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
    a_healthy_database_passes_the_check_and_lowered_capacity_is_a_note,
    the_check_names_every_kind_of_damage,
    a_key_marked_applied_is_never_run_again,
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
    technicians::create(&mut conn, &new_technician(2), &Stamp::at(now, Actor::system())).unwrap();
}

fn technicians_round_trip_with_microsecond_timestamps(db: TestDb) {
    let mut conn = db.pool.get().unwrap();
    run_migrations(&mut conn).unwrap();
    let precise = Utc.with_ymd_and_hms(2030, 1, 15, 8, 30, 0).unwrap()
        + chrono::Duration::nanoseconds(123_456_789);
    let created = technicians::create(&mut conn, &new_technician(3), &Stamp::at(precise, Actor::system())).unwrap();
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
    let tech = technicians::create(&mut conn, &new_technician(2), &stamp).unwrap();
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
        technicians::create(c, &new_technician(2), &Stamp::at(now, Actor::system()))?;
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

/// Ids of a small day in every job status: technicians `a` (capacity 3),
/// `b` and `c`; jobs assigned, in progress, completed, pending, cancelled,
/// assigned to `c`, cancelled with skills, pending again.
struct Day {
    a: i64,
    b: i64,
    c: i64,
    assigned: i64,
    in_progress: i64,
    completed: i64,
    pending: i64,
    cancelled: i64,
    held_by_c: i64,
    doomed: i64,
    renamed: i64,
}

fn healthy_day(conn: &mut DbConn) -> Day {
    run_migrations(conn).unwrap();
    let stamp = Stamp::now(Actor::parse("carol@dispatch").unwrap());
    let tech = |conn: &mut DbConn| {
        technicians::create(conn, &new_technician(3), &stamp)
            .unwrap()
            .id
    };
    let (a, b, c) = (tech(conn), tech(conn), tech(conn));
    let job = |conn: &mut DbConn| jobs::create(conn, &new_job(day()), &stamp).unwrap().id;
    let ids: Vec<_> = (0..8).map(|_| job(conn)).collect();
    let assign = |conn: &mut DbConn, job, tech| {
        write_transaction(conn, |c| assignments::assign(c, job, tech, true, &stamp)).unwrap();
    };
    let act = |conn: &mut DbConn, job, action| {
        write_transaction(conn, |c| jobs::transition(c, job, action, None, &stamp)).unwrap();
    };
    assign(conn, ids[0], a);
    assign(conn, ids[1], a);
    act(conn, ids[1], JobAction::Start);
    assign(conn, ids[2], b);
    act(conn, ids[2], JobAction::Start);
    act(conn, ids[2], JobAction::Complete);
    act(conn, ids[4], JobAction::Cancel);
    assign(conn, ids[5], c);
    act(conn, ids[6], JobAction::Cancel);
    assign(conn, ids[7], b);
    write_transaction(conn, |c| assignments::unassign(c, ids[7], &stamp)).unwrap();
    Day {
        a: a.0,
        b: b.0,
        c: c.0,
        assigned: ids[0].0,
        in_progress: ids[1].0,
        completed: ids[2].0,
        pending: ids[3].0,
        cancelled: ids[4].0,
        held_by_c: ids[5].0,
        doomed: ids[6].0,
        renamed: ids[7].0,
    }
}

fn a_healthy_database_passes_the_check_and_lowered_capacity_is_a_note(db: TestDb) {
    let mut conn = db.pool.get().unwrap();
    let day = healthy_day(&mut conn);
    let report = integrity::check(&mut conn).unwrap();
    assert!(report.is_ok(), "{:?}", report.violations);
    assert!(report.notes.is_empty(), "{:?}", report.notes);
    // Lowering a capacity below a day's work is allowed: a note, not a
    // violation.
    let changes = technicians::TechnicianChanges {
        capacity: Some(Capacity::new(1).unwrap()),
        ..Default::default()
    };
    technicians::update(
        &mut conn,
        fieldopt_domain::TechnicianId(day.a),
        &changes,
        &Stamp::now(Actor::system()),
    )
    .unwrap();
    let report = integrity::check(&mut conn).unwrap();
    assert!(report.is_ok(), "{:?}", report.violations);
    assert_eq!(report.notes.len(), 1, "{:?}", report.notes);
    assert_eq!(report.notes[0].kind, Kind::OverCapacity);
    assert!(
        report.notes[0]
            .detail
            .contains(&format!("technician {} on 2030-01-15 holds 2", day.a)),
        "{}",
        report.notes[0]
    );
}

fn the_check_names_every_kind_of_damage(db: TestDb) {
    let mut conn = db.pool.get().unwrap();
    let d = healthy_day(&mut conn);
    // Foreign keys off for this connection, to leave orphans behind.
    let keys_off = match &**conn {
        DbConn::Sqlite(_) => "PRAGMA foreign_keys = OFF",
        DbConn::Postgres(_) => "SET session_replication_role = replica",
    };
    let damage: Vec<(String, Kind, String)> = vec![
        (
            format!(
                "UPDATE technician_day_loads SET active_jobs = active_jobs + 1 WHERE technician_id = {}",
                d.a
            ),
            Kind::CounterMismatch,
            format!(
                "technician {} on 2030-01-15: the counter says 3 active jobs, 2 live",
                d.a
            ),
        ),
        (
            format!(
                "DROP INDEX assignments_one_live_per_job; \
                 INSERT INTO assignments (job_id, technician_id, work_date, assigned_at) \
                 VALUES ({}, {}, '2030-01-15', '2030-01-15 08:00:00')",
                d.assigned, d.b
            ),
            Kind::TwoLiveAssignments,
            format!("job {} has 2 live assignments", d.assigned),
        ),
        (
            format!(
                "UPDATE jobs SET status = 'assigned', technician_id = {} WHERE id = {}",
                d.a, d.pending
            ),
            Kind::MissingAssignment,
            format!("job {} is assigned but has no live assignment", d.pending),
        ),
        (
            format!(
                "UPDATE jobs SET status = 'pending', technician_id = NULL WHERE id = {}",
                d.in_progress
            ),
            Kind::StrayAssignment,
            format!("job {} is pending but assignment", d.in_progress),
        ),
        (
            format!(
                "UPDATE jobs SET technician_id = {} WHERE id = {}",
                d.a, d.completed
            ),
            Kind::TechnicianMismatch,
            format!(
                "job {} names technician {} but its live assignment",
                d.completed, d.a
            ),
        ),
        (
            format!(
                "UPDATE jobs SET scheduled_date = '2030-01-16' WHERE id = {}",
                d.held_by_c
            ),
            Kind::WorkDateMismatch,
            format!(
                "job {} is scheduled on 2030-01-16 but its assignment",
                d.held_by_c
            ),
        ),
        (
            format!(
                "UPDATE jobs SET completed_at = NULL WHERE id = {}",
                d.completed
            ),
            Kind::TimestampMismatch,
            format!("job {} is completed but completed_at is empty", d.completed),
        ),
        (
            format!("DELETE FROM job_events WHERE job_id = {}", d.cancelled),
            Kind::HistoryMismatch,
            format!("job {} has no history", d.cancelled),
        ),
        (
            format!(
                "UPDATE jobs SET status = 'in_progress', started_at = updated_at WHERE id = {}",
                d.renamed
            ),
            Kind::HistoryMismatch,
            format!(
                "job {} is in_progress but its history ends in pending",
                d.renamed
            ),
        ),
        (
            format!(
                "UPDATE technicians SET deleted_at = created_at WHERE id = {}",
                d.c
            ),
            Kind::DeletedTechnicianHoldsWork,
            format!(
                "technician {} is deleted but holds assigned job {}",
                d.c, d.held_by_c
            ),
        ),
        (
            format!("{keys_off}; DELETE FROM jobs WHERE id = {}", d.doomed),
            Kind::Orphan,
            format!("refers to job {}, which does not exist", d.doomed),
        ),
        (
            format!("UPDATE jobs SET status = 'lost' WHERE id = {}", d.cancelled),
            Kind::BadValue,
            format!("job {} has the unknown status \"lost\"", d.cancelled),
        ),
    ];
    for (sql, kind, expected) in damage {
        admin::run_sql(&mut conn, &sql).unwrap();
        let report = integrity::check(&mut conn).unwrap();
        assert!(
            report
                .violations
                .iter()
                .any(|f| f.kind == kind && f.detail.contains(&expected)),
            "after {sql:?}, expected {kind:?} with {expected:?}; got:\n{}",
            report
                .violations
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

fn a_key_marked_applied_is_never_run_again(db: TestDb) {
    use fieldopt_store::idempotency::{self, KeyState, Limits};
    let mut conn = db.pool.get().unwrap();
    run_migrations(&mut conn).unwrap();
    let now = fieldopt_store::now();
    let later = now + chrono::Duration::minutes(5);
    let limits = Limits::default();
    let reserve = |conn: &mut DbConn, key: &str, at| {
        write_transaction(conn, |c| {
            idempotency::reserve(c, "client", key, "hash", at, limits)
        })
        .unwrap()
    };
    // "applied": its writes committed with the mark; the server died before
    // storing the answer, and shutdown's release keeps the mark.
    assert_eq!(reserve(&mut conn, "applied", now), KeyState::Reserved);
    write_transaction(&mut conn, |c| {
        technicians::create(c, &new_technician(2), &Stamp::at(now, Actor::system()))?;
        idempotency::mark_applied(c, "client", "applied")
    })
    .unwrap();
    write_transaction(&mut conn, |c| idempotency::release(c, "client", "applied")).unwrap();
    // "rolled back": its transaction failed, so the mark never happened.
    assert_eq!(reserve(&mut conn, "rolled back", now), KeyState::Reserved);
    let failed: Result<(), StoreError> = write_transaction(&mut conn, |c| {
        idempotency::mark_applied(c, "client", "rolled back")?;
        Err(StoreError::conflict("no"))
    });
    assert!(failed.is_err());
    // After the leases: the applied request is reported, never run again;
    // the other is free to run.
    assert_eq!(
        reserve(&mut conn, "applied", later),
        KeyState::AppliedUnanswered {
            request_hash: "hash".to_string()
        }
    );
    assert_eq!(reserve(&mut conn, "rolled back", later), KeyState::Reserved);
    assert_eq!(technicians::count_live(&mut conn).unwrap(), 1);
}
