//! Every limit the server enforces on input, written into the OpenAPI
//! document: lengths, ranges, patterns (the domain's own, verbatim), list
//! sizes, uniqueness and defaults. One table, so that the document and the
//! checks cannot drift apart unnoticed (the decoding tests send what the
//! document allows and expect it accepted).

use fieldopt_domain::{
    Address, Area, CustomerName, Email, ExternalId, MAX_LIST_ITEMS, Notes, PersonName, Phone,
    Reason, patterns,
};
use serde_json::{Map, Value, json};

use crate::assignments::MAX_BATCH;
use crate::state::PlanLimits;

/// A constraint on one value.
enum Limit {
    /// One line of text, `min..=max` characters.
    Line(usize, usize),
    /// Text over lines, at most `max` characters.
    Text(usize),
    /// An e-mail address.
    Email,
    /// A value of this pattern (`format` names its meaning for generators).
    Pattern(&'static str, Option<&'static str>),
    /// An integer in a range.
    Int(i64, i64),
    /// A number in a range.
    Number(f64, f64),
    /// A list of distinct items.
    List(usize, usize, Box<Limit>),
    /// A limit and a default.
    Default(Box<Limit>, Value),
    /// Nothing beyond the type (for a bare default).
    Any,
}

fn id() -> Limit {
    Limit::Int(1, i64::MAX)
}

fn line(limits: (usize, usize)) -> Limit {
    Limit::Line(limits.0, limits.1)
}

fn with_default(limit: Limit, value: Value) -> Limit {
    Limit::Default(Box::new(limit), value)
}

impl Limit {
    /// The JSON Schema keywords of the limit.
    fn keywords(&self) -> Map<String, Value> {
        let mut k = Map::new();
        match self {
            Limit::Line(min, max) => {
                k.insert("minLength".into(), json!(min));
                k.insert("maxLength".into(), json!(max));
                k.insert("pattern".into(), json!(patterns::LINE));
            }
            Limit::Text(max) => {
                k.insert("maxLength".into(), json!(max));
                k.insert("pattern".into(), json!(patterns::TEXT));
            }
            Limit::Email => {
                k.insert("minLength".into(), json!(Email::MIN_CHARS));
                k.insert("maxLength".into(), json!(Email::MAX_CHARS));
                k.insert("pattern".into(), json!(patterns::EMAIL));
            }
            Limit::Pattern(pattern, format) => {
                k.insert("pattern".into(), json!(pattern));
                if let Some(format) = format {
                    k.insert("format".into(), json!(format));
                }
            }
            Limit::Int(min, max) => {
                k.insert("minimum".into(), json!(min));
                k.insert("maximum".into(), json!(max));
            }
            Limit::Number(min, max) => {
                k.insert("minimum".into(), json!(min));
                k.insert("maximum".into(), json!(max));
            }
            Limit::List(min, max, items) => {
                if *min > 0 {
                    k.insert("minItems".into(), json!(min));
                }
                k.insert("maxItems".into(), json!(max));
                k.insert("uniqueItems".into(), json!(true));
                k.insert("items".into(), Value::Object(items.keywords()));
            }
            Limit::Any => {}
            Limit::Default(limit, value) => {
                k = limit.keywords();
                k.insert("default".into(), value.clone());
            }
        }
        k
    }

    /// Writes the limit into `schema`, keeping what is there (types, a
    /// list's item type).
    fn apply(&self, schema: &mut Value) {
        let Some(object) = schema.as_object_mut() else {
            return;
        };
        for (key, value) in self.keywords() {
            match (object.get_mut(&key), value) {
                (Some(Value::Object(existing)), Value::Object(more)) => existing.extend(more),
                (_, value) => {
                    object.insert(key, value);
                }
            }
        }
    }
}

fn skills() -> Limit {
    Limit::List(
        0,
        MAX_LIST_ITEMS,
        Box::new(Limit::Pattern(patterns::SKILL, None)),
    )
}

fn areas() -> Limit {
    Limit::List(
        0,
        MAX_LIST_ITEMS,
        Box::new(line((Area::MIN_CHARS, Area::MAX_CHARS))),
    )
}

fn clock(default: &str) -> Limit {
    with_default(
        Limit::Pattern(patterns::CLOCK, Some("clock-time")),
        json!(default),
    )
}

fn date() -> Limit {
    Limit::Pattern(patterns::DATE, Some("date"))
}

