//! Diesel's view of the tables. Written to match both migration sets in
//! `migrations/`, using only column types that mean the same on SQLite and
//! PostgreSQL (see the crate README for how to change it).

diesel::table! {
    technicians (id) {
        id -> BigInt,
        name -> Text,
        status -> Text,
        phone -> Nullable<Text>,
        email -> Nullable<Text>,
        capacity -> Integer,
        shift_start -> Integer,
        shift_end -> Integer,
        home_latitude -> Nullable<Double>,
        home_longitude -> Nullable<Double>,
        latitude -> Nullable<Double>,
        longitude -> Nullable<Double>,
        location_updated_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
        external_id -> Nullable<Text>,
    }
}

diesel::table! {
    technician_skills (technician_id, skill) {
        technician_id -> BigInt,
        skill -> Text,
    }
}

diesel::table! {
    technician_areas (technician_id, area) {
        technician_id -> BigInt,
        area -> Text,
    }
}

diesel::table! {
    jobs (id) {
        id -> BigInt,
        job_type -> Text,
        customer -> Text,
        address -> Text,
        status -> Text,
        scheduled_date -> Nullable<Date>,
        slot_start -> Nullable<Integer>,
        slot_end -> Nullable<Integer>,
        technician_id -> Nullable<BigInt>,
        priority -> Integer,
        duration_minutes -> Integer,
        latitude -> Nullable<Double>,
        longitude -> Nullable<Double>,
        area -> Nullable<Text>,
        notes -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        started_at -> Nullable<Timestamp>,
        completed_at -> Nullable<Timestamp>,
        customer_search -> Nullable<Text>,
        external_id -> Nullable<Text>,
    }
}

diesel::table! {
    job_skills (job_id, skill) {
        job_id -> BigInt,
        skill -> Text,
    }
}

diesel::table! {
    assignments (id) {
        id -> BigInt,
        job_id -> BigInt,
        technician_id -> BigInt,
        work_date -> Date,
        assigned_at -> Timestamp,
        ended_at -> Nullable<Timestamp>,
        sequence -> Nullable<Integer>,
        estimated_arrival -> Nullable<Timestamp>,
        actor -> Nullable<Text>,
    }
}

diesel::table! {
    technician_day_loads (technician_id, work_date) {
        technician_id -> BigInt,
        work_date -> Date,
        active_jobs -> Integer,
    }
}

diesel::table! {
    job_events (id) {
        id -> BigInt,
        job_id -> BigInt,
        at -> Timestamp,
        kind -> Text,
        old_status -> Nullable<Text>,
        new_status -> Text,
        technician_id -> Nullable<BigInt>,
        previous_technician_id -> Nullable<BigInt>,
        reason -> Nullable<Text>,
        actor -> Nullable<Text>,
    }
}

diesel::table! {
    idempotency_keys (client, idempotency_key) {
        client -> Text,
        idempotency_key -> Text,
        request_hash -> Text,
        status_code -> Integer,
        response_body -> Text,
        created_at -> Timestamp,
        lease_until -> Nullable<Timestamp>,
    }
}

diesel::joinable!(technician_skills -> technicians (technician_id));
diesel::joinable!(technician_areas -> technicians (technician_id));
diesel::joinable!(job_skills -> jobs (job_id));
diesel::joinable!(assignments -> jobs (job_id));
diesel::joinable!(technician_day_loads -> technicians (technician_id));
diesel::joinable!(job_events -> jobs (job_id));

diesel::allow_tables_to_appear_in_same_query!(
    technicians,
    technician_skills,
    technician_areas,
    jobs,
    job_skills,
    assignments,
    technician_day_loads,
    job_events,
    idempotency_keys
);

diesel::table! {
    data_versions (shard) {
        shard -> Integer,
        version -> BigInt,
    }
}

diesel::table! {
    events (id) {
        id -> BigInt,
        event_type -> Text,
        occurred_at -> Timestamp,
        actor -> Nullable<Text>,
        technician_id -> Nullable<BigInt>,
        data -> Text,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> BigInt,
        url -> Text,
        description -> Nullable<Text>,
        event_types -> Text,
        enabled -> Bool,
        secret -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        delivered_through -> BigInt,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        failing_since -> Nullable<Timestamp>,
        lease_until -> Nullable<Timestamp>,
        lease_owner -> Nullable<Text>,
        disabled_reason -> Nullable<Text>,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> BigInt,
        endpoint_id -> BigInt,
        event_id -> BigInt,
        attempt -> Integer,
        attempted_at -> Timestamp,
        status_code -> Nullable<Integer>,
        latency_ms -> Integer,
        error -> Nullable<Text>,
        response_body -> Nullable<Text>,
        next_retry_at -> Nullable<Timestamp>,
        manual -> Bool,
    }
}

diesel::table! {
    event_retention (singleton) {
        singleton -> Integer,
        purged_through -> BigInt,
    }
}