/// The limits of the request bodies: (schema, property, limit).
fn body_limits(plan: PlanLimits) -> Vec<(&'static str, &'static str, Limit)> {
    let mut table = Vec::new();
    for schema in ["CreateTechnician", "UpdateTechnician"] {
        table.extend([
            (
                schema,
                "name",
                line((PersonName::MIN_CHARS, PersonName::MAX_CHARS)),
            ),
            (schema, "phone", line((Phone::MIN_CHARS, Phone::MAX_CHARS))),
            (schema, "email", Limit::Email),
            (schema, "skills", skills()),
            (schema, "areas", areas()),
            (
                schema,
                "capacity",
                with_default(Limit::Int(1, 50), json!(4)),
            ),
            (schema, "shift_start", clock("08:00")),
            (schema, "shift_end", clock("17:00")),
            (schema, "home_latitude", Limit::Number(-90.0, 90.0)),
            (schema, "home_longitude", Limit::Number(-180.0, 180.0)),
            (
                schema,
                "external_id",
                line((ExternalId::MIN_CHARS, ExternalId::MAX_CHARS)),
            ),
        ]);
    }
    table.extend([
        (
            "UpdateTechnicianLocation",
            "latitude",
            Limit::Number(-90.0, 90.0),
        ),
        (
            "UpdateTechnicianLocation",
            "longitude",
            Limit::Number(-180.0, 180.0),
        ),
    ]);
    for schema in ["CreateJob", "UpdateJob"] {
        table.extend([
            (
                schema,
                "customer",
                line((CustomerName::MIN_CHARS, CustomerName::MAX_CHARS)),
            ),
            (
                schema,
                "address",
                line((Address::MIN_CHARS, Address::MAX_CHARS)),
            ),
            (schema, "skills_required", skills()),
            (schema, "scheduled_date", date()),
            (
                schema,
                "time_slot",
                Limit::Pattern(patterns::SLOT, Some("time-slot")),
            ),
            (schema, "priority", with_default(Limit::Int(1, 5), json!(3))),
            (
                schema,
                "duration_minutes",
                with_default(Limit::Int(1, 1440), json!(60)),
            ),
            (schema, "latitude", Limit::Number(-90.0, 90.0)),
            (schema, "longitude", Limit::Number(-180.0, 180.0)),
            (schema, "area", line((Area::MIN_CHARS, Area::MAX_CHARS))),
            (schema, "notes", Limit::Text(Notes::MAX_CHARS)),
            (
                schema,
                "external_id",
                line((ExternalId::MIN_CHARS, ExternalId::MAX_CHARS)),
            ),
        ]);
    }
    table.extend([
        ("ReasonBody", "reason", Limit::Text(Reason::MAX_CHARS)),
        ("UpdateJobStatus", "reason", Limit::Text(Reason::MAX_CHARS)),
        ("CreateAssignment", "job_id", id()),
        ("CreateAssignment", "technician_id", id()),
        (
            "CreateAssignment",
            "force",
            with_default(Limit::Any, json!(false)),
        ),
        (
            "BatchAssign",
            "force",
            with_default(Limit::Any, json!(false)),
        ),
        ("Reassign", "force", with_default(Limit::Any, json!(false))),
        (
            "PlanRequest",
            "apply",
            with_default(Limit::Any, json!(false)),
        ),
        (
            "BatchAssign",
            "job_ids",
            Limit::List(1, MAX_BATCH, Box::new(id())),
        ),
        ("BatchAssign", "technician_id", id()),
        (
            "BatchUnassign",
            "job_ids",
            Limit::List(1, MAX_BATCH, Box::new(id())),
        ),
        ("Unassign", "job_id", id()),
        ("Reassign", "job_id", id()),
        ("Reassign", "new_technician_id", id()),
        ("AutoRouteRequest", "job_id", id()),
        ("PlanRequest", "scheduled_date", date()),
        (
            "PlanRequest",
            "time_limit_ms",
            with_default(Limit::Int(10, 60_000), json!(2000)),
        ),
        (
            "PlanRequest",
            "technician_ids",
            Limit::List(1, plan.max_technicians, Box::new(id())),
        ),
        (
            "PlanRequest",
            "job_ids",
            Limit::List(1, plan.max_jobs, Box::new(id())),
        ),
    ]);
    table
}

/// The limits of parameters, by name (the same everywhere).
fn parameter_limit(name: &str, location: &str) -> Option<Limit> {
    Some(match (name, location) {
        ("id" | "job_id" | "tech_id", "path") => id(),
        ("limit", "query") => with_default(Limit::Int(1, 5000), json!(500)),
        ("offset", "query") => with_default(Limit::Int(0, i64::MAX), json!(0)),
        ("technician_id", "query") => id(),
        ("scheduled_date" | "date" | "date_from" | "date_to", "query") => date(),
        ("skill", "query") => Limit::Pattern(patterns::SKILL, None),
        ("types", "query") => Limit::Pattern(fieldopt_domain::events::type_filter_pattern(), None),
        ("area", "query") => line((Area::MIN_CHARS, Area::MAX_CHARS)),
        ("customer", "query") => line((CustomerName::MIN_CHARS, CustomerName::MAX_CHARS)),
        ("external_id", "query") => line((ExternalId::MIN_CHARS, ExternalId::MAX_CHARS)),
        ("Idempotency-Key", "header") => Limit::Pattern(patterns::IDEMPOTENCY_KEY, None),
        _ => return None,
    })
}

/// Operations whose body may be left out (an empty body or `null`).
const OPTIONAL_BODIES: [&str; 2] = ["fail_job", "cancel_job"];

/// Writes every limit into the document.
pub(crate) fn apply(doc: &mut Value, plan: PlanLimits) {
    for (schema, property, limit) in body_limits(plan) {
        if let Some(target) = doc.pointer_mut(&format!(
            "/components/schemas/{schema}/properties/{property}"
        )) {
            limit.apply(target);
        }
    }
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for operation in item.values_mut() {
            let optional = operation
                .get("operationId")
                .and_then(Value::as_str)
                .is_some_and(|id| OPTIONAL_BODIES.contains(&id));
            if let Some(body) = operation.get_mut("requestBody").filter(|_| optional) {
                body["required"] = json!(false);
            }
            let Some(parameters) = operation
                .get_mut("parameters")
                .and_then(Value::as_array_mut)
            else {
                continue;
            };
            for parameter in parameters {
                let (Some(name), Some(location)) = (
                    parameter
                        .get("name")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    parameter
                        .get("in")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                ) else {
                    continue;
                };
                if let (Some(limit), Some(schema)) = (
                    parameter_limit(&name, &location),
                    parameter.get_mut("schema"),
                ) {
                    limit.apply(schema);
                }
            }
        }
    }
}
